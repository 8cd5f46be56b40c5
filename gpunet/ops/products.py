"""Products in keras.ops: outer, inner, vdot, kron, cross, tensordot, einsum (each operand's
gradient is the einsum of the others with the output gradient), and distance and correlation."""
import builtins

import numpy as np

from .. import backend
from . import math as M
from .core import const as _const, data, record
from .arrays import moveaxis, stack

__all__ = [
    "outer", "inner", "vdot", "kron", "cross", "tensordot", "einsum", "corrcoef", "correlate", "cdist",
]


def _xp():
    return backend.get_xp()


# ---- products ----

def outer(x1, x2):
    return M.multiply(M.reshape(x1, (-1, 1)), M.reshape(x2, (1, -1)))


def inner(x1, x2):
    if np.ndim(data(x1)) == 0 or np.ndim(data(x2)) == 0:
        return M.multiply(x1, x2)
    return tensordot(x1, x2, axes=([-1], [-1]))


def vdot(x1, x2):
    return M.sum(M.multiply(M.reshape(x1, (-1,)), M.reshape(x2, (-1,))))


def kron(x1, x2):
    a, b = data(x1), data(x2)
    nd = builtins.max(a.ndim, b.ndim)
    A = M.reshape(x1, (1,) * (nd - a.ndim) + a.shape)
    B = M.reshape(x2, (1,) * (nd - b.ndim) + b.shape)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    ea = M.reshape(A, tuple(v for s in sa for v in (s, 1)))
    eb = M.reshape(B, tuple(v for s in sb for v in (1, s)))
    return M.reshape(M.multiply(ea, eb), tuple(p * q for p, q in zip(sa, sb)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(x1, axisa, -1), moveaxis(x2, axisb, -1)

    def c(t, i):
        return M.getitem(t, (Ellipsis, i))
    out = stack([M.subtract(M.multiply(c(a, 1), c(b, 2)), M.multiply(c(a, 2), c(b, 1))),
                 M.subtract(M.multiply(c(a, 2), c(b, 0)), M.multiply(c(a, 0), c(b, 2))),
                 M.subtract(M.multiply(c(a, 0), c(b, 1)), M.multiply(c(a, 1), c(b, 0)))], axis=-1)
    return moveaxis(out, -1, axisc)


def tensordot(x1, x2, axes=2):
    a, b = data(x1), data(x2)
    if isinstance(axes, int):
        ax_a, ax_b = list(builtins.range(a.ndim - axes, a.ndim)), list(builtins.range(axes))
    else:
        ax_a, ax_b = [list(v) if isinstance(v, (list, tuple)) else [v] for v in axes]
    ax_a = [i % a.ndim for i in ax_a]
    ax_b = [i % b.ndim for i in ax_b]
    free_a = [i for i in builtins.range(a.ndim) if i not in ax_a]
    free_b = [i for i in builtins.range(b.ndim) if i not in ax_b]
    A = M.reshape(M.transpose(x1, free_a + ax_a), (int(np.prod([a.shape[i] for i in free_a])), -1))
    B = M.reshape(M.transpose(x2, ax_b + free_b), (-1, int(np.prod([b.shape[i] for i in free_b]))))
    return M.reshape(M.matmul(A, B), tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b))


def einsum(subscripts, *operands):
    """Einstein summation; the gradient of each operand is the einsum of the others with the output
    gradient (labels that occur in one operand only are summed there first)."""
    xp = _xp()
    arrays = [data(o) for o in operands]
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins = spec
        letters = [c for c in ins.replace(",", "") if c.isalpha()]
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    y = xp.einsum(spec if "->" in spec else ins and ",".join(ins) + "->" + out, *arrays)
    if "." in spec:
        return _const(y)  # ellipsis subscripts: forward only

    def backward(g, n):
        grads = []
        for i, (need, sub) in enumerate(zip(n, ins)):
            if not need:
                grads.append(None)
                continue
            others = [(s, arrays[j]) for j, s in enumerate(ins) if j != i]
            keep = "".join(dict.fromkeys(c for c in sub if c in out or builtins.any(c in s for s, _ in others)))
            gi = xp.einsum(",".join([out] + [s for s, _ in others]) + "->" + keep, g, *[arr for _, arr in others])
            if keep != sub:  # labels summed inside this operand only, or repeated: broadcast back
                if len(set(sub)) != len(sub):
                    raise NotImplementedError("einsum gradient with a repeated label in one operand (%r)" % sub)
                shape = [arrays[i].shape[sub.index(c)] if c in keep else 1 for c in sub]
                order = [keep.index(c) for c in sub if c in keep]
                gi = xp.transpose(gi, order).reshape(shape)
                gi = xp.broadcast_to(gi, arrays[i].shape)
            grads.append(gi)
        return tuple(grads)
    return record(y, tuple(operands), backward)

def corrcoef(x):
    return _const(_xp().corrcoef(data(x)))

def correlate(x1, x2, mode="valid"):
    return _const(_xp().correlate(data(x1), data(x2), mode=mode))

def cdist(x, y, p=2):
    d = M.subtract(M.expand_dims(x, -2), M.expand_dims(y, -3))
    if p == 2:
        return M.sqrt(M.sum(M.square(d), axis=-1))
    return M.power(M.sum(M.power(M.abs(d), p), axis=-1), 1.0 / p)
