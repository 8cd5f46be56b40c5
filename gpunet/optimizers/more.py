"""Adagrad, Adadelta, Adamax, Nadam and Lion with Keras's rules and defaults (array-op updates on
the flat buffers; no fused kernels for these yet)."""

from .. import backend
from ..ops.tape import Tensor
from .base import Optimizer


def _xp():
    return backend.get_xp()


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _state_names(self):
        return ("accumulator",)

    def _state_initial_value(self, name):
        return self.initial_accumulator_value

    def update(self, p, g, state, tmp, tmp2, lr, step):
        acc = state["accumulator"]
        _xp().multiply(g, g, out=tmp)      # acc += g^2;  p -= lr*g / sqrt(acc + eps)
        acc += tmp
        _xp().add(acc, self.epsilon, out=tmp)
        _xp().sqrt(tmp, out=tmp)
        _xp().multiply(g, lr, out=tmp2)
        tmp2 /= tmp
        p -= tmp2

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon})
        return cfg


class Adadelta(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def _state_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp, rho, eps = _xp(), self.rho, self.epsilon
        ag, ad = state["accumulated_grad"], state["accumulated_delta_var"]
        ag[...] = rho * ag + (1 - rho) * (g * g)
        delta = -(xp.sqrt(ad + eps) * g) / xp.sqrt(ag + eps)
        ad[...] = rho * ad + (1 - rho) * (delta * delta)
        p += lr * delta

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rho": self.rho, "epsilon": self.epsilon})
        return cfg


class Adamax(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _state_names(self):
        return ("m", "u")

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = _xp()
        m, u = state["m"], state["u"]
        m += (g - m) * (1 - self.beta_1)
        xp.maximum(self.beta_2 * u, xp.abs(g), out=u)
        p -= (lr * m) / ((1 - self.beta_1 ** step) * (u + self.epsilon))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return cfg


class Nadam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._u_product = 1.0

    def _state_names(self):
        return ("momentum", "velocity")

    def _u(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _begin_step(self, step):
        self._u_product *= self._u(step)

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = _xp()
        m, v = state["momentum"], state["velocity"]
        u_t, u_t1 = self._u(step), self._u(step + 1)
        u_prod, u_prod1 = self._u_product, self._u_product * u_t1
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        m_hat = (u_t1 * m) / (1 - u_prod1) + ((1 - u_t) * g) / (1 - u_prod)
        v_hat = v / (1 - self.beta_2 ** step)
        p -= (m_hat * lr) / (xp.sqrt(v_hat) + self.epsilon)

    @property
    def variables(self):
        """Keras keeps the running product u_1 * ... * u_t as a last float32 variable."""
        out = super().variables
        if self._vars is not None:
            out.append(Tensor(_xp().asarray(self._u_product, dtype="float32")))
        return out

    def load_own_variables(self, arrays):
        arrays = list(arrays)
        if self._vars is not None and len(arrays) == len(self.variables):
            self._u_product = float(arrays.pop())
        super().load_own_variables(arrays)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return cfg


class Lion(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Lion beta_1 must be in (0, 1], received %r" % (beta_1,))
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _state_names(self):
        return ("momentum",)

    def update(self, p, g, state, tmp, tmp2, lr, step):
        m = state["momentum"]
        p -= lr * _xp().sign(m * self.beta_1 + g * (1.0 - self.beta_1))
        m[...] = m * self.beta_2 + g * (1.0 - self.beta_2)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return cfg


