"""Question: what does one training step of an MLP cost on a GPU, by gpunet's captured launch program, the
same program uncaptured, the tape path, PyTorch eager and PyTorch's whole step captured as a CUDA graph,
side by side in one run?

    python bench/gpu_step.py [--out DIR] [--models classic wide convnet lstm transformer] [--batches 32 128 1024]
                             [--steps 300] [--epochs 3] [--torch-compile]

Models: classic 784-128-10 at each of --batches; wide 784-4096-4096-10 at batch 1024 (--wide-steps per
epoch); convnet, lstm, transformer: bench/gpu_programs.py's families (keras.io's MNIST convnet at batch 128,
Embedding → LSTM(128)×100 at batch 64, keras.io's transformer block at batch 32), the same rows. Both Adam, sparse categorical cross-entropy, accuracy. Each row is microseconds per step in steady
state: data resident on the device, the epoch's shuffle included, the first epoch (compilation, capture,
warm-up) excluded; the median of the later epochs, each ended by a device sync. PyTorch rows: eager
(idiomatic: data on the GPU, zero_grad(set_to_none=True)) in FP32 (allow_tf32=False, as gpunet computes),
for the wide model also with TF32; "torch graph": the whole step (forward, backward, capturable Adam)
captured once with torch.cuda.graph and replayed, the batch copied into its static inputs each step;
--torch-compile adds torch.compile(mode="reduce-overhead") (compiling costs tens of seconds per shape).
Ratios: vs_torch_eager (µs / PyTorch eager FP32 µs) and vs_torch_graph, same model, batch and run. Synthetic
data (a step's cost does not depend on the values). The floor printed beside each batch: FLOPs, the bytes the
step must move, and the launches of gpunet's program (tests/test_gpu_step.py counts them).
`--smoke` runs a few steps of the gpunet rows through the emulated kernel tier (GPUNET_KERNELS=emulate),
the wide model shrunk to 784-64-64-10, to check the script where there is no GPU; those numbers mean
nothing. Writes DIR/gpu_step.json (default bench/results/).
"""
import argparse
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]
from step_timing import gpunet_timed_fit, row as _row, timed_steps  # noqa: E402  (beside this file)


MODELS = {"classic": (784, 128, 10), "wide": (784, 4096, 4096, 10)}
SMOKE_MODELS = {"classic": (784, 128, 10), "wide": (784, 64, 64, 10)}


def floor(batch, dims=MODELS["classic"]):
    """FLOPs of forward + backward (each layer's GEMM forward and weight gradient, every data gradient but the
    first layer's) and the bytes a step must at least move: the batch, the weights read three times, Adam's
    four flat buffers read and written."""
    pairs = list(zip(dims[:-1], dims[1:]))
    params = sum(k * n + n for k, n in pairs)
    flops = sum(2 * batch * k * n * 3 for k, n in pairs) - 2 * batch * dims[0] * dims[1]
    bytes_ = 4 * (batch * dims[0] + 3 * params + 4 * params * 2)
    return {"params": params, "gflop": flops / 1e9, "mbytes": bytes_ / 1e6}


def _data(n, inputs=784, classes=10):
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.random((n, inputs), dtype=np.float32), rng.integers(0, classes, n)


def run_gpunet(dims, batch, steps, epochs, mode, variant=None):
    """mode: graph (the captured program), nograph (the same launches, uncaptured), tape (run_eagerly);
    variant: GPUNET_DENSE_VARIANT for this run (None: the default rule)."""
    saved = os.environ.get("GPUNET_DENSE_VARIANT")
    if variant:
        os.environ["GPUNET_DENSE_VARIANT"] = variant
    try:
        return _run_gpunet(dims, batch, steps, epochs, mode)
    finally:
        if saved is None:
            os.environ.pop("GPUNET_DENSE_VARIANT", None)
        else:
            os.environ["GPUNET_DENSE_VARIANT"] = saved


