"""gpunet/kernels/cpu_parallel.py: batch chunks on all cores, the same results as one after another."""
import multiprocessing
import threading

import numpy as np
import pytest

import gpunet
from gpunet import ops
from gpunet.common import threads
from gpunet.kernels import cpu_parallel
from gpunet.ops import convolution as C


@pytest.fixture
def workers(monkeypatch):
    """Sets the thread count for one test: the user's count in a fresh policy (common/threads.py)."""
    saved = threads.policy()

    def set_(n):
        if n > 1 and not threads.blas_controlled():
            pytest.skip("BLAS's thread count cannot be set here: chunks always run in turn")
        threads.set_policy(threads.Policy(env={"GPUNET_CPU_THREADS": str(n)}))
    yield set_
    threads.set_policy(saved)


def _meet(chunks):
    """fn(i, j) for run(): the first two chunks wait for each other, so they must run on two threads at once."""
    first = {chunks[0][0], chunks[1][0]}
    barrier = threading.Barrier(2, timeout=20)
    names = []

    def fn(i, j):
        names.append(threading.current_thread().name)
        if i in first:
            barrier.wait()
        return list(range(i, j))
    return fn, names


def test_chunks_run_on_worker_threads_in_chunk_order(workers):
    workers(2)
    chunks = [(0, 1), (1, 5), (5, 9), (9, 10)]
    fn, names = _meet(chunks)
    assert cpu_parallel.run(fn, chunks) == [list(range(i, j)) for i, j in chunks]
    assert threading.current_thread().name in names  # the calling thread takes chunks too
    assert any(n.startswith("gpunet-cpu") for n in names)


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


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_count_is_refused(value):
    with pytest.raises(ValueError, match="GPUNET_CPU_THREADS must be a positive integer, received %r" % value):
        threads.Policy(env={"GPUNET_CPU_THREADS": value})


def test_thread_count_from_the_environment(workers):
    workers(1)
    me = threading.current_thread().name
    assert cpu_parallel.workers() == 1
    assert cpu_parallel.run(lambda i, j: threading.current_thread().name, [(0, 1), (1, 2)]) == [me, me]


def test_a_busy_machine_runs_the_same_chunks_on_fewer_threads(monkeypatch):
    """The chunk borders come from the most threads the policy gives (so the results stay the same); how many
    threads take them comes from the load: with the other core busy, all run on the calling thread."""
    saved = threads.policy()
    try:
        p = threads.Policy(env={}, affinity={0, 1}, host_cpus=2)
        if not threads.blas_controlled():
            pytest.skip("no BLAS thread control here: chunks always run in turn")
        threads.set_policy(p)
        monkeypatch.setattr(p, "free", lambda: 2)
        chunks = C.sample_chunks(128, 1 << 20)
        assert len(chunks) % 2 == 0
        fn, names = _meet(chunks)
        cpu_parallel.run(fn, chunks)
        assert len(set(names)) == 2
        monkeypatch.setattr(p, "free", lambda: 1)
        assert C.sample_chunks(128, 1 << 20) == chunks
        me = threading.current_thread().name
        assert cpu_parallel.run(lambda i, j: threading.current_thread().name, chunks) == [me] * len(chunks)
    finally:
        threads.set_policy(saved)


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
