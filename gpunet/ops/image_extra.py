"""More of `keras.ops.image`, built from gpunet's differentiable ops (conv, pad, slice, where), so gradients flow
through them: extract_patches (Keras's identity-kernel convolution, 2-D and 3-D), pad_images and crop_images
(Keras's argument rules), rgb_to_hsv / hsv_to_rgb (dm_pix's formulas, as Keras), gaussian_blur and sobel_edges
(depthwise convolutions with Keras's kernels and borders: zeros for the blur, scipy's "reflect" for Sobel)."""
import itertools
import types

import numpy as np

from .. import backend
from . import arrays, convolution, core, elementwise, math, products


def _ops():
    """The ops these are built from, by their public names (this module sits below the package's __init__)."""
    return _OPS


_OPS = types.SimpleNamespace(
    convert_to_tensor=core.convert_to_tensor, conv=convolution.conv, depthwise_conv=convolution.depthwise_conv,
    pad=arrays.pad, slice=arrays.slice, split=arrays.split, stack=arrays.stack, mod=elementwise.mod,
    **{n: getattr(math, n) for n in ("abs", "cast", "clip", "equal", "expand_dims", "maximum", "minimum",
                                     "ones_like", "squeeze", "transpose", "where", "zeros_like", "reshape",
                                     "take", "mean")},
    moveaxis=arrays.moveaxis, tensordot=products.tensordot, round=elementwise.round)


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
            raise ValueError("%s must be >= 0. Received: %s=%d (the target is smaller than the image)"
                             % (name, name, v))
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


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """keras.ops.image.ssim: the structural similarity of two images (or batches, one value per pair), Wang et al.
    2004, with a Gaussian window and no padding (Keras's formulation)."""
    ops = _ops()
    a, b = ops.convert_to_tensor(image1), ops.convert_to_tensor(image2)
    for t, what in ((a, "image1"), (b, "image2")):
        _rank(t, (3, 4), what)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError("ssim: image1 and image2 must have the same shape, received %s and %s"
                         % (tuple(a.shape), tuple(b.shape)))
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype("float32")
    a, b = ops.cast(a, dtype), ops.cast(b, dtype)
    g = np.exp(-((np.arange(filter_size) - (filter_size - 1) / 2.0) ** 2) / (2.0 * filter_sigma ** 2))
    g /= g.sum()
    window = np.outer(g, g)
    none = ((0, 0), (0, 0))

    def blur(t):
        return _depthwise(t, window, none, "constant", data_format)
    mu1, mu2 = blur(a), blur(b)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    s11 = blur(a * a) - mu1 * mu1
    s22 = blur(b * b) - mu2 * mu2
    s12 = blur(a * b) - mu1 * mu2
    num = (2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    nd = len(a.shape)
    return ops.mean(num / den, axis=tuple(range(nd - 3, nd)))


_FILL = ("constant", "nearest", "wrap", "mirror", "reflect")


def _remap(idx, size, mode):
    """Integer indices mapped into [0, size) by a fill mode; with "constant", also which were inside."""
    if mode == "constant":
        return np.clip(idx, 0, size - 1), (idx >= 0) & (idx < size)
    if mode == "nearest":
        return np.clip(idx, 0, size - 1), None
    if mode == "wrap":
        return np.mod(idx, size), None
    if size == 1:
        return np.zeros_like(idx), None
    if mode == "mirror":  # d c b | a b c d | c b a: the edge is not repeated
        period = 2 * (size - 1)
        m = np.mod(idx, period)
        return np.where(m >= size, period - m, m), None
    period = 2 * size  # reflect: d c b a | a b c d | d c b a
    m = np.mod(idx, period)
    return np.where(m >= size, period - 1 - m, m), None


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0.0):
    """keras.ops.image.map_coordinates: inputs sampled at coordinates (one array per input axis), nearest (order 0)
    or linear (order 1), outside points by fill_mode; differentiable with respect to inputs."""
    ops = _ops()
    x = ops.convert_to_tensor(inputs)
    coords = np.asarray(backend.to_numpy(coordinates.data if hasattr(coordinates, "data") else coordinates),
                        dtype=np.float64)
    if coords.ndim < 2 or coords.shape[0] != len(x.shape):
        raise ValueError("First dim of `coordinates` must be the same as the rank of `inputs`, and coordinates must "
                         "have rank >= 2. Received inputs with shape %s and coordinates of shape %s"
                         % (tuple(x.shape), coords.shape))
    if fill_mode not in _FILL:
        raise ValueError("Invalid value for argument `fill_mode`. Expected one of %s. Received: fill_mode=%r"
                         % (set(_FILL), fill_mode))
    if order not in (0, 1):
        raise ValueError("Invalid value for argument `order`. Expected one of [0, 1]. Received: order=%r" % (order,))
    shape = tuple(int(s) for s in x.shape)
    per_axis = []  # for each axis: [(index array, weight array)]
    for c in coords:
        if order == 0:
            per_axis.append([(np.floor(c + 0.5).astype(np.int64), None)])
        else:
            lo = np.floor(c)
            frac = c - lo
            per_axis.append([(lo.astype(np.int64), 1.0 - frac), (lo.astype(np.int64) + 1, frac)])
    flat = ops.reshape(x, (-1,))
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    out = None
    for corner in itertools.product(*per_axis):
        index, inside, weight = 0, np.ones(coords.shape[1:], dtype=bool), np.ones(coords.shape[1:])
        for (idx, w), size, stride in zip(corner, shape, strides):
            mapped, ok = _remap(idx, size, fill_mode)
            index = index + mapped * stride
            if ok is not None:
                inside &= ok
            if w is not None:
                weight = weight * w
        val = ops.take(flat, backend.to_device(index.astype(np.int64)))
        if fill_mode == "constant":
            val = ops.where(backend.to_device(inside), val, fill_value)
        term = val * backend.to_device(weight.astype(x.dtype)) if order == 1 else val
        out = term if out is None else out + term
    return ops.cast(out, x.dtype)


