"""Launchers of kernels/conv.cu: convolution as implicit GEMM with a fused bias + activation, forward and
both backward products, grouped or not. Reference: ops/convolution.py's array path.

Shapes are channels_last; a channels_first op is transposed here, on the device, in and out. A 1-D
convolution runs as a 2-D one of height 1. Sizes travel as `int`, so a shape whose element count passes
2^31 − 1 takes the array path (conv_supported says so up front)."""

from . import dense
from .launch import ACT_CODES, Launch, _c32, _empty, _first, _fits, _i32, _last, _tiles, stores_z


GRID_YZ = 65535  # CUDA's gridDim.y and gridDim.z limit: filter tiles go on y, groups on z


def conv_supported(nd, activation, *shapes, groups=1):
    """1-D and 2-D convolutions with a fusable activation, every tensor under 2^31 elements, and a grid CUDA can
    launch: at most 65,535 groups (gridDim.z) and 65,535 tiles of filters or channels per group (gridDim.y)."""
    if not (nd in (1, 2) and activation in ACT_CODES and _fits(*shapes)):
        return False
    x_shape, W_shape = shapes[0], shapes[-1]
    per_group = max(int(W_shape[-1]) // groups, int(x_shape[-1]) // groups, int(W_shape[-2]))
    return groups <= GRID_YZ and _tiles(per_group) <= GRID_YZ


def _shape_args(x_shape, outs, F, ksize, strides, dilation, lo, groups):
    """The 16 ints of conv.cu's ConvShape, a 1-D geometry lifted to height 1."""
    N, C = x_shape[0], x_shape[-1]
    sp = tuple(x_shape[1:-1])
    if len(sp) == 1:
        sp, outs, ksize, strides, dilation, lo = ((1,) + sp, (1,) + tuple(outs), (1,) + tuple(ksize),
                                                  (1,) + tuple(strides), (1,) + tuple(dilation), (0,) + tuple(lo))
    vals = (N, sp[0], sp[1], C, outs[0], outs[1], F, ksize[0], ksize[1], strides[0], strides[1], dilation[0],
            dilation[1], lo[0], lo[1], groups)
    return tuple(_i32(v) for v in vals)


def conv_forward_launch(x, W, b, y, z, geo, activation):
    N, H, Wd, C, OH, OW, F, KH, KW = (int(v) for v in geo[:9])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_forward", (_tiles(N * OH * OW), _tiles(F // groups), groups), (256,),
                  (x, W, b if b is not None else y, y, z if z is not None else y, *geo,
                   _i32(ACT_CODES[activation]), _i32(b is not None), _i32(z is not None)))


def conv_backward_data_launch(dy, y, z, W, dx, geo, activation):
    N, H, Wd, C = (int(v) for v in geo[:4])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_backward_data", (_tiles(N * H * Wd), _tiles(C // groups), groups), (256,),
                  (dy, y if y is not None else dy, z if z is not None else dy, W, dx, *geo,
                   _i32(ACT_CODES[activation]), _i32(z is not None)))


def conv_backward_weight_launch(x, dy, y, z, dW, db, geo, activation):
    C, F, KH, KW = int(geo[3]), int(geo[6]), int(geo[7]), int(geo[8])
    groups = int(geo[15])
    return Launch("conv.cu", "conv_backward_weight", (_tiles(KH * KW * (C // groups)), _tiles(F // groups), groups),
                  (256,), (x, dy, y if y is not None else dy, z if z is not None else dy, dW,
                           db if db is not None else dW, *geo, _i32(ACT_CODES[activation]), _i32(z is not None),
                           _i32(db is not None)))


def conv_forward(x, W, b, activation, strides, dilation, lo, outs, groups):
    """(y, z) of act(conv(x, W) + b), x channels_last; z only when act' needs the pre-activation."""
    x, W = _c32(x, "conv input"), _c32(W, "conv kernel")
    F = W.shape[-1]
    shape = (x.shape[0],) + tuple(outs) + (F,)
    y = _empty(shape)
    z = _empty(shape) if stores_z(activation) else None
    geo = _shape_args(x.shape, outs, F, W.shape[:-2], strides, dilation, lo, groups)
    conv_forward_launch(x, W, None if b is None else _c32(b, "conv bias"), y, z, geo, activation)()
    return y, z


def conv_backward_data(dy, W, x_shape, strides, dilation, lo, outs, groups, y=None, z=None, activation="linear"):
    """dx (x_shape) of a convolution from dy (N·prod(outs), F), the activation's derivative applied on load."""
    W = _c32(W, "conv kernel")
    dy = _c32(dy, "conv output gradient")
    dx = _empty(tuple(x_shape))
    geo = _shape_args(x_shape, outs, W.shape[-1], W.shape[:-2], strides, dilation, lo, groups)
    conv_backward_data_launch(dy, y, z, W, dx, geo, activation)()
    return dx


def conv_backward_weight(x, dy, W_shape, strides, dilation, lo, outs, groups, need_b, y=None, z=None,
                         activation="linear"):
    x = _c32(x, "conv input")
    dy = _c32(dy, "conv output gradient")
    dW = _empty(tuple(W_shape))
    F = W_shape[-1]
    db = _empty((F,)) if need_b else None
    geo = _shape_args(x.shape, outs, F, W_shape[:-2], strides, dilation, lo, groups)
    rows = dy.size // F if F else 0
    if db is None or rows <= dense.DB_SERIAL_ROWS:
        conv_backward_weight_launch(x, dy, y, z, dW, db, geo, activation)()
        return dW, db
    # many output positions: db in parallel (dense.cu's bias_grad kernels; a conv's dz is rows × F like a dense's)
    conv_backward_weight_launch(x, dy, y, z, dW, None, geo, activation)()
    d2 = dy.reshape(rows, F)
    for launch in dense.bias_grad_launches(d2, d2 if y is None else y.reshape(rows, F),
                                           None if z is None else z.reshape(rows, F), db, activation):
        launch()
    return dW, db


def conv_op(inputs, kernel, bias, x, W, b, activation, strides, dilation, lo, outs, groups, fmt, record):
    x = _c32(x, "conv input")
    y, z = conv_forward(x, W, b, activation, strides, dilation, lo, outs, groups)
    keep_y = activation != "linear" and not stores_z(activation)

    def backward(g, n):
        dy = _c32(_last(g, fmt), "conv output gradient")
        yy = y if keep_y else None
        gx = gW = gb = None
        if n[0]:
            gx = _first(conv_backward_data(dy, W, x.shape, strides, dilation, lo, outs, groups, yy, z, activation), fmt)
        if n[1] or (b is not None and n[2]):
            gW, gb = conv_backward_weight(x, dy, W.shape, strides, dilation, lo, outs, groups,
                                          b is not None and n[2], yy, z, activation)
            gW = gW if n[1] else None
        return gx, gW, gb
    ins = (inputs, kernel) if bias is None else (inputs, kernel, bias)
    return record(_first(y, fmt), ins, backward)
