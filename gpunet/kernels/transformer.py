"""Launchers of kernels/transformer.cu (per-head strided batched GEMMs, layer normalization) and of attention.cu's
masked softmax as fixed launches, for the attention rules of a node program (training/program_attention.py)."""
import numpy as np

from .launch import Launch, _f32, _i32, _tiles


def bgemm_launch(A, Bm, C, M, N, K, batch, heads, a_strides, b_strides, c_strides, scale_a=1.0, alpha=1.0,
                 accumulate=False):
    """C[z] (=|+=) alpha·(scale_a·A[z])·B[z] for z = (b, h); each *_strides: (batch, head, row, column) steps in
    elements (for A the column is the inner index, for B the row is)."""
    return Launch("transformer.cu", "bgemm", (_tiles(M), _tiles(N), batch * heads), (256,),
                  (A, Bm, C, _i32(M), _i32(N), _i32(K), _i32(heads), *(np.int64(s) for s in a_strides),
                   *(np.int64(s) for s in b_strides), *(np.int64(s) for s in c_strides), _f32(scale_a), _f32(alpha),
                   _i32(accumulate)))


def ln_forward_launch(x, gamma, beta, y, xhat, rstd, eps):
    R, C = x.shape
    return Launch("transformer.cu", "ln_forward", (max(R, 1),), (128,),
                  (x, gamma if gamma is not None else rstd, beta if beta is not None else rstd, y, xhat, rstd, _i32(C),
                   _f32(eps), _i32(gamma is not None), _i32(beta is not None)))


def ln_backward_data_launch(g, xhat, rstd, gamma, dx):
    R, C = g.shape
    return Launch("transformer.cu", "ln_backward_data", (max(R, 1),), (128,),
                  (g, xhat, rstd, gamma if gamma is not None else rstd, dx, _i32(C), _i32(gamma is not None)))


def masked_softmax_forward_launch(x, mask, y, heads, Tq):
    """attention.cu's softmax over the last axis of x; mask (B, Tq, L) uint8 shared by the heads, or heads = 0
    and any 1-byte buffer for none."""
    L = x.shape[-1]
    return Launch("attention.cu", "masked_softmax_forward", (max(x.size // L, 1),), (128,),
                  (x, mask, y, _i32(L), _i32(heads), _i32(Tq)))


def masked_softmax_backward_launch(y, dy, dx):
    L = y.shape[-1]
    return Launch("attention.cu", "masked_softmax_backward", (max(y.size // L, 1),), (128,), (y, dy, dx, _i32(L)))
