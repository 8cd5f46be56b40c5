"""Accuracy metrics: exact, binary, categorical, sparse categorical and top-k."""
from .. import backend
from .base import MeanMetricWrapper, _arr


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
