"""`keras.mixed_precision`: the global dtype policy under its Keras 2 names, and LossScaleOptimizer."""
from .dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy  # noqa: F401
from .optimizers.loss_scale import LossScaleOptimizer  # noqa: F401

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy
