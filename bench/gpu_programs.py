"""Question: what does one training step cost on a GPU for the three model families the node programs cover —
keras.io's MNIST convnet at batch 128, Embedding → LSTM(128) over 100 steps at batch 64, keras.io's transformer
block at batch 32 — by gpunet's captured program, the same launches uncaptured, the tape, PyTorch eager and
PyTorch's whole step captured as a CUDA graph (the same layers), side by side in one run?

    python bench/gpu_programs.py [--out DIR] [--models convnet lstm transformer] [--epochs 3]
    python bench/gpu_programs.py --smoke     # the gpunet rows in the emulated tier at toy sizes: the script only

Rows: µs per step in steady state (data resident on the device, the first epoch excluded, the median of the
later ones, each ended by a device sync), the launches per step of gpunet's program and its floor (one launch per
product and the optimizer update, tests/test_*_program.py), and ratios vs_torch_eager / vs_torch_graph from the
same run. PyTorch in FP32 (TF32 off, as gpunet computes; its LSTM is cuDNN's). Targets (issue 33, to be measured):
the convnet epoch ≤ 0.5× PyTorch eager; the LSTM step ≤ 1× cuDNN's through PyTorch. bench/gpu_step.py runs these
rows too (--models convnet lstm transformer), and so the probe's `step` section. Writes DIR/gpu_programs.json.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]
from step_timing import gpunet_timed_fit, row as _row, timed_steps  # noqa: E402  (beside this file)

# name: (batch, steps per epoch, input shape, classes)
FAMILIES = {"convnet": (128, 60, (28, 28, 1), 10), "lstm": (64, 12, (100,), 2), "transformer": (32, 30, (200,), 2)}
SMOKE = {"convnet": (8, 2, (12, 12, 1), 10), "lstm": (4, 2, (6,), 2), "transformer": (4, 2, (6,), 2)}


def launch_floor(family, shape):
    """One launch per product and the optimizer update (the program tests print the same): the convnet's 2 conv
    and 1 dense forward, 2 + 1 conv and 2 dense backward; the LSTM's input GEMM, T recurrent GEMMs and the head
    forward, T − 1 dh GEMMs, dW, dU, dX and the head's 2 backward; the transformer block's 8 dense products × 3
    and its 6 attention products."""
    if family == "convnet":
        return 9
    if family == "lstm":
        return 2 * shape[0] + 7
    return 31
VOCAB = 20000


def _gpunet_model(keras, family, shape, classes, vocab):
    L = keras.layers
    if family == "convnet":  # keras.io examples/vision/mnist_convnet
        return keras.Sequential([keras.Input(shape), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                                 L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5),
                                 L.Dense(classes, activation="softmax")])
    if family == "lstm":
        return keras.Sequential([keras.Input(shape), L.Embedding(vocab, 128), L.LSTM(128),
                                 L.Dense(classes, activation="softmax")])
    i = keras.Input(shape)  # keras.io examples/nlp/text_classification_with_transformer, as a Functional graph
    x = L.Embedding(vocab, 32)(i)
    a = L.MultiHeadAttention(num_heads=2, key_dim=32)(x, x)
    x1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, L.Dropout(0.1)(a)]))
    f = L.Dropout(0.1)(L.Dense(32)(L.Dense(32, activation="relu")(x1)))
    x2 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x1, f]))
    p = L.Dropout(0.1)(L.Dense(20, activation="relu")(L.Dropout(0.1)(L.GlobalAveragePooling1D()(x2))))
    return keras.Model(i, L.Dense(classes, activation="softmax")(p))


def _data(family, n, shape, classes, vocab):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((n,) + shape, dtype=np.float32) if family == "convnet" else \
        rng.integers(0, vocab, (n,) + shape).astype(np.float32)
    return x, rng.integers(0, classes, n)


def run_gpunet(family, batch, steps, epochs, shape, classes, vocab, mode):
    """mode: graph (the captured program), nograph (the same launches, uncaptured), tape (run_eagerly)."""
    os.environ["GPUNET_CUDA_GRAPHS"] = "0" if mode == "nograph" else "1"
    import gpunet as keras
    x, y = _data(family, batch * steps, shape, classes, vocab)
    keras.utils.set_random_seed(0)
    m = _gpunet_model(keras, family, shape, classes, vocab)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              run_eagerly=mode == "tape")
    us, program = gpunet_timed_fit(keras, m, x, y, batch, steps, epochs, mode)
    return {"us_per_step": us,
            "captured": bool(program is not None and program.runner.graphs),
            "launches_per_step": len(program.launches) if program is not None else None,
            "program": repr(program) if program is not None else None}


def _torch_model(torch, family, classes, vocab):
    nn = torch.nn
    if family == "convnet":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.LazyLinear(classes))

    class LSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.head = nn.Embedding(vocab, 128), nn.LSTM(128, 128, batch_first=True), \
                nn.Linear(128, classes)

        def forward(self, t):
            return self.head(self.lstm(self.emb(t))[0][:, -1])

    class Block(nn.Module):  # Keras's MultiHeadAttention(num_heads=2, key_dim=32): 2 heads of 32 each
        def __init__(self, E=32, H=2, d=32):
            super().__init__()
            self.emb = nn.Embedding(vocab, E)
            self.q, self.k, self.v, self.o = nn.Linear(E, H * d), nn.Linear(E, H * d), nn.Linear(E, H * d), \
                nn.Linear(H * d, E)
            self.ln1, self.ln2 = nn.LayerNorm(E, eps=1e-6), nn.LayerNorm(E, eps=1e-6)
            self.ff = nn.Sequential(nn.Linear(E, 32), nn.ReLU(), nn.Linear(32, E))
            self.drop = nn.Dropout(0.1)
            self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(E, 20), nn.ReLU(), nn.Dropout(0.1),
                                      nn.Linear(20, classes))
            self.H, self.d = H, d

        def forward(self, t):
            x = self.emb(t)
            B, T, _ = x.shape
            q, k, v = (f(x).view(B, T, self.H, self.d).transpose(1, 2) for f in (self.q, self.k, self.v))
            att = torch.softmax(q @ k.transpose(-1, -2) / self.d ** 0.5, dim=-1) @ v
            x1 = self.ln1(x + self.drop(self.o(att.transpose(1, 2).reshape(B, T, -1))))
            x2 = self.ln2(x1 + self.drop(self.ff(x1)))
            return self.head(x2.mean(1))
    return LSTM() if family == "lstm" else Block()


def run_torch(family, batch, steps, epochs, shape, classes, vocab, mode, device="cuda"):
    """mode: eager, graph (the whole step captured once with torch.cuda.graph, capturable Adam)."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(device)
    x, y = _data(family, batch * steps, shape, classes, vocab)
    xt = torch.from_numpy(x).to(dev)
    xt = xt.permute(0, 3, 1, 2).contiguous() if family == "convnet" else xt.long()
    yt = torch.from_numpy(y).to(dev)
    torch.manual_seed(0)
    model = _torch_model(torch, family, classes, vocab).to(dev)
    if family == "convnet":
        model(xt[:batch])  # materialize the lazy head before the optimizer sees the parameters
    return timed_steps(torch, model, xt, yt, batch, steps, epochs, mode, device)


