"""Checks and conversions of the arrays handed to fit/evaluate/predict: fail early, name the
argument, say what was expected and what was received."""
import math

import numpy as np

from .. import backend, config
from ..ops.tape import Tensor


class Multi:
    """Several arrays sharing the batch axis: a multi-input x or a multi-output y. Indexing takes
    the same rows of each, so the training loop batches it like one array."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def __len__(self):
        return len(self._first())

    def _first(self):
        # None stands for an output that takes no targets (no loss, no metrics: compile(loss=[fn, None]))
        return next(a for a in self.arrays if a is not None)

    def __getitem__(self, idx):
        return Multi([None if a is None else a[idx] for a in self.arrays])

    @property
    def shape(self):
        return self._first().shape

    @property
    def dtype(self):
        return self._first().dtype


# ---- scalar arguments of fit/evaluate/predict: checked before anything else runs ----

def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def positive_int(value, name, default=None):
    """batch_size and friends: None takes the default; anything but an integer >= 1 is refused (a negative
    batch size used to drop samples silently, 0 divided by zero)."""
    if value is None:
        return default
    if not _is_int(value) or value < 1:
        raise ValueError("%s must be a positive integer, received %r" % (name, value))
    return int(value)


def check_verbose(verbose):
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if not _is_int(verbose) or verbose not in (0, 1, 2):
        raise ValueError("verbose must be 'auto', 0, 1 or 2, received %r" % (verbose,))
    return int(verbose)


def check_fit_args(epochs, initial_epoch, validation_split, validation_freq, shuffle):
    if not _is_int(epochs) or epochs < 0:
        raise ValueError("epochs must be a non-negative integer, received %r" % (epochs,))
    if not _is_int(initial_epoch) or initial_epoch < 0:
        raise ValueError("initial_epoch must be a non-negative integer, received %r" % (initial_epoch,))
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.integer, np.floating)):
        raise TypeError("validation_split must be a float in [0, 1), received %r (%s)"
                        % (validation_split, type(validation_split).__name__))
    if not 0 <= validation_split < 1:
        raise ValueError("validation_split must be a float in [0, 1), received %r" % (validation_split,))
    if not _is_int(validation_freq) or validation_freq < 1:
        raise ValueError("validation_freq must be a positive integer (validate every that many epochs), "
                         "received %r" % (validation_freq,))
    if not isinstance(shuffle, (bool, np.bool_)):  # Keras's shuffle="batch" (shuffled within chunks) is not built
        raise ValueError("shuffle must be True or False, received %r" % (shuffle,))


def _is_structure(x):
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) > 0 and all(
        hasattr(a, "shape") and np.ndim(a) >= 1 for a in x))


def _ordered(x, names, what):
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError("%s is a dict without entries for %s (expected keys %s)" % (what, missing, names))
        return [x[n] for n in names]
    if len(x) != len(names):
        raise ValueError("%s: received %d arrays, the model has %d (%s)" % (what, len(x), len(names), names))
    return list(x)


def prepare_inputs(model, x, name="x"):
    """One array, or a Multi for a multi-input model (lists, or dicts keyed by input name)."""
    names = getattr(model, "input_names", None)
    if names is not None:
        model._warn_structure(x)
    if names is not None and isinstance(x, dict):
        names = model._input_keys(x)
    if names is not None and (len(names) > 1 or _is_structure(x)):
        if not _is_structure(x):
            raise ValueError('Model "%s" has %d inputs %s: pass a list or a dict of arrays as %s'
                             % (model.name, len(names), names, name))
        arrays = [_prepare_one(model, a, "%s[%r]" % (name, n), tuple(t.shape), t.dtype)
                  for a, n, t in zip(_ordered(x, names, name + " (inputs)"), names, model.inputs)]
        n0 = len(arrays[0])
        for a, n in zip(arrays, names):
            if len(a) != n0:
                raise ValueError("Data cardinality is ambiguous: input %r has %d samples, input %r has %d"
                                 % (names[0], n0, n, len(a)))
        return Multi(arrays)
    return prepare_x(model, x, name)


def prepare_targets(model, y, n, name="y"):
    from . import outputs
    keys = outputs.keys(model)
    if keys is not None and y is not None:  # several outputs: Keras's rules for which take targets (outputs.py)
        return Multi([None if a is None else prepare_y(a, n, "%s[%r]" % (name, k))
                      for a, k in zip(outputs.per_output(model, y, name), keys)])
    return prepare_y(y, n, name)


def as_array(x, name, dtype=None):
    if x is None:
        return None
    if isinstance(x, Tensor):
        x = x.numpy()
    if isinstance(x, dict):
        raise ValueError("%s is a dict (keys %s), but this model has one input: pass an array (dicts are for "
                         "Functional models with named inputs)" % (name, sorted(map(str, x))))
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]) and hasattr(x[0], "shape"):
        raise ValueError("%s: lists of arrays are for multi-input Functional models; this model takes one array"
                         % name)
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except ValueError as e:  # NumPy's "inhomogeneous shape" for nested lists of different lengths
            raise ValueError("%s is a ragged nested list (rows of different lengths): pad it to one length "
                             "(keras.utils.pad_sequences) or pass a NumPy array. NumPy said: %s" % (name, e)) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s must be numeric, received an array of dtype %s" % (name, arr.dtype))
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


# rows per chunk when a whole dataset is checked or cast: bounded temporaries (~32 MiB), not a full-size copy
_CHUNK_BYTES = 32 << 20


def _chunks(a):
    row = max(1, int(np.prod(a.shape[1:], dtype=np.int64)) * max(a.dtype.itemsize, 4))
    step = max(1, _CHUNK_BYTES // row)
    return ((i, min(len(a), i + step)) for i in range(0, len(a), step))


class CastRows:
    """An integer or boolean dataset that the model reads as floats, cast one batch at a time: a 1.5 GiB
    uint8 image set is not copied into 6 GiB of float32 before the first batch. Slices stay lazy views;
    a gather (a shuffled batch) and `dense` return the cast array."""

    def __init__(self, array, dtype):
        self.array, self.dtype = array, np.dtype(dtype)

    def __len__(self):
        return len(self.array)

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return CastRows(self.array[idx], self.dtype)
        return backend.to_device(self.array[backend.to_numpy(idx)]).astype(self.dtype)

    def dense(self):
        """The whole array, cast on the backend's device chunk by chunk (no full-size host temporary)."""
        xp = backend.get_xp()
        out = xp.empty(self.array.shape, dtype=self.dtype)
        for lo, hi in _chunks(self.array):
            out[lo:hi] = xp.asarray(self.array[lo:hi]).astype(self.dtype)
        return out


