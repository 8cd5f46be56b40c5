"""Recurrent layers' sequence ops: LSTM, GRU and SimpleRNN over a whole sequence as one tape op.

Keras's numerics (its `backend.rnn` loop over its cells), computed the way the hardware likes it:
- the input projection of every timestep is one GEMM, (T*B, D) x (D, G*H), bias added once;
- the recurrence is one (B, H) x (H, G*H) GEMM per step, then one fused pass over the gates
  (activations, state update, mask) — `kernels/cpu_rnn.c` on the CPU, `kernels/rnn.cu` on CuPy, and
  the NumPy functions below (`*_cell_forward/backward`), which are the reference both are tested against;
- backward through time mirrors it: one GEMM per step for the state gradient, then the weight
  gradients as three GEMMs over all steps at once.
Buffers are time-major (T, B, ...), so each step reads and writes contiguous rows.

Masks follow Keras: at a masked step (mask False) a sample's states and output keep their previous
values. With go_backwards the sequence is read from its end and the outputs come in that order.
The op's result packs the outputs and the final carry: (B, T, H) outputs, then for LSTM one more
"timestep" holding the final cell state c (layers slice it off)."""
import numpy as np

from .. import backend
from ..common import threads
from .core import data
from .tape import record

#: activations the fused cells compute (their derivative is a function of their output)
ACTIVATIONS = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


# ---- the NumPy reference cells (kernels/cpu_rnn.c and kernels/rnn.cu compute exactly this) ----

def act_forward(xp, z, code):
    if code == 1:
        return xp.tanh(z)
    if code == 2:
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z < -88 in float32: the sigmoid is 0
            return 1.0 / (1.0 + xp.exp(-z))
    if code == 3:
        return xp.maximum(z, 0)
    if code == 4:
        return xp.clip(z / 6.0 + 0.5, 0.0, 1.0)
    return z


def act_grad(xp, y, code):
    """d act / dz written with the activation's output y."""
    if code == 1:
        return 1.0 - y * y
    if code == 2:
        return y * (1.0 - y)
    if code == 3:
        return (y > 0).astype(y.dtype)
    if code == 4:
        return ((y > 0) & (y < 1)).astype(y.dtype) / 6.0
    return xp.ones_like(y)


def _keep(xp, m, new, old):
    """Keras's masked step: where m is False the previous value stays."""
    return new if m is None else xp.where(m, new, old)


def lstm_cell_forward(xp, gates, rec, c_prev, h_prev, m, act, ract):
    """One LSTM step. gates (B, 4H): x@W + b on entry, the activated i, f, g, o on return; rec = h_prev@U.
    Returns (h, c, tanh-of-c: act(c_new), kept for backward)."""
    H = c_prev.shape[1]
    z = gates + rec
    i, f = act_forward(xp, z[:, :H], ract), act_forward(xp, z[:, H:2 * H], ract)
    g, o = act_forward(xp, z[:, 2 * H:3 * H], act), act_forward(xp, z[:, 3 * H:], ract)
    c_new = f * c_prev + i * g
    ac = act_forward(xp, c_new, act)
    h_new = o * ac
    gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:] = i, f, g, o
    return _keep(xp, m, h_new, h_prev), _keep(xp, m, c_new, c_prev), ac


def lstm_cell_backward(xp, gates, ac, c_prev, dh, dc, m, act, ract):
    """Given dL/dh and dL/dc after the step: (dz (B, 4H), dc before the step, the part of dh before the
    step that skips the GEMM: the carry over a masked step)."""
    H = c_prev.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    if m is not None:
        mf = m.astype(dh.dtype)
        dh_new, dc_new_in = dh * mf, dc * mf
        carry_h, carry_c = dh - dh_new, dc - dc_new_in
    else:
        dh_new, dc_new_in, carry_h, carry_c = dh, dc, None, None
    dc_new = dc_new_in + dh_new * o * act_grad(xp, ac, act)
    dz = xp.concatenate([dc_new * g * act_grad(xp, i, ract), dc_new * c_prev * act_grad(xp, f, ract),
                         dc_new * i * act_grad(xp, g, act), dh_new * ac * act_grad(xp, o, ract)], axis=1)
    dc_prev = dc_new * f
    if carry_c is not None:
        dc_prev = dc_prev + carry_c
    return dz, dc_prev, carry_h


def gru_cell_forward(xp, xw, rec, h_prev, m, act, ract):
    """One GRU step (reset_after=True). xw (B, 3H): x@W + input bias on entry, (z, r, hh) on return;
    rec = h_prev@U + recurrent bias. Returns (h, the recurrent part of the candidate, rec[:, 2H:])."""
    H = h_prev.shape[1]
    z = act_forward(xp, xw[:, :H] + rec[:, :H], ract)
    r = act_forward(xp, xw[:, H:2 * H] + rec[:, H:2 * H], ract)
    rh = rec[:, 2 * H:].copy()
    hh = act_forward(xp, xw[:, 2 * H:] + r * rh, act)
    h_new = z * h_prev + (1.0 - z) * hh
    xw[:, :H], xw[:, H:2 * H], xw[:, 2 * H:] = z, r, hh
    return _keep(xp, m, h_new, h_prev), rh


