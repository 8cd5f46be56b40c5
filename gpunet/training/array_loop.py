"""fit / evaluate / predict on arrays through the built-in steps: the fast way to run a model.

The loops keep the whole dataset in backend memory (device memory under CuPy), draw the epoch's
permutation on the host from the epoch's seeded stream (so CPU and GPU see the same batches), and
read metrics back only when the progress bar or a callback asks for them. Each step runs on one of three
executors: the GPU launch program (gpu_step.py), the compiled CPU step (cpu_step.py) or the tape
(tape_step.py); fit's epochs run on the shared skeleton (epoch_loop.py)."""
import functools
import math
import warnings

from .. import backend, ops
from ..callbacks import CallbackList
from ..layers.base import has_pending_losses
from ..ops.tape import stop_recording
from . import data as data_mod, parallel
from .cpu_step import StepPlan
from .epoch_loop import EpochLoop, steps_per_execution
from .gpu_step import EvalProgram, PredictProgram, TrainProgram
from .tape_step import _Plan, _logs, _loss_and_preds, _softmax_logits, _trackers, _update_metrics, train_step
from .targets import check_sample_weight, class_weights, labels_for




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
    if plan.variables and not getattr(model.optimizer, "built", False):
        model.optimizer.build(plan.variables)
    # a model with nothing to train (a Lambda, frozen layers) still runs its losses and metrics, as Keras's does
    eager = sw is not None or getattr(model, "run_eagerly", False) or not plan.variables or \
        getattr(model.optimizer, "dynamic_loss_scaling", False)  # the compiled steps have no dynamic loss scale
    fast = None if eager else StepPlan.build(model, plan)
    cbs = CallbackList(parallel.for_rank(callbacks, dp), model=model, add_history=True,
                       add_progbar=verbose != 0 and parallel.rank(dp) == 0, verbose=verbose, epochs=epochs, steps=steps)
    validation = None if val is None else (val, vbatch, val_steps, val_reduce)
    loop = _ArrayFit(model, cbs, validation_freq, plan, (xd, yd, swd), batch_size, steps, shuffle, eager, fast, dp,
                     shard, validation)
    return loop.run(initial_epoch, epochs)


