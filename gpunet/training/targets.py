"""The targets and weights fit/evaluate hand to the loss, checked against the model before the first step:
class weights as per-sample weights, sample-weight shapes, sparse labels' shape and range, one-hot shapes."""
import math

import numpy as np

from .. import losses as losses_mod
from . import data as data_mod, outputs


def class_weights(class_weight, y, sw):
    """Keras: class_weight becomes a per-sample weight (times any sample_weight given); classes it does not
    name weigh 1. Keys must be class indices: a negative one used to index the table from its end."""
    if class_weight is None:
        return sw
    if not isinstance(class_weight, dict):
        raise TypeError("class_weight must be a dict {class index: weight}, received %r" % (type(class_weight),))
    if isinstance(y, data_mod.Multi):
        raise ValueError("class_weight is only supported for models with a single output; pass sample_weight "
                         "for a model with several")
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError("class_weight keys must be integer class indices, received %r (%s)" % (k, type(k).__name__))
        if k < 0:
            raise ValueError("class_weight keys must be class indices >= 0, received %r" % (k,))
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v < 0:
            raise ValueError("class_weight[%r] must be a finite number >= 0, received %r" % (k, v))
        if v > np.finfo(np.float32).max:  # the weights are float32: it would become inf, and the loss NaN
            raise ValueError("class_weight[%r] = %r overflows float32 (largest %.4g): the loss would be inf"
                             % (k, v, np.finfo(np.float32).max))
    if y.ndim > 1 and y.shape[-1] > 1:
        labels = y.argmax(axis=-1)
    else:
        labels = np.round(y.reshape(y.shape[:-1]) if y.ndim > 1 else y).astype(np.int64)
    table = np.ones(int(max(max(class_weight, default=0), labels.max(initial=0))) + 1, dtype=np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    # a negative label is refused by the label checks later: weigh it 1 here rather than index from the end
    cw = np.where(labels >= 0, table[np.clip(labels, 0, None)], np.float32(1.0))
    return cw if sw is None else sw.astype(np.float32) * cw


def class_weight_to_sample_weights(y, class_weight):
    """Keras's public form of the above (keras.src...data_adapter_utils, which KerasHub's pipelines call): one
    float weight per sample of the label array y (class indices, or one-hot rows), classes not named weighing 1."""
    from .. import backend
    y = np.asarray(backend.to_numpy(y.data if hasattr(y, "data") else y))
    if y.ndim == 0:
        raise ValueError("class_weight_to_sample_weights: y must hold one label per sample, received a scalar %r"
                         % (y,))
    return class_weights(class_weight, y, None).astype(backend.floatx())


def check_sample_weight(model, sw, y, name="sample_weight"):
    """Keras takes one weight per sample, or for sequence outputs one per sample and timestep."""
    if sw is None:
        return
    n = len(sw)
    ok = [(n,), (n, 1)]
    if not isinstance(y, data_mod.Multi):
        ok.append((n,) + tuple(model._output_shape())[1:-1])
    if tuple(sw.shape) not in ok:
        raise ValueError("%s has shape %s; expected %s (one weight per sample%s)"
                         % (name, tuple(sw.shape), " or ".join(str(s) for s in dict.fromkeys(ok)),
                            ", or per sample and timestep" if len(ok) > 2 and len(ok[2]) > 1 else ""))


def sparse_targets(y, out_shape, where):
    """Keras's rule for sparse_categorical_crossentropy: targets shaped as the output without its class
    axis (a trailing axis of 1 is squeezed), integer labels in range. One-hot targets fail here, up front."""
    y2 = y.reshape(y.shape[:-1]) if y.ndim == len(out_shape) and y.shape[-1] == 1 else y
    expected = (len(y),) + tuple(out_shape[1:-1])
    if tuple(y2.shape) != expected:
        raise ValueError("%s: arguments `target` and `output` must have the same shape up until the last dimension: "
                         "target.shape=%s, output.shape=%s (one-hot targets need categorical_crossentropy)"
                         % (where, tuple(y.shape), (None,) + tuple(out_shape[1:])))
    losses_mod.check_sparse_labels(y2, out_shape[-1], where)
    return y2


def labels_for(plan, model, y):
    if y is None:
        return y
    if plan.multi:  # every output's targets checked now, not when its batch comes up mid-epoch
        for lf, t, o, n in zip(plan.out_losses, y.arrays, model.outputs, outputs.keys(model)):
            if t is None:
                continue
            fn = getattr(lf, "fn", None)
            if fn is losses_mod.sparse_categorical_crossentropy:
                sparse_targets(t, tuple(o.shape), "output %r (sparse_categorical_crossentropy)" % n)
            elif fn is losses_mod.categorical_crossentropy and tuple(t.shape[1:]) != tuple(o.shape[1:]):
                raise ValueError("output %r (categorical_crossentropy) expects one-hot targets of shape %s, received "
                                 "%s" % (n, (None,) + tuple(o.shape[1:]), tuple(t.shape)))
        return y
    out_shape = tuple(model._output_shape())
    if plan.sparse:
        y2 = sparse_targets(y, out_shape, "sparse_categorical_crossentropy")
        return y2.astype(np.int32) if plan.fused else y2
    if plan.fused:
        expected = (len(y),) + out_shape[1:]
        if len(y.shape) != len(expected) or any(e is not None and e != g for e, g in zip(expected, y.shape)):
            raise ValueError("categorical_crossentropy expects one-hot targets of shape %s, received %s "
                             "(integer labels need sparse_categorical_crossentropy)" % (expected, y.shape))
    return y
