"""Batch normalization as two fused ops with hand-written backward passes (the NumPy references of
kernels/norm.cu). The BatchNormalization layer calls them; `keras.ops.batch_normalization` (whose
mean and variance are differentiable inputs) stays the composite in nn_extra.py.

  batch_norm_train  mean, var over every axis but `axis` (biased variance, two passes: the
                    E[x²] − E[x]² shortcut loses digits when |mean| ≫ std); y = (x − mean)·γ/√(var+ε) + β
  batch_norm_apply  the same normalization with given statistics (inference, or a frozen layer)

Backward of the training op, per channel with m elements and x̂ = (x − mean)/√(var+ε):
  dβ = Σ g,  dγ = Σ g·x̂,  dx = γ/√(var+ε) · (g − dβ/m − x̂·dγ/m)."""
import numpy as np

from .. import backend
from .core import data, record


def _xp():
    return backend.get_xp()


def _axes(x, axis):
    axis = axis % x.ndim
    return axis, tuple(a for a in range(x.ndim) if a != axis)


def _bshape(x, axis):
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return tuple(shape)


def _use_kernels(x, *params):
    if not (backend.uses_kernels() and x.dtype == np.float32
            and all(p is None or p.dtype == np.float32 for p in params)):
        return False
    from ..kernels import norm
    return norm.norm_supported(x.shape)


def batch_norm_train(x, gamma, beta, axis=-1, epsilon=1e-3):
    """(y, mean, var): batch statistics over every axis but `axis`; mean and var are plain arrays
    (the layer's moving averages take them; no gradient flows through those updates)."""
    a = data(x)
    g_ = None if gamma is None else data(gamma)
    b_ = None if beta is None else data(beta)
    ax, red = _axes(a, axis)
    if _use_kernels(a, g_, b_):
        from ..kernels import norm
        return norm.batch_norm_train_op(x, gamma, beta, a, g_, b_, ax, epsilon, record)
    xp = _xp()
    bs = _bshape(a, ax)
    m = max(a.size // max(a.shape[ax], 1), 1)
    mean = a.mean(axis=red, keepdims=True)
    xc = a - mean
    var = (xc * xc).mean(axis=red, keepdims=True)
    inv = 1.0 / xp.sqrt(var + epsilon)
    xhat = xc * inv
    y = xhat * g_.reshape(bs) if g_ is not None else xhat.copy()
    if b_ is not None:
        y += b_.reshape(bs)

    def backward(g, n):
        db = g.sum(axis=red, keepdims=True)
        dg = (g * xhat).sum(axis=red, keepdims=True)
        gx = gg = gb = None
        if n[0]:
            scale = inv * (g_.reshape(bs) if g_ is not None else 1.0)
            gx = scale * (g - db / m - xhat * (dg / m))
        if g_ is not None and n[1]:
            gg = dg.reshape(-1)
        if b_ is not None and n[2]:
            gb = db.reshape(-1)
        return gx, gg, gb
    out = record(y, (x, gamma, beta), backward)
    return out, mean.reshape(-1), var.reshape(-1)


def batch_norm_apply(x, mean, var, gamma, beta, axis=-1, epsilon=1e-3):
    """(x − mean)·γ/√(var+ε) + β with given statistics; gradients reach x, γ and β."""
    a, mu, v = data(x), data(mean), data(var)
    g_ = None if gamma is None else data(gamma)
    b_ = None if beta is None else data(beta)
    ax, red = _axes(a, axis)
    if _use_kernels(a, mu, v, g_, b_):
        from ..kernels import norm
        return norm.batch_norm_apply_op(x, gamma, beta, a, mu, v, g_, b_, ax, epsilon, record)
    xp = _xp()
    bs = _bshape(a, ax)
    inv = (1.0 / xp.sqrt(v + epsilon)).astype(a.dtype, copy=False)
    scale = inv * g_ if g_ is not None else inv
    shift = -mu * scale + (b_ if b_ is not None else 0.0)
    y = a * scale.reshape(bs) + shift.reshape(bs)

    def backward(g, n):
        gx = g * scale.reshape(bs) if n[0] else None
        gg = (g * ((a - mu.reshape(bs)) * inv.reshape(bs))).sum(axis=red) if g_ is not None and n[1] else None
        gb = g.sum(axis=red) if b_ is not None and n[2] else None
        return gx, gg, gb
    return record(y, (x, gamma, beta), backward)
