"""The GPU training step as a static launch program, replayed as a CUDA graph (ARCHITECTURE.md decision 1).

For a Sequential or a one-input, one-output Functional model whose every layer has a program rule (the layer
graph: graph_program.py; the rules: program_layers.py, program_spatial.py, program_recurrent.py,
program_attention.py) trained with softmax + cross-entropy, fit on the kernel backend runs a fixed list of kernel
launches instead of the tape:

  step_begin · gather_batch · the graph's forward (each node's launches in run order) · the fused head (the last
  Dense with softmax_xent forward, backward and the sums) or softmax_xent_forward · xent_accumulate ·
  softmax_xent_backward · the graph's backward (weight gradients straight into the optimizer's flat gradient
  buffer) · [grad_unscale] [grad_accumulate_ctl] [grad_sumsq, grad_clip] · one fused optimizer update ·
  [ema_update_ctl]

Every buffer is allocated once, at build, from a private CuPy memory pool the program keeps; no argument
changes from step to step. What changes lives on the device: the control block (step index, valid rows
of the batch, the epoch's Philox key) and a per-epoch table of per-step scalars (learning rate or Adam's
step size, decay, the loss gradient's scale, the EMA's momentum and overwrite flag, whether the step
updates or only accumulates), computed on the host exactly as the eager optimizer computes them and
uploaded once per epoch; step_begin advances the block and copies the step's row inside the step.
The batch is gathered on the device by the epoch's permutation; a short last batch is the same program
with padding rows that contribute exactly zero (BatchNormalization's statistics read the valid count).
Loss and correct-count sums accumulate on the device.
So the step does no host work: on CuPy it is captured once as a CUDA graph (after two warm-up steps) and
replayed, `steps_per_execution` steps per graph; in the emulated tier (CI) the same launches run through
HIP-CPU, so the program is tested everywhere and only the capture needs a GPU.

`evaluate`, fit's validation and `predict` get forward-only programs the same way. What the programs
cannot honour sends fit to the tape path, with the reason logged once (README: "The captured GPU step")."""
import logging

import numpy as np

from .. import backend
from ..kernels import head, optim, softmax_xent, step
from ..metrics import CategoricalAccuracy, SparseCategoricalAccuracy
from ..optimizers.rules import SGD, Adam, AdamW, RMSprop
from .gpu_runner import Arena, Readback, Runner
from .graph_program import Program
from .program_layers import Unsupported
from .tape_step import _any_mixed

_log = logging.getLogger("gpunet")

_ARGMAX_COUNTERS = (SparseCategoricalAccuracy, CategoricalAccuracy)
K = 6  # per-step scalars: [lr or Adam's alpha, decay, loss gradient scale, EMA momentum, EMA overwrite, update]


def _optimizer_ok(opt):
    """The optimizers and options the program's fused update honours; anything else: the tape path."""
    if type(opt) not in (Adam, AdamW, SGD, RMSprop):
        raise Unsupported("the optimizer is %s (the fused update runs Adam, AdamW, SGD, RMSprop)" % type(opt).__name__)
    if not (opt.built and opt._flat.dtype == np.float32 and optim.optim_supported(opt._flat.size)
            and len(opt._vars) <= 65535):
        raise Unsupported("the optimizer's variables are not one float32 buffer the update kernels take")
    if opt._exclude_from_wd:
        raise Unsupported("the optimizer excludes variables from weight decay")
    if opt._constrained:
        raise Unsupported("a weight has a constraint")


def _plan_ok(plan, model):
    """The loss and metrics the programs compute on the device; raises Unsupported(reason) otherwise."""
    if plan.multi:
        raise Unsupported("the model has several outputs")
    if not plan.fused:
        raise Unsupported("a layer computes in half precision (mixed precision)" if _any_mixed(model) else
                          "the loss is not a cross-entropy the softmax head fuses with")
    if plan.has_extra_losses:
        raise Unsupported("the model adds losses of its own (add_loss, regularizers)")
    if plan.weighted_metrics:
        raise Unsupported("weighted metrics")
    if any(type(m) not in _ARGMAX_COUNTERS for m in plan.metrics):
        raise Unsupported("a metric other than accuracy (%s)"
                          % ", ".join(m.name for m in plan.metrics if type(m) not in _ARGMAX_COUNTERS))


