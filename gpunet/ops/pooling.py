"""Max and average pooling as differentiable ops, with `keras.ops` signatures; the NumPy references of
kernels/pool.cu. Windows use the convolution's geometry (convolution.py). Each pass loops over the
window's taps, one strided view of the padded input per tap, never over output positions."""
import numpy as np

from .. import backend
from .convolution import (_c_kernels, _check_rank, _from_last, _padded, _padding_of, _to_last, _tuple,
                          c_by_samples, c_geometry, conv_geometry, data_format_of)
from .core import Tensor, data, record
from .tape import recording

__all__ = ["max_pool", "average_pool"]


def _xp():
    return backend.get_xp()


def pool_counts(in_sizes, pool, strides, lo, outs):
    """How many real (unpadded) inputs each window covers: an array of shape outs (the divisor of a
    'same' average pool, which Keras takes over the real inputs only)."""
    xp = _xp()
    c = None
    for ax, (n, p, s, l, o) in enumerate(zip(in_sizes, pool, strides, lo, outs)):
        start = np.arange(o) * s - l
        cnt = np.minimum(start + p, n) - np.maximum(start, 0)
        shape = [1] * len(outs)
        shape[ax] = o
        cnt = cnt.reshape(shape)
        c = cnt if c is None else c * cnt
    return xp.asarray(c, dtype=np.float64)


def _pool_args(inputs, pool_size, strides, padding, data_format, name):
    fmt = data_format_of(data_format)
    padding = _padding_of(padding)
    a = data(inputs)
    nd = _check_rank(a, name)
    pool = _tuple(pool_size, nd, "pool_size")
    strides = pool if strides is None else _tuple(strides, nd, "strides")
    x = _xp().ascontiguousarray(_to_last(a, fmt))
    outs, lo = conv_geometry(x.shape[1:-1], pool, strides, (1,) * nd, padding)
    if any(o <= 0 for o in outs) and x.size:
        raise ValueError("%s: the output would be empty: input spatial shape %s is smaller than pool_size %s"
                         % (name, tuple(x.shape[1:-1]), pool))
    return fmt, nd, pool, strides, x, outs, lo


def _taps(xpad, pool, strides, outs):
    """(tap index, the strided view of xpad that tap reads for every output), in window order."""
    for tap in np.ndindex(*pool):
        sl = tuple(slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, outs, strides))
        yield (slice(None),) + sl, xpad[(slice(None),) + sl]


def _pool_padded(x, pool, strides, lo, outs, fill):
    need = [(o - 1) * s + p for o, p, s in zip(outs, pool, strides)]
    return _padded(x, lo, need, fill)


def _unpad(dxp, lo, x_shape):
    return dxp[(slice(None),) + tuple(slice(l, l + n) for l, n in zip(lo, x_shape[1:-1]))]


def max_pool_forward(x, pool, strides, lo, outs):
    """The reference of pool.cu's max_pool_forward: (y, arg), arg = the window tap (in window order) of
    each output's first maximum. A loop over taps, each an elementwise op on one strided view."""
    xp = _xp()
    taps = int(np.prod(pool))
    lib = _c_kernels(x) if len(pool) <= 2 and taps < 2**7 else None
    if lib is not None:  # one pass over the input instead of four array passes per tap
        y = np.empty((x.shape[0],) + tuple(outs) + (x.shape[-1],), np.float32)
        arg = np.empty(y.shape, np.int8)
        c_by_samples(lib.max_pool_forward, [x, y, arg], c_geometry(x.shape, outs, pool, strides, lo))
        return y, arg
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xpad = _pool_padded(x, pool, strides, lo, outs, fill)
    it = np.int8 if taps < 2**7 else np.int16 if taps < 2**15 else np.int32
    y = arg = tmp = None
    for t, (_, v) in enumerate(_taps(xpad, pool, strides, outs)):
        if y is None:
            y, arg, tmp = v.copy(), xp.zeros(v.shape, dtype=it), xp.empty(v.shape, dtype=it)
            continue
        # arg += (t - arg)·[v > y]: strictly greater, so the first maximum keeps the gradient. Arithmetic,
        # not copyto(where=): a data-dependent branch per element costs 30× more on random data.
        xp.subtract(it(t), arg, out=tmp)
        xp.multiply(tmp, xp.greater(v, y), out=tmp)
        arg += tmp
        xp.maximum(y, v, out=y)
    return y, arg


def max_pool_values(x, pool, strides, lo, outs):
    """max_pool_forward's y without its argmax (inference)."""
    xp = _xp()
    lib = _c_kernels(x) if len(pool) <= 2 else None
    if lib is not None:  # one pass over the input instead of one strided pass per tap
        y = np.empty((x.shape[0],) + tuple(outs) + (x.shape[-1],), np.float32)
        c_by_samples(lib.max_pool_values, [x, y], c_geometry(x.shape, outs, pool, strides, lo))
        return y
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    y = None
    for _, v in _taps(_pool_padded(x, pool, strides, lo, outs, fill), pool, strides, outs):
        y = v.copy() if y is None else xp.maximum(y, v, out=y)
    return y


