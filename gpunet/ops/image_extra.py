"""More of `keras.ops.image`, built from gpunet's differentiable ops (conv, pad, slice, where), so gradients flow
through them: extract_patches (Keras's identity-kernel convolution, 2-D and 3-D), pad_images and crop_images
(Keras's argument rules), rgb_to_hsv / hsv_to_rgb (dm_pix's formulas, as Keras), gaussian_blur and sobel_edges
(depthwise convolutions with Keras's kernels and borders: zeros for the blur, scipy's "reflect" for Sobel)."""
import types

import numpy as np

from .. import backend
from . import arrays, convolution, core, elementwise, math


def _ops():
    """The ops these are built from, by their public names (this module sits below the package's __init__)."""
    return _OPS


_OPS = types.SimpleNamespace(
    convert_to_tensor=core.convert_to_tensor, conv=convolution.conv, depthwise_conv=convolution.depthwise_conv,
    pad=arrays.pad, slice=arrays.slice, split=arrays.split, stack=arrays.stack, mod=elementwise.mod,
    **{n: getattr(math, n) for n in ("abs", "cast", "clip", "equal", "expand_dims", "maximum", "minimum",
                                     "ones_like", "squeeze", "transpose", "where", "zeros_like")})


def _fmt(data_format):
    return convolution.data_format_of(data_format)


def _rank(images, ranks, what):
    if len(images.shape) not in ranks:
        raise ValueError("Invalid images rank: expected rank %s. Received: %s.shape=%s"
                         % (" or ".join(map(str, ranks)), what, tuple(images.shape)))


def _batched(images, rank):
    """images with a batch axis (and whether one was added)."""
    ops = _ops()
    images = ops.convert_to_tensor(images)
    if len(images.shape) == rank - 1:
        return ops.expand_dims(images, 0), True
    return images, False


def _patch_size(size, n):
    if isinstance(size, int):
        return (size,) * n
    if isinstance(size, (tuple, list)) and len(size) == n and all(isinstance(s, int) for s in size):
        return tuple(size)
    raise TypeError("Invalid `size` argument. Expected an int or a tuple of length %d. Received: size=%r" % (n, size))


def _extract(images, size, strides, dilation_rate, padding, data_format, n):
    ops = _ops()
    fmt = _fmt(data_format)
    x, unbatched = _batched(images, n + 2)
    _rank(x, (n + 2,), "images")
    patch = _patch_size(size, n)
    channels = x.shape[-1] if fmt == "channels_last" else x.shape[1]
    out_dim = int(np.prod(patch)) * channels
    # Keras's construction: a convolution with the identity as kernel lays each patch out along the channels
    kernel = np.eye(out_dim, dtype=x.dtype).reshape(patch + (channels, out_dim))
    out = ops.conv(x, backend.to_device(kernel), strides=strides or patch, padding=padding, data_format=fmt,
                   dilation_rate=dilation_rate)
    return ops.squeeze(out, 0) if unbatched else out


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """keras.ops.image.extract_patches: (batch, rows, cols, size*size*channels); a 3-tuple size is 3-D."""
    if isinstance(size, (tuple, list)) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    return _extract(images, size, strides, dilation_rate, padding, data_format, 2)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    return _extract(volumes, size, strides, dilation_rate, padding, data_format, 3)


def _two_of_three(a, b, target, names):
    if [a, b, target].count(None) != 1:
        raise ValueError("Must specify exactly two of %s. Received: %s" % (
            ", ".join(names), ", ".join("%s=%r" % (n, v) for n, v in zip(names, (a, b, target)))))
    for n, v in zip(names, (a, b, target)):
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError("%s must be >= 0. Received: %s=%r" % (n, n, v))


def _hw_axes(images, fmt):
    nd = len(images.shape)
    return (nd - 3, nd - 2) if fmt == "channels_last" else (nd - 2, nd - 1)


def _framed(images, vertical, horizontal, what, data_format):
    """pad_images' and crop_images' common checks: the images as a tensor of rank 3 or 4, exactly two of each
    triple (before, after, target) given, and the height and width axes with their sizes."""
    images = _ops().convert_to_tensor(images)
    _rank(images, (3, 4), "images")
    for side, values in (("top", vertical), ("left", horizontal)):
        names = ("%s_%s" % (side, what), "%s_%s" % ("bottom" if side == "top" else "right", what),
                 "target_height" if side == "top" else "target_width")
        _two_of_three(*values, names)
    ha, wa = _hw_axes(images, _fmt(data_format))
    return images, ha, wa, images.shape[ha], images.shape[wa]


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    ops = _ops()
    images, ha, wa, h, w = _framed(images, (top_padding, bottom_padding, target_height),
                                   (left_padding, right_padding, target_width), "padding", data_format)
    top = target_height - bottom_padding - h if top_padding is None else top_padding
    bottom = target_height - top - h if bottom_padding is None else bottom_padding
    left = target_width - right_padding - w if left_padding is None else left_padding
    right = target_width - left - w if right_padding is None else right_padding
    for name, v in (("top_padding", top), ("bottom_padding", bottom), ("left_padding", left),
                    ("right_padding", right)):
        if v < 0:
            raise ValueError("%s must be >= 0. Received: %s=%d (the target is smaller than the image)" % (name, name, v))
    widths = [[0, 0]] * len(images.shape)
    widths[ha], widths[wa] = [top, bottom], [left, right]
    return ops.pad(images, widths)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    ops = _ops()
    images, ha, wa, h, w = _framed(images, (top_cropping, bottom_cropping, target_height),
                                   (left_cropping, right_cropping, target_width), "cropping", data_format)
    top = h - target_height - bottom_cropping if top_cropping is None else top_cropping
    height = h - bottom_cropping - top if target_height is None else target_height
    left = w - target_width - right_cropping if left_cropping is None else left_cropping
    width = w - right_cropping - left if target_width is None else target_width
    for name, v in (("top_cropping", top), ("target_height", height), ("left_cropping", left),
                    ("target_width", width)):
        if v < 0:
            raise ValueError("%s must be >= 0. Received: %s=%d" % (name, name, v))
    if top + height > h or left + width > w:
        raise ValueError("crop_images: the crop (top %d, height %d, left %d, width %d) does not fit images of "
                         "height %d and width %d" % (top, height, left, width, h, w))
    start, shape = [0] * len(images.shape), list(images.shape)
    start[ha], start[wa], shape[ha], shape[wa] = top, left, height, width
    return ops.slice(images, start, shape)


