"""gpunet's global random stream (initializers, shuffling, dropout). Seed it with
`gpunet.utils.set_random_seed` for bit-identical runs."""
import numpy as np

_rng = np.random.default_rng()


def set_seed(seed):
    global _rng
    _rng = np.random.default_rng(seed)


def generator(seed=None):
    """The global Generator, or a fresh one when a seed is given (Keras: a seeded initializer
    draws the same values on every call)."""
    return _rng if seed is None else np.random.default_rng(seed)


def dropout_mask(shape, rate, dtype):
    """Inverted-dropout mask: 0 with probability `rate`, else 1/(1-rate)."""
    from . import backend
    xp = backend.get_xp()
    keep = 1.0 - rate
    if xp is np:
        u = _rng.random(shape, dtype=np.float32)
    else:
        u = xp.random.default_rng(int(_rng.integers(2**63))).random(shape, dtype=np.float32)
    return (u < keep).astype(dtype) * np.asarray(1.0 / keep, dtype=dtype)
