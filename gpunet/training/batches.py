"""The batches of the per-batch loop (batch_loop.py), as Keras's data adapters give them: slices of arrays
(in the structure the user gave: an array, a list or a dict), a Python generator or iterator, or a
`keras.utils.PyDataset`; each batch packed as `x`, `(x, y)` or `(x, y, sample_weight)`, floats cast to
floatx on the backend."""
import math

import numpy as np

from .. import backend, config
from ..ops.tape import Tensor
from ..common.dataset import PyDataset, is_reiterable, is_stream, num_batches
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
    """One array of a batch on the backend: floats as floatx (Keras's data adapters cast them). A torch or
    TensorFlow tensor is read through NumPy first, as Keras's adapters convert them."""
    if isinstance(a, Tensor):
        return a.data
    if not isinstance(a, np.ndarray) and not hasattr(a, "__cuda_array_interface__"):
        if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch
            a = a.detach().cpu().numpy()
        elif hasattr(a, "numpy") and callable(a.numpy):  # a TensorFlow eager tensor
            a = a.numpy()
    arr = a if hasattr(a, "dtype") and hasattr(a, "shape") else np.asarray(a)
    if arr.dtype.kind in "OSU" and name == "x":  # strings for a string Input stay host arrays (lookup layers)
        return arr
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
        elif is_reiterable(x):
            # Keras's EpochIterator: a fresh pass each epoch; with steps_per_epoch, one pass runs on across epochs
            # and starts again once it has given all its batches
            self.kind, self.source, self.pass_it, self.seen = "iterable", x, None, 0
            _unsupported(y, sample_weight, "dataset")
            self.per_pass = num_batches(x)
            if self.per_pass == 0:
                raise ValueError("The dataset %s is empty: an epoch of it would train nothing" % type(x).__name__)
            self.capped = steps is not None
            self.steps = int(steps) if steps is not None else self.per_pass
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
            for item in _read(self.ds, idx):
                yield self._convert(item)
            self.ds.on_epoch_end()
        elif self.kind == "iterable":
            yield from self._pass_batches()
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

    def _pass_batches(self):
        if self.pass_it is None or not self.capped:
            self.pass_it, self.seen = iter(self.source), 0
        count = 0
        while self.steps is None or count < self.steps:
            if self.per_pass is not None and self.seen >= self.per_pass:
                if self.capped:  # steps_per_epoch asked for more than the pass had left
                    _ran_out()
                break
            try:
                data = next(self.pass_it)
            except StopIteration:
                if self.per_pass is None:
                    self.per_pass = self.seen  # learned: the next pass ends here without a warning
                    if not self.capped:
                        self.steps = self.per_pass
                if self.capped:
                    _ran_out()
                self.pass_it = None
                return
            self.seen += 1
            count += 1
            yield self._convert(data)
        if self.per_pass is not None and self.seen >= self.per_pass:
            self.pass_it = None  # the next epoch starts a new pass

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


def _ran_out():
    import warnings
    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
                  "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
                  "function when building your dataset.", stacklevel=4)


_WORKER_DATASET = []  # the PyDataset a worker process reads (inherited through fork)


def _worker_init(ds):
    _WORKER_DATASET[:] = [ds]


def _worker_item(i):
    return _WORKER_DATASET[0][i]


def _read(ds, idx):
    """ds[i] for each i in idx, in order: in this thread, or read ahead by `workers` threads (processes with
    use_multiprocessing=True), at most max_queue_size batches ahead, as Keras's PyDataset enqueuer does."""
    workers = int(ds.workers or 1)
    if workers <= 1 and not ds.use_multiprocessing:
        for i in idx:
            yield ds[i]
        return
    import collections
    import concurrent.futures as cf
    if ds.use_multiprocessing:
        import multiprocessing
        pool = cf.ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("fork"),
                                      initializer=_worker_init, initargs=(ds,))
        get = _worker_item
    else:
        pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="gpunet-pydataset")
        get = ds.__getitem__
    ahead = max(1, int(ds.max_queue_size or 1))
    pending = collections.deque()
    todo = iter(idx)
    try:
        for i in todo:
            pending.append(pool.submit(get, i))
            if len(pending) >= ahead:
                break
        while pending:
            item = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(get, nxt))
            yield item
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
