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
# the rest of keras.ops, one module per concern (each lists its names in __all__)
from .elementwise import *  # noqa: F401,F403,E402
from .reductions import *  # noqa: F401,F403,E402
from .arrays import *  # noqa: F401,F403,E402
from .products import *  # noqa: F401,F403,E402
from .nn_extra import *  # noqa: F401,F403,E402
from .linalg import *  # noqa: F401,F403,E402
from .control import *  # noqa: F401,F403,E402
from .convolution import *  # noqa: F401,F403,E402
from .pooling import *  # noqa: F401,F403,E402
from .nn_spatial import *  # noqa: F401,F403,E402
from .ctc import *  # noqa: F401,F403,E402
from . import linalg, image, numpy  # noqa: F401,E402  (keras.ops's namespaces; nn is the activations module)
get_item = getitem


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
    T.__eq__ = lambda a, b: equal(a, b)  # elementwise, as arrays (a Keras metric compares tensors with ==)
    T.__ne__ = lambda a, b: not_equal(a, b)
    T.__hash__ = object.__hash__  # tensors stay usable as dict keys and set members (by identity)
    T.__floordiv__ = lambda a, b: floor_divide(a, b)
    T.__rfloordiv__ = lambda a, b: floor_divide(b, a)
    T.__mod__ = lambda a, b: mod(a, b)
    T.__rmod__ = lambda a, b: mod(b, a)
    T.__invert__ = lambda a: logical_not(a)
    T.__and__ = lambda a, b: logical_and(a, b)
    T.__or__ = lambda a, b: logical_or(a, b)
    T.T = property(lambda a: transpose(a))
    T.reshape = lambda a, *s: reshape(a, s[0] if len(s) == 1 else s)
    T.sum = lambda a, axis=None, keepdims=False: sum(a, axis, keepdims)
    T.mean = lambda a, axis=None, keepdims=False: mean(a, axis, keepdims)
    T.astype = lambda a, dtype: cast(a, dtype)


_install_operators()


def _symbolic_dispatch():
    """Every public op called on a KerasTensor records a Functional-graph node instead of computing
    (Keras lets `x + y`, `ops.concatenate([a, b])` build a model); on real tensors it just runs."""
    import builtins
    import functools
    import inspect
    import sys
    from . import symbolic
    KT = symbolic.KerasTensor

    def wrap(name, fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            for a in args:
                if type(a) is KT or (type(a) in (list, tuple) and builtins.any(type(i) is KT for i in a)):
                    return symbolic.symbolic_op(name, fn, args, kwargs)
            if kwargs and symbolic.is_symbolic(kwargs):
                return symbolic.symbolic_op(name, fn, args, kwargs)
            if args and type(args[0]) in _SCALARS and name not in _COUNT_FIRST \
                    and not builtins.any(isinstance(a, Tensor) or hasattr(a, "dtype") for a in args[1:]):
                # ops.cast(0.0, "float32"), ops.exp(1): a Python scalar is a tensor of Keras's dtype for it (with
                # a tensor beside it, the op's own weak typing keeps the tensor's dtype, as in Keras)
                args = (convert_to_tensor(args[0]),) + args[1:]
            return fn(*args, **kwargs)
        op._raw = fn
        return op
    g = globals()
    for name, fn in list(g.items()):
        if (inspect.isfunction(fn) and not name.startswith("_") and fn.__module__.startswith(__name__ + ".")
                and name not in _NOT_SYMBOLIC):
            g[name] = wrap(name, fn)
    symbolic._install_operators(sys.modules[__name__])


_SCALARS = (int, float, bool)
# ops whose first argument is a size or a bound, not an array
_COUNT_FIRST = {"arange", "ones", "zeros", "full", "empty", "eye", "identity", "linspace", "logspace", "tri",
                "geomspace", "tril_indices", "triu_indices", "diag_indices"}
_NOT_SYMBOLIC = {"data", "convert_to_tensor", "stop_recording", "record", "dense", "softmax_cross_entropy"}
_symbolic_dispatch()


def _bind_namespaces():
    import sys
    from . import namespaces
    namespaces.bind(sys.modules[__name__])  # keras.ops.nn / numpy / linalg answer with these (wrapped) ops


_bind_namespaces()
