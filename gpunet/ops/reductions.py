"""Reductions of keras.ops (prod, var, std, logsumexp, cumulative sums and products, the nan*
and quantile family, norm), with gradients where Keras has them."""
import numpy as np

from .. import backend, config
from . import math as M
from .core import const as _const, data, norm_axes, record

__all__ = [
    "prod", "var", "std", "amax", "amin", "ptp", "logsumexp", "average", "all", "any", "count_nonzero",
    "cumsum", "cumprod", "nanargmax", "nanargmin", "nancumsum", "nancumprod", "median", "quantile",
    "percentile", "nanquantile", "nanpercentile", "norm", "nanmax", "nanmin", "nanmean", "nansum", "nanprod",
    "nanstd", "nanvar", "nanmedian",
]


def _xp():
    return backend.get_xp()


# ---- reductions ----

def prod(x, axis=None, keepdims=False, dtype=None):
    """Product; its gradient is the product of the others (exp(sum log|x|) would lose zeros)."""
    a = data(x)
    xp = _xp()
    y = xp.prod(a, axis=axis, keepdims=keepdims, dtype=dtype)

    def backward(g, n):
        yk = xp.prod(a, axis=axis, keepdims=True)
        gk = g if keepdims else xp.reshape(g, yk.shape)
        others = xp.where(a != 0, yk / xp.where(a == 0, 1, a), _prod_without_self(a, axis))
        return (gk * others,)
    return record(y, (x,), backward)


def _prod_without_self(a, axis):
    xp = _xp()
    axes = norm_axes(axis, a.ndim)
    out = xp.empty_like(a)
    flat = xp.moveaxis(a, axes, tuple(range(-len(axes), 0)))
    lead = flat.shape[:flat.ndim - len(axes)]
    f2 = flat.reshape(lead + (-1,))
    left = xp.cumprod(xp.concatenate([xp.ones(lead + (1,), a.dtype), f2[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.concatenate([xp.ones(lead + (1,), a.dtype), xp.flip(f2, -1)[..., :-1]], -1), -1), -1)
    res = (left * right).reshape(flat.shape)
    out[...] = xp.moveaxis(res, tuple(range(-len(axes), 0)), axes)
    return out


def var(x, axis=None, keepdims=False):
    x = M.cast(x, config.floatx()) if data(x).dtype.kind not in "fc" else x
    d = M.subtract(x, M.mean(x, axis=axis, keepdims=True))
    return M.mean(M.square(d), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return M.sqrt(var(x, axis=axis, keepdims=keepdims))


def amax(x, axis=None, keepdims=False):
    return M.max(x, axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims=False):
    return M.min(x, axis=axis, keepdims=keepdims)


def ptp(x, axis=None, keepdims=False):
    return M.subtract(M.max(x, axis=axis, keepdims=keepdims), M.min(x, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    m = M.stop_gradient(M.max(x, axis=axis, keepdims=True))
    out = M.add(M.log(M.sum(M.exp(M.subtract(x, m)), axis=axis, keepdims=True)), m)
    return out if keepdims else M.squeeze(out, axis=norm_axes(axis, len(M.shape(x))))


def average(x, axis=None, weights=None):
    if weights is None:
        return M.mean(x, axis=axis)
    w = weights
    if np.ndim(data(w)) == 1 and np.ndim(data(x)) > 1 and axis is not None:
        shape = [1] * np.ndim(data(x))
        shape[axis] = -1
        w = M.reshape(w, tuple(shape))
    num = M.sum(M.multiply(x, w), axis=axis)
    return M.divide(num, M.sum(M.multiply(M.ones_like(x), w), axis=axis))


def all(x, axis=None, keepdims=False):
    return _const(_xp().all(data(x), axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):
    return _const(_xp().any(data(x), axis=axis, keepdims=keepdims))


def count_nonzero(x, axis=None):
    return _const(_xp().count_nonzero(data(x), axis=axis))


def cumsum(x, axis=None, dtype=None):
    a = data(x)
    xp = _xp()
    if axis is None:
        return cumsum(M.reshape(x, (-1,)), axis=0, dtype=dtype)
    y = xp.cumsum(a, axis=axis, dtype=dtype)
    return record(y, (x,), lambda g, n: (xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis),))


def cumprod(x, axis=None, dtype=None):
    if axis is None:
        return cumprod(M.reshape(x, (-1,)), axis=0, dtype=dtype)
    a = data(x)
    xp = _xp()
    y = xp.cumprod(a, axis=axis, dtype=dtype)

    def backward(g, n):  # d y_j / d a_i = y_j / a_i for j >= i (inputs away from zero)
        s = xp.flip(xp.cumsum(xp.flip(g * y, axis), axis=axis), axis)
        return (s / a,)
    return record(y, (x,), backward)


def _nan_reduce(name, fn):
    def op(x, axis=None, keepdims=False):
        return _const(fn(data(x), axis=axis, keepdims=keepdims))
    op.__name__ = op.__qualname__ = name
    return op


nanmax = _nan_reduce("nanmax", lambda a, **k: _xp().nanmax(a, **k))
nanmin = _nan_reduce("nanmin", lambda a, **k: _xp().nanmin(a, **k))
nanmean = _nan_reduce("nanmean", lambda a, **k: _xp().nanmean(a, **k))
nansum = _nan_reduce("nansum", lambda a, **k: _xp().nansum(a, **k))
nanprod = _nan_reduce("nanprod", lambda a, **k: _xp().nanprod(a, **k))
nanstd = _nan_reduce("nanstd", lambda a, **k: _xp().nanstd(a, **k))
nanvar = _nan_reduce("nanvar", lambda a, **k: _xp().nanvar(a, **k))
nanmedian = _nan_reduce("nanmedian", lambda a, **k: _xp().nanmedian(a, **k))


def nanargmax(x, axis=None, keepdims=False):
    return _const(_xp().nanargmax(data(x), axis=axis, keepdims=keepdims))


def nanargmin(x, axis=None, keepdims=False):
    return _const(_xp().nanargmin(data(x), axis=axis, keepdims=keepdims))


def nancumsum(x, axis=None, dtype=None):
    return _const(_xp().nancumsum(data(x), axis=axis, dtype=dtype))


def nancumprod(x, axis=None, dtype=None):
    return _const(_xp().nancumprod(data(x), axis=axis, dtype=dtype))


def median(x, axis=None, keepdims=False):
    return _const(_xp().median(data(x), axis=axis, keepdims=keepdims))


def quantile(x, q, axis=None, method="linear", keepdims=False):
    return _const(_xp().quantile(data(x), data(q), axis=axis, method=method, keepdims=keepdims))


def percentile(x, q, axis=None, method="linear", keepdims=False):
    return _const(_xp().percentile(data(x), data(q), axis=axis, method=method, keepdims=keepdims))


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return _const(_xp().nanquantile(data(x), data(q), axis=axis, method=method, keepdims=keepdims))


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return _const(_xp().nanpercentile(data(x), data(q), axis=axis, method=method, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector 2-norm (the default) and 1/inf norms differentiably; other orders without a gradient."""
    if ord in (None, 2, "euclidean", "fro") and (axis is None or isinstance(axis, int) or ord == "fro"):
        return M.sqrt(M.sum(M.square(x), axis=axis, keepdims=keepdims))
    if ord == 1 and isinstance(axis, int):
        return M.sum(M.abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf") and isinstance(axis, int):
        return M.max(M.abs(x), axis=axis, keepdims=keepdims)
    return _const(_xp().linalg.norm(data(x), ord=ord, axis=axis, keepdims=keepdims))
