"""How many CPU threads each op gets (ARCHITECTURE.md decision 10).

A second thread pays only when it has a core to run on. On a quiet 2-core machine OpenBLAS's two threads make
a 128x1024x1024 GEMM 1.9x faster; with one other busy process, each GEMM waits at its end for the half that
shares a core with it (the scheduler gives that thread a few-millisecond slice and then the other process
its own), and the classic MLP's step took 2.7x as long as quiet. So the count is decided per op:

- work below the crossover runs on one thread (a GEMM under GEMM_MIN_WORK multiply-adds), which also leaves
  the other cores to other processes;
- larger work gets the cores this process may use (`sched_getaffinity`, the cgroup's CPU quota, its share
  of the cores when several ranks of one job share the host unbound) less the cores other processes keep
  busy, measured from /proc/stat over the last SAMPLE_S seconds (its busy time on our CPUs, less our own);
- the user's count wins over both: `gpunet.config.set_num_threads(n)`, else GPUNET_CPU_THREADS, else
  OPENBLAS_NUM_THREADS or OMP_NUM_THREADS, the variables users already set for NumPy, PyTorch and TensorFlow.
  It also makes results repeatable: a load-driven count can move OpenBLAS's row blocking, which changes a
  GEMM's last bits. (One exception, CHUNKS_S below: right after the chunk pool ran, GEMMs keep one thread.)

Idle threads sleep: gpunet's chunk pool (kernels/cpu_parallel.py) waits on a queue, and OpenBLAS's workers,
which spin for about 0.1 s after each job (2**28 TSC ticks, OPENBLAS_THREAD_TIMEOUT), get no job while the
count is one, so they sleep. BLAS thread counts are set through threadpoolctl (it finds NumPy's BLAS,
whichever it is, and its symbol prefix); the count is process-wide, so it is set only when it changes.
This module imports nothing of gpunet."""
import logging
import math
import os
import threading
import time

_log = logging.getLogger("gpunet")

# The crossover, measured on this project's 2-core CI machine (bench/cpu_threads.py, results in
# bench/results/cpu_threads.json): a second OpenBLAS thread made a 1 M multiply-add GEMM 1.1-1.4x faster
# (32x256x128, 64x128x128), a 3.2 M one 1.5-1.9x, a 41 k one no faster; over a whole step, the classic MLP's
# (batch 32) took 0.90x and the LSTM benchmark's 0.72x the time of one thread. OpenBLAS itself keeps GEMMs under
# 262,144 on one thread. Below the crossover one thread also leaves the other core to other processes.
GEMM_MIN_WORK = 1 << 20
SAMPLE_S = 0.2          # how often the other processes' load is read again
# OpenBLAS's workers spin (sched_yield) for 2**28 TSC ticks after each job, ~0.1 s here: beside gpunet's own
# chunk workers they take half of a core each (the keras.io convnet's step went from 35 to 50 ms). So for
# CHUNKS_S after gpunet's chunk pool last ran, a GEMM outside it stays on one thread.
CHUNKS_S = 0.25
TAKEN = 0.5             # a core counts as taken when others keep it busy this fraction of the time
_ENV_VARS = ("GPUNET_CPU_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
# launchers' count of this job's processes on this host: Open MPI, MPICH/Intel MPI (Hydra), Slurm, torchrun
_LOCAL_RANKS = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE")


def _positive(value, what):
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or str(n) != str(value).strip():
        raise ValueError("%s must be a positive integer, received %r" % (what, value))
    return n


def cgroup_cpus(root="/sys/fs/cgroup", proc="/proc/self/cgroup"):
    """The CPU quota of this process's cgroup and its ancestors, in whole cores (rounded up), or None when
    there is none: cgroup v2 `cpu.max` ("200000 100000" is 2 cores, "max 100000" none), v1
    `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: none)."""
    try:
        with open(proc) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        ident, controllers, path = parts
        if ident == "0" and controllers == "":  # v2
            for d in _ancestors(root, path):
                q = (_read(os.path.join(d, "cpu.max")) or "").split()
                if len(q) == 2 and q[0] != "max":
                    limits.append(_ratio(q[0], q[1]))
        elif "cpu" in controllers.split(","):  # v1: mounted as cpu, or cpu,cpuacct
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                for d in _ancestors(os.path.join(root, mount), path):
                    q, p = _read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))
                    limits.append(_ratio(q, p))
    limits = [x for x in limits if x is not None]
    return max(1, math.ceil(min(limits) - 1e-9)) if limits else None


