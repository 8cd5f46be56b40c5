"""fit / evaluate / predict through the model's own `train_step` / `test_step` / `predict_step`,
exactly as Keras calls them: one `data` batch per call (`x`, `(x, y)` or `(x, y, sample_weight)`,
in the structure the user gave), the step's returned logs handed to the callbacks.

trainer.py's array loop is the fast way to run the default steps on arrays (fused softmax head,
the compiled CPU step, lazy logs). This loop runs whenever that one cannot honour the model: an
overridden step, compute_loss, compute_metrics or `metrics`, a model with no compiled loss
(add_loss only) or with metrics of its own layers, no targets, or data from a Python generator or
a `keras.utils.PyDataset`. tests/test_extensibility.py checks the two loops agree on the default
steps."""
import math
import warnings

import numpy as np

from .. import backend, config, random as _random
from ..callbacks import CallbackList, pythonify_logs
from ..ops.tape import Tensor, stop_recording
from ..utils.dataset import PyDataset

_STEP_API = ("train_step", "test_step", "compute_loss", "compute_metrics", "metrics")


def needed(model, x, y, for_predict=False):
    """True when fit/evaluate/predict must call the model's steps one batch at a time."""
    from .model import Model
    if is_stream(x):
        return True
    if for_predict:
        return type(model).predict_step is not Model.predict_step
    if any(getattr(type(model), n) is not getattr(Model, n) for n in _STEP_API):
        return True
    return y is None or model._loss_obj is None or bool(model._layer_metrics())


