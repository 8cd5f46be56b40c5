"""Image preprocessing and augmentation layers (channels_last), as Keras 3 defines them.

The random layers work like Keras's: `get_random_transformation(images, training)` draws the
parameters (the same dict keys as Keras: "angle", "height_zoom"/"width_zoom", "translations",
"contrast_factor", "flips"), `transform_images(images, transformation)` applies them; without
training=True they pass the input through. Draws come from the layer's SeedGenerator when a seed is
given, else from gpunet's stream (fit's per-epoch stream while training). Tests feed Keras's own
transformation dicts to both and compare the images."""
import math

import numpy as np

from .. import backend, ops, random as _random
from ..ops import image as image_ops
from ..ops.tape import Tensor
from .base import Layer


def _pair(factor, name, allow_negative=True):
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise ValueError("%s must be a float or a tuple of 2 floats, received %r" % (name, factor))
        lower, upper = float(factor[0]), float(factor[1])
    else:
        lower, upper = -float(factor), float(factor)
    if upper < lower:
        raise ValueError("%s: the lower bound %r is above the upper bound %r" % (name, lower, upper))
    return lower, upper


def _set_factor(factor, bounds, name):
    """Keras's _set_factor: a number f gives (max(-|f|, low), |f|); a pair is sorted; both within bounds."""
    msg = ("The `factor` argument of %s should be a number (or a list of two numbers) in the range [%s, %s]. "
           "Received: factor=%r" % (name, bounds[0], bounds[1], factor))
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(msg)
        lower, upper = sorted(float(f) for f in factor)
    elif isinstance(factor, (int, float)):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(msg)
        f = abs(float(factor))
        lower, upper = max(-f, bounds[0]), f
    else:
        raise ValueError(msg)
    return lower, upper


def _per_image_shape(images):
    """One value per image, broadcast over height, width and channels (Keras's shapes)."""
    return (1, 1, 1) if images.ndim == 3 else (images.shape[0], 1, 1, 1)


def _per_image(values, images):
    v = backend.get_xp().asarray(values, dtype=images.dtype)
    return v[0] if images.ndim == 3 and v.ndim == 4 else v


def _clipped(x, value_range, dtype):
    return Tensor(backend.get_xp().clip(x, value_range[0], value_range[1]).astype(dtype, copy=False))


def _data(x):
    return x.data if isinstance(x, Tensor) else backend.get_xp().asarray(x)


