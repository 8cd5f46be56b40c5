"""The CuPy stand-in (tests/cupy_standin.py) refuses what CuPy 14 refuses and orders work as CUDA streams do: each
rule of its docstring has a test here that a laxer stand-in fails, and its API is held against the real `cupy`
(which imports without a GPU). Also the launch-program fixes those rules exposed (GPU-REVIEW-2: D1, L1-L5, L11)."""
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import cupy_standin as cs
import gpunet
from gpunet.distribution import comm as comm_mod
from gpunet.kernels import attention, conv
from gpunet.training import gpu_runner

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cp(monkeypatch):
    from gpunet import backend
    with cs.installed(monkeypatch) as counters:
        xp = backend.get_xp()
        xp.counters = counters
        yield xp


def _kernel(cp):
    """A real kernel through the stand-in: mask_multiply (g *= mask over n elements)."""
    from gpunet.kernels import step
    g, m = cp.asarray(np.arange(6, dtype=np.float32)), cp.asarray(np.full(6, 2.0, np.float32))
    return step.mask_multiply_launch(g, m), g


# ---------------------------------------------------------------- streams

def test_a_non_blocking_stream_runs_only_when_something_orders_it(cp):
    launch, g = _kernel(cp)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        launch()
    assert g.get(stream=cp.cuda.Stream.null).tolist() == [0, 1, 2, 3, 4, 5]  # the legacy stream does not wait
    syncs = cp.counters.syncs
    s.synchronize()
    assert g.get().tolist() == [0, 2, 4, 6, 8, 10] and cp.counters.syncs == syncs + 2


def test_an_event_wait_orders_the_legacy_stream_after_a_non_blocking_one(cp):
    launch, g = _kernel(cp)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        launch()
    cp.cuda.Stream.null.wait_event(s.record())  # device-side: no host sync
    syncs = cp.counters.syncs
    out = cp.empty_like(g)
    cp.copyto(out, g)  # a legacy-stream op after the wait sees the kernel's result
    assert cp.counters.syncs == syncs and out.get().tolist() == [0, 2, 4, 6, 8, 10]


def test_event_done_is_false_until_the_work_before_it_ran(cp):
    launch, g = _kernel(cp)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        launch()
    e = s.record()
    assert e.done is False  # queued; polling lets the device get there
    assert e.done is True
    host = cs.empty_pinned((6,), np.float32)
    g.get(stream=s, out=host, blocking=False)
    e2 = s.record()
    assert host.tolist() == [0] * 6 and not e2.done and e2.done and host.tolist() == [0, 2, 4, 6, 8, 10]


def test_a_pageable_upload_on_a_non_blocking_stream_is_a_host_sync_and_a_pinned_one_is_not(cp):
    a = cp.zeros(4, np.float32)
    s = cp.cuda.Stream(non_blocking=True)
    syncs = cp.counters.syncs
    a.set(np.ones(4, np.float32), stream=s)
    assert cp.counters.syncs == syncs + 1 and cp.counters.pageable_uploads == 1
    a.set(cs.empty_pinned((4,), np.float32), stream=s)
    assert cp.counters.syncs == syncs + 1 and cp.counters.pageable_uploads == 1


# ---------------------------------------------------------------- capture

def _capturing(cp):
    s = cp.cuda.Stream(non_blocking=True)
    s.begin_capture()
    return s


@pytest.mark.parametrize("call, exc, message", [
    (lambda cp, a: cp.matmul(a, a), NotImplementedError, "cuBLAS API during stream capture"),
    (lambda cp, a: a @ a, NotImplementedError, "cuBLAS API during stream capture"),
    (lambda cp, a: cp.dot(a, a), NotImplementedError, "cuBLAS API during stream capture"),
    (lambda cp, a: cp.random.random((2, 2), dtype=np.float32), NotImplementedError, "cuRAND API"),
    (lambda cp, a: a.get(), RuntimeError, "capturing"),
    (lambda cp, a: a.set(np.zeros((2, 2), np.float32)), RuntimeError, "capturing"),
    (lambda cp, a: cp.asarray(np.zeros(3, np.float32)), RuntimeError, "capturing"),
    (lambda cp, a: float(a[0, 0]), RuntimeError, "capturing"),
    (lambda cp, a: int(a[0, 0]), RuntimeError, "capturing"),
    (lambda cp, a: a[0, 0].item(), RuntimeError, "capturing"),
    (lambda cp, a: cp.cuda.Device().synchronize(), RuntimeError, "capturing"),
], ids=["matmul", "matmul_operator", "dot", "curand", "get", "set", "asarray_host", "float", "int", "item", "sync"])
def test_capture_refuses_what_cupy_refuses(cp, call, exc, message):
    a = cp.ones((2, 2), np.float32)
    s = _capturing(cp)
    with s:
        with pytest.raises(exc, match=message):
            call(cp, a)


