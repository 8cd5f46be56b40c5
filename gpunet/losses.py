"""Keras losses: per-sample functions and classes that reduce with `sum_over_batch_size`."""
import numpy as np

from . import backend, config, ops
from .ops.tape import Tensor
from .common import registry
from .common.registry import lookup


def _pred(y_pred):
    return ops.convert_to_tensor(y_pred)


def _true(y_true, y_pred):
    y = ops.stop_gradient(ops.convert_to_tensor(y_true))
    if y.dtype != y_pred.dtype:
        y = Tensor(y.data.astype(y_pred.dtype))
    # Keras's squeeze_or_expand_to_same_rank for (N,) labels against (N, 1) predictions
    if y.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y = ops.expand_dims(y, -1)
    elif y.ndim == y_pred.ndim + 1 and y.shape[-1] == 1:
        y = ops.squeeze(y, -1)
    return y


def mean_squared_error(y_true, y_pred):
    y_pred = _pred(y_pred)
    return ops.mean(ops.square(ops.subtract(_true(y_true, y_pred), y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_pred = _pred(y_pred)
    return ops.mean(ops.abs(ops.subtract(_true(y_true, y_pred), y_pred)), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    y_pred = _pred(y_pred)
    err = ops.subtract(y_pred, _true(y_true, y_pred))
    a = ops.abs(err)
    quad = ops.multiply(0.5, ops.square(err))
    lin = ops.subtract(ops.multiply(delta, a), 0.5 * delta * delta)
    return ops.mean(ops.where(ops.less_equal(a, delta), quad, lin), axis=-1)


def kl_divergence(y_true, y_pred):
    y_pred = _pred(y_pred)
    eps = config.epsilon()
    t = ops.clip(_true(y_true, y_pred), eps, 1.0)
    p = ops.clip(y_pred, eps, 1.0)
    return ops.sum(ops.multiply(t, ops.log(ops.divide(t, p))), axis=-1)


def check_label_smoothing(value):
    """label_smoothing mixes the targets with the uniform distribution: a weight outside [0, 1] (or NaN) makes
    targets that are not probabilities, and training can only diverge."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError("label_smoothing must be a number in [0, 1], received %r" % (value,))
    return value


def _binary_inputs(y_true, y_pred, from_logits, label_smoothing):
    """Probabilities and targets of the binary losses: targets smoothed towards 0.5, logits squashed."""
    check_label_smoothing(label_smoothing)
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    if label_smoothing:
        t = ops.add(ops.multiply(t, 1.0 - label_smoothing), 0.5 * label_smoothing)
    return (ops.sigmoid(y_pred) if from_logits else y_pred), t


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred, t = _binary_inputs(y_true, y_pred, from_logits, label_smoothing)
    eps = config.epsilon()
    p = ops.clip(y_pred, eps, 1.0 - eps)
    bce = ops.add(ops.multiply(t, ops.log(p)), ops.multiply(ops.subtract(1.0, t), ops.log(ops.subtract(1.0, p))))
    return ops.negative(ops.mean(bce, axis=axis))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    check_label_smoothing(label_smoothing)
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    if tuple(t.shape) != tuple(y_pred.shape):
        raise ValueError("categorical_crossentropy: y_true must be one-hot with the shape of y_pred %s, "
                         "received %s (integer labels need sparse_categorical_crossentropy)"
                         % (tuple(y_pred.shape), tuple(t.shape)))
    if from_logits:
        return ops.softmax_cross_entropy(t, y_pred, sparse=False, label_smoothing=label_smoothing)
    if label_smoothing:
        t = ops.add(ops.multiply(t, 1.0 - label_smoothing), label_smoothing / y_pred.shape[-1])
    eps = config.epsilon()
    p = ops.clip(ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True)), eps, 1.0 - eps)
    return ops.negative(ops.sum(ops.multiply(t, ops.log(p)), axis=axis))


def check_sparse_labels(y, num_classes, where="sparse_categorical_crossentropy"):
    """Integer labels must lie in [0, num_classes); say so instead of returning garbage."""
    y = backend.to_numpy(y.data if isinstance(y, Tensor) else y)
    if y.size == 0:
        return
    if y.dtype.kind == "f" and not np.all(np.floor(y) == y):
        raise ValueError("%s: labels must be integers, received non-integer values such as %r"
                         % (where, y[np.floor(y) != y].flat[0]))
    lo, hi = y.min(), y.max()
    if lo < 0 or hi >= num_classes:
        raise ValueError("%s: labels must be in [0, %d) for %d output classes, received labels in [%s, %s]"
                         % (where, num_classes, num_classes, lo, hi))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    y_pred = _pred(y_pred)
    labels = ops.convert_to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, -1)
    if tuple(labels.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError("sparse_categorical_crossentropy: y_true must have shape %s (one integer label per "
                         "sample), received %s" % (tuple(y_pred.shape[:-1]), tuple(labels.shape)))
    if ignore_class is not None:
        raise NotImplementedError("ignore_class is not supported by gpunet")
    check_sparse_labels(labels, y_pred.shape[-1])
    if from_logits:
        return ops.softmax_cross_entropy(labels, y_pred, sparse=True)
    eps = config.epsilon()
    p = ops.clip(ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True)), eps, 1.0 - eps)
    onehot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return ops.negative(ops.sum(ops.multiply(onehot, ops.log(p)), axis=axis))


def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduce_weighted_values: weights multiply, then sum / number of elements."""
    if sample_weight is not None:
        sw = ops.convert_to_tensor(sample_weight)
        sw = Tensor(backend.get_xp().asarray(sw.data, dtype=values.dtype))
        while sw.ndim < values.ndim:
            sw = ops.expand_dims(sw, -1)
        while sw.ndim > values.ndim and sw.shape[-1] == 1:
            sw = ops.squeeze(sw, -1)
        values = ops.multiply(values, sw)
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return ops.divide(total, max(float(ops.sum(sw).data), 1e-12))
    return ops.divide(total, max(values.size, 1))


def apply_mask(sample_weight, mask, reduction):
    """Keras's apply_mask: the mask of y_pred folded into the sample weights (see Loss.__call__)."""
    if mask is None:
        return sample_weight
    xp = backend.get_xp()
    m = (mask.data if isinstance(mask, Tensor) else xp.asarray(mask)).astype(bool)
    if reduction in ("mean", "sum_over_batch_size"):  # total/valid, 0 when nothing is valid: no host read
        valid = m.sum(dtype=config.floatx())
        scale = xp.where(valid > 0, m.size / xp.maximum(valid, 1), 0).astype(config.floatx())
        w = xp.where(m, scale, 0).astype(config.floatx())
    else:
        w = m.astype(config.floatx())
    if sample_weight is None:
        return w
    sw = xp.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight, dtype=w.dtype)
    while sw.ndim < w.ndim:
        sw = sw[..., None]
    while sw.ndim > w.ndim and sw.shape[-1] == 1:
        sw = sw[..., 0]
    return sw * w


def _full_precision(t):
    """A float16/bfloat16 tensor (a mixed-precision model's output) as float32: Keras's losses compute in the loss
    dtype, float32, whatever the model computed in."""
    dt = getattr(t, "dtype", None)
    if dt is not None and getattr(dt, "name", str(dt)) in ("float16", "bfloat16"):
        from . import ops
        mask = getattr(t, "_keras_mask", None)
        t = ops.cast(t, "float32")
        if mask is not None:
            t._keras_mask = mask
    return t


class Loss:
    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight"):
            raise ValueError("Invalid loss reduction %r; expected sum_over_batch_size, sum, mean, "
                             "mean_with_sample_weight or none" % (reduction,))
        self.name = name or type(self).__name__
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras: a mask on the predictions (padded timesteps) weighs those entries 0 and, for the mean
        # reductions, the rest total/valid, so the loss is the mean over the real timesteps only
        sample_weight = apply_mask(sample_weight, getattr(y_pred, "_keras_mask", None), self.reduction)
        y_true, y_pred = _full_precision(y_true), _full_precision(y_pred)
        return reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(self.fn_kwargs)
        return cfg


def _loss_class(cls_name, fn, default_name, params):
    def __init__(self, *args, reduction="sum_over_batch_size", name=default_name, dtype=None, **kwargs):
        opts = dict(params)
        for k, v in zip(params, args):
            opts[k] = v
        for k, v in kwargs.items():
            if k not in params:
                raise TypeError("%s got an unexpected keyword argument %r" % (cls_name, k))
            opts[k] = v
        if "label_smoothing" in opts:  # refused when the loss is made, not at the first batch
            check_label_smoothing(opts["label_smoothing"])
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype, **opts)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
    return type(cls_name, (LossFunctionWrapper,), {"__init__": __init__, "from_config": from_config})


def mean_absolute_percentage_error(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(t, y_pred), ops.maximum(ops.abs(t), config.epsilon())))
    return ops.multiply(100.0, ops.mean(diff, axis=-1))


def mean_squared_logarithmic_error(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    eps = config.epsilon()
    a = ops.log(ops.add(ops.maximum(y_pred, eps), 1.0))
    b = ops.log(ops.add(ops.maximum(t, eps), 1.0))
    return ops.mean(ops.square(ops.subtract(a, b)), axis=-1)


def _signed(t):
    """Keras's hinge losses take 0/1 labels as -1/1."""
    return ops.where(ops.equal(t, 0), -1.0, t) if bool(((t.data == 0) | (t.data == 1)).all()) else t


def hinge(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _signed(_true(y_true, y_pred))
    return ops.mean(ops.maximum(ops.subtract(1.0, ops.multiply(t, y_pred)), 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _signed(_true(y_true, y_pred))
    return ops.mean(ops.square(ops.maximum(ops.subtract(1.0, ops.multiply(t, y_pred)), 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    pos = ops.sum(ops.multiply(t, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, t), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


def log_cosh(y_true, y_pred):
    y_pred = _pred(y_pred)
    x = ops.subtract(y_pred, _true(y_true, y_pred))
    return ops.mean(ops.subtract(ops.add(x, ops.softplus(ops.multiply(-2.0, x))), float(np.log(2.0))), axis=-1)


def poisson(y_true, y_pred):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(t, ops.log(ops.add(y_pred, config.epsilon())))), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(ops.normalize(t, axis=axis), ops.normalize(y_pred, axis=axis)), axis=axis))


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    y_pred, t = _binary_inputs(y_true, y_pred, from_logits, label_smoothing)
    bce = ops.binary_crossentropy(t, y_pred)
    p_t = ops.add(ops.multiply(t, y_pred), ops.multiply(ops.subtract(1.0, t), ops.subtract(1.0, y_pred)))
    focal = ops.multiply(ops.power(ops.subtract(1.0, p_t), gamma), bce)
    if apply_class_balancing:
        focal = ops.multiply(ops.add(ops.multiply(t, alpha), ops.multiply(ops.subtract(1.0, t), 1.0 - alpha)), focal)
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    check_label_smoothing(label_smoothing)
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    if label_smoothing:
        t = ops.add(ops.multiply(t, 1.0 - label_smoothing), label_smoothing / t.shape[-1])
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    eps = config.epsilon()
    out = ops.clip(ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True)), eps, 1.0 - eps)
    cce = ops.multiply(ops.negative(t), ops.log(out))
    focal = ops.multiply(ops.multiply(ops.power(ops.subtract(1.0, out), gamma), alpha), cce)
    return ops.sum(focal, axis=axis)


def dice(y_true, y_pred, axis=None):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    inter = ops.sum(ops.multiply(t, y_pred), axis=axis)
    d = ops.divide(ops.multiply(2.0, inter), ops.add(ops.add(ops.sum(t, axis=axis), ops.sum(y_pred, axis=axis)),
                                                     config.epsilon()))
    return ops.subtract(1.0, d)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    inter = ops.sum(ops.multiply(t, y_pred), axis=axis)
    fp = ops.sum(ops.multiply(ops.subtract(1.0, y_pred), t), axis=axis)
    fn = ops.sum(ops.multiply(y_pred, ops.subtract(1.0, t)), axis=axis)
    tv = ops.divide(inter, ops.add(ops.add(ops.add(inter, ops.multiply(fp, alpha)), ops.multiply(fn, beta)),
                                   config.epsilon()))
    return ops.subtract(1.0, tv)


BinaryFocalCrossentropy = _loss_class("BinaryFocalCrossentropy", binary_focal_crossentropy, "binary_focal_crossentropy",
                                      {"apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0,
                                       "from_logits": False, "label_smoothing": 0.0, "axis": -1})
CategoricalFocalCrossentropy = _loss_class("CategoricalFocalCrossentropy", categorical_focal_crossentropy,
                                           "categorical_focal_crossentropy",
                                           {"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0,
                                            "axis": -1})
def ctc(y_true, y_pred):
    """Keras's CTC loss: y_true (batch, max_label) integer labels, 0 the blank and padding; y_pred
    (batch, frames, classes) logits, every frame real."""
    if len(ops.shape(y_true)) != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in integer "
                         "format. Received: y_true.shape=%s" % (tuple(ops.shape(y_true)),))
    if len(ops.shape(y_pred)) != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         "num_classes)`. Received: y_pred.shape=%s" % (tuple(ops.shape(y_pred)),))
    labels = np.asarray(backend.to_numpy(y_true.data if isinstance(y_true, Tensor) else y_true))
    frames = np.full((int(y_pred.shape[0]),), int(y_pred.shape[1]), dtype=np.int64)
    return ops.ctc_loss(labels.astype(np.int64), y_pred, (labels != 0).sum(axis=-1), frames, mask_index=0)


Dice = _loss_class("Dice", dice, "dice", {"axis": None})
CTC = _loss_class("CTC", ctc, "ctc", {})
Tversky = _loss_class("Tversky", tversky, "tversky", {"alpha": 0.5, "beta": 0.5, "axis": None})
MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, "mean_squared_error", {})
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                          "mean_absolute_percentage_error", {})
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "mean_squared_logarithmic_error", {})
Hinge = _loss_class("Hinge", hinge, "hinge", {})
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "squared_hinge", {})
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "categorical_hinge", {})
LogCosh = _loss_class("LogCosh", log_cosh, "log_cosh", {})
Poisson = _loss_class("Poisson", poisson, "poisson", {})
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, "cosine_similarity", {"axis": -1})
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error", {})
Huber = _loss_class("Huber", huber, "huber_loss", {"delta": 1.0})
KLDivergence = _loss_class("KLDivergence", kl_divergence, "kl_divergence", {})
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                                 {"from_logits": False, "label_smoothing": 0.0, "axis": -1})
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy,
                                      "categorical_crossentropy",
                                      {"from_logits": False, "label_smoothing": 0.0, "axis": -1})
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                            "sparse_categorical_crossentropy",
                                            {"from_logits": False, "ignore_class": None, "axis": -1})

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence

_FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber, "huber_loss": huber, "kl_divergence": kl_divergence, "kld": kl_divergence,
    "kullback_leibler_divergence": kl_divergence, "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge, "log_cosh": log_cosh,
    "logcosh": log_cosh, "poisson": poisson, "cosine_similarity": cosine_similarity,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy, "dice": dice, "tversky": tversky, "ctc": ctc,
}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence,
                                    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge, SquaredHinge,
                                    CategoricalHinge, LogCosh, Poisson, CosineSimilarity, BinaryFocalCrossentropy,
                                    CategoricalFocalCrossentropy, Dice, Tversky, CTC)}
_BY_FUNCTION = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError, huber: Huber,
                kl_divergence: KLDivergence, binary_crossentropy: BinaryCrossentropy,
                categorical_crossentropy: CategoricalCrossentropy,
                sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
                mean_absolute_percentage_error: MeanAbsolutePercentageError,
                mean_squared_logarithmic_error: MeanSquaredLogarithmicError, hinge: Hinge, squared_hinge: SquaredHinge,
                categorical_hinge: CategoricalHinge, log_cosh: LogCosh, poisson: Poisson,
                cosine_similarity: CosineSimilarity, binary_focal_crossentropy: BinaryFocalCrossentropy,
                categorical_focal_crossentropy: CategoricalFocalCrossentropy, dice: Dice, tversky: Tversky, ctc: CTC}
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error


def get(identifier):
    """A Loss object from a string, class, instance, or a user function f(y_true, y_pred)."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("loss", identifier["class_name"], _CLASSES)
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        fn = lookup("loss", identifier, _FUNCTIONS)
        obj = _BY_FUNCTION[fn]()
        obj.name = identifier
        return obj
    if callable(identifier):
        if identifier in _BY_FUNCTION:
            return _BY_FUNCTION[identifier]()
        return LossFunctionWrapper(identifier)
    raise ValueError("Could not interpret loss identifier: %r" % (identifier,))


def serialize(loss):
    if loss is None:  # Keras: None serializes to None (a model's optional loss, KerasHub's optional preprocessor)
        return None
    return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    return get(config)


# what a saved config may name (common/registry.py)
registry.register_builtins("classes", "losses", _CLASSES)
registry.register_builtins("functions", "losses", _FUNCTIONS)
