"""Question: how fast are gpunet's fused dense kernels next to cuBLAS (cupy.matmul + bias +
activation, what a framework without fusion runs), on the shapes that matter?

    GPUNET_BACKEND=cupy python bench/gpu_kernels.py [--out bench/results/gpu_kernels.json]

Shapes: batch 32/128/1024 x (784->128, 128->10, 1024->1024, 4096->4096), relu, forward and the
two backward kernels. Reports achieved TFLOP/s for each and the ratio to the cuBLAS composition, and
the softmax-cross-entropy kernels' GB/s. The convolution family (kernels/conv.cu, pool.cu, norm.cu):
the keras.io MNIST convnet's two convolutions at batch 128 and a ResNet 3x3 stage, forward, data and
weight gradients in TFLOP/s next to cuDNN through PyTorch (when torch is installed), and the 2x2 max
pool and batch-norm kernels in GB/s. The recurrent family (kernels/rnn.cu, attention.cu): the LSTM and GRU
cell kernels in GB/s, a whole LSTM(128) sequence op (length 100, batch 64, forward and backward) next to
cuDNN's LSTM through PyTorch, and the masked softmax in GB/s. Each number is the median of CUDA-event-timed repeats.
Needs a CUDA device (the `device` tool's H100/H200); without one it says so and exits 2.
Each sample here is one call between two events, so at small shapes it measures the host's launch cost as
much as the kernel: bench/gpu_probe.py's kernels section times the dense, softmax-xent and Adam kernels with
the launch overhead removed (calls captured in one CUDA graph, replayed); this script covers the rest.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def timed(cp, fn, reps=50):
    fn()
    cp.cuda.Stream.null.synchronize()
    out = []
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(cp.cuda.get_elapsed_time(start, end) * 1e-3)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results", "gpu_kernels.json"))
    a = ap.parse_args()
    from gpunet import backend
    from gpunet.kernels import dense, softmax_xent
    if backend.name() != "cupy":
        print("no CUDA device: %s" % backend.info()["reason"], file=sys.stderr)
        return 2
    import cupy as cp
    softmax_xent.CHECK_LABELS = False  # the label-range readback is a host sync: not part of a kernel's time
    info = backend.info()
    rows = []
    for batch in (32, 128, 1024):
        for k, n in ((784, 128), (128, 10), (1024, 1024), (4096, 4096)):
            x = cp.random.standard_normal((batch, k), dtype=cp.float32)
            w = cp.random.standard_normal((k, n), dtype=cp.float32) / k ** 0.5
            b = cp.zeros(n, dtype=cp.float32)
            dy = cp.random.standard_normal((batch, n), dtype=cp.float32)
            flops = 2.0 * batch * k * n
            y, z = dense.dense_forward(x, w, b, "relu")
            t_fwd = timed(cp, lambda: dense.dense_forward(x, w, b, "relu"))
            t_ref = timed(cp, lambda: cp.maximum(cp.matmul(x, w) + b, 0))
            t_bd = timed(cp, lambda: dense.dense_backward(x, w, y, z, dy, "relu", True, False, False))
            t_bw = timed(cp, lambda: dense.dense_backward(x, w, y, z, dy, "relu", False, True, True))
            dz = dy * (y > 0)
            t_bref = timed(cp, lambda: (cp.matmul(dz, w.T), cp.matmul(x.T, dz), dz.sum(0)))
            rows.append({"batch": batch, "in": k, "out": n,
                         "fwd_tflops": flops / t_fwd / 1e12, "cublas_fwd_tflops": flops / t_ref / 1e12,
                         "fwd_ratio_to_cublas": t_ref / t_fwd,
                         "bwd_data_tflops": flops / t_bd / 1e12, "bwd_weight_tflops": flops / t_bw / 1e12,
                         "bwd_ratio_to_cublas": t_bref / (t_bd + t_bw), "fwd_us": t_fwd * 1e6})
            r = rows[-1]
            print("%5d x %4d->%-4d fwd %7.2f TFLOP/s (cuBLAS+bias+relu %7.2f, ratio %.2f)  bwd ratio %.2f"
                  % (batch, k, n, r["fwd_tflops"], r["cublas_fwd_tflops"], r["fwd_ratio_to_cublas"],
                     r["bwd_ratio_to_cublas"]))
    xent = []
    for R, C in ((32, 10), (1024, 10), (1024, 1000)):
        z = cp.random.standard_normal((R, C), dtype=cp.float32)
        lab = cp.random.randint(0, C, R).astype(cp.int32)
        t = timed(cp, lambda: softmax_xent.softmax_xent_forward(z, lab, True, 0.0))
        xent.append({"rows": R, "classes": C, "fwd_us": t * 1e6, "fwd_gbs": (R * C * 4 + R * 16) / t / 1e9})
    conv = conv_rows(cp)
    rnn = rnn_rows(cp)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"device": info, "date": time.strftime("%Y-%m-%d"), "command": "GPUNET_BACKEND=cupy python "
                   "bench/gpu_kernels.py", "dense_relu": rows, "softmax_xent": xent,
                   "conv": conv, "rnn": rnn}, f, indent=2, default=str)
    return 0


def conv_rows(cp):
    """Implicit-GEMM convolution against cuDNN (torch), max pool and batch norm against bytes moved."""
    from gpunet.kernels import conv, norm, pool
    try:
        import torch
        torch.backends.cudnn.benchmark = True
    except ImportError:
        torch = None
    out = []
    # (N, H, W, C, F, k): MNIST conv1, conv2 (batch 128), a ResNet stage (batch 64, 32x32, 64 -> 64)
    for N, H, W, C, F, k in ((128, 28, 28, 1, 32, 3), (128, 13, 13, 32, 64, 3), (64, 32, 32, 64, 64, 3)):
        x = cp.random.standard_normal((N, H, W, C), dtype=cp.float32)
        w = cp.random.standard_normal((k, k, C, F), dtype=cp.float32) / (k * k * C) ** 0.5
        b = cp.zeros(F, dtype=cp.float32)
        outs, lo = (H - k + 1, W - k + 1), (0, 0)
        flops = 2.0 * N * outs[0] * outs[1] * F * k * k * C
        y, z = conv.conv_forward(x, w, b, "relu", (1, 1), (1, 1), lo, outs, 1)
        dy = cp.random.standard_normal(y.shape, dtype=cp.float32).reshape(-1, F)
        t_f = timed(cp, lambda: conv.conv_forward(x, w, b, "relu", (1, 1), (1, 1), lo, outs, 1))
        t_d = timed(cp, lambda: conv.conv_backward_data(dy, w, x.shape, (1, 1), (1, 1), lo, outs, 1, y, None, "relu"))
        t_w = timed(cp, lambda: conv.conv_backward_weight(x, dy, w.shape, (1, 1), (1, 1), lo, outs, 1, True, y,
                                                             None, "relu"))
        row = {"shape": [N, H, W, C, F, k], "fwd_tflops": flops / t_f / 1e12, "bwd_data_tflops": flops / t_d / 1e12,
               "bwd_weight_tflops": flops / t_w / 1e12}
        if torch is not None:
            xt = torch.randn(N, C, H, W, device="cuda")
            wt = torch.randn(F, C, k, k, device="cuda")
            conv = torch.nn.functional.conv2d
            t_ref = timed(cp, lambda: torch.relu(conv(xt, wt)))
            row["cudnn_fwd_tflops"] = flops / t_ref / 1e12
            row["fwd_ratio_to_cudnn"] = t_ref / t_f
        out.append(row)
        print("conv %-22s fwd %6.2f TFLOP/s  dgrad %6.2f  wgrad %6.2f  (cuDNN fwd %s)" % (
            row["shape"], row["fwd_tflops"], row["bwd_data_tflops"], row["bwd_weight_tflops"],
            "%.2f" % row["cudnn_fwd_tflops"] if "cudnn_fwd_tflops" in row else "n/a"))
    x = cp.random.standard_normal((128, 26, 26, 32), dtype=cp.float32)
    t = timed(cp, lambda: pool.max_pool_op(None, x, (2, 2), (2, 2), (0, 0), (13, 13), "channels_last",
                                              lambda y, i, f: y))
    out.append({"op": "max_pool 2x2 (128,26,26,32)", "us": t * 1e6, "gbs": x.nbytes * 1.5 / t / 1e9})
    xb = cp.random.standard_normal((128 * 32 * 32, 64), dtype=cp.float32)
    t = timed(cp, lambda: norm.batch_norm_train_op(None, None, None, xb, None, None, 1, 1e-3, lambda y, i, f: y))
    out.append({"op": "batch_norm train (131072, 64)", "us": t * 1e6, "gbs": xb.nbytes * 4 / t / 1e9})
    for r in out[-2:]:
        print("%-32s %8.1f us  %6.1f GB/s" % (r["op"], r["us"], r["gbs"]))
    return out


def rnn_rows(cp):
    """The cell kernels against the bytes they move, the whole sequence op against cuDNN, the masked softmax."""
    import numpy as np
    from gpunet import ops
    from gpunet.kernels.rnn import CudaCells
    from gpunet.ops import rnn as rnn_ops
    from gpunet.ops.attention import masked_softmax
    from gpunet.ops.tape import GradientTape, Variable
    out = []
    cells = CudaCells()
    for kind, B, H in (("lstm", 64, 128), ("lstm", 256, 512), ("gru", 64, 128), ("gru", 256, 512)):
        G = rnn_ops.GATES[kind]
        S = rnn_ops._Buffers()
        S.kind, S.B, S.H, S.act, S.ract, S.M, S.b_rec = kind, B, H, 1, 2, None, None
        S.pre = cp.random.standard_normal((1, B, G * H), dtype=cp.float32)
        S.rec = cp.random.standard_normal((B, G * H), dtype=cp.float32)
        S.hs = cp.zeros((2, B, H), dtype=cp.float32)
        S.cs = cp.zeros((2, B, H), dtype=cp.float32) if kind == "lstm" else None
        S.acs = cp.zeros((1, B, H), dtype=cp.float32) if kind == "lstm" else None
        S.rhs = cp.zeros((1, B, H), dtype=cp.float32) if kind == "gru" else None
        t = timed(cp, lambda: cells.forward(S, 0))
        moved = 4 * B * H * (3 * G + (5 if kind == "lstm" else 3))  # gates in+out, rec, states
        out.append({"op": "%s cell forward (%d, %d)" % (kind, B, H), "us": t * 1e6, "gbs": moved / t / 1e9})
    B, T, D, H = 64, 100, 32, 128
    rng = np.random.default_rng(0)
    vs = [Variable(rng.standard_normal(s).astype(np.float32) * 0.1) for s in
          ((B, T, D), (B, H), (B, H), (D, 4 * H), (H, 4 * H), (4 * H,))]

    def step():
        with GradientTape() as tape:
            y = rnn_ops.sequence("lstm", *vs)
            loss = ops.sum(y)
        tape.gradient(loss, vs)
    t = timed(cp, step, reps=10)
    row = {"op": "LSTM(128) sequence fwd+bwd (64, 100, 32)", "ms": t * 1e3}
    try:
        import torch
        lstm = torch.nn.LSTM(D, H, batch_first=True).cuda()
        xt = torch.randn(B, T, D, device="cuda", requires_grad=True)

        def ref():
            lstm(xt)[0].sum().backward()
        row["cudnn_ms"] = timed(cp, ref, reps=10) * 1e3
        row["ratio_to_cudnn"] = row["cudnn_ms"] / row["ms"]
    except ImportError:
        pass
    out.append(row)
    x = cp.random.standard_normal((64, 8, 128, 128), dtype=cp.float32)
    mask = cp.asarray(rng.random((64, 1, 128, 128)) > 0.2)
    t = timed(cp, lambda: masked_softmax(x, mask))
    out.append({"op": "masked softmax (64, 8, 128, 128)", "us": t * 1e6, "gbs": (2 * x.nbytes + mask.nbytes) / t / 1e9})
    for r in out:
        print("%-44s %s" % (r["op"], "  ".join("%s %.2f" % (k, v) for k, v in r.items() if k != "op")))
    return out


if __name__ == "__main__":
    sys.exit(main())
