"""A CuPy stand-in over the emulated kernel tier: CuPy 14's rules without a GPU, so the CuPy-only code (the launch
program in gpunet/training/gpu_step.py, the probe, NCCL) runs in CI and what passes here should pass on a GPU.

Device arrays are opaque (`Array`, NumPy memory inside), kernels are the emulated ones, and every rule below is
one real CuPy 14.2 enforces, with the line of its source it comes from (cupy@v14.2.0:<path>:<line>):

streams    A non-blocking stream is asynchronous: its work (kernels, CuPy ops, async copies, graph replays)
           is queued and runs only when something orders it: Stream/Event/Device.synchronize, a blocking
           get() on it, an event another stream waits on, or a pageable host-to-device copy (CUDA stages
           those behind a stream sync). The legacy stream (and a blocking stream) runs at once and does NOT
           wait for non-blocking streams (cudaStreamNonBlocking). So a host read of a buffer with pending
           writes sees its old contents, and an ordering bug shows as wrong numbers.
           `Event.done` is cudaEventQuery (cupy/cuda/stream.pyx:138-141): False while the work before it is
           queued; the stand-in's GPU then makes progress (it runs that work), so a poll sees True next time.
capture    begin_capture refuses the legacy stream (stream.pyx:393-394) and defaults to relaxed mode
           (:395-403). While capturing, kernels and CuPy elementwise/reduction ops are recorded, not run.
           Refused before CUDA is called (the capture stays valid): cuBLAS (cupy_backends/cuda/libs/
           cublas.pyx:642-651, every binding calls setStream first) and cuRAND (curand.pyx:140-146) with
           NotImplementedError; cuSOLVER likewise (cusolver's setStream); host<->device copies: ndarray.get/
           set, asarray(host) (cupy/cuda/memory.pyx:546, 593, 620, 691, 718, 745: RuntimeError). Refused by
           the driver, which also invalidates the capture, so end_capture then raises
           cudaErrorStreamCaptureInvalidated (stream.pyx:407-425): synchronize calls, implicit host reads.
conversion np.asarray/np.array of a device array raises CuPy's TypeError (cupy/_core/core.pyx:1803-1808).
           int()/float()/bool()/.item()/.tolist()/repr() read through get() (core.pyx:2048-2055, 680-692,
           2068-2075): a counted host sync, refused while capturing. CuPy functions and ufuncs refuse NumPy
           arrays as operands (only asarray/array copy host data in).
set/get    set() checks the source is a numpy.ndarray of the same dtype (TypeError) and shape (ValueError)
           and that the destination is contiguous (RuntimeError) (core.pyx:2210-2233); get(out=) checks out's
           type, dtype and shape (core.pyx:2098-2131). Both copy on the given stream, else the current one.
RawKernel  grid and block must be tuples (cupy/cuda/function.pyx:142: `tuple grid, tuple block`); each is
           padded to 3 and a zero dimension becomes one block (:143-150), as CuPy launches it; a NumPy array
           argument is refused whatever its size (CuPy refuses size > 1 and passes size 1 *by value*
           (:66-80), so a host array given as a pointer silently reads garbage on a GPU).
cuBLASLt   gpunet calls libcublasLt through ctypes (gpunet/kernels/cublaslt.py); FakeCublasLt takes the same
           arguments, reads each matrix by its declared column-major layout, captures cublasLtMatmul like a kernel
           and refuses (and invalidates the capture with) handle/descriptor creation inside a capture.
NCCL       get_unique_id() returns bytes of length 128 (cupy_backends/cuda/libs/nccl.pyx:159-170, "changed
           in 14.0"); NcclCommunicator(ndev, bytes commId, rank) refuses anything else (nccl.pyx:323-331).

Counters: host syncs, replays, captures, eager launches, pool blocks, pageable uploads. What the stand-in cannot
tell: GPU timing, memory limits, FTZ/FMA rounding (CuPy compiles with -ftz=true), races inside a kernel."""
import contextlib
import ctypes
import time
import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from gpunet.kernels import build, emulated, softmax_xent

CUBLAS_REFUSED = "calling cuBLAS API during stream capture is currently unsupported"
CURAND_REFUSED = "calling cuRAND API during stream capture is currently unsupported"
IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array "
            "explicitly.")