_told = set()


def _fallback(what, model, reason):
    """One log line per model and reason: why `what` runs on the tape (or eagerly) instead of a program."""
    key = (what, id(model), reason)
    if key not in _told:
        _told.add(key)
        _log.info("gpunet: %s of %s runs without the GPU step program: %s", what, model.name, reason)
    return None


def _optimizer_launch(opt, cur):
    p, g, st = opt._flat, opt._grad, opt._state
    if isinstance(opt, Adam):
        return optim.adam_update_ctl_launch(p, g, st["momentum"], st["velocity"], st.get("velocity_hat"), cur,
                                              opt.beta_1, opt.beta_2, opt.epsilon)
    if isinstance(opt, SGD):
        return optim.sgd_update_ctl_launch(p, g, st.get("momentum"), cur, opt.momentum, opt.nesterov)
    return optim.rmsprop_update_ctl_launch(p, g, st["velocity"], st.get("momentum"), st.get("average_gradient"),
                                             cur, opt.rho, opt.momentum, opt.epsilon)


class _Forward:
    """The shared forward half: step_begin, gather, the layers; `self.h` is the logits buffer after it."""

    def _build_forward(self, model, x, y, batch, n, sparse, perm, count, training, head_kind, fuse_head=False):
        """n: the rows the steps walk (len(x), or under DataParallel this process's rows, read through perm).
        fuse_head: the last Dense's launches are left out and its buffers kept in self.head (the training step's
        fused head computes it with the loss). Raises Unsupported (the reason) for what no program covers."""
        A = self.arena
        self.ctl = A.empty(4, np.int32, fill=0)
        self.cur = A.empty(K, np.float32, fill=0)
        self.table = A.empty((max(1, self.steps), K), np.float32, fill=0)
        self.acc = A.empty(2, np.float64, fill=0)
        self.batch, self.n = batch, n
        self.graph = Program(model, A, batch, training, self.ctl, head_kind)
        if x.dtype not in (np.float32, np.int32) or not x.flags.c_contiguous:
            raise Unsupported("the inputs are not contiguous float32 or int32 (dtype %s)" % x.dtype)
        # the rows as they are, no copy; int32 token ids travel as their bits (the gather copies, never converts)
        x2 = x.reshape(len(x), -1).view(np.float32)
        self.graph.data, self.graph.ids_int = x, x.dtype == np.int32
        self.xb = A.empty((batch, x2.shape[1]))
        if y is None:
            self.yb = None
        elif sparse:
            y = y.reshape(len(y))
            if y.dtype != np.int32:
                raise Unsupported("the labels are %s, not int32" % y.dtype)
            self.yb = A.empty(batch, np.int32)
        else:
            y = y.reshape(len(y), -1)
            if y.dtype != np.float32:
                y = y.astype(np.float32)  # once per program, not per step
            self.yb = A.empty((batch, y.shape[1]))
        self._hold = (x2, y, perm)  # the graph reads them: keep them alive with the program
        L = [step.step_begin_launch(self.ctl, self.iterations, self.table, self.cur, n, batch, count),
             step.gather_batch_launch(x2, perm, self.ctl, self.xb, y, self.yb, sparse, A.empty(1, np.int32, fill=0),
                                         A.empty(1, fill=0))]
        self.head = None

        def take_head(h, W, b, Y, Z, act):
            if h.ndim == 2 and Y.shape[0] == batch and head.head_supported(batch, act):
                self.head = (h, W, b, Y, Z, act)
                return True
            return False
        self.graph.launches = L
        self.h = self.graph.forward(self.xb.reshape((batch,) + tuple(x.shape[1:])), take_head if fuse_head else None)
        if self.h.ndim != 2 or self.h.shape[1] != model._output_dim():
            raise Unsupported("the output is not one row of class scores per sample (shape %s)"
                              % (tuple(self.h.shape),))
        self.launches = L

    def __repr__(self):
        return "%s(%d nodes, %d launches per step, %.1f MiB of device buffers)" % (
            type(self).__name__, len(self.graph.nodes), len(self.launches), self.graph.nbytes / 2**20)

    def begin(self, table_rows=0, key=(0, 0), perm_host=None):
        """Outside any step, after the last epoch's sync: the epoch's permutation, the first `table_rows` rows
        of the scalar table (already in self.host_table) and the control block, from page-locked buffers."""
        R = self.runner
        if not hasattr(self, "host_ctl"):
            self.host_ctl, self.host_acc = R.staging(4, np.int32), R.staging(2, np.float64)
            self.host_perm = R.staging(len(self.perm), np.int32) if getattr(self, "perm", None) is not None else None
        R.follow_default_stream()
        if perm_host is not None and len(perm_host):
            self.host_perm[:len(perm_host)] = perm_host
            R.upload(self.perm[:len(perm_host)], self.host_perm[:len(perm_host)])
        if table_rows:
            R.upload(self.table[:table_rows], self.host_table[:table_rows])
        self.host_ctl[:] = [-1, 0] + list(np.array([key[0], key[1]], dtype=np.uint32).view(np.int32))
        R.upload(self.ctl, self.host_ctl)
        self.host_acc[:] = 0
        R.upload(self.acc, self.host_acc)
        self.t = 0