def _run_gpunet(dims, batch, steps, epochs, mode):
    os.environ["GPUNET_CUDA_GRAPHS"] = "0" if mode == "nograph" else "1"
    import gpunet as keras
    x, y = _data(batch * steps, dims[0], dims[-1])
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((dims[0],))] + [keras.layers.Dense(n, activation="relu") for n in dims[1:-1]]
                         + [keras.layers.Dense(dims[-1], activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              run_eagerly=mode == "tape")
    us, program = gpunet_timed_fit(keras, m, x, y, batch, steps, epochs, mode)
    captured = bool(program is not None and program.runner.graphs)
    if mode == "graph" and keras.backend.kernels() == "cuda" and not captured:
        raise RuntimeError("the step was not captured as a CUDA graph")
    return {"us_per_step": us, "captured": captured,
            "launches_per_step": len(program.launches) if program is not None else None,
            "launches": [getattr(x, "name", "?") for x in program.launches] if program is not None else None}


def run_torch(dims, batch, steps, epochs, mode, tf32=False, device="cuda"):
    """mode: eager, graph (the whole step captured once with torch.cuda.graph, capturable Adam), compile."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = tf32  # False: float32, as gpunet computes
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device(device)
    x, y = _data(batch * steps, dims[0], dims[-1])
    xd, yd = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    torch.manual_seed(0)
    layers = []
    for k, n in zip(dims[:-2], dims[1:-1]):
        layers += [torch.nn.Linear(k, n), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(dims[-2], dims[-1])).to(dev)
    return timed_steps(torch, model, xd, yd, batch, steps, epochs, mode, device)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS) + ["convnet", "lstm", "transformer"],
                    default=["classic", "wide"])
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024], help="the classic model's batches")
    ap.add_argument("--steps", type=int, default=300, help="steps per epoch (classic)")
    ap.add_argument("--wide-steps", type=int, default=40, help="steps per epoch (wide, batch 1024)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--torch-compile", action="store_true", help="add torch.compile(mode='reduce-overhead') rows")
    ap.add_argument("--smoke", action="store_true", help="a few emulated gpunet steps, no GPU (numbers mean nothing)")
    ap.add_argument("--torch-device", default="cuda", help="cpu: check the PyTorch rows' code where there is no GPU")
    a = ap.parse_args()
    models = MODELS
    if a.smoke:
        os.environ["GPUNET_KERNELS"] = "emulate"
        models, a.batches, a.steps, a.wide_steps, a.epochs = SMOKE_MODELS, [32], 3, 2, 2
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
    runs = [("classic", b, a.steps) for b in a.batches] if "classic" in a.models else []
    runs += [("wide", 1024, a.wide_steps)] if "wide" in a.models else []
    rows = []
    for model, b, steps in runs:
        dims = models[model]
        f = floor(b, dims)
        rs = [_row(name, run_gpunet, dims, b, steps, a.epochs, mode, variant)
              for name, mode, variant in (("gpunet graph", "graph", None), ("gpunet no graph", "nograph", None),
                                          ("gpunet graph tile", "graph", "tile"), ("gpunet tape", "tape", None))]
        if not a.smoke or a.torch_device != "cuda":
            td = a.torch_device
            rs += [_row("torch eager", run_torch, dims, b, steps, a.epochs, "eager", False, td),
                   _row("torch graph", run_torch, dims, b, steps, a.epochs, "graph", False, td)]
            if model == "wide":
                rs += [_row("torch eager tf32", run_torch, dims, b, steps, a.epochs, "eager", True, td)]
            if a.torch_compile:
                rs += [_row("torch.compile reduce-overhead", run_torch, dims, b, steps, a.epochs, "compile", False, td)]
        ref = {n: next((r["us_per_step"] for r in rs if r["name"] == n and "us_per_step" in r), None)
               for n in ("torch eager", "torch graph")}
        for r in rs:
            r.update(model=model, dims=list(dims), batch=b, floor=f)
            for n, key in (("torch eager", "vs_torch_eager"), ("torch graph", "vs_torch_graph")):
                if ref[n] and "us_per_step" in r:
                    r[key] = round(r["us_per_step"] / ref[n], 3)
            print(json.dumps(r), flush=True)
        rows += rs
    families = [m for m in a.models if m not in MODELS]
    if families:  # the node programs' families: bench/gpu_programs.py's rows, in the same run
        import importlib.util
        spec = importlib.util.spec_from_file_location("gpu_programs", os.path.join(HERE, "gpu_programs.py"))
        programs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(programs)
        rows += programs.rows(families, a.epochs, a.smoke, a.torch_device, 50 if a.smoke else programs.VOCAB)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gpu_step.json"), "w") as fh:
        json.dump({"env": env, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
