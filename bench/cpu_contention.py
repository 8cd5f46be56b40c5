"""Question: how much of each framework's CPU speed is left when other processes want the cores — gpunet, Keras 3
on JAX and PyTorch, each as a user runs it (default threads), quiet and beside 1 and 2 busy processes, in one run?

    python bench/cpu_contention.py [--rounds 2] [--only gpunet keras_jax torch] [--workloads mlp32 ...]
                                   [--torch-python PY] [--baseline DIR]

Workloads (synthetic data of the real shapes: the speed does not depend on the values):
  mlp32    784-128-10 MLP (relu, softmax), Adam, batch 32: a `fit` over 32,000 samples
  mlp128   the same at batch 128, 60,000 samples
  wide     784-1024-1024-10 MLP, batch 128, 10,240 samples
  convnet  the keras.io MNIST convnet, batch 128: a `fit` over 1,280 images, and `predict` on 2,560
  lstm     Input((100, 32)) LSTM(128) Dense(10), batch 64: a `fit` over 640 sequences
Each (framework, workload) runs in one fresh subprocess per round: it builds the model, warms up (compiles), then
times the workload at each contention level (0, 1, 2 busy processes, the order rotating with the round), three
times per level, keeping the fastest. A busy process is a Python loop started 0.6 s before the timing (the time gpunet's
policy needs to see it) and stopped after; it reports how many iterations per second it got, next to what it
gets alone: a framework that spins takes that away from it. Rounds rotate the frameworks' order too. The
report: per framework and workload the median step time at each level, the slowdown (busy over quiet) and the
ratio gpunet / Keras-JAX and gpunet / PyTorch at each level (and gpunet / the --baseline checkout's gpunet:
before and after a change, in one run). Writes bench/results/cpu_contention.json.
"""
import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUSY = ("import signal, sys, time\nn = 0; t0 = time.perf_counter()\n"
        "def stop(*_):\n    print(n / (time.perf_counter() - t0)); sys.stdout.flush(); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\nwhile True:\n    n += 1\n")
# (samples, batch) of the timed fit; the convnet also predicts PREDICT_N images
SIZES = {"mlp32": (32000, 32), "mlp128": (60000, 128), "wide": (10240, 128), "convnet": (1280, 128), "lstm": (640, 64)}
PREDICT_N = 2560


def _data(workload):
    import numpy as np
    rng = np.random.default_rng(0)
    n = SIZES[workload][0]
    if workload == "lstm":
        x = rng.standard_normal((n, 100, 32), dtype=np.float32)
    elif workload == "convnet":
        x = rng.random((max(n, PREDICT_N), 28, 28, 1), dtype=np.float32)
    else:
        x = rng.random((n, 784), dtype=np.float32)
    return x, rng.integers(0, 10, len(x)).astype("int64")


def _keras_model(keras, workload):
    L = keras.layers
    if workload in ("mlp32", "mlp128"):
        layers = [keras.Input((784,)), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
    elif workload == "wide":
        layers = [keras.Input((784,)), L.Dense(1024, activation="relu"), L.Dense(1024, activation="relu"),
                  L.Dense(10, activation="softmax")]
    elif workload == "convnet":
        layers = [keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                  L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5),
                  L.Dense(10, activation="softmax")]
    else:
        layers = [keras.Input((100, 32)), L.LSTM(128), L.Dense(10, activation="softmax")]
    m = keras.Sequential(layers)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def keras_runner(keras, workload):
    """{"train": fn, "predict": fn or None} for the same Keras script on gpunet or on Keras."""
    keras.utils.set_random_seed(0)
    x, y = _data(workload)
    n, batch = SIZES[workload]
    m = _keras_model(keras, workload)
    runs = {"train": lambda: m.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0, shuffle=False)}
    if workload == "convnet":
        runs["predict"] = lambda: m.predict(x[:PREDICT_N], batch_size=batch, verbose=0)
    return runs


def torch_runner(workload):
    import torch
    from torch import nn
    torch.manual_seed(0)
    x, y = _data(workload)
    n, batch = SIZES[workload]
    if workload in ("mlp32", "mlp128"):
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    elif workload == "wide":
        model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    elif workload == "convnet":
        x = x.transpose(0, 3, 1, 2).copy()
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    else:
        class LSTMHead(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.head = nn.LSTM(32, 128, batch_first=True), nn.Linear(128, 10)

            def forward(self, t):
                return self.head(self.lstm(t)[0][:, -1])
        model = LSTMHead()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def train():
        model.train()
        for i in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(X[i:i + batch]), Y[i:i + batch]).backward()
            opt.step()

    def predict():
        model.eval()
        with torch.no_grad():
            for i in range(0, PREDICT_N, batch):
                model(X[i:i + batch])
    runs = {"train": train}
    if workload == "convnet":
        runs["predict"] = predict
    return runs


def _runner(framework, workload):
    if framework in ("gpunet", "gpunet_base"):
        sys.path.insert(0, os.environ["GPUNET_BASE_ROOT"] if framework == "gpunet_base" else ROOT)
        import gpunet
        return keras_runner(gpunet, workload)
    if framework == "keras_jax":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras
        return keras_runner(keras, workload)
    return torch_runner(workload)


