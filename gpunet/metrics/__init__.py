"""Keras metrics (`keras.metrics`): stateful objects with update_state / result / reset_state, and
the per-sample functions, resolved from strings and configs by get()."""
from ..common import registry
from ..common.registry import lookup
from .accuracy import *  # noqa: F401,F403
from .base import Mean, MeanMetricWrapper, Metric, Sum, _arr  # noqa: F401
from .confusion import *  # noqa: F401,F403
from .regression import *  # noqa: F401,F403


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


def unique_log_names(metrics, weighted_metrics):
    """Renames compiled metrics as Keras names them in the logs: a repeated name gets _1, _2, ...; a weighted
    metric that repeats a name is weighted_<name> first."""
    counts = {}
    for weighted, group in ((False, metrics), (True, weighted_metrics)):
        for obj in group:
            if obj.name in counts and weighted:
                obj.name = "weighted_" + obj.name
            if obj.name in counts:
                counts[obj.name] += 1
                obj.name = "%s_%d" % (obj.name, counts[obj.name] - 1)
            counts.setdefault(obj.name, 1)


def deserialize(config, custom_objects=None):
    if config is None:
        return None
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    return get(config)


def serialize(metric):
    if metric is None:
        return None
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
        from ..common.registry import accepted_kwargs
        return cls(**accepted_kwargs(cls.__init__, identifier.get("config", {})))
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            if y_pred_shape is None:  # outside compile there are no shapes: Keras's table has Accuracy
                if identifier == "accuracy":
                    return Accuracy()
                raise ValueError("Could not interpret metric identifier: 'acc' (it names an accuracy only in "
                                 "compile(metrics=...), where the model's output shape picks which one)")
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
    from .. import losses
    g = globals()
    for name in ("mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                 "mean_squared_logarithmic_error", "hinge", "squared_hinge", "categorical_hinge", "poisson",
                 "kl_divergence", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                 "huber", "log_cosh", "binary_focal_crossentropy", "categorical_focal_crossentropy"):
        g.setdefault(name, getattr(losses, name))


_export_functions()


# what a saved config may name (common/registry.py)
registry.register_builtins("classes", "metrics", _CLASSES)
registry.register_builtins("functions", "metrics", _STRINGS)
