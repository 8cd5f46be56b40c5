"""Question: how fast does gpunet train MLPs on a GPU next to PyTorch eager and
torch.compile(mode="reduce-overhead"), same GPU, one run?

    GPUNET_DATA_DIR=.data/datasets python bench/gpu_mlp.py [--rounds 3] [--device cuda]

(a) classic MLP 784-128-10, Adam, batch 32/128/1024: steady-state epoch on Fashion-MNIST;
(b) wide MLP 784-4096-4096-10, batch 1024: samples/s (float32; PyTorch with allow_tf32=False);
(c) predict on 10k samples. Each framework runs in a fresh subprocess per round; ratios are taken
within a round. `--device cpu --samples 2048` smoke-tests the script where there is no GPU (the
numbers then mean nothing). Writes bench/results/gpu_mlp.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _data(data, samples):
    sys.path.insert(0, ROOT)
    from gpunet.datasets import fashion_mnist
    (x, y), (xt, _) = fashion_mnist.load_data(path=data)
    x = (x[:samples] / 255.0).astype("float32")
    return x, y[:samples].astype("int64"), (xt / 255.0).astype("float32")


def run_gpunet(a):
    import gpunet as keras
    x, y, xt = _data(a.data, a.samples)
    out = {"backend": keras.backend.name()}
    for bs in (32, 128, 1024):
        m = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        times = []
        for _ in range(3):
            t = time.perf_counter()
            m.fit(x, y, batch_size=bs, epochs=1, verbose=0)
            times.append(time.perf_counter() - t)
        out["classic_b%d_epoch_s" % bs] = statistics.median(times[1:])
    t = time.perf_counter()
    m.predict(xt, batch_size=1024, verbose=0)
    out["predict_10k_s"] = time.perf_counter() - t
    w = keras.Sequential([keras.Input((784,)), keras.layers.Dense(4096, activation="relu"),
                          keras.layers.Dense(4096, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    w.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xw = x.reshape(len(x), -1)
    w.fit(xw[:2048], y[:2048], batch_size=1024, verbose=0)
    t = time.perf_counter()
    w.fit(xw, y, batch_size=1024, epochs=1, verbose=0)
    out["wide_b1024_samples_per_s"] = len(xw) / (time.perf_counter() - t)
    return out


def run_torch(a, compiled):
    import torch
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    x, y, xt = _data(a.data, a.samples)
    x, y, xt = (torch.from_numpy(v).to(dev) for v in (x, y, xt))
    out = {"torch": torch.__version__, "compiled": compiled}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def train(model, xs, bs, epochs):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        lossf = torch.nn.CrossEntropyLoss()

        def step(xb, yb):
            out_ = model(xb)
            loss = lossf(out_, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.detach(), (out_.argmax(1) == yb).sum()
        fn = torch.compile(step, mode="reduce-overhead") if compiled else step
        times = []
        n = len(xs)
        for _ in range(epochs):
            sync()
            t = time.perf_counter()
            perm = torch.randperm(n, device=dev)
            tot = torch.zeros((), device=dev)
            for i in range(0, n - bs + 1, bs):  # full batches: one static shape for the captured graph
                idx = perm[i:i + bs]
                l, c = fn(xs[idx], y[idx])
                tot += l
            float(tot)
            times.append(time.perf_counter() - t)
        return times

    for bs in (32, 128, 1024):
        m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10)).to(dev)
        out["classic_b%d_epoch_s" % bs] = statistics.median(train(m, x, bs, 3)[1:])
    with torch.no_grad():
        sync()
        t = time.perf_counter()
        torch.cat([m(xt[i:i + 1024]).softmax(1) for i in range(0, len(xt), 1024)]).cpu()
        out["predict_10k_s"] = time.perf_counter() - t
    w = torch.nn.Sequential(torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
                            torch.nn.Linear(4096, 10)).to(dev)
    xw = x.reshape(len(x), -1)
    t = train(w, xw, 1024, 2)[-1]
    out["wide_b1024_samples_per_s"] = len(xw) / t
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--data", default=os.path.join(os.environ.get("GPUNET_DATA_DIR", os.path.join(ROOT, "..", "shared",
                                                                                                  "datasets")),
                                                   "fashion-mnist"))
    ap.add_argument("--child")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "gpu_mlp.json"))
    a = ap.parse_args()
    if a.child:
        r = run_gpunet(a) if a.child == "gpunet" else run_torch(a, a.child == "torch_compile")
        print(json.dumps(r))
        return 0
    env = dict(os.environ, PYTHONPATH=ROOT, GPUNET_BACKEND="cupy" if a.device == "cuda" else "numpy")
    names = ["gpunet", "torch_eager", "torch_compile"] if a.device == "cuda" else ["gpunet", "torch_eager"]
    runs = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            p = subprocess.run([sys.executable, __file__, "--child", n, "--device", a.device, "--samples",
                                str(a.samples), "--data", a.data], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print("%s failed:\n%s" % (n, p.stderr[-2000:]), file=sys.stderr)
                continue
            runs[n].append(json.loads(p.stdout.strip().splitlines()[-1]))
    keys = [k for k in runs["gpunet"][0] if k.endswith(("_s", "_per_s"))] if runs["gpunet"] else []
    summary = {n: {k: statistics.median(r[k] for r in rs) for k in keys if all(k in r for r in rs)}
               for n, rs in runs.items() if rs}
    print("%-26s" % "metric" + "".join("%16s" % n for n in summary))
    for k in keys:
        print("%-26s" % k + "".join("%16.4g" % summary[n].get(k, float("nan")) for n in summary))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"command": " ".join(["python", "bench/gpu_mlp.py"] + sys.argv[1:]), "device": a.device,
                   "date": time.strftime("%Y-%m-%d"), "runs": runs, "medians": summary}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
