"""Question: how long does one training step of an LSTM(128) over length-100 sequences, batch 64, take in
gpunet on the CPU, next to Keras 3 on JAX (and TensorFlow) and PyTorch, with the same data and thread
count, in one run?

    python bench/cpu_lstm.py [--rounds 3] [--epochs 3] [--threads 2] [--only gpunet keras_jax ...]

Model: Input((100, 32)) LSTM(128) Dense(10, softmax); Adam, sparse categorical cross-entropy, batch 64,
1,920 random sequences (30 steps per epoch). The same Keras script runs on gpunet and on Keras; PyTorch
runs nn.LSTM + nn.Linear (data in memory, zero_grad(set_to_none=True)). Each framework runs in a fresh
subprocess per round (the order rotates: this machine is noisy); a run's step time is the median of its
epochs after the first (compilation and warm-up), divided by the steps per epoch. Writes
bench/results/cpu_lstm.json.

Floor, per sample: forward 2·100·(32·512 + 128·512) = 16.4 MFLOP (the dense head is 2.6 kFLOP);
backward: the weight gradients of both kernels (16.4 MFLOP) and the state gradient through the recurrent
kernel (13.1 MFLOP; the input gradient is not needed): 45.9 MFLOP per sample, 2.94 GFLOP per step of 64.
Launches are not the limit on the CPU; the 100 dependent (64, 128) x (128, 512) GEMMs forward and 100
backward are: each is too small to use both cores well.
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
N, T, D, UNITS, CLASSES, BATCH = 1920, 100, 32, 128, 10, 64
FLOP_PER_STEP = BATCH * 2 * T * (2 * (D * 4 * UNITS + UNITS * 4 * UNITS) + UNITS * 4 * UNITS)


def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D)).astype("float32")
    y = (x[:, -10:, :CLASSES].sum(axis=1).argmax(axis=1)).astype("int32")  # a learnable target
    return x, y


def _keras_script(keras, epochs):
    x, y = _data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, D)), keras.layers.LSTM(UNITS),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    times, losses = [], []
    for _ in range(epochs):
        t = time.perf_counter()
        h = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
        losses.append(float(h.history["loss"][-1]))
    return times, losses


def run_gpunet(epochs, threads):
    import gpunet as keras
    return _keras_script(keras, epochs) + ({"backend": keras.backend.name()},)


def _run_keras(backend, epochs):
    os.environ["KERAS_BACKEND"] = backend
    import keras
    mod = __import__(backend)
    return _keras_script(keras, epochs) + ({"keras": keras.__version__, backend: mod.__version__},)


def run_keras_jax(epochs, threads):
    return _run_keras("jax", epochs)


def run_keras_tensorflow(epochs, threads):
    return _run_keras("tensorflow", epochs)


def run_torch(epochs, threads):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    x, y = _data()
    x, y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(D, UNITS, batch_first=True)
            self.head = torch.nn.Linear(UNITS, CLASSES)

        def forward(self, v):
            out, _ = self.lstm(v)
            return self.head(out[:, -1])
    m = Net()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    times, losses = [], []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(N)
        total = torch.zeros(())
        for i in range(0, N, BATCH):
            idx = perm[i:i + BATCH]
            loss = lossf(m(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        losses.append(float(total) / (N // BATCH))
        times.append(time.perf_counter() - t)
    return times, losses, {"torch": torch.__version__}


RUNNERS = {"gpunet": run_gpunet, "keras_jax": run_keras_jax, "keras_tensorflow": run_keras_tensorflow,
           "torch": run_torch}


def available(name):
    import importlib.util
    need = {"keras_tensorflow": ["keras", "tensorflow"], "keras_jax": ["keras", "jax"], "torch": ["torch"]}
    return all(importlib.util.find_spec(m) is not None for m in need.get(name, []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=list(RUNNERS))
    ap.add_argument("--child")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cpu_lstm.json"))
    a = ap.parse_args()
    if a.child:
        import resource
        times, losses, versions = RUNNERS[a.child](a.epochs, a.threads)
        print(json.dumps({"epoch_s": times, "loss": losses, "versions": versions,
                          "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
        return
    names = [n for n in a.only if available(n)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), GPUNET_BACKEND="numpy", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               TF_NUM_INTRAOP_THREADS=str(a.threads), TF_NUM_INTEROP_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=%d" % a.threads)
    steps = N // BATCH
    runs = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            p = subprocess.run([sys.executable, __file__, "--child", n, "--epochs", str(a.epochs), "--threads",
                                str(a.threads)], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print("%s failed:\n%s" % (n, p.stderr[-3000:]), file=sys.stderr)
                continue
            runs[n].append(json.loads(p.stdout.strip().splitlines()[-1]))
            last = runs[n][-1]
            print("round %d %-17s epochs %s s  loss %s" % (r + 1, n, " ".join("%.2f" % t for t in last["epoch_s"]),
                                                           " ".join("%.3f" % v for v in last["loss"])), file=sys.stderr)
    summary = {}
    for n, rs in runs.items():
        if rs:
            per_round = [statistics.median(x["epoch_s"][1:] or x["epoch_s"]) / steps * 1e3 for x in rs]
            summary[n] = {"step_ms_median": statistics.median(per_round), "step_ms_per_round": per_round,
                          "peak_rss_mib_max": max(x["peak_mib"] for x in rs), "versions": rs[0]["versions"]}
    ref = summary.get("keras_jax")
    print("\n%-17s %10s %14s %10s %9s" % ("framework", "step ms", "vs Keras/JAX", "GFLOP/s", "RSS MiB"))
    for n, s in summary.items():
        ms = s["step_ms_median"]
        print("%-17s %10.1f %13.2fx %10.1f %9.0f" % (n, ms, ms / ref["step_ms_median"] if ref else float("nan"),
                                                    FLOP_PER_STEP / ms / 1e6, s["peak_rss_mib_max"]))
    result = {"question": __doc__.strip().splitlines()[0], "command": " ".join(["python"] + sys.argv),
              "machine": {"cpus": os.cpu_count(), "threads": a.threads, "platform": platform.platform(),
                          "python": platform.python_version()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": a.rounds, "epochs": a.epochs,
              "steps_per_epoch": steps, "flop_per_step": FLOP_PER_STEP, "summary": summary, "raw": runs}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
