"""Keras optimizers with Keras's update rules and defaults.

Parameters and optimizer state live in one flat buffer per optimizer (ARCHITECTURE.md, decision
3): at build time every trainable variable is re-pointed to a view into the flat parameter
buffer, so one pass of a handful of in-place array ops (one fused kernel on the GPU) updates
every weight. When some gradients are missing the same rule runs per variable on slices."""
import math

import numpy as np

from . import backend
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
        for v, a, b in zip(variables, self._offsets[:-1], self._offsets[1:]):
            flat[a:b] = v.data.reshape(-1)
            v.data = flat[a:b].reshape(v.shape)  # the variable now lives in the flat buffer
        self._flat = flat
        self._grad = xp.zeros_like(flat)
        self._tmp = xp.empty_like(flat)
        self._tmp2 = xp.empty_like(flat)
        self._vars = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self._state = {k: xp.zeros_like(flat) for k in self._state_names()}
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
        if whole:
            for g, i in zip(gs, range(len(self._vars))):
                self._grad[self._slot(i)] = g.reshape(-1)
            sl = [slice(0, int(self._offsets[-1]))]
        else:
            sl = []
            for g, (_, v) in zip(gs, pairs):
                s = self._slot(self._index[id(v)])
                self._grad[s] = g.reshape(-1)
                sl.append(s)
        gpu = backend.is_gpu() and self._flat.dtype == np.float32 and not self._exclude_from_wd
        for s in sl:
            p, g = self._flat[s], self._grad[s]
            state = {k: st[s] for k, st in self._state.items()}
            if gpu and self._kernel_update(p, g, state, lr, step, (self.weight_decay or 0.0) * lr):
                continue  # one fused launch did decay + update (kernels/optim.cu)
            if self.weight_decay:
                self._decay(p, s, lr)
            self.update(p, g, state, self._tmp[s], self._tmp2[s], lr, step)
        for _, v in pairs:
            if v._constraint is not None:
                v.data[...] = v._constraint(v.data)
        self.iterations.data += 1
        return self.iterations

    def _decay(self, p, s, lr):
        wd = self.weight_decay * lr
        if self._exclude_from_wd:
            for i, v in enumerate(self._vars):
                if id(v) not in self._exclude_from_wd:
                    q = self._flat[self._slot(i)]
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

    def _kernel_update(self, p, g, state, lr, step, decay):
        return False  # no fused kernel for this optimizer: the array-op update runs instead

    @property
    def variables(self):
        out = [self.iterations,
               Tensor(backend.get_xp().asarray(self.learning_rate, dtype=self._flat.dtype if self._vars else "float32"))]
        if self._vars is not None:
            for k in self._state_names():
                for i, v in enumerate(self._vars):
                    out.append(Tensor(self._state[k][self._slot(i)].reshape(v.shape)))
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

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = backend.get_xp()
        m, v = state["momentum"], state["velocity"]
        alpha = lr * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)
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