INVALIDATED = "cudaErrorStreamCaptureInvalidated: operation failed due to a previous error during capture"
# CuPy routes these through cuBLAS (matmul, dot, tensordot, einsum's contractions) or cuSOLVER (linalg)
_CUBLAS_FUNCS = {"matmul", "dot", "vdot", "inner", "tensordot", "einsum", "solve", "inv", "pinv", "cholesky", "qr",
                 "svd", "eigh", "lstsq", "det", "slogdet", "matrix_power", "tensorinv", "tensorsolve"}
# CuPy functions that take host data in (a host-to-device copy); every other function refuses numpy.ndarray
_CONVERSIONS = {"asarray", "array", "ascontiguousarray", "asanyarray", "asfortranarray", "copy"}
# results whose shape depends on the data: CuPy reads a count back first (a host sync)
_DATA_SHAPED = {"nonzero", "flatnonzero", "argwhere", "unique", "extract", "compress", "trim_zeros"}


class CaptureError(RuntimeError):
    """What CuPy raises (RuntimeError) for a host copy or a sync on a capturing stream."""


class CUDARuntimeError(RuntimeError):
    """cupy_backends.cuda.api.runtime.CUDARuntimeError: a driver error (here: a capture the driver invalidated)."""


class Counters:
    def __init__(self):
        self.syncs = 0             # host waits: synchronize calls, blocking get()s, implicit reads, pageable uploads
        self.replays = 0           # Graph.launch calls
        self.captures = 0          # end_capture calls
        self.eager_launches = 0    # kernels run outside a graph
        self.pool_blocks = 0       # arrays made under using_allocator(private pool)
        self.pageable_uploads = 0  # host-to-device copies on a non-blocking stream from pageable memory


class _State:
    def __init__(self):
        self.counters = Counters()
        self.stack = []
        self.in_pool = 0


STATE = _State()


# ---------------------------------------------------------------- streams

class Stream:
    """A CUDA stream. `queue` holds work not yet run (non-blocking streams only); `done` counts the work run."""
    null = None
    by_ptr = {}

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.non_blocking, self.is_null = non_blocking, null
        self.capturing, self.captured, self.invalidated = False, None, False
        self.queue, self.enqueued, self.done = [], 0, 0
        self.ptr = 0 if null else id(self)
        Stream.by_ptr[self.ptr] = self  # NCCL calls name their stream by its pointer

    @property
    def deferred(self):
        return self.non_blocking

    def __enter__(self):
        STATE.stack.append(self)
        return self

    def __exit__(self, *exc):
        STATE.stack.pop()

    def submit(self, work):
        """Run `work` the CUDA way on this stream: recorded while capturing, queued when non-blocking, else now."""
        if self.capturing:
            self.captured.append(work)
        elif self.deferred:
            self.queue.append(work)
            self.enqueued += 1
        else:
            work()
            self.enqueued += 1
            self.done += 1

    def flush(self, upto=None):
        """The device runs this stream's queued work, up to the `upto`-th item submitted (default: all)."""
        upto = self.enqueued if upto is None else upto
        while self.done < upto:
            work = self.queue.pop(0)
            self.done += 1
            work()

    def begin_capture(self, mode=None):
        if self.is_null:
            raise RuntimeError("cannot capture on the default (legacy) stream")
        self.capturing, self.captured, self.invalidated = True, [], False

    def end_capture(self):
        self.capturing = False
        STATE.counters.captures += 1
        work, self.captured = self.captured, None
        if self.invalidated:
            self.invalidated = False
            raise CUDARuntimeError(INVALIDATED)
        return Graph(work)

    def is_capturing(self):
        return self.capturing

    def synchronize(self):
        _host_wait("Stream.synchronize")
        self.flush()

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        src, mark = event.stream, event.mark
        if src is None or src is self:
            return
        self.submit(lambda: src.flush(mark))

    def __repr__(self):
        return "<Stream %s>" % ("null" if self.is_null else "non_blocking" if self.non_blocking else "blocking")


Stream.null = Stream(null=True)


def _current():
    return STATE.stack[-1] if STATE.stack else Stream.null