_ORDER = {"nearest": 0, "bilinear": 1}
_seed_stream = []  # gpunet.random's stream for a seed (None: the global one), handed over by gpunet.random


def _homographies(start, end):
    """For each (4, 2) pair of point sets, the 8 coefficients a of the map from an output pixel (x, y) (end) back to
    its input point (start): x_in = (a0 x + a1 y + a2) / (a6 x + a7 y + 1), y_in likewise with a3, a4, a5."""
    rows, rhs = [], []
    for (sx, sy), (ex, ey) in zip(start, end):
        rows.append([ex, ey, 1.0, 0.0, 0.0, 0.0, -sx * ex, -sx * ey])
        rows.append([0.0, 0.0, 0.0, ex, ey, 1.0, -sy * ex, -sy * ey])
        rhs += [sx, sy]
    return np.linalg.solve(np.asarray(rows), np.asarray(rhs))


def _sample_planes(images, ys, xs, order, fill_mode, fill_value):
    """images (batch, H, W, C) sampled at per-image point grids ys, xs (batch, H', W'): each channel by
    map_coordinates; (batch, H', W', C)."""
    ops = _ops()
    b, c = images.shape[0], images.shape[-1]
    out = []
    for i in range(b):
        hw = ys[i].shape
        grid = np.stack([np.repeat(ys[i].reshape(-1), c), np.repeat(xs[i].reshape(-1), c),
                         np.tile(np.arange(c, dtype=np.float64), ys[i].size)])
        plane = map_coordinates(images[i], grid, order, fill_mode=fill_mode, fill_value=fill_value)
        out.append(ops.reshape(plane, hw + (c,)))
    return ops.stack(out, axis=0)


def _batched_hwc(images, data_format):
    ops = _ops()
    images = ops.convert_to_tensor(images)
    _rank(images, (3, 4), "images")
    x, unbatched = _batched(images, 4)
    if _fmt(data_format) == "channels_first":
        x = ops.transpose(x, (0, 2, 3, 1))
    return x, unbatched


def _restore(out, unbatched, data_format, dtype):
    ops = _ops()
    if _fmt(data_format) == "channels_first":
        out = ops.transpose(out, (0, 3, 1, 2))
    out = ops.squeeze(out, 0) if unbatched else out
    return ops.cast(out, dtype)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """keras.ops.image.perspective_transform: the images warped so that the 4 start_points land on end_points
    ((4, 2) or (batch, 4, 2), as (x, y)); outside points take fill_value."""
    if interpolation not in _ORDER:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one %s. Received: interpolation=%r"
                         % (set(_ORDER), interpolation))
    start = np.asarray(backend.to_numpy(getattr(start_points, "data", start_points)), dtype=np.float64)
    end = np.asarray(backend.to_numpy(getattr(end_points, "data", end_points)), dtype=np.float64)
    for pts, what in ((start, "start_points"), (end, "end_points")):
        if pts.ndim not in (2, 3) or pts.shape[-2:] != (4, 2):
            raise ValueError("Invalid %s shape: expected (4,2) for a single image or (N,4,2) for a batch. Received "
                             "shape: %s" % (what, pts.shape))
    if start.shape != end.shape:
        raise ValueError("start_points and end_points must have the same shape. Received start_points.shape=%s, "
                         "end_points.shape=%s" % (start.shape, end.shape))
    x, unbatched = _batched_hwc(images, data_format)
    dtype = x.dtype
    b, h, w = x.shape[0], x.shape[1], x.shape[2]
    start, end = start.reshape(-1, 4, 2), end.reshape(-1, 4, 2)
    coef = np.stack([_homographies(s, e) for s, e in zip(start, end)])
    if len(coef) == 1 and b > 1:
        coef = np.repeat(coef, b, axis=0)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64), indexing="xy")
    den = coef[:, 6, None, None] * gx + coef[:, 7, None, None] * gy + 1.0
    xs = (coef[:, 0, None, None] * gx + coef[:, 1, None, None] * gy + coef[:, 2, None, None]) / den
    ys = (coef[:, 3, None, None] * gx + coef[:, 4, None, None] * gy + coef[:, 5, None, None]) / den
    out = _sample_planes(x, ys, xs, _ORDER[interpolation], "constant", fill_value)
    return _restore(out, unbatched, data_format, dtype)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                      seed=None, data_format=None):
    """keras.ops.image.elastic_transform: each pixel moved by alpha times a Gaussian-smoothed (sigma) random field.
    An integer seed draws the fields as Keras's NumPy backend does (NumPy's generator on [seed, 0]), so the same
    seed warps the same way; None draws from gpunet's global stream."""
    if interpolation not in _ORDER:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one %s. Received: interpolation=%r"
                         % (set(_ORDER), interpolation))
    if fill_mode not in _FILL:
        raise ValueError("Invalid value for argument `fill_mode`. Expected of one %s. Received: fill_mode=%r"
                         % (set(_FILL), fill_mode))
    x, unbatched = _batched_hwc(images, data_format)
    dtype = x.dtype
    b, h, w = x.shape[0], x.shape[1], x.shape[2]
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        rng = np.random.default_rng(np.array([int(seed), 0], dtype=np.uint32))
    else:
        rng = _seed_stream[0](seed)
    size = int(6 * float(sigma)) | 1
    fields = []
    for _ in range(2):  # dx, then dy
        noise = (rng.normal(size=(b, h, w)).astype(dtype) * np.asarray(sigma, dtype=dtype))[..., None]
        blurred = gaussian_blur(noise, (size, size), (float(sigma),) * 2)
        fields.append(np.asarray(backend.to_numpy(blurred.data))[..., 0])
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    xs = gx[None] + float(alpha) * fields[0].astype(np.float64)
    ys = gy[None] + float(alpha) * fields[1].astype(np.float64)
    out = _sample_planes(x, ys, xs, _ORDER[interpolation], fill_mode, fill_value)
    return _restore(out, unbatched, data_format, dtype)


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    def kernel(x):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
        out = np.where(x > 1e-3, y / np.where(x != 0, np.pi ** 2 * x ** 2, 1.0), 1.0)
        return np.where(x > radius, 0.0, out)
    return kernel