def _planes(images, data_format, what):
    ops = _ops()
    images = ops.convert_to_tensor(images)
    _rank(images, (3, 4), "images")
    if images.dtype.kind != "f":
        raise ValueError("Invalid images dtype: expected float dtype. Received: %s.dtype=%s" % (what, images.dtype))
    axis = -1 if _fmt(data_format) == "channels_last" else -3
    if images.shape[axis] != 3:
        raise ValueError("%s expects 3 channels, received images of shape %s" % (what, tuple(images.shape)))
    return images, axis, [ops.squeeze(p, axis) for p in ops.split(images, 3, axis)]


def rgb_to_hsv(images, data_format=None):
    """keras.ops.image.rgb_to_hsv: hue, saturation and value in [0, 1] (dm_pix's formulas, as Keras)."""
    ops = _ops()
    images, axis, _ = _planes(images, data_format, "rgb_to_hsv")
    eps = float(np.finfo(images.dtype).eps)
    images = ops.where(ops.abs(images) < eps, ops.zeros_like(images), images)
    r, g, b = [ops.squeeze(p, axis) for p in ops.split(images, 3, axis)]
    value = ops.maximum(ops.maximum(r, g), b)
    rng = value - ops.minimum(ops.minimum(r, g), b)
    one = ops.ones_like(value)
    safe_value = ops.where(value > 0, value, one)
    safe_range = ops.where(rng > 0, rng, one)
    saturation = ops.where(value > 0, rng / safe_value, ops.zeros_like(value))
    norm = 1.0 / (6.0 * safe_range)
    hue = ops.where(ops.equal(value, g), norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = ops.where(ops.equal(value, r), norm * (g - b), hue)
    hue = ops.where(rng > 0, hue, ops.zeros_like(hue))
    hue = hue + ops.cast(hue < 0.0, hue.dtype)
    return ops.stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    ops = _ops()
    images, axis, (h, s, v) = _planes(images, data_format, "hsv_to_rgb")
    dh = ops.mod(h, 1.0) * 6.0
    dr = ops.clip(ops.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = ops.clip(2.0 - ops.abs(dh - 2.0), 0.0, 1.0)
    db = ops.clip(2.0 - ops.abs(dh - 4.0), 0.0, 1.0)
    keep = 1.0 - s
    return ops.stack([v * (keep + s * dr), v * (keep + s * dg), v * (keep + s * db)], axis=axis)


def _depthwise(images, kernel2d, pads, mode, data_format):
    """Each channel of (batch or not) images correlated with kernel2d after padding by `pads` in `mode`."""
    ops = _ops()
    fmt = _fmt(data_format)
    x, unbatched = _batched(images, 4)
    _rank(x, (4,), "images")
    if fmt == "channels_first":
        x = ops.transpose(x, (0, 2, 3, 1))
    c = x.shape[-1]
    x = ops.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]], mode=mode)
    k = np.repeat(np.asarray(kernel2d, dtype=x.dtype)[:, :, None, None], c, axis=2)
    out = ops.depthwise_conv(x, backend.to_device(k), padding="valid")
    if fmt == "channels_first":
        out = ops.transpose(out, (0, 3, 1, 2))
    return ops.squeeze(out, 0) if unbatched else out


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """keras.ops.image.gaussian_blur: Keras's kernel (size and sigma per axis), zeros beyond the border."""
    ops = _ops()
    images = ops.convert_to_tensor(images)
    _rank(images, (3, 4), "images")
    ks = _patch_size(kernel_size, 2) if not isinstance(kernel_size, int) else (kernel_size, kernel_size)
    sg = (float(sigma), float(sigma)) if np.isscalar(sigma) else tuple(float(s) for s in sigma)

    def k1(size, s):
        x = np.arange(size, dtype=np.float64) - (size - 1) / 2
        k = np.exp(-0.5 * (x / s) ** 2)
        return k / k.sum()
    kernel = np.outer(k1(ks[1], sg[1]), k1(ks[0], sg[0]))  # rows by sigma[1], columns by sigma[0], as Keras
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2))
    return _depthwise(images, kernel, pads, "constant", data_format)


def sobel_edges(images, data_format=None):
    """keras.ops.image.sobel_edges: (..., channels, 2), the vertical then the horizontal Sobel response, borders
    reflected as scipy.ndimage.sobel does (Keras's NumPy backend)."""
    ops = _ops()
    images = ops.convert_to_tensor(images)
    _rank(images, (4,), "images")
    smooth, diff = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
    pads = ((1, 1), (1, 1))
    dy = _depthwise(images, np.outer(diff, smooth), pads, "symmetric", data_format)
    dx = _depthwise(images, np.outer(smooth, diff), pads, "symmetric", data_format)
    return ops.stack([dy, dx], axis=-1)  # channels_first: (batch, channels, height, width, 2), as Keras