def dense(batch):
    """A batch as the model reads it: CastRows cast, Multi's arrays each."""
    if isinstance(batch, CastRows):
        return batch.dense()
    if isinstance(batch, Multi) and any(isinstance(a, CastRows) for a in batch.arrays):
        return Multi([dense(a) for a in batch.arrays])
    return batch


def _checked_floats(xa, name, dtype):
    """xa as `dtype` floats, refusing NaN and inf; checked (and cast) in chunks, so the peak is the result
    plus one chunk, not the result plus full-size temporaries."""
    xp = backend.get_xp() if not isinstance(xa, np.ndarray) else np
    out = xa if xa.dtype == dtype else xp.empty(xa.shape, dtype=dtype)
    for lo, hi in _chunks(xa):
        src = xa[lo:hi]
        bad = ~xp.isfinite(src.reshape(hi - lo, -1)).all(axis=1)
        if bool(bad.any()):
            raise ValueError("%s contains NaN or inf values (first bad sample: index %d)"
                             % (name, lo + int(xp.argmax(bad))))
        if out is xa:
            continue
        with np.errstate(over="ignore"):
            out[lo:hi] = src
        bad = ~xp.isfinite(out[lo:hi].reshape(hi - lo, -1)).all(axis=1)
        if bool(bad.any()):
            i = lo + int(xp.argmax(bad))
            big = float(xp.abs(xa[i]).max())
            raise ValueError("%s holds values beyond the range of %s (sample %d: largest magnitude %.6g; %s's "
                             "largest is %.6g): the cast to the model's dtype makes them inf. Rescale the data"
                             % (name, np.dtype(dtype).name, i, big, np.dtype(dtype).name,
                                float(np.finfo(dtype).max)))
    return out


def prepare_x(model, x, name="x"):
    return _prepare_one(model, x, name, model._expected_input_shape(), model._declared_input_dtype())


