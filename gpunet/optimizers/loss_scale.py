"""Keras's LossScaleOptimizer: dynamic loss scaling for float16 training around any optimizer.

The loss is multiplied by `dynamic_scale` before the gradients are taken (`scale_loss`); `apply` divides them back
and, when every gradient is finite, lets the inner optimizer step, doubling the scale after
`dynamic_growth_steps` finite steps in a row; a step with an inf or NaN gradient is skipped and halves the scale
(keras/src/optimizers/loss_scale_optimizer.py). Checking finiteness reads one flag back per step (a host sync on a
GPU): the compiled CPU step and the GPU launch program do not take this optimizer, so fit runs the tape step."""
import math

import numpy as np

from .. import backend
from ..ops.tape import Tensor, Variable
from .base import Optimizer


class LossScaleOptimizer(Optimizer):
    dynamic_loss_scaling = True  # fit takes the tape step for it (training/array_loop.py)
    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if kwargs:
            raise TypeError("Unrecognized keyword arguments passed to LossScaleOptimizer: %s" % (kwargs,))
        if not isinstance(inner_optimizer, Optimizer):
            raise ValueError("Argument `inner_optimizer` must be an instance of `keras.optimizers.Optimizer`. "
                             "Received: inner_optimizer=%r" % (inner_optimizer,))
        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer wraps an optimizer that is not a LossScaleOptimizer already")
        if isinstance(initial_scale, bool) or not isinstance(initial_scale, (int, float, np.integer, np.floating)) \
                or not math.isfinite(initial_scale) or initial_scale <= 0:
            raise ValueError("`initial_scale` must be a finite number > 0. Received: initial_scale=%r"
                             % (initial_scale,))
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, (int, np.integer)) \
                or dynamic_growth_steps < 1:
            raise ValueError("`dynamic_growth_steps` must be an integer >= 1. Received: dynamic_growth_steps=%r"
                             % (dynamic_growth_steps,))
        object.__setattr__(self, "inner_optimizer", inner_optimizer)
        self.name = name or "loss_scale_optimizer"
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self._scale = float(initial_scale)  # the host's copy: apply() decides on it without reading the device
        self._counter = 0
        self._own_iterations = Variable(np.array(0, dtype=np.int32), dtype="int32", trainable=False,
                                        name="iteration")  # Keras's LossScaleOptimizer keeps its own, never moved

    def __getattr__(self, name):  # anything not its own is the inner optimizer's (iterations, built, slots, ...)
        inner = self.__dict__.get("inner_optimizer")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    # ---- Keras's own variables ----
    @property
    def dynamic_scale(self):
        return Tensor(backend.get_xp().asarray(self._scale, dtype="float32"))

    @property
    def step_counter(self):
        return Tensor(backend.get_xp().asarray(self._counter, dtype="int64"))

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    lr = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def variables(self):
        """Keras's order: its own iteration and learning rate (0: the inner optimizer's rules), step_counter,
        dynamic_scale, then the inner optimizer's variables."""
        xp = backend.get_xp()
        own = [self._own_iterations, Tensor(xp.asarray(0.0, dtype="float32")), self.step_counter, self.dynamic_scale]
        return own + self.inner_optimizer.variables

    def check_own_variables(self, arrays):
        if len(arrays) < 4:
            raise ValueError("LossScaleOptimizer %r: the saved state has %d variables, expected its 4 and the inner "
                             "optimizer's" % (self.name, len(arrays)))
        self.inner_optimizer.check_own_variables(arrays[4:])

    def load_own_variables(self, arrays):
        self.check_own_variables(arrays)
        self._counter = int(np.asarray(arrays[2]))
        self._scale = float(np.asarray(arrays[3]))
        self.inner_optimizer.load_own_variables(arrays[4:])

    # ---- the step ----
    def build(self, variables):
        self.inner_optimizer.build(variables)

    def scale_loss(self, loss):
        from .. import ops
        return ops.multiply(loss, self._scale)

    def apply(self, grads, trainable_variables=None):
        inner = self.inner_optimizer
        grads = list(grads)
        if trainable_variables is None:
            if inner._vars is None:
                raise ValueError("apply() without variables needs a built optimizer")
            trainable_variables = inner._vars
        trainable_variables = list(trainable_variables)
        if inner._vars is None:
            inner.build(trainable_variables)
        xp = backend.get_xp()
        finite = all(g is None or bool(xp.isfinite(g.data if isinstance(g, Tensor) else xp.asarray(g)).all())
                     for g in grads)
        if not finite:  # skip the step, halve the scale (Keras's _stateful_handle_non_finite_grads)
            self._counter = 0
            self._scale *= 0.5
            return inner.iterations
        scale = self._scale
        unscaled = [None if g is None else (g.data if isinstance(g, Tensor) else xp.asarray(g)) / scale
                    for g in grads]
        inner.apply(unscaled, trainable_variables)
        if self._counter == self.dynamic_growth_steps - 1:
            self._counter = 0
            self._scale *= 2.0
        else:
            self._counter += 1
        return inner.iterations

    def apply_flat(self):
        raise NotImplementedError("LossScaleOptimizer runs through apply(): the compiled steps do not take it")

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        return self.inner_optimizer.exclude_from_weight_decay(var_list, var_names)

    # ---- config ----
    def get_config(self):
        inner = self.inner_optimizer
        return {"name": self.name, "inner_optimizer": {"module": "keras.optimizers", "class_name": type(inner).__name__,
                                                       "config": inner.get_config(), "registered_name": None},
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    _deserialize = None  # keras.optimizers.deserialize, handed over by the package (no import back up)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = cls._deserialize(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
