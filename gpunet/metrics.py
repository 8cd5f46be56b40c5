"""Keras metrics: stateful objects with update_state / result / reset_state.

State is accumulated with backend arrays (on the device under CuPy), so updating a metric never
forces a host synchronisation; only result() reads it back."""
import numpy as np

from . import backend
from .ops.tape import Tensor
from .utils.registry import lookup


def _arr(x):
    if isinstance(x, Tensor):
        return x.data
    return backend.get_xp().asarray(x)


class Metric:
    argmax_invariant = False  # True: gives the same result on logits as on softmax probabilities
    direction = None  # "up" or "down": which way is better (EarlyStopping's mode="auto")

    def __init__(self, name=None, dtype=None):
        # Keras does not call reset_state() here: a subclass creates its state (add_variable) after
        # super().__init__(), so reset_state() may not work yet
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (Keras's Metric.add_variable); reset_state() puts it back to zeros."""
        from . import initializers
        from .ops.tape import Variable
        v = Variable(initializers.get(initializer), shape=tuple(shape), dtype=dtype or self.dtype,
                     trainable=False, name=name or "variable")
        v.path = "%s/%s" % (self.name, v.name)
        self._variables.append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self):
        return list(self.__dict__.get("_variables", []))

    def reset_state(self):
        """Keras's default: every state variable back to zeros."""
        for v in self.variables:
            v.assign(backend.get_xp().zeros(v.shape, dtype=v.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Mean(Metric):
    """Weighted running mean of the values given to update_state."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        v = _arr(values)
        if sample_weight is None:
            self.total = self.total + v.sum(dtype="float64")
            self.count = self.count + v.size
        else:
            sw = _arr(sample_weight).astype("float64")
            while sw.ndim > v.ndim and sw.shape[-1] == 1:  # (batch, 1) weights for per-sample values
                sw = sw.reshape(sw.shape[:-1])
            sw = backend.get_xp().broadcast_to(sw.reshape(sw.shape + (1,) * (v.ndim - sw.ndim)), v.shape)
            self.total = self.total + (v * sw).sum(dtype="float64")
            self.count = self.count + sw.sum()

    def add(self, value, weight):
        """Adds one already-reduced value with a weight (the loss tracker: weight = batch size)."""
        self.total = self.total + value.astype("float64") * weight
        self.count = self.count + weight

    def result(self):
        count = float(self.count)
        return float(self.total) / count if count else 0.0


class MeanMetricWrapper(Mean):
    """Mean over samples of fn(y_true, y_pred)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(self._fn_kwargs)
        return cfg


def _labels_like(y_true, y_pred):
    t = _arr(y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1 and y_pred.shape[-1] != 1:
        t = t.reshape(t.shape[:-1])
    return t


def sparse_categorical_accuracy(y_true, y_pred):
    p = _arr(y_pred)
    t = _labels_like(y_true, p)
    return (p.argmax(axis=-1) == t.reshape(p.shape[:-1])).astype("float32")


def categorical_accuracy(y_true, y_pred):
    p = _arr(y_pred)
    return (p.argmax(axis=-1) == _arr(y_true).argmax(axis=-1)).astype("float32")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    p = _arr(y_pred)
    t = _arr(y_true)
    if t.ndim == p.ndim - 1:
        t = t[..., None]
    return ((p > threshold) == (t > 0.5)).astype("float32").mean(axis=-1)


def accuracy(y_true, y_pred):
    p = _arr(y_pred)
    t = _arr(y_true).reshape(p.shape)
    return (t == p).astype("float32")


class Accuracy(MeanMetricWrapper):
    direction = "up"
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    argmax_invariant = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class CategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    argmax_invariant = True

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    direction = "up"
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


def _loss_metric(fn_name, **kwargs):
    def fn(y_true, y_pred):
        from . import losses
        return getattr(losses, fn_name)(y_true, y_pred, **kwargs).data
    fn.__name__ = fn_name
    return fn


class MeanSquaredError(MeanMetricWrapper):
    direction = "down"
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_loss_metric("mean_squared_error"), name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    direction = "down"
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_loss_metric("mean_absolute_error"), name=name, dtype=dtype)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    p = _arr(y_pred)
    return _in_top_k(p, _arr(y_true).argmax(axis=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    p = _arr(y_pred)
    return _in_top_k(p, _labels_like(y_true, p).reshape(p.shape[:-1]), k)


def _in_top_k(p, labels, k):
    """1 where the label's score is among the k largest (ties counted in its favour, as Keras)."""
    xp = backend.get_xp()
    target = xp.take_along_axis(p, labels.astype("int64")[..., None], axis=-1)
    return ((p > target).sum(axis=-1) < k).astype("float32")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    argmax_invariant = False
    direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class _Confusion(Metric):
    """True/false positive/negative counts at fixed thresholds over all elements (Keras's
    confusion metrics): a prediction is positive when it is strictly above the threshold."""
    direction = "up"

    def __init__(self, thresholds, name=None, dtype=None):
        xp = backend.get_xp()
        self.thresholds = xp.asarray(thresholds, dtype="float32")
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        xp = backend.get_xp()
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (xp.zeros(n, dtype="float64") for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.get_xp()
        p = _arr(y_pred).astype("float32").reshape(-1)
        t = _arr(y_true).astype("float32").reshape(-1) > 0.5
        w = xp.ones_like(p, dtype="float64") if sample_weight is None else xp.broadcast_to(
            _arr(sample_weight).astype("float64").reshape(-1, *([1] * (_arr(y_pred).ndim - 1))),
            _arr(y_pred).shape).reshape(-1)
        pos = p[None, :] > self.thresholds[:, None]
        self.tp = self.tp + (pos & t).astype("float64") @ w
        self.fp = self.fp + (pos & ~t).astype("float64") @ w
        self.fn = self.fn + (~pos & t).astype("float64") @ w
        self.tn = self.tn + (~pos & ~t).astype("float64") @ w


def _div(a, b):
    xp = backend.get_xp()
    return xp.where(b > 0, a / xp.where(b > 0, b, 1), 0.0)


class _RateAtThresholds(_Confusion):
    """tp / (tp + other) at each threshold (0.5 by default): a float for one threshold, else an array."""
    _other = None

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        if top_k is not None or class_id is not None:
            raise NotImplementedError("%s(top_k=..., class_id=...) is not supported by gpunet" % type(self).__name__)
        self._scalar = thresholds is None or np.isscalar(thresholds)
        super().__init__([0.5] if thresholds is None else np.atleast_1d(thresholds), name, dtype)

    def result(self):
        r = backend.to_numpy(_div(self.tp, self.tp + getattr(self, self._other)))
        return float(r[0]) if self._scalar else r


class Precision(_RateAtThresholds):
    _other = "fp"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


class Recall(_RateAtThresholds):
    _other = "fn"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


class AUC(_Confusion):
    """ROC AUC by the trapezoidal rule over `num_thresholds` thresholds, placed as Keras places them."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if curve != "ROC" or summation_method != "interpolation" or multi_label or from_logits:
            raise NotImplementedError("gpunet's AUC supports curve='ROC', summation_method='interpolation'")
        if num_thresholds <= 1:
            raise ValueError("num_thresholds must be > 1, received %r" % (num_thresholds,))
        eps = 1e-7
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = num_thresholds
        super().__init__([0.0 - eps] + inner + [1.0 + eps], name, dtype)

    def result(self):
        tpr = _div(self.tp, self.tp + self.fn)
        fpr = _div(self.fp, self.fp + self.tn)
        return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0).sum())


class _Count(_Confusion):
    """One confusion count at each threshold (0.5 by default): a float for one threshold."""
    _which = None
    direction = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._scalar = thresholds is None or np.isscalar(thresholds)
        self.init_thresholds = thresholds
        super().__init__([0.5] if thresholds is None else np.atleast_1d(thresholds), name, dtype)

    def result(self):
        r = backend.to_numpy(getattr(self, self._which))
        return float(r[0]) if self._scalar else r

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_Count):
    _which = "tp"


class FalsePositives(_Count):
    _which = "fp"


class TrueNegatives(_Count):
    _which = "tn"


class FalseNegatives(_Count):
    _which = "fn"


def _loss_metric_class(cls_name, fn_name, default_name, direction="down", **fixed):
    def __init__(self, name=default_name, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, _loss_metric(fn_name, **{**fixed, **kwargs}), name=name, dtype=dtype)
        self._fn_kwargs = {**fixed, **kwargs}

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}
    return type(cls_name, (MeanMetricWrapper,), {"__init__": __init__, "get_config": get_config,
                                                 "direction": direction})


MeanAbsolutePercentageError = _loss_metric_class("MeanAbsolutePercentageError", "mean_absolute_percentage_error",
                                                 "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_metric_class("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
                                                 "mean_squared_logarithmic_error")
Hinge = _loss_metric_class("Hinge", "hinge", "hinge")
SquaredHinge = _loss_metric_class("SquaredHinge", "squared_hinge", "squared_hinge")
CategoricalHinge = _loss_metric_class("CategoricalHinge", "categorical_hinge", "categorical_hinge")
LogCoshError = _loss_metric_class("LogCoshError", "log_cosh", "logcosh")
Poisson = _loss_metric_class("Poisson", "poisson", "poisson")
KLDivergence = _loss_metric_class("KLDivergence", "kl_divergence", "kl_divergence")
BinaryCrossentropy = _loss_metric_class("BinaryCrossentropy", "binary_crossentropy", "binary_crossentropy")
CategoricalCrossentropy = _loss_metric_class("CategoricalCrossentropy", "categorical_crossentropy",
                                             "categorical_crossentropy")
SparseCategoricalCrossentropy = _loss_metric_class("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy",
                                                   "sparse_categorical_crossentropy")


class CosineSimilarity(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        def cos(y_true, y_pred, axis=axis):
            from . import losses
            return -losses.cosine_similarity(y_true, y_pred, axis=axis).data
        super().__init__(cos, name=name, dtype=dtype)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of squared errors over all elements."""
    direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        from . import losses
        p = _arr(y_pred)
        t = losses._true(y_true, Tensor(p)).data
        super().update_state((t - p) ** 2, sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class Sum(Metric):
    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        v = _arr(values).astype("float64")
        if sample_weight is not None:
            v = v * _arr(sample_weight).astype("float64").reshape(v.shape[:1] + (1,) * (v.ndim - 1))
        self.total = self.total + v.sum()

    def result(self):
        return float(self.total)


class R2Score(Metric):
    """Coefficient of determination over everything seen (class_aggregation="uniform_average")."""
    direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in ("uniform_average", "variance_weighted_average", None):
            raise ValueError("Invalid value for argument `class_aggregation`: %r" % (class_aggregation,))
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        self.n = 0.0
        self.s = self.s2 = self.sse = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = _arr(y_true).astype("float64")
        p = _arr(y_pred).astype("float64").reshape(t.shape)
        if t.ndim == 1:
            t, p = t[:, None], p[:, None]
        w = 1.0 if sample_weight is None else _arr(sample_weight).astype("float64").reshape(-1, 1)
        self.n = self.n + (w * backend.get_xp().ones_like(t)).sum(axis=0)
        self.s = self.s + (w * t).sum(axis=0)
        self.s2 = self.s2 + (w * t * t).sum(axis=0)
        self.sse = self.sse + (w * (t - p) ** 2).sum(axis=0)

    def result(self):
        xp = backend.get_xp()
        mean = self.s / self.n
        sst = self.s2 - self.n * mean * mean
        r2 = 1.0 - self.sse / sst
        if self.class_aggregation == "uniform_average":
            r2 = r2.mean()
        elif self.class_aggregation == "variance_weighted_average":
            r2 = (r2 * sst).sum() / sst.sum()
        if self.num_regressors:
            n = float(xp.asarray(self.n).ravel()[0])
            r2 = 1 - (1 - r2) * (n - 1) / (n - self.num_regressors - 1)
        return float(r2) if np.ndim(r2) == 0 else backend.to_numpy(r2)


def pearson_correlation(y_true, y_pred, axis=-1):
    t, p = _arr(y_true).astype("float64"), _arr(y_pred).astype("float64")
    t = t.reshape(p.shape) if t.size == p.size else t
    tc, pc = t - t.mean(axis=axis, keepdims=True), p - p.mean(axis=axis, keepdims=True)
    xp = backend.get_xp()
    return (tc * pc).sum(axis=axis) / xp.sqrt((tc * tc).sum(axis=axis) * (pc * pc).sum(axis=axis))


def concordance_correlation(y_true, y_pred, axis=-1):
    t, p = _arr(y_true).astype("float64"), _arr(y_pred).astype("float64")
    t = t.reshape(p.shape) if t.size == p.size else t
    tm, pm = t.mean(axis=axis, keepdims=True), p.mean(axis=axis, keepdims=True)
    cov = ((t - tm) * (p - pm)).mean(axis=axis)
    return 2 * cov / (t.var(axis=axis) + p.var(axis=axis) + ((tm - pm) ** 2).reshape(cov.shape))


class PearsonCorrelation(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)


class ConcordanceCorrelation(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)


class FBetaScore(Metric):
    """Per-class F-beta over everything seen; average None (per class), "micro", "macro" or "weighted".
    threshold None: the largest prediction of each sample counts as the positive one."""
    direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError('Invalid `average` argument value. Expected one of: {None, "micro", "macro", '
                             '"weighted"}. Received: average=%r' % (average,))
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError("Invalid `beta` argument value. It should be a Python float > 0. Received: beta=%r"
                             % (beta,))
        if threshold is not None and not (isinstance(threshold, float) and 0 < threshold <= 1):
            raise ValueError("Invalid `threshold` argument value. It should be a Python float in the range ]0, 1]. "
                             "Received: threshold=%r" % (threshold,))
        self.average, self.beta, self.threshold = average, beta, threshold
        self.reset_state()

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = backend.get_xp()
        t, p = _arr(y_true).astype("float64"), _arr(y_pred).astype("float64")
        if self.threshold is None:
            pred = (p == p.max(axis=-1, keepdims=True)).astype("float64")
        else:
            pred = (p > self.threshold).astype("float64")
        w = 1.0 if sample_weight is None else _arr(sample_weight).astype("float64").reshape(-1, 1)
        self.tp = self.tp + (w * pred * t).sum(axis=0)
        self.fp = self.fp + (w * pred * (1 - t)).sum(axis=0)
        self.fn = self.fn + (w * (1 - pred) * t).sum(axis=0)
        self.support = self.support + (w * t * xp.ones_like(pred)).sum(axis=0)

    def result(self):
        b2 = self.beta ** 2
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = _div(tp, tp + fp)
        recall = _div(tp, tp + fn)
        f = _div((1 + b2) * precision * recall, b2 * precision + recall)
        if self.average == "macro":
            f = f.mean()
        elif self.average == "weighted":
            f = (f * self.support).sum() / self.support.sum()
        out = backend.to_numpy(f)
        return float(out) if np.ndim(out) == 0 else out.astype("float32")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "beta": self.beta, "average": self.average,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        cfg = super().get_config()
        del cfg["beta"]
        return cfg


_CLASSES = {c.__name__: c for c in (Mean, Accuracy, SparseCategoricalAccuracy, CategoricalAccuracy,
                                    BinaryAccuracy, MeanSquaredError, MeanAbsoluteError, TopKCategoricalAccuracy,
                                    SparseTopKCategoricalAccuracy, Precision, Recall, AUC, TruePositives,
                                    FalsePositives, TrueNegatives, FalseNegatives, MeanAbsolutePercentageError,
                                    MeanSquaredLogarithmicError, Hinge, SquaredHinge, CategoricalHinge, LogCoshError,
                                    Poisson, KLDivergence, BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy, CosineSimilarity, RootMeanSquaredError, Sum,
                                    R2Score, PearsonCorrelation, ConcordanceCorrelation, FBetaScore, F1Score)}
_STRINGS = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy, "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge, "logcosh": LogCoshError,
    "poisson": Poisson, "kl_divergence": KLDivergence, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "cosine_similarity": CosineSimilarity,
    "root_mean_squared_error": RootMeanSquaredError,
}


def deserialize(config, custom_objects=None):
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    return get(config)


def serialize(metric):
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve a metric identifier. "accuracy"/"acc" is resolved from the shapes, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("metric", identifier["class_name"], _CLASSES)
        from .saving.serialization import accepted_kwargs
        return cls(**accepted_kwargs(cls.__init__, identifier.get("config", {})))
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            if y_pred_shape is None:
                raise ValueError("'accuracy' needs the output shape to be resolved")
            if y_pred_shape[-1] == 1:
                cls = BinaryAccuracy
            elif y_true_shape is not None and (len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1):
                cls = SparseCategoricalAccuracy
            else:
                cls = CategoricalAccuracy
            return cls(name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        return lookup("metric", identifier, _STRINGS)(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(lambda t, p, _f=identifier: _arr(_f(t, p)), name=identifier.__name__)
    raise ValueError("Could not interpret metric identifier: %r" % (identifier,))



def _export_functions():
    """keras.metrics also exports the per-sample functions (mean_squared_error, hinge, ...)."""
    from . import losses
    g = globals()
    for name in ("mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                 "mean_squared_logarithmic_error", "hinge", "squared_hinge", "categorical_hinge", "poisson",
                 "kl_divergence", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                 "huber", "log_cosh", "binary_focal_crossentropy", "categorical_focal_crossentropy"):
        g.setdefault(name, getattr(losses, name))


_export_functions()
