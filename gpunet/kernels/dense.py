"""Launchers of kernels/dense.cu: GEMM + bias + activation, forward and both backward products, in 64x64
output tiles (gemm_tile.cuh). Reference: ops.nn's array path (x @ W + b, then the activation).

Which kernels run a product is a rule with a switch, GPUNET_DENSE_VARIANT:
  tile    one 64×64 tile per block (dense_forward, dense_backward_data): the first kernels, kept as they were;
  splitk  split-K whenever the inner dimension has at least two chunks of MIN_CHUNK_STEPS k-steps (into as many
          as bring the grid near one block per SM, two at least): the partial products of S chunks on the grid's
          third axis, then splitk_reduce sums them in order with the bias and activation; also the fused head
          of a training step (head.py);
  cublaslt  the forward through cuBLASLt (cublaslt.py: capturable, bias + activation epilogues) wherever it has
          the activation's epilogue and the library is there (a GPU); the kernels' rule for everything else;
  auto    (default) split-K where the tile grid would leave more than half of the SMS streaming multiprocessors
          idle, cuBLASLt for forward products of at least LT_MIN_FLOPS on a GPU, the tile kernel elsewhere;
          the fused head for batches up to head.HEAD_MAX_ROWS rows.
auto follows GPU-REVIEW-2's arithmetic (§7), not a measurement: bench/gpu_probe.py times every variant at the
classic and wide shapes so that the first GPU run can set the rule. The weight gradient's bias sum runs inside
dense_backward_weight for up to DB_SERIAL_ROWS rows, and as two parallel kernels beyond (bias_grad_launches)."""
import logging
import math
import os

import numpy as np

from . import cublaslt
from .launch import ACT_CODES, INT_MAX, MAX_COLS, Launch, _c32, _empty, _grid, _i32, _tiles, stores_z

_log = logging.getLogger("gpunet")
VARIANTS = ("tile", "splitk", "cublaslt", "auto")
LT_MIN_FLOPS = 2 * 2**30  # auto: cuBLASLt from here (the wide MLP's products; review 2 puts our tiles at 2-2.7x)
SMS = 132               # streaming multiprocessors of an H100 SXM / H200: the rule's target, one block per SM
BK = 16                 # the tile's k-step (gemm_tile.cuh)
MIN_CHUNK_STEPS = 2     # split-K chunks of at least this many k-steps (each block's partial tile costs a store)
DB_SERIAL_ROWS = 4096   # up to here db is summed by dense_backward_weight's own blocks (≤ 1,024 loads a thread)


def dense_variant():
    v = os.environ.get("GPUNET_DENSE_VARIANT", "auto").strip().lower() or "auto"
    if v not in VARIANTS:
        raise ValueError("GPUNET_DENSE_VARIANT must be one of %s; received %r" % (", ".join(VARIANTS), v))
    return v


