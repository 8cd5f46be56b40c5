"""Launchers of kernels/conv.cu, pool.cu and norm.cu (the convolution family), split from kernels.py
to keep each file small; kernels.py re-exports them, so ops call `kernels.conv_op` like the others.

Shapes are channels_last; a channels_first op is transposed here, on the device, in and out. A 1-D
convolution or pooling runs as a 2-D one of height 1. Sizes travel as `int`, so a shape whose element
count passes 2^31 − 1 takes the array path (conv_supported / pool_supported say so up front)."""
import numpy as np

from . import backend
from .kernels import ACT_CODES, INT_MAX, Launch, _c32, _empty, _f32, _grid, _i32, _tiles


def _xp():
    return backend.get_xp()


def _last(a, fmt):
    return a if fmt == "channels_last" else _xp().moveaxis(a, 1, -1)


def _first(a, fmt):
    return a if fmt == "channels_last" else _xp().ascontiguousarray(_xp().moveaxis(a, -1, 1))


def _fits(*shapes):
    return all(int(np.prod(s)) <= INT_MAX for s in shapes)


# ---- convolution ----

def conv_supported(nd, activation, *shapes):
    """1-D and 2-D convolutions with a fusable activation, every tensor under 2^31 elements."""
    return nd in (1, 2) and activation in ACT_CODES and _fits(*shapes)


def _shape_args(x_shape, outs, F, ksize, strides, dilation, lo, groups):
    """The 16 ints of conv.cu's ConvShape, a 1-D geometry lifted to height 1."""
    N, C = x_shape[0], x_shape[-1]
    sp = tuple(x_shape[1:-1])
    if len(sp) == 1:
        sp, outs, ksize, strides, dilation, lo = ((1,) + sp, (1,) + tuple(outs), (1,) + tuple(ksize),
                                                  (1,) + tuple(strides), (1,) + tuple(dilation), (0,) + tuple(lo))
    vals = (N, sp[0], sp[1], C, outs[0], outs[1], F, ksize[0], ksize[1], strides[0], strides[1], dilation[0],
            dilation[1], lo[0], lo[1], groups)
    return tuple(_i32(v) for v in vals)


def conv_forward_launch(x, W, b, y, z, geo, activation):
    N, H, Wd, C, OH, OW, F, KH, KW = (int(v) for v in geo[:9])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_forward", (_tiles(N * OH * OW), _tiles(F // groups), groups), (256,),
                  (x, W, b if b is not None else y, y, z if z is not None else y, *geo,
                   _i32(ACT_CODES[activation]), _i32(b is not None), _i32(z is not None)))


def conv_backward_data_launch(dy, y, z, W, dx, geo, activation):
    N, H, Wd, C = (int(v) for v in geo[:4])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_backward_data", (_tiles(N * H * Wd), _tiles(C // groups), groups), (256,),
                  (dy, y if y is not None else dy, z if z is not None else dy, W, dx, *geo,
                   _i32(ACT_CODES[activation]), _i32(z is not None)))


def conv_backward_weight_launch(x, dy, y, z, dW, db, geo, activation):
    C, F, KH, KW = int(geo[3]), int(geo[6]), int(geo[7]), int(geo[8])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_backward_weight", (_tiles(KH * KW * (C // groups)), _tiles(F // groups), groups),
                  (256,), (x, dy, y if y is not None else dy, z if z is not None else dy, dW,
                           db if db is not None else dW, *geo, _i32(ACT_CODES[activation]), _i32(z is not None),
                           _i32(db is not None)))


def conv_forward(x, W, b, activation, strides, dilation, lo, outs, groups):
    """(y, z) of act(conv(x, W) + b), x channels_last; z only when act' needs the pre-activation."""
    from .kernels import stores_z
    x, W = _c32(x, "conv input"), _c32(W, "conv kernel")
    F = W.shape[-1]
    shape = (x.shape[0],) + tuple(outs) + (F,)
    y = _empty(shape)
    z = _empty(shape) if stores_z(activation) else None
    geo = _shape_args(x.shape, outs, F, W.shape[:-2], strides, dilation, lo, groups)
    conv_forward_launch(x, W, None if b is None else _c32(b, "conv bias"), y, z, geo, activation)()
    return y, z


def conv_backward_data(dy, W, x_shape, strides, dilation, lo, outs, groups, y=None, z=None, activation="linear"):
    """dx (x_shape) of a convolution from dy (N·prod(outs), F), the activation's derivative applied on load."""
    W = _c32(W, "conv kernel")
    dy = _c32(dy, "conv output gradient")
    dx = _empty(tuple(x_shape))
    geo = _shape_args(x_shape, outs, W.shape[-1], W.shape[:-2], strides, dilation, lo, groups)
    conv_backward_data_launch(dy, y, z, W, dx, geo, activation)()
    return dx


