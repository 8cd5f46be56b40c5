"""Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D: Keras 3's arguments,
defaults, weight names, shapes and order, and configs. The math is in gpunet/ops/convolution.py."""
import numpy as np

from .. import activations, constraints, initializers, ops, regularizers
from ..ops import convolution as C
from .base import Layer
from .core import _ser


def _check_positive(name, value, layer):
    if value is None or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError('%s "%s": `%s` must be a positive integer, received %s=%r'
                         % (type(layer).__name__, layer.name, name, name, value))
    return int(value)


def _std_tuple(value, rank, name, layer):
    try:
        return C._tuple(value, rank, name)
    except (ValueError, TypeError) as e:
        raise ValueError('%s "%s": %s' % (type(layer).__name__, layer.name, e)) from None


def _from_config(cls, config):
    config = dict(config)
    for key, value in list(config.items()):
        if not isinstance(value, dict):
            continue
        if key.endswith("_regularizer"):
            config[key] = regularizers.get(value)
        elif key.endswith("_constraint"):
            config[key] = constraints.get(value["class_name"] if "class_name" in value else value)
    for key in ("quantization_config", "lora_rank", "lora_alpha"):
        if config.get(key) is None:
            config.pop(key, None)
    return cls(**config)


class _Conv(Layer):
    """The base of every convolution layer: checks and stores the shared arguments."""
    rank = 2
    _causal = True  # padding="causal" (1-D only); the transposed, depthwise and separable layers refuse it

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if lora_rank:
            raise NotImplementedError("%s(lora_rank=...) is not supported by gpunet" % type(self).__name__)
        r = self.rank
        self.filters = None if filters is None else _check_positive("filters", filters, self)
        self.groups = _check_positive("groups", groups, self)
        if self.filters is not None and self.filters % self.groups:
            raise ValueError('%s "%s": the number of filters must be divisible by groups; received filters=%d, '
                             "groups=%d" % (type(self).__name__, self.name, self.filters, self.groups))
        self.kernel_size = _std_tuple(kernel_size, r, "kernel_size", self)
        self.strides = _std_tuple(strides, r, "strides", self)
        self.dilation_rate = _std_tuple(dilation_rate, r, "dilation_rate", self)
        allowed = ("valid", "same", "causal") if r == 1 and self._causal else ("valid", "same")
        try:
            self.padding = C._padding_of(padding, allowed)
        except ValueError as e:
            raise ValueError('%s "%s": %s' % (type(self).__name__, self.name, e)) from None
        self.data_format = C.data_format_of(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError('%s "%s": `strides > 1` is not supported together with `dilation_rate > 1`; received '
                             "strides=%s and dilation_rate=%s" % (type(self).__name__, self.name, self.strides,
                                                                  self.dilation_rate))
        self.activation = activations.get(activation)
        self._fused = activations.fusable_name(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _in_channels(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError('%s "%s" expects inputs of rank %d (batch, %s), received input shape %s'
                             % (type(self).__name__, self.name, self.rank + 2,
                                "spatial..., channels" if self.data_format == "channels_last" else "channels, spatial...",
                                tuple(input_shape)))
        c = input_shape[self._channel_axis()]
        if c is None:
            raise ValueError('%s "%s" needs a known channel dimension, received input shape %s'
                             % (type(self).__name__, self.name, tuple(input_shape)))
        self.input_spec = {"min_ndim": self.rank + 2, "axes": {self._channel_axis(): c}}
        return c

    def _add_bias(self, n):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(n,), initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")

    def build(self, input_shape):
        c = self._in_channels(input_shape)
        if c % self.groups:
            raise ValueError('%s "%s": the number of input channels must be divisible by groups; received '
                             "groups=%d and an input of %d channels (input shape %s)"
                             % (type(self).__name__, self.name, self.groups, c, tuple(input_shape)))
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (c // self.groups, self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self._add_bias(self.filters)

    def _causal_pad(self, inputs):
        left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
        pads = [[0, 0], [left, 0], [0, 0]] if self.data_format == "channels_last" else [[0, 0], [0, 0], [left, 0]]
        return ops.pad(inputs, pads)

    def convolution_op(self, inputs, kernel):
        """Keras's hook for the convolution alone (no bias, no activation): a subclass that overrides it
        (weight standardization) is called with the kernel, and the layer adds its bias and activation."""
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding, data_format=self.data_format,
                        dilation_rate=self.dilation_rate)

    def call(self, inputs):
        padding = self.padding
        if type(self).convolution_op is not _Conv.convolution_op and padding != "causal":
            return self._call_general(inputs)  # an overridden convolution_op: the fused op would skip it
        if padding == "causal":
            inputs, padding = self._causal_pad(inputs), "valid"
        act = self._fused or "linear"
        out = C.conv_bias_act(inputs, self.kernel, self.bias, act, self.strides, padding, self.data_format,
                              self.dilation_rate)
        return out if self._fused else self.activation(out)

    def _call_general(self, inputs):
        """Keras's BaseConv.call: convolution_op, then the bias, then the activation."""
        out = self.convolution_op(inputs, self.kernel)
        if self.bias is not None:
            shape = (1,) * (self.rank + 1) + (self.filters,) if self.data_format == "channels_last" \
                else (1, self.filters) + (1,) * self.rank
            out = ops.add(out, ops.reshape(self.bias, shape))
        return self.activation(out)

    def _spatial(self, input_shape):
        if self.data_format == "channels_last":
            return tuple(input_shape[1:-1])
        return tuple(input_shape[2:])

    def _shape(self, input_shape, spatial, channels):
        if self.data_format == "channels_last":
            return (input_shape[0],) + tuple(spatial) + (channels,)
        return (input_shape[0], channels) + tuple(spatial)

    def compute_output_shape(self, input_shape):
        padding = "valid" if self.padding == "causal" else self.padding
        sp = self._spatial(input_shape)
        if self.padding == "causal":
            sp = tuple(None if n is None else n + self.dilation_rate[0] * (self.kernel_size[0] - 1) for n in sp)
        out = tuple(C.out_size(n, k, s, d, padding)
                    for n, k, s, d in zip(sp, self.kernel_size, self.strides, self.dilation_rate))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError('%s "%s": the output would be empty: input shape %s is too small for kernel_size=%s, '
                             "strides=%s, dilation_rate=%s and padding=%r"
                             % (type(self).__name__, self.name, tuple(input_shape), self.kernel_size, self.strides,
                                self.dilation_rate, self.padding))
        return self._shape(input_shape, out, self.filters)

    def _config(self, lead, **weights):
        """Keras's config: the base layer's keys, `lead`, the geometry, then each weight's initializer,
        regularizer and constraint (named by `weights`: kernel, depthwise, pointwise) and the bias's."""
        cfg = Layer.get_config(self)
        cfg.update(lead)
        cfg.update({"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                    "data_format": self.data_format, "dilation_rate": self.dilation_rate})
        cfg.update(self._tail_config(**weights))
        return cfg

    def _tail_config(self, **weights):
        cfg = {"activation": activations.serialize(self.activation), "use_bias": self.use_bias}
        for prefix, (init, reg, con) in weights.items():
            cfg[prefix + "_initializer"] = initializers.serialize(init)
        cfg["bias_initializer"] = initializers.serialize(self.bias_initializer)
        for prefix, (init, reg, con) in weights.items():
            cfg[prefix + "_regularizer"] = _ser(reg)
        cfg["bias_regularizer"] = _ser(self.bias_regularizer)
        cfg["activity_regularizer"] = _ser(self.activity_regularizer)
        for prefix, (init, reg, con) in weights.items():
            cfg[prefix + "_constraint"] = _ser(con)
        cfg["bias_constraint"] = _ser(self.bias_constraint)
        return cfg

    def get_config(self):
        return self._config({"filters": self.filters, "groups": self.groups},
                            kernel=(self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint))

    @classmethod
    def from_config(cls, config):
        return _from_config(cls, config)


class Conv1D(_Conv):
    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, **kwargs)


class Conv2D(_Conv):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, **kwargs)


class Conv3D(_Conv):
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, **kwargs)


class _ConvTranspose(_Conv):
    """Kernel (*kernel_size, filters, input channels): the adjoint of a convolution."""
    _causal = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            try:
                self.output_padding = C._tuple_nonneg(output_padding, self.rank)
            except (ValueError, TypeError) as e:
                raise ValueError('%s "%s": %s' % (type(self).__name__, self.name, e)) from None
            for o, s in zip(self.output_padding, self.strides):
                if o >= s:
                    raise ValueError('%s "%s": each output_padding must be smaller than its stride; received '
                                     "output_padding=%s and strides=%s" % (type(self).__name__, self.name,
                                                                          self.output_padding, self.strides))

    def build(self, input_shape):
        c = self._in_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (self.filters, c), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self._add_bias(self.filters)

    def call(self, inputs):
        out = ops.conv_transpose(inputs, self.kernel, self.strides, self.padding, self.output_padding,
                                 self.data_format, self.dilation_rate)
        if self.bias is not None:
            shape = (1,) * (self.rank + 1) + (self.filters,) if self.data_format == "channels_last" \
                else (1, self.filters) + (1,) * self.rank
            out = ops.add(out, ops.reshape(self.bias, shape))
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        sp = self._spatial(input_shape)
        out = []
        for i, (n, k, s, d) in enumerate(zip(sp, self.kernel_size, self.strides, self.dilation_rate)):
            if n is None:
                out.append(None)
                continue
            op = None if self.output_padding is None else (self.output_padding[i],)
            outs, _ = C._transpose_geometry((n,), (k,), (s,), (d,), self.padding, op)
            out.append(outs[0])
        return self._shape(input_shape, out, self.filters)

    def get_config(self):
        op = None if self.output_padding is None else tuple(self.output_padding)
        return self._config({"filters": self.filters, "output_padding": op},
                            kernel=(self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint))


class Conv1DTranspose(_ConvTranspose):
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class Conv3DTranspose(_ConvTranspose):
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class _DepthwiseConv(_Conv):
    """Kernel (*kernel_size, C, depth_multiplier); output channel c·depth_multiplier + m."""
    _causal = False

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(None, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.depth_multiplier = _check_positive("depth_multiplier", depth_multiplier, self)

    def build(self, input_shape):
        c = self._in_channels(input_shape)
        self.filters = c * self.depth_multiplier
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(shape=self.kernel_size + (c, self.depth_multiplier),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self._add_bias(self.filters)

    def call(self, inputs):
        c = self.kernel.shape[-2]
        grouped = ops.reshape(self.kernel, self.kernel_size + (1, c * self.depth_multiplier))
        act = self._fused or "linear"
        out = C.conv_bias_act(inputs, grouped, self.bias, act, self.strides, self.padding, self.data_format,
                              self.dilation_rate)
        return out if self._fused else self.activation(out)

    def compute_output_shape(self, input_shape):
        if self.filters is None:
            c = input_shape[self._channel_axis()]
            saved, self.filters = self.filters, None if c is None else c * self.depth_multiplier
            try:
                return super().compute_output_shape(input_shape)
            finally:
                self.filters = saved
        return super().compute_output_shape(input_shape)

    def get_config(self):
        return self._config({"depth_multiplier": self.depth_multiplier},
                            depthwise=(self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint))


class DepthwiseConv1D(_DepthwiseConv):
    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, **kwargs)


class _SeparableConv(_Conv):
    """A depthwise convolution, then a 1×1 convolution to `filters` channels (bias and activation after)."""
    _causal = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.depth_multiplier = _check_positive("depth_multiplier", depth_multiplier, self)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        c = self._in_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.depthwise_kernel = self.add_weight(
            shape=self.kernel_size + (c, self.depth_multiplier), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint, name="depthwise_kernel")
        self.pointwise_kernel = self.add_weight(
            shape=(1,) * self.rank + (c * self.depth_multiplier, self.filters), initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint, name="pointwise_kernel")
        self._add_bias(self.filters)

    def call(self, inputs):
        y = ops.depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding, self.data_format,
                               self.dilation_rate)
        act = self._fused or "linear"
        out = C.conv_bias_act(y, self.pointwise_kernel, self.bias, act, 1, "valid", self.data_format, 1)
        return out if self._fused else self.activation(out)

    def get_config(self):
        return self._config(
            {"depth_multiplier": self.depth_multiplier, "filters": self.filters},
            depthwise=(self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint),
            pointwise=(self.pointwise_initializer, self.pointwise_regularizer, self.pointwise_constraint))


class SeparableConv1D(_SeparableConv):
    rank = 1


class SeparableConv2D(_SeparableConv):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, **kwargs)


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D


def fused_conv_pool(conv, pool, x):
    """pool(conv(x)) as one op (ops/conv_pool.py) when conv is a plain Conv1D/Conv2D with a relu or
    linear activation and pool the MaxPooling layer of the same rank right after it, both channels_last,
    x float32 on the NumPy backend. Else None: the caller runs the two layers in turn. Models call this
    on their fast path only (fit, evaluate, predict), where the layers' outputs are not visible."""
    from .. import backend
    from ..ops import conv_pool
    from .pooling import MaxPooling1D, MaxPooling2D
    # the exact classes: a subclass may change what call() does
    if not (type(conv) in (Conv1D, Conv2D) and type(pool) in (MaxPooling1D, MaxPooling2D)
            and conv.rank == pool.rank and conv._fused in ("relu", "linear") and conv.padding != "causal"
            and conv.data_format == pool.data_format == "channels_last" and conv.built and pool.built):
        return None
    a = ops.data(x)
    if backend.uses_kernels() or not isinstance(a, np.ndarray) or a.dtype != np.float32 or \
            ops.data(conv.kernel).dtype != np.float32:
        return None
    return conv_pool.conv_act_max_pool(x, conv.kernel, conv.bias, conv._fused, conv.strides, conv.padding,
                                       conv.dilation_rate, pool.pool_size, pool.strides, pool.padding)