def test_cupy_ops_are_recorded_while_capturing_not_run(cp):
    a = cp.ones(4, np.float32)
    s = _capturing(cp)
    with s:
        cp.add(a, 1, out=a)
        b = a * 3
        g = s.end_capture()
    s.synchronize()
    assert a.get().tolist() == [1] * 4  # nothing ran at capture
    g.launch(s)
    s.synchronize()
    assert a.get().tolist() == [2] * 4 and b.get().tolist() == [6] * 4
    g.launch(s)
    s.synchronize()
    assert a.get().tolist() == [3] * 4 and b.get().tolist() == [9] * 4


def test_a_sync_invalidates_the_capture_so_end_capture_raises(cp):
    s = _capturing(cp)
    with s:
        with pytest.raises(RuntimeError):
            s.synchronize()
        with pytest.raises(cs.CUDARuntimeError, match="Invalidated"):
            s.end_capture()
    s2 = _capturing(cp)  # a refused host copy is CuPy's own pre-check: the capture stays valid
    with s2:
        with pytest.raises(RuntimeError):
            cp.ones(2).get()
        s2.end_capture()


def test_capture_refuses_the_legacy_stream(cp):
    with pytest.raises(RuntimeError, match="legacy"):
        cp.cuda.Stream.null.begin_capture()


# ---------------------------------------------------------------- conversions, set/get, kernel arguments

def test_implicit_conversion_to_numpy_is_refused_and_reads_are_counted_syncs(cp):
    a = cp.arange(3, dtype=np.float32)
    for convert in (np.asarray, np.array, lambda x: np.testing.assert_array_equal(x, [0, 1, 2])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)
    syncs = cp.counters.syncs
    assert float(a[1]) == 1.0 and int(a[2]) == 2 and a[0].item() == 0.0 and bool(a[1])
    assert cp.counters.syncs == syncs + 4
    assert isinstance(a.sum(), cp.ndarray) and not isinstance(a, np.ndarray)  # 0-d device arrays, as CuPy
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.add(a, np.ones(3, np.float32))  # a host operand


