"""EinsumDense, MultiHeadAttention and Attention, with Keras 3's arguments, weight layout and masks.

MultiHeadAttention keeps Keras's weights exactly — query/key/value kernels (dim, heads, key_dim) with
(heads, key_dim) biases, the output kernel (heads, value_dim, dim) — and computes what Keras's
`_compute_attention` computes: scores = (q / sqrt(key_dim)) · k over each head, Keras's masked softmax
(`ops.attention.masked_softmax`, a fused kernel on the GPU), dropout on the probabilities, probabilities
· v. The einsums are run as reshapes and GEMMs (the same sums, at BLAS speed)."""
import math
import re

import numpy as np

from .. import activations, backend, constraints, initializers, ops, random as _random, regularizers
from ..ops.attention import masked_softmax
from ..ops.tape import Tensor
from .base import Layer
from .core import Dropout
from .activations import Softmax


def _prod(xs):
    out = 1
    for v in xs:
        out *= int(v)
    return out


class EinsumDense(Layer):
    """A dense layer written as an einsum: y = einsum(equation, x, kernel) (+ bias over `bias_axes`)."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        if not re.fullmatch(r"[a-zA-Z]+,[a-zA-Z]+->[a-zA-Z]+", equation.replace(" ", "")):
            raise ValueError("EinsumDense: gpunet supports equations of the form 'ab,bc->ac' (explicit letters, "
                             "no '...'), received equation=%r" % (equation,))
        if lora_rank or quantization_config is not None:
            raise ValueError("EinsumDense: LoRA and quantization (lora_rank=%r, quantization_config=%r) are not "
                             "supported by gpunet" % (lora_rank, quantization_config))
        self.equation = equation.replace(" ", "")
        self.partial_output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank, self.lora_alpha = lora_rank, lora_alpha
        self.supports_masking = True

    def build(self, input_shape):
        ins, out = self.equation.split("->")
        x_spec, w_spec = ins.split(",")
        input_shape = tuple(input_shape)
        if len(x_spec) != len(input_shape):
            raise ValueError("EinsumDense %r: the equation's input %r has %d axes, the input has shape %s"
                             % (self.name, x_spec, len(x_spec), input_shape))
        full_out = [input_shape[0]] + list(self.partial_output_shape)
        if len(full_out) != len(out):
            raise ValueError("EinsumDense %r: output_shape %s does not match the equation's output %r"
                             % (self.name, self.partial_output_shape, out))
        for i, c in enumerate(out):  # sizes Keras reads off the input where output_shape says None
            if full_out[i] is None and c in x_spec:
                full_out[i] = input_shape[x_spec.index(c)]
        self.full_output_shape = tuple(full_out)

        def size(c):
            if c in x_spec:
                return input_shape[x_spec.index(c)]
            return full_out[out.index(c)]
        kernel_shape = tuple(size(c) for c in w_spec)
        self.kernel = self.add_weight(shape=kernel_shape, name="kernel", initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.bias_axes:
            first = min(out.index(c) for c in self.bias_axes)
            bias_shape = tuple(full_out[out.index(c)] if c in self.bias_axes else 1 for c in out[first:])
            self.bias = self.add_weight(shape=bias_shape, name="bias", initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        # x = P + Q, w = Q + R, out = P + R: a GEMM over the flattened Q (MultiHeadAttention's projections)
        self._gemm = None
        for k in range(1, len(x_spec) + 1):
            P, Q = x_spec[:-k], x_spec[-k:]
            if w_spec.startswith(Q) and out == P + w_spec[len(Q):] and len(set(self.equation) - set(",->")) == \
                    len(set(x_spec + w_spec)):
                self._gemm = (len(P), len(Q))
                break

    def call(self, inputs):
        if self._gemm is not None:
            p, q = self._gemm
            lead = tuple(inputs.shape[:p])
            k = _prod(inputs.shape[p:])
            w = ops.reshape(self.kernel, (k, -1))
            y = ops.matmul(ops.reshape(inputs, lead + (k,)), w)
            y = ops.reshape(y, lead + tuple(self.kernel.shape[q:]))
        else:
            y = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            y = ops.add(y, self.bias)
        return self.activation(y) if self.activation is not activations.linear else y

    def compute_output_shape(self, input_shape):
        ins, out = self.equation.split("->")
        x_spec = ins.split(",")[0]
        full = [input_shape[0]] + list(self.partial_output_shape)
        return tuple(input_shape[x_spec.index(c)] if full[i] is None and c in x_spec else full[i]
                     for i, c in enumerate(out))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"output_shape": self.partial_output_shape, "equation": self.equation,
                    "activation": activations.serialize(self.activation), "bias_axes": self.bias_axes,
                    "kernel_initializer": initializers.serialize(self.kernel_initializer),
                    "bias_initializer": initializers.serialize(self.bias_initializer),
                    "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                    "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                    "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                    "kernel_constraint": constraints.serialize(self.kernel_constraint),
                    "bias_constraint": constraints.serialize(self.bias_constraint)})
        return cfg


def _causal_mask(tq, ts):
    xp = backend.get_xp()
    return Tensor(xp.tril(xp.ones((1, tq, ts), dtype=bool)))


def _and(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return ops.logical_and(a, b)


def _alias(public):
    """A private name Keras's MultiHeadAttention keeps state under, reading and writing the public attribute."""
    return property(lambda self: getattr(self, public), lambda self, value: setattr(self, public, value))


