"""The rest of `keras.ops` on backend arrays: Keras's names and arguments, and gradients where Keras
has them. Most are compositions of the differentiable ops in math.py/nn.py (the tape then gives the
gradient for free); elementwise functions with a closed-form derivative have it beside them; ops
whose result is an integer, a boolean or an order (argsort, isnan, floor, unique) have none, as in
Keras. tests/test_ops_more.py checks each against NumPy (and real Keras) and each gradient against
central differences."""
import builtins
import math as _m

import numpy as np

from .. import backend, config
from . import math as M, nn as N
from .core import Tensor, data, norm_axes, record, unbroadcast


__all__ = [
    "erfinv", "sinc", "round", "conj", "real", "imag", "angle", "copy",
    "identity", "nan_to_num", "divide_no_nan", "isclose", "allclose", "isin", "prod", "var",
    "std", "amax", "amin", "ptp", "logsumexp", "average", "all", "any",
    "count_nonzero", "cumsum", "cumprod", "nanargmax", "nanargmin", "nancumsum", "nancumprod", "median",
    "quantile", "percentile", "nanquantile", "nanpercentile", "norm", "stack", "unstack", "split",
    "array_split", "hsplit", "vsplit", "dsplit", "hstack", "vstack", "dstack", "append",
    "ravel", "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90",
    "moveaxis", "swapaxes", "diagonal", "trace", "take_along_axis", "diag", "diagflat", "tril",
    "triu", "pad", "slice", "slice_update", "scatter", "scatter_update", "select", "meshgrid",
    "arange", "linspace", "logspace", "geomspace", "eye", "tri", "full", "full_like",
    "empty", "empty_like", "argsort", "argpartition", "sort", "top_k", "in_top_k", "searchsorted",
    "digitize", "bincount", "nonzero", "unique", "unravel_index", "histogram", "diff", "trapezoid",
    "outer", "inner", "vdot", "kron", "cross", "tensordot", "einsum", "celu",
    "glu", "hard_shrink", "soft_shrink", "hard_tanh", "threshold", "squareplus", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "moments", "batch_normalization", "layer_normalization", "rms_normalization", "normalize", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "multi_hot", "psnr", "dot_product_attention", "inv", "det", "slogdet", "logdet",
    "solve", "solve_triangular", "cholesky_inverse", "cond", "switch", "fori_loop", "while_loop", "scan",
    "map", "vectorized_map", "associative_scan", "custom_gradient", "segment_sum", "is_tensor", "convert_to_numpy", "ndim",
    "dtype", "array", "saturate_cast", "vectorize", "view", "vander", "corrcoef", "correlate",
    "cdist", "polar", "hamming", "hanning", "bartlett", "blackman", "kaiser", "sin",
    "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "expm1", "exp2", "log2", "log10", "cbrt", "reciprocal",
    "rsqrt", "erf", "erfc", "fabs", "deg2rad", "rad2deg", "log_sigmoid", "tanh_shrink",
    "ceil", "floor", "trunc", "isfinite", "isinf", "isnan", "isneginf", "isposinf",
    "isreal", "signbit", "logical_not", "bitwise_invert", "bitwise_not", "i0", "conjugate", "arctan2",
    "hypot", "logaddexp", "logaddexp2", "mod", "fmod", "fmax", "fmin", "floor_divide",
    "heaviside", "nextafter", "ldexp", "gcd", "lcm", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift", "nanmax",
    "nanmin", "nanmean", "nansum", "nanprod", "nanstd", "nanvar", "nanmedian", "cholesky",
    "eig", "eigh", "qr", "svd", "pinv", "matrix_rank", "lstsq", "segment_max",
    "segment_min", "segment_prod",
]


def _xp():
    return backend.get_xp()


_unwrap = data  # for the ops whose Keras argument is itself called `data`


def _f(a):
    """Integer and boolean inputs of a floating-point function become floatx (Keras does the same)."""
    a = _xp().asarray(a)
    return a if a.dtype.kind in "fc" else a.astype(config.floatx())


def _const(value):
    return Tensor(value if hasattr(value, "dtype") else _xp().asarray(value))


def _unary(name, f, df):
    def op(x):
        a = _f(data(x))
        y = f(a)
        return record(y, (x,), lambda g, n: (g * df(a, y),))
    op.__name__ = op.__qualname__ = name
    return op


def _nograd(name, f):
    def op(x):
        return _const(f(data(x)))
    op.__name__ = op.__qualname__ = name
    return op


_PI = _m.pi
sin = _unary("sin", lambda a: _xp().sin(a), lambda a, y: _xp().cos(a))
cos = _unary("cos", lambda a: _xp().cos(a), lambda a, y: -_xp().sin(a))
tan = _unary("tan", lambda a: _xp().tan(a), lambda a, y: 1 + y * y)
arcsin = _unary("arcsin", lambda a: _xp().arcsin(a), lambda a, y: 1 / _xp().sqrt(1 - a * a))
arccos = _unary("arccos", lambda a: _xp().arccos(a), lambda a, y: -1 / _xp().sqrt(1 - a * a))
arctan = _unary("arctan", lambda a: _xp().arctan(a), lambda a, y: 1 / (1 + a * a))
sinh = _unary("sinh", lambda a: _xp().sinh(a), lambda a, y: _xp().cosh(a))
cosh = _unary("cosh", lambda a: _xp().cosh(a), lambda a, y: _xp().sinh(a))
arcsinh = _unary("arcsinh", lambda a: _xp().arcsinh(a), lambda a, y: 1 / _xp().sqrt(a * a + 1))
arccosh = _unary("arccosh", lambda a: _xp().arccosh(a), lambda a, y: 1 / _xp().sqrt(a * a - 1))
arctanh = _unary("arctanh", lambda a: _xp().arctanh(a), lambda a, y: 1 / (1 - a * a))
expm1 = _unary("expm1", lambda a: _xp().expm1(a), lambda a, y: y + 1)
exp2 = _unary("exp2", lambda a: _xp().exp2(a), lambda a, y: y * _m.log(2))
log2 = _unary("log2", lambda a: _xp().log2(a), lambda a, y: 1 / (a * _m.log(2)))
log10 = _unary("log10", lambda a: _xp().log10(a), lambda a, y: 1 / (a * _m.log(10)))
cbrt = _unary("cbrt", lambda a: _xp().cbrt(a), lambda a, y: 1 / (3 * y * y))
reciprocal = _unary("reciprocal", lambda a: 1 / a, lambda a, y: -y * y)
rsqrt = _unary("rsqrt", lambda a: 1 / _xp().sqrt(a), lambda a, y: -0.5 * y * y * y)
erf = _unary("erf", lambda a: backend.erf(a), lambda a, y: (2 / _m.sqrt(_PI)) * _xp().exp(-a * a))
erfc = _unary("erfc", lambda a: 1 - backend.erf(a), lambda a, y: (-2 / _m.sqrt(_PI)) * _xp().exp(-a * a))
fabs = _unary("fabs", lambda a: _xp().abs(a), lambda a, y: _xp().sign(a))
deg2rad = _unary("deg2rad", lambda a: a * (_PI / 180), lambda a, y: _PI / 180)
rad2deg = _unary("rad2deg", lambda a: a * (180 / _PI), lambda a, y: 180 / _PI)
log_sigmoid = _unary("log_sigmoid", lambda a: -(_xp().log1p(_xp().exp(-_xp().abs(a))) + _xp().maximum(-a, 0)),
                     lambda a, y: 1 - N._sigmoid(a))