def test_set_and_get_check_dtype_shape_and_contiguity_as_cupy(cp):
    a = cp.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="float64 array cannot be set to float32"):
        a.set(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Shape mismatch"):
        a.set(np.zeros((3, 2), np.float32))
    with pytest.raises(RuntimeError, match="non-contiguous"):
        a[:, :2].set(np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="Only numpy.ndarray"):
        a.set([[0, 0, 0]] * 2)
    with pytest.raises(TypeError, match="cannot be obtained"):
        a.get(out=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Shape mismatch"):
        a.get(out=np.zeros(6, np.float32))


def test_a_numpy_array_is_never_a_kernel_argument(cp):
    from gpunet.kernels import step
    g = cp.zeros(1, np.float32)
    for host in (np.zeros(1, np.float32), np.zeros(5, np.float32)):  # size 1 would go by value on a GPU
        with pytest.raises(TypeError, match="numpy.ndarray"):
            step.mask_multiply_launch(g, host)()


def test_grids_are_tuples_and_a_zero_dimension_runs_one_block(cp):
    seen = []
    k = cs.RawKernel(lambda grid, block, args, shared: seen.append((grid, block)))
    k((0,), (128,), ())
    assert seen == [((1, 1, 1), (128, 1, 1))]
    with pytest.raises(TypeError, match="tuples"):
        k([1], (128,), ())


def test_nccl_ids_are_bytes_and_the_communicator_takes_nothing_else():
    uid = cs.FakeNccl.get_unique_id()
    assert isinstance(uid, bytes) and len(uid) == 128
    with pytest.raises(TypeError, match="bytes"):
        cs.FakeNccl.NcclCommunicator(1, tuple(uid), 0)
    with pytest.raises(ValueError, match="length"):
        cs.FakeNccl.NcclCommunicator(1, uid[:64], 0)


# ---------------------------------------------------------------- the stand-in's API against the real CuPy

def _params(f):
    try:
        return [p for p in inspect.signature(f).parameters if p not in ("self", "args", "kwargs")]
    except (ValueError, TypeError):
        return None  # a compiled function CuPy exposes no signature for


def test_every_name_the_standin_provides_exists_in_cupy_with_the_same_parameters():
    cupy = pytest.importorskip("cupy")
    import cupyx
    fake = cs.FakeCupy()
    pairs = [("cupy.cuda." + n, getattr(fake.cuda, n), getattr(cupy.cuda, n, None)) for n in vars(fake.cuda)
             if n != "compiler"]
    pairs += [("cupy.cuda.compiler.CompileException", None, getattr(cupy.cuda.compiler, "CompileException", None))]
    pairs += [("cupy." + n, getattr(fake, n), getattr(cupy, n, None)) for n in
              ("RawModule", "RawKernel", "ndarray", "asnumpy", "get_array_module")]
    pairs += [("cupyx.empty_pinned", cs.empty_pinned, getattr(cupyx, "empty_pinned", None))]
    for cls, real in ((cs.Stream, cupy.cuda.Stream), (cs.Event, cupy.cuda.Event), (cs.Graph, cupy.cuda.Graph),
                      (cs.Device, cupy.cuda.Device), (cs.MemoryPool, cupy.cuda.MemoryPool),
                      (cs.Array, cupy.ndarray), (cs.RawModule, cupy.RawModule), (cs.RawKernel, cupy.RawKernel)):
        for n, v in vars(cls).items():
            if not n.startswith("_") or n in ("__init__", "__call__"):
                if n in ("null", "by_ptr", "deferred", "submit", "flush") and cls is cs.Stream:
                    continue  # the stand-in's own machinery (Stream.null is checked below)
                pairs.append(("%s.%s" % (real.__name__, n), v, getattr(real, n, None)))
    missing = [name for name, _, real in pairs if real is None]
    assert not missing, "the stand-in provides names CuPy lacks: %s" % missing
    assert cupy.cuda.Stream.null is not None
    differ = []
    for name, mine, real in pairs:
        if mine is None or isinstance(mine, (property, type)) or not callable(mine):
            continue
        if name.endswith(".__init__") and mine in (cs.Array.__init__, cs.Graph.__init__, cs.RawKernel.__init__):
            continue  # made by CuPy itself (a view, end_capture, get_function), never by gpunet
        want, got = _params(real), _params(mine)
        if want and got is not None and got != want[:len(got)]:  # [] is CuPy's (*args, **kwargs): no signature
            differ.append("%s: CuPy %s, stand-in %s" % (name, want, got))
    assert not differ, differ


def test_the_standin_docstring_cites_cupy_source_for_each_rule():
    doc = cs.__doc__
    for rule in ("streams", "capture", "conversion", "set/get", "RawKernel", "NCCL"):
        assert re.search(r"^%s\s" % re.escape(rule), doc, re.M), rule
    assert len(re.findall(r"\.pyx:\d+", doc)) >= 10


# ---------------------------------------------------------------- the launch program's fixes these rules exposed

def test_the_nccl_id_is_128_bytes_from_cupy_14_bytes_or_cupy_13_ints():
    """D1: CuPy 14 returns bytes; np.array(bytes, np.int64) raised ValueError in connect()."""
    raw = bytes(range(256))[:128]
    as_ints = tuple(np.frombuffer(raw, np.int8).tolist())
    assert comm_mod.nccl_id_bytes(raw) == comm_mod.nccl_id_bytes(as_ints) == raw
    assert comm_mod.nccl_id_bytes(np.frombuffer(raw, np.int8)) == raw
    with pytest.raises(comm_mod.DistributedError, match="128 bytes"):
        comm_mod.nccl_id_bytes(raw[:10])


def test_a_capture_failure_with_an_empty_message_still_falls_back(cp, caplog):
    """L3: str(e).splitlines()[0] raised IndexError for an exception with no message."""
    ran = []

    def launch():
        if cs._capturing():
            raise RuntimeError()
        ran.append(1)
    runner = gpu_runner.Runner([launch], capture=True)
    with caplog.at_level("WARNING", logger="gpunet"):
        for _ in range(4):
            runner.run(1)
    assert len(ran) == 4 and not runner.capture and "capture failed (RuntimeError: )" in caplog.text


def test_end_capture_raising_on_its_own_falls_back_and_the_stream_is_not_left_capturing(cp, caplog):
    ran = []

    def launch():
        for s in cs._capturing():
            s.invalidated = True  # the driver invalidated the capture without the call itself failing
        ran.append(1)
    runner = gpu_runner.Runner([launch], capture=True)
    with caplog.at_level("WARNING", logger="gpunet"):
        for _ in range(4):
            runner.run(1)
    runner.synchronize()
    assert not runner.stream.capturing and not runner.graphs and "Invalidated" in caplog.text
    assert len(ran) == 4 + 1  # four steps run; the failed capture's launch was only recorded


def test_zero_rows_launch_nothing(cp):
    """L4: CuPy launches a zero grid as one block, which read and wrote empty buffers."""
    x = cp.zeros((0, 2, 5), np.float32)
    assert attention.masked_softmax_forward(x, None, 1, 2).shape == (0, 2, 5)
    assert attention.masked_softmax_backward(x, x).shape == (0, 2, 5)


def test_no_kernel_computes_a_global_index_in_32_bits():
    """L5/L6: `int i = blockIdx.x * blockDim.x + threadIdx.x` wraps past 2^31 (optim, xent, step admit that)."""
    bad = []
    for f in sorted((ROOT / "kernels").glob("*.cu*")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"blockIdx\.x\s*\*\s*blockDim\.x", line) and not re.search(
                    r"\((long long|size_t|int64_t)\)\s*blockIdx\.x", line):
                bad.append("%s:%d: %s" % (f.name, n, line.strip()))
    assert not bad, bad


def test_conv_groups_past_the_grid_limit_take_the_array_path():
    """L11: groups go on gridDim.z (at most 65,535)."""
    assert conv.conv_supported(2, "relu", (1, 3, 3, 8), (1, 3, 3, 8), (1, 1, 1, 8), groups=8)
    assert not conv.conv_supported(2, "relu", (1, 1, 1, 65536), (1, 1, 1, 65536), (1, 1, 1, 65536), groups=65536)


@pytest.mark.emulated
def test_a_depthwise_conv_of_65536_channels_equals_the_array_path(monkeypatch):
    from conftest import in_tier
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 2, 65536)).astype(np.float32)
    W = rng.standard_normal((1, 1, 1, 65536)).astype(np.float32)
    out = {}
    for tier in ("numpy", "emulate"):
        with in_tier(tier):
            # the kernel has one input channel per group: 65,536 groups, one over the gridDim.z limit
            y = gpunet.ops.conv(gpunet.ops.convert_to_tensor(x), gpunet.ops.convert_to_tensor(W))
            out[tier] = gpunet.ops.convert_to_numpy(y)
    np.testing.assert_allclose(out["emulate"], out["numpy"], rtol=1e-6)


