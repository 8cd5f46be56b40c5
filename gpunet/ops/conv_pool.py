"""max_pool(act(conv(x, W) + b)) as one op on the CPU: a Conv layer and the MaxPooling layer after it.

Run as two ops, the convolution writes its full-resolution activation to memory and the pool reads it
back (11 MB per batch of 128 for the MNIST convnet's first layer), and the backward pass writes and reads
it twice more (the pool's scatter, then the relu gradient). Here each chunk of samples goes through
patches, GEMM, bias + act and the pool while it is in one core's cache; only the pooled output, each
window's argmax tap and (for the weight gradient) the patches are kept. The backward pass needs no
full-resolution activation either: act is relu or linear, and relu' at a window's maximum is known from
the pooled value (pooled > 0), applied before the scatter — the same products as the two ops' (the pool
scatters g, the relu gradient multiplies by y > 0 where only the maximum received anything).

Only the conv outputs some window reads are computed (a 'valid' pool drops the last row and column of
an odd-sized output), and a first layer's 2x2 pool runs inside kernels/cpu_conv.c's direct kernel
(conv_direct_max_pool2), whose conv output never reaches memory at all.

Channels-last on the NumPy backend (float32 for speed; float64 runs the same formulas, for gradient
checks); the caller (layers.convolutional.fused_conv_pool) checks that, and anything else runs the two
ops. Values and gradients equal theirs up to the GEMMs' blocking (fewer rows change OpenBLAS's rounding
in the last bits); inference and training give the same values bit for bit (tests/test_conv_layers.py)."""
import numpy as np

from . import convolution as C
from . import pooling as Pl
from .core import Tensor, data, record
from .tape import grad_sink, recording

__all__ = ["conv_act_max_pool"]