def adjusted_rank(shape, ref):
    """Keras's Functional._adjust_input_rank: an input one axis short of `ref` gains a trailing axis when ref's
    last size is 1 ((N, 28, 28) for Input((28, 28, 1))), one axis long loses a trailing axis of size 1; the new
    shape, or None when the ranks already agree or cannot be reconciled."""
    if len(shape) == len(ref) + 1 and shape[-1] == 1:
        return tuple(shape[:-1])
    if len(shape) == len(ref) - 1 and ref[-1] == 1:
        return tuple(shape) + (1,)
    return None


def _prepare_one(model, x, name, expected, declared=None):
    xa = as_array(x, name)
    if xa is None:
        raise ValueError("%s is required" % name)
    if xa.ndim == 0:
        raise ValueError("%s must have a batch axis, received a scalar" % name)
    if expected is not None and adjusted_rank(xa.shape, expected) is not None:
        xa = xa.reshape(adjusted_rank(xa.shape, expected))
    if len(xa) == 0:
        raise ValueError("%s has no samples (shape %s): at least one is needed" % (name, tuple(xa.shape)))
    if declared is not None and np.dtype(declared).kind in "iu" and xa.dtype.kind in "iu":
        # integer ids for an integer Input stay integers: float32 holds integers exactly only up to 2^24
        if xa.dtype != np.dtype(declared):
            info = np.iinfo(declared)
            if xa.size and (xa.min() < info.min or xa.max() > info.max):
                raise ValueError("%s holds values outside the range of the model's %s input: [%s, %s]"
                                 % (name, declared, xa.min(), xa.max()))
            xa = xa.astype(declared)
    elif xa.dtype.kind in "biu":  # integers and booleans are finite: cast per batch, never as a whole
        xa = CastRows(xa, config.floatx())
    else:
        xa = _checked_floats(xa, name, np.dtype(config.floatx()))
    if expected is not None:
        got = (None,) + tuple(xa.shape[1:])
        if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected[1:], got[1:])):
            raise ValueError('Input 0 of model "%s" is incompatible: expected shape %s, but received input '
                             'with shape %s' % (model.name, tuple(expected), got))
    return np.ascontiguousarray(xa) if isinstance(xa, np.ndarray) else xa


def prepare_y(y, n, name="y"):
    ya = as_array(y, name)
    if ya is None:
        return None
    if ya.ndim == 0:
        raise ValueError("%s must hold one entry per sample (%d), received the scalar %r" % (name, n, y))
    if len(ya) != n:
        raise ValueError("Data cardinality is ambiguous: x has %d samples but %s has %d. Make sure all arrays "
                         "contain the same number of samples." % (n, name, len(ya)))
    if ya.dtype.kind == "f":
        _checked_floats(ya, name, ya.dtype)
    return ya


def split_validation(arrays, validation_split):
    """Keras: the last `validation_split` fraction, taken before any shuffling."""
    return split_validation_struct(arrays, validation_split)


def unpack_validation_data(validation_data):
    if isinstance(validation_data, (list, tuple)):
        if len(validation_data) == 2:
            return validation_data[0], validation_data[1], None
        if len(validation_data) == 3:
            return tuple(validation_data)
    raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                     "received %r" % (type(validation_data).__name__,))


def split_validation_struct(structs, validation_split):
    """The last `validation_split` fraction of each array in structs (arrays, dicts/lists of arrays or
    None), the same rows everywhere."""
    leaves = []

    def walk(s):
        if isinstance(s, dict):
            for v in s.values():
                walk(v)
        elif isinstance(s, (list, tuple)):
            for v in s:
                walk(v)
        elif s is not None:
            leaves.append(s)
    for s in structs:
        walk(s)
    if not leaves:
        raise ValueError("validation_split needs arrays to split")
    if not 0 < validation_split < 1:
        raise ValueError("validation_split must be in (0, 1), received %r" % (validation_split,))
    n = len(leaves[0])
    at = int(math.floor(n * (1.0 - validation_split)))
    if at == 0 or at == n:
        raise ValueError("validation_split=%r leaves an empty training or validation set for %d samples"
                         % (validation_split, n))

    def cut(s, part):
        if isinstance(s, dict):
            return {k: cut(v, part) for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            return type(s)(cut(v, part) for v in s)
        return None if s is None else (s[:at] if part == 0 else s[at:])
    return [cut(s, 0) for s in structs], [cut(s, 1) for s in structs]
