"""MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and the global poolings, with Keras 3's arguments and
configs. Windows and gradients are in gpunet/ops/pooling.py."""
from .. import ops
from ..ops import convolution as C
from .base import Layer


class _Pooling(Layer):
    rank = 2
    _op = "max_pool"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        r = self.rank
        try:
            self.pool_size = C._tuple(pool_size, r, "pool_size")
            self.strides = self.pool_size if strides is None else C._tuple(strides, r, "strides")
            self.padding = C._padding_of(padding)
            self.data_format = C.data_format_of(data_format)
        except (ValueError, TypeError) as e:
            raise ValueError('%s "%s": %s' % (type(self).__name__, self.name, e)) from None
        self.built = True

    def _check(self, shape):
        if len(shape) != self.rank + 2:
            raise ValueError('%s "%s" expects inputs of rank %d, received input shape %s'
                             % (type(self).__name__, self.name, self.rank + 2, tuple(shape)))

    def call(self, inputs):
        self._check(inputs.shape)
        return getattr(ops, self._op)(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        last = self.data_format == "channels_last"
        sp = input_shape[1:-1] if last else input_shape[2:]
        out = tuple(C.out_size(n, p, s, 1, self.padding) for n, p, s in zip(sp, self.pool_size, self.strides))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError('%s "%s": input shape %s is smaller than pool_size=%s (padding=%r)'
                             % (type(self).__name__, self.name, tuple(input_shape), self.pool_size, self.padding))
        return (input_shape[0],) + out + (input_shape[-1],) if last else (input_shape[0], input_shape[1]) + out

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides,
                    "data_format": self.data_format})
        return cfg


class MaxPooling1D(_Pooling):
    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling3D(_Pooling):
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    rank = 1
    _op = "average_pool"


class AveragePooling2D(_Pooling):
    rank = 2
    _op = "average_pool"


class AveragePooling3D(_Pooling):
    rank = 3
    _op = "average_pool"


class _GlobalPooling(Layer):
    rank = 2
    _reduce = "mean"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = C.data_format_of(data_format)
        self.keepdims = bool(keepdims)
        self.supports_masking = self.rank == 1 and self._reduce == "mean"
        self.built = True

    def _axes(self):
        return tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" \
            else tuple(range(2, self.rank + 2))

    def call(self, inputs, mask=None):
        if len(inputs.shape) != self.rank + 2:
            raise ValueError('%s "%s" expects inputs of rank %d, received input shape %s'
                             % (type(self).__name__, self.name, self.rank + 2, tuple(inputs.shape)))
        axes = self._axes()
        if mask is not None and self._reduce == "mean":
            # Keras: the mean over the unmasked steps only
            m = ops.cast(mask, inputs.dtype)
            m = ops.expand_dims(m, -1 if self.data_format == "channels_last" else 1)
            total = ops.sum(ops.multiply(inputs, m), axis=axes, keepdims=self.keepdims)
            return ops.divide(total, ops.sum(m, axis=axes, keepdims=self.keepdims))
        return getattr(ops, self._reduce)(inputs, axis=axes, keepdims=self.keepdims)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return cfg


class GlobalAveragePooling1D(_GlobalPooling):
    rank = 1


class GlobalAveragePooling2D(_GlobalPooling):
    rank = 2


class GlobalAveragePooling3D(_GlobalPooling):
    rank = 3


class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1
    _reduce = "max"


class GlobalMaxPooling2D(_GlobalPooling):
    rank = 2
    _reduce = "max"


class GlobalMaxPooling3D(_GlobalPooling):
    rank = 3
    _reduce = "max"


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
