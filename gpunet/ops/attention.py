"""Attention's masked softmax as one op: Keras's `softmax(x + (1 - mask) * -1e9) * mask` over the last axis
(a fully masked row comes out all zeros), with its backward `y * (g - sum(g * y))`. On the kernel backend it runs kernels/attention.cu (one pass
per row, the mask read in place, shared by the heads); this NumPy code is the kernel's reference."""
import numpy as np

from .. import backend
from .core import data
from .tape import record

LARGE_NEGATIVE = -1e9  # Keras's _large_negative_number for float32 and float64


def _softmax_rows(xp, z):
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax(x, mask=None):
    """Softmax over the last axis of x; where the boolean `mask` (broadcastable to x) is False, -1e9 is
    added to the score first and the output is zeroed after, as Keras's Softmax layer does."""
    xp = backend.get_xp()
    z = data(x)
    m = None if mask is None else data(mask)
    if m is not None and m.dtype != bool:
        m = m.astype(bool)
    if backend.uses_kernels() and z.dtype == np.float32 and z.size and z.shape[-1]:
        y = _kernel_forward(xp, z, m)
    else:
        s = z if m is None else z + xp.where(m, 0.0, LARGE_NEGATIVE).astype(z.dtype)
        y = _softmax_rows(xp, s)
        if m is not None:
            y = y * m  # the gradient below stays exact: a masked entry's probability is 0 (or its row's is)

    def backward(g, n):
        if backend.uses_kernels() and y.dtype == np.float32 and y.size and y.shape[-1]:
            from ..kernels import attention
            return (attention.masked_softmax_backward(y, g),)
        return (y * (g - (g * y).sum(axis=-1, keepdims=True)),)
    return record(y, (x,), backward)


def _kernel_forward(xp, z, m):
    """The kernel takes the mask as stored when it is the scores' shape, or (B, Tq, Tk) against (B, heads,
    Tq, Tk) scores (MultiHeadAttention's); any other broadcast is materialised first."""
    from ..kernels import attention
    z = xp.ascontiguousarray(z)
    if m is None:
        return attention.masked_softmax_forward(z, None, 0, 1)
    if z.ndim == 4 and m.ndim == 4 and m.shape[1] == 1 and m.shape[0] == z.shape[0] and m.shape[2:] == z.shape[2:]:
        return attention.masked_softmax_forward(z, xp.ascontiguousarray(m).view(np.uint8), z.shape[1], z.shape[2])
    full = xp.ascontiguousarray(xp.broadcast_to(m, z.shape)).view(np.uint8)
    return attention.masked_softmax_forward(z, full, 1, z.shape[-2] if z.ndim > 1 else 1)
