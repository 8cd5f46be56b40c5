"""gpunet's random streams. The global one (initializers, a model's seed) is seeded with
`gpunet.utils.set_random_seed`. Inside fit, each epoch draws its shuffle and its dropout masks from
its own stream, keyed by (the model's seed, epoch): a run resumed from a checkpoint at an epoch
boundary sees exactly the batches and masks an uninterrupted run would have seen."""
import numpy as np

_rng = np.random.default_rng()
_epoch_rng = None  # the current epoch's stream while fit runs


def epoch_stream(model_seed, epoch):
    return np.random.default_rng([int(model_seed), int(epoch)])


def set_epoch_stream(stream):
    """Dropout draws from `stream` (fit's per-epoch stream) until it is set back to None. Set once per
    epoch, not per step: a context manager per step would cost more than the dropout itself."""
    global _epoch_rng
    _epoch_rng = stream


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
    rng = _epoch_rng if _epoch_rng is not None else _rng
    if xp is np:
        u = rng.random(shape, dtype=np.float32)
    else:
        u = xp.random.default_rng(int(rng.integers(2**63))).random(shape, dtype=np.float32)
    return (u < keep).astype(dtype) * np.asarray(1.0 / keep, dtype=dtype)