def _valid_rows(n, batch, t):
    return max(0, min(batch, n - t * batch))


class TrainProgram(_Forward):
    """fit's step for an eligible model on the kernel backend; None from build() when it is not."""
    shard = None

    @staticmethod
    def build(model, plan, xd, yd, batch_size, steps, shuffle, capture=True, shard=None):
        """shard (training/parallel.py): under DataParallel, this process's rows of each batch, read through the
        permutation buffer, and one all-reduce of the flat gradient buffer (NCCL, inside the graph) per step."""
        if not backend.uses_kernels():
            return None
        try:
            _plan_ok(plan, model)
            _optimizer_ok(model.optimizer)
            if len(xd) >= 2**31:
                raise Unsupported("more than 2^31 - 1 samples")
            prog = TrainProgram(model, plan, steps, shard)
            prog._build(xd, yd, batch_size, shuffle, capture)
            return prog
        except Unsupported as e:
            return _fallback("fit", model, str(e))

    def __init__(self, model, plan, steps, shard=None):
        self.model, self.plan, self.opt = model, plan, model.optimizer
        self.steps, self.shard = steps, shard
        self.arena = Arena()
        self.follow_callbacks = False  # set by fit when callbacks have batch hooks (they may touch weights)

    def _build(self, xd, yd, batch, shuffle, capture):
        A, n, plan = self.arena, len(xd), self.plan
        if self.shard is not None:  # this process's rows, in an order only the permutation buffer knows
            n, batch, shuffle = self.shard.n_local, self.shard.local_batch, True
        self.iterations = self.opt.iterations.data.reshape(1)
        self.perm = A.empty(max(1, n), np.int32, fill=0) if shuffle else None
        self._build_forward(self.model, xd, yd, batch, n, plan.sparse, self.perm, True, True,
                            "logits" if plan.from_logits else "softmax", fuse_head=True)
        if self.shard is not None and any(nd.rule.batch_statistics for nd in self.graph.nodes):
            raise Unsupported("BatchNormalization under DataParallel (a process may have no rows in the last batch)")
        L = self.launches
        C = self.h.shape[1]
        self.nvalid = self.ctl[1:2]
        rows = (A.empty(batch), A.empty(batch), A.empty(batch))
        loss, correct, dlogits = A.empty(batch), A.empty(batch), self.graph.buffers.get((batch, C))
        labels = self.yb if plan.sparse else A.empty(1, np.int32, fill=0)
        targets = self.h if plan.sparse else self.yb
        bad = A.empty(1, np.int32, fill=0)  # the labels were checked on the host once per fit
        if self.head is not None:  # the last Dense, the loss, its sums and its gradient: one launch
            h_in, W, b, Y, Z, act = self.head
            L.append(head.head_launch(h_in, W, b, Y, Z, labels, targets, loss, rows, correct, bad, self.nvalid,
                                      self.cur[2:3], dlogits, self.acc, act, plan.sparse, plan.label_smoothing))
        else:
            L.append(softmax_xent.xent_forward_launch(self.h, labels, targets, loss, rows, correct, bad, self.nvalid,
                                                      plan.sparse, plan.label_smoothing))
            L.append(softmax_xent.xent_accumulate_launch(loss, correct, self.acc))
            L.append(softmax_xent.xent_backward_launch(self.h, labels, targets, rows, self.cur[2:3], 0, self.nvalid,
                                                       dlogits, plan.sparse, plan.label_smoothing))
        self.graph.backward(dlogits)
        if self.shard is not None:  # each process's gradient is its rows' share already (the table's scale)
            L.append(self.shard.comm.allreduce_launch(self.opt._grad, lambda: self.runner.stream))
        # the rest of Optimizer._step in its order: unscale, accumulate, clip, decay + update, moving average
        # (on a step that only accumulates, the clipped gradient is dead and the update kernel returns)
        if self.opt.loss_scale_factor is not None:
            L.append(optim.grad_unscale_launch(self.opt._grad, self.opt.loss_scale_factor))
        if self.opt.gradient_accumulation_steps:
            L.append(optim.grad_accumulate_ctl_launch(self.opt._grad, self.opt._acc,
                                                        self.opt.gradient_accumulation_steps, self.cur))
        clip = self.opt.clip_mode()
        if clip is not None:  # on the device, per variable or global: no norm read back
            bounds, longest, _ = self.opt.clip_segments()
            L += optim.clip_launches(self.opt._grad, A.copy_of(bounds, np.int64), longest,
                                       A.empty(len(self.opt._vars)), *clip)
        L.append(_optimizer_launch(self.opt, self.cur))
        if self.opt.use_ema:
            L.append(optim.ema_update_ctl_launch(self.opt._flat, self.opt._ema, self.cur))
        self.runner = Runner(L, capture)
        self.readback = Readback(self.acc, self.runner)
        self.rows_done = 0

    # ---- per epoch (outside the step) ----
    def _table(self, first, last=None):
        """Rows [first, last) (default: to the epoch's end) of the per-step scalars, as the eager optimizer
        computes them (the same float32 operations, on arrays: a Python loop over an epoch's steps would idle
        the GPU for ms)."""
        opt, n, batch = self.opt, self.n, self.batch
        t = np.arange(first, self.steps if last is None else last)
        host_steps = self._host0 + t                  # optimizer calls (the schedule's step, as Keras)
        n_acc = opt.gradient_accumulation_steps or 1
        updates = host_steps // n_acc                 # updates made before this one (Adam's t, the EMA's count)
        if callable(opt._learning_rate):              # a schedule is the user's Python: called step by step
            lr = np.array([opt._lr_at(int(s)) for s in host_steps], dtype=np.float64)
        else:
            lr = np.full(len(t), opt._lr_at(0), dtype=np.float64)
        out = np.zeros((len(t), K), np.float32)
        out[:, 0] = opt._alpha(lr, updates + 1) if isinstance(opt, Adam) else lr
        out[:, 1] = (opt.weight_decay or 0.0) * lr
        if self.shard is not None:                    # rows of the global batch: the all-reduce sums the shares
            n, batch = self.shard.n, self.shard.batch
        valid = np.clip(n - t * batch, 1, batch)
        inv = (1.0 / valid).astype(np.float32)        # d(mean)/d(row), as the NumPy step forms it
        out[:, 2] = inv if opt.loss_scale_factor is None else np.float32(opt.loss_scale_factor) * inv
        out[:, 3] = np.where(updates != 0, opt.ema_momentum, 0.0)
        freq = opt.ema_overwrite_frequency
        out[:, 4] = ((updates + 1) % freq == 0) if freq else 0
        out[:, 5] = (host_steps + 1) % n_acc == 0
        return out

    def begin_epoch(self, order, key):
        self._host0 = self.opt._host_step
        self._lr_src, self._lr_stale = self.opt._learning_rate, False
        if not hasattr(self, "host_table"):
            self.host_table = self.runner.staging(self.table.shape, np.float32)
        self.host_table[:self.steps] = self._table(0)
        self.begin(self.steps, key, order)
        self.rows_done = 0

    def before_batch_hooks(self):
        """Batch hooks are about to run on the legacy stream: they see every step queued so far."""
        self.runner.lead_default_stream()

    def _refresh_rates(self, k):
        """A callback set a new learning rate since the last replay: the next k rows now (a warm-up sets one per
        batch: k rows of host work and a small pinned copy, not the rest of the epoch each time); once the rate
        holds for a replay, the rest of the epoch, once."""
        t, R = self.t, self.runner
        if self.opt._learning_rate is not self._lr_src:
            self._lr_src, self._lr_stale = self.opt._learning_rate, True
            last = min(t + k, self.steps)
        elif self._lr_stale:
            self._lr_stale, last = False, self.steps
        else:
            return
        if last > t:
            self.host_table[t:last] = self._table(t, last)
            R.upload(self.table[t:last], self.host_table[t:last])

    def run(self, k):
        """k steps (one graph replay on CuPy); host work: bookkeeping only."""
        if self.follow_callbacks:  # batch callbacks ran on the default stream since the last replay
            self.runner.follow_default_stream()
        self._refresh_rates(k)
        self.runner.run(k)
        for _ in range(k):
            self.rows_done += _valid_rows(self.n, self.batch, self.t)
            self.t += 1
        self.opt._host_step += k

    def logs(self, sync=False):
        (loss, correct), rows = self.readback.read(self.rows_done, sync)
        out = {"loss": loss / rows if rows else 0.0}
        for m in self.plan.metrics:
            out[m.name] = correct / rows if rows else 0.0
        return out

    def end_epoch(self):
        """One sync per epoch: the sums become the loss tracker's and the metrics' state."""
        (loss, correct), rows = self.readback.read(self.rows_done, sync=True)
        _set_trackers(self.model, self.plan, loss, correct, rows)

    def finish(self):
        self.runner.synchronize()


