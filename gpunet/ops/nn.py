"""Activations as differentiable ops. Elementwise ones are kept in one table of
(forward(z), derivative(z, y)) pairs so the fused dense op uses the very same formulas."""
import math

from .. import backend
from .core import data, record

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _xp():
    return backend.get_xp()


def _sigmoid(z):
    xp = _xp()
    return 0.5 * (1.0 + xp.tanh(0.5 * z))  # no overflow for large |z|


def _elu(z, alpha=1.0):
    xp = _xp()
    return xp.where(z > 0, z, alpha * xp.expm1(xp.minimum(z, 0)))


def _gelu_exact(z):
    return 0.5 * z * (1.0 + backend.erf(z * (1.0 / math.sqrt(2.0))))


def _gelu_exact_grad(z, y):
    cdf = 0.5 * (1.0 + backend.erf(z * (1.0 / math.sqrt(2.0))))
    return cdf + z * _INV_SQRT_2PI * _xp().exp(-0.5 * z * z)


def _gelu_tanh(z):
    return 0.5 * z * (1.0 + _xp().tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3)))


def _gelu_tanh_grad(z, y):
    t = _xp().tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z * z)


def _softplus(z):
    xp = _xp()
    return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0)


# name -> (forward(z), derivative(z, y)); derivative is d act / d z evaluated elementwise
ELEMENTWISE = {
    "linear": (lambda z: z, lambda z, y: 1.0),
    "relu": (lambda z: _xp().maximum(z, 0), lambda z, y: (z > 0).astype(z.dtype)),
    "relu6": (lambda z: _xp().clip(z, 0, 6), lambda z, y: ((z > 0) & (z < 6)).astype(z.dtype)),
    "sigmoid": (_sigmoid, lambda z, y: y * (1.0 - y)),
    "tanh": (lambda z: _xp().tanh(z), lambda z, y: 1.0 - y * y),
    "elu": (_elu, lambda z, y: _xp().where(z > 0, 1.0, y + 1.0).astype(z.dtype)),
    "selu": (lambda z: _SELU_SCALE * _elu(z, _SELU_ALPHA),
             lambda z, y: _xp().where(z > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA).astype(z.dtype)),
    "softplus": (_softplus, lambda z, y: _sigmoid(z)),
    "softsign": (lambda z: z / (1.0 + _xp().abs(z)), lambda z, y: 1.0 / (1.0 + _xp().abs(z)) ** 2),
    "silu": (lambda z: z * _sigmoid(z), lambda z, y: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z)))),
    "gelu": (_gelu_exact, _gelu_exact_grad),
    "gelu_approximate": (_gelu_tanh, _gelu_tanh_grad),
    "hard_sigmoid": (lambda z: _xp().clip(z + 3.0, 0, 6) / 6.0,
                     lambda z, y: ((z > -3) & (z < 3)).astype(z.dtype) / 6.0),
    "hard_silu": (lambda z: z * _xp().clip(z + 3.0, 0, 6) / 6.0,
                  lambda z, y: _xp().where(z <= -3, 0.0, _xp().where(z >= 3, 1.0, (2 * z + 3) / 6.0)).astype(z.dtype)),
    "exponential": (lambda z: _xp().exp(z), lambda z, y: y),
}


def _elementwise(name, x):
    fwd, grad = ELEMENTWISE[name]
    z = data(x)
    y = fwd(z)
    return record(y, (x,), lambda g, n: (g * grad(z, y),))


def relu(x):
    return _elementwise("relu", x)


def relu6(x):
    return _elementwise("relu6", x)


def sigmoid(x):
    return _elementwise("sigmoid", x)


def tanh(x):
    return _elementwise("tanh", x)


def elu(x, alpha=1.0):
    if alpha == 1.0:
        return _elementwise("elu", x)
    z = data(x)
    y = _elu(z, alpha)
    return record(y, (x,), lambda g, n: (g * _xp().where(z > 0, 1.0, y + alpha).astype(z.dtype),))


def selu(x):
    return _elementwise("selu", x)


def softplus(x):
    return _elementwise("softplus", x)


def softsign(x):
    return _elementwise("softsign", x)


def silu(x):
    return _elementwise("silu", x)


swish = silu


def gelu(x, approximate=True):
    """keras.ops.gelu: tanh approximation by default (keras.activations.gelu defaults to exact)."""
    return _elementwise("gelu_approximate" if approximate else "gelu", x)


def hard_sigmoid(x):
    return _elementwise("hard_sigmoid", x)


def hard_silu(x):
    return _elementwise("hard_silu", x)


hard_swish = hard_silu


def exponential(x):
    return _elementwise("exponential", x)


def linear(x):
    return _elementwise("linear", x)


def leaky_relu(x, negative_slope=0.2):
    z = data(x)
    y = _xp().where(z > 0, z, negative_slope * z)
    return record(y, (x,), lambda g, n: (g * _xp().where(z > 0, 1.0, negative_slope).astype(z.dtype),))


def softmax(x, axis=-1):
    z = data(x)
    e = _xp().exp(z - z.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return record(y, (x,), lambda g, n: (y * (g - (g * y).sum(axis=axis, keepdims=True)),))


def log_softmax(x, axis=-1):
    xp = _xp()
    z = data(x)
    s = z - z.max(axis=axis, keepdims=True)
    y = s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return record(y, (x,), lambda g, n: (g - xp.exp(y) * g.sum(axis=axis, keepdims=True),))


def __getattr__(name):  # keras.ops.nn's names that gpunet keeps elsewhere in gpunet.ops (namespaces.py)
    from .namespaces import lookup
    return lookup("nn", name)
