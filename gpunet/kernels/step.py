"""Launchers of kernels/step.cu, the pieces only a step program needs: the step's control block update,
the batch gathered from the device permutation, Philox dropout (gpunet/random.py is its reference),
and the rows of a prediction written out."""
import numpy as np

from .launch import Launch, _empty, _f32, _grid, _i32


def step_begin_launch(ctl, iterations, table, cur, n, batch, count):
    rows, K = table.shape
    return Launch("step.cu", "step_begin", (1,), (32,),
                  (ctl, iterations, table, cur, _i32(K), _i32(rows), _i32(n), _i32(batch), _i32(bool(count))))


def gather_batch_launch(x, perm, ctl, xb, y, yb, sparse, spare_i, spare_f):
    """xb/yb = the rows of x/y this step takes: perm[t·batch + r] (perm None: contiguous rows); y None:
    no targets (predict). spare_i/spare_f: 1-element int32/float32 buffers of the caller's, passed for the
    pointers this launch does not use (never read or written)."""
    batch, F = xb.shape
    C = 0 if y is None else (1 if sparse else yb.shape[1])
    sparse = sparse and y is not None
    use_perm = perm is not None
    yi, ybi = (y, yb) if sparse else (spare_i, spare_i)
    yf, ybf = (spare_f, spare_f) if sparse or y is None else (y, yb)
    return Launch("step.cu", "gather_batch", _grid(batch * max(F, C), 256), (256,),
                  (x, perm if use_perm else spare_i, ctl, xb, _i32(F), _i32(batch), _i32(use_perm), yi, ybi, yf, ybf,
                   _i32(C), _i32(bool(sparse))))


def dropout_forward_launch(x, y, mask, ctl, call_in_step, calls_per_step, rate):
    batch, F = x.shape
    keep = 1.0 - rate
    return Launch("step.cu", "dropout_forward", _grid(-(-batch * F // 4), 256), (256,),
                  (x, y, mask, ctl, _i32(F), _i32(batch), _i32(call_in_step), _i32(calls_per_step), _f32(keep),
                   _f32(1.0 / keep)))


def dropout_mask(shape, call, key, rate):
    """Inverted-dropout mask from the Philox stream (gpunet/random.py's reference), made on the device."""
    size = int(np.prod(shape))
    mask = _empty(size, dtype=np.float32)
    if size:
        keep = 1.0 - rate
        Launch("step.cu", "dropout_mask", _grid(-(-size // 4), 256), (256,),
               (mask, np.int64(size), np.uint32(call & 0xFFFFFFFF), np.uint32(key[0]), np.uint32(key[1]),
                _f32(keep), _f32(1.0 / keep)))()
    return mask.reshape(shape)


def mask_multiply_launch(g, mask):
    n = g.size
    return Launch("step.cu", "mask_multiply", _grid(n, 256), (256,), (g, mask, np.int64(n)))


def rows_out_launch(src, out, ctl, softmax):
    batch, C = src.shape
    return Launch("step.cu", "rows_out", _grid(batch * 32, 256), (256,),
                  (src, out, ctl, _i32(C), _i32(batch), _i32(bool(softmax))))