def _hook_caller(cbs, mode, runner):
    """hook(when, batch, *logs) calls cbs.on_<mode>_batch_<when>; when a callback (not the progress bar) has its own
    batch hook, the legacy stream it runs on first waits for the steps queued so far (an event, no host sync)."""
    if cbs is None:
        return lambda *a: None
    lead = any(cbs.wants_batch_logs("on_%s_batch_%s" % (mode, w)) for w in ("begin", "end"))

    def hook(when, batch, *logs):
        if lead:
            runner.lead_default_stream()
        getattr(cbs, "on_%s_batch_%s" % (mode, when))(batch, *logs)
    return hook


def _set_trackers(model, plan, loss, correct, rows):
    model._loss_tracker.total, model._loss_tracker.count = float(loss), float(rows)
    for m in plan.metrics:
        m.total, m.count = float(correct), float(rows)


class EvalProgram(_Forward):
    """evaluate (and fit's validation): the forward, the loss and correct-count sums, on the device."""

    @staticmethod
    def build(model, plan, xd, yd, batch_size, steps):
        if not backend.uses_kernels() or len(xd) == 0:
            return None
        try:
            _plan_ok(plan, model)
            if len(xd) >= 2**31:
                raise Unsupported("more than 2^31 - 1 samples")
            prog = EvalProgram(model, plan, steps)
            prog._build(xd, yd, batch_size)
            return prog
        except Unsupported as e:
            return _fallback("evaluate", model, str(e))

    def __init__(self, model, plan, steps):
        self.model, self.plan, self.steps = model, plan, steps
        self.arena = Arena()

    def _build(self, xd, yd, batch):
        A, plan = self.arena, self.plan
        self.iterations = A.empty(1, np.int32, fill=0)
        self._build_forward(self.model, xd, yd, batch, len(xd), plan.sparse, None, False, False,
                            "logits" if plan.from_logits else "softmax")
        rows = (A.empty(batch), A.empty(batch), A.empty(batch))
        loss, correct = A.empty(batch), A.empty(batch)
        labels = self.yb if plan.sparse else A.empty(1, np.int32, fill=0)
        targets = self.h if plan.sparse else self.yb
        self.launches += [
            softmax_xent.xent_forward_launch(self.h, labels, targets, loss, rows, correct, A.empty(1, np.int32, fill=0),
                                        self.ctl[1:2], plan.sparse, plan.label_smoothing),
            softmax_xent.xent_accumulate_launch(loss, correct, self.acc)]
        self.runner = Runner(self.launches, capture=True)
        self.readback = Readback(self.acc, self.runner)

    def run_all(self, cbs=None):
        """Every batch; test-batch callbacks get logs read back (synchronously only for those that ask)."""
        self.begin()
        rows = 0
        sync = cbs is not None and cbs.wants_batch_logs("on_test_batch_end")
        hook = _hook_caller(cbs, "test", self.runner)
        for t in range(self.steps):
            hook("begin", t)
            self.runner.run(1)
            rows += _valid_rows(self.n, self.batch, t)
            hook("end", t, lambda r=rows: self._logs(r, sync))
        (loss, correct), _ = self.readback.read(rows, sync=True)
        _set_trackers(self.model, self.plan, loss, correct, rows)

    def _logs(self, rows, sync):
        (loss, correct), r = self.readback.read(rows, sync)
        out = {"loss": loss / r if r else 0.0}
        out.update({m.name: correct / r if r else 0.0 for m in self.plan.metrics})
        return out


