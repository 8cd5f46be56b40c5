"""`keras.ops.linalg`: inverse, determinant, solve (with gradients) and the decompositions (without),
also at the top of gpunet.ops as in Keras."""
from .. import backend
from .core import const as _const, data, record
from .arrays import tril, triu

__all__ = [
    "inv", "det", "slogdet", "logdet", "solve", "solve_triangular", "cholesky_inverse", "cholesky", "eig",
    "eigh", "qr", "svd", "pinv", "matrix_rank", "lstsq",
]


def _xp():
    return backend.get_xp()


# ---- linear algebra (keras.ops.linalg names, also at the top level) ----

def inv(x):
    xp = _xp()
    y = xp.linalg.inv(data(x))
    return record(y, (x,), lambda g, n: (-xp.swapaxes(y, -1, -2) @ g @ xp.swapaxes(y, -1, -2),))


def det(x):
    xp = _xp()
    a = data(x)
    y = xp.linalg.det(a)
    return record(y, (x,), lambda g, n: ((g * y)[..., None, None] * xp.swapaxes(xp.linalg.inv(a), -1, -2),))


def slogdet(x):
    sign, logabs = _xp().linalg.slogdet(data(x))
    return _const(sign), logdet(x)


def logdet(x):
    xp = _xp()
    a = data(x)
    _, y = xp.linalg.slogdet(a)
    return record(y, (x,), lambda g, n: (g[..., None, None] * xp.swapaxes(xp.linalg.inv(a), -1, -2),))


def solve(a, b):
    xp = _xp()
    A, B = data(a), data(b)
    y = xp.linalg.solve(A, B)

    def backward(g, n):
        gb = xp.linalg.solve(xp.swapaxes(A, -1, -2), g)
        ga = -(gb @ xp.swapaxes(y, -1, -2)) if y.ndim == A.ndim else -xp.outer(gb, y)
        return (ga if n[0] else None, gb if n[1] else None)
    return record(y, (a, b), backward)


def _linalg_nograd(name, fn):
    def op(*args, **kwargs):
        res = fn(*[data(a) for a in args], **kwargs)
        return tuple(_const(r) for r in res) if isinstance(res, tuple) else _const(res)
    op.__name__ = op.__qualname__ = name
    return op


cholesky = _linalg_nograd("cholesky", lambda a, upper=False: (_xp().linalg.cholesky(a) if not upper else
                                                               _xp().swapaxes(_xp().linalg.cholesky(a), -1, -2)))
eig = _linalg_nograd("eig", lambda a: tuple(_xp().linalg.eig(a)))
eigh = _linalg_nograd("eigh", lambda a: tuple(_xp().linalg.eigh(a)))
qr = _linalg_nograd("qr", lambda a, mode="reduced": tuple(_xp().linalg.qr(a, mode=mode)))
svd = _linalg_nograd("svd", lambda a, full_matrices=True, compute_uv=True: (
    tuple(_xp().linalg.svd(a, full_matrices=full_matrices, compute_uv=True)) if compute_uv
    else _xp().linalg.svd(a, compute_uv=False)))
pinv = _linalg_nograd("pinv", lambda a, rtol=1e-6: _xp().linalg.pinv(a, rcond=rtol))
matrix_rank = _linalg_nograd("matrix_rank", lambda a, tol=None: _xp().linalg.matrix_rank(a, tol=tol))
lstsq = _linalg_nograd("lstsq", lambda a, b, rcond=None: _xp().linalg.lstsq(a, b, rcond=rcond)[0])


def solve_triangular(a, b, lower=False):
    return solve(tril(a) if lower else triu(a), b)


def cholesky_inverse(x, upper=False):
    L = data(x)
    xp = _xp()
    A = (xp.swapaxes(L, -1, -2) @ L) if upper else (L @ xp.swapaxes(L, -1, -2))
    return _const(xp.linalg.inv(A))


def __getattr__(name):  # keras.ops.linalg's names that gpunet keeps elsewhere in gpunet.ops (namespaces.py)
    from .namespaces import lookup
    return lookup("linalg", name)