def gru_cell_backward(xp, gates, rh, h_prev, dh, m, act, ract):
    """(d(x@W+b_in) (B, 3H), d(h@U+b_rec) (B, 3H), the part of dh before the step that skips the GEMM)."""
    H = h_prev.shape[1]
    z, r, hh = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    if m is not None:
        dh_new = dh * m.astype(dh.dtype)
        carry = dh - dh_new
    else:
        dh_new, carry = dh, None
    dz = dh_new * (h_prev - hh) * act_grad(xp, z, ract)
    da = dh_new * (1.0 - z) * act_grad(xp, hh, act)
    dr = da * rh * act_grad(xp, r, ract)
    dxw = xp.concatenate([dz, dr, da], axis=1)
    drec = xp.concatenate([dz, dr, da * r], axis=1)
    direct = dh_new * z
    return dxw, drec, direct if carry is None else direct + carry


def simple_cell_forward(xp, zt, rec, h_prev, m, act):
    """One SimpleRNN step: zt (B, H) = x@W + b on entry, act(zt + rec) on return."""
    zt[...] = act_forward(xp, zt + rec, act)
    return _keep(xp, m, zt, h_prev)


def simple_cell_backward(xp, zt, dh, m, act):
    if m is not None:
        dh_new = dh * m.astype(dh.dtype)
        return dh_new * act_grad(xp, zt, act), dh - dh_new
    return dh * act_grad(xp, zt, act), None


# ---- which implementation runs the cells ----

class _Buffers:
    """The time-major buffers of one sequence op; cells read and write step t of them."""
    __slots__ = ("kind", "B", "H", "act", "ract", "pre", "rec", "hs", "cs", "acs", "rhs", "M", "b_rec",
                 "dY", "dhn", "dc", "dpre", "drec", "carry", "ptrs")


class _NumpyCells:
    """The reference cells, for any float dtype on NumPy or CuPy."""

    def __init__(self, xp):
        self.xp = xp

    def forward(self, S, t):
        m = None if S.M is None else S.M[t][:, None]
        if S.kind == "lstm":
            h, c, ac = lstm_cell_forward(self.xp, S.pre[t], S.rec, S.cs[t], S.hs[t], m, S.act, S.ract)
            S.hs[t + 1], S.cs[t + 1], S.acs[t] = h, c, ac
        elif S.kind == "gru":
            if S.b_rec is not None:
                S.rec += S.b_rec
            S.hs[t + 1], S.rhs[t] = gru_cell_forward(self.xp, S.pre[t], S.rec, S.hs[t], m, S.act, S.ract)
        else:
            S.hs[t + 1] = simple_cell_forward(self.xp, S.pre[t], S.rec, S.hs[t], m, S.act)

    def backward(self, S, t):
        m = None if S.M is None else S.M[t][:, None]
        dh = S.dY[t] + S.dhn
        if S.kind == "lstm":
            S.dpre[t], S.dc[...], carry = lstm_cell_backward(self.xp, S.pre[t], S.acs[t], S.cs[t], dh, S.dc, m,
                                                             S.act, S.ract)
        elif S.kind == "gru":
            S.dpre[t], S.drec[t], carry = gru_cell_backward(self.xp, S.pre[t], S.rhs[t], S.hs[t], dh, m, S.act,
                                                            S.ract)
        else:
            S.dpre[t], carry = simple_cell_backward(self.xp, S.pre[t], dh, m, S.act)
        S.carry[...] = 0 if carry is None else carry


def _cells(xp, dtype):
    """kernels/cpu_rnn.c for float32 NumPy, kernels/rnn.cu on the kernel backend, else the reference."""
    if dtype == np.float32:
        if backend.uses_kernels():  # a GPU, or the emulated tier
            from ..kernels.rnn import CudaCells
            return CudaCells()
        if xp is np:
            from ..kernels.cpu import rnn_library
            lib = rnn_library()
            if lib is not None:
                from .rnn_native import NativeCells
                return NativeCells(lib)
    return _NumpyCells(xp)


# ---- the sequence op ----

