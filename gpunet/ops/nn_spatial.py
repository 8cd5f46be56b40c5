"""keras.ops.nn's rearrangements of space: depth_to_space / space_to_depth (pixel shuffle), unfold / fold (im2col
and col2im on NCHW, as torch's), adaptive average and max pooling (1-D to 3-D). Each is built from reshapes,
transposes, strided slices, pads and reductions of gpunet.ops, so gradients flow through them; each equals Keras's
NumPy backend (tests/test_keras_programs3.py)."""
import numpy as np

from . import arrays, math as M
from .convolution import data_format_of

__all__ = ["depth_to_space", "space_to_depth", "unfold", "fold", "adaptive_average_pool", "adaptive_max_pool"]


def _block(block_size, what):
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 2:
        raise ValueError("%s: block_size must be an integer >= 2. Received: block_size=%r" % (what, block_size))
    return int(block_size)


def _rank4(x, what):
    if len(x.shape) != 4:
        raise ValueError("%s expects a 4-D tensor, received shape %s" % (what, tuple(x.shape)))


def depth_to_space(x, block_size, data_format="channels_last"):
    b = _block(block_size, "depth_to_space")
    _rank4(x, "depth_to_space")
    if data_format_of(data_format) == "channels_last":
        n, h, w, c = x.shape
        if c % (b * b):
            raise ValueError("depth_to_space: the channels (%d) must be divisible by block_size**2 (%d)" % (c, b * b))
        y = M.transpose(M.reshape(x, (n, h, w, b, b, c // (b * b))), (0, 1, 3, 2, 4, 5))
        return M.reshape(y, (n, h * b, w * b, c // (b * b)))
    n, c, h, w = x.shape
    if c % (b * b):
        raise ValueError("depth_to_space: the channels (%d) must be divisible by block_size**2 (%d)" % (c, b * b))
    y = M.transpose(M.reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return M.reshape(y, (n, c // (b * b), h * b, w * b))


def space_to_depth(x, block_size, data_format="channels_last"):
    b = _block(block_size, "space_to_depth")
    _rank4(x, "space_to_depth")
    if data_format_of(data_format) == "channels_last":
        n, h, w, c = x.shape
        if h % b or w % b:
            raise ValueError("space_to_depth: height and width (%d, %d) must be divisible by block_size (%d)"
                             % (h, w, b))
        y = M.transpose(M.reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return M.reshape(y, (n, h // b, w // b, c * b * b))
    n, c, h, w = x.shape
    if h % b or w % b:
        raise ValueError("space_to_depth: height and width (%d, %d) must be divisible by block_size (%d)" % (h, w, b))
    y = M.transpose(M.reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return M.reshape(y, (n, c * b * b, h // b, w // b))


def _pair(v, what):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, (int, np.integer)) for i in v):
        return int(v[0]), int(v[1])
    raise ValueError("%s must be an integer or a pair of integers, received %r" % (what, v))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C, H, W) -> (N, C*kH*kW, L): each sliding block's values, channel-major, as torch's Unfold."""
    if len(x.shape) != 4:
        raise ValueError("Input must be a 4D tensor. Received: x.shape=%s" % (tuple(x.shape),))
    (kh, kw), (dh, dw) = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    (ph, pw), (sh, sw) = _pair(padding, "padding"), _pair(stride, "stride")
    n, c = x.shape[0], x.shape[1]
    if ph or pw:
        x = arrays.pad(x, [[0, 0], [0, 0], [ph, ph], [pw, pw]])
    h, w = x.shape[2], x.shape[3]
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        raise ValueError("unfold: the kernel (%d, %d) with dilation (%d, %d) does not fit the padded input (%d, %d)"
                         % (kh, kw, dh, dw, h, w))
    taps = [M.getitem(x, (slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                          slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)))
            for i in range(kh) for j in range(kw)]
    return M.reshape(arrays.stack(taps, axis=2), (n, c * kh * kw, oh * ow))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C*kH*kW, L) -> (N, C, oH, oW): the blocks summed back into place, as torch's Fold (col2im)."""
    if len(x.shape) != 3:
        raise ValueError("Input must be a 3D tensor. Received: x.shape=%s" % (tuple(x.shape),))
    (oh, ow), (kh, kw) = _pair(output_size, "output_size"), _pair(kernel_size, "kernel_size")
    (dh, dw), (ph, pw), (sh, sw) = _pair(dilation, "dilation"), _pair(padding, "padding"), _pair(stride, "stride")
    n, ckk, length = x.shape
    if ckk % (kh * kw):
        raise ValueError("fold: the second axis (%d) must be divisible by kernel_size's product (%d)" % (ckk, kh * kw))
    c = ckk // (kh * kw)
    nh, nw = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if nh * nw != length:
        raise ValueError("fold: %d blocks do not tile output_size %s with this kernel, dilation, padding and stride "
                         "(%d x %d = %d expected)" % (length, (oh, ow), nh, nw, nh * nw))
    blocks = M.reshape(x, (n, c, kh, kw, nh, nw))
    hp, wp = oh + 2 * ph, ow + 2 * pw
    # each tap's (nh, nw) grid spread out by the stride (zeros between), then shifted into place by padding
    spread = np.zeros((1, 1, 1, sh, 1, sw), dtype=x.dtype)
    spread[..., 0, :, 0] = 1
    from .. import backend
    spread = backend.to_device(spread)
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = M.getitem(blocks, (slice(None), slice(None), i, j))
            grid = M.reshape(M.multiply(M.reshape(tap, (n, c, nh, 1, nw, 1)), spread), (n, c, nh * sh, nw * sw))
            grid = M.getitem(grid, (slice(None), slice(None), slice(0, sh * (nh - 1) + 1), slice(0, sw * (nw - 1) + 1)))
            top, left = i * dh, j * dw
            placed = arrays.pad(grid, [[0, 0], [0, 0], [top, hp - top - grid.shape[2]],
                                       [left, wp - left - grid.shape[3]]])
            out = placed if out is None else M.add(out, placed)
    return M.getitem(out, (slice(None), slice(None), slice(ph, ph + oh), slice(pw, pw + ow)))


def _adaptive(x, output_size, data_format, mode, what):
    dims = len(x.shape) - 2
    if dims not in (1, 2, 3):
        raise ValueError("%s supports only 1D/2D/3D inputs (rank 3 to 5), received shape %s" % (what, tuple(x.shape)))
    size = (output_size,) * dims if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(size) != dims or any(not isinstance(s, (int, np.integer)) or s < 1 for s in size):
        raise ValueError("%s: output_size must be a positive integer or %d of them, received %r"
                         % (what, dims, output_size))
    first = data_format_of(data_format) == "channels_last"
    reduce = M.mean if mode == "average" else M.max
    for k, out in enumerate(size):
        axis = 1 + k if first else 2 + k
        length = x.shape[axis]
        parts = []
        for i in range(out):  # torch's and Keras's windows: [floor(i L / out), ceil((i + 1) L / out))
            lo, hi = (i * length) // out, -((-(i + 1) * length) // out)
            key = [slice(None)] * len(x.shape)
            key[axis] = slice(lo, hi)
            parts.append(reduce(M.getitem(x, tuple(key)), axis=axis, keepdims=True))
        x = M.concatenate(parts, axis=axis)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive(inputs, output_size, data_format, "average", "adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive(inputs, output_size, data_format, "max", "adaptive_max_pool")
