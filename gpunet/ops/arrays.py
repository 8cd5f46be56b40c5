"""Shapes, indexing and creation in keras.ops: stack/split/tile/flip/pad/slice/scatter..., whose
gradients move elements back (gather, then scatter-add), and constructors, sorting and counting
ops (no gradient)."""
import builtins

import numpy as np

from .. import backend, config
from . import math as M
from .core import Tensor, const as _const, data, record

__all__ = [
    "stack", "unstack", "split", "array_split", "hsplit", "vsplit", "dsplit", "hstack", "vstack", "dstack",
    "append", "ravel", "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90", "moveaxis", "swapaxes",
    "diagonal", "trace", "take_along_axis", "diag", "diagflat", "tril", "triu", "pad", "slice",
    "slice_update", "scatter", "scatter_update", "select", "meshgrid", "arange", "linspace", "logspace",
    "geomspace", "eye", "tri", "full", "full_like", "empty", "empty_like", "argsort", "argpartition", "sort",
    "top_k", "in_top_k", "searchsorted", "digitize", "bincount", "nonzero", "unique", "unravel_index",
    "histogram", "diff", "trapezoid", "is_tensor", "convert_to_numpy", "ndim", "dtype", "array",
    "saturate_cast", "view", "vander", "polar", "hamming", "hanning", "bartlett", "blackman", "kaiser",
]


def _xp():
    return backend.get_xp()


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
    lead = (builtins.slice(None),) * (axis % nd)
    return [M.getitem(x, lead + (builtins.slice(lo, hi),)) for lo, hi in zip(bounds[:-1], bounds[1:])]


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
    out = _xp().linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype or config.floatx(),
                         axis=axis)
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
        rows = [_xp().bincount(r, None if w is None else w[i], minlength=n) for i, r in enumerate(a)]
        return _const(_xp().stack(rows))
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

def view(x, dtype=None):
    return _const(data(x).view(dtype))

def vander(x, N=None, increasing=False):
    return _const(_xp().vander(data(x), N, increasing=increasing))

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
