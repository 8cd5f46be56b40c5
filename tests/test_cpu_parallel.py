"""gpunet/kernels/cpu_parallel.py: batch chunks on all cores, the same results as one after another."""
import multiprocessing
import threading

import numpy as np
import pytest

import gpunet
from gpunet import ops
from gpunet.kernels import cpu_parallel
from gpunet.ops import convolution as C


@pytest.fixture
def workers(monkeypatch):
    """Sets the worker count for one test (the pool is made on demand for that count)."""
    cpu_parallel.workers()  # finds NumPy's OpenBLAS once

    def set_(n):
        monkeypatch.setitem(cpu_parallel._state, "workers", n)
        if n > 1 and "set_local" not in cpu_parallel._state:
            pytest.skip("NumPy's BLAS here cannot limit threads per worker: chunks always run in turn")
        monkeypatch.setitem(cpu_parallel._state, "pool", None)
    yield set_
    pool = cpu_parallel._state.get("pool")
    if pool is not None:
        pool.shutdown()


def test_chunks_run_on_worker_threads_in_chunk_order(workers):
    workers(2)
    names = []

    def fn(i, j):
        names.append(threading.current_thread().name)
        return list(range(i, j))
    chunks = [(0, 3), (3, 5), (5, 9), (9, 10)]
    assert cpu_parallel.run(fn, chunks) == [list(range(i, j)) for i, j in chunks]
    assert all(n.startswith("gpunet-cpu") for n in names)


def test_a_call_from_a_worker_runs_inline(workers):
    workers(2)
    seen = []

    def inner(i, j):
        seen.append(threading.current_thread().name)
        return j - i

    def outer(i, j):  # both workers busy here: a nested map on the same pool would wait forever
        return sum(cpu_parallel.run(inner, [(i, i + 1), (i + 1, j)]))
    assert cpu_parallel.run(outer, [(0, 4), (4, 9)]) == [4, 5]
    assert len(seen) == 4


def test_one_worker_runs_on_the_calling_thread(workers):
    workers(1)
    me = threading.current_thread().name
    assert cpu_parallel.run(lambda i, j: threading.current_thread().name, [(0, 1), (1, 2)]) == [me, me]


def test_a_worker_error_reaches_the_caller(workers):
    workers(2)

    def fn(i, j):
        if i == 2:
            raise ValueError("chunk %d failed" % i)
        return i
    with pytest.raises(ValueError, match="chunk 2 failed"):
        cpu_parallel.run(fn, [(0, 2), (2, 4)])


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("GPUNET_CPU_THREADS", value)
    monkeypatch.delitem(cpu_parallel._state, "workers", raising=False)
    with pytest.raises(ValueError, match="GPUNET_CPU_THREADS must be a positive integer, received %r" % value):
        cpu_parallel.workers()


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("GPUNET_CPU_THREADS", "1")
    monkeypatch.delitem(cpu_parallel._state, "workers", raising=False)
    assert cpu_parallel.workers() == 1


def _conv_training(seed):
    rng = np.random.default_rng(seed)
    x = gpunet.Variable(rng.standard_normal((37, 15, 14, 6)).astype(np.float32))
    W = gpunet.Variable(rng.standard_normal((3, 3, 6, 20)).astype(np.float32))
    b = gpunet.Variable(rng.standard_normal((20,)).astype(np.float32))
    with gpunet.GradientTape() as t:
        y = ops.max_pool(C.conv_bias_act(x, W, b, "relu", 1, "same"), 2, 2)
        y2 = C.conv_bias_act(y, gpunet.Variable(rng.standard_normal((2, 2, 20, 3)).astype(np.float32)), None,
                             "linear", 2, "valid")
        loss = ops.sum(ops.multiply(y2, y2))
    return [y2.numpy()] + [g.numpy() for g in t.gradient(loss, [x, W, b])]


def test_parallel_chunks_equal_chunks_in_turn(workers):
    """Forward and gradients of conv + pool + strided conv: only the GEMMs' row blocking differs."""
    workers(2)
    par = _conv_training(0)
    workers(1)
    seq = _conv_training(0)
    for a, b in zip(par, seq):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-4 * float(np.abs(b).max()))
    assert np.abs(par[1]).sum() > 0


def _child_conv(_):
    return float(_conv_training(1)[0].sum())


def test_a_forked_child_makes_its_own_pool(workers):
    """A fork copies none of the pool's threads: the child must not wait on them."""
    workers(2)
    parent = _child_conv(None)  # the parent's pool exists now
    with multiprocessing.get_context("fork").Pool(1) as p:
        child = p.apply_async(_child_conv, (None,)).get(timeout=120)
    np.testing.assert_allclose(child, parent, rtol=1e-5)