def measure(framework, workload, levels=(0,), reps=3):
    """{"levels": {level: {"step_ms", "predict_samples_s", "busy_rates"}}}: warm-up once, then each level."""
    runs = _runner(framework, workload)
    for fn in runs.values():
        fn()
    n, batch = SIZES[workload]
    out = {}
    for level in levels:
        procs = [subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, text=True)
                 for _ in range(level)]
        try:
            time.sleep(0.6 if level else 0.3)
            res = {}
            for name, fn in runs.items():
                best = 1e9
                for _ in range(reps):
                    t = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - t)
                res[name] = best
        finally:
            rates = []
            for p in procs:
                p.send_signal(signal.SIGTERM)
                rates.append(float(p.communicate(timeout=30)[0].strip() or "nan"))
        row = {"step_ms": res["train"] * 1e3 / -(-n // batch), "busy_rates": rates}
        if "predict" in res:
            row["predict_samples_s"] = PREDICT_N / res["predict"]
        out[str(level)] = row
    return {"levels": out}


WORKLOADS = {w: (lambda fw, _threads, w=w: measure(fw, w)["levels"]["0"]) for w in SIZES}


def busy_alone(seconds=2.0):
    p = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGTERM)
    return float(p.communicate(timeout=30)[0].strip())


def _python_for(framework, args):
    return args.torch_python if framework == "torch" and args.torch_python else sys.executable


def available(framework, args):
    code = {"gpunet": "import numpy", "gpunet_base": "import numpy", "keras_jax": "import jax, keras",
            "torch": "import torch"}[framework]
    return subprocess.run([_python_for(framework, args), "-c", code], capture_output=True,
                          env=dict(os.environ, KERAS_BACKEND="jax")).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=["gpunet", "keras_jax", "torch"])
    ap.add_argument("--workloads", nargs="*", default=list(SIZES))
    ap.add_argument("--torch-python", default=None, help="a Python with torch, if this one has none")
    ap.add_argument("--baseline", default=None, help="another gpunet checkout (the code before a change): its "
                    "runs are 'gpunet_base', paired with the others in the same run")
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.baseline:
        os.environ["GPUNET_BASE_ROOT"] = os.path.abspath(a.baseline)
        if "gpunet_base" not in a.only:
            a.only = a.only + ["gpunet_base"]
    if a.child:
        fw, wl, levels = a.child
        print(json.dumps(measure(fw, wl, [int(v) for v in levels.split(",")])))
        return
    frameworks = [f for f in a.only if available(f, a)]
    print("frameworks:", frameworks, flush=True)
    raw = {w: {f: [] for f in frameworks} for w in a.workloads}
    alone = [busy_alone()]
    for r in range(a.rounds):
        levels = [0, 1, 2][r % 3:] + [0, 1, 2][:r % 3]
        order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]
        for w in a.workloads:
            for f in order:
                p = subprocess.run([_python_for(f, a), os.path.abspath(__file__), "--child", f, w,
                                    ",".join(map(str, levels))], capture_output=True, text=True)
                if p.returncode:
                    print(p.stderr[-3000:], file=sys.stderr)
                    raise SystemExit("%s %s failed" % (f, w))
                res = json.loads(p.stdout.strip().splitlines()[-1])["levels"]
                raw[w][f].append(res)
                print("round %d %-8s %-9s %s" % (r, w, f, json.dumps(res)), flush=True)
        alone.append(busy_alone())
    print(json.dumps(report(raw, alone), indent=1))
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
           "versions": {f: versions(f, a) for f in frameworks},
           "command": " ".join(["python", "bench/cpu_contention.py"] + sys.argv[1:]), "busy_alone_rate": alone,
           "raw": raw, "summary": report(raw, alone)}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cpu_contention.json"), "w") as f:
        json.dump(out, f, indent=1)


def versions(framework, args):
    code = {"gpunet": "import numpy, threadpoolctl as t; print(numpy.__version__, [(i['internal_api'], i['version'])"
                      " for i in t.threadpool_info()])",
            "keras_jax": "import jax, keras; print('keras', keras.__version__, 'jax', jax.__version__)",
            "torch": "import torch; print(torch.__version__)"}.get(framework, "print('')")
    p = subprocess.run([_python_for(framework, args), "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, KERAS_BACKEND="jax"))
    return p.stdout.strip()


def report(raw, alone):
    """Medians over rounds: step ms, predict samples/s, slowdown vs quiet, gpunet's ratios, busy processes' rate."""
    rate0 = statistics.median(alone)
    summary = {}
    for w, by_fw in raw.items():
        s = {}
        for f, runs in by_fw.items():
            if not runs:
                continue
            row = {}
            for lv in ("0", "1", "2"):
                step = statistics.median(r[lv]["step_ms"] for r in runs)
                row["step_ms_" + lv] = round(step, 3)
                if "predict_samples_s" in runs[0][lv]:
                    row["predict_samples_s_" + lv] = round(statistics.median(r[lv]["predict_samples_s"] for r in runs))
                if lv != "0":
                    rates = [x for r in runs for x in r[lv]["busy_rates"]]
                    row["busy_rate_vs_alone_" + lv] = round(statistics.median(rates) / rate0, 3)
            for lv in ("1", "2"):
                row["slowdown_" + lv] = round(row["step_ms_" + lv] / row["step_ms_0"], 3)
            s[f] = row
        if "gpunet" in s:
            for other in ("keras_jax", "torch", "gpunet_base"):
                if other in s:
                    for lv in ("0", "1", "2"):
                        s["gpunet_over_%s_%s" % (other, lv)] = round(
                            s["gpunet"]["step_ms_" + lv] / s[other]["step_ms_" + lv], 3)
                        if "predict_samples_s_" + lv in s["gpunet"]:
                            s["gpunet_predict_rate_over_%s_%s" % (other, lv)] = round(
                                s["gpunet"]["predict_samples_s_" + lv] / s[other]["predict_samples_s_" + lv], 3)
        summary[w] = s
    return summary


if __name__ == "__main__":
    main()
