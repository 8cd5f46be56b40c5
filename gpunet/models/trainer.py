"""fit / evaluate / predict loops shared by Sequential and Functional models.

The loops keep the whole dataset in backend memory (device memory under CuPy), draw the epoch's
permutation on the host from the epoch's seeded stream (so CPU and GPU see the same batches), and
read metrics back only when the progress bar or a callback asks for them."""
import functools
import math
import warnings

import numpy as np

from .. import backend, losses as losses_mod, metrics as metrics_mod, ops, random as _random
from ..callbacks import CallbackList
from ..layers.base import has_pending_losses
from ..ops.tape import GradientTape, Tensor, stop_recording
from . import data as data_mod, parallel
from .targets import check_sample_weight, class_weights, labels_for
from .gpu_step import EvalProgram, PredictProgram, TrainProgram
from .step_plan import StepPlan


class _Plan:
    """What one training step needs, resolved once per fit (not once per step)."""

    def __init__(self, model, y_sample, y_pred_shape):
        self.multi = isinstance(y_sample, data_mod.Multi)
        if self.multi:
            return self._init_multi(model, y_sample)
        self.loss = model._loss_obj
        self.variables = model.trainable_weights
        if not self.variables:
            raise ValueError('Model "%s" has no trainable weights to fit' % model.name)
        fn = getattr(self.loss, "fn", None)
        kwargs = getattr(self.loss, "fn_kwargs", {})
        self.sparse = fn is losses_mod.sparse_categorical_crossentropy
        ce = self.sparse or fn is losses_mod.categorical_crossentropy
        # one fused softmax + cross-entropy op on the logits: a softmax output with cross-entropy on
        # probabilities (the logits before the softmax), or any output with from_logits=True (the output)
        self.from_logits = bool(ce and kwargs.get("from_logits"))
        self.fused = (ce and kwargs.get("axis", -1) == -1 and self.loss.reduction == "sum_over_batch_size"
                      and kwargs.get("ignore_class") is None and (self.from_logits or model._has_softmax_head()))
        self.label_smoothing = kwargs.get("label_smoothing", 0.0) or 0.0
        yshape = y_sample.shape if y_sample is not None else None
        self.metrics = model._resolve_metrics(yshape, y_pred_shape)
        self.weighted_metrics = model._resolve_metrics(yshape, y_pred_shape, weighted=True)
        self.metrics_on_logits = all(m.argmax_invariant for m in self.metrics + self.weighted_metrics)
        self.has_extra_losses = bool(model.losses)  # regularizers: scanned once per fit, not per step

    def _init_multi(self, model, y):
        """Several outputs: one loss each (a single loss applies to every output), weighted by
        loss_weights; metrics per output, logged as <output>_<metric> beside <output>_loss."""
        names = model.output_names
        self.variables = model.trainable_weights
        self.fused = self.sparse = self.from_logits = False
        self.label_smoothing = 0.0
        self.has_extra_losses = bool(model.losses)
        self.out_losses = [losses_mod.get(l) for l in _per_output(model.loss, names, "loss")]
        lw = model._loss_weights
        self.loss_weights = [1.0] * len(names) if lw is None else [float(w) for w in _per_output(lw, names, "loss_weights")]
        self.out_trackers = [metrics_mod.Mean(name="%s_loss" % n) for n in names]
        self.slots = []
        for i, (n, t, o) in enumerate(zip(names, y.arrays, model.outputs)):
            for m in model._resolve_output_metrics(i, n, t.shape, o.shape):
                self.slots.append((m, i))
        self.metrics = self.out_trackers + [m for m, _ in self.slots]
        self.weighted_metrics = []
        self.metrics_on_logits = True


def _per_output(spec, names, what):
    if isinstance(spec, dict):
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError("compile(%s=...) has %d entries for %d outputs %s" % (what, len(spec), len(names), names))
        return list(spec)
    return [spec] * len(names)


