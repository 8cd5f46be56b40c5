"""Question: is a busy neighbour slowed by gpunet's threads — idle or spinning — while gpunet trains?

    python bench/cpu_neighbour.py [--workloads mlp32 wide] [--seconds 6]

A busy Python loop (bench/cpu_contention.py's) runs for `--seconds` under `perf stat -e task-clock,
context-switches` (without perf: its own CPU time from wait4) three times: alone, beside gpunet training the
workload with its threading policy, and beside gpunet held at 2 threads (GPUNET_CPU_THREADS=2: what gpunet did
before the policy, OpenBLAS's workers spinning between GEMMs). Reports the CPUs the loop got, its iterations
per second (this machine's speed drifts by 2x: compare the CPUs) and context switches, and gpunet's time per
fit. Writes bench/results/cpu_neighbour.json.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cpu_contention  # noqa: E402

LOOP = ("import sys, time\nsys.path[:0] = [%r, %r]\nimport gpunet, cpu_contention as cc\n"
        "r = cc.keras_runner(gpunet, sys.argv[1])['train']\nr()\nprint('ready', flush=True)\n"
        "end = time.time() + float(sys.argv[2]); n = 0; t0 = time.perf_counter()\n"
        "while time.time() < end:\n    r(); n += 1\nprint((time.perf_counter() - t0) / n)\n")
BUSY = cpu_contention.BUSY.replace("signal.signal(signal.SIGTERM, stop)\n",
                                   "signal.signal(signal.SIGTERM, stop)\nsignal.signal(signal.SIGALRM, stop)\n"
                                   "signal.alarm(int(sys.argv[1]))\n")


def busy(seconds):
    """The loop's CPUs used, iterations/s and context switches over `seconds`."""
    cmd = [sys.executable, "-c", BUSY, str(seconds)]
    perf = shutil.which("perf")
    if perf:
        cmd = [perf, "stat", "-x", ",", "-e", "task-clock,context-switches"] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # only this loop is reaped in between
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"iterations_per_s": float(out.strip()), "wall_s": wall}
    if perf:
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2].startswith("task-clock"):
                row["cpus_used"] = float(f[0]) / 1e3 / wall
            elif len(f) > 2 and f[2].startswith("context-switches"):
                row["context_switches"] = int(float(f[0]))
    else:
        row["cpus_used"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
    return row


def beside(workload, seconds, env):
    code = LOOP % (os.path.dirname(HERE), HERE)
    p = subprocess.Popen([sys.executable, "-c", code, workload, str(seconds + 4)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, **env))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # gpunet's policy reads the load every 0.2 s
    row = busy(seconds)
    row["gpunet_s_per_fit"] = float(p.communicate()[0].strip())
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", nargs="*", default=["mlp32", "wide"], choices=sorted(cpu_contention.SIZES))
    ap.add_argument("--seconds", type=int, default=6)
    a = ap.parse_args()
    res = {"alone": busy(a.seconds)}
    for w in a.workloads:
        res[w] = {"beside_gpunet_policy": beside(w, a.seconds, {}),
                  "beside_gpunet_2_threads": beside(w, a.seconds, {"GPUNET_CPU_THREADS": "2"})}
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
           "command": " ".join(["python", "bench/cpu_neighbour.py"] + sys.argv[1:]),
           "perf": bool(shutil.which("perf")), "results": res}
    print(json.dumps(out, indent=1))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cpu_neighbour.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