def sequence(kind, x, h0, c0, kernel, recurrent_kernel, bias, mask=None, go_backwards=False, activation="tanh",
             recurrent_activation="sigmoid", cells=None):
    """The whole recurrence of an LSTM ("lstm"), GRU ("gru", reset_after=True) or SimpleRNN ("simple_rnn")
    over x (B, T, D) from states h0 (and c0 for LSTM), as one tape op. mask: (B, T) booleans or None.
    Returns (B, T, H) outputs in processing order — for LSTM (B, T + 1, H) with the final c last.
    bias: (G*H,) for LSTM/SimpleRNN, (2, 3H) for GRU (input and recurrent bias), or None.
    cells: the cell implementation (tests pass the reference); by default the fastest for the arrays."""
    xp = backend.get_xp()
    X, W, U = data(x), data(kernel), data(recurrent_kernel)
    b = None if bias is None else data(bias)
    B, T, D = X.shape
    H = U.shape[0]
    G = GATES[kind]
    dt = X.dtype
    cells = cells or _cells(xp, dt)
    S = _Buffers()
    S.kind, S.B, S.H, S.ptrs = kind, B, H, None
    S.act, S.ract = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    Xt = xp.ascontiguousarray((X[:, ::-1] if go_backwards else X).transpose(1, 0, 2))  # (T, B, D), processing order
    S.M = None
    if mask is not None:
        Mb = data(mask).astype(bool)
        S.M = xp.ascontiguousarray((Mb[:, ::-1] if go_backwards else Mb).T)  # (T, B)
    b_in = S.b_rec = None
    if b is not None:
        b_in, S.b_rec = (b[0], b[1]) if kind == "gru" else (b, None)
    # the input projection of every step: one GEMM
    gemm = threads.gemm if xp is np else (lambda m, k, n: None)
    gemm(T * B, D, W.shape[1])
    S.pre = xp.matmul(Xt.reshape(T * B, D), W).reshape(T, B, G * H)
    if b_in is not None:
        S.pre += b_in
    S.hs = xp.empty((T + 1, B, H), dtype=dt)  # hs[0] = h0, hs[t + 1] = h after step t
    S.hs[0] = data(h0)
    S.rec = xp.empty((B, G * H), dtype=dt)
    S.cs = S.acs = S.rhs = None
    if kind == "lstm":
        S.cs = xp.empty((T + 1, B, H), dtype=dt)
        S.cs[0] = data(c0)
        S.acs = xp.empty((T, B, H), dtype=dt)
    elif kind == "gru":
        S.rhs = xp.empty((T, B, H), dtype=dt)
    gemm(B, H, U.shape[1])  # the same count for all T steps
    for t in range(T):
        xp.matmul(S.hs[t], U, out=S.rec)
        cells.forward(S, t)
    outs = S.hs[1:]
    if kind == "lstm":
        outs = xp.concatenate([outs, S.cs[T:]], axis=0)
    result = xp.ascontiguousarray(outs.transpose(1, 0, 2))

    def backward(g, needs):
        gt = xp.ascontiguousarray(g.transpose(1, 0, 2))  # (T[+1], B, H)
        S.dY = gt[:T]
        S.dhn = xp.zeros((B, H), dtype=dt)  # dL/dh from the step after, through the GEMM
        S.carry = xp.empty((B, H), dtype=dt)
        S.dpre = xp.empty((T, B, G * H), dtype=dt)  # dL/d(x@W + b_in) per step
        S.drec = S.dpre if kind != "gru" else xp.empty((T, B, G * H), dtype=dt)  # dL/d(h@U + b_rec)
        S.dc = gt[T].copy() if kind == "lstm" else None
        S.ptrs = None
        Ut = xp.ascontiguousarray(U.T)
        gemm(B, U.shape[1], H)
        for t in range(T - 1, -1, -1):
            cells.backward(S, t)
            xp.matmul(S.drec[t], Ut, out=S.dhn)
            if S.M is not None or kind == "gru":  # the carry past a masked step; GRU's direct z * dh
                S.dhn += S.carry
        grads = [None] * len(inputs)
        dpre2, drec2 = S.dpre.reshape(T * B, G * H), S.drec.reshape(T * B, G * H)
        gemm(T * B, W.shape[1], D)  # the largest of the three weight and input products
        if needs[0]:
            dX = xp.matmul(dpre2, W.T).reshape(T, B, D).transpose(1, 0, 2)
            grads[0] = xp.ascontiguousarray(dX[:, ::-1] if go_backwards else dX)
        grads[1] = S.dhn if needs[1] else None
        k = 2
        if kind == "lstm":
            grads[2] = S.dc if needs[2] else None
            k = 3
        if needs[k]:
            grads[k] = xp.matmul(Xt.reshape(T * B, D).T, dpre2)
        if needs[k + 1]:
            grads[k + 1] = xp.matmul(S.hs[:T].reshape(T * B, H).T, drec2)
        if b is not None and needs[k + 2]:
            db_in = dpre2.sum(axis=0)
            grads[k + 2] = xp.stack([db_in, drec2.sum(axis=0)]) if kind == "gru" else db_in
        return grads
    inputs = (x, h0) + ((c0,) if kind == "lstm" else ()) + (kernel, recurrent_kernel) + (() if bias is None else (bias,))
    return record(result, inputs, backward)


def supported(activation, recurrent_activation="sigmoid"):
    return activation in ACTIVATIONS and recurrent_activation in ACTIVATIONS
