"""The two fused ops with hand-written backward passes.

On NumPy they are the reference implementations of kernels/dense.cu and kernels/softmax_xent.cu;
on CuPy they launch those kernels (see gpunet/kernels/)."""
import numpy as np

from .. import backend
from ..common import threads
from .core import Tensor, data, record
from .nn import ELEMENTWISE
from .tape import grad_sink

# activations whose derivative needs only the output y, so z may be overwritten in place
_FROM_OUTPUT = ("linear", "relu", "sigmoid", "tanh")


def dense(x, kernel, bias=None, activation="linear"):
    """y = activation(x @ kernel + bias) over the last axis of x (Keras's Dense)."""
    activation = activation or "linear"
    if activation not in ELEMENTWISE:
        raise ValueError("dense(): activation %r cannot be fused; expected one of %s"
                         % (activation, sorted(ELEMENTWISE)))
    a, W = data(x), data(kernel)
    b = None if bias is None else data(bias)
    if backend.uses_kernels() and a.dtype == W.dtype == "float32" and (b is None or b.dtype == "float32"):
        from ..kernels import dense  # float32: our kernels; other dtypes (float64 gradient checks): array ops
        M = a.size // a.shape[-1] if a.shape[-1] else 0
        if dense.dense_supported(activation, M, W.shape[0], W.shape[1]):
            return dense.dense_op(x, kernel, bias, a, W, b, activation, record)
    xp = backend.get_xp()
    a2 = a.reshape(-1, a.shape[-1])
    if xp is np:
        threads.gemm(a2.shape[0], *W.shape)
    z = a2 @ W
    if b is not None:
        z += b
    fwd, grad = ELEMENTWISE[activation]
    if activation in _FROM_OUTPUT:
        if activation == "relu":
            y = xp.maximum(z, 0, out=z)
        elif activation == "tanh":
            y = xp.tanh(z, out=z)
        elif activation == "sigmoid":
            z *= 0.5
            xp.tanh(z, out=z)
            z += 1.0
            z *= 0.5
            y = z
        else:
            y = z
        z = None
    else:
        y = fwd(z)
    out_shape = a.shape[:-1] + (W.shape[1],)

    def backward(g, n):
        g2 = g.reshape(y.shape)
        if activation == "linear":
            dz = g2
        elif activation == "relu":
            dz = g2 * (y > 0)
        else:
            dz = g2 * grad(z, y)
        if xp is np:
            threads.gemm(a2.shape[0], W.shape[1], W.shape[0])
        gx = (dz @ W.T).reshape(a.shape) if n[0] else None
        gW = gb = None
        if n[1]:
            if xp is np:
                threads.gemm(W.shape[0], a2.shape[0], W.shape[1])
            gW = xp.matmul(a2.T, dz, out=grad_sink(kernel, dz.dtype))
        if b is not None and n[2]:
            gb = dz.sum(axis=0, out=grad_sink(bias, dz.dtype))
        return gx, gW, gb
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    return record(y.reshape(out_shape), inputs, backward)


def softmax_cross_entropy(labels, logits, sparse=True, label_smoothing=0.0, reduction="none"):
    """Cross-entropy of softmax(logits) against integer (sparse) or one-hot labels: per sample, or
    their mean with reduction="mean" (one op instead of three on the training hot path).
    Computed from log-softmax, so it is stable for any logits; backward is (softmax - target)."""
    if reduction not in ("none", "mean"):
        raise ValueError("softmax_cross_entropy reduction must be 'none' or 'mean', got %r" % (reduction,))
    z = data(logits)
    lab = data(labels)
    xp = backend.get_xp()
    C = z.shape[-1]
    lead = z.shape[:-1]
    z2 = z.reshape(-1, C)
    if backend.uses_kernels() and z.dtype == "float32":
        from ..kernels import softmax_xent
        if softmax_xent.xent_supported(*z2.shape):
            return softmax_xent.softmax_xent_op(labels, logits, lab, z2, lead, sparse, label_smoothing, record,
                                                reduction)
    loss, grad = xent_numpy(z2, lab, sparse, label_smoothing, check_labels=True)

    def backward(g, n):
        p = grad()
        if mean:
            p *= g * (1.0 / max(len(p), 1))
        else:
            p *= g.reshape(-1, 1)
        return None, p.reshape(z.shape)
    mean = reduction == "mean"
    # an empty batch: 0, as Keras's divide_no_nan gives (not NaN from a mean over nothing)
    out = (loss.mean() if len(loss) else xp.zeros((), dtype=loss.dtype)) if mean else loss.reshape(lead)
    return record(out.astype(z.dtype, copy=False), (labels, logits), backward)


def xent_numpy(z2, lab, sparse, label_smoothing, check_labels=False):
    """The NumPy reference of kernels/softmax_xent.cu: per-row loss of softmax(z2) against the labels,
    and a function giving d(sum of losses)/d(z2) = softmax * sum(target) - target (computed only when
    asked for, so inference never pays for it). Shared by the tape op and the compiled CPU step.
    check_labels: refuse sparse labels outside [0, C) (a negative one would silently index from the
    end); the compiled step skips it because fit checked every label once, up front."""
    xp = backend.get_xp()
    R, C = z2.shape
    s = z2 - z2.max(axis=1, keepdims=True)
    e = xp.exp(s)
    sumexp = e.sum(axis=1, keepdims=True)
    logp = s - xp.log(sumexp)
    rows = xp.arange(R)
    ls = label_smoothing
    if sparse:
        idx = lab.reshape(-1).astype(xp.intp, copy=False)
        if check_labels and idx.size and bool((idx.min() < 0) | (idx.max() >= C)):
            raise ValueError("softmax_cross_entropy: a label is outside [0, %d)" % C)
        # the smoothing sum is scaled term by term: a plain sum of C huge log-probabilities can overflow
        loss = -logp[rows, idx] if not ls else -((1.0 - ls) * logp[rows, idx] + (logp * (ls / C)).sum(axis=1))
        target = None
    else:
        target = lab.reshape(-1, C).astype(z2.dtype, copy=False)
        if ls:
            target = target * (1.0 - ls) + ls / C
        loss = -(target * logp).sum(axis=1)

    def grad():
        p = e / sumexp
        if not sparse:
            return p * target.sum(axis=1, keepdims=True) - target
        if ls:
            p -= ls / C
            p[rows, idx] -= 1.0 - ls
        else:
            p[rows, idx] -= 1.0
        return p
    return loss, grad