def _tiles_exactly(pool, strides):
    return all(p == s for p, s in zip(pool, strides))


def max_pool_backward(g, arg, x_shape, pool, strides, lo, outs):
    """Each window's gradient goes to its first maximum in window order (TensorFlow's and JAX's choice),
    so tied inputs (zeros after a relu) never share or double-count it."""
    xp = _xp()
    g = xp.ascontiguousarray(g)
    lib = _c_kernels(g) if len(pool) <= 2 and arg.dtype == np.int8 else None
    if lib is not None:  # scatters each gradient once instead of a masked pass per tap
        dx = np.empty(x_shape, np.float32)
        c_by_samples(lib.max_pool_backward, [g, arg, dx], c_geometry(x_shape, outs, pool, strides, lo))
        return dx
    need = [(o - 1) * s + p for o, p, s in zip(outs, pool, strides)]
    shape = (x_shape[0],) + tuple(max(nd, l + n) for nd, l, n in zip(need, lo, x_shape[1:-1])) + (x_shape[-1],)
    dxp = xp.zeros(shape, dtype=g.dtype)
    exact = _tiles_exactly(pool, strides)
    for t, (sl, view) in enumerate(_taps(dxp, pool, strides, outs)):
        if exact:  # windows do not overlap: each input receives from one tap, written straight in place
            xp.multiply(g, arg == t, out=view)
        else:
            view += g * (arg == t)
    return _unpad(dxp, lo, x_shape)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """keras.ops.max_pool; the gradient goes to the first maximum of each window."""
    fmt, nd, pool, strides, x, outs, lo = _pool_args(inputs, pool_size, strides, padding, data_format, "max_pool")
    if backend.uses_kernels() and x.dtype == np.float32:
        from ..kernels import pool as pool_kernels  # `pool` is the window size here
        if pool_kernels.pool_supported(nd, x.shape, (x.shape[0],) + outs + (x.shape[-1],)):
            return pool_kernels.max_pool_op(inputs, x, pool, strides, lo, outs, fmt, record)
    if not recording():  # inference: the maxima alone, no argmax for a backward pass
        return Tensor(_from_last(max_pool_values(x, pool, strides, lo, outs), fmt))
    y, arg = max_pool_forward(x, pool, strides, lo, outs)

    def backward(g, n):
        g = _to_last(g, fmt)
        return (_from_last(max_pool_backward(g, arg, x.shape, pool, strides, lo, outs), fmt),)
    return record(_from_last(y, fmt), (inputs,), backward)


def avg_pool_forward(x, pool, strides, lo, outs):
    """The reference of pool.cu's avg_pool_forward: (y, 1/count), count = real inputs per window."""
    xpad = _pool_padded(x, pool, strides, lo, outs, 0)
    y = None
    for _, v in _taps(xpad, pool, strides, outs):
        y = v.astype(x.dtype, copy=True) if y is None else _xp().add(y, v, out=y)
    inv = (1.0 / pool_counts(x.shape[1:-1], pool, strides, lo, outs)).astype(x.dtype)[None, ..., None]
    y *= inv
    return y, inv


def avg_pool_backward(g, inv, x_shape, pool, strides, lo, outs):
    xp = _xp()
    need = [(o - 1) * s + p for o, p, s in zip(outs, pool, strides)]
    shape = (x_shape[0],) + tuple(max(nd, l + n) for nd, l, n in zip(need, lo, x_shape[1:-1])) + (x_shape[-1],)
    dxp = xp.zeros(shape, dtype=g.dtype)
    gi = g * inv
    for sl, _ in _taps(dxp, pool, strides, outs):
        dxp[sl] += gi
    return _unpad(dxp, lo, x_shape)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """keras.ops.average_pool; with padding='same' each window averages its real inputs only."""
    fmt, nd, pool, strides, x, outs, lo = _pool_args(inputs, pool_size, strides, padding, data_format,
                                                     "average_pool")
    if backend.uses_kernels() and x.dtype == np.float32:
        from ..kernels import pool as pool_kernels  # `pool` is the window size here
        if pool_kernels.pool_supported(nd, x.shape, (x.shape[0],) + outs + (x.shape[-1],)):
            return pool_kernels.avg_pool_op(inputs, x, pool, strides, lo, outs, fmt, record)
    from .core import as_float
    x = as_float(x)
    y, inv = avg_pool_forward(x, pool, strides, lo, outs)

    def backward(g, n):
        return (_from_last(avg_pool_backward(_to_last(g, fmt), inv, x.shape, pool, strides, lo, outs), fmt),)
    return record(_from_last(y, fmt), (inputs,), backward)
