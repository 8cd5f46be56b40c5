"""Model: a Layer that can be compiled, trained, evaluated and summarised."""
import numpy as np

from .. import losses as losses_mod, metrics as metrics_mod, optimizers
from ..layers.base import Layer
from ..ops.tape import Tensor
from . import summary as summary_mod, trainer


class Model(Layer):
    """Base of Sequential and Functional models; subclass it and write `call` for a custom model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return Functional(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        known = {k: kwargs.pop(k) for k in ("name", "trainable", "dtype") if k in kwargs}
        super().__init__(**known)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._loss_obj = None
        self._metric_ids = []
        self._weighted_metric_ids = []
        self._loss_weights = None
        self._metrics_cache = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.history = None
        self._seed = None  # keys fit's per-epoch shuffle/dropout streams; saved in metadata.json
        self.stop_training = False
        self._in_fit = False
        self._in_fit_validation = False

    # ---- compile ----
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        opt = optimizers.get(optimizer)
        if isinstance(loss, (list, tuple, dict)):  # one loss per output: resolved per output at fit time
            for l in (loss.values() if isinstance(loss, dict) else loss):
                losses_mod.get(l)
            loss_obj = loss
        else:
            loss_obj = losses_mod.get(loss)
        self._loss_weights = loss_weights
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError("compile(metrics=...) expects a list, received %r" % (metrics,))
        mids = metrics if isinstance(metrics, dict) else list(metrics or [])
        flat = [m for v in mids.values() for m in (v if isinstance(v, (list, tuple)) else [v])] \
            if isinstance(mids, dict) else [m for v in mids for m in (v if isinstance(v, (list, tuple)) else [v])]
        for m in flat:  # resolve names now so a typo fails at compile time
            if isinstance(m, str) and m not in ("accuracy", "acc"):
                metrics_mod.get(m)
        self.optimizer, self.loss, self._loss_obj = opt, loss, loss_obj
        self._metric_ids = mids
        self._weighted_metric_ids = list(weighted_metrics or [])
        self._metrics_cache = None
        self.run_eagerly = run_eagerly
        self.steps_per_execution = steps_per_execution
        self.compiled = True

    def _assert_compiled(self, where):
        if not self.compiled:
            raise RuntimeError("You must call `compile()` before calling `%s()` on model %r." % (where, self.name))
        if self._loss_obj is None and where != "predict":
            raise ValueError("Model %r was compiled without a loss; pass compile(loss=...) to %s()."
                             % (self.name, where))

    def _resolve_metrics(self, y_shape, pred_shape, weighted=False):
        key = (None if y_shape is None else len(y_shape), pred_shape)
        if self._metrics_cache is None or self._metrics_cache[0] != key:
            objs = [metrics_mod.get(m, y_shape, pred_shape) for m in self._metric_ids]
            names = {m.name for m in objs}
            wobjs = []
            for m in self._weighted_metric_ids:
                obj = metrics_mod.get(m, y_shape, pred_shape)
                if obj.name in names:
                    obj.name = "weighted_" + obj.name
                wobjs.append(obj)
            self._metrics_cache = (key, objs, wobjs)
        return self._metrics_cache[2 if weighted else 1]

    def _resolve_output_metrics(self, i, name, y_shape, pred_shape):
        """Metrics of output i (compile(metrics=) as a dict by output name, a list per output, or one
        flat list applied to every output), named <output>_<metric>."""
        spec = self._metric_ids
        if isinstance(spec, dict):
            ids = spec.get(name) or []
        elif spec and all(isinstance(m, (list, tuple)) for m in spec):
            ids = spec[i]
        else:
            ids = spec
        key = ("out", i, len(y_shape), tuple(pred_shape))
        cache = self.__dict__.setdefault("_out_metric_cache", {})
        if key not in cache:
            objs = [metrics_mod.get(m, y_shape, pred_shape) for m in (ids if isinstance(ids, (list, tuple)) else [ids])]
            for o in objs:
                o.name = "%s_%s" % (name, o.name)
            cache[key] = objs
        return cache[key]

    def _reset_metrics(self, plan):
        self._loss_tracker.reset_state()
        for m in plan.metrics + plan.weighted_metrics:
            m.reset_state()

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    @property
    def metrics(self):
        c = self._metrics_cache
        return [self._loss_tracker] + (list(c[1]) + list(c[2]) if c else [])

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    # ---- training API ----
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        return trainer.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", **kwargs):
        return trainer.evaluate(self, x, y, batch_size=batch_size, verbose=verbose, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        return trainer.predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        return trainer.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return trainer.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        return trainer.predict(self, x, batch_size=max(1, len(x)), verbose=0)

    # ---- hooks the trainer uses; Sequential/Functional refine them ----
    def _forward(self, x, training, fast=False):
        return self(x if isinstance(x, Tensor) else Tensor(x), training=training)

    def _has_softmax_head(self):
        return False

    def _forward_logits(self, x, training, fast=False):
        raise NotImplementedError

    def _expected_input_shape(self):
        return None

    def _ensure_built(self, x_shape):
        if not self.built or not self.weights:
            from .. import backend
            xp = backend.get_xp()
            from ..ops.tape import stop_recording
            with stop_recording():
                self(xp.zeros((1,) + tuple(x_shape[1:]), dtype=self.dtype), training=False)
        if not hasattr(self, "_out_shape_cache") or self._out_shape_cache[0] != tuple(x_shape[1:]):
            self._out_shape_cache = (tuple(x_shape[1:]), self._compute_output_shape_from(x_shape))

    def _compute_output_shape_from(self, x_shape):
        from .. import backend
        from ..ops.tape import stop_recording
        with stop_recording():
            out = self._forward(backend.get_xp().zeros((1,) + tuple(x_shape[1:]), dtype=self.dtype), False)
        return (None,) + tuple(out.shape[1:])

    def _output_shape(self):
        return self._out_shape_cache[1]

    def _output_dim(self):
        return self._output_shape()[-1]

    # ---- saving ----
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        from ..saving import save_model
        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        from ..saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        from ..saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs):
        import json
        from ..saving.saving_lib import _json_default, model_config
        cfg = model_config(self)
        cfg.pop("compile_config", None)
        return json.dumps(cfg, default=_json_default, **kwargs)

    def get_compile_config(self):
        from .. import losses as L, metrics as M, optimizers as O

        def ser_metric(m):
            return m if isinstance(m, str) else {"module": "keras.metrics", "class_name": type(m).__name__,
                                                 "config": m.get_config(), "registered_name": None}
        loss = self.loss
        if loss is not None and not isinstance(loss, str):
            loss = L.serialize(self._loss_obj) if type(self._loss_obj) is not L.LossFunctionWrapper else \
                getattr(self._loss_obj.fn, "__name__", None)
        _ = M
        return {"optimizer": O.serialize(self.optimizer), "loss": loss, "loss_weights": None,
                "metrics": [ser_metric(m) for m in self._metric_ids] or None,
                "weighted_metrics": [ser_metric(m) for m in self._weighted_metric_ids] or None,
                "run_eagerly": bool(getattr(self, "run_eagerly", False)),
                "steps_per_execution": getattr(self, "steps_per_execution", 1), "jit_compile": False}

    def compile_from_config(self, config, custom_objects=None):
        from .. import losses as L, metrics as M, optimizers as O
        from ..saving.serialization import get_registered_object

        def obj(x, getter):
            if isinstance(x, str):
                found = get_registered_object(x, custom_objects)
                return found if found is not None else x
            if isinstance(x, dict):
                found = get_registered_object(x.get("registered_name") or x.get("class_name"), custom_objects)
                if found is not None:
                    return found.from_config(x.get("config", {})) if hasattr(found, "from_config") else found
                return getter(x)
            return x
        metrics = [obj(m, M.get) for m in (config.get("metrics") or [])]
        weighted = [obj(m, M.get) for m in (config.get("weighted_metrics") or [])]
        self.compile(optimizer=O.get(config.get("optimizer") or "rmsprop"), loss=obj(config.get("loss"), L.get),
                     metrics=metrics or None, weighted_metrics=weighted or None,
                     run_eagerly=config.get("run_eagerly", False))

    def get_build_config(self):
        shape = getattr(self, "_build_shape", None)
        return None if shape is None else {"input_shape": shape}

    # ---- inspection ----
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        rows = self._summary_rows()
        opt_vars = None
        if self.compiled and self.optimizer is not None and getattr(self.optimizer, "built", False):
            opt_vars = self.optimizer.variables
        headers, aligns = self._summary_headers()
        text = summary_mod.render(self.name, rows, headers, aligns, self.trainable_weights,
                                  self.non_trainable_weights, opt_vars, line_length, positions)
        summary_mod.print_summary(text, print_fn)

    def _summary_headers(self):
        return ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]

    def _summary_rows(self):
        return [["%s (%s)" % (l.name, type(l).__name__), "?", "{:,}".format(l.count_params())]
                for l in self._sublayers()]

    def get_layer(self, name=None, index=None):
        layers = self.layers
        if index is not None:
            return layers[index]
        for l in layers:
            if l.name == name:
                return l
        raise ValueError("No such layer: %r. Existing layers are: %s" % (name, [l.name for l in layers]))

    @property
    def layers(self):
        return self._sublayers()

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))
