"""`keras.utils` equivalents."""
import random as _pyrandom

import numpy as np

from .. import random as _random
from .naming import clear_session  # noqa: F401
from .dataset import PyDataset  # noqa: F401
from .progbar import Progbar  # noqa: F401


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    from ..models.keras_loop import pack
    return pack(x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    from ..models.keras_loop import unpack
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
