"""Question: what does one training step of the classic MLP (784-128-10, Adam) cost on a GPU, by gpunet's
captured launch program, the same program uncaptured, the tape path, PyTorch eager and
torch.compile(mode="reduce-overhead"), side by side in one run?

    python bench/gpu_step.py [--out DIR] [--batches 32 128 1024] [--steps 300] [--epochs 3]

Each row is microseconds per step in steady state: data resident on the device, the epoch's shuffle
included, the first epoch (compilation, capture, warm-up) excluded; the median of the later epochs,
each ended by a device sync. Ratios are against PyTorch eager in the same run. Synthetic data (the
step's cost does not depend on the values). The floor printed beside each batch: FLOPs and the
launches of gpunet's program (tests/test_gpu_step.py counts them), and the bytes the step must move.
`--smoke` runs a few steps of the gpunet rows through the emulated kernel tier (GPUNET_KERNELS=emulate)
to check the script where there is no GPU; those numbers mean nothing. Writes DIR/gpu_step.json
(default bench/results/).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def floor(batch, hidden=128, inputs=784, classes=10):
    """FLOPs of forward + backward (2 GEMMs forward, 2 weight gradients, 1 data gradient) and the bytes
    a step must at least move: the batch, the weights read three times, Adam's four flat buffers."""
    params = inputs * hidden + hidden + hidden * classes + classes
    flops = 2 * batch * (inputs * hidden + hidden * classes) * 3 - 2 * batch * inputs * hidden
    bytes_ = 4 * (batch * inputs + 3 * params + 4 * params * 2)
    return {"params": params, "gflop": flops / 1e9, "mbytes": bytes_ / 1e6}


def _data(n, inputs=784, classes=10):
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.random((n, inputs), dtype=np.float32), rng.integers(0, classes, n)


def run_gpunet(batch, steps, epochs, mode):
    """mode: graph (the captured program), nograph (the same launches, uncaptured), tape (run_eagerly)."""
    os.environ["GPUNET_CUDA_GRAPHS"] = "0" if mode == "nograph" else "1"
    import gpunet as keras
    x, y = _data(batch * steps)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              run_eagerly=mode == "tape")
    times = []

    class Clock(keras.callbacks.Callback):  # epoch hooks only: a batch hook would add a sync per step
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # the epoch's logs were read back: the device is done
            times.append((time.perf_counter() - self.t) / steps * 1e6)

    from gpunet.models import gpu_step
    built = []
    real = gpu_step.TrainProgram.build
    gpu_step.TrainProgram.build = staticmethod(lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    try:
        m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Clock()])
    finally:
        gpu_step.TrainProgram.build = staticmethod(real)
    program = built[-1] if built else None
    if mode != "tape" and program is None:
        raise RuntimeError("fit did not run the launch program (mode %s)" % mode)
    captured = bool(program is not None and program.runner.graphs)
    if mode == "graph" and keras.backend.kernels() == "cuda" and not captured:
        raise RuntimeError("the step was not captured as a CUDA graph")
    return {"us_per_step": statistics.median(times[1:]) if len(times) > 1 else times[0], "captured": captured,
            "launches_per_step": len(program.launches) if program is not None else None}


def run_torch(batch, steps, epochs, compiled):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False  # float32, as gpunet computes
    dev = torch.device("cuda")
    x, y = _data(batch * steps)
    xd, yd = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    fn = torch.compile(step, mode="reduce-overhead") if compiled else step
    times = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        order = torch.randperm(len(xd), device=dev)
        total = torch.zeros((), device=dev)
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            total += fn(xd[idx], yd[idx])
        total.item()
        times.append((time.perf_counter() - t) / steps * 1e6)
    return {"us_per_step": statistics.median(times[1:]) if len(times) > 1 else times[0]}


def _row(name, fn, *args):
    try:
        r = fn(*args)
    except Exception as e:  # one failing framework does not stop the others
        r = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")}
    r["name"] = name
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
    ap.add_argument("--steps", type=int, default=300, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="a few emulated gpunet steps, no GPU (numbers mean nothing)")
    a = ap.parse_args()
    if a.smoke:
        os.environ["GPUNET_KERNELS"] = "emulate"
        a.batches, a.steps, a.epochs = [32], 3, 2
    import gpunet
    env = {"device": gpunet.backend.info().get("device"), "backend": gpunet.backend.name(),
           "kernels": gpunet.backend.kernels(), "python": platform.python_version(), "argv": sys.argv[1:]}
    try:
        import cupy
        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception:
        pass
    try:
        import torch
        env["torch"] = torch.__version__
    except Exception:
        env["torch"] = None
    print(json.dumps({"env": env}), flush=True)
    rows = []
    for b in a.batches:
        f = floor(b)
        rs = [_row("gpunet graph", run_gpunet, b, a.steps, a.epochs, "graph"),
              _row("gpunet no graph", run_gpunet, b, a.steps, a.epochs, "nograph"),
              _row("gpunet tape", run_gpunet, b, a.steps, a.epochs, "tape")]
        if not a.smoke:
            rs += [_row("torch eager", run_torch, b, a.steps, a.epochs, False),
                   _row("torch.compile reduce-overhead", run_torch, b, a.steps, a.epochs, True)]
        ref = next((r["us_per_step"] for r in rs if r["name"] == "torch eager" and "us_per_step" in r), None)
        for r in rs:
            r.update(batch=b, floor=f)
            if ref and "us_per_step" in r:
                r["vs_torch_eager"] = round(r["us_per_step"] / ref, 3)
            print(json.dumps(r), flush=True)
        rows += rs
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gpu_step.json"), "w") as fh:
        json.dump({"env": env, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
