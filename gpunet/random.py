"""gpunet's random streams, and `keras.random`. The global one (initializers, a model's seed) is seeded with
`gpunet.utils.set_random_seed`. Inside fit, each epoch draws its shuffle from its own stream, keyed by
(the model's seed, the epoch's index over all the model's fit calls: training/epoch_loop.py begin_training),
and its dropout masks from Philox-4x32-10 keyed the same way: a run resumed from a checkpoint at an
epoch boundary sees exactly the batches and masks an uninterrupted run would have seen, and fit called
once per epoch sees the same as one fit over all the epochs.

Dropout inside fit is counter-based so that every device draws the same masks: mask element i of the
c-th dropout call of the epoch comes from one Philox block, counter (i // 4, c, 0, 0), key (seed, epoch index),
word i % 4. kernels/step.cu computes the same function on the GPU (and in the emulated tier), so the
captured GPU step, the CPU step plan and the tape path train with identical masks."""
import random as _pyrandom

import numpy as np

# The global stream (unseeded keras.random draws, dropout outside fit). As Keras's global SeedGenerator, it is made
# at its first use from a seed drawn from Python's `random` (make_default_seed), so a script that seeds `random`
# repeats it; set_random_seed replaces it.
_rng = None
_epoch_rng = None  # the current epoch's stream while fit runs
_epoch_dropout = None  # [key0, key1, calls so far this epoch] while fit runs

# Philox-4x32-10 (Salmon et al., SC'11; the constants of Random123)
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
_U32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0, k1, rounds=10):
    """Philox-4x32 on uint32 counters (arrays or ints, broadcast); returns the four uint32 output words."""
    c = [np.asarray(v, dtype=np.uint64) & _U32 for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(int(k0) & 0xFFFFFFFF), np.uint64(int(k1) & 0xFFFFFFFF)
    m0, m1 = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1])
    w0, w1 = np.uint64(PHILOX_W[0]), np.uint64(PHILOX_W[1])
    s32 = np.uint64(32)
    for r in range(rounds):
        p0, p1 = c[0] * m0, c[2] * m1  # 32 x 32 -> 64 bits: exact in uint64
        c = [((p1 >> s32) ^ c[1] ^ k0), p1 & _U32, ((p0 >> s32) ^ c[3] ^ k1), p0 & _U32]
        if r != rounds - 1:
            k0, k1 = (k0 + w0) & _U32, (k1 + w1) & _U32
    return [w.astype(np.uint32) for w in c]


