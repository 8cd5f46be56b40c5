"""gpunet: the Keras API, on NumPy or on NVIDIA GPUs through CuPy and fused CUDA kernels.

    import gpunet as keras
"""
import sys as _sys

import numpy as _np

from . import (activations, backend, callbacks, config, constraints, dtype_policies, initializers,  # noqa: F401
               layers, losses, metrics, mixed_precision, models, ops, optimizers, preprocessing, random, regularizers,
               utils)
from .dtype_policies import DTypePolicy, FloatDTypePolicy  # noqa: F401

# keras.config's policy functions live in dtype_policies (config sits below the layers that read them)
config.set_dtype_policy, config.dtype_policy = dtype_policies.set_dtype_policy, dtype_policies.dtype_policy
from .initializers import Initializer  # noqa: F401
from .layers import Input, InputSpec, KerasTensor, Layer  # noqa: F401
from .losses import Loss  # noqa: F401
from .metrics import Metric  # noqa: F401
from .models import Model, Sequential  # noqa: F401
from .ops.symbolic import Operation  # noqa: F401
from .ops.tape import GradientTape, Variable  # noqa: F401
from .optimizers import Optimizer  # noqa: F401
from .regularizers import Regularizer  # noqa: F401
from .common import registry as _registry
from .keras_alias import install_as_keras  # noqa: F401
from .version import __version__  # noqa: F401

# a Lambda layer's Python lambda, loaded from a file outside safe mode, runs with these names (as in Keras)
_registry.set_lambda_globals({"gpunet": _sys.modules[__name__], "keras": _sys.modules[__name__], "ops": ops,
                             "np": _np})


def version():
    return __version__


# datasets pull in urllib/gzip/hashlib, tree needs optree (a dependency a bare GPU image may lack): load them when used
_LAZY = {"datasets": ".datasets", "saving": ".saving", "kernels": ".kernels", "distribution": ".distribution",
         "applications": ".applications", "export": ".export", "tree": ".common.tree"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(_LAZY[name], __name__)
    raise AttributeError("module 'gpunet' has no attribute %r" % name)
