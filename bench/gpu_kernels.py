"""Question: how fast are gpunet's fused dense kernels next to cuBLAS (cupy.matmul + bias +
activation, what a framework without fusion runs), on the shapes that matter?

    GPUNET_BACKEND=cupy python bench/gpu_kernels.py [--out bench/results/gpu_kernels.json]

Shapes: batch 32/128/1024 x (784->128, 128->10, 1024->1024, 4096->4096), relu, forward and the
two backward kernels. Reports achieved TFLOP/s for each and the ratio to the cuBLAS composition, and
the softmax-cross-entropy kernels' GB/s. Each number is the median of CUDA-event-timed repeats.
Needs a CUDA device (the `device` tool's H100/H200); without one it says so and exits 2.
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
    from gpunet import backend, kernels
    if backend.name() != "cupy":
        print("no CUDA device: %s" % backend.info()["reason"], file=sys.stderr)
        return 2
    import cupy as cp
    info = backend.info()
    rows = []
    for batch in (32, 128, 1024):
        for k, n in ((784, 128), (128, 10), (1024, 1024), (4096, 4096)):
            x = cp.random.standard_normal((batch, k), dtype=cp.float32)
            w = cp.random.standard_normal((k, n), dtype=cp.float32) / k ** 0.5
            b = cp.zeros(n, dtype=cp.float32)
            dy = cp.random.standard_normal((batch, n), dtype=cp.float32)
            flops = 2.0 * batch * k * n
            y, z = kernels.dense_forward(x, w, b, "relu")
            t_fwd = timed(cp, lambda: kernels.dense_forward(x, w, b, "relu"))
            t_ref = timed(cp, lambda: cp.maximum(cp.matmul(x, w) + b, 0))
            t_bd = timed(cp, lambda: kernels.dense_backward(x, w, y, z, dy, "relu", True, False, False))
            t_bw = timed(cp, lambda: kernels.dense_backward(x, w, y, z, dy, "relu", False, True, True))
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
        t = timed(cp, lambda: kernels.softmax_xent_forward(z, lab, True, 0.0))
        xent.append({"rows": R, "classes": C, "fwd_us": t * 1e6, "fwd_gbs": (R * C * 4 + R * 16) / t / 1e9})
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"device": info, "date": time.strftime("%Y-%m-%d"), "command": "GPUNET_BACKEND=cupy python "
                   "bench/gpu_kernels.py", "dense_relu": rows, "softmax_xent": xent}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
