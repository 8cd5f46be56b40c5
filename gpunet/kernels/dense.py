"""Launchers of kernels/dense.cu: GEMM + bias + activation, forward and both backward products, in 64x64
output tiles (gemm_tile.cuh). Reference: ops.nn's array path (x @ W + b, then the activation)."""
import numpy as np

from .launch import ACT_CODES, INT_MAX, MAX_COLS, Launch, _c32, _empty, _i32, _tiles, stores_z


def dense_supported(activation, M, K, N):
    """Whether the dense kernels can run this shape and activation; if not, the op takes the array path."""
    return activation in ACT_CODES and M <= INT_MAX and K <= MAX_COLS and N <= MAX_COLS


def dense_forward_launch(x2, W, b, Y, Z, activation):
    """Y = act(x2·W + b) into Y (and the pre-activation into Z when given: gelu's derivative needs it)."""
    M, K = x2.shape
    N = W.shape[1]
    if W.shape[0] != K:
        raise ValueError("dense: input has %d features but the kernel expects %d" % (K, W.shape[0]))
    return Launch("dense.cu", "dense_forward", (_tiles(M), _tiles(N)), (256,),
                  (x2, W, b if b is not None else Y, Y, Z if Z is not None else Y, _i32(M), _i32(K), _i32(N),
                   _i32(ACT_CODES[activation]), _i32(b is not None), _i32(Z is not None)))


def dense_backward_data_launch(dY, Y, Z, W, gx, activation):
    M, N = dY.shape
    K = W.shape[0]
    return Launch("dense.cu", "dense_backward_data", (_tiles(M), _tiles(K)), (256,),
                  (dY, Y, Z if Z is not None else Y, W, gx, _i32(M), _i32(K), _i32(N), _i32(ACT_CODES[activation]),
                   _i32(Z is not None)))


def dense_backward_weight_launch(x2, dY, Y, Z, gW, gb, activation):
    M, K = x2.shape
    N = dY.shape[1]
    return Launch("dense.cu", "dense_backward_weight", (_tiles(K), _tiles(N)), (256,),
                  (x2, dY, Y, Z if Z is not None else Y, gW, gb if gb is not None else gW, _i32(M), _i32(K),
                   _i32(N), _i32(ACT_CODES[activation]), _i32(Z is not None), _i32(gb is not None)))


def dense_forward(x2, W, b, activation):
    """Y, Z (Z is None unless the activation's derivative needs the pre-activation)."""
    x2, W = _c32(x2, "dense input"), _c32(W, "dense kernel")
    M, N = x2.shape[0], W.shape[1]
    Y = _empty((M, N), dtype=np.float32)
    Z = _empty((M, N), dtype=np.float32) if stores_z(activation) else None
    dense_forward_launch(x2, W, _c32(b, "dense bias") if b is not None else None, Y, Z, activation)()
    return Y, Z


def dense_backward(x2, W, Y, Z, dY, activation, need_x, need_w, need_b):
    M, K = x2.shape
    N = W.shape[1]
    dY = _c32(dY, "dense output gradient")
    gx = gW = gb = None
    if need_x:
        gx = _empty((M, K), dtype=np.float32)
        dense_backward_data_launch(dY, Y, Z, W, gx, activation)()
    if need_w or need_b:
        gW = _empty((K, N), dtype=np.float32)
        gb = _empty((N,), dtype=np.float32) if need_b else None
        dense_backward_weight_launch(x2, dY, Y, Z, gW, gb, activation)()
    return gx, gW, gb


def dense_op(x, kernel, bias, a, W, b, activation, record):
    a2 = _c32(a.reshape(-1, a.shape[-1]), "dense input")
    Y, Z = dense_forward(a2, W, b, activation)

    def backward(g, n):
        gx, gW, gb = dense_backward(a2, _c32(W, "dense kernel"), Y, Z, g.reshape(Y.shape), activation,
                                    n[0], n[1], b is not None and n[2])
        return (None if gx is None else gx.reshape(a.shape)), gW, gb
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    return record(Y.reshape(a.shape[:-1] + (W.shape[1],)), inputs, backward)
