"""Input, Dense, Activation, Flatten, Reshape, Dropout."""
import numpy as np

from .. import activations, initializers, ops, random as _random
from .. import regularizers, constraints
from .base import KerasTensor, Layer


class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, name=None, **kwargs):
        if shape is None and batch_shape is None:
            shape = kwargs.pop("input_shape", None)
            batch_shape = kwargs.pop("batch_input_shape", None)
        if shape is None and batch_shape is None:
            raise ValueError("InputLayer needs `shape` or `batch_shape`")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = tuple(batch_shape) if batch_shape is not None else (batch_size,) + tuple(shape)
        self.built = True
        self._tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name, history=None)
        self._tensor._history = (self, [], None)

    @property
    def output(self):  # the symbolic tensor it starts (Keras: its one node's output)
        return self._tensor

    @property
    def input(self):  # Keras: its node has no input tensors, so an empty list
        return []

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k not in ("ragged", "optional")}
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None):
    """A symbolic input (`keras.Input`): starts a Sequential or Functional model."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer._tensor


class Dense(Layer):
    supports_masking = True  # Keras: passes a mask on unchanged
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError('Dense "%s": `units` must be a positive integer, received %r' % (self.name, units))
        if lora_rank:
            raise NotImplementedError("Dense(lora_rank=...) is not supported by gpunet")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._fused = activations.fusable_name(self.activation)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError('Dense "%s" needs a known last input dimension, received input shape %s'
                             % (self.name, tuple(input_shape)))
        self.kernel = self.add_weight(shape=(in_dim, self.units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")
        self.input_spec = {"min_ndim": 2, "axes": {-1: in_dim}}

    def call(self, inputs):
        if self._fused:
            return ops.dense(inputs, self.kernel, self.bias, self._fused)
        return self.activation(ops.dense(inputs, self.kernel, self.bias, "linear"))

    def call_logits(self, inputs):
        """The pre-activation output, for a fused softmax-cross-entropy loss."""
        return ops.dense(inputs, self.kernel, self.bias, "linear")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "units": self.units, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _ser(self.kernel_regularizer),
            "bias_regularizer": _ser(self.bias_regularizer),
            "kernel_constraint": _ser(self.kernel_constraint),
            "bias_constraint": _ser(self.bias_constraint),
        })
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if isinstance(config.get(key), dict):
                config[key] = regularizers.get(config[key])
        for key in ("kernel_constraint", "bias_constraint"):
            if isinstance(config.get(key), dict):
                config[key] = constraints.get(config[key]["class_name"])
        config.pop("quantization_config", None)
        return cls(**config)


def _ser(obj):
    if obj is None:
        return None
    return {"module": "keras", "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


class Activation(Layer):
    supports_masking = True  # Keras: passes a mask on unchanged
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        self.built = True

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else int(np.prod(rest)))

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = self.data_format
        return cfg


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError('Reshape "%s": at most one -1 in target_shape, got %s' % (self.name, self.target_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        known = int(np.prod(input_shape[1:])) if all(d is not None for d in input_shape[1:]) else None
        target = list(self.target_shape)
        if -1 in target:
            rest = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = None if known is None else known // rest
        total = int(np.prod(target)) if None not in target else None
        if known is not None and total is not None and known != total:
            raise ValueError('Reshape "%s": cannot reshape input of shape %s (%d values) to %s'
                             % (self.name, tuple(input_shape), known, self.target_shape))
        return (input_shape[0],) + tuple(target)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


class Dropout(Layer):
    """Inverted dropout: active only with training=True, scales kept units by 1/(1-rate)."""
    supports_masking = True  # Keras: passes a mask on unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError('Dropout "%s": rate must be in [0, 1], received %r' % (self.name, rate))
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        mask = _random.dropout_mask(shape, self.rate, inputs.dtype)
        return ops.multiply(inputs, mask)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape})
        return cfg


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one draw per (sample, channel), shared over the spatial axes."""
    rank = 1

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        from ..ops.convolution import data_format_of
        self.data_format = data_format_of(data_format)

    def call(self, inputs, training=False):
        if len(inputs.shape) != self.rank + 2:
            raise ValueError('%s "%s" expects inputs of rank %d, received input shape %s'
                             % (type(self).__name__, self.name, self.rank + 2, tuple(inputs.shape)))
        s = inputs.shape
        self.noise_shape = (s[0],) + (1,) * self.rank + (s[-1],) if self.data_format == "channels_last" \
            else (s[0], s[1]) + (1,) * self.rank
        return super().call(inputs, training)

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype,
                "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, None, seed, name, dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("data_format")
        return cfg


class SpatialDropout2D(_SpatialDropout):
    rank = 2


class SpatialDropout3D(_SpatialDropout):
    rank = 3
