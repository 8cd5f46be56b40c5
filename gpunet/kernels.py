"""Finds kernels/*.cu, compiles them once per device with cupy.RawModule, and launches them with
typed arguments. Only the ops (and the optimizers' kernel path) call this module.

The same launchers run the same kernels in the emulated tier (backend.kernels() == "emulate"):
gpunet/emulated.py compiles them for the CPU with HIP-CPU and launches them on NumPy arrays with
the grid, block and arguments given here, checking each against the kernel's C signature.

CuPy passes a Python float as double and an int as 64-bit, so every scalar goes through
numpy.float32 / numpy.int32 here, and every array is checked for dtype and C-contiguity."""
import math
import os
import re
from pathlib import Path

import numpy as np

from . import backend

ACT_CODES = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "gelu_approximate": 5}
ARCHS = (80, 90)
# the trainer validates labels up front and turns this off, so the hot path never syncs on the flag
CHECK_LABELS = True


class KernelCompileError(RuntimeError):
    pass


def kernel_dir():
    """kernels/ beside the package in a source checkout, else the copy installed as gpunet/_cuda."""
    here = Path(__file__).resolve().parent
    repo = here.parent / "kernels"
    if repo.is_dir() and any(repo.glob("*.cu")):
        return repo
    return here / "_cuda"


def kernel_files():
    return sorted(kernel_dir().glob("*.cu"))


def source(name):
    path = kernel_dir() / name
    if not path.is_file():
        raise KernelCompileError("kernel file %s not found (looked in %s)" % (name, kernel_dir()))
    return path.read_text()


def _inline_headers(text):
    """The source with each `#include "x.cuh"` of kernels/ pasted in: CuPy keys its on-disk kernel cache by
    the code it is given, so an edited header must change that code, or a stale binary would load."""
    def paste(m):
        path = kernel_dir() / m.group(1)
        if not path.is_file():
            return m.group(0)
        return re.sub(r"^#pragma once\s*$", "", _inline_headers(path.read_text()), flags=re.M)
    return re.sub(r'^#include "([^"]+)"', paste, text, flags=re.M)


def cache_dir():
    return os.environ.get("CUPY_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache")


def _first_error(log, name):
    m = re.search(r"%s\((\d+)\): (error.*)" % re.escape(name), log or "")
    return ("%s line %s: %s" % (name, m.group(1), m.group(2))) if m else "%s: %s" % (name, (log or "").strip()[:2000])


def nvrtc_compile(path, arch):
    """Compiles one .cu file to PTX for compute_<arch> with NVRTC alone (no GPU or driver needed)."""
    from cupy_backends.cuda.libs import nvrtc
    path = Path(path)
    prog = nvrtc.createProgram(path.read_text(), path.name, [], [])
    try:
        nvrtc.compileProgram(prog, ["-arch=compute_%d" % arch, "-std=c++17", "-I%s" % path.parent])
    except nvrtc.NVRTCError:
        raise KernelCompileError("compiling for sm_%d failed: %s" % (arch, _first_error(nvrtc.getProgramLog(prog), path.name))) from None
    return nvrtc.getPTX(prog)


def compile_check():
    """{file: 'ok (sm_80, sm_90)' or the first error}; a GPU-free check used by `gpunet info`."""
    try:
        import cupy_backends.cuda.libs.nvrtc  # noqa: F401
    except Exception as e:
        return "not checked: NVRTC unavailable (%s; pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12)" % type(e).__name__
    out = {}
    for f in kernel_files():
        try:
            for arch in ARCHS:
                nvrtc_compile(f, arch)
            out[f.name] = "ok (%s)" % ", ".join("sm_%d" % a for a in ARCHS)
        except KernelCompileError as e:
            out[f.name] = str(e)
        except Exception as e:  # the NVRTC library itself is missing: one line says so
            return ("not checked: the NVRTC library cannot be loaded (%s); pip install nvidia-cuda-nvrtc-cu12, "
                    "or use a CUDA image" % str(e).strip().splitlines()[0][:120])
    return out


_modules = {}
_functions = {}