def _streams():
    return [s for s in list(Stream.by_ptr.values()) if s.queue]


def _capturing():
    return [s for s in STATE.stack if s.capturing]


def _refuse_while_capturing(what, stream=None):
    """CuPy's own pre-check (memory.pyx:546 ff.): RuntimeError before CUDA is called; the capture stays valid."""
    if (stream.capturing if stream is not None else _capturing()):
        raise CaptureError("%s: the current stream is capturing, so synchronous API calls are disallowed" % what)


def _host_wait(what):
    """A call that makes the host wait for the device: while capturing the driver refuses it and invalidates
    the capture (cudaErrorStreamCaptureUnsupported); otherwise one host sync."""
    capturing = _capturing()
    if capturing:
        for s in capturing:
            s.invalidated = True
        raise CaptureError("%s: the current stream is capturing, so synchronous API calls are disallowed" % what)
    STATE.counters.syncs += 1


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.stream, self.mark, self.t = None, 0, None

    def record(self, stream=None):
        s = stream or _current()
        self.t = None

        def stamp():
            self.t = time.perf_counter()
        s.submit(stamp)
        self.stream, self.mark = s, s.enqueued
        return self

    @property
    def done(self):
        s = self.stream
        if s is None or s.done >= self.mark:
            return True
        s.flush(self.mark)  # not yet; the device gets there meanwhile
        return False

    def synchronize(self):
        _host_wait("Event.synchronize")
        if self.stream is not None:
            self.stream.flush(self.mark)


def get_elapsed_time(start, end):
    if start.t is None or end.t is None:
        raise CUDARuntimeError("cudaErrorNotReady: an event has not completed")
    return (end.t - start.t) * 1e3


class Graph:
    def __init__(self, work):
        self.work = work

    def launch(self, stream=None):
        STATE.counters.replays += 1
        s = stream or _current()
        for w in self.work:
            s.submit(w)

    def upload(self, stream=None):
        pass


class Device:
    id = 0

    def __init__(self, device=None):
        pass

    def synchronize(self):
        _host_wait("Device.synchronize")
        for s in _streams():
            s.flush()

    def use(self):
        pass


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


class Pinned(np.ndarray):
    """Page-locked host memory (cupyx.empty_pinned): an asynchronous copy reads or writes it when it runs."""


def empty_pinned(shape, dtype=np.float32, order="C"):
    return np.zeros(shape, dtype, order=order).view(Pinned)


# ---------------------------------------------------------------- arrays

def _poison(a):
    a[...] = np.nan if a.dtype.kind in "fc" else (-1 if a.dtype.kind in "iu" else 0)


def _wrap(x):
    if isinstance(x, Array):
        return x
    if isinstance(x, np.ndarray):
        return Array(np.asarray(x))
    if isinstance(x, np.generic):
        return Array(np.asarray(x))  # CuPy's reductions give 0-d device arrays, not host scalars
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _unwrap(x, host_ok=False, what="argument"):
    if isinstance(x, Array):
        return x._a
    if isinstance(x, np.ndarray) and not host_ok:
        raise TypeError("Unsupported type %s (%s): CuPy functions take cupy.ndarray, not host arrays; copy it in "
                        "with cupy.asarray" % (type(x), what))
    if isinstance(x, tuple):
        return tuple(_unwrap(v, host_ok, what) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, host_ok, what) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, host_ok, what) for k, v in x.items()}
    return x


def _arrays(x):
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _arrays(v)


