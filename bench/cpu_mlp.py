"""Question: how fast does gpunet train the classic MLP on the CPU, next to PyTorch, Keras 3 on JAX and
a plain hand-written NumPy loop — same data, same model, same thread count, in one run?

    python bench/cpu_mlp.py [--rounds 5] [--epochs 3] [--threads 2] [--data DIR]

784-128-10 MLP (relu, softmax), Adam (lr 1e-3, eps 1e-7), batch 32, Fashion-MNIST 60k, shuffled.
Each framework runs in a fresh subprocess per round (rounds rotate the order, since this machine is
noisy); the steady-state epoch time is the median over rounds of each run's epochs after the first.
Also: `import` time and peak RSS. Writes bench/results/cpu_mlp.json.
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

# floor: FLOPs per step (forward + weight gradients; no input gradient for the first layer)
FLOPS_PER_STEP = 2 * 32 * (784 * 128 + 128 * 10) * 2 + 2 * 32 * 128 * 10


def _load(data):
    sys.path.insert(0, ROOT)
    from gpunet.datasets import fashion_mnist
    (x, y), _ = fashion_mnist.load_data(path=data)
    return (x.astype("float32") / 255.0), y.astype("int64")


def _peak_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_keras_api(keras, epochs, data):
    """The same Keras script for gpunet and for Keras itself: that is the point of the comparison."""
    x, y = _load(data)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        m.fit(x, y, batch_size=32, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    return times


def run_gpunet(epochs, data):
    t = time.perf_counter()
    import gpunet as keras
    imp = time.perf_counter() - t
    times = _run_keras_api(keras, epochs, data)
    return imp, times, {"backend": keras.backend.name(), "version": keras.__version__}


def run_keras_jax(epochs, data):
    os.environ["KERAS_BACKEND"] = "jax"
    t = time.perf_counter()
    import keras
    imp = time.perf_counter() - t
    times = _run_keras_api(keras, epochs, data)
    import jax
    return imp, times, {"keras": keras.__version__, "jax": jax.__version__}


def run_torch(epochs, data, threads):
    t = time.perf_counter()
    import torch
    imp = time.perf_counter() - t
    torch.set_num_threads(threads)
    x, y = _load(data)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    times = []
    n = len(x)
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(n)
        total = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, 32):
            idx = perm[i:i + 32]
            xb, yb = x[idx], y[idx]
            out = m(xb)
            loss = lossf(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # metrics like Keras's logs, accumulated without a sync
                total += loss.detach() * len(xb)
                correct += (out.argmax(1) == yb).sum()
        float(total)
        times.append(time.perf_counter() - t)
    return imp, times, {"torch": torch.__version__}


def run_numpy_loop(epochs, data):
    """The plain hand-written NumPy loop a user would write: no framework at all."""
    t = time.perf_counter()
    import numpy as np
    imp = time.perf_counter() - t
    x, y = _load(data)
    x = x.reshape(len(x), -1)
    rng = np.random.default_rng(0)
    lim1, lim2 = np.sqrt(6 / (784 + 128)), np.sqrt(6 / (128 + 10))
    params = [rng.uniform(-lim1, lim1, (784, 128)).astype("f"), np.zeros(128, "f"),
              rng.uniform(-lim2, lim2, (128, 10)).astype("f"), np.zeros(10, "f")]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    step = 0
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = rng.permutation(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            xb, yb = x[idx], y[idx]
            W1, b1, W2, b2 = params
            h = np.maximum(xb @ W1 + b1, 0)
            z = h @ W2 + b2
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            dz = p
            dz[np.arange(len(yb)), yb] -= 1
            dz /= len(yb)
            dh = (dz @ W2.T) * (h > 0)
            grads = [xb.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
            step += 1
            alpha = 1e-3 * np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step)
            for prm, g, m_, v_ in zip(params, grads, ms, vs):
                m_ += (g - m_) * 0.1
                v_ += (g * g - v_) * 0.001
                prm -= alpha * m_ / (np.sqrt(v_) + 1e-7)
        times.append(time.perf_counter() - t)
    return imp, times, {"numpy": np.__version__}


RUNNERS = {"gpunet": run_gpunet, "keras_jax": run_keras_jax, "torch": run_torch, "numpy_loop": run_numpy_loop}


def child(name, epochs, data, threads):
    fn = RUNNERS[name]
    imp, times, versions = fn(epochs, data, threads) if name == "torch" else fn(epochs, data)
    print(json.dumps({"import_s": imp, "epoch_s": times, "peak_mib": _peak_mib(), "versions": versions}))


def available(name):
    mod = {"keras_jax": "jax", "torch": "torch"}.get(name)
    if mod is None:
        return True
    import importlib.util
    return importlib.util.find_spec(mod) is not None and (name != "keras_jax" or importlib.util.find_spec("keras"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(os.environ.get("GPUNET_DATA_DIR", os.path.join(ROOT, "..", "shared", "datasets")), "fashion-mnist"))
    ap.add_argument("--only", nargs="*", default=list(RUNNERS))
    ap.add_argument("--child")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cpu_mlp.json"))
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.epochs, a.data, a.threads)
    names = [n for n in a.only if available(n)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), GPUNET_BACKEND="numpy", PYTHONPATH=ROOT,
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=%d" % a.threads)
    runs = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            p = subprocess.run([sys.executable, __file__, "--child", n, "--epochs", str(a.epochs), "--data", a.data,
                                "--threads", str(a.threads)], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print("%s failed:\n%s" % (n, p.stderr[-3000:]), file=sys.stderr)
                continue
            runs[n].append(json.loads(p.stdout.strip().splitlines()[-1]))
            print("round %d %-10s epochs %s" % (r + 1, n, " ".join("%.2f" % t for t in runs[n][-1]["epoch_s"])),
                  file=sys.stderr)
    summary = {}
    for n, rs in runs.items():
        if not rs:
            continue
        steady = [statistics.median(r["epoch_s"][1:] or r["epoch_s"]) for r in rs]
        summary[n] = {"epoch_s_median": statistics.median(steady), "epoch_s_per_round": steady,
                      "first_epoch_s_median": statistics.median(r["epoch_s"][0] for r in rs),
                      "import_s_median": statistics.median(r["import_s"] for r in rs),
                      "peak_mib_median": statistics.median(r["peak_mib"] for r in rs),
                      "versions": rs[0]["versions"]}
    # the machine is noisy and slows every framework in a round alike: the ratio is taken within each
    # round (same minutes, same neighbours) and its median reported
    g = summary["gpunet"]["epoch_s_per_round"]
    for n, s in summary.items():
        pairs = [a / b for a, b in zip(s["epoch_s_per_round"], g)]
        s["ratio_to_gpunet_per_round"] = pairs
        s["ratio_to_gpunet"] = statistics.median(pairs)
    steps = 1875
    print("\nclassic MLP 784-128-10, Adam, batch 32, Fashion-MNIST 60k, %d threads, median of %d rounds"
          % (a.threads, a.rounds))
    print("%-11s %10s %10s %12s %10s %10s" % ("framework", "s/epoch", "us/step", "vs gpunet", "import s", "peak MiB"))
    for n, s in summary.items():
        print("%-11s %10.3f %10.1f %11.2fx %10.3f %10.0f" % (n, s["epoch_s_median"], s["epoch_s_median"] / steps * 1e6,
                                                          s["ratio_to_gpunet"], s["import_s_median"],
                                                          s["peak_mib_median"]))
    print("(vs gpunet: median over rounds of that round's epoch-time ratio; > 1 means slower than gpunet)")
    print("floor: %.1f MFLOP/step of matmuls (~%.0f us/step on one core at ~65 GFLOP/s sgemm)"
          % (FLOPS_PER_STEP / 1e6, FLOPS_PER_STEP / 65e9 * 1e6))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"question": "CPU training speed of the classic MLP vs PyTorch, Keras/JAX, plain NumPy",
                   "command": "python bench/cpu_mlp.py --rounds %d --epochs %d --threads %d"
                              % (a.rounds, a.epochs, a.threads),
                   "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                               "python": platform.python_version()},
                   "date": time.strftime("%Y-%m-%d"), "flops_per_step": FLOPS_PER_STEP, "results": summary}, f,
                  indent=2)


if __name__ == "__main__":
    main()
