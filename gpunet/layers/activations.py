"""Activation layers with parameters: Softmax, ReLU, LeakyReLU, ELU, PReLU (Keras's defaults)."""
from .. import constraints, initializers, ops, regularizers
from .base import Layer


class _Elementwise(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class Softmax(_Elementwise):
    """softmax over `axis`; where a boolean `mask` is False, -1e9 is added to the input first (Keras)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            if self.axis in (-1, inputs.ndim - 1):
                from ..ops.attention import masked_softmax
                return masked_softmax(inputs, mask)
            # Keras: the masked scores get -1e9 added (not replaced), then the softmax
            inputs = ops.add(inputs, ops.multiply(ops.subtract(1.0, ops.cast(mask, inputs.dtype)), -1e9))
        axes = self.axis if isinstance(self.axis, int) else tuple(self.axis)
        if isinstance(axes, tuple):
            return ops.exp(ops.subtract(inputs, ops.logsumexp(inputs, axis=axes, keepdims=True)))
        return ops.softmax(inputs, axis=axes)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ReLU(_Elementwise):
    """max_value if x >= max_value; x if threshold <= x < max_value; negative_slope*(x - threshold) else."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. Received: max_value=%r" % (max_value,))
        if negative_slope is None or negative_slope < 0:
            raise ValueError("negative_slope of a ReLU layer cannot be a negative value. Received: negative_slope=%r"
                             % (negative_slope,))
        if threshold is None or threshold < 0:
            raise ValueError("threshold of a ReLU layer cannot be a negative value. Received: threshold=%r" % (threshold,))
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        from .. import activations
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2 spelling
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative value. "
                             "Expected a float. Received: negative_slope=%r" % (negative_slope,))
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """max(x, 0) - alpha * max(-x, 0) with a learned alpha per input element (shared over shared_axes)."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        param_shape = list(input_shape[1:])
        for i in self.shared_axes or []:
            param_shape[i - 1] = 1
        self.alpha = self.add_weight(shape=param_shape, name="alpha", initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        self.input_spec = {"min_ndim": len(input_shape),
                           "axes": {i: d for i, d in enumerate(input_shape) if i and d is not None
                                    and i not in (self.shared_axes or [])}}
        self.built = True

    def call(self, inputs):
        pos = ops.relu(inputs)
        neg = ops.multiply(ops.negative(self.alpha), ops.relu(ops.negative(inputs)))
        return ops.add(pos, neg)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        from ..layers.core import _ser
        return {**super().get_config(), "alpha_initializer": _ser(self.alpha_initializer),
                "alpha_regularizer": _ser(self.alpha_regularizer), "alpha_constraint": _ser(self.alpha_constraint),
                "shared_axes": self.shared_axes}