class _ArrayFit(EpochLoop):
    """fit on arrays resident on the device: each epoch runs the launch program (a CUDA graph on a GPU, the
    emulated kernels on the CPU) when the model has one, else one batch at a time through the compiled CPU
    step (`fast`) or the tape. Under DataParallel (`shard`) each process trains on its rows of every batch."""

    def __init__(self, model, cbs, validation_freq, plan, data, batch_size, steps, shuffle, eager, fast, dp, shard,
                 validation):
        super().__init__(model, cbs, validation_freq)
        self.plan, self.data, self.batch_size, self.steps, self.shuffle = plan, data, batch_size, steps, shuffle
        self.eager, self.fast, self.dp, self.shard = eager, fast, dp, shard
        self.spe = steps_per_execution(model)
        self.validation = validation  # (arrays on the device, batch size, steps, DataParallel comm) or None
        self.program = self.val_program = None
        self.logs_fn = lambda: _logs(model, plan)
        self.order = self.key = None

    def start(self, initial_epoch):
        model, dp = self.model, self.dp
        if dp is not None:  # rank 0's weights, optimizer state, seed and starting epoch (a restored backup's)
            initial_epoch = parallel.sync_start(dp, model, initial_epoch)
        if not self.eager:  # on the kernel backend: the static launch program (a CUDA graph on a GPU)
            xd, yd, _ = self.data
            self.program = TrainProgram.build(model, self.plan, xd, yd, self.batch_size, self.steps, self.shuffle,
                                              shard=self.shard)
        if self.program is not None:  # the progress bar reads without stopping the stream; batch callbacks wait
            program, cbs = self.program, self.cbs
            sync = cbs.wants_batch_logs("on_train_batch_end") or cbs.wants_batch_logs("on_train_batch_begin")
            program.follow_callbacks = sync
            self.logs_fn = lambda: program.logs(sync)
        return initial_epoch

    def reset_metrics(self):
        self.model._reset_metrics(self.plan)

    def begin_epoch(self, stream, key):
        self.order = stream.permutation(len(self.data[0])) if self.shuffle else None
        if self.shard is not None:
            self.order, key = self.shard.order(self.order), parallel.dropout_key(key, self.dp.rank)
        self.key = key
        return key

    def run_epoch(self, stream):
        if self.program is not None:
            _program_epoch(self.model, self.program, self.cbs, self.order, self.key, self.steps,
                           self.spe, self.logs_fn, self.shard)
        else:
            _array_epoch(self.model, self.plan, self.fast, self.cbs, self.data, self.order, self.batch_size,
                         self.steps, self.spe, self.logs_fn, self.shard)

    def end_epoch(self):
        if self.dp is not None:  # the epoch's sums over every process's rows; rank 0's weights everywhere
            parallel.reduce_metrics(self.dp, _trackers(self.model, self.plan))
            parallel.end_epoch_sync(self.dp, self.model)
        return True

    def epoch_logs(self, epoch):
        model = self.model
        logs = _logs(model, self.plan)
        if not math.isfinite(logs["loss"]):
            cause = ("the optimizer's epsilon is 0: an update divides by zero wherever a gradient is 0; give "
                     "epsilon a small positive value such as 1e-7" if getattr(model.optimizer, "epsilon", None) == 0
                     else "lower the learning rate, check the inputs for outliers")
            # stacklevel: this hook, EpochLoop.run, fit, its label-check wrapper, then Model.fit
            warnings.warn("gpunet: the training loss is %s after epoch %d: the weights have diverged (%s)"
                          % (logs["loss"], epoch + 1, cause), RuntimeWarning, stacklevel=5)
        return logs

    def has_validation(self):
        return self.validation is not None

    def validate(self):
        model, plan, cbs = self.model, self.plan, self.cbs
        val, vbatch, val_steps, val_reduce = self.validation
        cbs.on_test_begin()
        if self.val_program is None:  # built once per fit (False: this model or data cannot have one)
            self.val_program = val[2] is None and EvalProgram.build(
                model, plan, val[0], val[1], vbatch, _n_steps(len(val[0]), vbatch, val_steps)) or False
        vlogs = _evaluate_arrays(model, plan, val[0], val[1], val[2], vbatch, cbs=cbs, max_steps=val_steps,
                                 program=self.val_program, reduce_with=val_reduce)
        cbs.on_test_end(dict(vlogs))
        return vlogs

    def after_epoch_end(self):
        if self.dp is not None:  # a callback that stopped one process stops them all
            parallel.agree_stop(self.dp, self.model)

    def finish(self):
        self.model.optimizer._dp_scale = None
        if self.program is not None:
            self.program.finish()  # the weights are read on the default stream from here on


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
        if program.follow_callbacks:  # the hooks run on the legacy stream: after the steps queued so far
            program.before_batch_hooks()
        cbs.on_train_batch_begin(step)
        program.run(k)
        step += k
        if program.follow_callbacks:
            program.before_batch_hooks()
        cbs.on_train_batch_end(step - 1, logs_fn)
        if shard is not None and shard.batch_consensus:
            parallel.agree_stop(shard.comm, model)
        if model.stop_training:
            break
    program.end_epoch()


def _n_steps(n, batch_size, max_steps=None):
    steps = max(1, math.ceil(n / batch_size))
    return steps if max_steps is None else max(1, min(steps, int(max_steps)))








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
            outs.append({k: o.data for k, o in out.items()} if isinstance(out, dict)
                        else [o.data for o in out] if isinstance(out, (list, tuple)) else out.data)
            cbs.on_predict_batch_end(step, lambda: {"outputs": outs[-1]})
    cbs.on_predict_end()
    xp = backend.get_xp()
    gather = (lambda a: parallel.gather_rows(dp, a)) if part else (lambda a: a)
    if isinstance(outs[0], dict):  # a model with a dict of outputs: a dict of arrays, as Keras returns
        return {k: backend.to_numpy(gather(xp.concatenate([o[k] for o in outs], axis=0))) for k in outs[0]}
    if isinstance(outs[0], list):  # several outputs: a list of arrays, as Keras returns
        return [backend.to_numpy(gather(xp.concatenate([o[i] for o in outs], axis=0))) for i in range(len(outs[0]))]
    return backend.to_numpy(gather(xp.concatenate(outs, axis=0)))
