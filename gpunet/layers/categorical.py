"""Hashing and CategoryEncoding: integer or string features to bins and encodings, with Keras 3's arguments and
hashes (they share the host-data call and the encodings of text.py's lookups)."""
import numpy as np

from .. import backend
from ..ops.tape import Tensor
from .base import Layer
from .text import _bag, _host, _host_layer_call


class Hashing(Layer):
    """Hashes strings or integers into `num_bins` bins with Keras's hashes: FarmHash Fingerprint64 (TensorFlow's
    to_hash_bucket_fast), or SipHash-2-4 keyed by `salt`. With `mask_value`, that value gets bin 0 and the rest
    bins 1..num_bins-1. Integers are hashed as their decimal strings, as Keras does."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError("The `num_bins` for `Hashing` cannot be `None` or non-positive values. Received: "
                             "num_bins=%r" % (num_bins,))
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ['int', 'one_hot', "
                             "'multi_hot', 'count']. Received: output_mode=%r" % (output_mode,))
        if sparse:
            raise ValueError("sparse=True is not supported by gpunet: the encodings come out dense")
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(isinstance(v, int) for v in salt):
                salt = list(salt)
            elif isinstance(salt, int) and not isinstance(salt, bool):
                salt = [salt, salt]
            else:
                raise ValueError("The `salt` argument for `Hashing` can only be a tuple of size 2 integers, or a "
                                 "single integer. Received: salt=%r" % (salt,))
        self.num_bins, self.mask_value, self.salt = num_bins, mask_value, salt
        self.strong_hash = salt is not None
        self.output_mode, self.sparse = output_mode, sparse
        self.built = True

    @staticmethod
    def _bytes(v):
        if isinstance(v, bytes):
            return v
        if isinstance(v, (int, np.integer)):
            return str(int(v)).encode()
        if isinstance(v, str):
            return v.encode("utf-8")
        raise ValueError("Hashing takes strings or integers; received a %s (%r)" % (type(v).__name__, v))

    def _bins(self, values, bins):
        """Each value's bin in [0, bins): the batch hashed at once by ops.hashing (the C kernel)."""
        from ..ops.hashing import hash_bytes
        hashes = hash_bytes([self._bytes(v) for v in values], self.salt if self.strong_hash else None)
        return (hashes % np.uint64(bins)).astype(np.int64)

    def __call__(self, inputs, **kwargs):
        return _host_layer_call(self, inputs)

    def call(self, inputs):
        arr = np.asarray(_host(inputs))
        if arr.dtype.kind == "f":
            raise ValueError("Hashing takes strings or integers, received dtype %s" % arr.dtype)
        flat = arr.reshape(-1).tolist()
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        ids = self._bins(flat, bins) + (1 if masked else 0)
        if masked:
            ids[np.array([v == self.mask_value for v in flat], dtype=bool)] = 0
        ids = ids.reshape(arr.shape)
        if self.output_mode == "int":
            return Tensor(backend.get_xp().asarray(ids))
        rows = ids.reshape(len(ids), -1) if ids.ndim else ids.reshape(1, 1)
        return Tensor(backend.get_xp().asarray(_bag(rows.tolist(), self.num_bins, self.output_mode)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) if self.output_mode == "int" else (input_shape[0], self.num_bins)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                    "output_mode": self.output_mode, "sparse": self.sparse})
        return cfg


class CategoryEncoding(Layer):
    """Integer ids in [0, num_tokens) to one-hot, multi-hot or count vectors (Keras's CategoryEncoding):
    a (batch,) or (batch, k) input gives (batch, num_tokens); one_hot keeps the input's shape and appends
    num_tokens (a trailing axis of 1 is replaced)."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError("Unknown arg for output_mode: %s" % (output_mode,))
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of tokens is not known "
                             "beforehand, use the IntegerLookup layer instead.")
        if num_tokens < 1:
            raise ValueError("`num_tokens` must be >= 1. Received: num_tokens=%r." % (num_tokens,))
        if sparse:
            raise ValueError("sparse=True is not supported by gpunet: the encodings come out dense")
        self.num_tokens, self.output_mode, self.sparse = num_tokens, output_mode, sparse
        self.built = True

    def _check_input(self, x):
        return None

    def call(self, inputs, count_weights=None):
        xp = backend.get_xp()
        ids = inputs.data if isinstance(inputs, Tensor) else xp.asarray(inputs)
        if count_weights is not None and self.output_mode != "count":
            raise ValueError("`count_weights` is not used when `output_mode` is not `'count'`. Received "
                             "`count_weights=%r`." % (count_weights,))
        if ids.dtype.kind == "f" and ids.size and bool((ids != xp.floor(ids)).any()):
            raise ValueError("CategoryEncoding takes integer ids, received non-integer values")
        ids = ids.astype(np.int64)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.num_tokens):
            raise ValueError("Input values must be in the range 0 <= values < num_tokens with num_tokens=%d; "
                             "received values in [%d, %d]" % (self.num_tokens, int(ids.min()), int(ids.max())))
        eye = xp.eye(self.num_tokens, dtype=self.dtype)
        if self.output_mode == "one_hot":
            if ids.ndim > 1 and ids.shape[-1] == 1:
                ids = ids[..., 0]
            return Tensor(eye[ids])
        if ids.ndim == 0:
            ids = ids[None]
        if ids.ndim > 2:
            raise ValueError("CategoryEncoding takes inputs of rank 1 or 2 for output_mode=%r, received shape %s"
                             % (self.output_mode, tuple(ids.shape)))
        rows = ids if ids.ndim == 2 else ids[None]
        out = xp.zeros((rows.shape[0], self.num_tokens), dtype=self.dtype)
        w = xp.ones(rows.shape, dtype=self.dtype) if count_weights is None else \
            xp.broadcast_to(xp.asarray(count_weights.data if isinstance(count_weights, Tensor) else count_weights,
                                       dtype=self.dtype).reshape(rows.shape), rows.shape)
        r = xp.broadcast_to(xp.arange(rows.shape[0])[:, None], rows.shape)
        xp.add.at(out, (r.reshape(-1), rows.reshape(-1)), w.reshape(-1))
        if self.output_mode == "multi_hot":
            out = (out > 0).astype(self.dtype)
        return Tensor(out if ids.ndim == 2 else out[0])

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and (input_shape[-1] != 1 or len(input_shape) == 1):
            return tuple(input_shape) + (self.num_tokens,)
        return tuple(input_shape[:-1]) + (self.num_tokens,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_tokens": self.num_tokens, "output_mode": self.output_mode})
        return cfg
