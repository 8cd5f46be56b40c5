"""Question: do the loaders of files someone else wrote hold up under many more mutations than CI runs?

    python bench/fuzz_loaders.py [--seeds 1 2 3 ...] [--cases 5000] [--out bench/results/fuzz_loaders.json]

Runs tests/fuzz_loaders.py (load_model on .keras, load_weights on .weights.h5, the legacy .h5 reader,
get_file's extraction; bit flips, truncation, zip member edits, HDF5 attribute/dtype/shape/link edits,
config JSON edits, archive member edits) once per seed, each in its own process so that a crash or a hang
is recorded against its seed instead of ending the run. Prints and writes the outcome counts (equal /
differs / refused / failure) per target and mutation, and every failure with its case number: rerun one
with `python tests/fuzz_loaders.py --seed S --cases N`.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--cases", type=int, default=5000, help="cases per seed")
    p.add_argument("--deadline", type=float, default=60.0, help="seconds one case may take before it is a hang")
    p.add_argument("--out", default=os.path.join(HERE, "results", "fuzz_loaders.json"))
    args = p.parse_args()
    runs, t0 = [], time.monotonic()
    for seed in args.seeds:
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz_loaders.py"), "--seed", str(seed),
                            "--cases", str(args.cases), "--deadline", str(args.deadline)], capture_output=True,
                           text=True, cwd=ROOT)
        if not r.stdout.strip():  # the child died: a crash, or a case past its deadline
            last = [line for line in r.stderr.splitlines() if line.startswith("case ")][-1:]
            runs.append({"seed": seed, "died": r.returncode, "last_case": last, "stderr": r.stderr[-2000:]})
        else:
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
        run = runs[-1]
        print("seed %d: %s" % (seed, run.get("outcomes") or "DIED (%s) at %s" % (run["died"], run["last_case"])))
        for f in run.get("failures", []):
            print("  FAILURE case %d %s %s: %s" % (f["case"], f["target"], f["mutation"], str(f["detail"])[:300]))
    totals = {}
    for run in runs:
        for target, outcomes in (run.get("outcomes") or {}).items():
            for k, v in outcomes.items():
                totals.setdefault(target, {}).setdefault(k, 0)
                totals[target][k] += v
    result = {"command": "python bench/fuzz_loaders.py --seeds %s --cases %d" % (" ".join(map(str, args.seeds)),
                                                                                   args.cases),
              "machine": platform.platform(), "python": platform.python_version(),
              "seconds": round(time.monotonic() - t0, 1), "totals": totals,
              "failures": sum(len(r.get("failures", [])) for r in runs) + sum(1 for r in runs if "died" in r),
              "runs": runs}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("totals: %s\nfailures: %d (%s)" % (totals, result["failures"], args.out))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
