"""ops/rnn.py's cells on kernels/cpu_rnn.c (float32 NumPy arrays): one C pass per timestep instead of a
dozen NumPy passes over the gates. Same contract as ops.rnn._NumpyCells (forward/backward of step t of
the op's buffers). Pointers are worked out once per pass from the buffers' base addresses: building a
ctypes pointer per argument per step cost more than the cell itself."""


def _base(a):
    if a is None:
        return None
    assert a.flags.c_contiguous and a.dtype.itemsize in (1, 4)
    return a.ctypes.data


class NativeCells:
    def __init__(self, lib):
        self.lib = lib

    def forward(self, S, t):
        p = S.ptrs
        if p is None:
            p = S.ptrs = {k: _base(getattr(S, k)) for k in ("pre", "rec", "hs", "cs", "acs", "rhs", "M", "b_rec")}
        B, H = S.B, S.H
        s = 4 * B * H  # bytes per step of an (T, B, H) float32 buffer
        m = None if p["M"] is None else p["M"] + t * B
        lib = self.lib
        if S.kind == "lstm":
            lib.lstm_fwd(p["pre"] + 4 * t * s, p["rec"], p["cs"] + t * s, p["hs"] + t * s, p["hs"] + (t + 1) * s,
                         p["cs"] + (t + 1) * s, p["acs"] + t * s, m, B, H, S.act, S.ract)
        elif S.kind == "gru":
            lib.gru_fwd(p["pre"] + 3 * t * s, p["rec"], p["b_rec"], p["hs"] + t * s, p["hs"] + (t + 1) * s,
                        p["rhs"] + t * s, m, B, H, S.act, S.ract)
        else:
            lib.simple_fwd(p["pre"] + t * s, p["rec"], p["hs"] + t * s, p["hs"] + (t + 1) * s, m, B, H, S.act)

    def backward(self, S, t):
        p = S.ptrs
        if p is None:
            p = S.ptrs = {k: _base(getattr(S, k)) for k in ("pre", "hs", "cs", "acs", "rhs", "M", "dY", "dhn", "dc",
                                                            "dpre", "drec", "carry")}
        B, H = S.B, S.H
        s = 4 * B * H
        m = None if p["M"] is None else p["M"] + t * B
        lib = self.lib
        if S.kind == "lstm":
            lib.lstm_bwd(p["pre"] + 4 * t * s, p["acs"] + t * s, p["cs"] + t * s, p["dY"] + t * s, p["dhn"], p["dc"],
                         p["dpre"] + 4 * t * s, p["carry"], m, B, H, S.act, S.ract)
        elif S.kind == "gru":
            lib.gru_bwd(p["pre"] + 3 * t * s, p["rhs"] + t * s, p["hs"] + t * s, p["dY"] + t * s, p["dhn"],
                        p["dpre"] + 3 * t * s, p["drec"] + 3 * t * s, p["carry"], m, B, H, S.act, S.ract)
        else:
            lib.simple_bwd(p["pre"] + t * s, p["dY"] + t * s, p["dhn"], p["dpre"] + t * s, p["carry"], m, B, H, S.act)