# ---------------------------------------------------------------- the cuBLASLt forward (a GPU only; modelled here)

@pytest.mark.parametrize("act,bias", [("linear", False), ("linear", True), ("relu", True),
                                      ("gelu_approximate", True), ("gelu_approximate", False)])
def test_the_cublaslt_forward_equals_the_tile_kernel(cp, monkeypatch, act, bias):
    """Through FakeCublasLt's column-major reading of the declared layouts: the row-major mapping (A = W as N×K,
    B = X as K×M, D = Y as N×M), the bias along D's rows and the aux pre-activation are checked, not assumed."""
    from gpunet.kernels import dense, launch
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "cublaslt")
    rng = np.random.default_rng(3)
    M, K, N = 37, 70, 29
    X, W = cp.asarray(rng.standard_normal((M, K), dtype=np.float32)), cp.asarray(rng.standard_normal((K, N),
                                                                                                   dtype=np.float32))
    B = cp.asarray(rng.standard_normal(N, dtype=np.float32)) if bias else None
    out = {}
    for kind in ("cublaslt", "tile"):
        Y = cp.full((M, N), np.nan, np.float32)
        Z = cp.full((M, N), np.nan, np.float32) if launch.stores_z(act) else None
        launches = (dense.dense_forward_launches(X, W, B, Y, Z, act) if kind == "cublaslt"
                    else [dense.dense_forward_launch(X, W, B, Y, Z, act)])
        assert [x.name for x in launches] == ["cublaslt_matmul" if kind == "cublaslt" else "dense_forward"]
        for x in launches:
            x()
        out[kind] = [Y.get()] + ([Z.get()] if Z is not None else [])
    for a, b in zip(out["cublaslt"], out["tile"]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_products_cublaslt_has_no_epilogue_for_take_the_kernels(cp, monkeypatch):
    from gpunet.kernels import dense
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "cublaslt")
    X, W = cp.ones((5, 40), np.float32), cp.ones((40, 3), np.float32)
    Y, Z = cp.empty((5, 3), np.float32), cp.empty((5, 3), np.float32)
    names = [x.name for x in dense.dense_forward_launches(X, W, None, Y, Z, "gelu")]  # exact gelu: no epilogue
    assert "cublaslt_matmul" not in names


