"""Regression and probabilistic metrics: the means of Keras's per-sample losses, cosine similarity,
root mean squared error, R2 and the Pearson and concordance correlations."""
import numpy as np

from .. import backend
from ..ops.tape import Tensor
from .base import Mean, MeanMetricWrapper, Metric, _arr


def _loss_metric(fn_name, **kwargs):
    def fn(y_true, y_pred):
        from .. import losses
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
            from .. import losses
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
        from .. import losses
        p = _arr(y_pred)
        t = losses._true(y_true, Tensor(p)).data
        super().update_state((t - p) ** 2, sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """Coefficient of determination over everything seen (class_aggregation="uniform_average")."""
    direction = "up"
    _sum_state = ("n", "s", "s2", "sse")

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
