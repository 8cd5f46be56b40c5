"""Launchers of kernels/graph.cu: the elementwise glue of a node program (training/graph_program.py) — a standalone
activation and its derivative, Add, gradient sums, dropout's out-of-place backward, BatchNormalization's moving
statistics. Every array is a program buffer; the launch is built once and replayed every step."""
import numpy as np

from .launch import ACT_CODES, Launch, _f32, _grid, _i32


def _n(a):
    return np.int64(a.size)


def act_forward_launch(x, y, activation):
    return Launch("graph.cu", "act_forward_ew", _grid(x.size, 256), (256,), (x, y, _n(x), _i32(ACT_CODES[activation])))


def act_backward_launch(g, x, y, dx, activation):
    return Launch("graph.cu", "act_backward_ew", _grid(x.size, 256), (256,),
                  (g, x, y, dx, _n(x), _i32(ACT_CODES[activation])))


def add2_launch(a, b, y):
    return Launch("graph.cu", "add2", _grid(y.size, 256), (256,), (a, b, y, _n(y)))


def add_into_launch(y, a):
    return Launch("graph.cu", "add_into", _grid(y.size, 256), (256,), (y, a, _n(y)))


def multiply_out_launch(g, m, y):
    return Launch("graph.cu", "multiply_out", _grid(y.size, 256), (256,), (g, m, y, _n(y)))


def moving_update_launch(v, s, momentum):
    """v = v·momentum + s·(1 − momentum), each product in float32 as BatchNormalization._update_moving."""
    return Launch("graph.cu", "moving_update", _grid(v.size, 256), (256,),
                  (v, s, _n(v), _f32(momentum), _f32(1.0 - momentum)))


def _nhwc(shape):
    """(N, H, W, C) of a channels_last 1-D or 2-D tensor (H = 1 for 1-D)."""
    return (shape[0], 1, shape[1], shape[2]) if len(shape) == 3 else tuple(shape)


def window_copy_launch(src, dst, oh, ow):
    """dst[n, i, j, c] = src[n, i + oh, j + ow, c], 0 outside: ZeroPadding (negative offsets) and Cropping."""
    N, Hs, Ws, C = _nhwc(src.shape)
    _, Hd, Wd, _ = _nhwc(dst.shape)
    return Launch("graph.cu", "window_copy", _grid(dst.size, 256), (256,),
                  (src, dst, _i32(N), _i32(Hs), _i32(Ws), _i32(Hd), _i32(Wd), _i32(C), _i32(oh), _i32(ow)))


def upsample_forward_launch(x, y, sh, sw):
    N, H, W, C = _nhwc(x.shape)
    return Launch("graph.cu", "upsample_forward", _grid(y.size, 256), (256,),
                  (x, y, _i32(N), _i32(H), _i32(W), _i32(C), _i32(sh), _i32(sw)))


def upsample_backward_launch(g, dx, sh, sw):
    N, H, W, C = _nhwc(dx.shape)
    return Launch("graph.cu", "upsample_backward", _grid(dx.size, 256), (256,),
                  (g, dx, _i32(N), _i32(H), _i32(W), _i32(C), _i32(sh), _i32(sw)))


def channel_scale_launch(x, m, y):
    """y = x · m[n, c] over the spatial positions of channels_last x; m (N, C)."""
    N, C = m.shape
    return Launch("graph.cu", "channel_scale", _grid(x.size, 256), (256,),
                  (x, m, y, np.int64(x.size), _i32(x.size // (N * C) if N * C else 1), _i32(C)))


def bias_act_launch(z, b, y, activation):
    """z += b over the last axis (b None: none), y = act(z)."""
    C = z.shape[-1]
    return Launch("graph.cu", "bias_act", _grid(z.size, 256), (256,),
                  (z, b if b is not None else z, y, np.int64(z.size), _i32(C), _i32(ACT_CODES[activation]),
                   _i32(b is not None)))