def conv_act_max_pool(inputs, kernel, bias, activation, strides, padding, dilation_rate, pool_size, pool_strides,
                      pool_padding):
    """The pooled output of a conv (channels_last, activation 'relu' or 'linear') and a max pool."""
    if activation not in ("relu", "linear"):
        raise ValueError("conv_act_max_pool: activation must be 'relu' or 'linear', received %r" % (activation,))
    x = np.ascontiguousarray(data(inputs))
    W = data(kernel)
    b = None if bias is None else data(bias)
    nd = C._check_rank(x, "conv", (1, 2))
    strides = C._tuple(strides, nd, "strides")
    dilation = C._tuple(dilation_rate, nd, "dilation_rate")
    pool = C._tuple(pool_size, nd, "pool_size")
    pstrides = pool if pool_strides is None else C._tuple(pool_strides, nd, "strides")
    ksize, F = W.shape[:-2], W.shape[-1]
    groups = x.shape[-1] // W.shape[-2]
    outs, lo = C.conv_geometry(x.shape[1:-1], ksize, strides, dilation, C._padding_of(padding))
    pouts, plo = C.conv_geometry(outs, pool, pstrides, (1,) * nd, C._padding_of(pool_padding))
    if any(o <= 0 for o in outs + pouts) and x.size:
        raise ValueError("conv_act_max_pool: the output would be empty: input spatial shape %s, kernel %s, pool %s"
                         % (tuple(x.shape[1:-1]), tuple(ksize), pool))
    # Only the conv outputs some pool window reads are computed: a 'valid' pool leaves out the rows and
    # columns past its last window (the MNIST convnet's 11x11 -> 5x5 reads 10x10, 17% of the layer's work).
    # The rest take no part in the result or its gradients, so leaving them out changes neither.
    outs = tuple(min(o, max(1, (po - 1) * ps - pl + pk)) for o, po, ps, pl, pk in zip(outs, pouts, pstrides, plo, pool))
    N, P = x.shape[0], int(np.prod(outs))
    dtype = np.result_type(x.dtype, W.dtype)
    wg = C._w_groups(W, groups)
    train = recording()
    cols = C.im2col(x, ksize, strides, dilation, lo, outs, groups) if train else None
    y = np.empty((N,) + tuple(pouts) + (F,), dtype)
    arg = np.empty(y.shape, np.int8) if train and int(np.prod(pool)) < 2**7 else None
    direct = C.direct_kernel(x, W, b, groups, activation)
    # A first layer's 2x2/2 pool (the common case) runs inside the direct kernel, the conv output never
    # written: conv_direct_max_pool2, the same values and argmax as conv_direct then max_pool_forward. Its
    # windows are whole ones only: a 'same' pool of an odd size (a last window on the padding) runs below.
    pooled = direct is not None and nd == 2 and pool == pstrides == (2, 2) and plo == (0, 0) and \
        tuple(pouts) == tuple(o // 2 for o in outs) and (arg is not None or not train)
    # Elsewhere inference pools the raw conv sums and adds the bias and act to the pooled values only (a
    # quarter of them for 2x2): x -> act(x + b) is non-decreasing, rounding included, so the max commutes
    # with it and the values are the same bit for bit. Training keeps act before the pool, whose argmax
    # the backward pass needs as the two ops define it.
    if not train and not pooled:
        direct = C.direct_kernel(x, W, None, groups, "linear")

    def forward(i, j):
        if pooled:
            direct.conv_direct_max_pool2(
                x[i:j].ctypes.data, W.ctypes.data, None if b is None else b.ctypes.data, y[i:j].ctypes.data,
                None if arg is None else arg[i:j].ctypes.data, F, int(activation == "relu"),
                *C.c_geometry((j - i,) + x.shape[1:], outs, ksize, strides, lo, dilation))
            return None
        z = np.empty(((j - i) * P, F), dtype)
        if not train:
            C.conv_chunk(x, i, j, cols, W, wg, None, "linear", z, groups, strides, dilation, lo, outs, direct)
            yc = Pl.max_pool_values(z.reshape((j - i,) + tuple(outs) + (F,)), pool, pstrides, plo, pouts)
            y[i:j] = C._bias_act(yc.reshape(-1, F), b, activation)[0].reshape(yc.shape)
            return None
        C.conv_chunk(x, i, j, cols, W, wg, b, activation, z, groups, strides, dilation, lo, outs, direct)
        yc, ac = Pl.max_pool_forward(z.reshape((j - i,) + tuple(outs) + (F,)), pool, pstrides, plo, pouts)
        y[i:j] = yc
        if arg is not None:
            arg[i:j] = ac
            return None
        return ac  # a window of 128+ taps: the argmax needs a wider type, kept per chunk
    chunks = C.sample_chunks(N, P * (wg.shape[0] * wg.shape[1] + F) * dtype.itemsize)
    wide = dict(zip((i for i, _ in chunks), C._run_chunks(forward, chunks)))
    if not train:
        return Tensor(y)

    def backward(g, n):
        g = np.ascontiguousarray(g, dtype=dtype)
        need_w, need_b = n[1], b is not None and n[2]
        dx = np.empty(x.shape, dtype) if n[0] else None

        def chunk(i, j):
            gc = g[i:j].reshape(-1, F)
            if activation == "relu":  # relu' at each window's maximum: the pooled value > 0
                gc = C._act_grad(gc, y[i:j].reshape(-1, F), None, "relu")
            ac = arg[i:j] if arg is not None else wide[i]
            dz = Pl.max_pool_backward(gc.reshape((j - i,) + tuple(pouts) + (F,)), ac, (j - i,) + tuple(outs) + (F,),
                                      pool, pstrides, plo, pouts).reshape(-1, F)
            if dx is not None:
                dx[i:j] = C.conv_backward_data(dz, W, (j - i,) + x.shape[1:], strides, dilation, lo, outs, groups)
            if need_w or need_b:
                return C.conv_backward_weight(cols[:, i * P:j * P], dz, W.shape, groups, need_b)
            return None, None
        parts = C._run_chunks(chunk, chunks)
        gW = gb = None
        if need_w:
            gW = grad_sink(kernel, dtype)
            gW = parts[0][0].copy() if gW is None else _assign(gW, parts[0][0])
            for p, _ in parts[1:]:
                gW += p
        if need_b:
            gb = grad_sink(bias, dtype)
            gb = parts[0][1].copy() if gb is None else _assign(gb, parts[0][1])
            for _, p in parts[1:]:
                gb += p
        return dx, gW, gb
    ins = (inputs, kernel) if bias is None else (inputs, kernel, bias)
    return record(y, ins, backward)


def _assign(out, value):
    out[...] = value
    return out
