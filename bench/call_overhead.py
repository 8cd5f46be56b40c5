"""Question: what does one Python call cost in gpunet's general (tape) path, next to Keras 3 (NumPy
backend), on inputs so small that the arithmetic is nothing — in one run?

    python bench/call_overhead.py [--rounds 5] [--out bench/results/call_overhead.json]

Rows: a public op (`ops.add` on 4 floats), a `Dense(4)` layer call on (2, 4), a 2-layer Sequential
call, one `train_on_batch` step of that model (tape, Adam), and a symbolic `x + y` on KerasTensors
(building a Functional graph). Each cell is the best of `rounds` repeats of a timed loop; the table
prints gpunet / Keras as a ratio (below 1: gpunet is cheaper). Floor: the arithmetic of these rows is
a few hundred FLOPs, i.e. nanoseconds — every microsecond shown is interpreter overhead."""
import argparse
import json
import os
import platform
import sys
import timeit

os.environ.setdefault("KERAS_BACKEND", "numpy")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402


def cases(k):
    """The same code for both libraries (`k` is gpunet or keras)."""
    ops, layers = k.ops, k.layers
    a = ops.convert_to_tensor(np.ones(4, "float32"))
    b = ops.convert_to_tensor(np.ones(4, "float32"))
    x = np.ones((2, 4), "float32")
    y = np.zeros((2, 4), "float32")
    dense = layers.Dense(4)
    dense(x)
    model = k.Sequential([k.Input((4,)), layers.Dense(4), layers.Dense(4)])
    model(x)
    trained = k.Sequential([k.Input((4,)), layers.Dense(4), layers.Dense(4)])
    trained.compile(optimizer="adam", loss="mse")
    i1, i2 = k.Input((4,)), k.Input((4,))
    rows = [("ops.add(4 floats)", lambda: ops.add(a, b), 20000),
            ("Dense(4) call", lambda: dense(x), 5000),
            ("2-layer Sequential call", lambda: model(x), 2000),
            ("symbolic x + y", lambda: i1 + i2, 2000)]
    if k.__name__ == "gpunet":  # Keras's NumPy backend cannot train
        rows.append(("train_on_batch (tape, Adam)", lambda: trained.train_on_batch(x, y), 300))
    return rows


def measure(k, rounds):
    out = {}
    for name, fn, n in cases(k):
        fn()
        out[name] = min(timeit.repeat(fn, number=n, repeat=rounds)) / n * 1e6
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "call_overhead.json"))
    args = ap.parse_args()
    import gpunet
    import keras
    ours, theirs = measure(gpunet, args.rounds), measure(keras, args.rounds)
    print("%-30s %12s %12s %8s" % ("call", "gpunet us", "keras us", "ratio"))
    rows = []
    for name, t in ours.items():
        ref = theirs.get(name)
        ratio = None if ref is None else t / ref
        rows.append({"call": name, "gpunet_us": round(t, 3), "keras_us": None if ref is None else round(ref, 3),
                     "ratio": None if ratio is None else round(ratio, 3)})
        print("%-30s %12.2f %12s %8s" % (name, t, "-" if ref is None else "%.2f" % ref,
                                          "-" if ratio is None else "%.2f" % ratio))
    result = {"question": "Python cost of one call in gpunet's general path vs Keras 3 (NumPy backend)",
              "command": "OMP_NUM_THREADS=%s python bench/call_overhead.py --rounds %d" % (
                  os.environ.get("OMP_NUM_THREADS", ""), args.rounds),
              "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                          "numpy": np.__version__, "keras": keras.__version__, "gpunet": gpunet.__version__,
                          "backend": gpunet.backend.name(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
              "rows": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
