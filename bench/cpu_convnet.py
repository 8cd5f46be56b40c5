"""Question: how fast does gpunet train and run the keras.io MNIST convnet on the CPU, next to Keras 3 on
TensorFlow and on JAX and PyTorch, with the same data and thread count, in one run? And does the
unchanged script reach the test accuracy real Keras reaches?

    python bench/cpu_convnet.py [--rounds 3] [--epochs 2] [--threads 2] [--data DIR]
    python bench/cpu_convnet.py --accuracy [--epochs 15]     # the example in full, gpunet and Keras-TF

Model (keras.io/examples/vision/mnist_convnet): Conv2D(32,3,relu) MaxPool2 Conv2D(64,3,relu) MaxPool2
Flatten Dropout(0.5) Dense(10,softmax); Adam, categorical cross-entropy, batch 128, Fashion-MNIST 60k.
Each framework runs in a fresh subprocess per round (the order rotates: this machine is noisy); the
steady-state epoch is the median of each run's epochs after the first. Inference: predict() on the
10k test images, batch 128, best of 3. Peak RSS per process. Writes bench/results/cpu_convnet.json.

Floor, per training sample: forward 2·(26·26·32·9 + 11·11·64·288 + 1600·10) = 4.88 MFLOP, backward
(weight gradients of all three layers, data gradients of conv2 and dense) 2·4.88 − 2·26·26·32·9 = 9.37
MFLOP: 14.3 MFLOP/sample, 1.83 GFLOP per batch of 128, 0.86 TFLOP per epoch (the GFLOP/s column counts
this nominal work for every framework). Of conv2's 11x11 outputs the 2x2 pool reads 10x10; gpunet skips
the rest, which leaves 2·(26·26·32·9 + 10·10·64·288 + 1600·10) = 4.11 MFLOP forward, 11.9 in all.
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
FLOP_PER_SAMPLE = 14.26e6


def _load(data):
    sys.path.insert(0, ROOT)
    from gpunet.datasets import fashion_mnist
    (x, y), (xt, yt) = fashion_mnist.load_data(path=data)
    return x, y, xt, yt


def _peak_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


SEED = int(os.environ.get("BENCH_SEED", "0"))


def _keras_script(keras, epochs, data, accuracy=False):
    """The keras.io example, verbatim but for the dataset: the same code for gpunet and for Keras."""
    import numpy as np
    x_train, y_train, x_test, y_test = _load(data)
    num_classes, input_shape = 10, (28, 28, 1)
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        # the example's validation_split=0.1 is left out of the timing runs (they time 60k samples of
        # training) and kept in the accuracy run, which is the example as written
        model.fit(x_train, y_train, batch_size=128, epochs=1, validation_split=0.1 if accuracy else 0.0, verbose=0)
        times.append(time.perf_counter() - t)
    infer = []
    for _ in range(3):
        t = time.perf_counter()
        model.predict(x_test, batch_size=128, verbose=0)
        infer.append(time.perf_counter() - t)
    score = model.evaluate(x_test, y_test, verbose=0)
    return times, len(x_test) / min(infer), float(score[1])


def run_gpunet(epochs, data, threads, accuracy):
    t = time.perf_counter()
    import gpunet as keras
    imp = time.perf_counter() - t
    return (imp,) + _keras_script(keras, epochs, data, accuracy) + ({"backend": keras.backend.name()},)


def _run_keras(backend, epochs, data, accuracy):
    os.environ["KERAS_BACKEND"] = backend
    t = time.perf_counter()
    import keras
    imp = time.perf_counter() - t
    mod = __import__(backend)
    return (imp,) + _keras_script(keras, epochs, data, accuracy) + (
        {"keras": keras.__version__, backend: mod.__version__},)


def run_keras_tensorflow(epochs, data, threads, accuracy):
    return _run_keras("tensorflow", epochs, data, accuracy)


def run_keras_jax(epochs, data, threads, accuracy):
    return _run_keras("jax", epochs, data, accuracy)


def run_torch(epochs, data, threads, accuracy):
    t = time.perf_counter()
    import torch
    import numpy as np
    imp = time.perf_counter() - t
    torch.set_num_threads(threads)
    x, y, xt, yt = _load(data)
    x = torch.from_numpy(np.expand_dims(x.astype("float32") / 255, 1))
    xt = torch.from_numpy(np.expand_dims(xt.astype("float32") / 255, 1))
    y, yt = torch.from_numpy(y.astype("int64")), torch.from_numpy(yt.astype("int64"))
    torch.manual_seed(SEED)
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        m.train()
        t = time.perf_counter()
        perm = torch.randperm(len(x))
        total = torch.zeros(())
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            out = m(x[idx])
            loss = lossf(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        float(total)
        times.append(time.perf_counter() - t)
    m.eval()
    infer = []
    with torch.no_grad():
        for _ in range(3):
            t = time.perf_counter()
            pred = torch.cat([m(xt[i:i + 128]).softmax(1) for i in range(0, len(xt), 128)])
            infer.append(time.perf_counter() - t)
    acc = float((pred.argmax(1) == yt).float().mean())
    return imp, times, len(xt) / min(infer), acc, {"torch": torch.__version__}


RUNNERS = {"gpunet": run_gpunet, "keras_tensorflow": run_keras_tensorflow, "keras_jax": run_keras_jax,
           "torch": run_torch}


def child(name, epochs, data, threads, accuracy):
    imp, times, sps, acc, versions = RUNNERS[name](epochs, data, threads, accuracy)
    print(json.dumps({"import_s": imp, "epoch_s": times, "infer_samples_s": sps, "test_accuracy": acc,
                      "peak_mib": _peak_mib(), "versions": versions}))


def available(name):
    import importlib.util
    need = {"keras_tensorflow": ["keras", "tensorflow"], "keras_jax": ["keras", "jax"], "torch": ["torch"]}
    return all(importlib.util.find_spec(m) is not None for m in need.get(name, []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--accuracy", action="store_true", help="the example in full: gpunet and Keras-TF, once each")
    ap.add_argument("--data", default=os.path.join(os.environ.get("GPUNET_DATA_DIR", os.path.join(ROOT, "..", "shared",
                                                                                                  "datasets")),
                                                   "fashion-mnist"))
    ap.add_argument("--only", nargs="*", default=list(RUNNERS))
    ap.add_argument("--seed", type=int, default=0, help="the frameworks' random seed (initial weights, dropout)")
    ap.add_argument("--child")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.epochs, a.data, a.threads, a.accuracy)
    if a.accuracy:
        a.rounds = 1
        a.only = [n for n in a.only if n in ("gpunet", "keras_tensorflow")]
    out = a.out or os.path.join(HERE, "results", ("cpu_convnet_accuracy%s.json" % ("" if a.seed == 0 else "_seed%d" % a.seed))
                                if a.accuracy else "cpu_convnet.json")
    names = [n for n in a.only if available(n)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), GPUNET_BACKEND="numpy", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               TF_NUM_INTRAOP_THREADS=str(a.threads), TF_NUM_INTEROP_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=%d" % a.threads,
               BENCH_SEED=str(a.seed))
    runs = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            cmd = [sys.executable, __file__, "--child", n, "--epochs", str(a.epochs), "--data", a.data,
                   "--threads", str(a.threads)] + (["--accuracy"] if a.accuracy else [])
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print("%s failed:\n%s" % (n, p.stderr[-3000:]), file=sys.stderr)
                continue
            runs[n].append(json.loads(p.stdout.strip().splitlines()[-1]))
            last = runs[n][-1]
            print("round %d %-17s epochs %s  infer %.0f samples/s  acc %.4f  rss %.0f MiB"
                  % (r + 1, n, " ".join("%.1f" % t for t in last["epoch_s"]), last["infer_samples_s"],
                     last["test_accuracy"], last["peak_mib"]), file=sys.stderr)
    summary = {}
    for n, rs in runs.items():
        if not rs:
            continue
        steady = [statistics.median(r["epoch_s"][1:] or r["epoch_s"]) for r in rs]
        summary[n] = {"epoch_s_median": statistics.median(steady), "epoch_s_per_round": steady,
                      "infer_samples_s_median": statistics.median(r["infer_samples_s"] for r in rs),
                      "test_accuracy": [r["test_accuracy"] for r in rs],
                      "peak_rss_mib_max": max(r["peak_mib"] for r in rs), "versions": rs[0]["versions"]}
    base = summary.get("gpunet")
    print("\n%-17s %10s %12s %14s %12s %10s %9s" % ("framework", "epoch s", "vs gpunet", "infer samp/s",
                                                    "vs gpunet", "GFLOP/s", "RSS MiB"))
    for n, s in summary.items():
        e, i = s["epoch_s_median"], s["infer_samples_s_median"]
        print("%-17s %10.2f %11.2fx %14.0f %11.2fx %10.1f %9.0f" % (
            n, e, (e / base["epoch_s_median"]) if base else float("nan"), i,
            (i / base["infer_samples_s_median"]) if base else float("nan"), 60000 * FLOP_PER_SAMPLE / e / 1e9,
            s["peak_rss_mib_max"]))
    result = {"question": __doc__.strip().splitlines()[0], "command": " ".join(["python"] + sys.argv),
              "machine": {"cpus": os.cpu_count(), "threads": a.threads, "platform": platform.platform(),
                          "processor": platform.processor() or platform.machine(), "python": platform.python_version()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": a.rounds, "epochs": a.epochs,
              "accuracy_run": a.accuracy, "seed": a.seed, "flop_per_sample": FLOP_PER_SAMPLE, "summary": summary, "raw": runs}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