def test_cublaslt_is_captured_and_its_setup_is_refused_inside_a_capture(cp):
    from gpunet.kernels import cublaslt
    X, W, Y = cp.ones((4, 8), np.float32), cp.ones((8, 3), np.float32), cp.zeros((4, 3), np.float32)
    ws = cp.zeros(1024, np.float32)
    mm = cublaslt.LtMatmul(X, W, None, Y, None, "linear", ws)
    s = _capturing(cp)
    with s:
        mm()
        g = s.end_capture()
    s.synchronize()
    assert Y.get().sum() == 0  # recorded, not run
    g.launch(s)
    s.synchronize()
    assert (Y.get() == 8).all()
    s2 = _capturing(cp)
    with s2:
        with pytest.raises(cublaslt.CublasLtError, match="cublasLtMatmulDescCreate"):
            cublaslt.LtMatmul(X, W, None, Y, None, "linear", ws)
        with pytest.raises(cs.CUDARuntimeError, match="Invalidated"):
            s2.end_capture()


def test_forcing_cublaslt_where_it_cannot_run_says_so_once_and_runs_the_kernels(monkeypatch, caplog):
    from conftest import in_tier
    from gpunet.kernels import dense
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "cublaslt")
    monkeypatch.setattr(dense, "_lt_warned", set())
    with in_tier("emulate"), caplog.at_level("WARNING", logger="gpunet"):
        for _ in range(2):
            Y, _ = dense.dense_forward(np.ones((3, 40), np.float32), np.ones((40, 2), np.float32), None, "relu")
    assert (Y == 40).all() and caplog.text.count("cuBLASLt cannot run here") == 1


def test_a_step_program_with_the_cublaslt_forward_trains_like_the_kernels(monkeypatch):
    """GPUNET_DENSE_VARIANT=cublaslt on the stand-in: every forward Dense through cuBLASLt inside the captured
    step (the head unfused: it is a kernel of ours), the same weights as the emulated kernels to rounding."""
    import test_gpu_step as tg
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "cublaslt")
    w, h, prog, c = tg._standin_fit(monkeypatch, 93)
    names = [x.name for x in prog.launches]
    assert names.count("cublaslt_matmul") == 1 and prog.runner.graphs, names  # relu hidden layer; head fused
    from gpunet.kernels import cublaslt
    # one workspace per program: its products run one after another (the program's scratch allocator owns it)
    launch = next(x for x in prog.launches if x.name == "cublaslt_matmul")
    assert cublaslt.workspace(prog.graph.scratch) is launch.keep[5]
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")
    w_tile = tg._fit("emulate", tg._small(), lambda: gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)), *tg._data(93, inputs=13, classes=5, seed=10),
        batch_size=8, epochs=2)[0]
    for a, b in zip(w, w_tile):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
