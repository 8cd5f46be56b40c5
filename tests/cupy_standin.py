"""A CuPy stand-in over the emulated kernel tier, for testing the CuPy-only code of the launch program
(gpunet/training/gpu_step.py) where there is no GPU: its stream, its private pool, CUDA graph capture and
replay, the asynchronous readback. It copies the parts of CuPy's API that code uses (checked against
CuPy 13/14: Stream(non_blocking), begin_capture/end_capture, Graph.launch, record/wait_event,
Event.done, MemoryPool/using_allocator, ndarray.set/get(out=, blocking=)), and CuPy's capture rules:
a kernel launched on a capturing stream is recorded, not run, and a synchronising call or a host<->device
copy while capturing raises, as CuPy does. It counts host syncs. Arrays are NumPy arrays (a subclass with
set/get), kernels the emulated ones; what it cannot tell is anything about real GPU timing or memory."""
import contextlib
import ctypes
import time
import types

import numpy as np

from gpunet.kernels import build, emulated, softmax_xent


class CaptureError(RuntimeError):
    pass


class Counters:
    def __init__(self):
        self.syncs = 0           # Stream/Device.synchronize and blocking device-to-host copies
        self.replays = 0         # Graph.launch calls
        self.captures = 0        # end_capture calls
        self.eager_launches = 0  # kernels run outside a graph
        self.pool_blocks = 0     # arrays made under using_allocator(private pool)


class Array(np.ndarray):
    """A device array: NumPy memory, with CuPy's host-copy methods and its `data.ptr` (the memory's address)."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)

    def set(self, arr, stream=None):
        _refuse_while_capturing("ndarray.set (a host-to-device copy)")
        self[...] = arr

    def get(self, stream=None, order="C", out=None, blocking=True):
        _refuse_while_capturing("ndarray.get (a device-to-host copy)")
        if blocking:
            STATE.counters.syncs += 1
        if out is None:
            return np.array(self)
        out[...] = self
        return out


class _State:
    def __init__(self):
        self.counters = Counters()
        self.stack = []
        self.in_pool = 0


STATE = _State()


def _current():
    return STATE.stack[-1] if STATE.stack else Stream.null


def _refuse_while_capturing(what):
    if any(s.capturing for s in STATE.stack):
        raise CaptureError("%s: the current stream is capturing, so synchronous API calls are disallowed" % what)


class Event:
    done = True
    t = 0.0

    def record(self, stream=None):
        self.t = time.perf_counter()  # host time: the stand-in runs every launch at once
        return self

    def synchronize(self):
        _refuse_while_capturing("Event.synchronize")
        STATE.counters.syncs += 1


class Graph:
    def __init__(self, launches):
        self.launches = launches

    def launch(self, stream=None):
        STATE.counters.replays += 1
        for kernel, grid, block, args, shared in self.launches:
            kernel(grid, block, args, shared)


class Stream:
    null = None
    by_ptr = {}

    def __init__(self, non_blocking=False, null=False):
        self.non_blocking, self.is_null = non_blocking, null
        self.capturing, self.captured = False, None
        self.ptr = 0 if null else id(self)
        Stream.by_ptr[self.ptr] = self  # NCCL calls name their stream by its pointer

    def __enter__(self):
        STATE.stack.append(self)
        return self

    def __exit__(self, *exc):
        STATE.stack.pop()

    def begin_capture(self, mode=None):
        if self.is_null:
            raise RuntimeError("cannot capture on the default (legacy) stream")
        self.capturing, self.captured = True, []

    def end_capture(self):
        self.capturing = False
        STATE.counters.captures += 1
        return Graph(self.captured)

    def synchronize(self):
        _refuse_while_capturing("Stream.synchronize")
        STATE.counters.syncs += 1

    def record(self, event=None):
        return (event or Event()).record(self)

    def wait_event(self, event):
        pass


Stream.null = Stream(null=True)


class MemoryPool:
    def malloc(self, nbytes):
        raise AssertionError("the stand-in allocates through NumPy")


@contextlib.contextmanager
def using_allocator(allocator=None):
    STATE.in_pool += 1
    try:
        yield
    finally:
        STATE.in_pool -= 1


class Device:
    id = 0

    def __init__(self, device=None):
        pass

    def synchronize(self):
        _refuse_while_capturing("Device.synchronize")
        STATE.counters.syncs += 1


class RawKernel:
    def __init__(self, emulated_kernel):
        self.k = emulated_kernel

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        s = stream or _current()
        if s.capturing:  # recorded into the graph, not run (CuPy's stream capture)
            s.captured.append((self.k, grid, block, tuple(args), shared_mem))
            return
        STATE.counters.eager_launches += 1
        self.k(grid, block, args, shared_mem)


class RawModule:
    def __init__(self, code=None, options=()):
        # gpunet hands CuPy each source with its shared header pasted in (build._inline_headers)
        path = next((f for f in build.kernel_files() if build._inline_headers(f.read_text()) == code), None)
        assert path is not None, "RawModule: source not among kernels/*.cu"
        self.mod = emulated.module(path)

    def compile(self):
        pass

    def get_function(self, name):
        return RawKernel(self.mod.get_function(name))


def _device(fn):
    def make(*a, **k):
        out = fn(*a, **k)
        if STATE.in_pool:
            STATE.counters.pool_blocks += 1
        return out.view(Array) if isinstance(out, np.ndarray) else out
    return make


class FakeCupy(types.ModuleType):
    """`cupy` as gpu_step.py and gpunet/kernels/ use it; every other attribute is NumPy's."""

    def __init__(self):
        super().__init__("cupy_standin")
        for name in ("asarray", "full", "zeros", "empty", "ones", "empty_like", "zeros_like", "full_like",
                     "ascontiguousarray", "array"):
            setattr(self, name, _device(getattr(np, name)))
        self.cuda = types.SimpleNamespace(Stream=Stream, MemoryPool=MemoryPool, using_allocator=using_allocator,
                                          Device=Device, Event=Event, get_current_stream=_current,
                                          get_elapsed_time=lambda start, end: (end.t - start.t) * 1e3,
                                          compiler=types.SimpleNamespace(CompileException=RuntimeError))
        self.RawModule = RawModule
        self.ndarray = Array
        self.__version__ = "stand-in"

    def __getattr__(self, name):
        return getattr(np, name)