def _multi_loss(model, plan, xb, yb, swb, training):
    preds = model._forward(xb, training=training)
    total = None
    for i, (lf, w) in enumerate(zip(plan.out_losses, plan.loss_weights)):
        if lf is None:
            continue
        li = lf(yb.arrays[i], preds[i], sample_weight=swb)
        plan.out_trackers[i].add(li.data, len(yb))
        term = li if w == 1.0 else ops.multiply(li, w)
        total = term if total is None else ops.add(total, term)
    return total, preds


def _loss_and_preds(model, plan, xb, yb, swb, training):
    if plan.multi:
        return _multi_loss(model, plan, xb, yb, swb, training)
    if plan.fused:
        if plan.from_logits:
            logits = model._forward(xb, training=training, fast=True)
        else:
            logits = model._forward_logits(xb, training=training, fast=True)
        mask = logits._keras_mask
        if swb is None and mask is None:
            loss = ops.softmax_cross_entropy(yb, logits, plan.sparse, plan.label_smoothing, reduction="mean")
        else:
            per = ops.softmax_cross_entropy(yb, logits, sparse=plan.sparse, label_smoothing=plan.label_smoothing)
            loss = losses_mod.reduce_weighted(per, losses_mod.apply_mask(swb, mask, "sum_over_batch_size"))
        return loss, logits
    preds = model._forward(xb, training=training, fast=True)
    return plan.loss(yb, preds, sample_weight=swb), preds


def _softmax_logits(plan):
    """Whether the fused loss's predictions are the logits before the model's softmax (the metrics take
    probabilities then); with from_logits=True they are the model's own output, handed over as they are."""
    return plan.fused and not plan.from_logits


def _update_metrics(plan, yb, preds, swb, is_logits):
    """preds: the step's prediction Tensor(s); a mask on them (padded timesteps) weighs those entries 0."""
    if plan.multi:
        for m, i in plan.slots:
            mw = _mask_weights(None, preds[i])
            if mw is None:
                m.update_state(yb.arrays[i], preds[i].data)
            else:
                m.update_state(yb.arrays[i], preds[i].data, sample_weight=mw)
        return
    if not plan.metrics and not plan.weighted_metrics:
        return
    mask = getattr(preds, "_keras_mask", None)
    preds = preds.data if isinstance(preds, Tensor) else preds
    if is_logits and not plan.metrics_on_logits:
        preds = ops.softmax(preds).data
    mw = None if mask is None else losses_mod.apply_mask(None, mask, "sum")
    for m in plan.metrics:  # Keras: `metrics` ignore sample weights, `weighted_metrics` use them
        if mw is None:
            m.update_state(yb, preds)
        else:
            m.update_state(yb, preds, sample_weight=mw)
    if plan.weighted_metrics:
        sw = swb if mask is None else losses_mod.apply_mask(swb, mask, "sum")
        for m in plan.weighted_metrics:
            m.update_state(yb, preds, sample_weight=sw)


def _mask_weights(swb, pred):
    mask = getattr(pred, "_keras_mask", None)
    return swb if mask is None else losses_mod.apply_mask(swb, mask, "sum")


def train_step(model, plan, xb, yb, swb):
    with GradientTape() as tape:
        loss, preds = _loss_and_preds(model, plan, xb, yb, swb, True)
        total = loss
        if plan.has_extra_losses or has_pending_losses():  # regularizers, add_loss() of this pass
            for r in model.losses:
                total = ops.add(total, r)
        scaled = model.optimizer.scale_loss(total)  # Keras: gradients of the scaled loss; apply() unscales
    grads = tape.gradient(scaled, plan.variables, write_to_sinks=True)
    model.optimizer.apply(grads, plan.variables)
    model._loss_tracker.add(total.data, len(xb))
    _update_metrics(plan, yb, preds, swb, _softmax_logits(plan))
    return total


def _logs(model, plan, prefix=""):
    out = {prefix + "loss": float(model._loss_tracker.result())}
    for m in plan.metrics + plan.weighted_metrics:
        out[prefix + m.name] = _log_value(m.result())
    return out


def _log_value(value):
    """A metric's result as the logs hold it: a float, or an array for a per-class result (F1Score(average=None)),
    as Keras logs it."""
    size = getattr(value, "size", 1)
    return float(value) if size == 1 else backend.to_numpy(value)