def _device_key():
    return backend.get_xp().cuda.Device().id if backend.kernels() == "cuda" else "emulate"


def module(name):
    """The compiled module of kernels/<name>: a cupy.RawModule, or its emulated twin."""
    key = (name, _device_key())
    mod = _modules.get(key)
    if mod is None:
        if key[1] == "emulate":
            from . import emulated
            source(name)  # a missing file: KernelCompileError naming it
            mod = emulated.module(kernel_dir() / name)
        else:
            xp = backend.get_xp()
            try:
                mod = xp.RawModule(code=_inline_headers(source(name)), options=("-std=c++17",))
                mod.compile()
            except xp.cuda.compiler.CompileException as e:
                raise KernelCompileError(_first_error(str(e), name)) from None
        _modules[key] = mod
    return mod


def fn(file, kernel):
    """A launchable kernel, kept: building a RawKernel per launch costs a driver lookup each time."""
    key = (file, kernel, _device_key())
    f = _functions.get(key)
    if f is None:
        f = _functions[key] = module(file).get_function(kernel)
    return f


class Launch:
    """One kernel launch with everything fixed: the kernel, grid, block and arguments. The eager ops build
    one and run it at once; a step program (gpunet/models/gpu_step.py) builds its list once and runs the
    same objects every step (or captures them as a CUDA graph), so a step does no argument work at all."""
    __slots__ = ("file", "name", "kernel", "grid", "block", "args")

    def __init__(self, file, name, grid, block, args):
        self.file, self.name = file, name
        self.kernel = fn(file, name)
        self.grid, self.block, self.args = tuple(grid), tuple(block), tuple(args)

    def __call__(self):
        self.kernel(self.grid, self.block, self.args)

    def __repr__(self):
        return "Launch(%s, grid=%s, block=%s)" % (self.name, self.grid, self.block)


def _f32(x):
    return np.float32(x)


def _i32(x):
    return np.int32(x)


def _c32(a, what):
    """A C-contiguous float32 device array, or a clear error."""
    xp = backend.get_xp()
    if a.dtype != np.float32:
        raise TypeError("GPU kernels run in float32; %s has dtype %s" % (what, a.dtype))
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def _grid(n, per):
    return (max(1, math.ceil(n / per)),)


def _empty(shape, dtype=np.float32):
    """An output buffer. Emulated, it is poisoned (NaN, or -1 for integers) so that an element a
    kernel fails to write shows up in a test instead of passing as leftover memory."""
    xp = backend.get_xp()
    if backend.kernels() == "emulate":
        return xp.full(shape, np.nan if np.dtype(dtype).kind == "f" else -1, dtype=dtype)
    return xp.empty(shape, dtype=dtype)


# ---- dense ----

TILE = 64                   # each dense block computes a 64×64 output tile (kernels/dense.cu)
INT_MAX = 2**31 - 1         # sizes are passed as `int`
# row tiles go on gridDim.x (up to 2^31 - 1); column tiles on gridDim.y, which CUDA caps at 65535
MAX_COLS = 65535 * TILE


