"""keras.layers.Hashing's string hashes on the CPU: kernels/cpu_hash.c against the pure-Python reference
(gpunet/common/hashing.py), per 100k strings, and the whole layer on a (100000, 1) array of words.

Floor: FarmHash reads each byte once (~1 ns/string for short words); the batch call also pays for encoding the
strings to UTF-8 and joining them (Python, ~10 ns/string each).

    python bench/cpu_string_hash.py [--out bench/results/cpu_string_hash.json]"""
import argparse
import json
import platform
import time

import numpy as np


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--n", type=int, default=100000)
    args = ap.parse_args()
    import gpunet
    from gpunet.ops.hashing import hash_bytes
    words = ["word%d" % i for i in range(args.n)]
    items = [w.encode() for w in words]
    rows = {}
    for salt, name in ((None, "fingerprint64"), ((17, 99), "siphash24")):
        kernel = best(lambda: hash_bytes(items, salt))
        python = best(lambda: hash_bytes(items, salt, use_kernel=False), repeat=2)
        rows[name] = {"kernel_s": kernel, "python_s": python, "speedup": python / kernel}
    layer = gpunet.layers.Hashing(num_bins=1000)
    x = np.array(words).reshape(-1, 1)
    rows["Hashing layer (num_bins=1000)"] = {"kernel_s": best(lambda: layer(x))}
    out = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "numpy": np.__version__, "strings": args.n, "command": "python bench/cpu_string_hash.py", "rows": rows}
    for k, v in rows.items():
        print("%-32s %s" % (k, "  ".join("%s %.4g" % kv for kv in v.items())))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