def _prepare(model, x, y, sample_weight, name="x"):
    x = data_mod.prepare_inputs(model, x, name)
    y = data_mod.prepare_targets(model, y, len(x), "y" if name == "x" else "y_" + name.split("_", 1)[-1])
    sw = None if sample_weight is None else data_mod.prepare_y(
        sample_weight, len(x), "sample_weight" if name == "x" else "validation sample_weight")
    return x, y, sw


def _labels_checked_on_the_host(fn):
    """fit, evaluate, train_on_batch and test_on_batch check the labels on the host once (_labels_for), so
    the kernels need not read their range flag back every batch (a sync, GPU-REVIEW A4). The previous
    setting comes back afterwards: a fit inside another's callback leaves the outer one as it was."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        from ..kernels import softmax_xent
        saved, softmax_xent.CHECK_LABELS = softmax_xent.CHECK_LABELS, False
        try:
            return fn(*args, **kwargs)
        finally:
            softmax_xent.CHECK_LABELS = saved
    return run


def _to_device(*arrays):
    def move(a):
        if a is None:
            return None
        if isinstance(a, data_mod.Multi):
            return data_mod.Multi([move(x) for x in a.arrays])
        if isinstance(a, data_mod.CastRows):
            # the launch programs (GPU, emulated kernels) read floats resident on the device: cast there once,
            # chunk by chunk; the NumPy loops cast each batch as they take it
            return a.dense() if backend.uses_kernels() else a
        return backend.to_device(a)
    return [move(a) for a in arrays]


@_labels_checked_on_the_host
def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
        initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
        validation_freq=1):
    model._assert_compiled("fit")
    if y is None:
        raise ValueError("fit() needs targets y (datasets and generators are not supported yet)")
    batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
    verbose = data_mod.check_verbose(verbose)  # the other arguments: checked by Model.fit
    x, y, sw = _prepare(model, x, y, sample_weight)
    sw = class_weights(class_weight, y, sw)
    val = None
    if validation_data is not None:
        vx, vy, vsw = data_mod.unpack_validation_data(validation_data)
        val = _prepare(model, vx, vy, vsw, name="x_val")
    elif validation_split:
        (x, y, sw), val = data_mod.split_validation([x, y, sw], validation_split)
    model._ensure_built(x.shape)
    check_sample_weight(model, sw, y)
    plan = _Plan(model, y, model._output_shape())
    y = labels_for(plan, model, y)
    dp = parallel.active()  # a DataParallel job of several processes: this process's rows of every batch
    vbatch = validation_batch_size or batch_size
    val_steps, val_reduce = validation_steps, None
    if dp is not None:
        parallel.check_divisible(batch_size, dp.size)
    if val is not None:
        check_sample_weight(model, val[2], val[1], "validation sample_weight")
        nval = len(val[0])
        part = dp and parallel.eval_part(dp, nval, vbatch, validation_steps, "validation_batch_size")
        if part:  # this process validates its contiguous part of the rows; the sums are reduced
            lo, hi, vbatch = part
            val, val_steps, val_reduce = [None if a is None else a[lo:hi] for a in val], None, dp
        # moved to the device once, not once per validation pass
        val = tuple(_to_device(val[0], labels_for(plan, model, val[1]), val[2]))
    n = len(x)
    steps = max(1, math.ceil(n / batch_size))
    if steps_per_epoch is not None:
        steps = max(1, min(steps, int(steps_per_epoch)))
    shard = None
    if dp is not None:
        shard = parallel.Shard(dp, n, batch_size, steps)
        shard.batch_consensus = parallel.stops_in_batches(callbacks)
        parallel.agree(dp, [("the number of training samples", n), ("batch_size", batch_size), ("epochs", epochs),
                            ("initial_epoch", initial_epoch), ("steps per epoch", steps), ("shuffle", int(shuffle)),
                            ("the number of validation samples", 0 if val is None else nval),
                            ("the validation batch size", vbatch), ("validation_freq", validation_freq),
                            ("the model (weights and config)", parallel.model_fingerprint(model)),
                            ("the optimizer", parallel.fingerprint(type(model.optimizer).__name__)),
                            ("callbacks with batch hooks", int(shard.batch_consensus))])
    xd, yd, swd = _to_device(x, y, sw)
    if not getattr(model.optimizer, "built", False):
        model.optimizer.build(plan.variables)
    eager = sw is not None or getattr(model, "run_eagerly", False)
    fast = None if eager else StepPlan.build(model, plan)
    program = None
    cbs = CallbackList(parallel.for_rank(callbacks, dp), model=model, add_history=True,
                       add_progbar=verbose != 0 and parallel.rank(dp) == 0, verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    model._in_fit = True
    logs_fn = lambda: _logs(model, plan)  # noqa: E731
    spe = _steps_per_execution(model)
    val_program = None
    epoch_logs = {}
    try:
        initial_epoch = begin_training(model, cbs, initial_epoch)
        if dp is not None:  # rank 0's weights, optimizer state, seed and starting epoch (a restored backup's)
            initial_epoch = parallel.sync_start(dp, model, initial_epoch)
        if not eager:  # on the kernel backend: the static launch program (a CUDA graph on a GPU)
            program = TrainProgram.build(model, plan, xd, yd, batch_size, steps, shuffle, shard=shard)
        if program is not None:  # the progress bar reads without stopping the stream; batch callbacks wait
            sync = cbs.wants_batch_logs("on_train_batch_end") or cbs.wants_batch_logs("on_train_batch_begin")
            program.follow_callbacks = sync
            logs_fn = lambda: program.logs(sync)  # noqa: E731
        for epoch in range(initial_epoch, epochs):
            model._reset_metrics(plan)
            cbs.on_epoch_begin(epoch)
            index = stream_index(model, epoch)
            stream = _random.epoch_stream(model._seed, index)
            order = stream.permutation(n) if shuffle else None
            key = _random.dropout_key(model._seed, index)
            if shard is not None:
                order, key = shard.order(order), parallel.dropout_key(key, dp.rank)
            _random.set_epoch_stream(stream, key)
            if program is not None:
                _program_epoch(model, program, cbs, order, key, steps, spe, logs_fn, shard)
            else:
                _array_epoch(model, plan, fast, cbs, (xd, yd, swd), order, batch_size, steps, spe, logs_fn, shard)
            _random.set_epoch_stream(None)
            end_epoch(model)
            if dp is not None:  # the epoch's sums over every process's rows; rank 0's weights everywhere
                parallel.reduce_metrics(dp, _trackers(model, plan))
                parallel.end_epoch_sync(dp, model)
            epoch_logs = _logs(model, plan)
            if not math.isfinite(epoch_logs["loss"]):
                cause = ("the optimizer's epsilon is 0: an update divides by zero wherever a gradient is 0; give "
                         "epsilon a small positive value such as 1e-7" if getattr(model.optimizer, "epsilon", None) == 0
                         else "lower the learning rate, check the inputs for outliers")
                warnings.warn("gpunet: the training loss is %s after epoch %d: the weights have diverged (%s)"
                              % (epoch_logs["loss"], epoch + 1, cause), RuntimeWarning, stacklevel=3)
            if val is not None and (epoch + 1) % validation_freq == 0:
                model._in_fit_validation = True
                try:  # Keras runs fit's validation as an evaluate(): the on_test_* hooks fire
                    cbs.on_test_begin()
                    if val_program is None:  # built once per fit (False: this model or data cannot have one)
                        val_program = val[2] is None and EvalProgram.build(
                            model, plan, val[0], val[1], vbatch, _n_steps(len(val[0]), vbatch, val_steps)) or False
                    vlogs = _evaluate_arrays(model, plan, val[0], val[1], val[2], vbatch, cbs=cbs,
                                             max_steps=val_steps, program=val_program, reduce_with=val_reduce)
                    cbs.on_test_end(dict(vlogs))
                    epoch_logs.update({"val_" + k: v for k, v in vlogs.items()})
                finally:
                    model._in_fit_validation = False
            cbs.on_epoch_end(epoch, epoch_logs)
            if dp is not None:  # a callback that stopped one process stops them all
                parallel.agree_stop(dp, model)
            if model.stop_training:
                break
        if epochs > 0:  # Keras: with use_ema the weights become their moving averages
            model.optimizer.finalize_variable_values(model.trainable_weights)
        cbs.on_train_end(epoch_logs)
    finally:
        model._in_fit = False
        model.optimizer._dp_scale = None
        _random.set_epoch_stream(None)
        if program is not None:
            program.finish()  # the weights are read on the default stream from here on
    return cbs.history


def _trackers(model, plan):
    return [model._loss_tracker] + plan.metrics + plan.weighted_metrics


def _steps_per_execution(model):
    spe = getattr(model, "steps_per_execution", 1)
    if spe is None:
        return 1
    if isinstance(spe, bool) or not isinstance(spe, (int, np.integer)) or spe < 1:
        raise ValueError("compile(steps_per_execution=...) must be a positive integer, received %r" % (spe,))
    return int(spe)


def _array_epoch(model, plan, fast, cbs, data, order, batch_size, steps, spe, logs_fn, shard=None):
    """One epoch one batch at a time: the compiled CPU step (`fast`) or the tape; batch hooks once per
    `steps_per_execution` steps, as Keras calls them. With a shard (DataParallel), `order` holds this process's
    rows, batch_size / processes of each batch, and each step's gradient is scaled by the rows' share."""
    xd, yd, swd = data
    n = len(xd)
    if shard is not None:
        n, batch_size = shard.n_local, shard.local_batch
    order_d = None if order is None else backend.to_device(order)
    for step in range(steps):
        lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
        if shard is not None:
            model.optimizer._dp_scale = shard.scale(step)
        if order_d is None:
            xb, yb, swb = data_mod.dense(xd[lo:hi]), yd[lo:hi], None if swd is None else swd[lo:hi]
        else:
            idx = order_d[lo:hi]
            xb, yb, swb = data_mod.dense(xd[idx]), yd[idx], None if swd is None else swd[idx]
        if step % spe == 0:
            cbs.on_train_batch_begin(step)
        if hi == lo:  # DataParallel: a short last batch left this process no rows; it joins the all-reduce with 0
            _null_step(model, plan, fast, data)
        elif fast is not None:
            fast.train_step(xb, yb)
        else:
            train_step(model, plan, xb, yb, swb)
        if (step + 1) % spe == 0 or step == steps - 1:
            cbs.on_train_batch_end(step, logs_fn)
            if shard is not None and shard.batch_consensus:
                parallel.agree_stop(shard.comm, model)
            if model.stop_training:
                break


def _null_step(model, plan, fast, data):
    """A step on one row whose gradient counts 0 (the optimizer's scale is 0), its loss and metrics undone: the
    same launches, collectives and updates as the other processes' step, with nothing of its own."""
    xd, yd, swd = data
    saved = parallel.snapshot(_trackers(model, plan))
    xb, yb, swb = data_mod.dense(xd[0:1]), yd[0:1], None if swd is None else swd[0:1]
    if fast is not None:
        fast.train_step(xb, yb)
    else:
        train_step(model, plan, xb, yb, swb)
    parallel.restore(saved)


def _program_epoch(model, program, cbs, order, key, steps, spe, logs_fn, shard=None):
    """One epoch of the launch program: `steps_per_execution` steps per replay, the batch hooks called
    around each replay with its first and last step (as Keras does), one sync at the end."""
    program.begin_epoch(order, key)
    step = 0
    while step < steps:
        k = min(spe, steps - step)
        cbs.on_train_batch_begin(step)
        program.run(k)
        step += k
        cbs.on_train_batch_end(step - 1, logs_fn)
        if shard is not None and shard.batch_consensus:
            parallel.agree_stop(shard.comm, model)
        if model.stop_training:
            break
    program.end_epoch()


def _n_steps(n, batch_size, max_steps=None):
    steps = max(1, math.ceil(n / batch_size))
    return steps if max_steps is None else max(1, min(steps, int(max_steps)))


def begin_training(model, cbs, initial_epoch):
    """Both fit loops start alike: on_train_begin (where BackupAndRestore may load a backup and name the
    epoch to resume from), then the model's seed, which keys every epoch's shuffle and dropout.

    An epoch's streams are keyed by (seed, index): the index is the epoch number, moved past the epochs
    this model already trained in earlier fit calls. So fit(epochs=1) called in a loop shuffles and drops
    differently each time, as Keras does (keyed by the epoch number alone, every call replayed epoch 0's
    order and masks), while a resumed run (initial_epoch=k after k epochs) replays the original's."""
    cbs.on_train_begin()
    resumed = model.__dict__.pop("_initial_epoch", None)
    if model._seed is None:
        model._seed = int(_random.generator().integers(2**31))
    start = initial_epoch if resumed is None else resumed
    model._stream_offset = max(0, getattr(model, "_epochs_trained", 0) - start)
    return start


def stream_index(model, epoch):
    """The index that keys this epoch's shuffle and dropout streams (see begin_training)."""
    return epoch + getattr(model, "_stream_offset", 0)


def end_epoch(model):
    model._epochs_trained = getattr(model, "_epochs_trained", 0) + 1


def _evaluate_arrays(model, plan, x, y, sw, batch_size, prefix="", cbs=None, max_steps=None, program=None,
                     reduce_with=None):
    """program: a built EvalProgram, None to build one if the model is eligible, False for none.
    reduce_with: a DataParallel communicator when x holds this process's part of the rows (the sums are
    added across processes before the logs are read)."""
    model._reset_metrics(plan)
    xd, yd, swd = _to_device(x, y, sw)
    n = len(x)
    steps = _n_steps(n, batch_size, max_steps)
    if program is None and sw is None:
        program = EvalProgram.build(model, plan, xd, yd, batch_size, steps)
    if program:  # the forward-only launch program: the sums stay on the device until the end
        program.run_all(cbs)
        if reduce_with is not None:
            parallel.reduce_metrics(reduce_with, _trackers(model, plan))
        return _logs(model, plan, prefix)
    with stop_recording():
        for step in range(steps):
            lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
            swb = None if swd is None else swd[lo:hi]
            if cbs is not None:
                cbs.on_test_batch_begin(step)
            loss, preds = _loss_and_preds(model, plan, data_mod.dense(xd[lo:hi]), yd[lo:hi], swb, False)
            if plan.has_extra_losses or has_pending_losses():
                for r in model.losses:
                    loss = ops.add(loss, r)
            model._loss_tracker.add(loss.data, hi - lo)
            _update_metrics(plan, yd[lo:hi], preds, swb, _softmax_logits(plan))
            if cbs is not None:
                cbs.on_test_batch_end(step, lambda: _logs(model, plan))
    if reduce_with is not None:
        parallel.reduce_metrics(reduce_with, _trackers(model, plan))
    return _logs(model, plan, prefix)


@_labels_checked_on_the_host
def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             callbacks=None, return_dict=False):
    model._assert_compiled("evaluate")
    if y is None:
        raise ValueError("evaluate() needs targets y")
    batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
    verbose = data_mod.check_verbose(verbose)
    steps = data_mod.positive_int(steps, "steps")
    x, y, sw = _prepare(model, x, y, sample_weight)
    model._ensure_built(x.shape)
    check_sample_weight(model, sw, y)
    plan = _Plan(model, y, model._output_shape())
    y = labels_for(plan, model, y)
    dp, part = parallel.eval_shard(model, len(x), batch_size, steps)
    if part:  # DataParallel: this process's contiguous part of the rows; the sums are added up after
        lo, hi, batch_size = part
        x, y, sw, steps = x[lo:hi], y[lo:hi], None if sw is None else sw[lo:hi], None
    nsteps = _n_steps(len(x), batch_size, steps)
    cbs = CallbackList(parallel.for_rank(callbacks, dp), model=model,
                       add_progbar=verbose != 0 and parallel.rank(dp) == 0, verbose=verbose, epochs=1, steps=nsteps)
    cbs.on_test_begin()
    logs = _evaluate_arrays(model, plan, x, y, sw, batch_size, cbs=cbs, max_steps=steps,
                            reduce_with=dp if part else None)
    cbs.on_test_end(logs)
    if return_dict:
        return logs
    values = [logs["loss"]] + [logs[m.name] for m in plan.metrics + plan.weighted_metrics]
    return values[0] if len(values) == 1 else values


