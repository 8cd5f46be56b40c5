"""Convolution and pooling as differentiable ops, with `keras.ops` signatures.

Everything is computed channels_last (a channels_first input is transposed in and out). The
three array primitives below are the NumPy references of kernels/conv.cu (pooling, which shares
the geometry, is in pooling.py):

  conv_forward          y  = act(im2col(x) · W + b)            one GEMM per group
  conv_backward_data    dx = col2im(dz · Wᵀ)                   the scatter loops over kernel taps only
  conv_backward_weight  dW = im2col(x)ᵀ · dz,  db = Σ dz

im2col is one strided view of the padded input, (groups, N, *out, *kernel, C/groups), copied once;
col2im adds one strided slice per kernel tap. For float32 on the CPU, kernels/cpu_conv.c does both
(and the relu gradient) in one pass with the same results, and the work runs a few samples at a time
(sample_chunks), the chunks on all cores at once (cpu_parallel), so that each chunk's patches stay in
one core's cache. A transposed convolution is the same three
primitives with the roles swapped (its forward is conv_backward_data), so it needs no code of its own.

Geometry: per spatial axis, a kernel of k taps dilated by d spans ke = (k-1)·d + 1 positions; output
o reads padded positions o·s + t·d, where the padded input has `lo` zeros before the data."""

import numpy as np

from .. import backend, config
from ..common import threads
from .core import Tensor, data, record
from .nn import ELEMENTWISE
from .tape import grad_sink, recording

__all__ = ["conv", "conv_transpose", "depthwise_conv", "separable_conv"]


def _xp():
    return backend.get_xp()


# ---- arguments, as Keras checks them ----

def _tuple(value, n, name):
    if isinstance(value, (int, np.integer)):
        out = (int(value),) * n
    else:
        out = tuple(int(v) for v in value)
        if len(out) == n + 2:  # Keras accepts the full-rank spelling (1, s, s, 1) for pooling/strides
            out = out[1:-1]
    if len(out) != n or any(v <= 0 for v in out):
        raise ValueError("`%s` must be %d positive integer(s), received %s=%r" % (name, n, name, value))
    return out


def data_format_of(data_format):
    data_format = data_format or config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("`data_format` must be 'channels_last' or 'channels_first', received data_format=%r"
                         % (data_format,))
    return data_format


def _padding_of(padding, allowed=("valid", "same")):
    p = str(padding).lower()
    if p not in allowed:
        raise ValueError("`padding` must be one of %s, received padding=%r" % (allowed, padding))
    return p


