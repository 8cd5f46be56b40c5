"""Launchers of kernels/rnn.cu, the recurrent cells, on CuPy arrays or, in the emulated tier, on NumPy
arrays through HIP-CPU.

CudaCells has the contract of ops.rnn._NumpyCells: the sequence op does the GEMMs (cuBLAS through
cupy.matmul) and calls forward/backward of step t, which launch one cell kernel on that step's rows of
the op's time-major buffers. A missing mask or recurrent bias is passed as a flag and a 1-element
stand-in buffer (a kernel never takes a null pointer)."""
import numpy as np

from .. import backend
from .build import fn
from .launch import _grid, _i32


def _dummy(xp, dtype):
    return xp.zeros(1, dtype=dtype)


class CudaCells:
    def __init__(self):
        self.xp = backend.get_xp()

    def _mask(self, S, t):
        if S.M is None:
            return _dummy(self.xp, np.uint8), _i32(0)
        return S.M[t].view(np.uint8), _i32(1)

    def forward(self, S, t):
        B, H = S.B, S.H
        m, has = self._mask(S, t)
        grid, act, ract = _grid(B * H, 256), _i32(S.act), _i32(S.ract)
        if S.kind == "lstm":
            fn("rnn.cu", "lstm_cell_forward")(grid, (256,), (S.pre[t], S.rec, S.cs[t], S.hs[t], S.hs[t + 1], S.cs[t + 1],
                                                              S.acs[t], m, has, _i32(B), _i32(H), act, ract))
        elif S.kind == "gru":
            brec = S.b_rec if S.b_rec is not None else _dummy(self.xp, np.float32)
            fn("rnn.cu", "gru_cell_forward")(grid, (256,), (S.pre[t], S.rec, brec, _i32(S.b_rec is not None), S.hs[t],
                                                             S.hs[t + 1], S.rhs[t], m, has, _i32(B), _i32(H), act, ract))
        else:
            fn("rnn.cu", "simple_cell_forward")(grid, (256,), (S.pre[t], S.rec, S.hs[t], S.hs[t + 1], m, has,
                                                                _i32(B), _i32(H), act))

    def backward(self, S, t):
        B, H = S.B, S.H
        m, has = self._mask(S, t)
        grid, act, ract = _grid(B * H, 256), _i32(S.act), _i32(S.ract)
        if S.kind == "lstm":
            fn("rnn.cu", "lstm_cell_backward")(grid, (256,), (S.pre[t], S.acs[t], S.cs[t], S.dY[t], S.dhn, S.dc,
                                                               S.dpre[t], S.carry, m, has, _i32(B), _i32(H), act, ract))
        elif S.kind == "gru":
            fn("rnn.cu", "gru_cell_backward")(grid, (256,), (S.pre[t], S.rhs[t], S.hs[t], S.dY[t], S.dhn, S.dpre[t],
                                                              S.drec[t], S.carry, m, has, _i32(B), _i32(H), act, ract))
        else:
            fn("rnn.cu", "simple_cell_backward")(grid, (256,), (S.pre[t], S.dY[t], S.dhn, S.dpre[t], S.carry, m, has,
                                                                 _i32(B), _i32(H), act))