tanh_shrink = _unary("tanh_shrink", lambda a: a - _xp().tanh(a), lambda a, y: _xp().tanh(a) ** 2)
# integer/boolean results: the NumPy/CuPy function of the same name (or the named one), no gradient
for _name, _fn in [("ceil", "ceil"), ("floor", "floor"), ("trunc", "trunc"), ("isfinite", "isfinite"),
                   ("isinf", "isinf"), ("isnan", "isnan"), ("isneginf", "isneginf"), ("isposinf", "isposinf"),
                   ("isreal", "isreal"), ("signbit", "signbit"), ("logical_not", "logical_not"),
                   ("bitwise_invert", "invert"), ("bitwise_not", "invert")]:
    globals()[_name] = _nograd(_name, lambda a, _fn=_fn: getattr(_xp(), _fn)(a))
i0 = _nograd("i0", lambda a: np.i0(backend.to_numpy(a)) if _xp() is np else _xp().i0(a))


def erfinv(x):
    a = _f(data(x))
    if _xp() is np:  # no SciPy needed: Giles's single-precision approximation, then Newton on erf
        w = -np.log((1.0 - a.astype(np.float64)) * (1.0 + a.astype(np.float64)))
        small = w < 5.0
        ws, wb = w - 2.5, np.sqrt(np.maximum(w, 5.0)) - 3.0
        ps = np.polyval([2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                         -0.00125372503, -0.00417768164, 0.246640727, 1.50140941], ws)
        pb = np.polyval([-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                         -0.0076224613, 0.00943887047, 1.00167406, 2.83297682], wb)
        y = np.where(small, ps, pb) * a
        for _ in range(2):
            err = backend.erf(y) - a
            y = y - err / ((2 / _m.sqrt(_PI)) * np.exp(-y * y))
        y = np.where(np.abs(a) == 1, np.sign(a) * np.inf, y).astype(a.dtype)
    else:
        from cupyx.scipy.special import erfinv as cu_erfinv
        y = cu_erfinv(a)
    return record(y, (x,), lambda g, n: (g * (_m.sqrt(_PI) / 2) * _xp().exp(y * y),))


def sinc(x):
    a = _f(data(x))
    xp = _xp()
    y = xp.sinc(a)

    def backward(g, n):
        pa = _PI * a
        safe = xp.where(a == 0, 1, a)
        d = xp.where(a == 0, 0, (xp.cos(pa) * pa - xp.sin(pa)) / (_PI * safe * safe))
        return (g * d,)
    return record(y, (x,), backward)


def round(x, decimals=0):
    return _const(_xp().round(data(x), decimals))


def conj(x):
    return _const(_xp().conj(data(x)))


conjugate = conj


def real(x):
    return _const(_xp().real(data(x)))


def imag(x):
    return _const(_xp().imag(data(x)))


def angle(x):
    return _const(_xp().angle(data(x)))


def copy(x):
    return M.multiply(x, 1) if isinstance(x, Tensor) else _const(_xp().array(data(x), copy=True))


def identity(n, dtype=None):
    return _const(_xp().identity(n, dtype=dtype or config.floatx()))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    a = data(x)
    keep = _xp().isfinite(a)
    return record(_xp().nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf), (x,), lambda g, n: (g * keep,))


# ---- binary ----

def _binary(name, f, da, db):
    def op(x1, x2):
        a, b = data(x1), data(x2)
        y = f(a, b)
        return record(y, (x1, x2), lambda g, n: (
            unbroadcast(g * da(a, b, y), a) if n[0] else None, unbroadcast(g * db(a, b, y), b) if n[1] else None))
    op.__name__ = op.__qualname__ = name
    return op


def _binary_nograd(name, f, params=("x1", "x2")):
    if params == ("x", "y"):
        def op(x, y):
            return _const(f(data(x), data(y)))
    else:
        def op(x1, x2):
            return _const(f(data(x1), data(x2)))
    op.__name__ = op.__qualname__ = name
    return op


arctan2 = _binary("arctan2", lambda a, b: _xp().arctan2(a, b), lambda a, b, y: b / (a * a + b * b),
                  lambda a, b, y: -a / (a * a + b * b))
hypot = _binary("hypot", lambda a, b: _xp().hypot(a, b), lambda a, b, y: a / y, lambda a, b, y: b / y)
logaddexp = _binary("logaddexp", lambda a, b: _xp().logaddexp(a, b), lambda a, b, y: _xp().exp(a - y),
                    lambda a, b, y: _xp().exp(b - y))
logaddexp2 = _binary("logaddexp2", lambda a, b: _xp().logaddexp2(a, b), lambda a, b, y: _xp().exp2(a - y),
                     lambda a, b, y: _xp().exp2(b - y))
