"""Elementwise arithmetic, reductions and shape ops; each forward beside its backward."""
import numpy as np

from .. import backend
from ..common import threads
from .core import Tensor, data, expand_reduced, norm_axes, record, unbroadcast


def _xp():
    return backend.get_xp()


# ---- binary arithmetic (gradients reduce over broadcast axes) ----

def add(x1, x2):
    a, b = data(x1), data(x2)
    return record(a + b, (x1, x2), lambda g, n: (
        unbroadcast(g, a) if n[0] else None, unbroadcast(g, b) if n[1] else None))


def subtract(x1, x2):
    a, b = data(x1), data(x2)
    return record(a - b, (x1, x2), lambda g, n: (
        unbroadcast(g, a) if n[0] else None, unbroadcast(-g, b) if n[1] else None))


def multiply(x1, x2):
    a, b = data(x1), data(x2)
    return record(a * b, (x1, x2), lambda g, n: (
        unbroadcast(g * b, a) if n[0] else None, unbroadcast(g * a, b) if n[1] else None))


def divide(x1, x2):
    a, b = data(x1), data(x2)
    return record(a / b, (x1, x2), lambda g, n: (
        unbroadcast(g / b, a) if n[0] else None,
        unbroadcast(-g * a / (b * b), b) if n[1] else None))


true_divide = divide


def power(x1, x2):
    a, b = data(x1), data(x2)
    y = a ** b

    def backward(g, n):
        ga = unbroadcast(g * b * a ** (b - 1), a) if n[0] else None
        gb = unbroadcast(g * y * _xp().log(a), b) if n[1] else None
        return ga, gb
    return record(y, (x1, x2), backward)


def maximum(x1, x2):
    a, b = data(x1), data(x2)
    pick_a = a >= b
    return record(_xp().maximum(a, b), (x1, x2), lambda g, n: (
        unbroadcast(g * pick_a, a) if n[0] else None,
        unbroadcast(g * ~pick_a, b) if n[1] else None))


def minimum(x1, x2):
    a, b = data(x1), data(x2)
    pick_a = a <= b
    return record(_xp().minimum(a, b), (x1, x2), lambda g, n: (
        unbroadcast(g * pick_a, a) if n[0] else None,
        unbroadcast(g * ~pick_a, b) if n[1] else None))


def where(condition, x1, x2):
    c, a, b = data(condition), data(x1), data(x2)
    c = c.astype(bool) if hasattr(c, "astype") else bool(c)
    return record(_xp().where(c, a, b), (condition, x1, x2), lambda g, n: (
        None,
        unbroadcast(g * c, a) if n[1] else None,
        unbroadcast(g * ~c, b) if n[2] else None))


# ---- unary ----

def negative(x):
    return record(-data(x), (x,), lambda g, n: (-g,))


def exp(x):
    y = _xp().exp(data(x))
    return record(y, (x,), lambda g, n: (g * y,))


def log(x):
    a = data(x)
    return record(_xp().log(a), (x,), lambda g, n: (g / a,))


def log1p(x):
    a = data(x)
    return record(_xp().log1p(a), (x,), lambda g, n: (g / (1 + a),))


def sqrt(x):
    y = _xp().sqrt(data(x))
    return record(y, (x,), lambda g, n: (g * 0.5 / y,))


def square(x):
    a = data(x)
    return record(a * a, (x,), lambda g, n: (g * 2 * a,))


def abs(x):
    a = data(x)
    return record(_xp().abs(a), (x,), lambda g, n: (g * _xp().sign(a),))


absolute = abs


def sign(x):
    return Tensor(_xp().sign(data(x)))


def clip(x, x_min, x_max):
    a = data(x)
    inside = (a >= x_min) & (a <= x_max)
    return record(_xp().clip(a, x_min, x_max), (x,), lambda g, n: (g * inside,))


def cast(x, dtype):
    a = data(x)
    src = a.dtype
    return record(a.astype(dtype), (x,), lambda g, n: (g.astype(src),))


def stop_gradient(variable):
    x = variable
    return Tensor(data(x))


# ---- reductions ----

def sum(x, axis=None, keepdims=False):
    a = data(x)
    return record(a.sum(axis=axis, keepdims=keepdims), (x,), lambda g, n: (
        _xp().broadcast_to(expand_reduced(g, a.shape, axis, keepdims), a.shape),))


def mean(x, axis=None, keepdims=False):
    a = data(x)
    count = int(np.prod([a.shape[i] for i in norm_axes(axis, a.ndim)]))
    return record(a.mean(axis=axis, keepdims=keepdims), (x,), lambda g, n: (
        _xp().broadcast_to(expand_reduced(g, a.shape, axis, keepdims) / count, a.shape),))


def _extreme(x, axis, keepdims, fn):
    a = data(x)
    y_keep = fn(a, axis=axis, keepdims=True)
    y = y_keep if keepdims else _xp().squeeze(y_keep, axis=norm_axes(axis, a.ndim))

    def backward(g, n):
        hit = a == y_keep  # ties share the gradient equally
        g = expand_reduced(g, a.shape, axis, keepdims)
        # the count in g's dtype: an integer count would promote a float32 gradient to float64
        return (g * hit / hit.sum(axis=axis, keepdims=True, dtype=g.dtype),)
    return record(y, (x,), backward)