_SCALE_KERNELS = {"linear": _triangle, "bilinear": _triangle, "trilinear": _triangle, "triangle": _triangle,
                  "cubic": _keys_cubic, "bicubic": _keys_cubic, "tricubic": _keys_cubic,
                  "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}


def _resample_matrix(n_in, n_out, scale, translation, kernel, antialias):
    """(n_in, n_out): output sample j as weights over the inputs, jax.image.scale_and_translate's definition (the
    kernel stretched by 1/scale when downsampling with antialias; samples outside the input get no weight)."""
    inv = 1.0 / scale
    stretch = max(inv, 1.0) if antialias else 1.0
    at = (np.arange(n_out) + 0.5) * inv - translation * inv - 0.5
    weights = kernel(np.abs(at[None, :] - np.arange(n_in)[:, None]) / stretch)
    total = weights.sum(axis=0, keepdims=True)
    weights = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
                       weights / np.where(total != 0, total, 1.0), 0.0)
    return np.where(((at >= -0.5) & (at <= n_in - 0.5))[None, :], weights, 0.0)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """keras.ops.image.scale_and_translate: each spatial dim resampled to output_shape's size, input point
    (j + 0.5) / scale - translation / scale - 0.5 for output j, with the method's kernel (linear, cubic,
    lanczos3, lanczos5). A product with one matrix per dim, so gradients flow to the images."""
    ops = _ops()
    if method not in _SCALE_KERNELS or method == "triangle":
        raise ValueError("Invalid value for argument `method`. Expected of one %s. Received: method=%r"
                         % (sorted(k for k in _SCALE_KERNELS if k != "triangle"), method))
    x = ops.convert_to_tensor(images)
    scale = np.atleast_1d(np.asarray(backend.to_numpy(getattr(scale, "data", scale)), dtype=np.float64))
    translation = np.atleast_1d(np.asarray(backend.to_numpy(getattr(translation, "data", translation)),
                                           dtype=np.float64))
    dims = [int(d) for d in spatial_dims]
    if not (len(dims) == len(scale) == len(translation)):
        raise ValueError("scale_and_translate: spatial_dims, scale and translation must have one entry per resampled "
                         "dim; received %d, %d and %d" % (len(dims), len(scale), len(translation)))
    out = x if x.dtype.kind == "f" else ops.cast(x, "float32")
    for d, s, t in zip(dims, scale, translation):
        d = d % len(x.shape)
        m = _resample_matrix(int(x.shape[d]), int(output_shape[d]), float(s), float(t), _SCALE_KERNELS[method],
                             antialias)
        out = ops.moveaxis(ops.tensordot(out, backend.to_device(m.astype(out.dtype)), axes=([d], [0])), -1, d)
    if x.dtype.kind in "iu":
        lo, hi = float(np.asarray(backend.to_numpy(x.data)).min()), float(np.asarray(backend.to_numpy(x.data)).max())
        return ops.cast(ops.clip(ops.round(out), lo, hi), x.dtype)
    return out