def _batch_plan(model, x, y, sample_weight, class_weight=None):
    x, y, sw = _prepare(model, x, y, sample_weight)
    sw = class_weights(class_weight, y, sw)
    model._ensure_built(x.shape)
    check_sample_weight(model, sw, y)
    plan = _Plan(model, y, model._output_shape())
    return plan, x, labels_for(plan, model, y), sw


def _batch_result(model, plan, return_dict):
    logs = _logs(model, plan)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


@_labels_checked_on_the_host
def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on this batch; returns its loss (and metrics) — reset first, so the numbers
    are this batch's, as Keras 2's default reset_metrics=True gave."""
    model._assert_compiled("train_on_batch")
    plan, x, y, sw = _batch_plan(model, x, y, sample_weight, class_weight)
    model._reset_metrics(plan)
    xd, yd, swd = _to_device(x, y, sw)
    train_step(model, plan, data_mod.dense(xd), yd, swd)
    return _batch_result(model, plan, return_dict)


@_labels_checked_on_the_host
def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    model._assert_compiled("test_on_batch")
    plan, x, y, sw = _batch_plan(model, x, y, sample_weight)
    _evaluate_arrays(model, plan, x, y, sw, max(1, len(x)))
    return _batch_result(model, plan, return_dict)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None, local=False):
    """local: this process's own batch even under DataParallel (predict_on_batch)."""
    batch_size = data_mod.positive_int(batch_size, "batch_size", 32)
    verbose = data_mod.check_verbose(verbose)
    steps = data_mod.positive_int(steps, "steps")
    x = data_mod.prepare_inputs(model, x)
    if steps is not None and steps * batch_size < len(x):  # Keras: predict(steps=k) reads the first k batches
        x = x[:steps * batch_size]
    model._ensure_built(x.shape)
    dp, part = (None, None) if local else parallel.eval_shard(model, len(x), batch_size, None)
    if part:  # DataParallel: each process predicts its part; the parts are gathered on every process
        lo, hi, batch_size = part
        x = x[lo:hi]
    xd = _to_device(x)[0]
    n = len(x)
    nsteps = _n_steps(n, batch_size)
    cbs = CallbackList(parallel.for_rank(callbacks, dp), model=model,
                       add_progbar=verbose != 0 and parallel.rank(dp) == 0, verbose=verbose, epochs=1, steps=nsteps)
    cbs.on_predict_begin()
    program = None if cbs.wants_batch_logs("on_predict_batch_end") else PredictProgram.build(model, xd, batch_size, nsteps)
    if program is not None:  # the launch program writes every batch into one device buffer
        out = program.run_all(cbs)
        out = backend.to_numpy(parallel.gather_rows(dp, out) if part else out)
        cbs.on_predict_end()
        return out
    outs = []
    with stop_recording():
        for step in range(nsteps):
            cbs.on_predict_batch_begin(step)
            out = model._forward(data_mod.dense(xd[step * batch_size:(step + 1) * batch_size]), training=False,
                                 fast=True)
            outs.append([o.data for o in out] if isinstance(out, (list, tuple)) else out.data)
            cbs.on_predict_batch_end(step, lambda: {"outputs": outs[-1]})
    cbs.on_predict_end()
    xp = backend.get_xp()
    gather = (lambda a: parallel.gather_rows(dp, a)) if part else (lambda a: a)
    if isinstance(outs[0], list):  # several outputs: a list of arrays, as Keras returns
        return [backend.to_numpy(gather(xp.concatenate([o[i] for o in outs], axis=0))) for i in range(len(outs[0]))]
    return backend.to_numpy(gather(xp.concatenate(outs, axis=0)))
