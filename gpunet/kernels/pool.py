"""Launchers of kernels/pool.cu: max and average pooling, forward and backward, channels_last (a
channels_first op is transposed on the device, in and out). Reference: ops/pooling.py's array path."""
import numpy as np

from .launch import Launch, _c32, _empty, _first, _fits, _grid, _i32, _last


def pool_supported(nd, *shapes):
    return nd in (1, 2) and _fits(*shapes)


def _pool_args(x_shape, outs, pool, strides, lo):
    N, C = x_shape[0], x_shape[-1]
    sp = tuple(x_shape[1:-1])
    if len(sp) == 1:
        sp, outs, pool, strides, lo = (1,) + sp, (1,) + tuple(outs), (1,) + tuple(pool), (1,) + tuple(strides), \
            (0,) + tuple(lo)
    return tuple(_i32(v) for v in (N, sp[0], sp[1], C, outs[0], outs[1], pool[0], pool[1], strides[0],
                                   strides[1], lo[0], lo[1]))


def max_pool_forward_launch(x, y, arg, geo):
    return Launch("pool.cu", "max_pool_forward", _grid(y.size, 256), (256,), (x, y, arg, *geo))


def max_pool_backward_launch(dy, arg, dx, geo):
    return Launch("pool.cu", "max_pool_backward", _grid(dx.size, 256), (256,), (dy, arg, dx, *geo))


def avg_pool_forward_launch(x, y, geo):
    return Launch("pool.cu", "avg_pool_forward", _grid(y.size, 256), (256,), (x, y, *geo))


def avg_pool_backward_launch(dy, dx, geo):
    return Launch("pool.cu", "avg_pool_backward", _grid(dx.size, 256), (256,), (dy, dx, *geo))


def max_pool_op(inputs, x, pool, strides, lo, outs, fmt, record):
    x = _c32(x, "max_pool input")
    oshape = (x.shape[0],) + tuple(outs) + (x.shape[-1],)
    geo = _pool_args(x.shape, outs, pool, strides, lo)
    y, arg = _empty(oshape), _empty(oshape, np.int32)
    max_pool_forward_launch(x, y, arg, geo)()

    def backward(g, n):
        dx = _empty(x.shape)
        max_pool_backward_launch(_c32(_last(g, fmt), "max_pool output gradient"), arg, dx, geo)()
        return (_first(dx, fmt),)
    return record(_first(y, fmt), (inputs,), backward)


def avg_pool_op(inputs, x, pool, strides, lo, outs, fmt, record):
    x = _c32(x, "average_pool input")
    oshape = (x.shape[0],) + tuple(outs) + (x.shape[-1],)
    geo = _pool_args(x.shape, outs, pool, strides, lo)
    y = _empty(oshape)
    avg_pool_forward_launch(x, y, geo)()

    def backward(g, n):
        dx = _empty(x.shape)
        avg_pool_backward_launch(_c32(_last(g, fmt), "average_pool output gradient"), dx, geo)()
        return (_first(dx, fmt),)
    return record(_first(y, fmt), (inputs,), backward)