class PredictProgram(_Forward):
    """predict: the forward of each batch written (softmax applied on the device) into one output buffer."""

    @staticmethod
    def build(model, xd, batch_size, steps):
        if not backend.uses_kernels() or len(xd) == 0:
            return None
        softmax = model._has_softmax_head()  # else the output is the last layer's own (its activation applied)
        try:
            if len(xd) >= 2**31:
                raise Unsupported("more than 2^31 - 1 samples")
            prog = PredictProgram(model, steps)
            prog._build(xd, batch_size, softmax)
            return prog
        except Unsupported as e:
            return _fallback("predict", model, str(e))

    def __init__(self, model, steps):
        self.model, self.steps = model, steps
        self.arena = Arena()

    def _build(self, xd, batch, softmax):
        A = self.arena
        self.iterations = A.empty(1, np.int32, fill=0)
        self._build_forward(self.model, xd, None, batch, len(xd), False, None, False, False,
                            "softmax" if softmax else "logits")
        self.out = A.empty((self.n, self.h.shape[1]))
        self.launches.append(step.rows_out_launch(self.h, self.out, self.ctl, softmax))
        self.runner = Runner(self.launches, capture=True)

    def run_all(self, cbs=None):
        self.begin()
        hook = _hook_caller(cbs, "predict", self.runner)
        for t in range(self.steps):
            hook("begin", t)
            self.runner.run(1)
            hook("end", t, None)
        self.runner.synchronize()
        return self.out
