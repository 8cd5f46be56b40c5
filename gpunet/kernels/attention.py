"""Launchers of kernels/attention.cu: the masked softmax over attention scores, forward and backward.
Reference: ops/attention.py's array path (Keras's masked softmax)."""
import numpy as np

from .. import backend
from .build import fn
from .launch import _i32
from .rnn import _dummy


def masked_softmax_forward(x, mask, heads, Tq):
    """softmax(x + (1 - mask)·(-1e9)) over the last axis of contiguous float32 scores; mask: a uint8 array of
    (rows / (heads·Tq))·Tq rows, or None."""
    xp = backend.get_xp()
    L = x.shape[-1]
    R = x.size // L
    y = xp.empty_like(x)
    if R == 0 or L == 0:  # no rows: no launch (CuPy would run a zero grid as one block over empty buffers)
        return y
    if mask is None:
        mask, heads = _dummy(xp, np.uint8), 0
    fn("attention.cu", "masked_softmax_forward")((R,), (128,), (x, mask, y, _i32(L), _i32(heads), _i32(Tq)))
    return y


def masked_softmax_backward(y, dy):
    xp = backend.get_xp()
    L = y.shape[-1]
    dx = xp.empty_like(y)
    if y.size == 0:
        return dx
    fn("attention.cu", "masked_softmax_backward")((y.size // L,), (128,), (y, xp.ascontiguousarray(dy), dx, _i32(L)))
    return dx
