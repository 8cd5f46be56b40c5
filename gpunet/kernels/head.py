"""Launcher of kernels/head.cu: a training step's last Dense, softmax cross-entropy forward and backward and the
epoch's loss / correct sums in one launch. Reference: dense.py's forward, then softmax_xent.py's three launches
(equal to them bit for bit where floating-point contraction is off, as in the emulated tier)."""
from .dense import dense_variant
from .launch import ACT_CODES, Launch, _f32, _i32

HEAD_MAX_ROWS = 256  # one block of 8 warps takes every row: beyond, the separate kernels spread the rows


def head_supported(rows, activation):
    """Whether a step of `rows` static rows fuses its head (not under GPUNET_DENSE_VARIANT=tile)."""
    return 0 < rows <= HEAD_MAX_ROWS and activation in ACT_CODES and dense_variant() != "tile"


def head_launch(h, W, b, Y, Z, labels, targets, loss, rows, correct, bad, nvalid, g, dlogits, acc, activation,
                sparse, smoothing):
    """Y = act(h·W + b) (Z: the pre-activation, for gelu), the per-row loss / correct and `rows` = (row max,
    Σ exp, Σ targets) as softmax_xent_forward writes them, dlogits scaled by g[0] (0 past nvalid), acc += sums.
    With sparse labels the kernel reads no targets: h stands in for them (never Y, which it writes)."""
    R, K = h.shape
    C = W.shape[1]
    return Launch("head.cu", "dense_xent_head", (1,), (256,),
                  (h, W, b if b is not None else Y, Y, Z if Z is not None else Y, labels,
                   h if sparse else targets, loss, rows[0],
                   rows[1], correct, rows[2], bad, nvalid, g, dlogits, acc, _i32(R), _i32(K), _i32(C),
                   _i32(ACT_CODES[activation]), _i32(b is not None), _i32(Z is not None), _i32(bool(sparse)),
                   _f32(smoothing)))