def conv_backward_weight(x, dy, W_shape, strides, dilation, lo, outs, groups, need_b, y=None, z=None,
                         activation="linear"):
    x = _c32(x, "conv input")
    dy = _c32(dy, "conv output gradient")
    dW = _empty(tuple(W_shape))
    db = _empty((W_shape[-1],)) if need_b else None
    geo = _shape_args(x.shape, outs, W_shape[-1], W_shape[:-2], strides, dilation, lo, groups)
    conv_backward_weight_launch(x, dy, y, z, dW, db, geo, activation)()
    return dW, db


def conv_op(inputs, kernel, bias, x, W, b, activation, strides, dilation, lo, outs, groups, fmt, record):
    from .kernels import stores_z
    x = _c32(x, "conv input")
    y, z = conv_forward(x, W, b, activation, strides, dilation, lo, outs, groups)
    keep_y = activation != "linear" and not stores_z(activation)

    def backward(g, n):
        dy = _c32(_last(g, fmt), "conv output gradient")
        yy = y if keep_y else None
        gx = gW = gb = None
        if n[0]:
            gx = _first(conv_backward_data(dy, W, x.shape, strides, dilation, lo, outs, groups, yy, z, activation), fmt)
        if n[1] or (b is not None and n[2]):
            gW, gb = conv_backward_weight(x, dy, W.shape, strides, dilation, lo, outs, groups,
                                          b is not None and n[2], yy, z, activation)
            gW = gW if n[1] else None
        return gx, gW, gb
    ins = (inputs, kernel) if bias is None else (inputs, kernel, bias)
    return record(_first(y, fmt), ins, backward)


# ---- pooling ----

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


# ---- batch normalization ----

def _acb(shape, axis):
    A = int(np.prod(shape[:axis]))
    B = int(np.prod(shape[axis + 1:]))
    return _i32(A), _i32(shape[axis]), _i32(B)


def bn_stats_launch(x, mean, var, acb):
    return Launch("norm.cu", "bn_stats", (max(int(acb[1]), 1),), (256,), (x, mean, var, *acb))


def bn_forward_launch(x, y, mean, var, gamma, beta, acb, eps):
    return Launch("norm.cu", "bn_forward", _grid(x.size, 256), (256,),
                  (x, y, mean, var, gamma if gamma is not None else mean, beta if beta is not None else mean, *acb,
                   _f32(eps), _i32(gamma is not None), _i32(beta is not None)))


def bn_backward_reduce_launch(g, x, mean, var, dgamma, dbeta, acb, eps):
    return Launch("norm.cu", "bn_backward_reduce", (max(int(acb[1]), 1),), (256,),
                  (g, x, mean, var, dgamma, dbeta, *acb, _f32(eps)))


def bn_backward_data_launch(g, x, mean, var, gamma, dgamma, dbeta, dx, acb, eps):
    return Launch("norm.cu", "bn_backward_data", _grid(x.size, 256), (256,),
                  (g, x, mean, var, gamma if gamma is not None else mean, dgamma, dbeta, dx, *acb, _f32(eps),
                   _i32(gamma is not None)))


def norm_supported(*shapes):
    return _fits(*shapes)


def batch_norm_train_op(x, gamma, beta, a, g_, b_, axis, eps, record):
    a = _c32(a, "batch_normalization input")
    acb = _acb(a.shape, axis)
    C = int(acb[1])
    mean, var = _empty((C,)), _empty((C,))
    bn_stats_launch(a, mean, var, acb)()
    y = _empty(a.shape)
    bn_forward_launch(a, y, mean, var, g_, b_, acb, eps)()

    def backward(gr, n):
        gr = _c32(gr, "batch_normalization output gradient")
        dgamma, dbeta = _empty((C,)), _empty((C,))
        bn_backward_reduce_launch(gr, a, mean, var, dgamma, dbeta, acb, eps)()
        gx = None
        if n[0]:
            gx = _empty(a.shape)
            bn_backward_data_launch(gr, a, mean, var, g_, dgamma, dbeta, gx, acb, eps)()
        return gx, (dgamma if g_ is not None and n[1] else None), (dbeta if b_ is not None and n[2] else None)
    return record(y, (x, gamma, beta), backward), mean, var


def batch_norm_apply_op(x, gamma, beta, a, mu, v, g_, b_, axis, eps, record):
    a = _c32(a, "batch_normalization input")
    acb = _acb(a.shape, axis)
    C = int(acb[1])
    y = _empty(a.shape)
    bn_forward_launch(a, y, mu, v, g_, b_, acb, eps)()

    def backward(gr, n):
        gr = _c32(gr, "batch_normalization output gradient")
        gx = gg = gb = None
        if n[0]:  # dx = g·γ/√(var+ε): the forward kernel with a zero mean and no β
            gx = _empty(a.shape)
            bn_forward_launch(gr, gx, _xp().zeros((C,), np.float32), v, g_, None, acb, eps)()
        if (g_ is not None and n[1]) or (b_ is not None and n[2]):
            dgamma, dbeta = _empty((C,)), _empty((C,))
            bn_backward_reduce_launch(gr, a, mu, v, dgamma, dbeta, acb, eps)()
            gg = dgamma if g_ is not None and n[1] else None
            gb = dbeta if b_ is not None and n[2] else None
        return gx, gg, gb
    return record(y, (x, gamma, beta), backward)
