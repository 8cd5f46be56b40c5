"""UpSampling1D/2D/3D, ZeroPadding1D/2D/3D and Cropping1D/2D/3D (Keras 3's arguments and configs),
written with differentiable ops (repeat, pad, slicing)."""
import numpy as np

from .. import ops
from ..ops import convolution as C
from .base import Layer


def _pairs(value, rank, name, layer):
    """((before, after),) * rank from an int, a tuple of ints or a tuple of pairs, as Keras reads them."""
    try:
        if isinstance(value, int):
            out = ((value, value),) * rank
        elif rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
            out = (tuple(value),)
        elif len(value) == rank and all(isinstance(v, int) for v in value):
            out = tuple((v, v) for v in value)
        elif len(value) == rank:
            out = tuple((int(a), int(b)) for a, b in value)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError('%s "%s": `%s` must be an int, %d ints or %d pairs of ints, received %s=%r'
                         % (type(layer).__name__, layer.name, name, rank, rank, name, value)) from None
    if any(v < 0 for p in out for v in p):
        raise ValueError('%s "%s": `%s` cannot be negative, received %s=%r'
                         % (type(layer).__name__, layer.name, name, name, value))
    return out


def _bilinear_matrix(n, scale, dtype):
    """(n·scale, n) weights of half-pixel-centred bilinear sampling, edges clamped (Keras's resize)."""
    m = n * scale
    pos = np.clip((np.arange(m) + 0.5) / scale - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = pos - lo
    r = np.zeros((m, n))
    np.add.at(r, (np.arange(m), lo), 1 - w)
    np.add.at(r, (np.arange(m), hi), w)
    return r.astype(dtype)


class _Spatial(Layer):
    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = C.data_format_of(data_format)
        self.built = True

    def _axes(self):
        return tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" \
            else tuple(range(2, self.rank + 2))

    def _check(self, shape):
        if len(shape) != self.rank + 2:
            raise ValueError('%s "%s" expects inputs of rank %d, received input shape %s'
                             % (type(self).__name__, self.name, self.rank + 2, tuple(shape)))


class _UpSampling(_Spatial):
    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = C._tuple(size, self.rank, "size")
        self.interpolation = str(interpolation).lower()
        if self.interpolation != "nearest" and self.rank != 2:
            raise ValueError('%s "%s": interpolation must be "nearest", received %r'
                             % (type(self).__name__, self.name, interpolation))

    def call(self, inputs):
        self._check(inputs.shape)
        if self.interpolation == "bilinear":
            # bilinear upsampling is linear in the input: out = Ry·x·Rxᵀ per channel, one differentiable
            # einsum (ops.image.resize computes the same values but records no gradient)
            h_ax, w_ax = self._axes()
            ry = _bilinear_matrix(inputs.shape[h_ax], self.size[0], inputs.dtype)
            rx = _bilinear_matrix(inputs.shape[w_ax], self.size[1], inputs.dtype)
            spec = "hH,nHWc,wW->nhwc" if self.data_format == "channels_last" else "hH,ncHW,wW->nchw"
            return ops.einsum(spec, ry, inputs, rx)
        out = inputs
        for a, s in zip(self._axes(), self.size):
            if s != 1:
                out = ops.repeat(out, s, axis=a)
        return out

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        out = list(input_shape)
        for a, s in zip(self._axes(), self.size):
            out[a] = None if out[a] is None else out[a] * s
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling1D(_UpSampling):
    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size=size, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["size"] = self.size[0]
        cfg.pop("data_format")
        cfg.pop("interpolation")
        return cfg


class UpSampling2D(_UpSampling):
    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        if str(interpolation).lower() not in ("nearest", "bilinear"):
            raise ValueError('UpSampling2D: interpolation must be "nearest" or "bilinear", received %r'
                             % (interpolation,))
        super().__init__(size=size, data_format=data_format, interpolation=interpolation, **kwargs)


class UpSampling3D(_UpSampling):
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size=size, data_format=data_format, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("interpolation")
        return cfg


class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, "padding", self)

    def call(self, inputs):
        self._check(inputs.shape)
        pads = [[0, 0] for _ in range(self.rank + 2)]
        for a, p in zip(self._axes(), self.padding):
            pads[a] = list(p)
        return ops.pad(inputs, pads)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        out = list(input_shape)
        for a, (lo, hi) in zip(self._axes(), self.padding):
            out[a] = None if out[a] is None else out[a] + lo + hi
        return tuple(out)

    def get_config(self):
        pad = self.padding[0] if self.rank == 1 else self.padding
        return {**super().get_config(), "padding": pad, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    rank = 1


class ZeroPadding2D(_ZeroPadding):
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping", self)

    def _slices(self, shape):
        sl = [slice(None)] * (self.rank + 2)
        for a, (lo, hi) in zip(self._axes(), self.cropping):
            n = shape[a]
            if n is not None and lo + hi >= n:
                raise ValueError('%s "%s": cropping %s leaves nothing of an input of shape %s'
                                 % (type(self).__name__, self.name, self.cropping, tuple(shape)))
            sl[a] = slice(lo, None if hi == 0 else -hi)
        return tuple(sl)

    def call(self, inputs):
        self._check(inputs.shape)
        return ops.getitem(inputs, self._slices(inputs.shape))

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        self._slices(input_shape)
        out = list(input_shape)
        for a, (lo, hi) in zip(self._axes(), self.cropping):
            out[a] = None if out[a] is None else out[a] - lo - hi
        return tuple(out)

    def get_config(self):
        crop = self.cropping[0] if self.rank == 1 else self.cropping
        return {**super().get_config(), "cropping": crop, "data_format": self.data_format}


class Cropping1D(_Cropping):
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping=cropping, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("data_format")
        return cfg


class Cropping2D(_Cropping):
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)


class Cropping3D(_Cropping):
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)