def _tiles(n):
    return max(1, -(-n // TILE))  # at least one block: a zero grid is a launch error, an empty batch is not


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


def stores_z(activation):
    return activation in ("gelu", "gelu_approximate")


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


# ---- softmax cross-entropy ----

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


# ---- optimizer updates ----
# 1 − β is formed on the host in float64 and rounded once, as the NumPy update and the CPU kernel do:
# the device's 1.f − β from float32(β) differs (1 − 0.999f = 0.0009999871, float32(0.001) = 0.001).

def optim_supported(n):
    return n <= INT_MAX


def adam_update(p, g, m, v, vhat, alpha, beta_1, beta_2, eps, decay):
    n = p.size
    fn("optim.cu", "adam_update")(_grid(n, 256), (256,),
                                  (p, g, m, v, vhat if vhat is not None else v, _i32(n), _f32(alpha),
                                   _f32(1 - beta_1), _f32(1 - beta_2), _f32(eps), _f32(decay),
                                   _i32(vhat is not None)))


def sgd_update(p, g, m, lr, momentum, nesterov, decay):
    n = p.size
    fn("optim.cu", "sgd_update")(_grid(n, 256), (256,),
                                 (p, g, m if m is not None else g, _i32(n), _f32(lr), _f32(momentum),
                                  _i32(bool(nesterov)), _f32(decay)))


def rmsprop_update(p, g, vel, mom, avg, lr, rho, momentum, eps, decay):
    n = p.size
    fn("optim.cu", "rmsprop_update")(_grid(n, 256), (256,),
                                     (p, g, vel, mom if mom is not None else vel, avg if avg is not None else vel,
                                      _i32(n), _f32(lr), _f32(rho), _f32(1 - rho), _f32(momentum), _f32(eps),
                                      _i32(avg is not None), _f32(decay)))


# the same rules reading the per-step scalars through `cur` (cur[0] = lr or α, cur[1] = decay): step programs

def adam_update_ctl_launch(p, g, m, v, vhat, cur, beta_1, beta_2, eps):
    n = p.size
    return Launch("optim.cu", "adam_update_ctl", _grid(n, 256), (256,),
                  (p, g, m, v, vhat if vhat is not None else v, _i32(n), cur, _f32(1 - beta_1), _f32(1 - beta_2),
                   _f32(eps), _i32(vhat is not None)))


def sgd_update_ctl_launch(p, g, m, cur, momentum, nesterov):
    n = p.size
    return Launch("optim.cu", "sgd_update_ctl", _grid(n, 256), (256,),
                  (p, g, m if m is not None else g, _i32(n), cur, _f32(momentum), _i32(bool(nesterov))))


def rmsprop_update_ctl_launch(p, g, vel, mom, avg, cur, rho, momentum, eps):
    n = p.size
    return Launch("optim.cu", "rmsprop_update_ctl", _grid(n, 256), (256,),
                  (p, g, vel, mom if mom is not None else vel, avg if avg is not None else vel, _i32(n), cur,
                   _f32(rho), _f32(1 - rho), _f32(momentum), _f32(eps), _i32(avg is not None)))


# ---- step programs (kernels/step.cu) ----

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


# ---- gradient clipping (kernels/optim.cu) ----

CLIP_MODES = {"clipnorm": 1, "global_clipnorm": 2, "clipvalue": 3}


def clip_launches(g, bounds, longest, sums, mode, c):
    """The launches that clip the flat gradient `g` per segment (bounds: int64 device array of each
    segment's [start, end); sums: float32 scratch of nseg), on the device: no norm is read back."""
    nseg = sums.size
    if nseg > 65535:
        raise ValueError("clipping on the device handles up to 65535 variables, received %d" % nseg)
    clip = Launch("optim.cu", "grad_clip", (max(1, -(-longest // 256)), nseg), (256,),
                  (g, bounds, sums, _i32(nseg), _i32(CLIP_MODES[mode]), _f32(c)))
    if mode == "clipvalue":
        return [clip]
    return [Launch("optim.cu", "grad_sumsq", (nseg,), (256,), (g, bounds, sums, _i32(nseg))), clip]


def grad_unscale_launch(g, c):
    n = g.size
    return Launch("optim.cu", "grad_unscale", _grid(n, 256), (256,), (g, np.int64(n), _f32(c)))


def grad_accumulate_ctl_launch(g, acc, steps, cur):
    """gradient_accumulation_steps: accumulate, or (where cur[5] != 0) average into g and restart."""
    n = g.size
    return Launch("optim.cu", "grad_accumulate_ctl", _grid(n, 256), (256,), (g, acc, np.int64(n), _f32(steps), cur))


def ema_update_ctl_launch(p, ema, cur):
    """The moving average of the weights (use_ema), its momentum and overwrite flag read from cur[3], cur[4]."""
    n = p.size
    return Launch("optim.cu", "ema_update_ctl", _grid(n, 256), (256,), (p, ema, np.int64(n), cur))


# the convolution family's launchers live in their own file; ops reach them through this module
from .kernels_conv import *  # noqa: F401,F403,E402