def _run(fn, args, kwargs, writes=None, host_ok=False, name="?"):
    """One CuPy op on the current stream: run now (legacy/blocking stream), queued (non-blocking) or recorded
    (capturing). `writes`: the device arrays the op writes in place (out=, a[...] = v, fill), if any."""
    if name in _CUBLAS_FUNCS and _capturing():
        raise NotImplementedError(CUBLAS_REFUSED)
    if name in _DATA_SHAPED:
        _host_wait("cupy.%s (its result's size is read back)" % name)
    a, k = _unwrap(args, host_ok, name), _unwrap(kwargs, host_ok, name)
    s = _current()
    if not (s.capturing or s.deferred):
        return _wrap(fn(*a, **k))
    if writes is not None:
        s.submit(lambda: fn(*a, **k))
        return _wrap(writes)
    # a new result: its shape and dtype now (reading only), its values when the stream gets there
    now = fn(*a, **k)
    if isinstance(now, np.ndarray) and any(np.may_share_memory(now, x) for x in _arrays(a)):
        return Array(now)  # a view (reshape, transpose, asarray of a device array): no kernel, nothing to wait for
    outs = [np.empty_like(x) for x in _arrays(now)] if not isinstance(now, np.generic) else [np.empty((), now.dtype)]
    for o in outs:
        _poison(o)

    def later():
        res = fn(*a, **k)
        for o, r in zip(outs, _arrays(res) if not isinstance(res, np.generic) else [np.asarray(res)]):
            o[...] = r
    s.submit(later)
    if isinstance(now, (np.ndarray, np.generic)):
        return Array(outs[0])
    it = iter(outs)
    return _rebuild(now, it)


def _rebuild(x, it):
    if isinstance(x, np.ndarray):
        return Array(next(it))
    if isinstance(x, tuple):
        return tuple(_rebuild(v, it) for v in x)
    if isinstance(x, list):
        return [_rebuild(v, it) for v in x]
    return x


def _host_read(a, what):
    """A blocking device-to-host read on the current stream (get()): refused while capturing, one host sync."""
    s = _current()
    _refuse_while_capturing(what, s)
    _host_wait(what)
    s.flush()
    return np.array(a._a)


_IN_PLACE_METHODS = {"fill", "sort", "partition", "put", "resize", "setflags", "itemset"}
_SYNC_METHODS = {"tolist", "tobytes", "tofile", "dump", "dumps"}


class Array(NDArrayOperatorsMixin):
    """A device array. NumPy memory inside (`_a`), reachable only the ways CuPy allows."""
    __slots__ = ("_a", "__weakref__")

    def __init__(self, a):
        object.__setattr__(self, "_a", a)

    # --- what CuPy reads without the device
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: Array(self._a.T))
    device = property(lambda self: Device())

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self._a.ctypes.data)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # --- NumPy's protocols: ufuncs and functions run as CuPy ops; implicit conversion is refused
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        writes = out[0] if isinstance(out, tuple) and len(out) == 1 else out
        if method == "at":
            writes = inputs[0]
        name = ufunc.__name__
        return _run(getattr(ufunc, method) if method != "__call__" else ufunc, inputs, kwargs,
                    writes=writes._a if isinstance(writes, Array) else None, name=name)

    def __array_function__(self, func, types_, args, kwargs):
        out = kwargs.get("out")
        writes = out._a if isinstance(out, Array) else None
        if func is np.copyto:
            writes = _unwrap(args[0])
        return _run(func, args, kwargs, writes=writes, name=func.__name__)

    # --- host reads: a blocking get()
    def get(self, stream=None, order="C", out=None, blocking=True):
        s = stream or _current()
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained fromcupy.ndarray")
            if out.dtype != self.dtype:
                raise TypeError("{} array cannot be obtained from {} array".format(out.dtype, self.dtype))
            if out.shape != self.shape:
                raise ValueError("Shape mismatch. Expected shape: {}, actual shape: {}".format(self.shape, out.shape))
        _refuse_while_capturing("ndarray.get (a device-to-host copy)", s)
        src = self._a
        if not blocking and out is not None and isinstance(out, Pinned) and s.deferred:
            s.submit(lambda: np.copyto(out, src))  # lands when the stream gets there
            return out
        _host_wait("ndarray.get")
        s.flush()
        if out is None:
            return np.array(src, order=order)
        out[...] = src
        return out

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError("{} array cannot be set to {} array".format(arr.dtype, self.dtype))
        if self.shape != arr.shape:
            raise ValueError("Shape mismatch. Old shape: {}, new shape: {}".format(self.shape, arr.shape))
        if not self._a.flags.c_contiguous:
            raise RuntimeError("Cannot set to non-contiguous array")
        s = stream or _current()
        _refuse_while_capturing("ndarray.set (a host-to-device copy)", s)
        dst = self._a
        if isinstance(arr, Pinned):
            s.submit(lambda: np.copyto(dst, arr))  # read when the copy runs: the host must not touch it before
            return
        snapshot = np.array(arr)
        if s.deferred:  # CUDA stages a pageable copy behind a sync of its stream
            STATE.counters.pageable_uploads += 1
            _host_wait("a pageable host-to-device copy")
            s.flush()
        s.submit(lambda: np.copyto(dst, snapshot))

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return _host_read(self, "ndarray.item").item()

    def __format__(self, spec):
        return format(_host_read(self, "format(ndarray)"), spec)

    # --- indexing: views share memory; a write is an op on the current stream
    @staticmethod
    def _key(key):
        k = _unwrap(key, host_ok=True)
        masks = [v for v in (k if isinstance(k, tuple) else (k,)) if isinstance(v, np.ndarray) and v.dtype == bool]
        if masks:
            _host_wait("boolean-mask indexing (the count is read back)")
        return k

    def __getitem__(self, key):
        k = self._key(key)
        basic = not any(isinstance(v, np.ndarray) for v in (k if isinstance(k, tuple) else (k,)))
        if basic:
            return Array(self._a[k])  # a view: no kernel
        return _run(lambda a: a[k], (self,), {}, name="take")

    def __setitem__(self, key, value):
        k = self._key(key)
        dst = self._a
        if isinstance(value, np.ndarray) and not isinstance(value, Array):  # a host array: an H2D copy
            _refuse_while_capturing("ndarray.__setitem__ with a host array (a host-to-device copy)", _current())
        v = _unwrap(value, host_ok=True)

        def write(d, v):
            d[k] = v
        _run(write, (dst, v), {}, writes=dst, host_ok=True, name="setitem")

    # --- the rest of ndarray's methods: CuPy ops on the current stream
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        if name in _SYNC_METHODS:
            def read(*a, **k):
                return getattr(_host_read(self, "ndarray." + name), name)(*a, **k)
            return read

        def method(*a, **k):
            fn = getattr(np.ndarray, name)
            out = k.get("out")
            writes = self._a if name in _IN_PLACE_METHODS else (out._a if isinstance(out, Array) else None)
            return _run(fn, (self,) + a, k, writes=writes, name=name)
        return method

    def __setattr__(self, name, value):
        if name == "shape":
            self._a.shape = value
        else:
            raise AttributeError("cannot set %r on a device array" % name)

    def __reduce__(self):
        return (Array, (np.array(_host_read(self, "pickle")),))

    def __copy__(self):
        return _run(np.copy, (self,), {}, name="copy")

    def __deepcopy__(self, memo):
        return self.__copy__()


