"""A compiled training step for the common case: a Sequential stack (or a Functional chain) of
Flatten/Reshape/Dense/Activation/Dropout layers ending in softmax + cross-entropy.

The define-by-run tape costs ~150 us of Python per step; for MNIST-sized models that is more than
the arithmetic. When every layer is one of the kinds above, fit() instead runs this fixed plan:
the same forward ops, the hand-written backward of the fused ops, weight gradients written straight
into the optimizer's flat gradient buffer, no tape. It is the CPU twin of the captured GPU step
(ARCHITECTURE.md decision 1). Anything else (custom layers, regularizers, sample weights, other
losses) takes the general tape path; tests check both give the same weights.
"""
import numpy as np

from .. import activations, backend, random as _random
from ..common import threads
from ..layers.core import Activation, Dense, Dropout, Flatten, Reshape
from ..metrics import CategoricalAccuracy, SparseCategoricalAccuracy
from ..ops.fused import xent_numpy
from ..ops.nn import ELEMENTWISE

_ARGMAX_COUNTERS = (SparseCategoricalAccuracy, CategoricalAccuracy)
_KINDS = (Flatten, Reshape, Dense, Activation, Dropout)


def layer_chain(model):
    """[(layer, output shape)] when the model is one chain of layer calls, each on the previous layer's
    output (Model._layer_chain: a Sequential, or a Functional model with one input and one output, no
    branch and no call arguments besides the tensor), with no layer in it twice; else None."""
    chain = model._layer_chain()
    if not chain or len({id(l) for l, _ in chain}) != len(chain):  # a shared layer: its gradients would add up
        return None
    if any(getattr(l, "_mixed", False) for l, _ in chain):  # mixed precision runs each layer's own call
        return None
    return chain


def plan_layers(model, training=True, head="softmax"):
    """The layer program of an eligible model (layer_chain): [("reshape", layer, shape) | ("dense", layer, act,
    out shape) | ("act", layer, name) | ("dropout", layer)], or None when a layer is of another kind.
    head="softmax": the model ends in a softmax, left out (the loss takes the logits before it);
    head="logits": the model's output is the logits (a loss with from_logits=True), every layer runs.
    Shared with the GPU step program (gpu_step.py)."""
    chain = layer_chain(model)
    if chain is None:
        return None
    steps = []
    for i, (layer, out) in enumerate(chain):
        if type(layer) not in _KINDS:  # a subclass may override call(): only the general path runs it
            return None
        last = i == len(chain) - 1 and head == "softmax"
        if isinstance(layer, (Flatten, Reshape)):
            if isinstance(layer, Flatten) and layer.data_format != "channels_last":
                return None
            if out is None or None in out[1:]:
                return None
            steps.append(("reshape", layer, tuple(out[1:])))
        elif isinstance(layer, Dense):
            if layer.kernel.dtype != np.float32 or (training and layer.kernel._grad_sink is None and layer.trainable):
                return None
            act = "linear" if last else layer._fused
            if act is None or (not last and layer.activation is activations.softmax):
                return None
            steps.append(("dense", layer, act, out))
        elif isinstance(layer, Activation):
            if last:
                continue  # the softmax head: folded into the loss
            name = activations.fusable_name(layer.activation)
            if name is None:
                return None
            steps.append(("act", layer, name))
        elif isinstance(layer, Dropout):
            if layer.noise_shape is not None:
                return None
            steps.append(("dropout", layer))
        else:
            return None
    return steps