def is_stream(x):
    """A PyDataset, a generator or another iterator: batches come from it, not from slicing arrays."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and hasattr(x, "__iter__"))


# ---- batches ----

def _leaves(struct):
    if isinstance(struct, dict):
        return [l for v in struct.values() for l in _leaves(v)]
    if isinstance(struct, (list, tuple)):
        return [l for v in struct for l in _leaves(v)]
    return [] if struct is None else [struct]


def _map(fn, struct):
    if isinstance(struct, dict):
        return {k: _map(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return type(struct)(_map(fn, v) for v in struct)
    return None if struct is None else fn(struct)


def _to_backend(a, name):
    """One array of a batch on the backend: floats as floatx (Keras's data adapters cast them)."""
    if isinstance(a, Tensor):
        return a.data
    arr = a if hasattr(a, "dtype") and hasattr(a, "shape") else np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s must be numeric, received an array of dtype %s" % (name, arr.dtype))
    if arr.dtype.kind == "f" and arr.dtype != np.dtype(config.floatx()):
        arr = arr.astype(config.floatx())
    return backend.to_device(arr)


def pack(x, y=None, sample_weight=None):
    """Keras's pack_x_y_sample_weight: `x` alone when there is nothing else."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack(data):
    """Keras's unpack_x_y_sample_weight."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     "found a tuple of %d elements" % len(data))


def _unsupported(y, sample_weight, input_type):
    """Keras's message for an argument the data `x` must carry itself, naming that argument."""
    for arg, value, what in (("y", y, "the targets"), ("sample_weight", sample_weight, "the sample weights")):
        if value is not None:
            raise ValueError("When providing `x` as a %s, `%s` should not be passed. Instead, %s should be included "
                             "as part of the %s (received %s=%s)." % (input_type, arg, what, input_type, arg,
                                                                      type(value).__name__))


class Batches:
    """The batches of one fit/evaluate/predict call, epoch after epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, steps=None, shuffle=False,
                 class_weight=None, name="x"):
        self.class_weight = class_weight
        self.shuffle = shuffle
        if isinstance(x, PyDataset):
            self.kind, self.ds = "pydataset", x
            _unsupported(y, sample_weight, "PyDataset")
            n = x.num_batches
            if n == 0:  # Keras's refusal: an epoch of it would train (or evaluate) nothing, silently
                raise ValueError("The PyDataset has length 0")
            self.steps = n if steps is None else (min(n, int(steps)) if n is not None else int(steps))
        elif is_stream(x):
            self.kind, self.it = "stream", x
            _unsupported(y, sample_weight, "Python generator or iterator")
            self.steps = None if steps is None else int(steps)
            self._exhausted = False
        else:
            self.kind = "arrays"
            from . import targets
            leaves = _leaves(x)
            if not leaves:
                raise ValueError("%s is required" % name)
            self.n = len(leaves[0])
            for a, what in [(a, name) for a in leaves] + [(a, "y") for a in _leaves(y)] + \
                    ([(sample_weight, "sample_weight")] if sample_weight is not None else []):
                if len(a) != self.n:
                    raise ValueError("Data cardinality is ambiguous: %s has %d samples but %s has %d. Make sure all "
                                     "arrays contain the same number of samples." % (name, self.n, what, len(a)))
            if class_weight is not None:
                if y is None or isinstance(y, (dict, list, tuple)):
                    raise ValueError("class_weight needs a single array of targets y")
                sample_weight = targets.class_weights(class_weight, np.asarray(backend.to_numpy(y)),
                                                       None if sample_weight is None else np.asarray(sample_weight))
            self.x = _map(lambda a: _to_backend(a, name), x)
            self.y = _map(lambda a: _to_backend(a, "y"), y)
            self.sw = None if sample_weight is None else _to_backend(sample_weight, "sample_weight")
            self.batch_size = int(batch_size)
            full = max(1, math.ceil(self.n / self.batch_size))
            self.steps = full if steps is None else max(1, min(full, int(steps)))

    def epoch(self, stream=None):
        """The batches of one epoch; `stream` (fit's epoch stream) shuffles them when asked."""
        if self.kind == "arrays":
            order = None
            if self.shuffle and stream is not None:
                order = backend.to_device(stream.permutation(self.n))
            for step in range(self.steps):
                lo, hi = step * self.batch_size, min(self.n, (step + 1) * self.batch_size)
                idx = slice(lo, hi) if order is None else order[lo:hi]
                yield pack(_map(lambda a: a[idx], self.x), _map(lambda a: a[idx], self.y),
                           None if self.sw is None else self.sw[idx])
        elif self.kind == "pydataset":
            self.ds.on_epoch_begin()
            idx = list(range(self.steps))
            if self.shuffle and stream is not None:
                idx = [idx[i] for i in stream.permutation(len(idx))]
            for i in idx:
                yield self._convert(self.ds[i])
            self.ds.on_epoch_end()
        else:
            count = 0
            while self.steps is None or count < self.steps:
                try:
                    data = next(self.it)
                except StopIteration:
                    if count == 0 or self.steps is not None:
                        self._exhausted = True
                    return
                count += 1
                yield self._convert(data)

    @property
    def exhausted(self):
        return self.kind == "stream" and self._exhausted

    def _convert(self, data):
        x, y, sw = unpack(data)
        if self.class_weight is not None and y is not None:
            from . import targets
            sw = targets.class_weights(self.class_weight, np.asarray(backend.to_numpy(y)),
                                        None if sw is None else np.asarray(backend.to_numpy(sw)))
        return pack(_map(lambda a: _to_backend(a, "x"), x), _map(lambda a: _to_backend(a, "y"), y),
                    None if sw is None else _to_backend(sw, "sample_weight"))


# ---- loops ----

def _not_distributed(what):
    """This loop calls the model's own steps on whatever batches it is given: it has no notion of this
    process's rows, so under DataParallel it would train each process on its own. Refused, clearly."""
    from . import parallel
    if parallel.active() is not None:
        raise NotImplementedError(
            "%s under a DataParallel distribution runs on arrays through the built-in steps; this model or data "
            "needs the per-batch loop (an overridden train_step/test_step/predict_step, compute_loss or metrics, no "
            "compiled loss, a generator or a PyDataset), which gpunet does not distribute. Pass arrays to a model "
            "with the built-in steps, or use a custom loop: optimizer.apply() averages the gradients of every "
            "process under DataParallel" % what)


def _lazy(logs_box):
    return lambda: pythonify_logs(logs_box[0])


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
        validation_freq):
    if not model.compiled:
        raise RuntimeError("You must call `compile()` before calling `fit()` on model %r." % model.name)
    _not_distributed("fit()")
    val = None
    if validation_data is not None:
        if is_stream(validation_data):
            val = Batches(validation_data, steps=validation_steps)
        else:
            from . import data as data_mod
            vx, vy, vsw = data_mod.unpack_validation_data(validation_data)
            val = (vx, vy, vsw)
    elif validation_split:
        if is_stream(x):
            raise ValueError("validation_split is only supported for arrays, not for a %s; pass validation_data"
                             % type(x).__name__)
        from . import data as data_mod
        (x, y, sample_weight), val = data_mod.split_validation_struct([x, y, sample_weight], validation_split)
    batches = Batches(x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight)
    if isinstance(val, tuple):
        val = Batches(val[0], val[1], val[2], validation_batch_size or batch_size, validation_steps)
    cbs = CallbackList(callbacks, model=model, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                       epochs=epochs, steps=batches.steps)
    model.stop_training = False
    model._in_fit = True
    box = [{}]
    epoch_logs = {}
    try:
        from .trainer import _steps_per_execution, begin_training, end_epoch, stream_index
        spe = _steps_per_execution(model)
        initial_epoch = begin_training(model, cbs, initial_epoch)
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            cbs.on_epoch_begin(epoch)
            index = stream_index(model, epoch)
            stream = _random.epoch_stream(model._seed, index)
            _random.set_epoch_stream(stream, _random.dropout_key(model._seed, index))
            seen = 0
            for step, data in enumerate(batches.epoch(stream)):
                if step % spe == 0:  # the batch hooks run once per execution of steps_per_execution steps
                    cbs.on_train_batch_begin(step)
                box[0] = model.train_step(data)
                seen += 1
                if seen % spe == 0:
                    cbs.on_train_batch_end(step, _lazy(box))
                    if model.stop_training:
                        break
            if seen % spe and not model.stop_training:  # the epoch ended inside an execution
                cbs.on_train_batch_end(seen - 1, _lazy(box))
            _random.set_epoch_stream(None)
            end_epoch(model)
            if batches.exhausted:
                warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                              "generator can generate at least `steps_per_epoch * epochs` batches.", stacklevel=3)
                if not seen:
                    break
            epoch_logs = pythonify_logs(model._get_metrics_result_or_logs(box[0]))
            if val is not None and (epoch + 1) % validation_freq == 0:
                model._in_fit_validation = True
                try:
                    vlogs = _evaluate(model, val, cbs)
                finally:
                    model._in_fit_validation = False
                epoch_logs.update({"val_" + k: v for k, v in vlogs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        if epochs > 0 and model.optimizer is not None:
            model.optimizer.finalize_variable_values(model.trainable_weights)
        cbs.on_train_end(epoch_logs)
    finally:
        model._in_fit = False
        _random.set_epoch_stream(None)
    return cbs.history


def _evaluate(model, batches, cbs):
    model.reset_metrics()
    cbs.on_test_begin()
    box = [{}]
    with stop_recording():
        for step, data in enumerate(batches.epoch()):
            cbs.on_test_batch_begin(step)
            box[0] = model.test_step(data)
            cbs.on_test_batch_end(step, _lazy(box))
    logs = pythonify_logs(model._get_metrics_result_or_logs(box[0]))
    cbs.on_test_end(dict(logs))
    return logs


def evaluate(model, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict):
    if not model.compiled:
        raise RuntimeError("You must call `compile()` before calling `evaluate()` on model %r." % model.name)
    _not_distributed("evaluate()")
    batches = Batches(x, y, sample_weight, 32 if batch_size is None else batch_size, steps)
    cbs = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose, epochs=1,
                       steps=batches.steps)
    logs = _evaluate(model, batches, cbs)
    return logs if return_dict else model._flatten_metrics_in_order(logs)


def predict(model, x, batch_size, verbose, steps, callbacks):
    _not_distributed("predict()")
    batches = Batches(x, None, None, 32 if batch_size is None else batch_size, steps)
    cbs = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose, epochs=1,
                       steps=batches.steps)
    cbs.on_predict_begin()
    outs = []
    with stop_recording():
        for step, data in enumerate(batches.epoch()):
            cbs.on_predict_batch_begin(step)
            out = _map(lambda t: t.data if isinstance(t, Tensor) else backend.get_xp().asarray(t),
                       model.predict_step(data))
            outs.append(out)
            cbs.on_predict_batch_end(step, lambda: {"outputs": outs[-1]})
    cbs.on_predict_end()
    if not outs:
        raise ValueError("predict() received no batches from %s" % type(x).__name__)
    return _concat(outs)


def _concat(outs):
    first = outs[0]
    if isinstance(first, dict):
        return {k: _concat([o[k] for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat([o[i] for o in outs]) for i in range(len(first)))
    xp = backend.get_xp()
    return backend.to_numpy(xp.concatenate([xp.atleast_1d(o) for o in outs], axis=0))