def _read_through_get(convert, what):
    def method(self):
        return convert(_host_read(self, what))
    method.__name__ = what
    return method


# int()/float()/... read the value back through get() (core.pyx:2048-2055, 2068-2072): a counted host sync
for _name, _convert in (("__int__", int), ("__float__", float), ("__complex__", complex), ("__bool__", bool),
                        ("__index__", int), ("__repr__", repr), ("__str__", str)):
    setattr(Array, _name, _read_through_get(_convert, _name))


# ---------------------------------------------------------------- the cupy namespace

def _maybe_pool(x):
    if STATE.in_pool:
        STATE.counters.pool_blocks += 1
    return x


def _function(name, fn):
    conversion = name in _CONVERSIONS

    def copied(*a, **k):
        return np.array(fn(*a, **k), copy=True)

    def call(*args, **kwargs):
        kwargs.pop("like", None)
        f = fn
        if conversion and any(isinstance(v, np.ndarray) for v in _arrays(args[:1])):
            # a host-to-device copy on the current stream: new device memory, never the host's own
            _refuse_while_capturing("cupy.%s of a host array (a host-to-device copy)" % name)
            f = copied
        out = kwargs.get("out")
        return _maybe_pool(_run(f, args, kwargs, writes=out._a if isinstance(out, Array) else None,
                                host_ok=conversion, name=name))
    call.__name__ = name
    return call


class _Ufunc:
    def __init__(self, uf):
        self.uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        out = kwargs.get("out")
        return _run(self.uf, args, kwargs, writes=out._a if isinstance(out, Array) else None, name=self.__name__)

    def __getattr__(self, name):
        if name in ("reduce", "accumulate", "outer", "reduceat", "at"):
            return _function(self.__name__, getattr(self.uf, name))
        return getattr(self.uf, name)


