"""Model: a Layer that can be compiled, trained, evaluated and summarised; fit / evaluate / predict check their
arguments here and hand over to gpunet/training/.

model.py and functional.py import each other, the one import circle gpunet keeps: `Model(inputs, outputs)`
builds a Functional model and `Functional` subclasses `Model`, so the class and its subclass know each other,
as in Keras (keras/src/models/model.py). model.py imports functional.py inside the functions that need it."""
import numpy as np

from .. import losses as losses_mod, metrics as metrics_mod, optimizers
from ..layers.base import Layer
from ..ops.tape import Tensor
from ..common import interrupts
from ..training import array_loop, batch_loop, data as data_mod
from ..training.batches import unpack
from ..training.compile_utils import CompileMetrics
from ..training import outputs
from . import summary as summary_mod


_FUNCTIONAL_SUBCLASSES = {}


def _functional_args(args, kwargs):
    """Keras's functional_init_arguments: Model(inputs, outputs) in any spelling."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


def _functional_class(cls):
    from .functional import Functional
    if issubclass(cls, Functional):
        return cls
    if cls is Model:
        return Functional
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, Functional),
                                           {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                            "_registered_as": cls})  # it saves under cls's registered name
    return _FUNCTIONAL_SUBCLASSES[cls]


class Model(Layer):
    """Base of Sequential and Functional models; subclass it and write `call` for a custom model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and _functional_args(args, kwargs):
            from .functional import Functional
            return Functional(*args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if _functional_args(args, kwargs):
            # a Model subclass initialised the Functional way (MyModel(inputs, outputs), or its __init__
            # calling super().__init__(inputs, outputs)): it becomes a Functional model whose own methods
            # (train_step, call, ...) come first, as Keras does it
            from .functional import Functional
            if not isinstance(self, Functional):
                self.__class__ = _functional_class(type(self))
            Functional.__init__(self, *args, **kwargs)
            return
        if args:
            raise TypeError("%s.__init__ takes keyword arguments (name=, trainable=, dtype=), or inputs and outputs "
                            "for a Functional model; received %d positional argument(s): %r"
                            % (type(self).__name__, len(args), args))
        super().__init__(**kwargs)  # Layer checks the keyword arguments: a typo is an error, not ignored
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
        self._epochs_trained = 0  # epochs finished over all fit calls (their streams' index); saved too
        self.stop_training = False
        self._in_fit = False
        self._in_fit_validation = False

    # ---- compile ----
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        opt = optimizers.get(optimizer)
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16" and \
                not isinstance(opt, optimizers.LossScaleOptimizer):
            opt = optimizers.LossScaleOptimizer(opt)  # Keras: float16 gradients need dynamic loss scaling
        loss = self._single_output_loss(loss)
        if isinstance(loss, (list, tuple, dict)):  # one loss per output: resolved per output at fit time
            for l in (loss.values() if isinstance(loss, dict) else loss):
                losses_mod.get(l)
            loss_obj = loss
        else:
            loss_obj = losses_mod.get(loss)
        self._loss_weights = loss_weights
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError("compile(metrics=...) expects a list, received %r" % (metrics,))
        if weighted_metrics is not None and not isinstance(weighted_metrics, (list, tuple)):
            raise TypeError("compile(weighted_metrics=...) expects a list, received %r" % (weighted_metrics,))
        mids = metrics if isinstance(metrics, dict) else list(metrics or [])
        flat = [m for v in mids.values() for m in (v if isinstance(v, (list, tuple)) else [v])] \
            if isinstance(mids, dict) else [m for v in mids for m in (v if isinstance(v, (list, tuple)) else [v])]
        for m in flat + list(weighted_metrics or []):  # resolve identifiers now so a typo fails at compile time
            if isinstance(m, str) and m not in ("accuracy", "acc"):
                metrics_mod.get(m)
            elif not (m is None or isinstance(m, (str, dict, metrics_mod.Metric)) or callable(m)):
                raise ValueError("Could not interpret metric identifier: %r (compile(metrics=...) takes metric names, "
                                 "Metric objects or functions)" % (m,))
        self.optimizer, self.loss, self._loss_obj = opt, loss, loss_obj
        self._metric_ids = mids
        self._weighted_metric_ids = list(weighted_metrics or [])
        self._metrics_cache = None
        self.__dict__.pop("_out_metric_cache", None)
        self.__dict__.pop("_out_loss_trackers", None)
        self.run_eagerly = run_eagerly
        self.steps_per_execution = steps_per_execution
        self.compiled = True

    def _single_output_loss(self, loss):
        """A model known to have one output takes a one-entry list (or {output name: loss}) as that loss, as
        Keras does; more entries than outputs is an error now rather than at fit time."""
        names, any_key = self._loss_output_names()
        if names is None or len(names) != 1 or not isinstance(loss, (list, tuple, dict)):
            return loss
        if isinstance(loss, dict):
            unknown = [k for k in loss if k not in names]
            if any_key and len(loss) == 1:
                unknown = []
            if unknown or len(loss) != 1:
                raise ValueError("compile(loss=...) has entries for outputs %s; model %r has one output %s"
                                 % (sorted(map(str, loss)), self.name, names))
            return next(iter(loss.values()))
        if len(loss) != 1:
            raise ValueError("compile(loss=...) received a list of %d losses; model %r has one output"
                             % (len(loss), self.name))
        return loss[0]

    def _loss_output_names(self):
        """(the output names compile(loss={name: ...}) may use, or None; whether a one-entry dict may use any
        name): Sequential's single output has no name of its own."""
        return getattr(self, "output_names", None), False

    def _assert_compiled(self, where):
        if not self.compiled:
            raise RuntimeError("You must call `compile()` before calling `%s()` on model %r." % (where, self.name))
        if self._loss_obj is None and where != "predict":
            raise ValueError("Model %r was compiled without a loss; pass compile(loss=...) to %s()."
                             % (self.name, where))

    def _resolve_metrics(self, y_shape, pred_shape, weighted=False):
        # keyed without the batch size: a short last batch must update the same metrics, not fresh ones
        key = (None if y_shape is None else len(y_shape), None if pred_shape is None else tuple(pred_shape)[1:])
        if self._metrics_cache is None or self._metrics_cache[0] != key:
            objs = [metrics_mod.get(m, y_shape, pred_shape) for m in outputs.flat_metric_ids(self._metric_ids)]
            wobjs = [metrics_mod.get(m, y_shape, pred_shape) for m in self._weighted_metric_ids]
            metrics_mod.unique_log_names(objs, wobjs)
            self._metrics_cache = (key, objs, wobjs)
        return self._metrics_cache[2 if weighted else 1]

    def _resolve_output_metrics(self, i, name, y_shape, pred_shape):
        """Metrics of output i (compile(metrics=) as a dict by output name, a list per output, or one
        flat list applied to every output), named <output>_<metric>."""
        ids = outputs.metric_ids(self, i)
        key = ("out", i, len(y_shape), tuple(pred_shape)[1:])
        cache = self.__dict__.setdefault("_out_metric_cache", {})
        if key not in cache:
            objs = [metrics_mod.get(m, y_shape, pred_shape) for m in ids]
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
        """Keras's list: the loss tracker, one "compile_metrics" container for compile(metrics=...)
        (its result is a dict, flattened into the logs), each output's loss tracker, then metrics
        the model and its layers hold as attributes."""
        out = [self._loss_tracker] if self.compiled else []
        if self.compiled and (self._metric_ids or self._weighted_metric_ids):
            out.append(self._compile_metrics())
        out += list(self.__dict__.get("_out_loss_trackers", {}).values())
        out += [m for m in self._layer_metrics() if all(m is not o for o in out)]
        return out

    def _compile_metrics(self):
        cm = self.__dict__.get("_compile_metrics_obj")
        if cm is None:
            cm = self._compile_metrics_obj = CompileMetrics(self)
        return cm

    def _flat_metrics(self):
        """Every metric object, containers opened (EarlyStopping looks a metric up by name)."""
        out = []
        for m in self.metrics:
            out.extend(m.metrics if isinstance(m, CompileMetrics) else [m])
        return out

    def _layer_metrics(self):
        """Metric attributes of the model and its layers (Keras tracks them), not the compiled ones."""
        from ..metrics import Metric
        # compiled metrics live in caches (a tuple, dicts), which Layer.metrics does not scan; the loss
        # tracker and the compile_metrics container are the model's own, not a layer's
        # gpunet's own metric objects given to compile() (metrics=[keras.metrics.AUC()]) are compiled ones too:
        # they used to send fit to the per-batch loop as if a layer owned them. A user's Metric subclass still
        # takes that loop, which hands it the targets exactly as given (the array loop squeezes sparse labels)
        own = [self._loss_tracker, self.__dict__.get("_compile_metrics_obj")]
        for ids in (self.__dict__.get("_metric_ids"), self.__dict__.get("_weighted_metric_ids")):
            for entry in (ids.values() if isinstance(ids, dict) else ids or []):
                own += [m for m in (entry if isinstance(entry, (list, tuple)) else [entry])
                        if type(m).__module__.startswith("gpunet.metrics")]
        return [m for m in Layer.metrics.fget(self) if isinstance(m, Metric) and all(m is not o for o in own)]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    # ---- Keras's step API: override any of these to customise fit / evaluate / predict ----
    def train_step(self, data):
        """One training step on one batch (Keras's default): forward, compute_loss, gradients,
        optimizer.apply, compute_metrics. Returns the logs (metric name -> value)."""
        from ..ops.tape import GradientTape
        x, y, sample_weight = unpack(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x, y, y_pred, sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss) if self.optimizer is not None else loss
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        variables = self.trainable_weights
        if variables:
            self.optimizer.apply(tape.gradient(scaled, variables), variables)
        else:
            import warnings
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = unpack(data)
        y_pred = self(x, training=False)
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack(data)
        return self(x, training=False)

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        """compute_loss as Keras's trainers call it: positionally, and with `training` only when the override
        takes it (the argument came in Keras 3.3; older overrides leave it out)."""
        fn = self.compute_loss
        if "_loss_takes_training" not in type(self).__dict__:
            type(self)._loss_takes_training = _takes(fn, "training")
        if type(self)._loss_takes_training:
            return fn(x, y, y_pred, sample_weight, training=training)
        return fn(x, y, y_pred, sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss (per output, weighted by loss_weights) plus every add_loss() and
        regularization term, as Keras sums them. Override it to change the loss of the default steps."""
        from .. import ops
        terms = []
        compiled = self._compiled_loss(y, y_pred, sample_weight)
        if compiled is not None:
            terms.append(compiled)
        for extra in self.losses:
            t = extra if isinstance(extra, Tensor) else Tensor(extra)
            terms.append(ops.sum(t if t.dtype.kind == "f" else ops.cast(t, self.dtype)))
        if not terms:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        total = terms[0]
        for t in terms[1:]:
            total = ops.add(total, t)
        return total

    def _compiled_loss(self, y, y_pred, sample_weight):
        if self._loss_obj is None:
            return None
        if y is None:
            raise ValueError("Model %r was compiled with a loss but received no targets y: pass y to fit()/"
                             "evaluate() (or yield (x, y) from the dataset)" % self.name)
        from .. import ops
        keys = outputs.keys(self)
        if keys is not None:  # Keras's rules for several outputs: training/outputs.py
            preds, ys = outputs.preds_list(self, y_pred), outputs.per_output(self, y)
            each = outputs.logs_each_loss(self)
            trackers = self.__dict__.setdefault("_out_loss_trackers", {})
            total = None
            for n, fn, w, t, p in zip(keys, outputs.losses(self), outputs.loss_weights(self), ys, preds):
                if fn is None:
                    continue
                li = fn(t, p, sample_weight=sample_weight)
                if each:
                    trackers.setdefault(n, metrics_mod.Mean(name="%s_loss" % n)).update_state(
                        li, sample_weight=_batch_size(p))
                term = li if w == 1.0 else ops.multiply(li, w)
                total = term if total is None else ops.add(total, term)
            return total
        return self._loss_obj(y, y_pred, sample_weight=sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics (`metrics` unweighted, `weighted_metrics` with sample_weight)
        and returns get_metrics_result()."""
        if y is not None and (self._metric_ids or self._weighted_metric_ids):
            self._compile_metrics().update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """{name: result} of every metric in `self.metrics`; a metric returning a dict is merged."""
        from ..callbacks import pythonify_logs
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return pythonify_logs(out)

    def _get_metrics_result_or_logs(self, logs):
        """Keras: the metrics' results when the step's logs name the same metrics, else the step's own
        logs of the last batch (a custom train_step may log anything)."""
        metric_logs = self.get_metrics_result()
        if isinstance(logs, dict) and set(logs) == set(metric_logs):
            return metric_logs
        return logs

    def _flatten_metrics_in_order(self, logs):
        names = [m.name for m in self.metrics]
        values = [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    # ---- training API ----
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        from .. import config
        # every scalar argument is checked before any data is touched (a bad one used to surface mid-epoch)
        batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
        verbose = data_mod.check_verbose(verbose)
        data_mod.check_fit_args(epochs, initial_epoch, validation_split, validation_freq, shuffle)
        steps_per_epoch = data_mod.positive_int(steps_per_epoch, "steps_per_epoch")
        validation_steps = data_mod.positive_int(validation_steps, "validation_steps")
        validation_batch_size = data_mod.positive_int(validation_batch_size, "validation_batch_size")
        if config.max_epochs() is not None:  # Keras's global caps for shortened runs
            epochs = min(epochs, config.max_epochs())
        if config.max_steps_per_epoch() is not None:
            steps_per_epoch = min(steps_per_epoch or config.max_steps_per_epoch(), config.max_steps_per_epoch())
        args = dict(validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                    class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
                    steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                    validation_batch_size=validation_batch_size, validation_freq=validation_freq)
        with interrupts.watch():
            if self.compiled and batch_loop.needed(self, x, y):
                return batch_loop.fit(self, x, y, batch_size, epochs, verbose, callbacks, **args)
            return array_loop.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                               callbacks=callbacks, **args)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
        verbose = data_mod.check_verbose(verbose)
        steps = data_mod.positive_int(steps, "steps")
        with interrupts.watch():
            if self.compiled and batch_loop.needed(self, x, y):
                return batch_loop.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks,
                                           return_dict)
            return array_loop.evaluate(self, x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                    steps=steps, callbacks=callbacks, return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
        verbose = data_mod.check_verbose(verbose)
        steps = data_mod.positive_int(steps, "steps")
        with interrupts.watch():
            if batch_loop.needed(self, x, None, for_predict=True):
                return batch_loop.predict(self, x, batch_size, verbose, steps, callbacks)
            return array_loop.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        return array_loop.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return array_loop.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        return array_loop.predict(self, x, batch_size=max(1, len(x)), verbose=0, local=True)

    # ---- hooks the trainer uses; Sequential/Functional refine them ----
    def _forward(self, x, training, fast=False):
        return self(x if isinstance(x, Tensor) else Tensor(x), training=training)

    def _has_softmax_head(self):
        return False

    def _takes_strings(self):
        """Whether an input is a string Input (fit, evaluate and predict then run batch by batch on host data)."""
        return False

    def _forward_logits(self, x, training, fast=False):
        raise NotImplementedError

    def _layer_chain(self):
        """[(layer, output shape)] when this model is one chain of layer calls, each on the previous layer's
        output (the compiled CPU step and the GPU launch program run only such models); else None."""
        return None

    def _declared_input_dtype(self):
        """The integer dtype of a single Input(dtype="int32"/"int64") that only Embeddings read (token ids, kept
        exact: float32 holds integers only up to 2^24), else None (the data become floatx)."""
        return None

    def _overrides(self, names):
        """Whether this model's class overrides any of Model's methods `names` (fit takes the per-batch loop
        for a model with a train_step, compute_loss, ... of its own)."""
        return any(getattr(type(self), n) is not getattr(Model, n) for n in names)

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

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        from ..export import export_model
        return export_model(self, filepath, format, verbose, input_signature, **kwargs)

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
        from ..common.registry import get_registered_name

        def ser_metric(m):
            if isinstance(m, str):
                return m
            if not isinstance(m, M.Metric) and callable(m):  # a metric function: saved by name, as Keras does
                return {"module": "builtins", "class_name": "function", "registered_name": "function",
                        "config": get_registered_name(m) or getattr(m, "__name__", type(m).__name__)}
            return {"module": "keras.metrics", "class_name": type(m).__name__, "config": m.get_config(),
                    "registered_name": get_registered_name(m)}
        loss = self.loss
        if loss is not None and not isinstance(loss, str):
            loss = L.serialize(self._loss_obj) if type(self._loss_obj) is not L.LossFunctionWrapper else \
                getattr(self._loss_obj.fn, "__name__", None)
        _ = M
        return {"optimizer": O.serialize(self.optimizer), "loss": loss, "loss_weights": None,
                "metrics": outputs.map_metric_ids(ser_metric, self._metric_ids) or None,
                "weighted_metrics": [ser_metric(m) for m in self._weighted_metric_ids] or None,
                "run_eagerly": bool(getattr(self, "run_eagerly", False)),
                "steps_per_execution": getattr(self, "steps_per_execution", 1), "jit_compile": False}

    def compile_from_config(self, config, custom_objects=None):
        from .. import losses as L, metrics as M, optimizers as O
        from ..common.registry import get_registered_object

        def obj(x, getter):
            if isinstance(x, str):
                found = get_registered_object(x, custom_objects)
                return found if found is not None else x
            if isinstance(x, dict) and x.get("class_name") == "function":  # a function saved by name
                return obj(x.get("config"), getter)
            if isinstance(x, dict):
                found = get_registered_object(x.get("registered_name") or x.get("class_name"), custom_objects)
                if found is not None:
                    return found.from_config(x.get("config", {})) if hasattr(found, "from_config") else found
                return getter(x)
            return x
        metrics = outputs.map_metric_ids(lambda m: obj(m, M.get), config.get("metrics") or [])
        weighted = [obj(m, M.get) for m in (config.get("weighted_metrics") or [])]
        self.compile(optimizer=O.get(config.get("optimizer") or "rmsprop"), loss=obj(config.get("loss"), L.get),
                     metrics=metrics or None, weighted_metrics=weighted or None,
                     run_eagerly=config.get("run_eagerly", False))

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Functional config ("layers", "input_layers", "output_layers") rebuilds the graph (as an
        instance of cls when cls subclasses Model); any other config goes to cls's constructor."""
        if "layers" in config and "input_layers" in config and "output_layers" in config:
            from .functional import Functional
            return Functional.from_config.__func__(_functional_class(cls), config, custom_objects=custom_objects)
        return cls(**config)

    def get_build_config(self):
        shape = getattr(self, "_build_shape", None)
        return None if shape is None else {"input_shape": shape}

    def build_from_config(self, cfg):
        """A loaded subclassed model: call() runs once on zeros of the saved input shape, so every layer it uses
        creates its weights before they are read from the file (Keras's Model.build does the same)."""
        shape = (cfg or {}).get("input_shape")
        if shape is None or self.built:
            return
        shape = [tuple(s) for s in shape] if isinstance(shape[0], (list, tuple)) else tuple(shape)
        Layer.compute_output_shape(self, shape)
        self._build_shape = shape
        self.built = True

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


def _takes(fn, arg):
    """Keras's test: the parameter by name (an override's **kwargs does not count)."""
    import inspect
    try:
        return arg in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True


def _batch_size(x):
    """The number of samples in a batch structure (its first array's leading axis)."""
    while isinstance(x, (list, tuple, dict)):
        x = list(x.values())[0] if isinstance(x, dict) else x[0]
    return int(x.shape[0]) if getattr(x, "shape", ()) else 1
