"""The rest of keras.ops.nn: the newer activations (celu, glu, shrinks, sparsemax...),
normalization, the cross-entropies as ops, multi_hot, psnr and dot_product_attention."""
import builtins
import math as _m

import numpy as np

from .. import backend, config
from . import math as M, nn as N
from .core import const as _const, data, record
from .arrays import split
from .elementwise import expm1, logical_and, rsqrt
from .reductions import norm

__all__ = [
    "celu", "glu", "hard_shrink", "soft_shrink", "hard_tanh", "threshold", "squareplus", "sparse_plus",
    "sparse_sigmoid", "sparsemax", "moments", "batch_normalization", "layer_normalization",
    "rms_normalization", "normalize", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "multi_hot", "psnr", "dot_product_attention",
]


def _xp():
    return backend.get_xp()


# ---- activations (keras.ops / keras.activations) ----

def celu(x, alpha=1.0):
    return M.where(M.greater(x, 0), x, M.multiply(alpha, expm1(M.divide(M.minimum(x, 0), alpha))))


def glu(x, axis=-1):
    a, b = split(x, 2, axis=axis)
    return M.multiply(a, N.sigmoid(b))


def hard_shrink(x, threshold=0.5):
    return M.where(M.greater(M.abs(x), threshold), x, 0.0)


def soft_shrink(x, threshold=0.5):
    return M.where(M.greater(x, threshold), M.subtract(x, threshold),
                   M.where(M.less(x, -threshold), M.add(x, threshold), 0.0))


def hard_tanh(x):
    return M.clip(x, -1.0, 1.0)


def threshold(x, threshold, default_value):
    return M.where(M.greater(x, threshold), x, default_value)


def squareplus(x, b=4):
    return M.multiply(M.add(x, M.sqrt(M.add(M.square(x), b))), 0.5)


def sparse_plus(x):
    return M.where(M.less_equal(x, -1.0), 0.0, M.where(M.greater_equal(x, 1.0), x,
                                                        M.multiply(M.square(M.add(x, 1.0)), 0.25)))


def sparse_sigmoid(x):
    return M.where(M.less_equal(x, -1.0), 0.0, M.where(M.greater_equal(x, 1.0), 1.0,
                                                        M.multiply(M.add(x, 1.0), 0.5)))


def sparsemax(x, axis=-1):
    """Projection of x onto the probability simplex (Martins & Astudillo 2016)."""
    z = data(x)
    xp = _xp()
    zs = -xp.sort(-z, axis=axis)
    k = xp.arange(1, z.shape[axis] + 1, dtype=z.dtype).reshape([-1 if i == axis % z.ndim else 1 for i in
                                                                builtins.range(z.ndim)])
    cs = xp.cumsum(zs, axis=axis)
    support = (1 + k * zs) > cs
    kz = support.sum(axis=axis, keepdims=True)
    tau = (xp.take_along_axis(cs, kz - 1, axis=axis) - 1) / kz.astype(z.dtype)
    y = xp.maximum(z - tau, 0)
    on = y > 0

    def backward(g, n):
        s = (g * on).sum(axis=axis, keepdims=True) / on.sum(axis=axis, keepdims=True)
        return (on * (g - s),)
    return record(y, (x,), backward)

# ---- normalization and losses (keras.ops.nn) ----

def moments(x, axes, keepdims=False, synchronized=False):
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    mean_ = M.mean(x, axis=axes, keepdims=True)
    variance = M.mean(M.square(M.subtract(x, M.stop_gradient(mean_))), axis=axes, keepdims=True)
    variance = M.subtract(variance, M.square(M.subtract(mean_, M.stop_gradient(mean_))))
    if not keepdims:
        mean_, variance = M.squeeze(mean_, axis=tuple(axes)), M.squeeze(variance, axis=tuple(axes))
    return mean_, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    nd = len(M.shape(x))
    shape = [1] * nd
    shape[axis % nd] = -1

    def b(t):
        return t if t is None or np.ndim(data(t)) != 1 else M.reshape(t, tuple(shape))
    inv = M.divide(1.0, M.sqrt(M.add(b(variance), epsilon)))
    if scale is not None:
        inv = M.multiply(inv, b(scale))
    out = M.multiply(M.subtract(x, b(mean)), inv)
    return out if offset is None else M.add(out, b(offset))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = [axis] if isinstance(axis, int) else list(axis)
    mean_ = M.mean(x, axis=tuple(axes), keepdims=True)
    var_ = M.mean(M.square(M.subtract(x, mean_)), axis=tuple(axes), keepdims=True)
    out = M.divide(M.subtract(x, mean_), M.sqrt(M.add(var_, epsilon)))
    if gamma is not None:
        out = M.multiply(out, gamma)
    return out if beta is None else M.add(out, beta)


