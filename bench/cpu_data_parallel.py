"""Question: what does data parallelism over MPI cost and give on the CPU, next to PyTorch's DDP (gloo) in the
same run? One process vs two, same global batch, same machine.

    python bench/cpu_data_parallel.py [--rounds 3] [--epochs 2] [--batches 64,1024] [--torch-python PY] [--data DIR]

784-128-10 MLP (relu, softmax), Adam, Fashion-MNIST 60k, shuffled. gpunet: the Keras script with
keras.distribution.DataParallel under `mpirun -n 2`; PyTorch: the idiomatic DistributedDataParallel (gloo) with
a DistributedSampler, two processes from torch.multiprocessing. Each process gets the same number of BLAS
threads in every row (--threads, default: cores / processes), so 1 vs 2 processes compare the same cores.
Reported: the median over rounds (each a fresh run, the rows' order rotated: this machine is noisy) of each run's
last epoch (the first includes set-up), and the 2-process / 1-process ratio.
Floor: the all-reduce moves 101,770 float32 = 407 KB per step; at batch 64 that is 938 all-reduces per epoch.
Writes bench/results/cpu_data_parallel.json."""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PARAMS = 784 * 128 + 128 + 128 * 10 + 10


def _load(data):
    sys.path.insert(0, ROOT)
    from gpunet.datasets import fashion_mnist
    (x, y), _ = fashion_mnist.load_data(path=data)
    return x.reshape(len(x), -1).astype("float32") / 255.0, y.astype("int64")


def worker_gpunet(args):
    import gpunet as keras
    if args.processes > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    x, y = _load(args.data)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for _ in range(args.epochs):
        t = time.perf_counter()
        h = m.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    rank = keras.distribution.process_id() if args.processes > 1 else 0
    if rank == 0:
        print(json.dumps({"times": times, "loss": h.history["loss"][-1]}))


def worker_allreduce(args):
    """The floor: one all-reduce of the classic MLP's gradient through gpunet's communicator (the blocking MPI
    call under its watchdog) and through mpi4py directly."""
    import numpy as np
    sys.path.insert(0, ROOT)
    from mpi4py import MPI
    from gpunet.distribution import comm
    c = comm.MPIComm(comm.detect(), 60.0)
    a = np.ones(PARAMS, np.float32)
    out = {}
    for name, fn in (("gpunet", lambda: c.allreduce(a)), ("mpi4py", lambda: MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, a))):
        for _ in range(50):
            fn()
        t = time.perf_counter()
        for _ in range(1000):
            fn()
        out[name + "_allreduce_us"] = (time.perf_counter() - t) / 1000 * 1e6
    if c.rank == 0:
        print(json.dumps(out))


def worker_torch(rank, args, port):
    import numpy as np
    import torch
    import torch.distributed as td
    torch.set_num_threads(args.threads)
    ddp = args.processes > 1
    if ddp:
        os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        td.init_process_group("gloo", rank=rank, world_size=args.processes)
    x, y = _load(args.data)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    times = []
    for epoch in range(args.epochs):
        g = torch.Generator().manual_seed(epoch)
        order = torch.randperm(len(x), generator=g)
        order = order.numpy()
        t = time.perf_counter()
        for lo in range(0, len(order), args.batch):  # the global batches, then this rank's rows of each
            rows = order[lo:lo + args.batch]
            part = np.array_split(rows, args.processes)[rank] if ddp else rows
            xb, yb = x[part], y[part]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
    if rank == 0:
        print(json.dumps({"times": times, "loss": float(loss)}))
    if ddp:
        td.destroy_process_group()


def _spawn_torch(args):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if args.processes == 1:
        worker_torch(0, args, port)
    else:
        mp.spawn(worker_torch, args=(args, port), nprocs=args.processes, join=True)