def out_size(n, k, s, d, padding):
    """Keras's output length of one spatial axis (None stays None)."""
    if n is None:
        return None
    ke = (k - 1) * d + 1
    return -(-n // s) if padding == "same" else max((n - ke) // s + 1, 0)


def conv_geometry(in_sizes, ksize, strides, dilation, padding):
    """(out sizes, pads before) of a convolution or pooling window, TensorFlow's 'same' split
    (the extra padding goes after), as Keras's backends do."""
    outs, los = [], []
    for n, k, s, d in zip(in_sizes, ksize, strides, dilation):
        o = out_size(n, k, s, d, padding)
        ke = (k - 1) * d + 1
        total = max((o - 1) * s + ke - n, 0) if padding == "same" else 0
        outs.append(o)
        los.append(total // 2)
    return tuple(outs), tuple(los)


def _to_last(a, fmt):
    return a if fmt == "channels_last" else _xp().moveaxis(a, 1, -1)


def _from_last(a, fmt):
    return a if fmt == "channels_last" else _xp().ascontiguousarray(_xp().moveaxis(a, -1, 1))


# ---- the array primitives (channels_last) ----

def _padded(x, lo, need, fill=0.0):
    """x with `lo` fill values before each spatial axis and enough after for `need` positions."""
    xp = _xp()
    pads = [(0, 0)]
    for ax, (l, nd) in enumerate(zip(lo, need)):
        pads.append((l, max(nd - l - x.shape[1 + ax], 0)))
    pads.append((0, 0))
    if not any(p for pr in pads for p in pr):
        return x
    return xp.pad(x, pads, constant_values=fill)


def _window_view(xpad, ksize, strides, dilation, outs, groups):
    """The im2col view (groups, N, *outs, *ksize, C/groups) of a padded channels_last array."""
    xp = _xp()
    N, C = xpad.shape[0], xpad.shape[-1]
    st = xpad.strides
    sp = st[1:-1]
    cg = C // groups
    shape = (groups, N) + tuple(outs) + tuple(ksize) + (cg,)
    strides_ = ((cg * st[-1], st[0]) + tuple(a * s for a, s in zip(sp, strides))
                + tuple(a * d for a, d in zip(sp, dilation)) + (st[-1],))
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides_)


def c_geometry(x_shape, outs, ksize, strides, lo, dilation=None):
    """The (N, H, W, C, OH, OW, KH, KW, sh, sw[, dh, dw], ph, pw) arguments of kernels/cpu_conv.c for a
    1-D or 2-D window (1-D runs as height 1)."""
    one = len(ksize) == 1
    pre = lambda v, first: ((first,) if one else ()) + tuple(v)  # noqa: E731
    geo = ((x_shape[0],) + pre(x_shape[1:-1], 1) + (x_shape[-1],) + pre(outs, 1) + pre(ksize, 1)
           + pre(strides, 1))
    if dilation is not None:
        geo += pre(dilation, 1)
    return geo + pre(lo, 0)


def im2col(x, ksize, strides, dilation, lo, outs, groups=1, fill=0.0):
    """(groups, N·prod(outs), prod(ksize)·C/groups): the patches of x, one row per output position."""
    if groups == 1 and x.shape[-1] > 4 and len(ksize) <= 2 and fill == 0.0:
        lib = _c_kernels(x)
        if lib is not None:  # one contiguous run per kernel row instead of a strided copy per element
            P, K = int(np.prod(outs)), int(np.prod(ksize)) * x.shape[-1]
            cols = np.empty((x.shape[0] * P, K), np.float32)
            geo = c_geometry(x.shape, outs, ksize, strides, lo, dilation)[1:]
            _run_chunks(lambda i, j: lib.im2col(x[i:j].ctypes.data, cols[i * P:j * P].ctypes.data, j - i, *geo),
                        sample_chunks(x.shape[0], P * K * 4))
            return cols[None]
    need = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(outs, ksize, strides, dilation)]
    xpad = _xp().ascontiguousarray(_padded(x, lo, need, fill))
    if groups == 1 and x.shape[-1] <= 4:
        # few channels (a first layer: grey or RGB images): one row per (tap, channel) holding every output
        # position, returned transposed. The copies run over whole output rows instead of 1-3 floats at a
        # time (4x faster for MNIST's first layer), and BLAS takes the transposed operand as it is.
        xp = _xp()
        C = x.shape[-1]
        taps = int(np.prod(ksize))
        colsT = xp.empty((taps * C, x.shape[0]) + tuple(outs), dtype=x.dtype)
        for t, tap in enumerate(np.ndindex(*ksize)):
            sl = tuple(slice(k * d, k * d + (o - 1) * s + 1, s) for k, d, o, s in zip(tap, dilation, outs, strides))
            colsT[t * C:(t + 1) * C] = xp.moveaxis(xpad[(slice(None),) + sl], -1, 0)
        return colsT.reshape(taps * C, -1).T[None]
    view = _window_view(xpad, ksize, strides, dilation, outs, groups)
    cols = _xp().ascontiguousarray(view)  # the one copy
    return cols.reshape(groups, x.shape[0] * int(np.prod(outs)), int(np.prod(ksize)) * (x.shape[-1] // groups))


def col2im(cols, x_shape, ksize, strides, dilation, lo, outs, groups=1, out=None):
    """The adjoint of im2col: sums each patch row back onto the positions it was read from (into `out`
    when the C kernel runs: check `result is out`)."""
    xp = _xp()
    if groups == 1 and len(ksize) <= 2:
        c0 = cols[0]
        lib = _c_kernels(c0, out)
        if lib is not None:  # a gather: each input sums its patch entries once, in the same tap order
            dx = np.empty(x_shape, np.float32) if out is None else out
            lib.col2im(c0.ctypes.data, dx.ctypes.data, *c_geometry(x_shape, outs, ksize, strides, lo, dilation))
            return dx
    N, C = x_shape[0], x_shape[-1]
    nd = len(ksize)
    need = [max((o - 1) * s + (k - 1) * d + 1, l + n)
            for o, k, s, d, l, n in zip(outs, ksize, strides, dilation, lo, x_shape[1:-1])]
    cg = C // groups
    # (groups, N, *outs, *ksize, cg) -> (N, *outs, *ksize, groups, cg): channels back in place
    c = cols.reshape((groups, N) + tuple(outs) + tuple(ksize) + (cg,))
    c = xp.moveaxis(c, 0, -2).reshape((N,) + tuple(outs) + tuple(ksize) + (C,))
    dxp = xp.zeros((N,) + tuple(need) + (C,), dtype=cols.dtype)
    for tap in np.ndindex(*ksize):  # a loop over kernel taps (9 for 3×3), never over positions
        sl = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, outs, strides))
        dxp[(slice(None),) + sl] += c[(slice(None),) * (1 + nd) + tap]
    return dxp[(slice(None),) + tuple(slice(l, l + n) for l, n in zip(lo, x_shape[1:-1]))]


