"""Question: from what GEMM size on does a second BLAS thread pay, on a quiet machine — per GEMM and over a
whole training step? (The crossover gpunet/common/threads.py's GEMM_MIN_WORK writes down.)

    python bench/cpu_threads.py [--rounds 3] [--threads 2]

Part 1, per GEMM: float32 (m, k) x (k, n) products of the shapes gpunet's CPU workloads run (the classic and
the wide MLP, the LSTM's step and input projection) and a ladder between them, each timed on 1 and on
`--threads` OpenBLAS threads (threadpoolctl), best of 5 repeats of a loop of ~0.2 s, interleaved per shape.
Part 2, per step: the classic 784-128-10 MLP (batch 32, Adam) and the LSTM(128) benchmark model, each with its
GEMMs kept on one thread (GEMM_MIN_WORK above all of them), at gpunet's crossover, and with all of them on
`--threads` (GEMM_MIN_WORK 0), in fresh subprocesses, rounds rotating the order. Writes bench/results/cpu_threads.json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHAPES = [(32, 128, 10), (32, 256, 128), (64, 128, 128), (32, 784, 128), (784, 32, 128), (64, 128, 512),
          (64, 256, 256), (128, 256, 256), (128, 512, 512), (128, 784, 1024), (128, 1024, 1024), (6400, 32, 512)]


def gemm_rows(threads):
    import numpy as np
    import threadpoolctl
    libs = [c for c in threadpoolctl.ThreadpoolController().lib_controllers if c.user_api == "blas"]
    rows = []
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        reps = max(3, int(2e7 / (m * k * n)))
        best = {1: 1e9, threads: 1e9}
        for _ in range(5):
            for t in (1, threads):
                for lib in libs:
                    lib.set_num_threads(t)
                np.matmul(a, b, out=out)
                s = time.perf_counter()
                for _ in range(reps):
                    np.matmul(a, b, out=out)
                best[t] = min(best[t], (time.perf_counter() - s) / reps)
        rows.append({"m": m, "k": k, "n": n, "mnk": m * k * n, "us_1": best[1] * 1e6, "us_n": best[threads] * 1e6,
                     "speedup": best[1] / best[threads]})
        print("%5d %5d %5d  mnk %9.3g  1 thread %8.1f us  %d threads %8.1f us  %.2fx" % (
            m, k, n, m * k * n, best[1] * 1e6, threads, best[threads] * 1e6, best[1] / best[threads]), flush=True)
    return rows


def child(workload, min_work):
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    from gpunet.common import threads
    if min_work >= 0:  # -1: gpunet's own crossover
        threads.GEMM_MIN_WORK = min_work
    import cpu_contention
    print(json.dumps(cpu_contention.WORKLOADS[workload]("gpunet", 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], int(a.child[1]))
    sys.path.insert(0, ROOT)
    from gpunet.common import threads
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
           "gemm_min_work": threads.GEMM_MIN_WORK, "blas": threads.blas_info(),
           "command": "python bench/cpu_threads.py --rounds %d --threads %d" % (a.rounds, a.threads),
           "gemm": gemm_rows(a.threads), "steps": {}}
    variants = [("one_thread", 1 << 62), ("default", -1), ("all_threads", 0)]
    for workload in ("mlp32", "lstm"):
        res = {v: [] for v, _ in variants}
        for r in range(a.rounds):
            for v, w in variants[r % 3:] + variants[:r % 3]:
                p = subprocess.run([sys.executable, __file__, "--child", workload, str(w)], capture_output=True,
                                   text=True, env=dict(os.environ, GPUNET_CPU_THREADS=str(a.threads)))
                if p.returncode:
                    raise SystemExit(p.stderr)
                res[v].append(json.loads(p.stdout.strip().splitlines()[-1])["step_ms"])
        med = {v: statistics.median(x) for v, x in res.items()}
        out["steps"][workload] = {"raw_step_ms": res, "median_step_ms": med,
                                  "all_over_one": med["all_threads"] / med["one_thread"],
                                  "default_over_one": med["default"] / med["one_thread"]}
        print(workload, json.dumps(out["steps"][workload]), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cpu_threads.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
