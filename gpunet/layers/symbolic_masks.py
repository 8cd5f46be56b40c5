"""Masks on symbolic tensors: a layer called on KerasTensors gives its outputs the `_keras_mask` Keras gives them
(the masking guide prints it), worked out by the layer's own compute_mask on the symbolic inputs, so the ops it
uses (`not_equal`, `any`) become graph nodes as in Keras. Metadata only: a model's real masks are computed from
the data when it runs."""
from ..ops.symbolic import KerasTensor


def _mask_of(x):
    if isinstance(x, (list, tuple)):
        masks = [getattr(i, "_keras_mask", None) for i in x]
        return None if all(m is None for m in masks) else masks
    return getattr(x, "_keras_mask", None)


def attach(layer, args, kwargs, outs):
    """Sets `_keras_mask` on the KerasTensor(s) `outs` of one symbolic call of `layer`."""
    prev = kwargs.get("mask") if isinstance(kwargs.get("mask"), KerasTensor) else _mask_of(args[0])
    if not layer.supports_masking or (prev is None and not layer._produces_mask()):
        return
    try:
        masks = layer.compute_mask(args[0], prev)
    except Exception:  # a compute_mask that needs real values: the symbolic tensor goes without, as before
        return
    flat = outs if isinstance(outs, list) else [outs]
    masks = masks if isinstance(masks, (list, tuple)) else [masks] * len(flat)
    for o, m in zip(flat, masks):
        if isinstance(m, KerasTensor):
            o._keras_mask = m
