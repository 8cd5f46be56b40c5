"""The CuPy-only machinery of the launch programs (gpu_step.py): their buffers from a private memory pool (Arena),
running a launch list on a non-blocking stream, eagerly or captured as CUDA graphs, with the stream orderings
and page-locked uploads around it (Runner), and the progress bar's asynchronous read of the device sums
(Readback). On NumPy (the emulated tier) the same objects run the launches synchronously. CI runs the CuPy side
on tests/cupy_standin.py, which holds it to CuPy 14's stream and capture rules."""
import logging
import os

import numpy as np

from .. import backend

_log = logging.getLogger("gpunet")
WARMUP_STEPS = 2  # eager steps on the capture stream before capture: modules loaded, pool blocks settled


def capture_enabled():
    return backend.kernels() == "cuda" and os.environ.get("GPUNET_CUDA_GRAPHS", "1") != "0"


class Arena:
    """The program's buffers: allocated once, from a private CuPy pool kept alive with the program (a
    graph keeps raw pointers; pool blocks must never return to the shared pool while it exists).
    Emulated, each buffer starts poisoned (NaN / -1), so one a kernel fails to write shows in the tests."""

    def __init__(self):
        self.xp = backend.get_xp()
        self.pool = self.xp.cuda.MemoryPool() if backend.kernels() == "cuda" else None
        self.buffers = []

    def empty(self, shape, dtype=np.float32, fill=None):
        xp = self.xp
        if fill is None:
            kind = np.dtype(dtype).kind
            poison = np.nan if kind == "f" else (np.iinfo(dtype).max if kind == "u" else -1)
            fill = poison if backend.kernels() == "emulate" else 0
        if self.pool is not None:
            with xp.cuda.using_allocator(self.pool.malloc):
                a = xp.full(shape, fill, dtype=dtype)
        else:
            a = xp.full(shape, fill, dtype=dtype)
        self.buffers.append(a)
        return a

    def copy_of(self, array, dtype):
        a = self.empty(array.shape, dtype, fill=0)
        a[...] = self.xp.asarray(array)
        return a


class Runner:
    """Runs a launch list k steps at a time: eagerly, or on CuPy as CUDA graphs captured on first use."""

    def __init__(self, launches, capture):
        self.launches = launches
        self.capture = capture and capture_enabled()
        self.stream = None
        self.graphs = {}
        self.eager_steps = 0
        if backend.kernels() == "cuda":
            xp = backend.get_xp()
            self.stream = xp.cuda.Stream(non_blocking=True)
            xp.cuda.Device().synchronize()  # the data and weights were written on the legacy stream

    def follow_default_stream(self):
        """Work queued on the legacy default stream before now (weights a callback set, data just uploaded)
        comes before the program's next launch: an event wait on the device, not a host sync."""
        if self.stream is not None:
            self.stream.wait_event(backend.get_xp().cuda.Stream.null.record())

    def lead_default_stream(self):
        """The other way round: work queued on the legacy stream from now on (a batch hook reading or writing
        weights) comes after the program's launches so far. The program's stream is non-blocking, so the
        legacy stream would not wait for it otherwise; again an event wait on the device, not a host sync."""
        if self.stream is not None:
            backend.get_xp().cuda.Stream.null.wait_event(self.stream.record())

    def staging(self, shape, dtype):
        """A host buffer for upload(): page-locked on CuPy. A copy from pageable memory is staged by CUDA behind
        a sync of the stream (a hidden host sync); from pinned memory it is a plain asynchronous copy. The
        caller must not rewrite it while a copy from it may still be queued (each upload here is either made
        after a sync, or rewrites rows no queued step reads before a later copy of the same rows)."""
        if self.stream is None:
            return np.zeros(shape, dtype)
        return backend.pinned_empty(shape, dtype)

    def upload(self, dst, host):
        """A host array (from staging(), same dtype and shape) into a program buffer, ordered on the program's
        stream (outside any step)."""
        if self.stream is None:
            dst[...] = host
        else:
            dst.set(host, stream=self.stream)

    def run(self, k):
        if self.stream is None:
            for _ in range(k):
                for launch in self.launches:
                    launch()
            return
        with self.stream:
            if not self.capture or self.eager_steps < WARMUP_STEPS:
                for _ in range(k):
                    for launch in self.launches:
                        launch()
                self.eager_steps += k
                return
            graph = self.graphs.get(k)
            if graph is None:
                graph = self._capture(k)
                if graph is None:
                    return self.run(k)
            graph.launch(self.stream)

    def _capture(self, k):
        s = self.stream
        error, graph = None, None
        try:
            s.begin_capture()
            try:
                for _ in range(k):
                    for launch in self.launches:
                        launch()
            except Exception as e:
                error = e
            try:  # always ended: a stream left capturing refuses everything after
                graph = s.end_capture()
            except Exception as e:  # the driver invalidated the capture (after `error`, or on its own)
                error = error or e
        except Exception as e:  # no stream capture in this CuPy or driver
            error = e
        if error is not None:  # the same launches, uncaptured; the first cause is the one worth reading
            first = (str(error).splitlines() or [""])[0][:200]
            _log.warning("gpunet: CUDA graph capture failed (%s: %s); the step runs uncaptured",
                         type(error).__name__, first)
            self.capture = False
            return None
        self.graphs[k] = graph
        return graph

    def synchronize(self):
        if self.stream is not None:
            self.stream.synchronize()


class Readback:
    """The device sums [Σ loss, Σ correct] for the progress bar without stopping the stream: on CuPy an
    asynchronous copy into pinned memory and an event; a read returns the latest copy that has landed
    (one draw behind at worst) and starts the next. read(sync=True) waits (epoch end, batch callbacks)."""

    def __init__(self, acc, runner):
        self.acc, self.runner = acc, runner
        self.values = np.zeros(acc.shape, np.float64)
        self.rows = 0
        self.pending = None
        if runner.stream is not None:
            self.host = backend.pinned_empty(acc.shape, acc.dtype)

    def read(self, rows, sync=False):
        if self.runner.stream is None:
            self.values, self.rows = np.array(self.acc, dtype=np.float64), rows
            return self.values, self.rows
        if sync:  # a blocking copy on the program's stream: one host wait for the steps and the sums
            self.values = self.acc.get(stream=self.runner.stream).astype(np.float64)
            self.rows, self.pending = rows, None
            return self.values, self.rows
        if self.pending is not None and self.pending[0].done:
            self.values, self.rows = np.array(self.host, dtype=np.float64), self.pending[1]
            self.pending = None
        if self.pending is None:  # queued behind the steps so far; lands while the next ones run
            s = self.runner.stream
            self.acc.get(stream=s, out=self.host, blocking=False)
            self.pending = (s.record(), rows)
        return self.values, self.rows
