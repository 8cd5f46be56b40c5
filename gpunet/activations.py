"""`keras.activations`: functions on tensors, resolved from strings."""
from . import ops
from .ops.nn import ELEMENTWISE
from .common import registry
from .common.registry import lookup


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    y = ops.where(ops.greater_equal(x, threshold), x, ops.multiply(negative_slope, ops.subtract(x, threshold)))
    return y if max_value is None else ops.minimum(y, max_value)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


def gelu(x, approximate=False):
    return ops.gelu(x, approximate=approximate)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


relu6, sigmoid, tanh, selu, softplus = ops.relu6, ops.sigmoid, ops.tanh, ops.selu, ops.softplus
softsign, silu, hard_sigmoid, hard_silu = ops.softsign, ops.silu, ops.hard_sigmoid, ops.hard_silu
exponential, linear = ops.exponential, ops.linear
swish, hard_swish = silu, hard_silu

def mish(x):
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


celu, glu, hard_shrink, hard_tanh = ops.celu, ops.glu, ops.hard_shrink, ops.hard_tanh
log_sigmoid, soft_shrink, sparse_plus, sparse_sigmoid = ops.log_sigmoid, ops.soft_shrink, ops.sparse_plus, ops.sparse_sigmoid
sparsemax, squareplus, tanh_shrink, threshold = ops.sparsemax, ops.squareplus, ops.tanh_shrink, ops.threshold

_TABLE = {f.__name__: f for f in (relu, leaky_relu, gelu, softmax, log_softmax, elu, mish)}
_TABLE.update({"celu": celu, "glu": glu, "hard_shrink": hard_shrink, "hard_tanh": hard_tanh,
               "log_sigmoid": log_sigmoid, "soft_shrink": soft_shrink, "sparse_plus": sparse_plus,
               "sparse_sigmoid": sparse_sigmoid, "sparsemax": sparsemax, "squareplus": squareplus,
               "tanh_shrink": tanh_shrink})
_TABLE.update({"relu6": relu6, "sigmoid": sigmoid, "tanh": tanh, "selu": selu, "softplus": softplus,
               "softsign": softsign, "silu": silu, "swish": silu, "hard_sigmoid": hard_sigmoid,
               "hard_silu": hard_silu, "hard_swish": hard_silu, "exponential": exponential,
               "linear": linear})


def get(identifier):
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    return lookup("activation", identifier, _TABLE)


def serialize(fn):
    return name_of(fn)


def name_of(fn):
    for k, v in _TABLE.items():
        if v is fn:
            return "silu" if k == "swish" else ("hard_silu" if k == "hard_swish" else k)
    return getattr(fn, "__name__", str(fn))


def fusable_name(fn):
    """The fused-kernel name of an activation the dense kernels implement, or None."""
    name = name_of(fn)
    if fn is gelu:
        return "gelu"
    return name if name in ELEMENTWISE and _TABLE.get(name) is fn else None


def deserialize(config, custom_objects=None):
    if config is None:  # Keras: None deserializes to None (get(None) is the linear activation)
        return None
    if custom_objects and isinstance(config, str) and config in custom_objects:
        return custom_objects[config]
    return get(config)


# what a saved config may name (common/registry.py)
registry.register_builtins("functions", "activations", _TABLE)
