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
        return len(self.arrays[0])

    def __getitem__(self, idx):
        return Multi([a[idx] for a in self.arrays])

    @property
    def shape(self):
        return self.arrays[0].shape

    @property
    def dtype(self):
        return self.arrays[0].dtype


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
    names = getattr(model, "output_names", None)
    if names is not None and len(names) > 1:
        if not _is_structure(y):
            raise ValueError('Model "%s" has %d outputs %s: pass a list or a dict of target arrays as %s'
                             % (model.name, len(names), names, name))
        return Multi([prepare_y(a, n, "%s[%r]" % (name, o)) for a, o in zip(_ordered(y, names, name + " (outputs)"),
                                                                            names)])
    return prepare_y(y, n, name)


def as_array(x, name, dtype=None):
    if x is None:
        return None
    if isinstance(x, Tensor):
        x = x.numpy()
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]) and hasattr(x[0], "shape"):
        raise ValueError("%s: lists of arrays are for multi-input Functional models; this model takes one array"
                         % name)
    arr = x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s must be numeric, received an array of dtype %s" % (name, arr.dtype))
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def prepare_x(model, x, name="x"):
    return _prepare_one(model, x, name, model._expected_input_shape(), _declared_dtype(model))


def _declared_dtype(model):
    """The integer dtype of a single Input(dtype="int32"/"int64") that only Embeddings read (token ids, kept
    exact: float32 holds integers only up to 2^24), else None (the data become floatx)."""
    from ..layers.embedding import Embedding
    from .sequential import Sequential
    if isinstance(model, Sequential):
        layer = model._input_layer
        first = model.layers[0] if model.layers else None
        dtype = getattr(layer, "dtype", None)
        return dtype if dtype and isinstance(first, Embedding) else None
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        return None
    readers = [op for op, parents, _, _ in getattr(model, "_nodes", []) if any(p is inputs[0] for p in parents)]
    return inputs[0].dtype if readers and all(isinstance(op, Embedding) for op in readers) else None


def _prepare_one(model, x, name, expected, declared=None):
    xa = as_array(x, name)
    if xa is None:
        raise ValueError("%s is required" % name)
    if xa.ndim == 0:
        raise ValueError("%s must have a batch axis, received a scalar" % name)
    if declared is not None and np.dtype(declared).kind in "iu" and xa.dtype.kind in "iu":
        # integer ids for an integer Input stay integers: float32 holds integers exactly only up to 2^24
        if xa.dtype != np.dtype(declared):
            info = np.iinfo(declared)
            if xa.size and (xa.min() < info.min or xa.max() > info.max):
                raise ValueError("%s holds values outside the range of the model's %s input: [%s, %s]"
                                 % (name, declared, xa.min(), xa.max()))
            xa = xa.astype(declared)
    elif xa.dtype != np.dtype(config.floatx()):
        xa = xa.astype(config.floatx())  # one cast for the whole dataset, not one per batch
    if xa.dtype.kind == "f":
        bad = ~np.isfinite(backend.to_numpy(xa).reshape(len(xa), -1)).all(axis=1)
        if bad.any():
            raise ValueError("%s contains NaN or inf values (first bad sample: index %d)" % (name, int(np.argmax(bad))))
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
    if len(ya) != n:
        raise ValueError("Data cardinality is ambiguous: x has %d samples but %s has %d. Make sure all arrays "
                         "contain the same number of samples." % (n, name, len(ya)))
    if ya.dtype.kind == "f" and not np.isfinite(backend.to_numpy(ya)).all():
        raise ValueError("%s contains NaN or inf values" % name)
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