class _Namespace(types.ModuleType):
    """A NumPy namespace as CuPy's: functions take and give device arrays; dtypes and constants pass through."""
    _refuse = None  # (exception, message) for the whole namespace while capturing (cuRAND)

    def __init__(self, name, np_module):
        super().__init__(name)
        self._np = np_module

    def __getattr__(self, name):
        attr = getattr(self._np, name)
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        if isinstance(attr, types.ModuleType):
            return _Namespace(self.__name__ + "." + name, attr)
        if isinstance(attr, type) or not callable(attr):
            return attr
        fn = _function(name, attr)
        if self._refuse is not None:
            exc, msg = self._refuse
            inner = fn

            def fn(*a, **k):
                if _capturing():
                    raise exc(msg)
                return _wrap_generator(inner(*a, **k))
        return fn


class _Random(_Namespace):
    _refuse = (NotImplementedError, CURAND_REFUSED)


def _wrap_generator(x):
    """cupy.random.default_rng(...) is a device generator: its draws are device arrays (cuRAND)."""
    if isinstance(x, np.random.Generator):
        return _Random("cupy.random.Generator", x)
    return x


class FakeCupy(types.ModuleType):
    """`cupy` as gpunet uses it: every NumPy name, on device arrays, with the rules above."""

    def __init__(self):
        super().__init__("cupy_standin")
        self._ns = _Namespace("cupy", np)
        self.cuda = types.SimpleNamespace(Stream=Stream, MemoryPool=MemoryPool, using_allocator=using_allocator,
                                          Device=Device, Event=Event, get_current_stream=_current,
                                          get_elapsed_time=get_elapsed_time, Graph=Graph,
                                          compiler=types.SimpleNamespace(CompileException=RuntimeError))
        self.random = _Random("cupy.random", np.random)
        self.linalg = _Namespace("cupy.linalg", np.linalg)
        self.RawModule = RawModule
        self.RawKernel = RawKernel
        self.ndarray = Array
        self.__version__ = "stand-in"

    def asnumpy(self, a, stream=None, order="C", out=None, blocking=True):
        return a.get(stream=stream, order=order, out=out, blocking=blocking) if isinstance(a, Array) else np.asarray(a)

    def get_array_module(self, *args):
        return self if any(isinstance(a, Array) for a in args) else np

    def __getattr__(self, name):
        return getattr(self._ns, name)


# ---------------------------------------------------------------- kernels

def _kernel_arg(x, i):
    if isinstance(x, Array):
        return x._a
    if isinstance(x, np.ndarray):  # CuPy: size 1 goes by value, larger raises; a pointer was meant either way
        raise TypeError("kernel argument %d: a numpy.ndarray of shape %s was passed; CuPy passes a size-1 host array "
                        "by value and refuses larger ones, so a pointer to device memory needs a cupy.ndarray"
                        % (i, x.shape))
    if isinstance(x, (bool, int, float, np.generic)):
        return x
    raise TypeError("kernel argument %d: unsupported type %s" % (i, type(x)))


class RawKernel:
    def __init__(self, emulated_kernel, name=""):
        self.k, self.name = emulated_kernel, name

    def __call__(self, grid, block, args, shared_mem=0, stream=None, enable_cooperative_groups=False):
        if not isinstance(grid, tuple) or not isinstance(block, tuple):
            raise TypeError("Argument 'grid' and 'block' must be tuples (Function.__call__(tuple grid, tuple block, "
                            "...)); received %s and %s" % (type(grid).__name__, type(block).__name__))
        grid = tuple(max(1, int(g)) for g in (grid + (1, 1))[:3])  # CuPy launches a zero dimension as one block
        block = tuple(max(1, int(b)) for b in (block + (1, 1))[:3])
        a = tuple(_kernel_arg(x, i) for i, x in enumerate(args))
        s = stream or _current()
        if not s.capturing:
            STATE.counters.eager_launches += 1
        s.submit(lambda: self.k(grid, block, a, shared_mem))


