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




class Lamb(Optimizer):
    """Adam's step scaled per variable by the trust ratio ||w|| / ||update|| (Keras's Lamb)."""
    _per_variable = True  # the trust ratio needs each variable's own norms

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="lamb", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _state_names(self):
        return ("momentum", "velocity")

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = _xp()
        m, v = state["momentum"], state["velocity"]
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        update = (m / (1.0 - self.beta_1 ** step)) / (xp.sqrt(v / (1.0 - self.beta_2 ** step)) + self.epsilon)
        w_norm = float(xp.sqrt((p * p).sum()))
        g_norm = float(xp.sqrt((update * update).sum()))
        ratio = w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
        p -= update * (ratio * lr)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return cfg


class Ftrl(Optimizer):
    """Follow-the-regularized-leader (McMahan et al.), Keras's update with its l1/l2/shrinkage terms."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name="ftrl", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0.0:
                raise ValueError("`%s` needs to be positive or zero. Received: %s=%r." % (arg, arg, value))
        if learning_rate_power > 0.0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: learning_rate_power=%r."
                             % (learning_rate_power,))
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _state_names(self):
        return ("accumulator", "linear")

    def _state_initial_value(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def update(self, p, g, state, tmp, tmp2, lr, step):
        xp = _xp()
        acc, lin = state["accumulator"], state["linear"]
        pw = self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        grad = g + 2 * self.l2_shrinkage_regularization_strength * p
        new_acc = acc + g * g
        lin += grad - ((new_acc ** -pw - acc ** -pw) / lr) * p
        quadratic = new_acc ** -pw / lr + 2 * l2
        l1 = self.l1_regularization_strength
        p[...] = (xp.clip(lin, -l1, l1) - lin) / quadratic
        acc[...] = new_acc

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"learning_rate_power": self.learning_rate_power,
                    "initial_accumulator_value": self.initial_accumulator_value,
                    "l1_regularization_strength": self.l1_regularization_strength,
                    "l2_regularization_strength": self.l2_regularization_strength,
                    "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                    "beta": self.beta})
        return cfg