def rms_normalization(x, scale=1, axis=-1, epsilon=None):
    eps = config.epsilon() if epsilon is None else epsilon
    out = M.multiply(x, rsqrt(M.add(M.mean(M.square(x), axis=axis, keepdims=True), eps)))
    return M.multiply(out, scale)


def normalize(x, axis=-1, order=2, epsilon=None):
    eps = config.epsilon() if epsilon is None else epsilon
    if order != 2:
        return M.divide(x, M.maximum(norm(x, ord=order, axis=axis, keepdims=True), eps))
    return M.multiply(x, rsqrt(M.maximum(M.sum(M.square(x), axis=axis, keepdims=True), eps * eps)))


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise, as keras.ops.binary_crossentropy (no mean over the last axis)."""
    if from_logits:
        return M.add(M.subtract(N.relu(output), M.multiply(output, target)), M.log1p(M.exp(M.negative(M.abs(output)))))
    eps = config.epsilon()
    p = M.clip(output, eps, 1 - eps)
    return M.negative(M.add(M.multiply(target, M.log(p)),
                            M.multiply(M.subtract(1.0, target), M.log(M.subtract(1.0, p)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    if from_logits:
        return M.negative(M.sum(M.multiply(target, N.log_softmax(output, axis=axis)), axis=axis))
    eps = config.epsilon()
    p = M.divide(output, M.sum(output, axis=axis, keepdims=True))
    return M.negative(M.sum(M.multiply(target, M.log(M.clip(p, eps, 1 - eps))), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    t = data(target).astype("int64")
    if t.ndim == np.ndim(data(output)):
        t = t.reshape(t.shape[:-1])
    return categorical_crossentropy(M.one_hot(t, np.shape(data(output))[axis], dtype=data(output).dtype), output,
                                    from_logits=from_logits, axis=axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    num_classes = kwargs.pop("num_tokens", num_classes)
    idx = data(inputs).astype("int64")
    if idx.ndim == 1:
        idx = idx[None]
        squeeze_ = True
    else:
        squeeze_ = False
    out = _xp().zeros(idx.shape[:-1] + (num_classes,), dtype=dtype or config.floatx())
    _xp().put_along_axis(out, idx, 1, axis=-1)
    return _const(out[0] if squeeze_ else out)


def psnr(x1, x2, max_val):
    mse = M.mean(M.square(M.subtract(x1, x2)))
    return M.subtract(M.multiply(20.0, M.divide(M.log(max_val), _m.log(10.0))),
                      M.multiply(10.0, M.divide(M.log(mse), _m.log(10.0))))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
                          attn_logits_soft_cap=None):
    """softmax(q k^T * scale + bias, masked) v over inputs of shape (batch, seq, heads, dim), as Keras.
    flash_attention=True is refused (no such kernel here); a soft cap applies tanh(logits/cap)*cap."""
    if flash_attention:
        raise ValueError("dot_product_attention(flash_attention=True) is not supported by gpunet")
    d = np.shape(data(query))[-1]
    scale = 1.0 / _m.sqrt(d) if scale is None else scale
    q = M.transpose(query, (0, 2, 1, 3))
    k = M.transpose(key, (0, 2, 3, 1))
    v = M.transpose(value, (0, 2, 1, 3))
    logits = M.multiply(M.matmul(q, k), scale)
    if attn_logits_soft_cap is not None:
        logits = M.multiply(N.tanh(M.divide(logits, attn_logits_soft_cap)), attn_logits_soft_cap)
    if bias is not None:
        logits = M.add(logits, bias)
    if is_causal:
        T, S = np.shape(data(logits))[-2:]
        mask = _const(_xp().tril(_xp().ones((T, S), dtype=bool))) if mask is None else logical_and(mask, _xp().tril(
            _xp().ones((T, S), dtype=bool)))
    if mask is not None:
        logits = M.where(mask, logits, _xp().finfo(data(logits).dtype).min / 2)
    return M.transpose(M.matmul(N.softmax(logits, axis=-1), v), (0, 2, 1, 3))
