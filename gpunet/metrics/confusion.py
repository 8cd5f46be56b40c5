"""Metrics counted from a confusion matrix at thresholds: true/false positives/negatives,
precision, recall, ROC AUC, and the per-class F-beta score."""
import numpy as np

from .. import backend
from .base import Metric, _arr


class _Confusion(Metric):
    """True/false positive/negative counts at fixed thresholds over all elements (Keras's
    confusion metrics): a prediction is positive when it is strictly above the threshold."""
    direction = "up"
    _sum_state = ("tp", "fp", "tn", "fn")

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


class FBetaScore(Metric):
    """Per-class F-beta over everything seen; average None (per class), "micro", "macro" or "weighted".
    threshold None: the largest prediction of each sample counts as the positive one."""
    direction = "up"
    _sum_state = ("tp", "fp", "fn", "support")  # 0.0 until the first batch, then one entry per class

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