def max(x, axis=None, keepdims=False, initial=None):
    out = _extreme(x, axis, keepdims, _xp().max)
    return out if initial is None else maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None):
    out = _extreme(x, axis, keepdims, _xp().min)
    return out if initial is None else minimum(out, initial)


def argmax(x, axis=-1, keepdims=False):
    return Tensor(_xp().argmax(data(x), axis=axis, keepdims=keepdims))


def argmin(x, axis=-1, keepdims=False):
    return Tensor(_xp().argmin(data(x), axis=axis, keepdims=keepdims))


# ---- linear algebra ----

def _gemm_threads(a, b):
    """BLAS's thread count for one (m, k) x (k, n) product of a (stacked) matmul on NumPy (common/threads.py)."""
    if a.ndim and b.ndim:
        threads.gemm(a.shape[-2] if a.ndim > 1 else 1, a.shape[-1], b.shape[-1] if b.ndim > 1 else 1)


def matmul(x1, x2):
    a, b = data(x1), data(x2)
    xp = _xp()
    cpu = xp is np

    def backward(g, n):
        if cpu:  # both gradient products have the forward's m * k * n multiply-adds
            _gemm_threads(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if n[0]:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2).reshape(a.shape)
        if n[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2).reshape(b.shape)
        return ga, gb
    if cpu:
        _gemm_threads(a, b)
    return record(xp.matmul(a, b), (x1, x2), backward)


dot = matmul


# ---- shapes ----

def reshape(x, newshape):
    a = data(x)
    return record(a.reshape(newshape), (x,), lambda g, n: (g.reshape(a.shape),))


def transpose(x, axes=None):
    a = data(x)
    inv = None if axes is None else tuple(np.argsort(axes))
    return record(_xp().transpose(a, axes), (x,), lambda g, n: (_xp().transpose(g, inv),))


def expand_dims(x, axis):
    a = data(x)
    return record(_xp().expand_dims(a, axis), (x,), lambda g, n: (g.reshape(a.shape),))


def squeeze(x, axis=None):
    a = data(x)
    return record(_xp().squeeze(a, axis), (x,), lambda g, n: (g.reshape(a.shape),))


def broadcast_to(x, shape):
    a = data(x)
    return record(_xp().broadcast_to(a, shape), (x,), lambda g, n: (unbroadcast(g, a),))


def concatenate(xs, axis=-1):
    arrays = [data(x) for x in xs]
    xp = _xp()
    ends = np.cumsum([a.shape[axis] for a in arrays])

    def backward(g, n):
        parts = xp.split(g, ends[:-1].tolist(), axis=axis)
        return tuple(p if need else None for p, need in zip(parts, n))
    return record(xp.concatenate(arrays, axis=axis), tuple(xs), backward)


def take(x, indices, axis=None):
    a, idx = data(x), data(indices)
    xp = _xp()

    def backward(g, n):
        out = xp.zeros(a.size if axis is None else a.shape, dtype=g.dtype)
        if axis is None:
            xp.add.at(out, idx, g)
            return (out.reshape(a.shape),)
        moved = xp.moveaxis(out, axis, 0)
        xp.add.at(moved, idx, xp.moveaxis(g, axis, 0) if g.ndim == a.ndim else g)
        return (out,)
    return record(xp.take(a, idx, axis=axis), (x, indices), backward)


def getitem(x, key):
    a = data(x)
    key = key.data if isinstance(key, Tensor) else key
    if isinstance(key, list) and any(k is None or k is Ellipsis or isinstance(k, slice) for k in key):
        key = tuple(key)  # a key read back from a saved config (JSON has no tuples): never a fancy index
    xp = _xp()

    basic = _basic_key(key)

    def backward(g, n):
        out = xp.zeros(a.shape, dtype=g.dtype)
        if basic:  # slices and integers select each element once: a plain write (add.at is for repeats)
            out[key] = g
        else:
            xp.add.at(out, key, g)
        return (out,)
    return record(a[key], (x,), backward)


def _basic_key(key):
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool)
               for k in items)


# ---- non-differentiable helpers with keras.ops names ----

def one_hot(x, num_classes, axis=-1, dtype="float32", sparse=False):
    if sparse:
        raise ValueError("one_hot(sparse=True) is not supported by gpunet")
    idx = data(x).astype("int64")
    xp = _xp()
    out = (idx[..., None] == xp.arange(num_classes)).astype(dtype)
    return Tensor(out if axis == -1 else xp.moveaxis(out, -1, axis))


def equal(x1, x2):
    return Tensor(data(x1) == data(x2))


def not_equal(x1, x2):
    return Tensor(data(x1) != data(x2))


def greater(x1, x2):
    return Tensor(data(x1) > data(x2))


def greater_equal(x1, x2):
    return Tensor(data(x1) >= data(x2))


def less(x1, x2):
    return Tensor(data(x1) < data(x2))


def less_equal(x1, x2):
    return Tensor(data(x1) <= data(x2))


def zeros(shape, dtype="float32"):
    return Tensor(_xp().zeros(shape, dtype=dtype))


def ones(shape, dtype="float32"):
    return Tensor(_xp().ones(shape, dtype=dtype))


def zeros_like(x, dtype=None):
    return Tensor(_xp().zeros_like(data(x), dtype=dtype))


def ones_like(x, dtype=None):
    return Tensor(_xp().ones_like(data(x), dtype=dtype))


def shape(x):
    return tuple(np.shape(data(x)))


def size(x):
    return int(np.prod(shape(x)))