def rows(families, epochs, smoke=False, torch_device="cuda", vocab=VOCAB):
    """Every row of every family, printed as it comes; the ratios against the PyTorch rows of the same family."""
    table = SMOKE if smoke else FAMILIES
    out = []
    for family in families:
        batch, steps, shape, classes = table[family]
        floor = launch_floor(family, shape)
        args = (family, batch, steps, epochs, shape, classes, vocab)
        rs = [_row("gpunet graph", run_gpunet, *args, "graph"), _row("gpunet no graph", run_gpunet, *args, "nograph"),
              _row("gpunet tape", run_gpunet, *args, "tape")]
        if not smoke or torch_device != "cuda":
            rs += [_row("torch eager", run_torch, *args, "eager", torch_device),
                   _row("torch graph", run_torch, *args, "graph", torch_device)]
        ref = {n: next((r["us_per_step"] for r in rs if r["name"] == n and "us_per_step" in r), None)
               for n in ("torch eager", "torch graph")}
        for r in rs:
            r.update(model=family, batch=batch, launch_floor=floor)
            for n, key in (("torch eager", "vs_torch_eager"), ("torch graph", "vs_torch_graph")):
                if ref[n] and "us_per_step" in r:
                    r[key] = round(r["us_per_step"] / ref[n], 3)
            print(json.dumps(r), flush=True)
        out += rs
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--models", nargs="+", choices=sorted(FAMILIES), default=sorted(FAMILIES))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="toy sizes, gpunet rows only, emulated (numbers mean nothing)")
    ap.add_argument("--torch-device", default="cuda", help="cpu: check the PyTorch rows' code where there is no GPU")
    a = ap.parse_args()
    vocab = VOCAB
    if a.smoke:
        os.environ["GPUNET_KERNELS"] = "emulate"
        a.epochs, vocab = 2, 50
    import gpunet
    env = {"device": gpunet.backend.info().get("device"), "backend": gpunet.backend.name(),
           "kernels": gpunet.backend.kernels(), "argv": sys.argv[1:]}
    print(json.dumps({"env": env}), flush=True)
    result = rows(a.models, a.epochs, a.smoke, a.torch_device, vocab)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gpu_programs.json"), "w") as fh:
        json.dump({"env": env, "rows": result}, fh, indent=1)


if __name__ == "__main__":
    main()