class MultiHeadAttention(Layer):
    """Keras's MultiHeadAttention over (batch, time, dim) query, value and key (attention over axis 1)."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for name, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError("MultiHeadAttention: `%s` must be a positive integer, received %s=%r" % (name, name, v))
        if attention_axes is not None and tuple(np.atleast_1d(attention_axes)) not in ((1,), (-2,)):
            raise ValueError("MultiHeadAttention: gpunet attends over the time axis of (batch, time, dim) inputs "
                             "only; received attention_axes=%r" % (attention_axes,))
        for name, v in (("sliding_window", sliding_window), ("use_gate", use_gate)):
            if v:
                raise ValueError("MultiHeadAttention: %s=%r is not supported by gpunet yet" % (name, v))
        if flash_attention:
            raise ValueError("MultiHeadAttention: flash_attention=True is not supported by gpunet (it computes "
                             "the same numbers with its own masked-softmax kernel); pass None or False")
        self.supports_masking = True
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim if value_dim else key_dim
        self.dropout = float(dropout)
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError("MultiHeadAttention: `dropout` must be in [0, 1], received dropout=%r" % (dropout,))
        self.use_bias = use_bias
        self._output_shape = output_shape
        self.attention_axes = attention_axes
        self._flash_attention = flash_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self.key_dim))

    def _dense(self, equation, out_shape, bias_axes, name):
        # each projection gets its own copy of the initializers, as Keras's do: an unseeded initializer draws its
        # seed when made, so one instance shared by query, key and value would give them the same kernel
        return EinsumDense(equation, output_shape=out_shape, bias_axes=bias_axes if self.use_bias else None,
                           kernel_initializer=initializers.clone(self.kernel_initializer),
                           bias_initializer=initializers.clone(self.bias_initializer),
                           kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
                           kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
                           dtype=self.dtype_policy, name=name)

    def build(self, query_shape, value_shape=None, key_shape=None):
        if isinstance(query_shape, list) and query_shape and isinstance(query_shape[0], (tuple, list)):
            shapes = query_shape  # built from a list of input shapes
            query_shape, value_shape = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
            key_shape = shapes[2] if len(shapes) > 2 else None
        value_shape = tuple(value_shape if value_shape is not None else query_shape)
        key_shape = tuple(key_shape) if key_shape is not None else value_shape
        query_shape = tuple(query_shape)
        for what, s in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(s) != 3:
                raise ValueError("MultiHeadAttention: gpunet takes %s of shape (batch, time, dim), received %s"
                                 % (what, s))
        self.query_dense = self._dense("abc,cde->abde", (None, self.num_heads, self.key_dim), "de", "query")
        self.query_dense.build(query_shape)
        self.key_dense = self._dense("abc,cde->abde", (None, self.num_heads, self.key_dim), "de", "key")
        self.key_dense.build(key_shape)
        self.value_dense = self._dense("abc,cde->abde", (None, self.num_heads, self.value_dim), "de", "value")
        self.value_dense.build(value_shape)
        out_dim = self._output_shape if self._output_shape else query_shape[-1]
        out_dims = [out_dim] if isinstance(out_dim, int) else list(out_dim)
        if len(out_dims) != 1:
            raise ValueError("MultiHeadAttention: gpunet supports an output_shape of one dimension, received %r"
                             % (self._output_shape,))
        self.output_dense = self._dense("abcd,cde->abe", (None, out_dims[0]), "e", "attention_output")
        self.output_dense.build((None, query_shape[1], self.num_heads, self.value_dim))
        self._softmax = Softmax(axis=-1, dtype=self.dtype_policy)
        self._dropout_layer = Dropout(rate=self.dropout, dtype=self.dtype_policy, seed=self.seed)
        self._query_shape, self._value_shape, self._key_shape = query_shape, value_shape, key_shape
        self.attention_axes = (1,)  # Keras records the axes it attends over once built
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            self._build_shape = input_shape
            self.build(input_shape)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if isinstance(query_shape, list) and query_shape and isinstance(query_shape[0], (tuple, list)):
            query_shape = query_shape[0]
        out_dim = self._output_shape if self._output_shape else query_shape[-1]
        out_dim = out_dim if isinstance(out_dim, int) else list(out_dim)[0]
        return tuple(query_shape[:-1]) + (out_dim,)

    def _symbolic_call(self, args, kwargs):
        from ..ops.symbolic import make_outputs
        q = args[0]
        v = args[1] if len(args) > 1 else kwargs.get("value")
        k = args[2] if len(args) > 2 else kwargs.get("key")
        if not self.built:
            self._build_shape = [tuple(q.shape), tuple(v.shape)] + ([tuple(k.shape)] if k is not None else [])
            self.build(tuple(q.shape), tuple(v.shape), None if k is None else tuple(k.shape))
        out = (self.compute_output_shape(tuple(q.shape)), self.dtype)
        if kwargs.get("return_attention_scores"):
            scores = ((q.shape[0], self.num_heads, q.shape[1], v.shape[1]), self.dtype)
            return make_outputs(self, args, kwargs, [out, scores])
        return make_outputs(self, args, kwargs, out)

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            raise TypeError("MultiHeadAttention.call() missing 1 required positional argument: 'value'")
        args = (query, value) + ((key,) if key is not None else ())
        if not self.built and not any(hasattr(a, "_history") for a in args):
            self._build_shape = [(None,) + tuple(a.shape[1:]) for a in args]
            self.build(*[(None,) + tuple(a.shape[1:]) for a in args])
        return Layer.__call__(self, *args, **kwargs)

    def _compute_attention_mask(self, query, value, query_mask=None, value_mask=None, key_mask=None,
                                attention_mask=None, use_causal_mask=False):
        auto = None
        if query_mask is not None:
            auto = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, T, 1)
        if value_mask is not None:
            auto = _and(auto, ops.expand_dims(ops.cast(value_mask, "bool"), -2))  # (B, 1, S)
        if key_mask is not None:
            auto = _and(auto, ops.expand_dims(ops.cast(key_mask, "bool"), -2))
        if use_causal_mask:
            auto = _and(auto, _causal_mask(query.shape[1], value.shape[1]))
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
        if auto is not None:
            attention_mask = auto if attention_mask is None else ops.logical_and(attention_mask, auto)
        return attention_mask

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        if key is None:
            key = value
        if not (query.shape[0] == value.shape[0] == key.shape[0]) or key.shape[1] != value.shape[1]:
            raise ValueError('Layer "%s": query, value and key must share the batch size, and key and value the '
                             "length; received query %s, value %s, key %s"
                             % (self.name, tuple(query.shape), tuple(value.shape), tuple(key.shape)))
        query_mask = query._keras_mask  # Keras: the query's own mask, not the argument
        mask = self._compute_attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                            use_causal_mask)
        q = self.query_dense.call(query)  # (B, T, N, K)
        k = self.key_dense.call(key)      # (B, S, N, K)
        v = self.value_dense.call(value)  # (B, S, N, V)
        out, probs = self._compute_attention(q, k, v, mask, training, return_attention_scores=True)
        out = self.output_dense.call(out)  # (B, T, dim)
        if return_attention_scores:
            return [out, probs]
        return out

    # ---- Keras's overridable pieces and private names: subclasses (KerasHub's cached attention) call them ----
    _query_dense, _key_dense, _value_dense = _alias("query_dense"), _alias("key_dense"), _alias("value_dense")
    _output_dense, _num_heads, _key_dim = _alias("output_dense"), _alias("num_heads"), _alias("key_dim")
    _value_dim, _dropout = _alias("value_dim"), _alias("dropout")
    _dot_product_equation = "aecd,abcd->acbe"  # what the two products below compute, in Keras's einsum notation
    _combine_equation = "acbe,aecd->abcd"
    _attention_axes = (1,)

    def _masked_softmax(self, attention_scores, attention_mask=None):
        if attention_mask is not None:
            while attention_mask.ndim < attention_scores.ndim:
                attention_mask = ops.expand_dims(attention_mask, -3)  # Keras's mask_expansion_axis: all heads
        return masked_softmax(attention_scores, attention_mask)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        """Attention of projected (B, T, N, K) queries over (B, S, N, K) keys and (B, S, N, V) values: the
        (B, T, N, V) output before the output projection, and the (B, N, T, S) weights (None where Keras gives
        None: without dropout, unless asked for)."""
        if use_causal_mask:
            causal = _causal_mask(query.shape[1], value.shape[1])
            attention_mask = causal if attention_mask is None else ops.logical_and(
                ops.cast(attention_mask, "bool"), causal)
        q = ops.multiply(query, self._inverse_sqrt_key_dim)
        scores = ops.matmul(ops.transpose(q, (0, 2, 1, 3)), ops.transpose(key, (0, 2, 3, 1)))  # (B, N, T, S)
        probs = self._masked_softmax(scores, attention_mask)
        dropped = probs
        if training and self.dropout > 0:
            dropped = ops.multiply(probs, Tensor(_random.dropout_mask(probs.shape, self.dropout, probs.dtype)))
        out = ops.transpose(ops.matmul(dropped, ops.transpose(value, (0, 2, 1, 3))), (0, 2, 1, 3))  # (B, T, N, V)
        return out, (probs if return_attention_scores or self.dropout > 0 else None)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
                    "dropout": self.dropout, "use_bias": self.use_bias, "use_gate": False,
                    "output_shape": self._output_shape, "attention_axes": self.attention_axes, "sliding_window": None,
                    "kernel_initializer": initializers.serialize(self.kernel_initializer),
                    "bias_initializer": initializers.serialize(self.bias_initializer),
                    "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                    "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                    "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                    "kernel_constraint": constraints.serialize(self.kernel_constraint),
                    "bias_constraint": constraints.serialize(self.bias_constraint), "seed": self.seed})
        return cfg

    def get_build_config(self):
        if not self.built:
            return None
        shapes = {"query_shape": list(self._query_shape), "value_shape": list(self._value_shape)}
        if self._key_shape != self._value_shape:
            shapes["key_shape"] = list(self._key_shape)
        return {"shapes_dict": shapes}

    def build_from_config(self, cfg):
        shapes = (cfg or {}).get("shapes_dict", cfg or {})
        if shapes.get("query_shape") is not None:
            self.build(tuple(shapes["query_shape"]), tuple(shapes["value_shape"]),
                       None if shapes.get("key_shape") is None else tuple(shapes["key_shape"]))


class Attention(Layer):
    """Dot-product (Luong-style) attention over [query, value] or [query, value, key]."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. Received: "
                             "score_mode=%r" % (score_mode,))
        self.use_scale, self.score_mode, self.dropout, self.seed = use_scale, score_mode, float(dropout), seed
        self.supports_masking = True
        self.scale = self.concat_score_weight = None

    def build(self, input_shape):
        if not isinstance(input_shape, list) or not 2 <= len(input_shape) <= 3:
            raise ValueError("Attention layer must be called on a list of inputs, namely [query, value] or "
                             "[query, value, key]. Received: %s" % (input_shape,))
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(), initializer="ones")

    def _scores(self, q, k):
        if self.score_mode == "dot":
            s = ops.matmul(q, ops.swapaxes(k, -1, -2))
            return ops.multiply(s, self.scale) if self.scale is not None else s
        qr = ops.expand_dims(q, -2)  # (B, T, 1, dim)
        kr = ops.expand_dims(k, -3)  # (B, 1, S, dim)
        if self.scale is not None:
            return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(ops.multiply(self.scale, ops.add(qr, kr))),
                                                                  axis=-1))
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(ops.add(qr, kr)), axis=-1))

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError("Attention layer must be called on a list of inputs, namely [query, value] or "
                             "[query, value, key]. Received: %r" % (type(inputs).__name__,))
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        v_mask = mask[1] if isinstance(mask, (list, tuple)) and len(mask) > 1 else None
        scores = self._scores(q, k)
        big = 65504.0 if scores.dtype == np.float16 else 1.0e9
        if v_mask is not None:
            pad = ops.cast(ops.logical_not(ops.expand_dims(ops.cast(v_mask, "bool"), -2)), scores.dtype)
            scores = ops.subtract(scores, ops.multiply(big, pad))
        if use_causal_mask:
            causal = ops.cast(_causal_mask(scores.shape[-2], scores.shape[-1]), scores.dtype)
            scores = ops.subtract(scores, ops.multiply(big, ops.subtract(1.0, causal)))
        weights = ops.softmax(scores, axis=-1)
        dropped = weights
        if training and self.dropout > 0:
            dropped = ops.multiply(weights, Tensor(_random.dropout_mask(weights.shape, self.dropout, weights.dtype)))
        out = ops.matmul(dropped, v)
        if q_mask is not None:
            out = ops.multiply(out, ops.cast(ops.expand_dims(q_mask, -1), out.dtype))
        if return_attention_scores:
            return [out, weights]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and mask and mask[0] is not None:
            return mask[0]
        return None

    def compute_output_shape(self, input_shape):
        q, v = input_shape[0], input_shape[1]
        return tuple(q[:-1]) + (v[-1],)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"use_scale": self.use_scale, "score_mode": self.score_mode, "dropout": self.dropout,
                    "seed": self.seed})
        return cfg


class AdditiveAttention(Attention):
    """Bahdanau-style attention: scores = sum(scale * tanh(query + key)) over the features."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        if not isinstance(input_shape, list) or not 2 <= len(input_shape) <= 3:
            raise ValueError("AdditiveAttention layer must be called on a list of inputs, namely [query, value] or "
                             "[query, value, key]. Received: %s" % (input_shape,))
        self.scale = self.add_weight(name="scale", shape=(input_shape[0][-1],), initializer="glorot_uniform") \
            if self.use_scale else None

    def _scores(self, q, k):
        t = ops.tanh(ops.add(ops.expand_dims(q, -2), ops.expand_dims(k, -3)))
        return ops.sum(ops.multiply(self.scale, t) if self.scale is not None else t, axis=-1)

    def get_config(self):
        cfg = super().get_config()
        del cfg["score_mode"]
        return cfg