def _w_groups(W, groups):
    """Kernel (*ksize, C/groups, F) as (groups, prod(ksize)·C/groups, F/groups)."""
    F = W.shape[-1]
    w = W.reshape(-1, W.shape[-2], groups, F // groups)
    return _xp().moveaxis(w, 2, 0).reshape(groups, -1, F // groups)


def _w_ungroup(wg, W_shape):
    xp = _xp()
    groups = wg.shape[0]
    w = wg.reshape(groups, -1, W_shape[-2], W_shape[-1] // groups)
    return xp.ascontiguousarray(xp.moveaxis(w, 0, 2)).reshape(W_shape)


def _c_kernels(*arrays):
    """kernels/cpu_conv.c, for contiguous float32 NumPy arrays (float64 checks and CuPy keep the array code)."""
    if _xp() is not np or any(a is not None and (a.dtype != np.float32 or not a.flags.c_contiguous) for a in arrays):
        return None
    from ..kernels import cpu as cpu_kernels
    return cpu_kernels.conv_library()


def _bias_act(z, b, activation):
    """act(z + b), in place where the derivative needs only the output (as the dense op does): (y, z or None)."""
    xp = _xp()
    lib = _c_kernels(z, b) if activation in ("linear", "relu") and z.ndim == 2 else None
    if lib is not None:  # one pass instead of two
        lib.bias_act(z.ctypes.data, None if b is None else b.ctypes.data, z.shape[0], z.shape[1],
                     int(activation == "relu"))
        return z, None
    if b is not None:
        z += b
    if activation == "linear":
        return z, None
    if activation == "relu":
        return xp.maximum(z, 0, out=z), None
    fwd = ELEMENTWISE[activation][0]
    return fwd(z), z


def _act_grad(g, y, z, activation):
    if activation == "linear":
        return g
    if activation == "relu":
        lib = _c_kernels(g, y)
        if lib is None:
            return g * (y > 0)
        dz = np.empty_like(g)  # one pass instead of two and a mask
        rows = g.reshape(g.shape[0], -1) if g.ndim > 1 else g.reshape(1, -1)
        c_by_samples(lambda a, b, c, n, w: lib.relu_grad(a, b, c, n * w), [rows, y.reshape(rows.shape), dz.reshape(rows.shape)],
                     (rows.shape[0], rows.shape[1]))
        return dz
    return g * ELEMENTWISE[activation][1](z, y)


# The batch is processed a few samples at a time, the chunks on all cores at once (cpu_parallel): a
# chunk's patches, their product and its epilogue stay in one core's cache, where a whole batch's do not
# (the MNIST convnet's second layer has 18 MB of patches at batch 128), and the passes between GEMMs no
# longer leave the other cores idle. CuPy takes the batch whole.
_CHUNK_BYTES = 4 << 20


def sample_chunks(N, bytes_per_sample):
    """[(start, stop)) ranges of samples, each at most about _CHUNK_BYTES of bytes_per_sample, as many as
    a multiple of the worker count and as equal as the batch allows (so no worker waits on another's
    larger share: 128 samples of at most 38 make 4 chunks of 32 on 2 workers, not 38, 38, 38, 14).
    Fixed by the shapes and the worker count alone."""
    if _xp() is not np:
        return [(0, N)]
    from ..kernels import cpu_parallel
    w = cpu_parallel.workers()
    most = max(1, _CHUNK_BYTES // max(1, bytes_per_sample))
    n = min(N, -(-(-(-N // most)) // w) * w)  # chunks: enough for the size cap, rounded up to whole rounds
    if n <= 0:
        return [(0, 0)]
    per, extra = divmod(N, n)
    bounds = [i * per + min(i, extra) for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _run_chunks(fn, chunks):
    if _xp() is not np:
        return [fn(i, j) for i, j in chunks]
    from ..kernels import cpu_parallel
    return cpu_parallel.run(fn, chunks)


def c_by_samples(kernel, arrays, geo):
    """kernel(*pointers, N, *geo[1:]) on chunks of samples in parallel; arrays share the leading sample
    axis (contiguous), geo is the full batch's c_geometry."""
    per = [int(np.prod(a.shape[1:])) * a.itemsize for a in arrays]

    def chunk(i, j):
        kernel(*[a.ctypes.data + i * p for a, p in zip(arrays, per)], j - i, *geo[1:])
    _run_chunks(chunk, sample_chunks(geo[0], sum(per)))


def direct_kernel(x, W, b, groups, activation):
    """kernels/cpu_conv.c's conv_direct where it applies, else None: a few input channels (a first layer
    on grey or RGB images, whose patch rows are too short for a GEMM to pay), filters in sixteens,
    relu or linear, 1-D or 2-D, float32. It sums the same products in patch order, each rounded (no
    fused multiply-add), so results differ from the GEMM path's in the last bits only."""
    if groups == 1 and x.shape[-1] <= 4 and x.ndim <= 4 and W.shape[-1] % 16 == 0 and activation in ("relu", "linear"):
        return _c_kernels(x, W, b)
    return None


def conv_chunk(x, i, j, cols, W, wg, b, activation, z, groups, strides, dilation, lo, outs, direct):
    """act(conv(x[i:j]) + b) into z (the chunk's (rows, F) block): conv_direct, or patches (cols' rows
    when the whole batch's were kept, else this chunk's) times the kernel. Returns the activation."""
    if direct is not None:
        direct.conv_direct(x[i:j].ctypes.data, W.ctypes.data, None if b is None else b.ctypes.data, z.ctypes.data,
                           W.shape[-1], int(activation == "relu"),
                           *c_geometry((j - i,) + x.shape[1:], outs, W.shape[:-2], strides, lo, dilation))
        return z
    P = int(np.prod(outs))
    c = cols[:, i * P:j * P] if cols is not None else im2col(x[i:j], W.shape[:-2], strides, dilation, lo, outs, groups)
    return conv_rows(c, wg, b, activation, z, groups)


def conv_rows(c, wg, b, activation, z, groups):
    """act(c · wg + b) for one chunk's patches c (groups, rows, K): z (rows, F) receives c · wg + b, and
    the activation too where it is linear or relu (returned: z itself then, else a new array)."""
    xp = _xp()
    if groups == 1:
        xp.matmul(c[0], wg[0], out=z)
    else:
        zg = xp.matmul(c, wg)  # (groups, rows, F/groups)
        z[...] = xp.moveaxis(zg, 0, 1).reshape(zg.shape[1], -1)
    return _bias_act(z, b, activation)[0]  # in place for linear and relu


def conv_forward(x, W, b, strides, dilation, lo, outs, groups, activation="linear", keep_cols=True):
    """The reference of conv_forward: (y, z, cols); z is kept only when act' needs it, cols (the
    weight gradient's operand, the whole batch's patches) only with keep_cols."""
    xp = _xp()
    N, P, F = x.shape[0], int(np.prod(outs)), W.shape[-1]
    ksize = W.shape[:-2]
    wg = _w_groups(W, groups)
    dtype = np.result_type(x.dtype, W.dtype)
    cols = im2col(x, ksize, strides, dilation, lo, outs, groups) if keep_cols else None
    needs_z = activation not in ("linear", "relu")
    z = xp.empty((N * P, F), dtype)
    y = xp.empty_like(z) if needs_z else z

    direct = direct_kernel(x, W, b, groups, activation)

    def chunk(i, j):
        r = slice(i * P, j * P)
        yc = conv_chunk(x, i, j, cols, W, wg, b, activation, z[r], groups, strides, dilation, lo, outs, direct)
        if needs_z:
            y[r] = yc
    _run_chunks(chunk, sample_chunks(N, P * (wg.shape[0] * wg.shape[1] + F) * dtype.itemsize))
    return y.reshape((N,) + tuple(outs) + (F,)), (z if needs_z else None), cols


def _dz_groups(dz, groups):
    M = dz.shape[0]
    return dz[None] if groups == 1 else _xp().moveaxis(dz.reshape(M, groups, -1), 1, 0)


def conv_backward_data(dz, W, x_shape, strides, dilation, lo, outs, groups):
    """dx of a convolution, dz given as (N·prod(outs), F): per chunk of samples, the patches' gradient
    (one GEMM) and col2im while they are in cache."""
    xp = _xp()
    ksize = W.shape[:-2]
    gather = groups == 1 and len(ksize) <= 2 and _c_kernels(dz, W) is not None
    if not gather and groups == 1 and all(s == 1 for s in strides):
        return _backward_data_shifted(dz, W, x_shape, dilation, lo, outs)
    wT = xp.swapaxes(_w_groups(W, groups), 1, 2)
    N, P = x_shape[0], int(np.prod(outs))
    dx = xp.empty(x_shape, np.result_type(dz.dtype, W.dtype))

    def chunk(i, j):
        dcols = xp.matmul(_dz_groups(dz[i * P:j * P], groups), wT)
        part = col2im(dcols, (j - i,) + tuple(x_shape[1:]), ksize, strides, dilation, lo, outs, groups, out=dx[i:j])
        if part is not dx[i:j]:
            dx[i:j] = part
    _run_chunks(chunk, sample_chunks(N, P * (wT.shape[0] * wT.shape[2] + W.shape[-1]) * dx.dtype.itemsize))
    return dx


def _backward_data_shifted(dz, W, x_shape, dilation, lo, outs):
    """The stride-1 data gradient as one GEMM per kernel tap added onto a shifted flat range.

    dz is laid out on an extended grid whose trailing spatial axes have the padded input's lengths
    (zeros past the real outputs). On that grid, tap t moves every output by one constant flat offset
    into the padded input, so each tap's (N·rows, F)·(F, C) product is added as one contiguous run per
    sample; the zero columns that run past a row end land on the next row and add nothing (col2im: 2x the time)."""
    xp = _xp()
    N, C = x_shape[0], x_shape[-1]
    ksize, F = W.shape[:-2], W.shape[-1]
    padded = [max(o + (k - 1) * d, l + n) for o, k, d, l, n in zip(outs, ksize, dilation, lo, x_shape[1:-1])]
    ext = (outs[0],) + tuple(padded[1:])
    dze = xp.zeros((N,) + ext + (F,), dtype=dz.dtype)
    dze[(slice(None),) + tuple(slice(0, o) for o in outs)] = dz.reshape((N,) + tuple(outs) + (F,))
    rows = int(np.prod(ext))
    dze = dze.reshape(N * rows, F)
    total = int(np.prod(padded))
    dxp = xp.zeros((N, total, C), dtype=dz.dtype)
    flat = [int(np.prod(padded[i + 1:])) for i in range(len(padded))]  # flat strides of the padded input
    if xp is np:  # one product per tap, outside the chunk pool: BLAS's own threads, as the policy gives
        threads.gemm(N * rows, F, C)
    for tap in np.ndindex(*ksize):
        off = sum(t * d * f for t, d, f in zip(tap, dilation, flat))
        part = (dze @ W[tap].T).reshape(N, rows, C)
        n = min(rows, total - off)
        dxp[:, off:off + n] += part[:, :n]
    dxp = dxp.reshape((N,) + tuple(padded) + (C,))
    return dxp[(slice(None),) + tuple(slice(l, l + n) for l, n in zip(lo, x_shape[1:-1]))]


def conv_backward_weight(cols, dz, W_shape, groups, need_b=True, w_out=None, b_out=None):
    """(dW, db) of a convolution from its im2col patches and dz (N·prod(outs), F): each chunk of rows'
    partial product on a worker, the partials added in chunk order (the same sums on every run)."""
    xp = _xp()
    M, K = cols.shape[1], cols.shape[2]
    chunks = sample_chunks(M, (groups * K + dz.shape[1]) * dz.itemsize)  # rows play the samples here
    parts = _run_chunks(lambda i, j: (xp.matmul(xp.swapaxes(cols[:, i:j], 1, 2), _dz_groups(dz[i:j], groups)),
                                      dz[i:j].sum(axis=0) if need_b else None), chunks)
    dwg = parts[0][0]
    for p, _ in parts[1:]:
        dwg += p
    if groups == 1 and w_out is not None:
        w_out[...] = dwg[0].reshape(W_shape)
        dW = w_out
    else:
        dW = dwg[0].reshape(W_shape) if groups == 1 else _w_ungroup(dwg, W_shape)
    db = None
    if need_b:
        db = parts[0][1]
        if b_out is not None:
            b_out[...] = db
            db = b_out
        for _, p in parts[1:]:
            db += p
    return dW, db


# ---- the ops ----

def _channels(x, fmt):
    return x.shape[-1] if fmt == "channels_last" else x.shape[1]


def _check_rank(x, name, nd_allowed=(1, 2, 3)):
    nd = x.ndim - 2
    if nd not in nd_allowed:
        raise ValueError("%s expects inputs of rank %s (batch, spatial..., channels), received shape %s"
                         % (name, sorted(n + 2 for n in nd_allowed), tuple(x.shape)))
    return nd


def conv_bias_act(inputs, kernel, bias=None, activation="linear", strides=1, padding="valid",
                  data_format=None, dilation_rate=1):
    """act(conv(inputs, kernel) + bias): the Conv layers' one op (bias and activation fused into the
    GEMM's epilogue on the GPU; in place on the CPU). Groups follow from the kernel's input channels."""
    activation = activation or "linear"
    if activation not in ELEMENTWISE:
        raise ValueError("conv activation %r cannot be fused; expected one of %s" % (activation, sorted(ELEMENTWISE)))
    fmt = data_format_of(data_format)
    padding = _padding_of(padding)
    a, W = data(inputs), data(kernel)
    b = None if bias is None else data(bias)
    nd = _check_rank(a, "conv")
    if W.ndim != nd + 2:
        raise ValueError("conv: a kernel of rank %d is needed for inputs of shape %s, received kernel shape %s"
                         % (nd + 2, tuple(a.shape), tuple(W.shape)))
    C = _channels(a, fmt)
    if C % W.shape[-2]:
        raise ValueError("conv: the input's %d channels are not divisible by the kernel's %d input channels "
                         "(kernel shape %s)" % (C, W.shape[-2], tuple(W.shape)))
    groups = C // W.shape[-2]
    F = W.shape[-1]
    if F % groups:
        raise ValueError("conv: the kernel's %d filters are not divisible by groups=%d" % (F, groups))
    strides = _tuple(strides, nd, "strides")
    dilation = _tuple(dilation_rate, nd, "dilation_rate")
    ksize = W.shape[:-2]
    x = _to_last(a, fmt)
    outs, lo = conv_geometry(x.shape[1:-1], ksize, strides, dilation, padding)
    if any(o <= 0 for o in outs) and x.size:
        raise ValueError("conv: the output would be empty: input spatial shape %s is smaller than the dilated "
                         "kernel %s with padding=%r" % (tuple(x.shape[1:-1]), tuple(ksize), padding))
    if backend.uses_kernels() and x.dtype == W.dtype == np.float32 and (b is None or b.dtype == np.float32):
        from ..kernels import conv
        if conv.conv_supported(nd, activation, x.shape, (x.shape[0],) + outs + (F,), W.shape, groups=groups):
            return conv.conv_op(inputs, kernel, bias, x, W, b, activation, strides, dilation, lo, outs,
                                   groups, fmt, record)
    x = _xp().ascontiguousarray(x)
    if not recording():  # inference: no backward will run, so the patches are never kept
        return Tensor(_from_last(conv_forward(x, W, b, strides, dilation, lo, outs, groups, activation, False)[0],
                                 fmt))
    y, z, cols = conv_forward(x, W, b, strides, dilation, lo, outs, groups, activation)
    yf = y

    def backward(g, n):
        g = _to_last(g, fmt).reshape(-1, F)
        dz = _act_grad(g, yf.reshape(-1, F), z, activation)
        gx = gW = gb = None
        if n[0]:
            gx = _from_last(conv_backward_data(dz, W, x.shape, strides, dilation, lo, outs, groups), fmt)
        if n[1] or (b is not None and n[2]):
            gW, gb = conv_backward_weight(cols, dz, W.shape, groups, b is not None and n[2],
                                          grad_sink(kernel, dz.dtype) if n[1] else None,
                                          grad_sink(bias, dz.dtype) if b is not None and n[2] else None)
        return gx, gW, gb
    ins = (inputs, kernel) if bias is None else (inputs, kernel, bias)
    return record(_from_last(y, fmt), ins, backward)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """keras.ops.conv: an N-D convolution (N = 1, 2, 3), kernel (*kernel_size, C/groups, filters)."""
    return conv_bias_act(inputs, kernel, None, "linear", strides, padding, data_format, dilation_rate)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """keras.ops.depthwise_conv: kernel (*kernel_size, C, multiplier), one group per input channel;
    output channel c·multiplier + m (Keras's order)."""
    from . import math as M
    k = data(kernel)
    fmt = data_format_of(data_format)
    C = _channels(data(inputs), fmt)
    if k.shape[-2] != C:
        raise ValueError("depthwise_conv: the kernel's input channels (%d, kernel shape %s) must equal the input's "
                         "channels (%d)" % (k.shape[-2], tuple(k.shape), C))
    grouped = M.reshape(kernel, tuple(k.shape[:-2]) + (1, C * k.shape[-1]))
    return conv(inputs, grouped, strides, padding, fmt, dilation_rate)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """keras.ops.separable_conv: depthwise_conv, then a 1×1 conv with pointwise_kernel."""
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def _transpose_geometry(in_sizes, ksize, strides, dilation, padding, output_padding):
    """Keras's output size and the conv geometry whose data gradient is this transposed conv:
    input i scatters onto outputs i·s + t·d − lo (lo ≥ 0 cut from the front)."""
    outs, los = [], []
    for i, (n, k, s, d) in enumerate(zip(in_sizes, ksize, strides, dilation)):
        op = None if output_padding is None else output_padding[i]
        ke = (k - 1) * d + 1
        if padding == "valid":
            op = max(ke, s) - ke if op is None else op
            left = ke - 1
            size = (n - 1) * s + ke + op
        else:
            pad_len = s + ke - 2 if op is None else ke + ke % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, ke - 1)
            size = n * s if op is None else (n - 1) * s + ke - 2 * (ke // 2) + op
        outs.append(size)
        los.append(ke - 1 - left)
    return tuple(outs), tuple(los)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """keras.ops.conv_transpose: kernel (*kernel_size, filters, C); the adjoint of conv. Its forward
    is conv_backward_data, its input gradient conv_forward and its kernel gradient conv_backward_weight
    (the kernel layout (*k, filters, C) is a convolution kernel from `filters` to C channels)."""
    fmt = data_format_of(data_format)
    padding = _padding_of(padding)
    a, W = data(inputs), data(kernel)
    nd = _check_rank(a, "conv_transpose")
    if W.ndim != nd + 2 or W.shape[-1] != _channels(a, fmt):
        raise ValueError("conv_transpose: kernel shape %s does not fit inputs of shape %s (expected %d spatial "
                         "axes and %d input channels last)" % (tuple(W.shape), tuple(a.shape), nd, _channels(a, fmt)))
    strides = _tuple(strides, nd, "strides")
    dilation = _tuple(dilation_rate, nd, "dilation_rate")
    if output_padding is not None:
        output_padding = _tuple_nonneg(output_padding, nd)
    ksize = W.shape[:-2]
    x = _xp().ascontiguousarray(_to_last(a, fmt))
    outs, lo = _transpose_geometry(x.shape[1:-1], ksize, strides, dilation, padding, output_padding)
    N, Fo = x.shape[0], W.shape[-2]
    out_shape = (N,) + outs + (Fo,)
    in_sp = x.shape[1:-1]
    x2 = x.reshape(-1, x.shape[-1])
    use_k = backend.uses_kernels() and x.dtype == W.dtype == np.float32
    if use_k:
        from ..kernels import conv
        use_k = conv.conv_supported(nd, "linear", x.shape, (N,) + outs + (Fo,), W.shape)
    if use_k:
        y = conv.conv_backward_data(x2, W, out_shape, strides, dilation, lo, in_sp, 1)
    else:
        y = conv_backward_data(x2, W, out_shape, strides, dilation, lo, in_sp, 1)

    def backward(g, n):
        g = _xp().ascontiguousarray(_to_last(g, fmt))
        gx = gW = None
        if use_k:
            if n[0]:
                gx = conv.conv_forward(g, W, None, "linear", strides, dilation, lo, in_sp, 1)[0]
            if n[1]:
                gW = conv.conv_backward_weight(g, x2, W.shape, strides, dilation, lo, in_sp, 1, False)[0]
        else:
            if n[0]:
                gx = conv_forward(g, W, None, strides, dilation, lo, in_sp, 1, keep_cols=False)[0]
            if n[1]:
                cols = im2col(g, ksize, strides, dilation, lo, in_sp)
                gW = conv_backward_weight(cols, x2, W.shape, 1, False, grad_sink(kernel, x2.dtype))[0]
        return (None if gx is None else _from_last(gx, fmt)), gW
    return record(_from_last(y, fmt), (inputs, kernel), backward)


def _tuple_nonneg(value, n):
    out = (int(value),) * n if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)
    if len(out) != n or any(v < 0 for v in out):
        raise ValueError("`output_padding` must be %d non-negative integer(s), received output_padding=%r" % (n, value))
    return out
