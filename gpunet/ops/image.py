"""`keras.ops.image`: resize (nearest and bilinear) and affine_transform, channels_last, on backend
arrays (the preprocessing layers Resizing and RandomRotation/Zoom/Translation use them)."""
import numpy as np

from .. import backend
from .core import Tensor, data


def _xp():
    return backend.get_xp()


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resize (batch, H, W, C) or (H, W, C) images to size=(h, w); half-pixel centres, as Keras.
    crop_to_aspect_ratio first takes the centred window of the target's aspect ratio, and
    pad_to_aspect_ratio pads both sides with fill_value instead (Keras's integer arithmetic)."""
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError("resize: interpolation must be 'bilinear' or 'nearest' in gpunet, received %r"
                         % (interpolation,))
    if antialias:
        raise ValueError("resize(antialias=True) is not supported by gpunet")
    if data_format not in (None, "channels_last"):
        raise ValueError("resize: gpunet's images are channels_last, received data_format=%r" % (data_format,))
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    if pad_to_aspect_ratio and fill_mode != "constant":
        raise ValueError("resize pads with a constant (fill_value); received fill_mode=%r" % (fill_mode,))
    a = data(images)
    xp = _xp()
    th, tw = int(size[0]), int(size[1])
    H, W = a.shape[-3], a.shape[-2]
    if crop_to_aspect_ratio:
        ch = max(min(H, int(float(W * th) / tw)), 1)
        cw = max(min(W, int(float(H * tw) / th)), 1)
        top, left = int(float(H - ch) / 2), int(float(W - cw) / 2)
        a = a[..., top:top + ch, left:left + cw, :]
    elif pad_to_aspect_ratio:
        top = int(float(max(H, int(float(W * th) / tw)) - H) / 2)
        left = int(float(max(W, int(float(H * tw) / th)) - W) / 2)
        pad = [(0, 0)] * (a.ndim - 3) + [(top, top), (left, left), (0, 0)]
        a = xp.pad(a, pad, constant_values=fill_value)
    single = a.ndim == 3
    if single:
        a = a[None]
    H, W = a.shape[1:3]
    h, w = int(size[0]), int(size[1])
    ys = (xp.arange(h) + 0.5) * (H / h) - 0.5
    xs = (xp.arange(w) + 0.5) * (W / w) - 0.5
    if interpolation == "nearest":
        yi = xp.clip(xp.floor((xp.arange(h) + 0.5) * (H / h)).astype(int), 0, H - 1)
        xi = xp.clip(xp.floor((xp.arange(w) + 0.5) * (W / w)).astype(int), 0, W - 1)
        out = a[:, yi][:, :, xi]
    else:
        ys, xs = xp.clip(ys, 0, H - 1), xp.clip(xs, 0, W - 1)
        y0, x0 = xp.floor(ys).astype(int), xp.floor(xs).astype(int)
        y1, x1 = xp.minimum(y0 + 1, H - 1), xp.minimum(x0 + 1, W - 1)
        wy, wx = (ys - y0).astype(a.dtype)[None, :, None, None], (xs - x0).astype(a.dtype)[None, None, :, None]
        top = a[:, y0][:, :, x0] * (1 - wx) + a[:, y0][:, :, x1] * wx
        bot = a[:, y1][:, :, x0] * (1 - wx) + a[:, y1][:, :, x1] * wx
        out = top * (1 - wy) + bot * wy
    out = out.astype(a.dtype, copy=False)
    return Tensor(out[0] if single else out)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Keras's projective transform: output pixel (x, y) samples the input at
    ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1; one 8-vector per image."""
    if fill_mode not in ("constant", "nearest", "reflect", "wrap", "mirror"):
        raise ValueError("affine_transform: unknown fill_mode %r" % (fill_mode,))
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError("affine_transform: interpolation must be 'nearest' or 'bilinear', received %r"
                         % (interpolation,))
    if data_format not in (None, "channels_last"):
        raise ValueError("affine_transform: gpunet's images are channels_last, received data_format=%r"
                         % (data_format,))
    a = data(images)
    xp = _xp()
    single = a.ndim == 3
    if single:
        a = a[None]
    t = xp.asarray(data(transform), dtype="float64").reshape(-1, 8)
    if len(t) == 1 and len(a) > 1:
        t = xp.repeat(t, len(a), axis=0)
    B, H, W, C = a.shape
    yy, xx = xp.meshgrid(xp.arange(H, dtype="float64"), xp.arange(W, dtype="float64"), indexing="ij")
    k = t[:, 6, None, None] * xx + t[:, 7, None, None] * yy + 1.0
    sx = (t[:, 0, None, None] * xx + t[:, 1, None, None] * yy + t[:, 2, None, None]) / k
    sy = (t[:, 3, None, None] * xx + t[:, 4, None, None] * yy + t[:, 5, None, None]) / k
    out = _sample(a, sy, sx, interpolation, fill_mode, fill_value)
    return Tensor(out[0] if single else out)


def _map_coord(c, n, mode):
    xp = _xp()
    if mode == "nearest":
        return xp.clip(c, 0, n - 1), None
    if mode == "wrap":
        return xp.mod(c, n), None
    if mode == "reflect":  # d c b a | a b c d | d c b a
        period = 2 * n
        c = xp.mod(c, period)
        c = xp.where(c >= n, period - 1 - c, c)
        return c, None
    if mode == "mirror":  # d c b | a b c d | c b a
        if n == 1:
            return xp.zeros_like(c), None
        period = 2 * n - 2
        c = xp.mod(c, period)
        c = xp.where(c >= n, period - c, c)
        return c, None
    inside = (c >= 0) & (c <= n - 1)
    return xp.clip(c, 0, n - 1), inside


def _sample(a, sy, sx, interpolation, fill_mode, fill_value):
    xp = _xp()
    B, H, W, C = a.shape
    b = xp.arange(B)[:, None, None]
    if interpolation == "nearest":
        ry, my = _map_coord(xp.floor(sy + 0.5), H, fill_mode)
        rx, mx = _map_coord(xp.floor(sx + 0.5), W, fill_mode)
        out = a[b, ry.astype(int), rx.astype(int)]
        if my is not None:
            out = xp.where((my & mx)[..., None], out, xp.asarray(fill_value, dtype=a.dtype))
        return out.astype(a.dtype, copy=False)
    y0, x0 = xp.floor(sy), xp.floor(sx)
    out = xp.zeros((B,) + sy.shape[1:] + (C,), dtype="float64")
    for dy in (0, 1):
        for dx in (0, 1):
            yc, xc = y0 + dy, x0 + dx
            w = (1 - xp.abs(sy - yc)) * (1 - xp.abs(sx - xc))
            ry, my = _map_coord(yc, H, fill_mode)
            rx, mx = _map_coord(xc, W, fill_mode)
            v = a[b, ry.astype(int), rx.astype(int)].astype("float64")
            if my is not None:
                v = xp.where((my & mx)[..., None], v, float(fill_value))
            out += w[..., None] * v
    return out.astype(a.dtype)


def rgb_to_grayscale(images, data_format=None):
    if data_format not in (None, "channels_last"):
        raise ValueError("rgb_to_grayscale: gpunet's images are channels_last, received data_format=%r"
                         % (data_format,))
    a = data(images)
    w = _xp().asarray([0.2989, 0.5870, 0.1140], dtype=a.dtype)
    return Tensor((a * w).sum(axis=-1, keepdims=True).astype(a.dtype))


__all__ = ["resize", "affine_transform", "rgb_to_grayscale"]
_ = np


# the rest of keras.ops.image that gpunet has, built from the differentiable ops
from .image_extra import (  # noqa: E402,F401
    crop_images, elastic_transform, extract_patches, extract_patches_3d, gaussian_blur, hsv_to_rgb, map_coordinates,
    pad_images, perspective_transform, rgb_to_hsv, scale_and_translate, sobel_edges, ssim)
