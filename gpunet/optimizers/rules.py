"""SGD, Adam, AdamW and RMSprop: Keras's rules and defaults, each with its array-op update (the
reference), its one-pass C update (CPU) and its fused CUDA update (GPU)."""
import math

import numpy as np

from .. import backend
from ..kernels import cpu as cpu_kernels, optim
from .base import Optimizer


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
        optim.sgd_update(p, g, state.get("momentum"), lr, self.momentum, self.nesterov, decay)
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

    def _alpha(self, lr, step):
        """lr * sqrt(1 - b2^t) / (1 - b1^t), in float32 arithmetic as Keras computes it. The powers are taken on
        arrays even for one step: NumPy's float32 power for a scalar is another routine than for an array (SVML
        on AVX-512 machines differs in the last bit), and the GPU step's per-epoch table of these values
        (training/gpu_step.py) must equal the eager update bit for bit."""
        f = np.float32
        t = np.asarray(step, dtype=f).reshape(-1)
        out = f(lr) * np.sqrt(f(1) - f(self.beta_2) ** t) / (f(1) - f(self.beta_1) ** t)
        return out.astype(f) if np.ndim(step) or np.ndim(lr) else f(out[0])

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = backend.get_xp()
        m, v = state["momentum"], state["velocity"]
        alpha = self._alpha(lr, step)
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
        alpha = self._alpha(lr, step)
        f32, ptr = np.float32, cpu_kernels.ptr
        cpu_kernels.library().adam_update(ptr(p), ptr(g), ptr(state["momentum"]), ptr(state["velocity"]),
                                          ptr(state.get("velocity_hat")), p.size, f32(1 - self.beta_1),
                                          f32(1 - self.beta_2), f32(self.epsilon), f32(alpha), f32(decay),
                                          int(self.amsgrad))
        return True

    def _kernel_update(self, p, g, state, lr, step, decay):
        alpha = self._alpha(lr, step)
        optim.adam_update(p, g, state["momentum"], state["velocity"], state.get("velocity_hat"), alpha,
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
        optim.rmsprop_update(p, g, state["velocity"], state.get("momentum"), state.get("average_gradient"),
                               lr, self.rho, self.momentum, self.epsilon, decay)
        return True

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered})
        return cfg