class StepPlan:
    @staticmethod
    def build(model, plan):
        if backend.uses_kernels() or not plan.fused or plan.has_extra_losses or plan.weighted_metrics:
            return None
        steps = plan_layers(model, head="logits" if plan.from_logits else "softmax")
        return None if steps is None else StepPlan(model, plan, steps)

    def __init__(self, model, plan, steps):
        self.model, self.plan, self.steps = model, plan, steps
        self.opt = model.optimizer
        self.variables = plan.variables
        # below the first Dense nothing has weights: its input gradient is never computed
        self.first_dense = min(i for i, st in enumerate(steps) if st[0] == "dense")

    def train_step(self, xb, yb):
        """One step of forward, loss, backward and update; returns nothing (metrics accumulate)."""
        B = len(xb)
        h = xb
        saved = []  # what each step's backward needs
        for st in self.steps:
            kind = st[0]
            if kind == "reshape":
                saved.append(h.shape)
                h = h.reshape((B,) + st[2])
            elif kind == "dense":
                layer, act = st[1], st[2]
                W = layer.kernel.data
                h2 = h.reshape(-1, h.shape[-1])
                threads.gemm(*h2.shape, W.shape[1])
                z = h2 @ W
                if layer.bias is not None:
                    z += layer.bias.data
                if act == "relu":
                    y = np.maximum(z, 0, out=z)
                    zsave = None
                elif act in ("linear",):
                    y, zsave = z, None
                else:
                    y, zsave = ELEMENTWISE[act][0](z), z
                saved.append((h2, h.shape, zsave, y))
                h = y.reshape(h.shape[:-1] + (W.shape[1],))
            elif kind == "act":
                z = h
                h = ELEMENTWISE[st[2]][0](z)
                saved.append((z, h))
            else:  # dropout
                rate = st[1].rate
                if rate:
                    mask = _random.dropout_mask(h.shape, rate, h.dtype)
                    h = h * mask
                    saved.append(mask)
                else:
                    saved.append(None)
        logits = h.reshape(-1, h.shape[-1])
        dz, loss = self._xent(logits, yb)
        self._metrics(yb, logits, loss, B)
        g = dz
        for i in range(len(self.steps) - 1, -1, -1):
            st, sv = self.steps[i], saved[i]
            kind = st[0]
            if kind == "reshape":
                g = g.reshape(sv)
            elif kind == "dense":
                layer, act = st[1], st[2]
                h2, in_shape, zsave, y = sv
                g2 = g.reshape(y.shape)
                if act == "relu":
                    g2 = g2 * (y > 0)
                elif act != "linear":
                    g2 = g2 * ELEMENTWISE[act][1](zsave, y)
                if layer.trainable:
                    threads.gemm(h2.shape[1], B, g2.shape[1])
                    np.matmul(h2.T, g2, out=layer.kernel._grad_sink)
                    if layer.bias is not None:
                        g2.sum(axis=0, out=layer.bias._grad_sink)
                if i == self.first_dense:
                    break
                threads.gemm(B, *layer.kernel.data.shape[::-1])
                g = (g2 @ layer.kernel.data.T).reshape(in_shape)
            elif kind == "act":
                z, y = sv
                g = g * ELEMENTWISE[st[2]][1](z, y)
            else:
                if sv is not None:
                    g = g * sv
        self.opt.apply_flat()

    def _xent(self, z, yb):
        """Mean loss and its logits gradient, by the same NumPy reference the fused op uses."""
        per, grad = xent_numpy(z, yb, self.plan.sparse, self.plan.label_smoothing)
        p = grad()
        scale = self.opt.loss_scale_factor  # the tape path's d(scale * mean)/dz, in the same float32 steps
        p *= np.float32(1.0 / len(z)) if scale is None else np.float32(scale) * np.float32(1.0 / len(z))
        return p, per.astype(z.dtype, copy=False).mean()

    def _metrics(self, yb, logits, loss, B):
        model, plan = self.model, self.plan
        model._loss_tracker.add(loss, B)
        if plan.metrics:
            if all(type(m) in _ARGMAX_COUNTERS for m in plan.metrics):
                # a count of correct argmaxes over every row (B·T of a (B, T, C) output): the sum Mean forms
                y = (yb if plan.sparse else yb.argmax(axis=-1)).reshape(-1)
                hits = int((logits.argmax(axis=1) == y).sum())
                for m in plan.metrics:
                    m.total = m.total + hits
                    m.count = m.count + len(logits)
                return
            preds = logits
            if not plan.metrics_on_logits and not plan.from_logits:
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                preds = e / e.sum(axis=1, keepdims=True)
            lead = yb.shape if plan.sparse else yb.shape[:-1]  # the model's output shape again
            for m in plan.metrics:
                m.update_state(yb, preds.reshape(lead + (logits.shape[-1],)))