mod = _binary("mod", lambda a, b: _xp().mod(a, b), lambda a, b, y: 1, lambda a, b, y: -_xp().floor_divide(a, b))
fmod = _binary("fmod", lambda a, b: _xp().fmod(a, b), lambda a, b, y: 1, lambda a, b, y: -_xp().trunc(a / b))
fmax = M.maximum
fmin = M.minimum
floor_divide = _binary_nograd("floor_divide", lambda a, b: _xp().floor_divide(a, b))
heaviside = _binary_nograd("heaviside", lambda a, b: _xp().heaviside(a, b))
nextafter = _binary_nograd("nextafter", lambda a, b: _xp().nextafter(a, b))
ldexp = _binary_nograd("ldexp", lambda a, b: _xp().ldexp(a, b))
gcd = _binary_nograd("gcd", lambda a, b: _xp().gcd(a, b))
lcm = _binary_nograd("lcm", lambda a, b: _xp().lcm(a, b))
logical_and = _binary_nograd("logical_and", lambda a, b: _xp().logical_and(a, b))
logical_or = _binary_nograd("logical_or", lambda a, b: _xp().logical_or(a, b))
logical_xor = _binary_nograd("logical_xor", lambda a, b: _xp().logical_xor(a, b))
bitwise_and = _binary_nograd("bitwise_and", lambda a, b: _xp().bitwise_and(a, b), ("x", "y"))
bitwise_or = _binary_nograd("bitwise_or", lambda a, b: _xp().bitwise_or(a, b), ("x", "y"))
bitwise_xor = _binary_nograd("bitwise_xor", lambda a, b: _xp().bitwise_xor(a, b), ("x", "y"))
left_shift = _binary_nograd("left_shift", lambda a, b: _xp().left_shift(a, b), ("x", "y"))
right_shift = _binary_nograd("right_shift", lambda a, b: _xp().right_shift(a, b), ("x", "y"))
bitwise_left_shift = _binary_nograd("bitwise_left_shift", lambda a, b: _xp().left_shift(a, b), ("x", "y"))
bitwise_right_shift = _binary_nograd("bitwise_right_shift", lambda a, b: _xp().right_shift(a, b), ("x", "y"))


