"""Launchers of kernels/norm.cu: batch normalization's statistics, forward and the two backward passes,
over any axis. Reference: ops/batchnorm.py's array path."""
import numpy as np

from .launch import Launch, _c32, _empty, _f32, _fits, _grid, _i32, _xp


def _acb(shape, axis):
    A = int(np.prod(shape[:axis]))
    B = int(np.prod(shape[axis + 1:]))
    return _i32(A), _i32(shape[axis]), _i32(B)


def _rows(rows, per_row):
    """(rows pointer, per_row): a step program's count of valid samples (ctl[1:2]) and A / batch; the eager ops
    pass none (every row is real; a kernel never takes a null pointer, so a 1-element stand-in)."""
    if rows is None:
        return _xp().zeros(1, np.int32), _i32(0)
    return rows, _i32(per_row)


def bn_stats_launch(x, mean, var, acb, rows=None, per_row=0):
    return Launch("norm.cu", "bn_stats", (max(int(acb[1]), 1),), (256,), (x, mean, var, *acb, *_rows(rows, per_row)))


def bn_forward_launch(x, y, mean, var, gamma, beta, acb, eps, rows=None, per_row=0):
    return Launch("norm.cu", "bn_forward", _grid(x.size, 256), (256,),
                  (x, y, mean, var, gamma if gamma is not None else mean, beta if beta is not None else mean, *acb,
                   _f32(eps), _i32(gamma is not None), _i32(beta is not None), *_rows(rows, per_row)))


def bn_backward_reduce_launch(g, x, mean, var, dgamma, dbeta, acb, eps, rows=None, per_row=0):
    return Launch("norm.cu", "bn_backward_reduce", (max(int(acb[1]), 1),), (256,),
                  (g, x, mean, var, dgamma, dbeta, *acb, _f32(eps), *_rows(rows, per_row)))


def bn_backward_data_launch(g, x, mean, var, gamma, dgamma, dbeta, dx, acb, eps, rows=None, per_row=0):
    return Launch("norm.cu", "bn_backward_data", _grid(x.size, 256), (256,),
                  (g, x, mean, var, gamma if gamma is not None else mean, dgamma, dbeta, dx, *acb, _f32(eps),
                   _i32(gamma is not None), *_rows(rows, per_row)))


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