def _run(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout)[-800:], "wall_s": time.perf_counter() - t}
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    out["wall_s"] = time.perf_counter() - t
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", default="64,1024")
    p.add_argument("--data")
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", sys.executable))
    p.add_argument("--worker", choices=["gpunet", "torch", "allreduce"])
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.worker == "gpunet":
        return worker_gpunet(args)
    if args.worker == "torch":
        return _spawn_torch(args)
    if args.worker == "allreduce":
        return worker_allreduce(args)
    cores = os.cpu_count() or 1
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    mpirun = mpirun if os.access(mpirun, os.X_OK) else shutil.which("mpirun")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", PYTHONPATH=ROOT)
    floor = _run([mpirun, "-n", "2", "--oversubscribe", "--bind-to", "none", sys.executable, os.path.abspath(__file__),
                  "--worker", "allreduce"], env)
    print("all-reduce of %d float32 (%.0f KB) between 2 processes: %s" % (PARAMS, PARAMS * 4 / 1e3, floor), flush=True)
    rows = []
    configs = [(b, procs) for b in [int(b) for b in args.batches.split(",")] for procs in (1, 2)]
    for rnd in range(args.rounds):
        for batch, procs in configs[rnd % len(configs):] + configs[:rnd % len(configs)]:
            threads = args.threads or max(1, cores // procs)
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                       MKL_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                       PYTHONPATH=ROOT)
            common = ["--processes", str(procs), "--batch", str(batch), "--epochs", str(args.epochs),
                      "--threads", str(threads)] + (["--data", args.data] if args.data else [])
            me = [sys.executable, os.path.abspath(__file__), "--worker", "gpunet"] + common
            if procs > 1:
                me = [mpirun, "-n", str(procs), "--oversubscribe", "--bind-to", "none"] + me
            rows.append(dict(framework="gpunet", round=rnd, batch=batch, processes=procs, threads=threads,
                             **_run(me, env)))
            torch_cmd = [args.torch_python, os.path.abspath(__file__), "--worker", "torch"] + common
            rows.append(dict(framework="pytorch-ddp-gloo" if procs > 1 else "pytorch", round=rnd, batch=batch,
                             processes=procs, threads=threads, **_run(torch_cmd, env)))
            print(json.dumps(rows[-2]), json.dumps(rows[-1]), flush=True)
    table = []

    def median_last(fw, batch, procs):
        got = sorted(r["times"][-1] for r in rows if r["framework"].startswith(fw) and r["batch"] == batch
                     and r["processes"] == procs and "times" in r)
        return got[len(got) // 2] if got else None
    for fw in ("gpunet", "pytorch"):
        for batch in sorted({r["batch"] for r in rows}):
            a, b = median_last(fw, batch, 1), median_last(fw, batch, 2)
            if a and b:
                steps = -(-60000 // batch)
                table.append({"framework": fw, "batch": batch, "epoch_s_1proc": round(a, 3), "epoch_s_2proc": round(b, 3),
                              "speedup_2_over_1": round(a / b, 3),
                              "allreduce_MB_per_epoch": round(PARAMS * 4 * steps / 1e6, 1),
                              "allreduce_floor_s_per_epoch": round(floor.get("mpi4py_allreduce_us", 0) * steps / 1e6, 3)})
    for t in table:
        print("%-8s batch %5d: 1 process %.2f s/epoch, 2 processes %.2f s/epoch, speed-up %.2fx (%.0f MB all-reduced, "
              "%.2f s of it at mpi4py's rate)" % (t["framework"], t["batch"], t["epoch_s_1proc"], t["epoch_s_2proc"],
                                                  t["speedup_2_over_1"], t["allreduce_MB_per_epoch"],
                                                  t["allreduce_floor_s_per_epoch"]))
    try:
        import numpy
        versions = {"numpy": numpy.__version__}
        from mpi4py import MPI
        versions["mpi"] = MPI.Get_library_version().split("\x00")[0].splitlines()[0].strip()
        import mpi4py
        versions["mpi4py"] = mpi4py.__version__
        versions["torch"] = subprocess.run([args.torch_python, "-c", "import torch; print(torch.__version__)"],
                                           capture_output=True, text=True).stdout.strip()
    except Exception as e:  # reported, not fatal
        versions = {"error": str(e)}
    result = {"command": " ".join(sys.argv), "machine": platform.platform(), "cores": cores,
              "python": platform.python_version(), "versions": versions, "allreduce_floor": floor, "rows": rows,
              "table": table}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cpu_data_parallel.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