@contextlib.contextmanager
def installed(monkeypatch):
    """gpunet on the stand-in: backend "cupy", kernels "cuda"; kernel caches kept apart from real ones."""
    from gpunet import backend
    from conftest import require_emulation
    require_emulation()
    global STATE
    STATE = _State()
    monkeypatch.setattr(build, "_modules", {})
    monkeypatch.setattr(build, "_functions", {})
    monkeypatch.setattr(softmax_xent, "_all_rows", {})
    monkeypatch.setattr(backend, "pinned_empty", lambda shape, dtype: np.zeros(shape, dtype))
    saved = backend._state()
    backend._set_state((FakeCupy(), "cupy", "CuPy stand-in over the emulated tier (tests)", "cuda"))
    try:
        yield STATE.counters
    finally:
        backend._set_state(saved)


class FakeNccl:
    """`cupy.cuda.nccl` for the stand-in, between real processes (started by mpirun): each collective runs over
    MPI on the arrays' memory. On a capturing stream it is recorded into the graph and runs when the graph is
    replayed (NCCL's own stream-capture support), so the data-parallel launch program is tested with its
    all-reduce inside the captured step. `counts`: collectives run eagerly, captured, and run by replays."""
    available = True
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_INT32, NCCL_INT64, NCCL_INT8, NCCL_UINT8 = range(6)
    NCCL_SUM, NCCL_MAX, NCCL_MIN = range(3)
    DTYPES = (np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8)
    counts = {"eager": 0, "captured": 0, "replayed": 0}

    @staticmethod
    def get_unique_id():
        return tuple(range(-64, 64))

    class NcclCommunicator:
        def __init__(self, ndev, comm_id, rank):
            from mpi4py import MPI
            self.MPI, self.comm = MPI, MPI.COMM_WORLD
            assert (self.comm.size, self.comm.rank) == (ndev, rank) and tuple(comm_id) == tuple(range(-64, 64))

        @staticmethod
        def _array(ptr, count, dt):
            dtype = np.dtype(FakeNccl.DTYPES[dt])
            return np.frombuffer((ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr), dtype=dtype)

        def _on(self, stream_ptr, fn):
            stream = Stream.by_ptr[stream_ptr]
            if stream.capturing:
                FakeNccl.counts["captured"] += 1

                def replay(*_):
                    FakeNccl.counts["replayed"] += 1
                    fn()
                stream.captured.append((replay, None, None, None, None))
                return
            FakeNccl.counts["eager"] += 1
            fn()

        def allReduce(self, send, recv, count, dt, op, stream):
            assert send == recv, "gpunet all-reduces in place"
            a = self._array(recv, count, dt)
            mpi_op = (self.MPI.SUM, self.MPI.MAX, self.MPI.MIN)[op]
            self._on(stream, lambda: self.comm.Allreduce(self.MPI.IN_PLACE, a, op=mpi_op))

        def bcast(self, buff, count, dt, root, stream):
            a = self._array(buff, count, dt)
            self._on(stream, lambda: self.comm.Bcast(a, root=root))

        def allGather(self, send, recv, count, dt, stream):
            s, r = self._array(send, count, dt), self._array(recv, count * self.comm.size, dt)
            self._on(stream, lambda: self.comm.Allgather(s, r))

        def abort(self):
            self.comm.Abort(1)
