"""Question: what do a training step and inference of the keras.io MNIST convnet cost on a GPU, with
gpunet's kernels (kernels/conv.cu, pool.cu: the tape path, since the captured step covers dense chains
only), next to PyTorch eager and torch.compile, in one run?

    GPUNET_BACKEND=cupy python bench/gpu_convnet.py [--batch 128] [--steps 200] [--out DIR]
    python bench/gpu_convnet.py --smoke      # a few steps through the emulated tier: checks the script only

Rows: microseconds per training step (steady state, after 20 warm-up steps, ended by a device sync;
synthetic data resident on the device) and inference samples/s (forward only, batch 1024). Ratios are
against PyTorch eager in the same run; TFLOP/s against the floor of 12.5 MFLOP per training sample
(see bench/cpu_convnet.py). Writes DIR/gpu_convnet.json (default bench/results/).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
FLOP_PER_SAMPLE = 12.5e6


def _sync():
    from gpunet import backend
    if backend.name() == "cupy":
        backend.get_xp().cuda.Device().synchronize()


def run_gpunet(batch, steps, infer_batch):
    import numpy as np
    import gpunet as keras
    L = keras.layers
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                          L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5),
                          L.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.random((batch, 28, 28, 1), dtype=np.float32))
    y = keras.ops.convert_to_tensor(rng.integers(0, 10, batch).astype(np.int32))
    warm = min(20, steps)
    for _ in range(warm):
        m.train_on_batch(x, y)
    _sync()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            m.train_on_batch(x, y)
        _sync()
        times.append((time.perf_counter() - t) / steps)
    xi = keras.ops.convert_to_tensor(rng.random((infer_batch, 28, 28, 1), dtype=np.float32))
    m(xi)
    _sync()
    t = time.perf_counter()
    for _ in range(10):
        m(xi)
    _sync()
    return statistics.median(times), infer_batch * 10 / (time.perf_counter() - t)


def run_torch(batch, steps, infer_batch, compiled):
    import torch
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10)).cuda()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(batch, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if compiled:
        step = torch.compile(step, mode="reduce-overhead")
    for _ in range(20):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) / steps)
    xi = torch.rand(infer_batch, 1, 28, 28, device="cuda")
    with torch.no_grad():
        m.eval()
        m(xi)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            m(xi)
        torch.cuda.synchronize()
    return statistics.median(times), infer_batch * 10 / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--infer-batch", type=int, default=1024)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        os.environ["GPUNET_KERNELS"] = "emulate"
        a.batch, a.steps, a.infer_batch = 4, 2, 4
    from gpunet import backend
    if backend.name() != "cupy" and not a.smoke:
        print("no CUDA device: %s (--smoke checks the script on the CPU)" % backend.info()["reason"], file=sys.stderr)
        return 2
    rows = {"gpunet": run_gpunet(a.batch, a.steps, a.infer_batch)}
    if a.smoke:
        print("smoke run: the script works (its numbers mean nothing)")
        return 0
    try:
        rows["torch_eager"] = run_torch(a.batch, a.steps, a.infer_batch, False)
        rows["torch_compile"] = run_torch(a.batch, a.steps, a.infer_batch, True)
    except Exception as e:  # no torch, or no compiler for torch.compile
        print("torch rows skipped: %s" % e, file=sys.stderr)
    ref = rows.get("torch_eager")
    print("%-14s %12s %10s %14s %10s %10s" % ("", "us/step", "vs eager", "infer samp/s", "vs eager", "TFLOP/s"))
    for n, (t, s) in rows.items():
        print("%-14s %12.1f %9.2fx %14.0f %9.2fx %10.2f" % (n, t * 1e6, (t / ref[0]) if ref else float("nan"), s,
                                                          (s / ref[1]) if ref else float("nan"),
                                                          a.batch * FLOP_PER_SAMPLE / t / 1e12))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gpu_convnet.json"), "w") as f:
        json.dump({"device": backend.info(), "date": time.strftime("%Y-%m-%d"), "batch": a.batch,
                   "command": " ".join(["python"] + sys.argv),
                   "rows": {n: {"us_per_step": t * 1e6, "infer_samples_s": s} for n, (t, s) in rows.items()}},
                  f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