class RawModule:
    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        # gpunet hands CuPy each source with its shared header pasted in (build._inline_headers)
        found = next((f for f in build.kernel_files() if build._inline_headers(f.read_text()) == code), None)
        assert found is not None, "RawModule: source not among kernels/*.cu"
        self.mod = emulated.module(found)

    def compile(self, log_stream=None):
        pass

    def get_function(self, name):
        return RawKernel(self.mod.get_function(name), name)


@contextlib.contextmanager
def installed(monkeypatch):
    """gpunet on the stand-in: backend "cupy", kernels "cuda"; kernel caches kept apart from real ones."""
    from gpunet import backend
    from conftest import require_emulation
    require_emulation()
    global STATE
    STATE = _State()
    Stream.by_ptr = {0: Stream.null}
    Stream.null.queue, Stream.null.enqueued, Stream.null.done = [], 0, 0
    monkeypatch.setattr(build, "_modules", {})
    monkeypatch.setattr(build, "_functions", {})
    monkeypatch.setattr(softmax_xent, "_all_rows", {})
    monkeypatch.setattr(backend, "pinned_empty", lambda shape, dtype: empty_pinned(shape, dtype))
    from gpunet.kernels import cublaslt
    STATE.cublaslt = FakeCublasLt()
    monkeypatch.setattr(cublaslt, "_lib", lambda: STATE.cublaslt)
    monkeypatch.setattr(cublaslt, "_handles", {})
    saved = backend._state()
    backend._set_state((FakeCupy(), "cupy", "CuPy stand-in over the emulated tier (tests)", "cuda"))
    try:
        yield STATE.counters
    finally:
        backend._set_state(saved)


class FakeNccl:
    """`cupy.cuda.nccl` for the stand-in, between real processes (started by mpirun): each collective runs over
    MPI on the arrays' memory, on its stream (queued on a non-blocking one, recorded into a graph while capturing:
    NCCL's own capture support). `counts`: collectives run eagerly, captured, and run by replays."""
    available = True
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_INT32, NCCL_INT64, NCCL_INT8, NCCL_UINT8 = range(6)
    NCCL_SUM, NCCL_MAX, NCCL_MIN = range(3)
    DTYPES = (np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8)
    counts = {"eager": 0, "captured": 0, "replayed": 0}

    @staticmethod
    def get_unique_id():
        return bytes(range(128))  # CuPy >= 14: bytes (nccl.pyx:159-170)

    class NcclCommunicator:
        def __init__(self, ndev, comm_id, rank, config=None):
            if not isinstance(comm_id, bytes):  # nccl.pyx:323: `bytes commId`
                raise TypeError("Argument 'commId' has incorrect type (expected bytes, got %s)"
                                % type(comm_id).__name__)
            if len(comm_id) != 128:
                raise ValueError("commId length %d != 128." % len(comm_id))
            from mpi4py import MPI
            self.MPI, self.comm = MPI, MPI.COMM_WORLD
            assert (self.comm.size, self.comm.rank) == (ndev, rank)
            assert all(c == comm_id for c in self.comm.allgather(comm_id)), "ranks were given different ids"

        @staticmethod
        def _array(ptr, count, dt):
            dtype = np.dtype(FakeNccl.DTYPES[dt])
            return np.frombuffer((ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr), dtype=dtype)

        def _on(self, stream_ptr, fn):
            stream = Stream.by_ptr[stream_ptr]
            if stream.capturing:
                FakeNccl.counts["captured"] += 1

                def replay():
                    FakeNccl.counts["replayed"] += 1
                    fn()
                stream.submit(replay)
                return
            FakeNccl.counts["eager"] += 1
            stream.submit(fn)

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


