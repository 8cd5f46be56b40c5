"""Differentiable ops on backend arrays, with `keras.ops` names."""
from .core import convert_to_tensor, data  # noqa: F401
from .fused import dense, softmax_cross_entropy  # noqa: F401
from .math import (  # noqa: F401
    abs, absolute, add, argmax, argmin, broadcast_to, cast, clip, concatenate, divide, dot, equal,
    exp, expand_dims, getitem, greater, greater_equal, less, less_equal, log, log1p, matmul, max,
    maximum, mean, min, minimum, multiply, negative, not_equal, one_hot, ones, ones_like, power,
    reshape, shape, sign, size, sqrt, square, squeeze, stop_gradient, subtract, sum, take,
    transpose, true_divide, where, zeros, zeros_like)
from .nn import (  # noqa: F401
    elu, exponential, gelu, hard_sigmoid, hard_silu, hard_swish, leaky_relu, linear, log_softmax,
    relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign, swish, tanh)
from .tape import GradientTape, Tensor, Variable, stop_recording  # noqa: F401


def _install_operators():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: subtract(a, b)
    T.__rsub__ = lambda a, b: subtract(b, a)
    T.__mul__ = lambda a, b: multiply(a, b)
    T.__rmul__ = lambda a, b: multiply(b, a)
    T.__truediv__ = lambda a, b: divide(a, b)
    T.__rtruediv__ = lambda a, b: divide(b, a)
    T.__pow__ = lambda a, b: power(a, b)
    T.__rpow__ = lambda a, b: power(b, a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__neg__ = lambda a: negative(a)
    T.__abs__ = lambda a: abs(a)
    T.__getitem__ = lambda a, k: getitem(a, k)
    T.__lt__ = lambda a, b: less(a, b)
    T.__le__ = lambda a, b: less_equal(a, b)
    T.__gt__ = lambda a, b: greater(a, b)
    T.__ge__ = lambda a, b: greater_equal(a, b)
    T.T = property(lambda a: transpose(a))
    T.reshape = lambda a, *s: reshape(a, s[0] if len(s) == 1 else s)
    T.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)
    T.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)
    T.astype = lambda a, dtype: cast(a, dtype)


_install_operators()
