"""Helpers shared by every op: unwrapping inputs and reducing gradients over broadcast axes."""
import numpy as np

from .. import backend
from .tape import Tensor, record  # noqa: F401  (re-exported for the op modules)


def data(x):
    """The backend array (or Python scalar) behind x."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (int, float, bool)):
        return x
    return backend.get_xp().asarray(x)


def as_float(a):
    """Integer and boolean inputs of a floating-point function become floatx (Keras does the same)."""
    a = backend.get_xp().asarray(a)
    if a.dtype.kind in "fc":
        return a
    from .. import config
    return a.astype(config.floatx())


def const(value):
    """A result with no gradient (an integer, a boolean, an order, a constructor's output)."""
    return Tensor(value if hasattr(value, "dtype") else backend.get_xp().asarray(value))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, Tensor) and dtype is None:
        return x
    xp = backend.get_xp()
    d = x.data if isinstance(x, Tensor) else x
    if dtype is None and not hasattr(d, "dtype"):
        arr = np.asarray(d)
        if arr.dtype == np.float64:
            from .. import config
            dtype = config.floatx()  # Python floats become floatx, as in Keras
        elif arr.dtype == np.int64 and (arr.size == 0 or -2**31 <= arr.min() and arr.max() < 2**31):
            dtype = "int32"  # and Python ints int32
        return Tensor(xp.asarray(arr, dtype=dtype))
    return Tensor(xp.asarray(d, dtype=dtype))


def unbroadcast(g, like):
    """Sums g down to the shape of `like` (the input that was broadcast)."""
    shape = np.shape(like)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def expand_reduced(g, shape, axis, keepdims):
    """Re-inserts reduced axes into g so it broadcasts against the input of a reduction."""
    if keepdims:
        return g
    axes = norm_axes(axis, len(shape))
    for a in axes:
        g = backend.get_xp().expand_dims(g, a)
    return g
