"""Control flow and function transforms of keras.ops (cond, switch, loops, scan, map,
associative_scan, vectorize, custom_gradient) and the segment reductions. They run eagerly:
loops are Python loops, and the tape records what the bodies compute."""
import builtins

import numpy as np

from .. import backend
from . import math as M
from .core import Tensor, const as _const, data, record
from .arrays import _take_index, stack

__all__ = [
    "cond", "switch", "fori_loop", "while_loop", "scan", "map", "vectorized_map", "associative_scan",
    "custom_gradient", "segment_sum", "vectorize", "segment_max", "segment_min", "segment_prod",
]


def _xp():
    return backend.get_xp()


_unwrap = data  # for the ops whose Keras argument is itself called `data`


# ---- control flow and functions ----

def cond(pred, true_fn, false_fn):
    return true_fn() if bool(data(pred)) else false_fn()


def switch(index, branches, *operands):
    i = builtins.min(builtins.max(int(data(index)), 0), len(branches) - 1)
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    val = init_val
    for i in builtins.range(int(data(lower)), int(data(upper))):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    single = not isinstance(loop_vars, (list, tuple))
    vars_ = (loop_vars,) if single else tuple(loop_vars)
    i = 0
    while (maximum_iterations is None or i < maximum_iterations) and bool(data(cond(*vars_))):
        out = body(*vars_)
        vars_ = (out,) if single else tuple(out)
        i += 1
    return vars_[0] if single else vars_


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    n = length if xs is None else len(_leaves_first(xs))
    carry, ys = init, []
    order = builtins.range(n - 1, -1, -1) if reverse else builtins.range(n)
    for i in order:
        x = None if xs is None else _index_struct(xs, i)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (stack(ys) if ys and ys[0] is not None and not isinstance(ys[0], (list, tuple)) else ys)


def _leaves_first(s):
    return s[0] if isinstance(s, (list, tuple)) and not hasattr(s, "shape") else s


def _index_struct(s, i):
    if isinstance(s, (list, tuple)) and not hasattr(s, "shape"):
        return type(s)(_index_struct(v, i) for v in s)
    return M.getitem(s, i) if isinstance(s, Tensor) else _const(data(s)[i])


def map(f, xs):
    return stack([f(_index_struct(xs, i)) for i in builtins.range(len(_leaves_first(xs)))])


def vectorized_map(function, elements):
    return map(function, elements)


def associative_scan(f, elems, reverse=False, axis=0):
    n = np.shape(data(elems))[axis]
    idx = list(builtins.range(n))
    if reverse:
        idx.reverse()
    out, acc = [], None
    for i in idx:
        e = _take_index(elems, i, axis)
        acc = e if acc is None else f(acc, e)
        out.append(acc)
    if reverse:
        out.reverse()
    return stack(out, axis=axis)


def custom_gradient(f):
    """Decorator: f returns (result, grad_fn); grad_fn(upstream) gives one gradient per input."""
    def wrapped(*args):
        from .tape import stop_recording
        with stop_recording():
            y, grad_fn = f(*args)
        tensors = tuple(a for a in args if isinstance(a, Tensor))

        def backward(g, n):
            gs = grad_fn(Tensor(g))
            gs = gs if isinstance(gs, (list, tuple)) else (gs,)
            return tuple(None if gi is None else data(gi) for gi in gs)
        return record(data(y), tensors, backward)
    return wrapped


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    values = data
    ids = _xp().asarray(_unwrap(segment_ids)).astype("int64")
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    onehot = _const((ids[None, :] == _xp().arange(n)[:, None]).astype(_unwrap(values).dtype))
    flat = M.reshape(values, (np.shape(_unwrap(values))[0], -1))
    return M.reshape(M.matmul(onehot, flat), (n,) + tuple(np.shape(_unwrap(values))[1:]))


def _segment_reduce(name, red, fill):
    def op(data, segment_ids, num_segments=None, sorted=False):
        a = _unwrap(data)
        ids = _xp().asarray(_unwrap(segment_ids)).astype("int64")
        n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
        out = _xp().full((n,) + a.shape[1:], fill, dtype=a.dtype)
        red.at(out, ids, a)
        return _const(out)
    op.__name__ = op.__qualname__ = name
    return op


segment_max = _segment_reduce("segment_max", np.maximum, -np.inf)
segment_min = _segment_reduce("segment_min", np.minimum, np.inf)
segment_prod = _segment_reduce("segment_prod", np.multiply, 1)

def vectorize(pyfunc, excluded=None, signature=None):
    """keras.ops.vectorize: pyfunc applied along the leading axis (a Python loop, then stacked)."""
    if excluded or signature:
        raise ValueError("vectorize(excluded=..., signature=...) is not supported by gpunet")

    def vectorized(*args):
        n = len(_leaves_first(args[0]))
        return stack([pyfunc(*[_index_struct(a, i) for a in args]) for i in builtins.range(n)])
    return vectorized
