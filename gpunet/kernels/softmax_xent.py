"""Launchers of kernels/softmax_xent.cu: softmax + cross-entropy on logits, fused forward and backward,
sparse or one-hot labels, label smoothing. Reference: losses' clipped cross-entropy on probabilities."""
import numpy as np

from .. import backend
from .build import _device_key, fn
from .launch import INT_MAX, Launch, _c32, _empty, _f32, _grid, _i32

# the trainer validates labels up front and turns this off, so the hot path never syncs on the flag
CHECK_LABELS = True


_all_rows = {}


def all_rows():
    """The device int INT_MAX the xent kernels take as their count of valid rows outside a step program
    (every row is real); made once per device, so no eager call uploads it."""
    key = _device_key()
    a = _all_rows.get(key)
    if a is None:
        a = _all_rows[key] = backend.get_xp().full(1, INT_MAX, dtype=np.int32)
    return a


def xent_forward_launch(z2, labels, targets, loss, rows, correct, bad, nvalid, sparse, smoothing):
    """rows = (row max, Σ exp, Σ targets), written for the backward; nvalid: rows from there on are padding."""
    R, C = z2.shape
    return Launch("softmax_xent.cu", "softmax_xent_forward", _grid(R, 8), (256,),
                  (z2, labels, targets, loss, rows[0], rows[1], correct, rows[2], bad, nvalid, _i32(R), _i32(C),
                   _i32(bool(sparse)), _f32(smoothing)))


def xent_backward_launch(z2, labels, targets, rows, g, g_stride, nvalid, d, sparse, smoothing):
    R, C = z2.shape
    return Launch("softmax_xent.cu", "softmax_xent_backward", _grid(R * C, 256), (256,),
                  (z2, labels, targets, *rows, g, _i32(g_stride), nvalid, d, _i32(R), _i32(C), _i32(bool(sparse)),
                   _f32(smoothing)))


def xent_accumulate_launch(loss, correct, acc):
    """acc (float64 [Σ loss, Σ correct]) += this batch's sums, on the device."""
    return Launch("softmax_xent.cu", "xent_accumulate", (1,), (256,), (loss, correct, acc, _i32(loss.shape[0])))


last_xent_stats = None  # device array [loss sum, correct count] of the latest forward


def xent_supported(R, C):
    return R <= INT_MAX and C <= INT_MAX and -(-R * C // 256) <= INT_MAX


def softmax_xent_forward(z2, lab, sparse, smoothing):
    """(per-row loss, rows, labels, targets): `rows` = (row max, Σ exp(z − max), Σ targets), what the
    backward needs; labels/targets as the kernels take them."""
    global last_xent_stats
    xp = backend.get_xp()
    z2 = _c32(z2, "logits")
    R, C = z2.shape
    if sparse:
        labels = xp.ascontiguousarray(lab.reshape(R), dtype=np.int32)
        targets = z2
    else:
        targets = _c32(lab.reshape(R, C).astype(np.float32, copy=False), "targets")
        labels = xp.zeros(1, dtype=np.int32)
    loss, rmax, rsum, correct, tsum = (_empty(R, dtype=np.float32) for _ in range(5))
    bad = xp.zeros(1, dtype=np.int32)
    xent_forward_launch(z2, labels, targets, loss, (rmax, rsum, tsum), correct, bad, all_rows(), sparse, smoothing)()
    stats = _empty(2, dtype=np.float32)
    fn("softmax_xent.cu", "xent_row_sums")((1,), (256,), (loss, correct, stats, _i32(R)))
    last_xent_stats = stats
    if sparse and CHECK_LABELS and int(bad[0]):
        raise ValueError("softmax_cross_entropy: a label is outside [0, %d)" % C)
    return loss, (rmax, rsum, tsum), labels, targets


def softmax_xent_backward(z2, labels, targets, rows, g, sparse, smoothing):
    """g: the per-row loss gradient (R values), or one value for every row (the mean's 1/R)."""
    xp = backend.get_xp()
    R, C = z2.shape
    d = _empty((R, C), dtype=np.float32)
    stride = 0 if g.size == 1 else 1
    g = _c32(xp.ascontiguousarray(g.reshape(g.size), dtype=np.float32), "loss gradient")
    xent_backward_launch(z2, labels, targets, rows, g, stride, all_rows(), d, sparse, smoothing)()
    return d


def softmax_xent_op(labels, logits, lab, z2, lead, sparse, smoothing, record, reduction="none"):
    z2 = _c32(z2, "logits")
    R = z2.shape[0]
    loss, rows, lab_d, targets = softmax_xent_forward(z2, lab, sparse, smoothing)
    mean = reduction == "mean"
    inv_r = np.float32(1.0 / max(R, 1))  # an empty batch: loss 0 (Keras's divide_no_nan), empty gradient

    def backward(g, n):
        gr = g * inv_r if mean else g  # the mean's gradient: one value for every row (stride 0)
        d = softmax_xent_backward(z2, lab_d, targets, rows, gr, sparse, smoothing)
        return None, d.reshape(logits.shape)
    out = last_xent_stats[0] * inv_r if mean else loss.reshape(lead)
    return record(out, (labels, logits), backward)
