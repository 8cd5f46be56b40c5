"""`keras.utils` equivalents."""
import random as _pyrandom

import numpy as np

from .. import random as _random
from ..common.dataset import PyDataset  # noqa: F401
from ..common.dataset import PyDataset as Sequence  # noqa: F401  (Keras 2's name)
from ..common.naming import clear_session  # noqa: F401
from ..common.progbar import Progbar  # noqa: F401
from ..saving.objects import (CustomObjectScope, custom_object_scope, deserialize_keras_object,  # noqa: F401
                              get_custom_objects, get_registered_name, get_registered_object,
                              register_keras_serializable, serialize_keras_object)
from .file_utils import get_file  # noqa: F401
from .image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .sequence_utils import pad_sequences  # noqa: F401
from . import legacy  # noqa: F401  (keras.utils.legacy: Keras 2's serialization)
from .model_visualization import model_to_dot, plot_model  # noqa: F401


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    from ..training.batches import pack
    return pack(x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    from ..training.batches import unpack
    return unpack(data)


def to_categorical(x, num_classes=None):
    """One-hot encodes integer labels: shape (..., num_classes), float32 (Keras's defaults)."""
    y = np.asarray(x)
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(np.floor(y) == y)):
        raise ValueError("to_categorical expects integer class labels, received dtype %s" % y.dtype)
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise ValueError("to_categorical: labels must be non-negative, received %d" % y.min())
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError("to_categorical: label %d is out of range for num_classes=%d" % (y.max(), num_classes))
    out = np.zeros(y.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(out, y[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed):
    """Seeds Python's, NumPy's and gpunet's random streams (weights, shuffling, dropout)."""
    if not isinstance(seed, (int, np.integer)):
        raise ValueError("set_random_seed expects an integer, received %r" % (seed,))
    _pyrandom.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _random.set_seed(int(seed))


def normalize(x, axis=-1, order=2):
    """x divided by its `order`-norm along axis (NumPy arrays in and out, as keras.utils.normalize)."""
    arr = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(arr, order, axis))
    norm[norm == 0] = 1
    return arr / np.expand_dims(norm, axis)


def is_keras_tensor(x):
    from ..ops.symbolic import KerasTensor
    return isinstance(x, KerasTensor)


def standardize_dtype(dtype):
    return str(np.dtype(getattr(dtype, "name", dtype)))


def get_source_inputs(tensor):
    """The Input tensors a symbolic tensor was computed from."""
    from ..ops.symbolic import KerasTensor
    if not isinstance(tensor, KerasTensor):
        raise ValueError("get_source_inputs expects a KerasTensor, received %r" % (tensor,))
    out, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._history is None or t._history[2] is None:
            out.append(t)
        else:
            stack.extend(reversed(t._history[1]))
    return out


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Splits arrays (or a tuple/dict of arrays sharing the first axis) in two, as Keras does for arrays:
    sizes as fractions (floats) or counts (ints); the other side takes the rest."""
    leaves = list(dataset.values()) if isinstance(dataset, dict) else (
        list(dataset) if isinstance(dataset, (list, tuple)) else [dataset])
    n = len(leaves[0])
    if any(len(a) != n for a in leaves):
        raise ValueError("split_dataset: all arrays must have the same length")

    def count(size):
        if size is None:
            return None
        if isinstance(size, float):
            if not 0 < size < 1:
                raise ValueError("A float size must be in (0, 1), received %r" % (size,))
            return int(round(size * n))
        if isinstance(size, (int, np.integer)) and 0 < size <= n:
            return int(size)
        raise ValueError("Invalid size %r for a dataset of %d samples" % (size, n))
    left, right = count(left_size), count(right_size)
    if left is None and right is None:
        raise ValueError("you must specify either `left_size` or `right_size`, received both None")
    left = n - right if left is None else left
    right = n - left if right is None else right
    if left + right > n:
        raise ValueError("The sum of left_size and right_size (%d) exceeds the dataset size %d" % (left + right, n))
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    li, ri = order[:left], order[left:left + right]

    def take(idx):
        if isinstance(dataset, dict):
            return {k: np.asarray(v)[idx] for k, v in dataset.items()}
        if isinstance(dataset, (list, tuple)):
            return tuple(np.asarray(a)[idx] for a in dataset)
        return np.asarray(dataset)[idx]
    return take(li), take(ri)


def disable_interactive_logging():
    from .. import config
    config.disable_interactive_logging()


def enable_interactive_logging():
    from .. import config
    config.enable_interactive_logging()


def is_interactive_logging_enabled():
    from .. import config
    return config.is_interactive_logging_enabled()
