"""Elementwise keras.ops (trigonometric, exponential and logarithmic functions, rounding, tests,
logic and bitwise ops): a closed-form derivative beside each differentiable one; integer and
boolean results have none, as in Keras."""
import math as _m

import numpy as np

from .. import backend, config
from . import math as M, nn as N
from .core import Tensor, as_float as _f, const as _const, data, record, unbroadcast

__all__ = [
    "erfinv", "sinc", "round", "conj", "real", "imag", "angle", "copy", "identity", "nan_to_num",
    "divide_no_nan", "isclose", "allclose", "isin", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh",
    "cosh", "arcsinh", "arccosh", "arctanh", "expm1", "exp2", "log2", "log10", "cbrt", "reciprocal", "rsqrt",
    "erf", "erfc", "fabs", "deg2rad", "rad2deg", "log_sigmoid", "tanh_shrink", "i0", "conjugate", "arctan2",
    "hypot", "logaddexp", "logaddexp2", "mod", "fmod", "fmax", "fmin", "floor_divide", "heaviside",
    "nextafter", "ldexp", "gcd", "lcm", "logical_and", "logical_or", "logical_xor", "bitwise_and",
    "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift",
    "ceil", "floor", "trunc", "isfinite", "isinf", "isnan", "isneginf", "isposinf", "isreal", "signbit",
    "logical_not", "bitwise_invert", "bitwise_not",
]


def _xp():
    return backend.get_xp()


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