def divide_no_nan(x1, x2):
    """x1 / x2, and 0 where x2 == 0 (gradient 0 there too)."""
    b = data(x2)
    zero = b == 0
    safe = M.where(zero, 1, x2) if isinstance(x2, Tensor) else _xp().where(zero, 1, b)
    return M.where(zero, 0, M.divide(x1, safe))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return _const(_xp().isclose(data(x1), data(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(_xp().allclose(data(x1), data(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isin(x1, x2, assume_unique=False, invert=False):
    return _const(_xp().isin(data(x1), data(x2), assume_unique=assume_unique, invert=invert))


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


# ---- shapes and indexing (gradients flow through) ----

def stack(x, axis=0):
    return M.concatenate([M.expand_dims(t, axis) for t in x], axis=axis)


def unstack(x, num=None, axis=0):
    n = np.shape(data(x))[axis]
    return [_take_index(x, i, axis) for i in builtins.range(n)]


def _take_index(x, i, axis):
    nd = len(M.shape(x))
    key = (builtins.slice(None),) * (axis % nd) + (i,)
    return M.getitem(x, key)


def split(x, indices_or_sections, axis=0):
    a = data(x)
    size_ = a.shape[axis]
    if isinstance(indices_or_sections, int):
        if size_ % indices_or_sections:
            raise ValueError("split: axis %d of size %d does not divide into %d equal sections"
                             % (axis, size_, indices_or_sections))
        step = size_ // indices_or_sections
        bounds = [i * step for i in range(indices_or_sections + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [size_]
    nd = a.ndim
    return [M.getitem(x, (builtins.slice(None),) * (axis % nd) + (builtins.slice(lo, hi),)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def array_split(x, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, int):
        n = np.shape(data(x))[axis]
        k, r = divmod(n, indices_or_sections)
        sizes = [k + 1] * r + [k] * (indices_or_sections - r)
        return split(x, list(np.cumsum(sizes)[:-1]), axis=axis)
    return split(x, indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=1 if np.ndim(data(x)) > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def hstack(xs):
    return M.concatenate(list(xs), axis=1 if np.ndim(data(xs[0])) > 1 else 0)


def vstack(xs):
    return M.concatenate([t if np.ndim(data(t)) > 1 else M.reshape(t, (1, -1)) for t in xs], axis=0)


def dstack(xs):
    def at3(t):
        nd = np.ndim(data(t))
        return M.reshape(t, (1, -1, 1)) if nd == 1 else (M.expand_dims(t, -1) if nd == 2 else t)
    return M.concatenate([at3(t) for t in xs], axis=2)


def append(x1, x2, axis=None):
    if axis is None:
        return M.concatenate([M.reshape(x1, (-1,)), M.reshape(x2, (-1,))], axis=0)
    return M.concatenate([x1, x2], axis=axis)


def ravel(x):
    return M.reshape(x, (-1,))


def _gather_op(x, forward):
    """An op that only moves elements: out = a.reshape(-1)[index]; the gradient scatters back."""
    a = data(x)
    xp = _xp()
    idx = forward(xp.arange(a.size).reshape(a.shape))

    def backward(g, n):
        out = xp.zeros(a.size, dtype=g.dtype)
        xp.add.at(out, idx.reshape(-1), g.reshape(-1))
        return (out.reshape(a.shape),)
    return record(a.reshape(-1)[idx], (x,), backward)


def tile(x, repeats):
    return _gather_op(x, lambda i: _xp().tile(i, repeats))


def repeat(x, repeats, axis=None):
    return _gather_op(x, lambda i: _xp().repeat(i, data(repeats) if isinstance(repeats, Tensor) else repeats,
                                                 axis=axis))


def flip(x, axis=None):
    return _gather_op(x, lambda i: _xp().flip(i, axis=axis))


def fliplr(x):
    return flip(x, axis=1)


def flipud(x):
    return flip(x, axis=0)


def roll(x, shift, axis=None):
    return _gather_op(x, lambda i: _xp().roll(i, shift, axis=axis))


def rot90(array, k=1, axes=(0, 1)):
    return _gather_op(array, lambda i: _xp().rot90(i, k=k, axes=axes))


def moveaxis(x, source, destination):
    return _gather_op(x, lambda i: _xp().moveaxis(i, source, destination))


def swapaxes(x, axis1, axis2):
    return _gather_op(x, lambda i: _xp().swapaxes(i, axis1, axis2))


def diagonal(x, offset=0, axis1=0, axis2=1):
    return _gather_op(x, lambda i: _xp().diagonal(i, offset=offset, axis1=axis1, axis2=axis2))


def trace(x, offset=0, axis1=0, axis2=1):
    return M.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def take_along_axis(x, indices, axis=None):
    if axis is None:
        return take_along_axis(M.reshape(x, (-1,)), indices, axis=0)
    return _gather_op(x, lambda i: _xp().take_along_axis(i, data(indices).astype("int64"), axis=axis))


def diag(x, k=0):
    a = data(x)
    if a.ndim == 1:
        xp = _xp()
        n = a.shape[0] + builtins.abs(k)
        out = xp.zeros((n, n), dtype=a.dtype)
        rows = xp.arange(a.shape[0]) + builtins.max(-k, 0)
        cols = xp.arange(a.shape[0]) + builtins.max(k, 0)
        out[rows, cols] = a
        return record(out, (x,), lambda g, n_: (g[rows, cols],))
    return diagonal(x, offset=k)


def diagflat(x, k=0):
    return diag(ravel(x), k)


def _masked(x, keep):
    return record(data(x) * keep, (x,), lambda g, n: (g * keep,))


def tril(x, k=0):
    a = data(x)
    return _masked(x, _xp().tril(_xp().ones(a.shape[-2:], dtype=bool), k))


def triu(x, k=0):
    a = data(x)
    return _masked(x, _xp().triu(_xp().ones(a.shape[-2:], dtype=bool), k))


def pad(x, pad_width, mode="constant", constant_values=None):
    a = data(x)
    xp = _xp()
    pw = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2) if np.ndim(pad_width) else
                         np.asarray([[pad_width, pad_width]]), (a.ndim, 2))
    if mode == "constant":
        y = xp.pad(a, pw.tolist(), mode="constant", constant_values=0 if constant_values is None else constant_values)
        key = tuple(builtins.slice(lo, lo + s) for (lo, _), s in zip(pw, a.shape))
        return record(y, (x,), lambda g, n: (g[key],))
    if constant_values is not None:
        raise ValueError("pad: constant_values is only valid with mode='constant', received mode=%r" % mode)
    return _gather_op(x, lambda i: xp.pad(i, pw.tolist(), mode=mode))


def slice(inputs, start_indices, shape):
    key = tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(data(start_indices) if not isinstance(
        start_indices, (list, tuple)) else start_indices, shape))
    return M.getitem(inputs, key)


def slice_update(inputs, start_indices, updates):
    u = data(updates)
    key = tuple(builtins.slice(int(s), int(s) + n) for s, n in zip(start_indices, u.shape))
    a = data(inputs)
    out = a.copy()
    out[key] = u
    return record(out, (inputs, updates), lambda g, n: (
        _zero_at(g, key) if n[0] else None, g[key] if n[1] else None))


def _zero_at(g, key):
    g = g.copy()
    g[key] = 0
    return g


def scatter(indices, values, shape):
    """Zeros of `shape` with `values` added at `indices` (one row of indices per value)."""
    idx = tuple(_xp().asarray(data(indices)).astype("int64").T)
    v = data(values)
    out = _xp().zeros(tuple(shape), dtype=v.dtype)
    _xp().add.at(out, idx, v)
    return record(out, (indices, values), lambda g, n: (None, g[idx] if n[1] else None))


def scatter_update(inputs, indices, updates, reduction=None):
    if reduction not in (None, "add", "max", "min", "mul"):
        raise ValueError("scatter_update: reduction must be None, 'add', 'max', 'min' or 'mul', received %r"
                         % (reduction,))
    idx = tuple(_xp().asarray(data(indices)).astype("int64").T)
    out = data(inputs).copy()
    if reduction is not None:
        fn = {"add": np.add, "max": np.maximum, "min": np.minimum, "mul": np.multiply}[reduction]
        if _xp() is np:
            fn.at(out, idx, data(updates))
        else:
            getattr(_xp(), fn.__name__).at(out, idx, data(updates))
        return _const(out)
    out[idx] = data(updates)
    return record(out, (inputs, indices, updates), lambda g, n: (
        _zero_at(g, idx) if n[0] else None, None, g[idx] if n[2] else None))


def select(condlist, choicelist, default=0):
    out = default if isinstance(default, Tensor) else _const(_xp().asarray(default, dtype=data(choicelist[0]).dtype))
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = M.where(c, v, out)
    return out


def meshgrid(*x, indexing="xy"):
    return [_const(a) for a in _xp().meshgrid(*[data(t) for t in x], indexing=indexing)]


# ---- creation and integer results ----

def arange(start, stop=None, step=1, dtype=None):
    if dtype is None:
        vals = [v for v in (start, stop, step) if v is not None]
        dtype = config.floatx() if builtins.any(isinstance(v, float) for v in vals) else "int32"
    return _const(_xp().arange(start, stop, step, dtype=dtype) if stop is not None else
                  _xp().arange(start, dtype=dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    out = _xp().linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype or config.floatx(), axis=axis)
    return (_const(out[0]), out[1]) if retstep else _const(out)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    return _const(_xp().logspace(start, stop, num, endpoint=endpoint, base=base, dtype=dtype or config.floatx(),
                                 axis=axis))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    return _const(_xp().geomspace(start, stop, num, endpoint=endpoint, dtype=dtype or config.floatx(), axis=axis))


def eye(N, M=None, k=0, dtype=None):
    return _const(_xp().eye(N, M, k=k, dtype=dtype or config.floatx()))


def tri(N, M=None, k=0, dtype=None):
    return _const(_xp().tri(N, M, k=k, dtype=dtype or config.floatx()))


def full(shape, fill_value, dtype=None):
    return _const(_xp().full(shape, data(fill_value), dtype=dtype))


def full_like(x, fill_value, dtype=None):
    return _const(_xp().full_like(data(x), data(fill_value), dtype=dtype))


def empty(shape, dtype=None):
    return _const(_xp().empty(shape, dtype=dtype or config.floatx()))


def empty_like(x, dtype=None):
    return _const(_xp().empty_like(data(x), dtype=dtype))


def argsort(x, axis=-1):
    return _const(_xp().argsort(data(x), axis=axis, kind="stable").astype("int32"))


def argpartition(x, kth, axis=-1):
    return _const(_xp().argpartition(data(x), kth, axis=axis).astype("int32"))


def sort(x, axis=-1):
    order = _xp().argsort(data(x), axis=axis, kind="stable")
    return take_along_axis(x, order, axis=axis)


def top_k(x, k, sorted=True):
    """(values, indices) of the k largest along the last axis; ties keep the lower index (Keras)."""
    a = data(x)
    order = _xp().argsort(-a, axis=-1, kind="stable")[..., :k]
    return take_along_axis(x, order, axis=-1), _const(order.astype("int32"))


def in_top_k(targets, predictions, k):
    p = data(predictions)
    t = data(targets).astype("int64")
    target = _xp().take_along_axis(p, t[..., None], axis=-1)
    return _const(((p > target).sum(axis=-1) < k))


def searchsorted(sorted_sequence, values, side="left"):
    return _const(_xp().searchsorted(data(sorted_sequence), data(values), side=side).astype("int32"))


def digitize(x, bins):
    return _const(_xp().digitize(data(x), data(bins)).astype("int32"))


def bincount(x, weights=None, minlength=0, sparse=False):
    a = data(x)
    w = None if weights is None else data(weights)
    if a.ndim == 2:  # Keras: one count per row
        n = builtins.max(int(a.max()) + 1 if a.size else 0, minlength)
        return _const(_xp().stack([_xp().bincount(r, None if w is None else w[i], minlength=n) for i, r in enumerate(a)]))
    return _const(_xp().bincount(a, w, minlength=minlength))


def nonzero(x):
    return tuple(_const(i) for i in _xp().nonzero(data(x)))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None, size=None,
           fill_value=None):
    res = _xp().unique(data(x), return_index=return_index, return_inverse=return_inverse,
                       return_counts=return_counts, axis=axis)
    return tuple(_const(r) for r in res) if isinstance(res, tuple) else _const(res)


def unravel_index(indices, shape):
    return tuple(_const(i) for i in _xp().unravel_index(data(indices), shape))


def histogram(x, bins=10, range=None):
    h, edges = _xp().histogram(data(x), bins=bins, range=range)
    return _const(h), _const(edges)


def diff(a, n=1, axis=-1):
    out = a
    for _ in builtins.range(n):
        nd = len(M.shape(out))
        ax = axis % nd
        hi = M.getitem(out, (builtins.slice(None),) * ax + (builtins.slice(1, None),))
        lo = M.getitem(out, (builtins.slice(None),) * ax + (builtins.slice(None, -1),))
        out = M.subtract(hi, lo)
    return out


def trapezoid(y, x=None, dx=1.0, axis=-1):
    nd = len(M.shape(y))
    ax = axis % nd
    hi = M.getitem(y, (builtins.slice(None),) * ax + (builtins.slice(1, None),))
    lo = M.getitem(y, (builtins.slice(None),) * ax + (builtins.slice(None, -1),))
    widths = dx if x is None else diff(x, axis=axis if np.ndim(data(x)) > 1 else 0)
    return M.sum(M.multiply(M.multiply(M.add(hi, lo), 0.5), widths), axis=ax)


# ---- products ----

def outer(x1, x2):
    return M.multiply(M.reshape(x1, (-1, 1)), M.reshape(x2, (1, -1)))


def inner(x1, x2):
    if np.ndim(data(x1)) == 0 or np.ndim(data(x2)) == 0:
        return M.multiply(x1, x2)
    return tensordot(x1, x2, axes=([-1], [-1]))


def vdot(x1, x2):
    return M.sum(M.multiply(M.reshape(x1, (-1,)), M.reshape(x2, (-1,))))


def kron(x1, x2):
    a, b = data(x1), data(x2)
    nd = builtins.max(a.ndim, b.ndim)
    A = M.reshape(x1, (1,) * (nd - a.ndim) + a.shape)
    B = M.reshape(x2, (1,) * (nd - b.ndim) + b.shape)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    ea = M.reshape(A, tuple(v for s in sa for v in (s, 1)))
    eb = M.reshape(B, tuple(v for s in sb for v in (1, s)))
    return M.reshape(M.multiply(ea, eb), tuple(p * q for p, q in zip(sa, sb)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(x1, axisa, -1), moveaxis(x2, axisb, -1)

    def c(t, i):
        return M.getitem(t, (Ellipsis, i))
    out = stack([M.subtract(M.multiply(c(a, 1), c(b, 2)), M.multiply(c(a, 2), c(b, 1))),
                 M.subtract(M.multiply(c(a, 2), c(b, 0)), M.multiply(c(a, 0), c(b, 2))),
                 M.subtract(M.multiply(c(a, 0), c(b, 1)), M.multiply(c(a, 1), c(b, 0)))], axis=-1)
    return moveaxis(out, -1, axisc)


def tensordot(x1, x2, axes=2):
    a, b = data(x1), data(x2)
    if isinstance(axes, int):
        ax_a, ax_b = list(builtins.range(a.ndim - axes, a.ndim)), list(builtins.range(axes))
    else:
        ax_a, ax_b = [list(v) if isinstance(v, (list, tuple)) else [v] for v in axes]
    ax_a = [i % a.ndim for i in ax_a]
    ax_b = [i % b.ndim for i in ax_b]
    free_a = [i for i in builtins.range(a.ndim) if i not in ax_a]
    free_b = [i for i in builtins.range(b.ndim) if i not in ax_b]
    A = M.reshape(M.transpose(x1, free_a + ax_a), (int(np.prod([a.shape[i] for i in free_a])), -1))
    B = M.reshape(M.transpose(x2, ax_b + free_b), (-1, int(np.prod([b.shape[i] for i in free_b]))))
    return M.reshape(M.matmul(A, B), tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b))


def einsum(subscripts, *operands):
    """Einstein summation; the gradient of each operand is the einsum of the others with the output
    gradient (labels that occur in one operand only are summed there first)."""
    xp = _xp()
    arrays = [data(o) for o in operands]
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins = spec
        letters = [c for c in ins.replace(",", "") if c.isalpha()]
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    y = xp.einsum(spec if "->" in spec else ins and ",".join(ins) + "->" + out, *arrays)
    if "." in spec:
        return _const(y)  # ellipsis subscripts: forward only

    def backward(g, n):
        grads = []
        for i, (need, sub) in enumerate(zip(n, ins)):
            if not need:
                grads.append(None)
                continue
            others = [(s, arrays[j]) for j, s in enumerate(ins) if j != i]
            keep = "".join(dict.fromkeys(c for c in sub if c in out or builtins.any(c in s for s, _ in others)))
            gi = xp.einsum(",".join([out] + [s for s, _ in others]) + "->" + keep, g, *[arr for _, arr in others])
            if keep != sub:  # labels summed inside this operand only, or repeated: broadcast back
                if len(set(sub)) != len(sub):
                    raise NotImplementedError("einsum gradient with a repeated label in one operand (%r)" % sub)
                shape = [arrays[i].shape[sub.index(c)] if c in keep else 1 for c in sub]
                order = [keep.index(c) for c in sub if c in keep]
                gi = xp.transpose(gi, order).reshape(shape)
                gi = xp.broadcast_to(gi, arrays[i].shape)
            grads.append(gi)
        return tuple(grads)
    return record(y, tuple(operands), backward)


# ---- activations (keras.ops / keras.activations) ----

def celu(x, alpha=1.0):
    return M.where(M.greater(x, 0), x, M.multiply(alpha, expm1(M.divide(M.minimum(x, 0), alpha))))


def glu(x, axis=-1):
    a, b = split(x, 2, axis=axis)
    return M.multiply(a, N.sigmoid(b))


def hard_shrink(x, threshold=0.5):
    return M.where(M.greater(M.abs(x), threshold), x, 0.0)


def soft_shrink(x, threshold=0.5):
    return M.where(M.greater(x, threshold), M.subtract(x, threshold),
                   M.where(M.less(x, -threshold), M.add(x, threshold), 0.0))


def hard_tanh(x):
    return M.clip(x, -1.0, 1.0)


def threshold(x, threshold, default_value):
    return M.where(M.greater(x, threshold), x, default_value)


def squareplus(x, b=4):
    return M.multiply(M.add(x, M.sqrt(M.add(M.square(x), b))), 0.5)


def sparse_plus(x):
    return M.where(M.less_equal(x, -1.0), 0.0, M.where(M.greater_equal(x, 1.0), x,
                                                        M.multiply(M.square(M.add(x, 1.0)), 0.25)))


def sparse_sigmoid(x):
    return M.where(M.less_equal(x, -1.0), 0.0, M.where(M.greater_equal(x, 1.0), 1.0,
                                                        M.multiply(M.add(x, 1.0), 0.5)))


def sparsemax(x, axis=-1):
    """Projection of x onto the probability simplex (Martins & Astudillo 2016)."""
    z = data(x)
    xp = _xp()
    zs = -xp.sort(-z, axis=axis)
    k = xp.arange(1, z.shape[axis] + 1, dtype=z.dtype).reshape([-1 if i == axis % z.ndim else 1 for i in
                                                                builtins.range(z.ndim)])
    cs = xp.cumsum(zs, axis=axis)
    support = (1 + k * zs) > cs
    kz = support.sum(axis=axis, keepdims=True)
    tau = (xp.take_along_axis(cs, kz - 1, axis=axis) - 1) / kz.astype(z.dtype)
    y = xp.maximum(z - tau, 0)
    on = y > 0

    def backward(g, n):
        s = (g * on).sum(axis=axis, keepdims=True) / on.sum(axis=axis, keepdims=True)
        return (on * (g - s),)
    return record(y, (x,), backward)


# ---- normalization and losses (keras.ops.nn) ----

def moments(x, axes, keepdims=False, synchronized=False):
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    mean_ = M.mean(x, axis=axes, keepdims=True)
    variance = M.mean(M.square(M.subtract(x, M.stop_gradient(mean_))), axis=axes, keepdims=True)
    variance = M.subtract(variance, M.square(M.subtract(mean_, M.stop_gradient(mean_))))
    if not keepdims:
        mean_, variance = M.squeeze(mean_, axis=tuple(axes)), M.squeeze(variance, axis=tuple(axes))
    return mean_, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    nd = len(M.shape(x))
    shape = [1] * nd
    shape[axis % nd] = -1

    def b(t):
        return t if t is None or np.ndim(data(t)) != 1 else M.reshape(t, tuple(shape))
    inv = M.divide(1.0, M.sqrt(M.add(b(variance), epsilon)))
    if scale is not None:
        inv = M.multiply(inv, b(scale))
    out = M.multiply(M.subtract(x, b(mean)), inv)
    return out if offset is None else M.add(out, b(offset))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = [axis] if isinstance(axis, int) else list(axis)
    mean_ = M.mean(x, axis=tuple(axes), keepdims=True)
    var_ = M.mean(M.square(M.subtract(x, mean_)), axis=tuple(axes), keepdims=True)
    out = M.divide(M.subtract(x, mean_), M.sqrt(M.add(var_, epsilon)))
    if gamma is not None:
        out = M.multiply(out, gamma)
    return out if beta is None else M.add(out, beta)


def rms_normalization(x, scale=1, axis=-1, epsilon=None):
    eps = config.epsilon() if epsilon is None else epsilon
    out = M.multiply(x, rsqrt(M.add(M.mean(M.square(x), axis=axis, keepdims=True), eps)))
    return M.multiply(out, scale)


def normalize(x, axis=-1, order=2, epsilon=None):
    eps = config.epsilon() if epsilon is None else epsilon
    if order != 2:
        return M.divide(x, M.maximum(norm(x, ord=order, axis=axis, keepdims=True), eps))
    return M.multiply(x, rsqrt(M.maximum(M.sum(M.square(x), axis=axis, keepdims=True), eps * eps)))


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise, as keras.ops.binary_crossentropy (no mean over the last axis)."""
    if from_logits:
        return M.add(M.subtract(N.relu(output), M.multiply(output, target)), M.log1p(M.exp(M.negative(M.abs(output)))))
    eps = config.epsilon()
    p = M.clip(output, eps, 1 - eps)
    return M.negative(M.add(M.multiply(target, M.log(p)), M.multiply(M.subtract(1.0, target), M.log(M.subtract(1.0, p)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    if from_logits:
        return M.negative(M.sum(M.multiply(target, N.log_softmax(output, axis=axis)), axis=axis))
    eps = config.epsilon()
    p = M.divide(output, M.sum(output, axis=axis, keepdims=True))
    return M.negative(M.sum(M.multiply(target, M.log(M.clip(p, eps, 1 - eps))), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    t = data(target).astype("int64")
    if t.ndim == np.ndim(data(output)):
        t = t.reshape(t.shape[:-1])
    return categorical_crossentropy(M.one_hot(t, np.shape(data(output))[axis], dtype=data(output).dtype), output,
                                    from_logits=from_logits, axis=axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    num_classes = kwargs.pop("num_tokens", num_classes)
    idx = data(inputs).astype("int64")
    if idx.ndim == 1:
        idx = idx[None]
        squeeze_ = True
    else:
        squeeze_ = False
    out = _xp().zeros(idx.shape[:-1] + (num_classes,), dtype=dtype or config.floatx())
    _xp().put_along_axis(out, idx, 1, axis=-1)
    return _const(out[0] if squeeze_ else out)


def psnr(x1, x2, max_val):
    mse = M.mean(M.square(M.subtract(x1, x2)))
    return M.subtract(M.multiply(20.0, M.divide(M.log(max_val), _m.log(10.0))),
                      M.multiply(10.0, M.divide(M.log(mse), _m.log(10.0))))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
                          attn_logits_soft_cap=None):
    """softmax(q k^T * scale + bias, masked) v over inputs of shape (batch, seq, heads, dim), as Keras.
    flash_attention=True is refused (no such kernel here); a soft cap applies tanh(logits/cap)*cap."""
    if flash_attention:
        raise ValueError("dot_product_attention(flash_attention=True) is not supported by gpunet")
    d = np.shape(data(query))[-1]
    scale = 1.0 / _m.sqrt(d) if scale is None else scale
    q = M.transpose(query, (0, 2, 1, 3))
    k = M.transpose(key, (0, 2, 3, 1))
    v = M.transpose(value, (0, 2, 1, 3))
    logits = M.multiply(M.matmul(q, k), scale)
    if attn_logits_soft_cap is not None:
        logits = M.multiply(N.tanh(M.divide(logits, attn_logits_soft_cap)), attn_logits_soft_cap)
    if bias is not None:
        logits = M.add(logits, bias)
    if is_causal:
        T, S = np.shape(data(logits))[-2:]
        mask = _const(_xp().tril(_xp().ones((T, S), dtype=bool))) if mask is None else M.logical_and(mask, _xp().tril(
            _xp().ones((T, S), dtype=bool)))
    if mask is not None:
        logits = M.where(mask, logits, _xp().finfo(data(logits).dtype).min / 2)
    return M.transpose(M.matmul(N.softmax(logits, axis=-1), v), (0, 2, 1, 3))


# ---- linear algebra (keras.ops.linalg names, also at the top level) ----

def inv(x):
    xp = _xp()
    y = xp.linalg.inv(data(x))
    return record(y, (x,), lambda g, n: (-xp.swapaxes(y, -1, -2) @ g @ xp.swapaxes(y, -1, -2),))


def det(x):
    xp = _xp()
    a = data(x)
    y = xp.linalg.det(a)
    return record(y, (x,), lambda g, n: ((g * y)[..., None, None] * xp.swapaxes(xp.linalg.inv(a), -1, -2),))


def slogdet(x):
    sign, logabs = _xp().linalg.slogdet(data(x))
    return _const(sign), logdet(x)


def logdet(x):
    xp = _xp()
    a = data(x)
    _, y = xp.linalg.slogdet(a)
    return record(y, (x,), lambda g, n: (g[..., None, None] * xp.swapaxes(xp.linalg.inv(a), -1, -2),))


def solve(a, b):
    xp = _xp()
    A, B = data(a), data(b)
    y = xp.linalg.solve(A, B)

    def backward(g, n):
        gb = xp.linalg.solve(xp.swapaxes(A, -1, -2), g)
        ga = -(gb @ xp.swapaxes(y, -1, -2)) if y.ndim == A.ndim else -xp.outer(gb, y)
        return (ga if n[0] else None, gb if n[1] else None)
    return record(y, (a, b), backward)


def _linalg_nograd(name, fn):
    def op(*args, **kwargs):
        res = fn(*[data(a) for a in args], **kwargs)
        return tuple(_const(r) for r in res) if isinstance(res, tuple) else _const(res)
    op.__name__ = op.__qualname__ = name
    return op


cholesky = _linalg_nograd("cholesky", lambda a, upper=False: (_xp().linalg.cholesky(a) if not upper else
                                                               _xp().swapaxes(_xp().linalg.cholesky(a), -1, -2)))
eig = _linalg_nograd("eig", lambda a: tuple(_xp().linalg.eig(a)))
eigh = _linalg_nograd("eigh", lambda a: tuple(_xp().linalg.eigh(a)))
qr = _linalg_nograd("qr", lambda a, mode="reduced": tuple(_xp().linalg.qr(a, mode=mode)))
svd = _linalg_nograd("svd", lambda a, full_matrices=True, compute_uv=True: (
    tuple(_xp().linalg.svd(a, full_matrices=full_matrices, compute_uv=True)) if compute_uv
    else _xp().linalg.svd(a, compute_uv=False)))
pinv = _linalg_nograd("pinv", lambda a, rtol=1e-6: _xp().linalg.pinv(a, rcond=rtol))
matrix_rank = _linalg_nograd("matrix_rank", lambda a, tol=None: _xp().linalg.matrix_rank(a, tol=tol))
lstsq = _linalg_nograd("lstsq", lambda a, b, rcond=None: _xp().linalg.lstsq(a, b, rcond=rcond)[0])


def solve_triangular(a, b, lower=False):
    return solve(tril(a) if lower else triu(a), b)


def cholesky_inverse(x, upper=False):
    L = data(x)
    xp = _xp()
    A = (xp.swapaxes(L, -1, -2) @ L) if upper else (L @ xp.swapaxes(L, -1, -2))
    return _const(xp.linalg.inv(A))


# ---- control flow and functions ----

def cond(pred, true_fn, false_fn):
    return true_fn() if bool(data(pred)) else false_fn()


def switch(index, branches, *operands):
    i = builtins.min(builtins.max(int(data(index)), 0), len(branches) - 1)
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    val = init_val
    for i in builtins.range(int(data(lower)), int(data(upper))):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    single = not isinstance(loop_vars, (list, tuple))
    vars_ = (loop_vars,) if single else tuple(loop_vars)
    i = 0
    while (maximum_iterations is None or i < maximum_iterations) and bool(data(cond(*vars_))):
        out = body(*vars_)
        vars_ = (out,) if single else tuple(out)
        i += 1
    return vars_[0] if single else vars_


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    n = length if xs is None else len(_leaves_first(xs))
    carry, ys = init, []
    order = builtins.range(n - 1, -1, -1) if reverse else builtins.range(n)
    for i in order:
        x = None if xs is None else _index_struct(xs, i)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (stack(ys) if ys and ys[0] is not None and not isinstance(ys[0], (list, tuple)) else ys)


def _leaves_first(s):
    return s[0] if isinstance(s, (list, tuple)) and not hasattr(s, "shape") else s


def _index_struct(s, i):
    if isinstance(s, (list, tuple)) and not hasattr(s, "shape"):
        return type(s)(_index_struct(v, i) for v in s)
    return M.getitem(s, i) if isinstance(s, Tensor) else _const(data(s)[i])


def map(f, xs):
    return stack([f(_index_struct(xs, i)) for i in builtins.range(len(_leaves_first(xs)))])


def vectorized_map(function, elements):
    return map(function, elements)


def associative_scan(f, elems, reverse=False, axis=0):
    n = np.shape(data(elems))[axis]
    idx = list(builtins.range(n))
    if reverse:
        idx.reverse()
    out, acc = [], None
    for i in idx:
        e = _take_index(elems, i, axis)
        acc = e if acc is None else f(acc, e)
        out.append(acc)
    if reverse:
        out.reverse()
    return stack(out, axis=axis)


def custom_gradient(f):
    """Decorator: f returns (result, grad_fn); grad_fn(upstream) gives one gradient per input."""
    def wrapped(*args):
        from .tape import stop_recording
        with stop_recording():
            y, grad_fn = f(*args)
        tensors = tuple(a for a in args if isinstance(a, Tensor))

        def backward(g, n):
            gs = grad_fn(Tensor(g))
            gs = gs if isinstance(gs, (list, tuple)) else (gs,)
            return tuple(None if gi is None else data(gi) for gi in gs)
        return record(data(y), tensors, backward)
    return wrapped


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    values = data
    ids = _xp().asarray(_unwrap(segment_ids)).astype("int64")
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    onehot = _const((ids[None, :] == _xp().arange(n)[:, None]).astype(_unwrap(values).dtype))
    flat = M.reshape(values, (np.shape(_unwrap(values))[0], -1))
    return M.reshape(M.matmul(onehot, flat), (n,) + tuple(np.shape(_unwrap(values))[1:]))


def _segment_reduce(name, red, fill):
    def op(data, segment_ids, num_segments=None, sorted=False):
        a = _unwrap(data)
        ids = _xp().asarray(_unwrap(segment_ids)).astype("int64")
        n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
        out = _xp().full((n,) + a.shape[1:], fill, dtype=a.dtype)
        red.at(out, ids, a)
        return _const(out)
    op.__name__ = op.__qualname__ = name
    return op


segment_max = _segment_reduce("segment_max", np.maximum, -np.inf)
segment_min = _segment_reduce("segment_min", np.minimum, np.inf)
segment_prod = _segment_reduce("segment_prod", np.multiply, 1)


# ---- dtype and conversion helpers ----

def is_tensor(x):
    return isinstance(x, Tensor) or hasattr(x, "__cuda_array_interface__") or isinstance(x, np.ndarray)


def convert_to_numpy(x):
    return np.asarray(backend.to_numpy(data(x)))


def ndim(x):
    return int(np.ndim(data(x)))


def dtype(x):
    return str(data(x).dtype)


def array(x, dtype=None):
    return _const(_xp().array(data(x), dtype=dtype))


def saturate_cast(x, dtype):
    a = data(x)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    return M.cast(M.clip(x, float(info.min), float(info.max)), dtype) if isinstance(x, Tensor) else \
        _const(_xp().clip(a, info.min, info.max).astype(dtype))


def vectorize(pyfunc, excluded=None, signature=None):
    """keras.ops.vectorize: pyfunc applied along the leading axis (a Python loop, then stacked)."""
    if excluded or signature:
        raise ValueError("vectorize(excluded=..., signature=...) is not supported by gpunet")

    def vectorized(*args):
        n = len(_leaves_first(args[0]))
        return stack([pyfunc(*[_index_struct(a, i) for a in args]) for i in builtins.range(n)])
    return vectorized


def view(x, dtype=None):
    return _const(data(x).view(dtype))


def vander(x, N=None, increasing=False):
    return _const(_xp().vander(data(x), N, increasing=increasing))


def corrcoef(x):
    return _const(_xp().corrcoef(data(x)))


def correlate(x1, x2, mode="valid"):
    return _const(_xp().correlate(data(x1), data(x2), mode=mode))


def cdist(x, y, p=2):
    d = M.subtract(M.expand_dims(x, -2), M.expand_dims(y, -3))
    if p == 2:
        return M.sqrt(M.sum(M.square(d), axis=-1))
    return M.power(M.sum(M.power(M.abs(d), p), axis=-1), 1.0 / p)


def polar(abs_, angle):
    a, t = data(abs_), data(angle)
    return _const(a * _xp().cos(t) + 1j * a * _xp().sin(t))


def hamming(x):
    return _const(_xp().hamming(int(data(x))).astype(config.floatx()))


def hanning(x):
    return _const(_xp().hanning(int(data(x))).astype(config.floatx()))


def bartlett(x):
    return _const(_xp().bartlett(int(data(x))).astype(config.floatx()))


def blackman(x):
    return _const(_xp().blackman(int(data(x))).astype(config.floatx()))


def kaiser(x, beta):
    return _const(_xp().kaiser(int(data(x)), beta).astype(config.floatx()))
