"""fit / evaluate / predict through the model's own `train_step` / `test_step` / `predict_step`,
exactly as Keras calls them: one `data` batch per call (`x`, `(x, y)` or `(x, y, sample_weight)`,
in the structure the user gave), the step's returned logs handed to the callbacks.

array_loop.py is the fast way to run the default steps on arrays (fused softmax head, the compiled CPU
step, lazy logs). This loop runs whenever that one cannot honour the model: an overridden step,
compute_loss, compute_metrics or `metrics`, a model with no compiled loss (add_loss only) or with metrics
of its own layers, no targets, or data from a Python generator or a `keras.utils.PyDataset`
(batches.py). tests/test_extensibility.py checks the two loops agree on the default steps."""
import warnings

from .. import backend
from ..callbacks import CallbackList, pythonify_logs
from ..ops.tape import Tensor, stop_recording
from . import data as data_mod, parallel
from ..common.dataset import is_stream
from .batches import Batches, _map
from .epoch_loop import EpochLoop, steps_per_execution

_STEP_API = ("train_step", "test_step", "compute_loss", "compute_metrics", "metrics")


def needed(model, x, y, for_predict=False):
    """True when fit/evaluate/predict must call the model's steps one batch at a time."""
    if is_stream(x) or model._takes_strings():  # strings stay on the host: the model's own calls read them
        return True
    if for_predict:
        return model._overrides(("predict_step",))
    if model._overrides(_STEP_API):
        return True
    return y is None or model._loss_obj is None or bool(model._layer_metrics())


def _not_distributed(what):
    """This loop calls the model's own steps on whatever batches it is given: it has no notion of this
    process's rows, so under DataParallel it would train each process on its own. Refused, clearly."""
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
            vx, vy, vsw = data_mod.unpack_validation_data(validation_data)
            val = (vx, vy, vsw)
    elif validation_split:
        if is_stream(x):
            raise ValueError("validation_split is only supported for arrays, not for a %s; pass validation_data"
                             % type(x).__name__)
        (x, y, sample_weight), val = data_mod.split_validation_struct([x, y, sample_weight], validation_split)
    batches = Batches(x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight)
    if isinstance(val, tuple):
        val = Batches(val[0], val[1], val[2], validation_batch_size or batch_size, validation_steps)
    cbs = CallbackList(callbacks, model=model, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                       epochs=epochs, steps=batches.steps)
    return _BatchFit(model, cbs, validation_freq, batches, val).run(initial_epoch, epochs)


class _BatchFit(EpochLoop):
    """fit through the model's own train_step, one batch per call; the step's returned logs go to the
    callbacks, lazily (read only when a callback or the progress bar asks)."""

    def __init__(self, model, cbs, validation_freq, batches, val):
        super().__init__(model, cbs, validation_freq)
        self.batches, self.val = batches, val
        self.spe = steps_per_execution(model)
        self.box = [{}]
        self.seen = 0

    def reset_metrics(self):
        self.model.reset_metrics()

    def run_epoch(self, stream):
        model, cbs, spe, box = self.model, self.cbs, self.spe, self.box
        self.seen = seen = 0
        for step, data in enumerate(self.batches.epoch(stream)):
            if step % spe == 0:  # the batch hooks run once per execution of steps_per_execution steps
                cbs.on_train_batch_begin(step)
            box[0] = model.train_step(data)
            self.seen = seen = seen + 1
            if seen % spe == 0:
                cbs.on_train_batch_end(step, _lazy(box))
                if model.stop_training:
                    break
        if seen % spe and not model.stop_training:  # the epoch ended inside an execution
            cbs.on_train_batch_end(seen - 1, _lazy(box))

    def end_epoch(self):
        if self.batches.exhausted:
            # stacklevel: this hook, EpochLoop.run, fit, then Model.fit
            warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                          "generator can generate at least `steps_per_epoch * epochs` batches.", stacklevel=5)
            if not self.seen:
                return False
        return True

    def epoch_logs(self, epoch):
        return pythonify_logs(self.model._get_metrics_result_or_logs(self.box[0]))

    def has_validation(self):
        return self.val is not None

    def validate(self):
        return _evaluate(self.model, self.val, self.cbs)


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
