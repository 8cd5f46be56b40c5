"""Keras optimizers with Keras's update rules and defaults.

Parameters and optimizer state live in one flat buffer per optimizer (ARCHITECTURE.md, decision
3): at build time every trainable variable is re-pointed to a view into the flat parameter
buffer, so one pass of a handful of in-place array ops (one fused kernel on the GPU) updates
every weight. When some gradients are missing the same rule runs per variable on slices.

Loss scaling, gradient accumulation, clipping, weight decay, the update, constraints and the
moving average (EMA) run in Keras's order in one place, `_step`, which both the general path
(`apply`) and fit's compiled step (`apply_flat`) go through: the fast path cannot skip an option."""
import math
import warnings

import numpy as np

from .. import backend
from ..kernels import cpu as cpu_kernels, optim
from ..ops.tape import Tensor, Variable


class Optimizer:
    _per_variable = False  # True: the rule needs each variable on its own (a per-variable norm, as Lamb's)

    def __setattr__(self, name, value):
        if name == "epsilon":  # every optimizer with an epsilon checks it when it is set
            value = _check_epsilon(type(self).__name__, value)
        object.__setattr__(self, name, value)

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError("Unrecognized keyword arguments passed to %s: %s" % (type(self).__name__, kwargs))
        if gradient_accumulation_steps is not None and (
                not isinstance(gradient_accumulation_steps, (int, np.integer)) or gradient_accumulation_steps < 2):
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                             "gradient_accumulation_steps=%r" % (gradient_accumulation_steps,))
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError("`ema_momentum` must be in the range [0, 1]. Received: ema_momentum=%r"
                                 % (ema_momentum,))
            if ema_overwrite_frequency is not None and (
                    not isinstance(ema_overwrite_frequency, (int, np.integer)) or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                                 "ema_overwrite_frequency=%r" % (ema_overwrite_frequency,))
        if loss_scale_factor is not None and not loss_scale_factor > 0:
            raise ValueError("`loss_scale_factor` must be a positive number or None. Received: "
                             "loss_scale_factor=%r" % (loss_scale_factor,))
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        self.loss_scale_factor = None if loss_scale_factor is None else float(loss_scale_factor)
        self.gradient_accumulation_steps = (None if gradient_accumulation_steps is None
                                            else int(gradient_accumulation_steps))
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self._learning_rate = _check_learning_rate(learning_rate)
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm),
                           ("weight_decay", weight_decay)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                                         np.floating))
                                      or not np.isfinite(value) or value < 0):
                raise ValueError("`%s` must be a non-negative number or None. Received: %s=%r" % (arg, arg, value))
        self.iterations = Variable(np.array(0, dtype=np.int32), dtype="int32", trainable=False, name="iteration")
        self._host_step = 0  # reading `iterations` back from a GPU every step would be a host sync
        self._dp_scale = None  # fit's factor on this process's gradient under DataParallel (training/parallel.py)
        self._vars = None
        self._ema = self._acc = None
        self._constrained = []
        self.built = False
        self._index = {}
        self._exclude_from_wd = set()

    # ---- learning rate ----
    @property
    def learning_rate(self):
        return self._lr_at(self._host_step)

    def _lr_at(self, step):
        """The rate at optimizer step `step`: a schedule's value there, or the constant; float32 as in Keras."""
        lr = self._learning_rate
        value = lr(step) if callable(lr) else lr
        return float(np.float32(value))  # a float32 variable in Keras: saved and restored exactly

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _check_learning_rate(value)

    lr = learning_rate

    # ---- flat buffers ----
    def build(self, variables):
        xp = backend.get_xp()
        variables = list(variables)
        if not variables:
            raise ValueError("%s.build() received no variables" % type(self).__name__)
        dtypes = {str(v.dtype) for v in variables}
        if len(dtypes) != 1:
            raise ValueError("gpunet optimizers need one dtype for all variables, got %s" % sorted(dtypes))
        dtype = variables[0].dtype
        sizes = [int(np.prod(v.shape)) for v in variables]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        flat = xp.empty(int(self._offsets[-1]), dtype=dtype)
        grad = xp.zeros_like(flat)
        for v, a, b in zip(variables, self._offsets[:-1], self._offsets[1:]):
            flat[a:b] = v.data.reshape(-1)
            v.data = flat[a:b].reshape(v.shape)  # the variable now lives in the flat buffer
            v._grad_sink = grad[a:b].reshape(v.shape)
        self._flat = flat
        self._grad = grad
        self._tmp = xp.empty_like(flat)
        self._tmp2 = xp.empty_like(flat)
        self._vars = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self._state = {k: xp.full_like(flat, self._state_initial_value(k)) for k in self._state_names()}
        self._all = slice(0, int(self._offsets[-1]))
        # Keras's extra optimizer variables: the model variables' moving averages, then one gradient
        # accumulator per variable (flat buffers too, in the same slots)
        self._ema = xp.zeros_like(flat) if self.use_ema else None
        self._acc = xp.zeros_like(flat) if self.gradient_accumulation_steps else None
        self._constrained = [v for v in variables if v._constraint is not None]
        self._clip_cache = {}
        self.built = True

    def _state_names(self):
        return ()

    def _state_initial_value(self, name):
        return 0.0

    def _begin_step(self, step):
        """Once per optimizer step, before any slice is updated (Nadam's running product)."""

    def _slot(self, i):
        a, b = self._offsets[i], self._offsets[i + 1]
        return slice(int(a), int(b))

    # ---- public API ----
    def apply_gradients(self, grads_and_vars):
        pairs = list(grads_and_vars)
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if trainable_variables is None:
            if self._vars is None:
                raise ValueError("apply() without variables needs a built optimizer")
            trainable_variables = self._vars
        trainable_variables = list(trainable_variables)
        if self._vars is None:
            self.build(trainable_variables)
        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if not pairs:
            return self.iterations
        for _, v in pairs:
            if id(v) not in self._index:
                raise ValueError("Unknown variable %r: this optimizer was built for %d other variables; "
                                 "create a new optimizer for a new set of variables" % (v.path, len(self._vars)))
        whole = len(pairs) == len(self._vars) and all(v is w for (_, v), w in zip(pairs, self._vars))
        sl = []
        for g, v in pairs:
            s = self._slot(self._index[id(v)])
            g = g.data if isinstance(g, Tensor) else backend.get_xp().asarray(g)
            if g is not v._grad_sink:  # the fused dense backward may have written it in place already
                self._grad[s] = g.reshape(-1)
            sl.append(s)
        self._step(sl, whole)
        return self.iterations

    def _all_reduce_gradients(self):
        """Under DataParallel in a job of several processes: this process's gradients times its share of the
        batch (fit sets it each step; 1 / processes elsewhere, so a custom loop averages as DDP does), summed
        over the processes by one all-reduce over the whole flat gradient buffer."""
        from ..distribution import data_parallel_comm
        comm = data_parallel_comm()
        if comm is None:
            return
        scale = self._dp_scale if self._dp_scale is not None else 1.0 / comm.size
        if scale != 1.0:
            self._grad *= scale
        comm.allreduce(self._grad)

    def apply_flat(self):
        """The compiled step's update: every gradient is already in the flat gradient buffer."""
        self._step([self._all], True)

    def _step(self, slices, whole):
        """One optimizer step on the gradients now in self._grad[slices], in Keras's order: unscale,
        accumulate (Keras updates only every `gradient_accumulation_steps` calls, with the mean),
        clip, decay + update, constraints, moving average."""
        grad = self._grad
        self._all_reduce_gradients()
        if self.loss_scale_factor is not None:
            for s in slices:
                grad[s] /= self.loss_scale_factor
        n_acc = self.gradient_accumulation_steps
        update = not n_acc or (self._host_step + 1) % n_acc == 0
        if n_acc:
            for s in slices:
                if update:  # (g + accumulated) / steps, then the accumulator starts again from zero
                    grad[s] += self._acc[s]
                    grad[s] /= n_acc
                    self._acc[s] = 0
                else:
                    self._acc[s] += grad[s]
        if update:
            if self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm is not None:
                self._clip_in_place(slices, whole)
            lr = self.learning_rate
            step = self._update_count() + 1
            gpu = backend.uses_kernels() and self._flat.dtype == np.float32 and not self._exclude_from_wd
            self._begin_step(step)
            if whole and not self._per_variable:
                parts = [self._all]
            elif whole:
                parts = [self._slot(i) for i in range(len(self._vars))]
            else:
                parts = slices
            for s in parts:
                self._update_slice(s, lr, step, gpu)
        for v in self._constrained:
            if whole or any(s.start <= self._slot(self._index[id(v)]).start < s.stop for s in slices):
                v.data[...] = v._constraint(v.data)
        if self.use_ema:
            self._update_moving_average()
        self.iterations.data += 1  # on the device under CuPy: no sync; the host keeps its own count
        self._host_step += 1

    def _update_count(self):
        """Keras's `iterations`: optimizer calls, or updates made when gradients are accumulated."""
        n_acc = self.gradient_accumulation_steps
        return self._host_step // n_acc if n_acc else self._host_step

    def _update_moving_average(self):
        """average = m*average + (1-m)*variable, m = 0 on the first step (Keras), in the variables'
        dtype; every `ema_overwrite_frequency` steps the variables take the average's value."""
        dt = self._flat.dtype.type
        m = dt(self.ema_momentum) if self._update_count() != 0 else dt(0)
        self._ema *= m
        backend.get_xp().multiply(self._flat, dt(1) - m, out=self._tmp)
        self._ema += self._tmp
        freq = self.ema_overwrite_frequency
        if freq and (self._update_count() + 1) % freq == 0:
            self._flat[...] = self._ema

    def finalize_variable_values(self, var_list=None):
        """End of fit (Keras): with use_ema, the model's variables take their moving averages."""
        if self.use_ema and self._ema is not None:
            self._flat[...] = self._ema

    def scale_loss(self, loss):
        """Keras: the loss times loss_scale_factor, before gradients (apply() divides it back out)."""
        if self.loss_scale_factor is None:
            return loss
        from .. import ops
        return ops.multiply(loss, self.loss_scale_factor)

    def _update_slice(self, s, lr, step, gpu):
        p, g = self._flat[s], self._grad[s]
        state = {k: st[s] for k, st in self._state.items()}
        decay = (self.weight_decay or 0.0) * lr
        if gpu and optim.optim_supported(p.size) and self._kernel_update(p, g, state, lr, step, decay):
            return  # one fused launch did decay + update (kernels/optim.cu)
        if (not gpu and p.dtype == np.float32 and not self._exclude_from_wd and backend.get_xp() is np
                and cpu_kernels.library() is not None and self._cpu_update(p, g, state, lr, step, decay)):
            return  # one pass in C (kernels/cpu_optim.c), bit-identical to the array ops below
        if self.weight_decay:
            self._decay(p, s, lr)
        self.update(p, g, state, self._tmp[s], self._tmp2[s], lr, step)

    def _decay(self, p, s, lr):
        wd = self.weight_decay * lr
        if self._exclude_from_wd:
            for i, v in enumerate(self._vars):
                vs = self._slot(i)
                if id(v) not in self._exclude_from_wd and s.start <= vs.start and vs.stop <= s.stop:
                    q = self._flat[vs]
                    q -= q * wd
            return
        p -= p * wd

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        for v in var_list or ():
            self._exclude_from_wd.add(id(v))

    def clip_mode(self):
        """("clipnorm" | "global_clipnorm" | "clipvalue", value), or None without clipping."""
        for name in ("clipnorm", "global_clipnorm", "clipvalue"):
            if getattr(self, name) is not None:
                return name, float(getattr(self, name))
        return None

    def clip_segments(self, slices=None):
        """(int64 device [start, end) bounds, longest, float32 scratch) of the gradient segments the
        device clipping kernels take: one per variable, or the given slices. Made once per set of slices
        (an upload per step would be a host round trip)."""
        segs = [self._slot(i) for i in range(len(self._vars))] if slices is None else list(slices)
        key = tuple((s.start, s.stop) for s in segs)
        cache = self.__dict__.setdefault("_clip_cache", {})
        if key not in cache:
            xp = backend.get_xp()
            bounds = np.array([[s.start, s.stop] for s in segs], dtype=np.int64).reshape(-1)
            cache[key] = (xp.asarray(bounds), max(s.stop - s.start for s in segs), xp.empty(len(segs), np.float32))
        return cache[key]

    def _clip_in_place(self, slices, whole):
        """Keras's clipping on each present variable's gradient (a view of the flat buffer). On the kernel
        backend the norms never leave the device (kernels/optim.cu grad_sumsq + grad_clip)."""
        if backend.uses_kernels() and self._grad.dtype == np.float32:
            mode, c = self.clip_mode()
            for launch in optim.clip_launches(self._grad, *self.clip_segments(None if whole else slices), mode, c):
                launch()
            return
        if whole:
            views = [self._grad[self._slot(i)] for i in range(len(self._vars))]
        else:
            views = [self._grad[s] for s in slices]
        xp = backend.get_xp()
        if self.clipnorm is not None:
            for g in views:
                n = float(xp.sqrt((g * g).sum()))
                if n > self.clipnorm:
                    g *= g.dtype.type(self.clipnorm / max(n, self.clipnorm))
            return
        if self.global_clipnorm is not None:  # in the gradients' dtype, in Keras's order of operations
            dt = views[0].dtype.type
            total = dt(0)
            for g in views:
                total = dt(total + float((g * g).sum()))
            norm = dt(math.sqrt(total)) if dt is np.float64 else np.sqrt(dt(total))
            scale = dt(self.global_clipnorm) * min(dt(1) / norm, dt(1.0 / self.global_clipnorm))
            for g in views:
                g *= scale
            return
        for g in views:
            xp.clip(g, -self.clipvalue, self.clipvalue, out=g)

    def update(self, p, g, state, tmp, tmp2, lr, step):
        raise NotImplementedError

    def _kernel_update(self, p, g, state, lr, step, decay):
        return False  # no fused kernel for this optimizer: the array-op update runs instead

    def _cpu_update(self, p, g, state, lr, step, decay):
        return False

    @property
    def variables(self):
        """Keras's order: iteration, learning_rate (unless a schedule), then each variable's slots."""
        out = [self.iterations]
        if self._tracks_lr():
            out.append(Tensor(backend.get_xp().asarray(self.learning_rate, dtype="float32")))
        if self._vars is not None:
            for extra in (self._ema, self._acc):  # Keras builds these first, one per variable
                if extra is not None:
                    out.extend(Tensor(extra[self._slot(i)].reshape(v.shape).copy()) for i, v in enumerate(self._vars))
            for i, v in enumerate(self._vars):
                for k in self._state_names():
                    out.append(Tensor(self._state[k][self._slot(i)].reshape(v.shape).copy()))
        return out

    def _tracks_lr(self):
        return not callable(self._learning_rate)

    def check_own_variables(self, arrays):
        """Raises ValueError unless arrays (a Keras file's, in `variables` order) fit this optimizer."""
        want = self.variables
        if len(arrays) != len(want):
            raise ValueError("Optimizer %r has %d variables but the saved state has %d (saved with another optimizer "
                             "or another model?)" % (self.name, len(want), len(arrays)))
        for a, w in zip(arrays, want):
            if tuple(np.shape(a)) != tuple(w.shape):
                raise ValueError("Optimizer %r: saved variable of shape %s does not match %s"
                                 % (self.name, tuple(np.shape(a)), tuple(w.shape)))

    def load_own_variables(self, arrays):
        """Sets iteration, learning rate and slots from arrays in `variables` order (a Keras file). An unbuilt
        optimizer takes the first two only (what Keras saves for a compiled model that never trained)."""
        self.check_own_variables(arrays)
        xp = backend.get_xp()
        self.iterations.assign(np.asarray(arrays[0], dtype=np.int32))
        self._host_step = int(arrays[0])
        j = 1
        if self._tracks_lr():
            self._learning_rate = float(arrays[1])
            j = 2
        if self._vars is None:
            return
        for extra in (self._ema, self._acc):
            if extra is not None:
                for i in range(len(self._vars)):
                    extra[self._slot(i)] = xp.asarray(np.asarray(arrays[j], dtype=self._flat.dtype)).reshape(-1)
                    j += 1
        for i in range(len(self._vars)):
            for k in self._state_names():
                self._state[k][self._slot(i)] = xp.asarray(np.asarray(arrays[j], dtype=self._flat.dtype)).reshape(-1)
                j += 1

    def get_config(self):
        lr = self._learning_rate
        from . import schedules
        lr = schedules.serialize(lr) if isinstance(lr, schedules.LearningRateSchedule) else float(lr)
        return {"name": self.name, "learning_rate": lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k != "is_legacy_optimizer"}
        if isinstance(config.get("learning_rate"), dict):
            from . import schedules
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _check_epsilon(owner, value):
    """epsilon keeps an update's denominator away from zero: negative or non-finite values are refused; 0 is
    allowed (Keras allows it) with a warning naming what it does."""
    try:
        ok = not isinstance(value, (bool, str, bytes)) and math.isfinite(float(value)) and float(value) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("%s: `epsilon` must be a finite number >= 0. Received: epsilon=%r" % (owner, value))
    if float(value) == 0:
        warnings.warn("%s(epsilon=0): each update is divided by a root of the gradients' moving average plus "
                      "epsilon, so a weight whose gradient stays exactly 0 (a dead ReLU unit, an unused embedding "
                      "row) becomes 0/0 = NaN. Use a small positive epsilon (Keras's default is 1e-7)." % owner,
                      RuntimeWarning, stacklevel=4)
    return value


def _check_learning_rate(value):
    """A number, a LearningRateSchedule or a callable of the step: anything else fails here, at construction
    (SGD(learning_rate="fast") used to be accepted until the first step)."""
    if callable(value):
        return value
    try:
        ok = not isinstance(value, (bool, str, bytes)) and np.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("`learning_rate` must be a finite number, a LearningRateSchedule or a callable. "
                         "Received: learning_rate=%r" % (value,))
    return value
