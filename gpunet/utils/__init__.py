"""`keras.utils` equivalents."""
import random as _pyrandom

import numpy as np

from .. import random as _random
from .naming import clear_session  # noqa: F401
from .dataset import PyDataset  # noqa: F401
from .dataset import PyDataset as Sequence  # noqa: F401  (Keras 2's name)
from .file_utils import get_file  # noqa: F401
from .image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .sequence_utils import pad_sequences  # noqa: F401
from .progbar import Progbar  # noqa: F401


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


def register_keras_serializable(package="Custom", name=None):
    from ..saving.serialization import register_keras_serializable as reg
    return reg(package, name)


def get_registered_name(obj):
    from ..saving.serialization import get_registered_name as g
    return g(obj) or getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    from ..saving.serialization import get_registered_object as g
    return g(name, custom_objects) or (module_objects or {}).get(name)


def get_custom_objects():
    from ..saving.serialization import _REGISTERED
    return _REGISTERED


class CustomObjectScope:
    """Within the `with` block, these names resolve when a model is loaded (Keras's custom_object_scope)."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})
        self._saved = None

    def __enter__(self):
        from ..saving import serialization
        self._saved = dict(serialization._REGISTERED)
        serialization._REGISTERED.update(self.custom_objects)
        return self

    def __exit__(self, *exc):
        from ..saving import serialization
        serialization._REGISTERED.clear()
        serialization._REGISTERED.update(self._saved)
        return False


custom_object_scope = CustomObjectScope


def serialize_keras_object(obj):
    """The {"module", "class_name", "config", "registered_name"} dict Keras writes for an object."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    from ..saving.serialization import get_registered_name as reg
    if not hasattr(obj, "get_config"):
        if callable(obj) and getattr(obj, "__name__", None):
            return obj.__name__
        raise TypeError("Cannot serialize %r: it has no get_config()" % (obj,))
    return {"module": type(obj).__module__.replace("gpunet", "keras"), "class_name": type(obj).__name__,
            "config": obj.get_config(), "registered_name": reg(obj)}


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a serialize_keras_object dict (or a name) describes: registered, custom or built in. Names are
    looked up in gpunet's tables only (saving/serialization.py), never as attributes of a module; a Python
    lambda is refused unless safe_mode=False, as in Keras."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    from ..saving import safety, serialization
    if isinstance(config, str):
        found = serialization.get_registered_object(config, custom_objects)
        if found is None:
            found = serialization.builtin_functions().get(config)
        if found is None:
            raise ValueError("Could not interpret serialized object %r" % (config,))
        return found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if not isinstance(config, dict):
        raise TypeError("Could not parse config: %r" % (config,))
    from ..saving.saving_lib import SavingError
    with safety.SafeModeScope(safe_mode):
        problem = safety.check_object(config, custom_objects) if "class_name" in config else None
        if problem:
            raise SavingError("Could not deserialize %s: %s" % (safety.describe(config), problem))
        name = config.get("class_name")
        if name == "__lambda__":
            from ..layers.misc import _func_load
            value = (config.get("config") or {}).get("value")  # Keras's func_dump triple: code, defaults, closure
            if not (isinstance(value, (list, tuple)) and len(value) == 3):
                raise SavingError("a serialized lambda must hold [code, defaults, closure], received %r" % (value,))
            return _func_load({"code": value[0], "defaults": value[1], "closure": value[2]})
        if name == "function":
            fn = config.get("config")
            return serialization.get_registered_object(fn, custom_objects) or serialization.builtin_functions()[fn]
        cls = (serialization.get_registered_object(config.get("registered_name") or name, custom_objects)
               or serialization.get_registered_object(name, custom_objects)
               or serialization.builtin_classes().get(name))
        if cls is None:
            raise ValueError("Could not locate class %r. Make sure custom classes are decorated with "
                             "`@gpunet.saving.register_keras_serializable()` or passed in custom_objects." % (name,))
        return cls.from_config(config.get("config", {}))


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
