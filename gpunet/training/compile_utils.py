"""What compile() sets up for the metrics: Keras's CompileMetrics container (keras/src/trainers/compile_utils.py)."""
from .. import metrics as metrics_mod
from ..ops.tape import Tensor
from . import outputs


class CompileMetrics(metrics_mod.Metric):
    """Keras's container for compile(metrics=..., weighted_metrics=...): resolves each identifier
    from the first batch's shapes ("accuracy" becomes sparse/categorical/binary), updates `metrics`
    without and `weighted_metrics` with sample weights, per output for a multi-output model; its
    result is {metric name: value}."""

    def __init__(self, model):
        super().__init__(name="compile_metrics")
        self._model_ref = model

    @property
    def metrics(self):
        """The resolved metric objects (fit's array loop resolves them into the same caches)."""
        model = self._model_ref
        c = model._metrics_cache
        out = (list(c[1]) + list(c[2])) if c else []
        for objs in model.__dict__.get("_out_metric_cache", {}).values():
            out += objs
        return out

    def update_state(self, y_true, y_pred, sample_weight=None):
        model = self._model_ref
        keys = outputs.keys(model)
        if keys is not None:
            preds = outputs.preds_list(model, y_pred)
            ys = outputs.per_output(model, y_true)
            for i, (n, t, p) in enumerate(zip(keys, ys, preds)):
                if t is None:
                    continue
                for m in model._resolve_output_metrics(i, n, tuple(t.shape), tuple(p.shape)):
                    m.update_state(t, p.data if isinstance(p, Tensor) else p)
        else:
            p = y_pred.data if isinstance(y_pred, Tensor) else y_pred
            for m in model._resolve_metrics(tuple(y_true.shape), tuple(p.shape)):
                m.update_state(y_true, p)
            for m in model._resolve_metrics(tuple(y_true.shape), tuple(p.shape), weighted=True):
                m.update_state(y_true, p, sample_weight=sample_weight)

    def result(self):
        return {m.name: m.result() for m in self.metrics}

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()