def philox_keep_mask(size, call, key, keep):
    """The boolean keep-mask of `size` elements for dropout call number `call` under `key`: element i
    is kept when the top 24 bits of its Philox word, as a float32 in [0, 1), are below float32(keep)."""
    groups = np.arange(-(-size // 4), dtype=np.uint64)
    words = philox4x32(groups, call, 0, 0, key[0], key[1])
    u = np.stack(words, axis=1).reshape(-1)[:size] >> np.uint32(8)
    return u.astype(np.float32) * np.float32(2.0 ** -24) < np.float32(keep)


def epoch_stream(model_seed, epoch):
    return np.random.default_rng([int(model_seed), int(epoch)])


def dropout_key(model_seed, epoch):
    """The Philox key of an epoch's dropout masks: (seed, epoch index) as two uint32 words."""
    return int(model_seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF


def set_epoch_stream(stream, dropout_key=None):
    """Draws inside fit: keras.random from `stream` and dropout from Philox under `dropout_key`, until set
    back to None. Set once per epoch, not per step: a context manager per step would cost more than the
    dropout itself."""
    global _epoch_rng, _epoch_dropout
    _epoch_rng = stream
    _epoch_dropout = None if stream is None or dropout_key is None else [dropout_key[0], dropout_key[1], 0]


def set_seed(seed):
    global _rng
    _rng = np.random.default_rng(seed)


def make_default_seed():
    """Keras's default seed for anything made without one (an initializer, a SeedGenerator, the global stream):
    drawn from Python's `random` when the object is made."""
    return _pyrandom.randint(1, int(1e9))


def generator(seed=None):
    """The global Generator, or a fresh one when a seed is given (Keras: a seeded initializer
    draws the same values on every call)."""
    global _rng
    if seed is not None:
        return np.random.default_rng(seed)
    if _rng is None:
        _rng = np.random.default_rng(make_default_seed())
    return _rng


def dropout_mask(shape, rate, dtype):
    """Inverted-dropout mask: 0 with probability `rate`, else 1/(1-rate). Inside fit, from the epoch's
    Philox stream (the same masks on every device); outside it, from the global stream."""
    from . import backend
    xp = backend.get_xp()
    keep = 1.0 - rate
    scale = np.asarray(1.0 / keep, dtype=dtype)
    if _epoch_dropout is not None:
        k0, k1, call = _epoch_dropout
        _epoch_dropout[2] += 1
        if backend.uses_kernels() and np.dtype(dtype) == np.float32:
            from .kernels import step
            return step.dropout_mask(tuple(shape), call, (k0, k1), rate)
        if xp is np and np.dtype(dtype) == np.float32:
            from .kernels import cpu as cpu_kernels, step
            lib = cpu_kernels.library()
            if lib is not None:  # the same stream in C (kernels/cpu_optim.c)
                mask = np.empty(shape, np.float32)
                lib.philox_dropout_mask(mask.ctypes.data, mask.size, call & 0xFFFFFFFF, k0, k1, np.float32(keep),
                                        np.float32(scale))
                return mask
        kept = philox_keep_mask(int(np.prod(shape)), call, (k0, k1), keep).reshape(shape)
        return backend.to_device(kept.astype(dtype) * scale)
    rng = generator()
    if backend.uses_kernels() and np.dtype(dtype) == np.float32:  # a fresh Philox key from the global stream:
        from .kernels import step                                       # no cuRAND generator per call
        k = rng.integers(2**32, size=2)
        return step.dropout_mask(tuple(shape), 0, (int(k[0]), int(k[1])), rate)
    if xp is np:
        u = rng.random(shape, dtype=np.float32)
    else:
        u = xp.random.default_rng(int(rng.integers(2**63))).random(shape, dtype=np.float32)
    return (u < keep).astype(dtype) * scale


# ---- keras.random ----

class SeedGenerator:
    """Keras's SeedGenerator: a stream of its own; each draw that takes it moves it on, so two
    draws differ but a rerun from the same seed repeats them."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError("SeedGenerator: seed must be an integer or None, received %r" % (seed,))
        self.seed = make_default_seed() if seed is None else int(seed)
        self.name = name or "seed_generator"
        self._rng = np.random.default_rng(self.seed)

    def next(self, ordered=True):
        return int(self._rng.integers(2**63))

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _stream(seed):
    """The numpy Generator a draw uses: a fresh one for an int seed (the same values every call, as in
    Keras), the SeedGenerator's next state, or the global/epoch stream for None."""
    if seed is None:
        return _epoch_rng if _epoch_rng is not None else generator()
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next())
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    raise ValueError("seed must be None, an integer or a gpunet.random.SeedGenerator, received %r" % (seed,))


def _out(arr, dtype):
    from . import backend, config
    from .ops.tape import Tensor
    return Tensor(backend.to_device(np.asarray(arr, dtype=dtype or config.floatx())))


def _shape(shape):
    return tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else (shape,)))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _out(_stream(seed).normal(mean, stddev, _shape(shape)), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    if dtype is not None and np.dtype(dtype).kind in "iu":
        raise ValueError("uniform() draws floats; for integers use gpunet.random.randint, received dtype=%r" % (dtype,))
    return _out(_stream(seed).uniform(minval, maxval, _shape(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values more than two standard deviations from the mean are drawn again (Keras)."""
    rng = _stream(seed)
    out = rng.normal(0.0, 1.0, _shape(shape))
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2
    return _out(out * stddev + mean, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return _out(_stream(seed).integers(minval, maxval, _shape(shape)), dtype)


def categorical(logits, num_samples, dtype="int32", seed=None):
    from . import backend
    z = np.asarray(backend.to_numpy(logits.data if hasattr(logits, "data") else logits), dtype=np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    rng = _stream(seed)
    return _out(np.stack([rng.choice(p.shape[-1], size=num_samples, p=row) for row in p]), dtype)


def shuffle(x, axis=0, seed=None):
    from . import backend
    from .ops import take
    n = (x.shape if hasattr(x, "shape") else np.shape(x))[axis]
    order = _stream(seed).permutation(n)
    return take(x, backend.to_device(order), axis=axis)


def gamma(shape, alpha, dtype=None, seed=None):
    return _out(_stream(seed).gamma(alpha, 1.0, _shape(shape)), dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    return _out(_stream(seed).binomial(counts, probabilities, _shape(shape)), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    return _out(_stream(seed).beta(alpha, beta, _shape(shape)), dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout: zero with probability `rate`, the rest scaled by 1/(1-rate); differentiable."""
    from . import backend, ops
    if not 0 <= rate < 1:
        raise ValueError("dropout rate must be in [0, 1), received %r" % (rate,))
    x = ops.convert_to_tensor(inputs)
    shape = tuple(x.shape) if noise_shape is None else tuple(x.shape[i] if d is None else d
                                                             for i, d in enumerate(noise_shape))
    keep = _stream(seed).random(shape) >= rate
    mask = backend.to_device((keep / (1.0 - rate)).astype(x.dtype))
    return ops.multiply(x, mask)


def _hand_over():
    from .ops import image_extra  # elastic_transform draws its fields here (ops sits below and cannot import this)
    image_extra._seed_stream[:] = [_stream]


_hand_over()