def splitk_parts(tiles, inner, min_steps=None, at_least=1):
    """(S, chunk): the inner dimension in S chunks of `chunk` elements (a multiple of the k-step), so that
    tiles·S blocks come near one per SM (and S >= at_least), each chunk at least `min_steps` k-steps; S == 1
    when it cannot split."""
    min_steps = MIN_CHUNK_STEPS if min_steps is None else min_steps
    steps = -(-inner // BK)
    want = min(max(at_least, SMS // max(1, tiles)), steps // min_steps)
    if want < 2:
        return 1, inner
    chunk = -(-steps // want) * BK
    return -(-inner // chunk), chunk


def gemm_plan(rows, cols, inner, variant=None):
    """("tile", 1, inner) or ("splitk", S, chunk) for a product of rows × cols over `inner`."""
    variant = variant or dense_variant()
    if variant == "cublaslt":  # the products cuBLASLt does not take follow the kernels' own rule
        variant = "auto"
    tiles = _tiles(rows) * _tiles(cols)
    S, chunk = splitk_parts(tiles, inner, at_least=2 if variant == "splitk" else 1)
    if variant == "tile" or S < 2 or rows * cols * S > INT_MAX:
        return "tile", 1, inner
    if variant == "splitk" or tiles * 2 <= SMS:
        return "splitk", S, chunk
    return "tile", 1, inner


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


def _reduce_launch(P, b, Y, Z, S, activation):
    M, N = Y.shape
    return Launch("dense.cu", "splitk_reduce", _grid(M * N, 256), (256,),
                  (P, b if b is not None else Y, Y, Z if Z is not None else Y, np.int64(M * N), _i32(N), _i32(S),
                   _i32(ACT_CODES[activation]), _i32(b is not None), _i32(Z is not None)))


_lt_warned = set()


def _use_cublaslt(M, K, N, activation, variant):
    if variant not in ("cublaslt", "auto") or not cublaslt.supported(activation) or M == 0:
        return False
    if variant == "auto" and 2.0 * M * K * N < LT_MIN_FLOPS:
        return False
    if not cublaslt.available():
        if variant == "cublaslt" and "unavailable" not in _lt_warned:
            _lt_warned.add("unavailable")
            _log.warning("gpunet: GPUNET_DENSE_VARIANT=cublaslt, but cuBLASLt cannot run here (it needs the CuPy "
                         "backend on a GPU and libcublasLt); the dense kernels run instead")
        return False
    return True


def dense_forward_launches(x2, W, b, Y, Z, activation, alloc=_empty, variant=None):
    """The launches of Y = act(x2·W + b) under the variant rule (module docstring); `alloc(shape[, dtype])`
    gives the split-K or cuBLASLt workspace (a step program passes its arena's)."""
    M, K = x2.shape
    N = W.shape[1]
    variant = variant or dense_variant()
    if _use_cublaslt(M, K, N, activation, variant):
        try:
            return [cublaslt.LtMatmul(x2, W, b, Y, Z, activation, cublaslt.workspace(alloc))]
        except Exception as e:  # no algorithm, a library that refuses: the kernels, said once
            if str(e) not in _lt_warned:
                _lt_warned.add(str(e))
                _log.warning("gpunet: cuBLASLt refused %d×%d×%d (%s: %s); the dense kernels run instead",
                             M, K, N, type(e).__name__, e)
    kind, S, chunk = gemm_plan(M, N, K, variant)
    if kind == "tile":
        return [dense_forward_launch(x2, W, b, Y, Z, activation)]
    if W.shape[0] != K:
        raise ValueError("dense: input has %d features but the kernel expects %d" % (K, W.shape[0]))
    P = alloc((S, M, N))
    return [Launch("dense.cu", "dense_forward_partial", (_tiles(M), _tiles(N), S), (256,),
                   (x2, W, P, _i32(M), _i32(K), _i32(N), _i32(chunk))),
            _reduce_launch(P, b, Y, Z, S, activation)]


def dense_backward_data_launches(dY, Y, Z, W, gx, activation, alloc=_empty, variant=None):
    M, N = dY.shape
    K = W.shape[0]
    kind, S, chunk = gemm_plan(M, K, N, variant)
    if kind == "tile":
        return [dense_backward_data_launch(dY, Y, Z, W, gx, activation)]
    P = alloc((S, M, K))
    return [Launch("dense.cu", "dense_backward_data_partial", (_tiles(M), _tiles(K), S), (256,),
                   (dY, Y, Z if Z is not None else Y, W, P, _i32(M), _i32(K), _i32(N), _i32(ACT_CODES[activation]),
                    _i32(Z is not None), _i32(chunk))),
            _reduce_launch(P, None, gx, None, S, "linear")]


def bias_grad_launches(dY, Y, Z, gb, activation, alloc=_empty):
    """db = Σ_rows dY ⊙ act'(Z, Y) for many rows: blocks of 32 columns × ~1,024 rows, then the chunks in order."""
    M, N = dY.shape
    chunks = min(max(1, math.ceil(M / 1024)), 4096)
    per = math.ceil(M / chunks)
    chunks = math.ceil(M / per)
    part = alloc((chunks, N))
    return [Launch("dense.cu", "bias_grad_partial", (max(1, -(-N // 32)), chunks), (256,),
                   (dY, Y, Z if Z is not None else Y, part, _i32(M), _i32(N), _i32(ACT_CODES[activation]),
                    _i32(Z is not None), _i32(per))),
            Launch("dense.cu", "bias_grad_final", _grid(N, 256), (256,), (part, gb, _i32(N), _i32(chunks)))]


def dense_backward_weight_launches(x2, dY, Y, Z, gW, gb, activation, alloc=_empty):
    if gb is None or x2.shape[0] <= DB_SERIAL_ROWS:
        return [dense_backward_weight_launch(x2, dY, Y, Z, gW, gb, activation)]
    return ([dense_backward_weight_launch(x2, dY, Y, Z, gW, None, activation)]
            + bias_grad_launches(dY, Y, Z, gb, activation, alloc))


def _run(launches):
    for launch in launches:
        launch()


def dense_forward(x2, W, b, activation):
    """Y, Z (Z is None unless the activation's derivative needs the pre-activation)."""
    x2, W = _c32(x2, "dense input"), _c32(W, "dense kernel")
    M, N = x2.shape[0], W.shape[1]
    Y = _empty((M, N), dtype=np.float32)
    Z = _empty((M, N), dtype=np.float32) if stores_z(activation) else None
    _run(dense_forward_launches(x2, W, _c32(b, "dense bias") if b is not None else None, Y, Z, activation))
    return Y, Z


def dense_backward(x2, W, Y, Z, dY, activation, need_x, need_w, need_b):
    M, K = x2.shape
    N = W.shape[1]
    dY = _c32(dY, "dense output gradient")
    gx = gW = gb = None
    if need_x:
        gx = _empty((M, K), dtype=np.float32)
        _run(dense_backward_data_launches(dY, Y, Z, W, gx, activation))
    if need_w or need_b:
        gW = _empty((K, N), dtype=np.float32)
        gb = _empty((N,), dtype=np.float32) if need_b else None
        _run(dense_backward_weight_launches(x2, dY, Y, Z, gW, gb, activation))
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
