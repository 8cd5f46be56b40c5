"""The batches of the per-batch loop (batch_loop.py), as Keras's data adapters give them: slices of arrays
(in the structure the user gave: an array, a list or a dict), a Python generator or iterator, or a
`keras.utils.PyDataset`; each batch packed as `x`, `(x, y)` or `(x, y, sample_weight)`, floats cast to
floatx on the backend."""
import math

import numpy as np

from .. import backend, config
from ..ops.tape import Tensor
from ..common.dataset import PyDataset, is_stream
from . import targets


def _leaves(struct):
    if isinstance(struct, dict):
        return [l for v in struct.values() for l in _leaves(v)]
    if isinstance(struct, (list, tuple)):
        return [l for v in struct for l in _leaves(v)]
    return [] if struct is None else [struct]


def _map(fn, struct):
    if isinstance(struct, dict):
        return {k: _map(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return type(struct)(_map(fn, v) for v in struct)
    return None if struct is None else fn(struct)


def _to_backend(a, name):
    """One array of a batch on the backend: floats as floatx (Keras's data adapters cast them)."""
    if isinstance(a, Tensor):
        return a.data
    arr = a if hasattr(a, "dtype") and hasattr(a, "shape") else np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s must be numeric, received an array of dtype %s" % (name, arr.dtype))
    if arr.dtype.kind == "f" and arr.dtype != np.dtype(config.floatx()):
        arr = arr.astype(config.floatx())
    return backend.to_device(arr)


def pack(x, y=None, sample_weight=None):
    """Keras's pack_x_y_sample_weight: `x` alone when there is nothing else."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack(data):
    """Keras's unpack_x_y_sample_weight."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     "found a tuple of %d elements" % len(data))


def _unsupported(y, sample_weight, input_type):
    """Keras's message for an argument the data `x` must carry itself, naming that argument."""
    for arg, value, what in (("y", y, "the targets"), ("sample_weight", sample_weight, "the sample weights")):
        if value is not None:
            raise ValueError("When providing `x` as a %s, `%s` should not be passed. Instead, %s should be included "
                             "as part of the %s (received %s=%s)." % (input_type, arg, what, input_type, arg,
                                                                      type(value).__name__))


class Batches:
    """The batches of one fit/evaluate/predict call, epoch after epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, steps=None, shuffle=False,
                 class_weight=None, name="x"):
        self.class_weight = class_weight
        self.shuffle = shuffle
        if isinstance(x, PyDataset):
            self.kind, self.ds = "pydataset", x
            _unsupported(y, sample_weight, "PyDataset")
            n = x.num_batches
            if n == 0:  # Keras's refusal: an epoch of it would train (or evaluate) nothing, silently
                raise ValueError("The PyDataset has length 0")
            self.steps = n if steps is None else (min(n, int(steps)) if n is not None else int(steps))
        elif is_stream(x):
            self.kind, self.it = "stream", x
            _unsupported(y, sample_weight, "Python generator or iterator")
            self.steps = None if steps is None else int(steps)
            self._exhausted = False
        else:
            self.kind = "arrays"
            leaves = _leaves(x)
            if not leaves:
                raise ValueError("%s is required" % name)
            self.n = len(leaves[0])
            for a, what in [(a, name) for a in leaves] + [(a, "y") for a in _leaves(y)] + \
                    ([(sample_weight, "sample_weight")] if sample_weight is not None else []):
                if len(a) != self.n:
                    raise ValueError("Data cardinality is ambiguous: %s has %d samples but %s has %d. Make sure all "
                                     "arrays contain the same number of samples." % (name, self.n, what, len(a)))
            if class_weight is not None:
                if y is None or isinstance(y, (dict, list, tuple)):
                    raise ValueError("class_weight needs a single array of targets y")
                sample_weight = targets.class_weights(class_weight, np.asarray(backend.to_numpy(y)),
                                                       None if sample_weight is None else np.asarray(sample_weight))
            self.x = _map(lambda a: _to_backend(a, name), x)
            self.y = _map(lambda a: _to_backend(a, "y"), y)
            self.sw = None if sample_weight is None else _to_backend(sample_weight, "sample_weight")
            self.batch_size = int(batch_size)
            full = max(1, math.ceil(self.n / self.batch_size))
            self.steps = full if steps is None else max(1, min(full, int(steps)))

    def epoch(self, stream=None):
        """The batches of one epoch; `stream` (fit's epoch stream) shuffles them when asked."""
        if self.kind == "arrays":
            order = None
            if self.shuffle and stream is not None:
                order = backend.to_device(stream.permutation(self.n))
            for step in range(self.steps):
                lo, hi = step * self.batch_size, min(self.n, (step + 1) * self.batch_size)
                idx = slice(lo, hi) if order is None else order[lo:hi]
                yield pack(_map(lambda a: a[idx], self.x), _map(lambda a: a[idx], self.y),
                           None if self.sw is None else self.sw[idx])
        elif self.kind == "pydataset":
            self.ds.on_epoch_begin()
            idx = list(range(self.steps))
            if self.shuffle and stream is not None:
                idx = [idx[i] for i in stream.permutation(len(idx))]
            for i in idx:
                yield self._convert(self.ds[i])
            self.ds.on_epoch_end()
        else:
            count = 0
            while self.steps is None or count < self.steps:
                try:
                    data = next(self.it)
                except StopIteration:
                    if count == 0 or self.steps is not None:
                        self._exhausted = True
                    return
                count += 1
                yield self._convert(data)

    @property
    def exhausted(self):
        return self.kind == "stream" and self._exhausted

    def _convert(self, data):
        x, y, sw = unpack(data)
        if self.class_weight is not None and y is not None:
            sw = targets.class_weights(self.class_weight, np.asarray(backend.to_numpy(y)),
                                        None if sw is None else np.asarray(backend.to_numpy(sw)))
        return pack(_map(lambda a: _to_backend(a, "x"), x), _map(lambda a: _to_backend(a, "y"), y),
                    None if sw is None else _to_backend(sw, "sample_weight"))
