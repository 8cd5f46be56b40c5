"""What Layer.__call__ leans on besides the layer itself: Keras's InputSpec, the masks that ride on tensors
(`_keras_mask`), the extra call arguments, and the metric state a shape probe undoes."""
import inspect

import numpy as np

from .. import backend
from ..ops.tape import Tensor, Variable


class InputSpec:
    """Keras's InputSpec: what a layer accepts (dtype, rank, sizes of given axes); checked on call."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype, self.shape, self.ndim, self.max_ndim, self.min_ndim = dtype, shape, ndim, max_ndim, min_ndim
        self.axes = dict(axes or {})
        self.allow_last_axis_squeeze, self.name, self.optional = allow_last_axis_squeeze, name, optional
        if shape is not None:
            self.ndim = len(shape)

    def get(self, key, default=None):  # the dict spelling Layer._check_input reads
        return {"min_ndim": self.min_ndim if self.min_ndim is not None else self.ndim or 0,
                "axes": self.axes}.get(key, default)

    def __bool__(self):
        return True


def _mask_of(x):
    t = type(x)
    return x._keras_mask if t is not list and t is not dict else (_list_mask(x) if t is list else None)


def _list_mask(xs):
    masks = [i._keras_mask for i in xs]
    return None if all(m is None for m in masks) else masks


def _call_params(fn):
    """call()'s parameter names after self, in order."""
    try:
        return tuple(inspect.signature(fn).parameters)[1:]
    except (TypeError, ValueError):
        return ()


def _mask_params(fn):
    """call()'s parameters Keras fills with masks: `mask` and `<tensor argument>_mask`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(p for p in params if p == "mask" or p.endswith("_mask") and p != "attention_mask")


_warned_masks = set()


def _warn_mask_dropped(layer):
    key = type(layer)
    if key not in _warned_masks:
        _warned_masks.add(key)
        import warnings
        warnings.warn("Layer '%s' (of type %s) was passed an input with a mask attached to it. However, this layer "
                      "does not support masking and will therefore destroy the mask information. Downstream layers "
                      "will not see the mask." % (layer.name, type(layer).__name__), stacklevel=3)


def _as_tensor(v):
    """Extra call arguments: arrays become Tensors (Keras converts them), anything else is kept."""
    if isinstance(v, np.ndarray) or (hasattr(v, "__cuda_array_interface__") and not isinstance(v, Tensor)):
        return Tensor(backend.get_xp().asarray(v))
    return v


def _snapshot_metrics(layer):
    saved = []
    for m in layer.metrics:
        state = {("var", i): (v, v.data.copy()) for i, v in enumerate(getattr(m, "_variables", []))}
        for k, v in m.__dict__.items():
            if isinstance(v, Variable):
                state[k] = (v, v.data.copy())
            elif hasattr(v, "copy") and hasattr(v, "dtype"):
                state[k] = v.copy()
            else:
                state[k] = v
        saved.append((m, state))
    return saved


def _restore_metrics(saved):
    for m, state in saved:
        for k, v in state.items():
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], Variable):
                v[0].data[...] = v[1]
            else:
                m.__dict__[k] = v
