"""Batch-parallel CPU execution: a layer's chunks of samples run on all cores at once.

OpenBLAS parallelises each GEMM by splitting it across its threads; between the GEMMs, NumPy and the
C passes (im2col, bias + relu, pooling) run on one core while the others wait, and every pass streams
the whole batch through memory. TensorFlow (Eigen's thread pool) and XLA instead give each thread whole
chunks of the batch: patches, GEMM and epilogue stay in that core's cache. `run` does the same: worker
threads, with BLAS on one thread meanwhile, take one chunk at a time (ctypes and NumPy's matmul release the GIL,
so they run in parallel; OpenBLAS's thread count is process-wide, its `_local` setter included).
On the 2-core CI machine the MNIST convnet's convolution layers ran 1.5x faster than chunk after chunk.

How many threads take part is decided at each call by the threading policy (common/threads.py): the cores
no other process keeps busy, or the user's count. Chunks are fixed by the shapes and the most threads the
policy ever gives (`workers()`: the user's count or this process's cores), never by the load or the
scheduling, and each is computed by one thread into its own slice of a preallocated output (reductions add
the chunks' partial results in chunk order), so results are the same on a quiet and on a busy machine; a
different worker count moves chunk borders, which changes GEMM results in the last bits. Where BLAS's thread
count cannot be set (no threadpoolctl) or with one thread, the chunks run one after another on the calling
thread — the same results. The calling thread takes chunks too; idle workers sleep on the pool's queue. A
call from inside a chunk runs inline (no nesting)."""
import os
import threading

from ..common import threads

_state = {}  # "pool": executor or None
_local = threading.local()
_lock = threading.Lock()


def workers():
    """How many chunks a batch is cut into at least: the most threads the policy gives an op; 1 where BLAS's
    thread count cannot be set (a chunk's GEMM on several BLAS threads beside other chunks would oversubscribe)."""
    return threads.policy().max_threads() if threads.blas_controlled() else 1


def _pool(size):
    """The worker threads (the calling thread is one more); made again larger when the user's count grows."""
    if _state.get("size", 0) < size or _state.get("pool") is None:
        with _lock:
            if _state.get("size", 0) < size or _state.get("pool") is None:
                from concurrent.futures import ThreadPoolExecutor

                def init():
                    _local.worker = True
                old = _state.get("pool")
                _state["pool"] = ThreadPoolExecutor(size, thread_name_prefix="gpunet-cpu", initializer=init)
                _state["size"] = size
                if old is not None:
                    old.shutdown(wait=False)
    return _state["pool"]


def run(fn, chunks):
    """fn(start, stop) for every chunk, on as many threads as the policy gives now; the results in chunk order."""
    chunks = list(chunks)
    if getattr(_local, "worker", False):
        return [fn(i, j) for i, j in chunks]
    policy = threads.policy()
    k = min(len(chunks), workers(), policy.large())
    policy.chunks_ran()
    threads.set_blas_threads(1)  # a chunk's GEMMs: our threads are the parallelism (OpenBLAS's would spin)
    if k < 2:
        return [fn(i, j) for i, j in chunks]
    results = [None] * len(chunks)
    todo = iter(list(enumerate(chunks)))
    take = threading.Lock()
    failed = []

    def drain():
        while not failed:
            with take:
                item = next(todo, None)
            if item is None:
                return
            n, (i, j) = item
            try:
                results[n] = fn(i, j)
            except BaseException as e:  # the others stop taking chunks; the caller raises it
                failed.append(e)
                raise
    pool = _pool(k - 1)
    futures = [pool.submit(drain) for _ in range(k - 1)]
    _local.worker = True
    try:
        drain()
    except BaseException as e:  # raised below, once every worker has stopped writing
        if not any(e is f for f in failed):
            failed.append(e)
    finally:
        _local.worker = False
        for f in futures:
            f.exception()  # waits
    if failed:
        raise failed[0]
    return results


def _after_fork():
    """A forked child has none of the parent's threads: it makes its own pool when it needs one."""
    _state.pop("pool", None)
    _state.pop("size", None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