class _ImageLayer(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        if self.data_format != "channels_last":
            raise ValueError("%s: gpunet's image layers take data_format='channels_last', received %r"
                             % (type(self).__name__, data_format))
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class Rescaling(_ImageLayer):
    """inputs * scale + offset, in the layer's float dtype."""
    supports_masking = True  # Keras: passes a mask on unchanged

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        return ops.add(ops.multiply(ops.cast(inputs, self.dtype), self.scale), self.offset)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Resizing(_ImageLayer):
    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
        if antialias:
            raise ValueError("Resizing(antialias=True) is not supported by gpunet")
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.fill_mode, self.fill_value, self.antialias = fill_mode, fill_value, antialias

    def call(self, inputs):
        x = _data(inputs)
        return image_ops.resize(x.astype(self.dtype, copy=False), (self.height, self.width),
                                interpolation=self.interpolation, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                                pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                                fill_value=self.fill_value)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": self.data_format}


class CenterCrop(_ImageLayer):
    """The central height x width window (resized up first when the image is smaller, as Keras)."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, inputs):
        x = _data(inputs)
        H, W = x.shape[-3], x.shape[-2]
        if H < self.height or W < self.width:
            return Resizing(self.height, self.width, crop_to_aspect_ratio=True)(x)
        top, left = (H - self.height) // 2, (W - self.width) // 2
        return Tensor(x[..., top:top + self.height, left:left + self.width, :].astype(self.dtype, copy=False))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


class _RandomImageLayer(_ImageLayer):
    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self.generator = _random.SeedGenerator(seed) if seed is not None else None

    def _stream(self):
        return _random._stream(self.generator)

    def call(self, inputs, training=True):
        x = _data(inputs)
        x = x if x.dtype == np.dtype(self.dtype) else x.astype(self.dtype)
        if not training:
            return Tensor(x)
        return self.transform_images(x, self.get_random_transformation(x, training=True), training=True)

    def get_random_transformation(self, data, training=True, seed=None):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_RandomImageLayer):
    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError('RandomFlip layer "%s" received an unknown mode=%r' % (self.name, mode))
        self.mode = mode

    def get_random_transformation(self, data, training=True, seed=None):
        shape = (1, 1, 1) if data.ndim == 3 else (data.shape[0], 1, 1, 1)
        return {"flips": self._stream().uniform(size=shape) <= 0.5, "input_shape": data.shape}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return Tensor(images)
        x = _data(images)
        xp = backend.get_xp()
        flips = xp.asarray(transformation["flips"])
        single = x.ndim == 3
        if single:
            x, flips = x[None], flips.reshape((1,) + flips.shape[-3:]) if flips.ndim >= 3 else flips
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = xp.where(flips, xp.flip(x, axis=-2), x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = xp.where(flips, xp.flip(x, axis=-3), x)
        return Tensor(x[0] if single else x)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(_RandomImageLayer):
    _FILL_MODES = ("reflect", "wrap", "constant", "nearest")

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in self._FILL_MODES:
            raise NotImplementedError("Unknown `fill_mode` %s. Expected of one %s." % (fill_mode, self._FILL_MODES))
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError("Unknown `interpolation` %s. Expected of one ('nearest', 'bilinear')."
                                      % (interpolation,))
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def _affine(self, images, matrix):
        return image_ops.affine_transform(images, matrix, interpolation=self.interpolation, fill_mode=self.fill_mode,
                                          fill_value=self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


def _hw(images):
    return images.shape[-3], images.shape[-2], (1 if images.ndim == 3 else images.shape[0])


class RandomRotation(_AffineLayer):
    """Rotation by an angle drawn from factor * 360 degrees (a float f: [-f, f]), about the centre."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _pair(factor, "RandomRotation factor")

    def get_random_transformation(self, data, training=True, seed=None):
        H, W, B = _hw(data)
        angle = self._stream().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, size=(B,))
        return {"angle": angle, "image_height": H, "image_width": W, "batch_size": B}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return Tensor(_data(images))
        x = _data(images)
        H, W, B = _hw(x)
        theta = np.asarray(backend.to_numpy(transformation["angle"]), dtype=np.float64).reshape(-1) * (math.pi / 180.0)
        cx, cy = 0.5 * (W - 1), 0.5 * (H - 1)
        c, s = np.cos(theta), np.sin(theta)
        a0, a1, b0, b1 = c, -s, s, c
        m = np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1,
                      np.zeros_like(c), np.zeros_like(c)], axis=1)
        return self._affine(x, m if x.ndim == 4 else m[0])

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_AffineLayer):
    """Zoom by 1 + a factor drawn per image (negative: zoom in); width follows height unless given."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = _pair(height_factor, "RandomZoom height_factor")
        if self.height_lower < -1.0:
            raise ValueError("RandomZoom height_factor must be >= -1, received %r" % (height_factor,))
        self.width_lower = self.width_upper = None
        if width_factor is not None:
            self.width_lower, self.width_upper = _pair(width_factor, "RandomZoom width_factor")

    def get_random_transformation(self, data, training=True, seed=None):
        B = _hw(data)[2]
        rng = self._stream()
        hz = rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, size=(B, 1))
        wz = hz if self.width_factor is None else rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper,
                                                              size=(B, 1))
        return {"height_zoom": hz, "width_zoom": wz, "input_shape": data.shape}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return Tensor(_data(images))
        x = _data(images)
        H, W, B = _hw(x)
        zx = np.asarray(backend.to_numpy(transformation["width_zoom"]), dtype=np.float64).reshape(-1)
        zy = np.asarray(backend.to_numpy(transformation["height_zoom"]), dtype=np.float64).reshape(-1)
        z0 = np.zeros_like(zx)
        m = np.stack([zx, z0, (W - 1) / 2.0 * (1 - zx), z0, zy, (H - 1) / 2.0 * (1 - zy), z0, z0], axis=1)
        return self._affine(x, m if x.ndim == 4 else m[0])

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shift by fractions of the height and width drawn per image."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = _pair(height_factor, "RandomTranslation height_factor")
        self.width_lower, self.width_upper = _pair(width_factor, "RandomTranslation width_factor")

    def get_random_transformation(self, data, training=True, seed=None):
        H, W, B = _hw(data)
        rng = self._stream()
        ht = rng.uniform(self.height_lower, self.height_upper, size=(B, 1)) * H
        wt = rng.uniform(self.width_lower, self.width_upper, size=(B, 1)) * W
        return {"translations": np.concatenate([wt, ht], axis=1), "input_shape": data.shape}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return Tensor(_data(images))
        x = _data(images)
        t = np.asarray(backend.to_numpy(transformation["translations"]), dtype=np.float64).reshape(-1, 2)
        one, zero = np.ones(len(t)), np.zeros(len(t))
        m = np.stack([one, zero, -t[:, 0], zero, one, -t[:, 1], zero, zero], axis=1)
        return self._affine(x, m if x.ndim == 4 else m[0])

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(_RandomImageLayer):
    """(x - mean) * f + mean per image and channel, f drawn from [1 - lower, 1 + upper] where a number
    factor gives (lower, upper) = (0, factor) as in Keras, clipped to value_range."""

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _set_factor(factor, (0, 1), "RandomContrast")
        self.value_range = tuple(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        return {"contrast_factor": self._stream().uniform(1.0 - self.factor[0], 1.0 + self.factor[1],
                                                          size=_per_image_shape(data))}

    def transform_images(self, images, transformation, training=True):
        x = _data(images)
        if not training:
            return Tensor(x)
        f = _per_image(transformation["contrast_factor"], x)
        mean = x.mean(axis=(-3, -2), keepdims=True)
        return _clipped((x - mean) * f + mean, self.value_range, x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(_RandomImageLayer):
    """Adds a value drawn from factor * (value_range span) per image, clipped to value_range."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _set_factor(factor, (-1, 1), "RandomBrightness")
        if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
            raise ValueError("The `value_range` argument should be a list of two numbers. Received: value_range=%r"
                             % (value_range,))
        self.value_range = tuple(sorted(value_range))

    def get_random_transformation(self, data, training=True, seed=None):
        span = self.value_range[1] - self.value_range[0]
        return {"rgb_delta": self._stream().uniform(self.factor[0], self.factor[1], size=_per_image_shape(data)) * span}

    def transform_images(self, images, transformation, training=True):
        x = _data(images)
        if not training:
            return Tensor(x)
        return _clipped(x + _per_image(transformation["rgb_delta"], x), self.value_range, x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomCrop(_RandomImageLayer):
    """Training: a height x width window at a random offset (images smaller than that are cropped to the
    aspect ratio and resized, as Keras). Inference: the image cropped to the target aspect ratio and
    resized to height x width, as Keras documents (Keras 3.15 itself returns the input unchanged)."""

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, inputs, training=True):
        x = _data(inputs)
        x = x if x.dtype == np.dtype(self.dtype) else x.astype(self.dtype)
        if not training:
            return Resizing(self.height, self.width, crop_to_aspect_ratio=True, dtype=self.dtype_policy)(x)
        return self.transform_images(x, self.get_random_transformation(x, training=True), training=True)

    def get_random_transformation(self, data, training=True, seed=None):
        H, W = data.shape[-3], data.shape[-2]
        if training and H > self.height and W > self.width:
            rng = self._stream()
            return (int(rng.uniform(0, float(H - self.height + 1))), int(rng.uniform(0, float(W - self.width + 1))))
        ch = max(min(H, int(float(W * self.height) / self.width)), 1)
        cw = max(min(W, int(float(H * self.width) / self.height)), 1)
        return int(float(H - ch) / 2), int(float(W - cw) / 2)

    def transform_images(self, images, transformation, training=True):
        x = _data(images)
        if not training:
            return Tensor(x)
        top, left = (int(np.asarray(backend.to_numpy(t))) for t in transformation)
        x = x[..., top:top + self.height, left:left + self.width, :]
        if x.shape[-3] != self.height or x.shape[-2] != self.width:
            return image_ops.resize(x, (self.height, self.width))
        return Tensor(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