def _ratio(quota, period):
    """quota / period in CPUs, or None for no limit (-1) or a file that does not read as two positive numbers."""
    try:
        q, p = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    return q / p if q > 0 and p > 0 else None


def _ancestors(root, path):
    """root/path and each directory above it up to root (a parent's limit bounds its children)."""
    parts = [p for p in path.split("/") if p and p != ".."]
    return [os.path.join(root, *parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def read_busy(cpus, path="/proc/stat"):
    """Seconds the given CPUs were busy since boot (user, nice, system, irq, softirq and steal: what a thread of
    ours could not have had), or None where /proc/stat cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    ticks = 0
    for line in data.split(b"\n"):
        if line[:3] != b"cpu" or not line[3:4].isdigit():
            continue
        f = line.split()
        if int(f[0][3:]) in cpus and len(f) >= 9:
            ticks += int(f[1]) + int(f[2]) + int(f[3]) + int(f[6]) + int(f[7]) + int(f[8])
    return ticks / _CLK_TCK


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Policy:
    """The thread count of each op class, from this process's cores, the other processes' load and the user.
    Every source can be replaced (tests fake the affinity, the cgroup files, /proc/stat and the clock)."""

    def __init__(self, env=None, affinity=None, host_cpus=None, cgroup_root="/sys/fs/cgroup",
                 cgroup_proc="/proc/self/cgroup", proc_stat="/proc/stat", clock=time.monotonic,
                 own_cpu=time.process_time):
        env = os.environ if env is None else env
        if affinity is None:
            affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        self.cpus = frozenset(affinity)
        host = host_cpus if host_cpus is not None else (os.cpu_count() or len(self.cpus))
        self.quota = cgroup_cpus(cgroup_root, cgroup_proc)
        self.ranks = 1
        for name in _LOCAL_RANKS:
            if env.get(name, "").strip().isdigit() and int(env[name]) > 1:
                self.ranks = int(env[name])
                break
        cores = len(self.cpus)
        if self.ranks > 1 and cores >= host:  # not bound by the launcher: this rank's share of the host
            cores = max(1, cores // self.ranks)
        self.cores = max(1, min(cores, self.quota or cores))
        self.env_setting = None
        for name in _ENV_VARS:
            value = env.get(name)
            if value is None:
                continue
            if name == "GPUNET_CPU_THREADS":  # ours: a bad value is an error
                self.env_setting = (name, _positive(value, name))
                break
            # OpenMP allows a list per nesting level ("4,2"): the first is this level's. A value the runtimes
            # would ignore is ignored here too, with a line that says so.
            first = value.split(",")[0].strip()
            if first.isdigit() and int(first) > 0:
                self.env_setting = (name, int(first))
                break
            _log.warning("gpunet: ignoring %s=%r (not a positive integer)", name, value)
        self.user = None  # set_num_threads
        self._stat, self._clock, self._own = proc_stat, clock, own_cpu
        self._lock = threading.Lock()
        self._last = None  # (clock, busy, own cpu)
        self._free = self.cores
        self.others = None  # cores other processes kept busy in the last sample
        self._chunks_at = None  # when the chunk pool last ran (clock)

    def setting(self):
        """The user's count, or None: set_num_threads first, then the environment."""
        if self.user is not None:
            return self.user
        return self.env_setting[1] if self.env_setting else None

    def max_threads(self):
        """The most threads any op gets: what splits work into per-thread chunks (fixed, unlike the load)."""
        return self.setting() or self.cores

    def free(self):
        """Cores of ours that no other process keeps busy, at least 1; read again every SAMPLE_S seconds."""
        now = self._clock()
        last = self._last
        if last is not None and now - last[0] < SAMPLE_S:
            return self._free
        with self._lock:
            busy, own = read_busy(self.cpus, self._stat), self._own()
            if busy is None:
                return self._free
            if last is not None and now > last[0]:
                self.others = max(0.0, (busy - last[1]) - (own - last[2])) / (now - last[0])
                self._free = max(1, self.cores - _taken(self.others))
            self._last = (now, busy, own)
        return self._free

    def threads(self, work, min_work):
        """Threads for one op of `work` (its own unit) whose crossover is `min_work`."""
        if work < min_work:
            return 1
        return self.setting() or min(self.cores, self.free())

    def large(self):
        """Threads for work far above any crossover (a convolution's chunks): the user's count or the free cores."""
        return self.threads(1, 0)

    def gemm(self, m, k, n):
        t = self.threads(m * k * n, GEMM_MIN_WORK)
        if t > 1 and self._chunks_at is not None and self._clock() - self._chunks_at < CHUNKS_S:
            return 1
        return t

    def chunks_ran(self):
        """The chunk pool ran (kernels/cpu_parallel.py): OpenBLAS's spinning workers would slow it."""
        self._chunks_at = self._clock()

    def describe(self, wait=False):
        """The policy in force (`gpunet info`); wait=True reads the load over one SAMPLE_S first."""
        s = self.setting()
        src = ("set_num_threads" if self.user is not None else self.env_setting[0]) if s else None
        self.free()
        if wait and self.others is None:
            time.sleep(SAMPLE_S)
            self.free()
        return {"cpus_allowed": len(self.cpus), "cgroup_cpu_quota": self.quota, "local_ranks": self.ranks,
                "cores": self.cores, "user_threads": s, "user_threads_from": src,
                "others_busy_cores": None if self.others is None else round(self.others, 2),
                "large_op_threads": self.large(),
                "gemm_one_thread_below_multiply_adds": GEMM_MIN_WORK, "blas": blas_info()}


def _taken(others):
    """Whole cores others keep busy: from TAKEN of a core on, one (a thread of ours there would wait on it)."""
    return int(others + (1 - TAKEN))


_policy = []


def policy():
    if not _policy:
        _policy.append(Policy())
    return _policy[0]


def set_policy(p):
    """Replace the process's policy (tests; a forked child keeps its parent's)."""
    _policy[:] = [p]
    _blas_state.pop("set", None)


# ---- BLAS thread count (process-wide) ----
_blas_state = {}


def _blas():
    """threadpoolctl's controllers of the BLAS libraries this process loaded, or [] without threadpoolctl."""
    if "libs" not in _blas_state:
        __import__("numpy")  # loads NumPy's BLAS
        try:
            import threadpoolctl
        except ImportError:
            _log.info("gpunet: threadpoolctl is not installed: BLAS keeps its own thread count "
                      "(pip install threadpoolctl)")
            _blas_state["libs"] = []
        else:
            _blas_state["libs"] = [c for c in threadpoolctl.ThreadpoolController().lib_controllers
                                   if c.user_api == "blas"]
            if _blas_state["libs"] and all(c.internal_api == "openblas" for c in _blas_state["libs"]):
                _blas_state["serial_below"] = 2 * 262144
            if not _blas_state["libs"]:
                _log.info("gpunet: threadpoolctl finds no BLAS it can control in this process: BLAS keeps its own "
                          "thread count and CPU layers run their chunks one after another")
    return _blas_state["libs"]


def blas_controlled():
    return bool(_blas())


def set_blas_threads(n):
    """BLAS runs its next calls on n threads (only called when the count changes: it is process-wide)."""
    if _blas_state.get("set") != n:
        for lib in _blas():
            # threadpoolctl 3.8 lets only the first thread that set OpenBLAS's process-wide count set it again
            # and ignores the others; here gpunet decides the count, from whichever thread runs the op
            clear = getattr(type(lib), "clear_controlling_thread", None)
            if clear is not None:
                clear(force=True)
            lib.set_num_threads(n)
        _blas_state["set"] = n


def gemm(m, k, n):
    """Before an (m, k) x (k, n) product on the CPU: BLAS gets this op's thread count. OpenBLAS runs a product
    under 2 * 262,144 multiply-adds on one thread whatever its count (interface/gemm.c): those leave the count
    alone, so a small layer between two large ones does not switch it twice per step."""
    if m * k * n >= _blas_state.get("serial_below", 0):
        set_blas_threads(policy().gemm(m, k, n))


def blas_info():
    return [{"library": lib.internal_api, "version": lib.version, "threading": getattr(lib, "threading_layer", None),
             "threads_now": lib.get_num_threads()} for lib in _blas()]


def _after_fork():
    _blas_state.pop("set", None)  # a child's BLAS may have been re-initialised: set the count again
    for p in _policy:
        p._last = None  # the child's own CPU time starts again from 0: the parent's reading is no baseline


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
