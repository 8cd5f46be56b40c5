"""Embedding (integer ids to vectors) and Masking: the two layers that start a mask in Keras."""
import warnings

from .. import backend, constraints, initializers, ops, regularizers
from ..ops.tape import Tensor
from .base import Layer


class Embedding(Layer):
    """Row `i` of an (input_dim, output_dim) table for each id `i`. With mask_zero=True, id 0 is padding:
    the output carries a mask (ids != 0) that RNNs, pooling, attention and the loss honour."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        for name, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError("Embedding: `%s` must be a positive integer, received %s=%r" % (name, name, v))
        if lora_rank:
            raise ValueError("Embedding: LoRA (lora_rank=%r) is not supported by gpunet" % (lora_rank,))
        if quantization_config is not None:
            raise ValueError("Embedding: quantization (quantization_config=%r) is not supported by gpunet"
                             % (quantization_config,))
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.lora_rank, self.lora_alpha = lora_rank, lora_alpha
        self._initial_weights = weights

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _check_input(self, x):
        if x.dtype.kind not in "biuf":
            raise TypeError('Layer "%s" expects integer ids, but received dtype %s' % (self.name, x.dtype))

    def call(self, inputs):
        ids = inputs.data if isinstance(inputs, Tensor) else backend.get_xp().asarray(inputs)
        if ids.dtype.kind != "i":
            ids = ids.astype("int32")
        if ids.size:
            lo, hi = int(ids.min()), int(ids.max())  # one check: a bad id would wrap around or crash later
            if lo < 0 or hi >= self.input_dim:
                raise ValueError('Layer "%s" (Embedding, input_dim=%d) expects ids in [0, %d), received ids in '
                                 "[%d, %d]" % (self.name, self.input_dim, self.input_dim, lo, hi))
        out = ops.take(self.embeddings, Tensor(ids), axis=0)
        return out if out.dtype == self.dtype else ops.cast(out, self.dtype)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def _produces_mask(self):
        return self.mask_zero

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"input_dim": self.input_dim, "output_dim": self.output_dim,
                    "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                    "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                    "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                    "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
                    "mask_zero": self.mask_zero})
        if self.lora_rank:
            cfg["lora_rank"] = self.lora_rank
        return cfg


class Masking(Layer):
    """Masks the timesteps whose features all equal `mask_value` (and zeroes them), for the layers after."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def _produces_mask(self):
        return True

    def call(self, inputs):
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        out = ops.multiply(inputs, ops.cast(keep, inputs.dtype))
        out._keras_mask = ops.squeeze(keep, axis=-1)
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["mask_value"] = self.mask_value
        return cfg


class ReversibleEmbedding(Embedding):
    """An Embedding that also maps vectors back to logits over the vocabulary: call(x, reverse=True) is
    x @ embeddings.T (tie_weights=True) or x @ reverse_embeddings, optionally soft-capped (tanh(l/c)*c)."""

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.tie_weights, self.reverse_dtype, self.logit_soft_cap = tie_weights, reverse_dtype, logit_soft_cap

    def build(self, input_shape=None):
        Embedding.build(self, input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(shape=(self.output_dim, self.input_dim),
                                                      initializer=self.embeddings_initializer,
                                                      name="reverse_embeddings")

    def call(self, inputs, reverse=False):
        if not reverse:
            out = Embedding.call(self, inputs)
            if self.mask_zero:
                out._keras_mask = Embedding.compute_mask(self, inputs)
            return out
        kernel = ops.transpose(self.embeddings) if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs, kernel = ops.cast(inputs, self.reverse_dtype), ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = ops.multiply(ops.tanh(ops.divide(logits, self.logit_soft_cap)), self.logit_soft_cap)
        return logits

    def _check_input(self, x):  # reverse=True takes float vectors
        return None

    def compute_mask(self, inputs, mask=None):
        return None

    def _produces_mask(self):
        return self.mask_zero

    def compute_output_shape(self, input_shape, reverse=False):
        return tuple(input_shape[:-1]) + (self.input_dim,) if reverse else tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                    "logit_soft_cap": self.logit_soft_cap})
        return cfg
