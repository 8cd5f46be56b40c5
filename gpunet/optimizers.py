"""Keras optimizers with Keras's update rules and defaults.

Parameters and optimizer state live in one flat buffer per optimizer (ARCHITECTURE.md, decision
3): at build time every trainable variable is re-pointed to a view into the flat parameter
buffer, so one pass of a handful of in-place array ops (one fused kernel on the GPU) updates
every weight. When some gradients are missing the same rule runs per variable on slices."""
import math

import numpy as np

from . import backend, cpu_kernels
from .ops.tape import Tensor, Variable
from .utils.registry import lookup


class Optimizer:
    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError("Unrecognized keyword arguments passed to %s: %s" % (type(self).__name__, kwargs))
        if use_ema or gradient_accumulation_steps or loss_scale_factor:
            raise NotImplementedError("use_ema, gradient_accumulation_steps and loss_scale_factor "
                                      "are not supported by gpunet")
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self._learning_rate = learning_rate
        self.iterations = Variable(np.array(0, dtype=np.int32), dtype="int32", trainable=False, name="iteration")
        self._vars = None
        self.built = False
        self._index = {}
        self._exclude_from_wd = set()

    # ---- learning rate ----
    @property
    def learning_rate(self):
        lr = self._learning_rate
        return float(lr(int(self.iterations.data))) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value

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
        self._state = {k: xp.zeros_like(flat) for k in self._state_names()}
        self._all = slice(0, int(self._offsets[-1]))
        self._constrained = [v for v in variables if v._constraint is not None]
        self.built = True

    def _state_names(self):
        return ()

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
        gs = [g.data if isinstance(g, Tensor) else backend.get_xp().asarray(g) for g, _ in pairs]
        gs = self._clip(gs)
        lr = self.learning_rate
        step = int(self.iterations.data) + 1
        sl = []
        for g, (_, v) in zip(gs, pairs):
            s = self._slot(self._index[id(v)])
            if g is not v._grad_sink:  # the fused dense backward may have written it in place already
                self._grad[s] = g.reshape(-1)
            sl.append(s)
        if whole:
            sl = [slice(0, int(self._offsets[-1]))]
        gpu = backend.is_gpu() and self._flat.dtype == np.float32 and not self._exclude_from_wd
        for s in sl:
            self._update_slice(s, lr, step, gpu)
        for _, v in pairs:
            if v._constraint is not None:
                v.data[...] = v._constraint(v.data)
        self.iterations.data += 1
        return self.iterations

    def _update_slice(self, s, lr, step, gpu):
        p, g = self._flat[s], self._grad[s]
        state = {k: st[s] for k, st in self._state.items()}
        decay = (self.weight_decay or 0.0) * lr
        if gpu and self._kernel_update(p, g, state, lr, step, decay):
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

    def _clip(self, gs):
        xp = backend.get_xp()
        if self.clipnorm is not None:
            out = []
            for g in gs:
                n = float(xp.sqrt((g * g).sum()))
                out.append(g * (self.clipnorm / max(n, self.clipnorm)) if n > self.clipnorm else g)
            return out
        if self.global_clipnorm is not None:
            n = math.sqrt(sum(float((g * g).sum()) for g in gs))
            return [g * (self.global_clipnorm / max(n, self.global_clipnorm)) for g in gs]
        if self.clipvalue is not None:
            return [xp.clip(g, -self.clipvalue, self.clipvalue) for g in gs]
        return gs

    def update(self, p, g, state, tmp, tmp2, lr, step):
        raise NotImplementedError

    def _state_scales(self):
        """{state name: factor}: Keras's value = stored value * factor (1 where absent)."""
        return {}

    def apply_flat(self):
        """The compiled step's update: every gradient is already in the flat gradient buffer."""
        lr = self.learning_rate
        step = int(self.iterations.data) + 1
        gpu = backend.is_gpu() and self._flat.dtype == np.float32 and not self._exclude_from_wd
        self._update_slice(self._all, lr, step, gpu)
        if self._constrained:
            for v in self._constrained:
                v.data[...] = v._constraint(v.data)
        self.iterations.data += 1

    def _kernel_update(self, p, g, state, lr, step, decay):
        return False  # no fused kernel for this optimizer: the array-op update runs instead

    def _cpu_update(self, p, g, state, lr, step, decay):
        return False

    @property
    def variables(self):
        out = [self.iterations,
               Tensor(backend.get_xp().asarray(self.learning_rate, dtype=self._flat.dtype if self._vars else "float32"))]
        if self._vars is not None:
            scales = self._state_scales()
            for k in self._state_names():
                for i, v in enumerate(self._vars):
                    value = self._state[k][self._slot(i)].reshape(v.shape)
                    out.append(Tensor(value * scales[k] if k in scales else value.copy()))
        return out

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": lr.get_config() if hasattr(lr, "get_config") else float(lr),
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                "loss_scale_factor": None, "gradient_accumulation_steps": None}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items()
                  if k not in ("use_ema", "ema_momentum", "ema_overwrite_frequency",
                               "loss_scale_factor", "gradient_accumulation_steps", "is_legacy_optimizer")}
        return cls(**config)


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError("SGD momentum must be in [0, 1], received %r" % (momentum,))
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _state_names(self):
        return ("momentum",) if self.momentum else ()

    def update(self, p, g, state, tmp, tmp2, lr, step):
        if not self.momentum:
            backend.get_xp().multiply(g, lr, out=tmp)
            p -= tmp
            return
        m = state["momentum"]
        m *= self.momentum           # m = momentum*m - lr*g
        backend.get_xp().multiply(g, lr, out=tmp)
        m -= tmp
        if self.nesterov:            # p += momentum*m - lr*g
            backend.get_xp().multiply(m, self.momentum, out=tmp2)
            tmp2 -= tmp
            p += tmp2
        else:
            p += m

    def _cpu_update(self, p, g, state, lr, step, decay):
        f32 = np.float32
        cpu_kernels.library().sgd_update(cpu_kernels.ptr(p), cpu_kernels.ptr(g), cpu_kernels.ptr(state.get("momentum")),
                                         p.size, f32(lr), f32(self.momentum), int(self.nesterov), f32(decay))
        return True

    def _kernel_update(self, p, g, state, lr, step, decay):
        from . import kernels
        kernels.sgd_update(p, g, state.get("momentum"), lr, self.momentum, self.nesterov, decay)
        return True

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return cfg


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _state_names(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def _state_scales(self):
        # On the CPU the moments are stored divided by (1 - beta): m~ = b1 m~ + g and v~ = b2 v~ + g^2
        # take 5 array passes instead of 7, the update rescales. `variables` shows Keras's m and v.
        if self._vars is not None and backend.is_gpu():
            return {}
        return {"momentum": 1 - self.beta_1, "velocity": 1 - self.beta_2, "velocity_hat": 1 - self.beta_2}

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = backend.get_xp()
        m, v = state["momentum"], state["velocity"]
        alpha = lr * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)
        if self._state_scales():
            m *= self.beta_1
            m += g
            xp.multiply(g, g, out=tmp)
            v *= self.beta_2
            v += tmp
            if self.amsgrad:
                vh = state["velocity_hat"]
                xp.maximum(vh, v, out=vh)
                v = vh
            r = math.sqrt(1 - self.beta_2)
            xp.sqrt(v, out=tmp)          # sqrt(v) + eps = r (sqrt(v~) + eps / r)
            tmp += self.epsilon / r
            xp.divide(m, tmp, out=tmp)
            tmp *= alpha * (1 - self.beta_1) / r
            p -= tmp
            return
        xp.subtract(g, m, out=tmp)       # m += (g - m) * (1 - beta_1)
        tmp *= 1 - self.beta_1
        m += tmp
        xp.multiply(g, g, out=tmp)       # v += (g^2 - v) * (1 - beta_2)
        tmp -= v
        tmp *= 1 - self.beta_2
        v += tmp
        if self.amsgrad:
            vh = state["velocity_hat"]
            xp.maximum(vh, v, out=vh)
            v = vh
        xp.sqrt(v, out=tmp)              # p -= m * alpha / (sqrt(v) + eps)
        tmp += self.epsilon
        xp.multiply(m, alpha, out=tmp2)
        tmp2 /= tmp
        p -= tmp2

    def _cpu_update(self, p, g, state, lr, step, decay):
        r = math.sqrt(1 - self.beta_2)
        alpha = lr * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)
        f32, ptr = np.float32, cpu_kernels.ptr
        cpu_kernels.library().adam_update(ptr(p), ptr(g), ptr(state["momentum"]), ptr(state["velocity"]),
                                          ptr(state.get("velocity_hat")), p.size, f32(self.beta_1),
                                          f32(self.beta_2), f32(self.epsilon / r),
                                          f32(alpha * (1 - self.beta_1) / r), f32(decay), int(self.amsgrad))
        return True

    def _kernel_update(self, p, g, state, lr, step, decay):
        from . import kernels
        alpha = lr * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)
        kernels.adam_update(p, g, state["momentum"], state["velocity"], state.get("velocity_hat"), alpha,
                            self.beta_1, self.beta_2, self.epsilon, decay)
        return True

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad})
        return cfg


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, **kwargs)
        if not weight_decay:
            raise ValueError("AdamW needs a non-zero weight_decay")


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _state_names(self):
        names = ["velocity"]
        if self.momentum:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        return tuple(names)

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = backend.get_xp()
        vel = state["velocity"]
        vel *= self.rho                    # vel = rho*vel + (1-rho)*g^2
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - self.rho
        vel += tmp
        if self.centered:                  # denom = vel - avg^2 + eps
            avg = state["average_gradient"]
            avg *= self.rho
            xp.multiply(g, 1 - self.rho, out=tmp)
            avg += tmp
            xp.multiply(avg, avg, out=tmp)
            xp.subtract(vel, tmp, out=tmp)
            tmp += self.epsilon
        else:
            xp.add(vel, self.epsilon, out=tmp)
        xp.sqrt(tmp, out=tmp)              # increment = lr*g / sqrt(denom)
        xp.multiply(g, lr, out=tmp2)
        tmp2 /= tmp
        if self.momentum:
            m = state["momentum"]
            m *= self.momentum
            m += tmp2
            p -= m
        else:
            p -= tmp2

    def _cpu_update(self, p, g, state, lr, step, decay):
        f32, ptr = np.float32, cpu_kernels.ptr
        cpu_kernels.library().rmsprop_update(ptr(p), ptr(g), ptr(state["velocity"]), ptr(state.get("momentum")),
                                             ptr(state.get("average_gradient")), p.size, f32(lr), f32(self.rho),
                                             f32(1 - self.rho), f32(self.momentum), f32(self.epsilon),
                                             int(self.centered), f32(decay))
        return True

    def _kernel_update(self, p, g, state, lr, step, decay):
        from . import kernels
        kernels.rmsprop_update(p, g, state["velocity"], state.get("momentum"), state.get("average_gradient"),
                               lr, self.rho, self.momentum, self.epsilon, decay)
        return True

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered})
        return cfg


_TABLE = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("optimizer", identifier["class_name"], {**_TABLE, **{c.__name__: c for c in _TABLE.values()}})
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, _TABLE)()
    raise ValueError("Could not interpret optimizer identifier: %r" % (identifier,))


def serialize(opt):
    return {"module": "keras.optimizers", "class_name": type(opt).__name__, "config": opt.get_config(),
            "registered_name": None}