class FakeCublasLt:
    """libcublasLt as gpunet/kernels/cublaslt.py calls it through ctypes (the same arguments: byref handles,
    integer device pointers, the stream's pointer), over the arrays' memory. Each matrix is read with the
    column-major layout the caller declared, so a wrong layout computes wrong numbers here too. Its rules:
    cublasLtMatmul is captured into the graph like a kernel (cuBLASLt supports capture, unlike CuPy's cuBLAS
    bindings); creating a handle, a descriptor, a layout or a preference while a capture is open is refused and
    invalidates it (they allocate); the workspace must be at least what the preference allowed."""
    NOT_SUPPORTED, INVALID_VALUE = 15, 7

    def __init__(self):
        self.objects, self.calls = {}, []

    def _new(self, out, kind, **fields):
        if _capturing():
            for s in _capturing():
                s.invalidated = True
            return self.NOT_SUPPORTED
        obj = dict(kind=kind, **fields)
        out._obj.value = id(obj)
        self.objects[id(obj)] = obj
        return 0

    def _get(self, ptr, kind):
        obj = self.objects.get(ptr.value if isinstance(ptr, ctypes.c_void_p) else ptr)
        assert obj is not None and obj["kind"] == kind, "not a %s: %r" % (kind, ptr)
        return obj

    def cublasLtCreate(self, out):
        return self._new(out, "handle")

    def cublasLtMatmulDescCreate(self, out, compute, scale):
        return self._new(out, "desc", compute=compute, scale=scale, attrs={})

    def cublasLtMatmulDescSetAttribute(self, desc, attr, buf, size):
        assert size == ctypes.sizeof(buf._obj)
        self._get(desc, "desc")["attrs"][attr] = buf._obj.value
        return 0

    def cublasLtMatrixLayoutCreate(self, out, dtype, rows, cols, ld):
        if dtype != 0 or ld < rows:
            return self.INVALID_VALUE
        return self._new(out, "layout", rows=rows, cols=cols, ld=ld)

    def cublasLtMatmulPreferenceCreate(self, out):
        return self._new(out, "pref", attrs={})

    def cublasLtMatmulPreferenceSetAttribute(self, pref, attr, buf, size):
        self._get(pref, "pref")["attrs"][attr] = buf._obj.value
        return 0

    def cublasLtMatmulAlgoGetHeuristic(self, handle, desc, a, b, c, d, pref, requested, result, count):
        self._get(handle, "handle")
        self._get(desc, "desc")
        result._obj.workspaceSize = 0
        count._obj.value = 1
        return 0

    @staticmethod
    def _matrix(ptr, layout):
        """The column-major rows × cols matrix (leading dimension ld) at ptr, as a writable NumPy view."""
        rows, cols, ld = layout["rows"], layout["cols"], layout["ld"]
        n = (cols - 1) * ld + rows if rows and cols else 0
        flat = np.frombuffer((ctypes.c_float * n).from_address(ptr), np.float32) if n else np.zeros(0, np.float32)
        return np.lib.stride_tricks.as_strided(flat, (rows, cols), (4, 4 * ld), writeable=True)

    def cublasLtMatmul(self, handle, desc, alpha, A, a, B, b, beta, C, c, D, d, algo, ws, ws_size, stream):
        self._get(handle, "handle")
        dd = self._get(desc, "desc")
        la, lb, lc, ld_ = (self._get(x, "layout") for x in (a, b, c, d))
        assert (la["rows"], lb["cols"]) == (ld_["rows"], ld_["cols"]) and la["cols"] == lb["rows"], "shapes"
        assert ws and ws_size >= 0, "a workspace is the caller's"
        attrs = dict(dd["attrs"])
        al, be = alpha._obj.value, beta._obj.value
        self.calls.append(attrs.get(7, 1))

        def run():
            Am, Bm, Dm = self._matrix(A, la), self._matrix(B, lb), self._matrix(D, ld_)
            out = al * (Am.astype(np.float64) @ Bm.astype(np.float64))
            if be:
                out += be * self._matrix(C, lc)
            epi = attrs.get(7, 1)
            if epi & 4:  # BIAS: a vector along D's rows
                out += np.frombuffer((ctypes.c_float * ld_["rows"]).from_address(attrs[8]), np.float32)[:, None]
            if epi & 128:  # AUX: the pre-activation, ld from the descriptor
                aux = self._matrix(attrs[11], dict(rows=ld_["rows"], cols=ld_["cols"], ld=attrs[12]))
                aux[...] = out
            if epi & 2:
                out = np.maximum(out, 0)
            if epi & 32:  # cuBLASLt's GELU: the tanh form
                out = 0.5 * out * (1 + np.tanh(0.7978845608028654 * (out + 0.044715 * out ** 3)))
            Dm[...] = out
        Stream.by_ptr[stream].submit(run)
        return 0
