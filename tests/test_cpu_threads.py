"""gpunet/common/threads.py: which thread count each op class gets at a given affinity, cgroup quota, load and
user setting (all faked), and that the ops and fit really hand those counts to BLAS and the chunk pool."""
import json
import subprocess
import sys

import numpy as np
import pytest

import gpunet
from gpunet.common import threads
from gpunet.common.threads import GEMM_MIN_WORK, Policy

SMALL, LARGE = (32, 784, 32), (128, 784, 1024)  # a 32-unit hidden layer (below the crossover); the wide MLP's


class FakeStat:
    """A /proc/stat whose per-CPU busy ticks the test advances, a clock and this process's CPU time."""

    def __init__(self, tmp_path, ncpu):
        self.path, self.ncpu = tmp_path / "stat", ncpu
        self.busy, self.now, self.own = [0] * ncpu, 100.0, 0.0
        self.write()

    def write(self):
        lines = ["cpu  %d 0 0 0 0 0 0 0 0 0" % sum(self.busy)]
        # user nice system idle iowait irq softirq steal: busy split over user, system and steal
        lines += ["cpu%d %d 0 %d 999 0 0 0 %d 0 0" % (i, b - 2 * (b // 4), b // 4, b // 4) for i, b in
                  enumerate(self.busy)]
        self.path.write_text("\n".join(lines + ["intr 0", ""]))

    def advance(self, seconds, others_busy, own_busy=0.0):
        """`seconds` pass; other processes keep `others_busy` cores busy, this one `own_busy`."""
        ticks = int(round((others_busy + own_busy) * seconds * threads._CLK_TCK))
        for i in range(ticks):
            self.busy[i % self.ncpu] += 1
        self.now += seconds
        self.own += own_busy * seconds
        self.write()

    def policy(self, env=None, affinity=None, host=None, **kw):
        return Policy(env=env or {}, affinity=affinity if affinity is not None else range(self.ncpu),
                      host_cpus=host or self.ncpu, cgroup_proc=str(self.path.parent / "none"),
                      proc_stat=str(self.path), clock=lambda: self.now, own_cpu=lambda: self.own, **kw)


@pytest.fixture
def stat(tmp_path):
    return FakeStat(tmp_path, 4)


def test_small_ops_get_one_thread_large_ones_every_free_core(stat):
    p = stat.policy()
    assert p.cores == 4
    assert p.gemm(*SMALL) == 1 and SMALL[0] * SMALL[1] * SMALL[2] < GEMM_MIN_WORK
    assert p.gemm(*LARGE) == 4
    assert p.large() == 4  # a chunked convolution: every free core


def test_affinity_bounds_the_cores(stat):
    p = stat.policy(affinity={1, 3})
    assert (p.cores, p.gemm(*LARGE), p.max_threads()) == (2, 2, 2)


def test_busy_cores_are_left_to_their_processes(stat):
    """One other busy process on 4 cores leaves 3; the policy reads /proc/stat again every SAMPLE_S."""
    p = stat.policy()
    assert p.gemm(*LARGE) == 4  # first sample: nothing known yet
    stat.advance(1.0, others_busy=1.0, own_busy=2.0)  # our own threads' time is not the others'
    assert p.gemm(*LARGE) == 3 and p.others == pytest.approx(1.0, abs=0.05)
    stat.advance(0.05, others_busy=3.0)  # inside SAMPLE_S: the last reading holds
    assert p.gemm(*LARGE) == 3
    stat.advance(1.0, others_busy=3.5)
    assert p.gemm(*LARGE) == 1
    stat.advance(1.0, others_busy=8.0)  # more load than cores: still one thread
    assert p.gemm(*LARGE) == 1
    stat.advance(1.0, others_busy=0.3)  # a light load (a browser) takes no core
    assert p.gemm(*LARGE) == 4
    assert p.gemm(*SMALL) == 1
    assert p.max_threads() == 4  # chunk borders never follow the load


def test_cgroup_v2_quota_and_a_tighter_parent(tmp_path, stat):
    root = tmp_path / "cg"
    (root / "user.slice" / "job").mkdir(parents=True)
    (root / "user.slice" / "job" / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: 2 threads
    (root / "user.slice" / "cpu.max").write_text("max 100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice/job\n")
    assert threads.cgroup_cpus(str(root), str(proc)) == 2
    p = Policy(env={}, affinity=range(64), host_cpus=64, cgroup_root=str(root), cgroup_proc=str(proc),
               proc_stat=str(stat.path), clock=lambda: stat.now, own_cpu=lambda: stat.own)
    assert (p.quota, p.cores, p.gemm(*LARGE)) == (2, 2, 2)
    (root / "user.slice" / "cpu.max").write_text("100000 100000\n")
    assert threads.cgroup_cpus(str(root), str(proc)) == 1


def test_cgroup_v1_quota(tmp_path):
    d = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("300000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    assert threads.cgroup_cpus(str(tmp_path / "cg"), str(proc)) == 3
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpus(str(tmp_path / "cg"), str(proc)) is None


def test_no_cgroup_file_means_no_quota(tmp_path):
    assert threads.cgroup_cpus(str(tmp_path), str(tmp_path / "missing")) is None
    (tmp_path / "cpu.max").write_text("garbage here\n")  # unreadable: no limit rather than an error
    (tmp_path / "cgroup").write_text("0::/\n")
    assert threads.cgroup_cpus(str(tmp_path), str(tmp_path / "cgroup")) is None


def test_ranks_of_one_job_share_the_host_unless_bound(stat):
    """mpirun -n 2 on 4 cores: each rank takes 2 unless the launcher already bound it to its cores."""
    env = {"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}
    assert stat.policy(env=env).cores == 2
    assert stat.policy(env={"LOCAL_WORLD_SIZE": "4"}).cores == 1
    assert stat.policy(env=env, affinity={2}, host=4).cores == 1  # bound to one core: no further share


def test_after_the_chunk_pool_ran_gemms_stay_on_one_thread(stat):
    """OpenBLAS's workers spin ~0.1 s after a job: beside the chunk workers of a convolution they would take half a
    core each, so for CHUNKS_S after the pool ran a GEMM outside it keeps one thread (a user count too)."""
    for env in ({}, {"GPUNET_CPU_THREADS": "4"}):
        p = stat.policy(env=env)
        assert p.gemm(*LARGE) == 4
        p.chunks_ran()
        stat.advance(threads.CHUNKS_S / 2, others_busy=0)
        assert p.gemm(*LARGE) == 1 and p.large() == 4  # the chunks themselves still get every core
        stat.advance(threads.CHUNKS_S, others_busy=0)
        assert p.gemm(*LARGE) == 4


@pytest.mark.parametrize("env,count,source", [
    ({"GPUNET_CPU_THREADS": "3"}, 3, "GPUNET_CPU_THREADS"),
    ({"OPENBLAS_NUM_THREADS": "1"}, 1, "OPENBLAS_NUM_THREADS"),
    ({"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}, 1, "OPENBLAS_NUM_THREADS"),
    ({"OMP_NUM_THREADS": "6"}, 6, "OMP_NUM_THREADS"),
    ({"GPUNET_CPU_THREADS": "2", "OMP_NUM_THREADS": "6"}, 2, "GPUNET_CPU_THREADS"),
])
def test_the_users_setting_wins_over_affinity_quota_and_load(stat, env, count, source):
    p = stat.policy(env=env, affinity={0, 1})
    stat.advance(1.0, others_busy=4.0)
    assert p.gemm(*LARGE) == count and p.max_threads() == count
    assert p.gemm(*SMALL) == 1  # a small op still runs on one thread
    assert p.describe()["user_threads_from"] == source
    p.user = 5  # gpunet.config.set_num_threads
    assert p.gemm(*LARGE) == 5 and p.describe()["user_threads_from"] == "set_num_threads"


@pytest.mark.parametrize("value", ["0", "-1", "x", "2.5", ""])
def test_a_bad_gpunet_count_is_refused_by_name(stat, value):
    with pytest.raises(ValueError, match="GPUNET_CPU_THREADS must be a positive integer, received %r" % value):
        stat.policy(env={"GPUNET_CPU_THREADS": value})


def test_openmp_style_variables_are_read_as_the_runtimes_read_them(stat, caplog):
    assert stat.policy(env={"OMP_NUM_THREADS": "3,2"}).setting() == 3  # one count per nesting level
    with caplog.at_level("WARNING", logger="gpunet"):
        p = stat.policy(env={"OMP_NUM_THREADS": "lots", "OPENBLAS_NUM_THREADS": "0"})
    assert p.setting() is None and p.gemm(*LARGE) == 4
    assert "ignoring OPENBLAS_NUM_THREADS='0'" in caplog.text and "ignoring OMP_NUM_THREADS='lots'" in caplog.text


def test_config_set_num_threads(monkeypatch):
    saved = threads.policy()
    try:
        threads.set_policy(Policy(env={}))
        gpunet.config.set_num_threads(3)
        assert gpunet.config.get_num_threads() == 3
        assert threads.policy().gemm(*LARGE) == 3 and threads.policy().gemm(*SMALL) == 1
        gpunet.config.set_num_threads(None)
        assert gpunet.config.get_num_threads() <= threads.policy().cores
        for bad in (0, -2, 1.5, "2", True):
            with pytest.raises(ValueError, match=r"set_num_threads\(n\) must be a positive integer or None, received"):
                gpunet.config.set_num_threads(bad)
    finally:
        threads.set_policy(saved)


def test_without_proc_stat_the_load_is_not_guessed(tmp_path):
    p = Policy(env={}, affinity={0, 1}, host_cpus=2, cgroup_proc=str(tmp_path / "x"), proc_stat=str(tmp_path / "x"))
    assert p.gemm(*LARGE) == 2 and p.free() == 2 and p.others is None


class Recorder:
    def __init__(self, monkeypatch):
        self.calls = []
        monkeypatch.setattr(threads, "set_blas_threads", self.calls.append)


def _blas_counts_in_fit(monkeypatch, hidden, batch, free, run_eagerly=False, env=None):
    saved = threads.policy()
    try:
        p = Policy(env=env or {}, affinity={0, 1}, host_cpus=2)
        monkeypatch.setattr(p, "free", lambda: free)
        threads.set_policy(p)
        rec = Recorder(monkeypatch)
        m = gpunet.Sequential([gpunet.Input((784,)), gpunet.layers.Dense(hidden, activation="relu"),
                               gpunet.layers.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=run_eagerly)
        rng = np.random.default_rng(0)
        m.fit(rng.random((2 * batch, 784), dtype=np.float32), rng.integers(0, 10, 2 * batch), batch_size=batch,
              verbose=0)
        return set(rec.calls)
    finally:
        threads.set_policy(saved)


def test_fit_gives_blas_each_gemms_count(monkeypatch):
    """The compiled CPU step asks per GEMM: a 784-32-10 MLP's are all small (one thread); the wide first layer's
    forward and weight gradient get both cores, or one when the other is busy."""
    assert _blas_counts_in_fit(monkeypatch, 32, 32, free=2) == {1}
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=2) >= {2}
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=1) == {1}


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_the_compiled_step_and_the_general_path_give_the_same_counts(monkeypatch, run_eagerly):
    """The fast CPU step honours the policy as the tape path does, the user's count included."""
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=2, run_eagerly=run_eagerly) >= {2}
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=1, run_eagerly=run_eagerly) == {1}
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=2, run_eagerly=run_eagerly,
                               env={"GPUNET_CPU_THREADS": "1"}) == {1}
    assert _blas_counts_in_fit(monkeypatch, 1024, 32, free=1, run_eagerly=run_eagerly,
                               env={"GPUNET_CPU_THREADS": "3"}) >= {3}


def test_ops_give_blas_each_products_count(monkeypatch):
    from gpunet import ops
    saved = threads.policy()
    try:
        threads.set_policy(Policy(env={"GPUNET_CPU_THREADS": "2"}))
        rec = Recorder(monkeypatch)
        ops.matmul(np.ones((128, 784), np.float32), np.ones((784, 1024), np.float32))
        ops.matmul(np.ones((8, 64, 128), np.float32), np.ones((8, 128, 96), np.float32))  # 8 small products
        ops.matmul(np.ones((32, 32), np.float32), np.ones((32, 32), np.float32))  # OpenBLAS's own one-thread size
        assert rec.calls == ([2, 1] if threads._blas_state.get("serial_below") else [2, 1, 1])
    finally:
        threads.set_policy(saved)


def test_blas_really_gets_the_count():
    """Through threadpoolctl: the count BLAS reports after gpunet set it."""
    if not threads.blas_controlled():
        pytest.skip("no BLAS threadpoolctl can control here")
    saved = threads.policy()
    try:
        threads.set_policy(Policy(env={"GPUNET_CPU_THREADS": "2"}))
        threads.gemm(*LARGE)
        assert [b["threads_now"] for b in threads.blas_info()] == [2] * len(threads.blas_info())
        threads.gemm(*SMALL)
        assert [b["threads_now"] for b in threads.blas_info()] == [1] * len(threads.blas_info())
    finally:
        threads.set_policy(saved)


def test_gpunet_info_prints_the_policy():
    out = subprocess.run([sys.executable, "-m", "gpunet", "info", "--json"], capture_output=True, text=True,
                         env=dict(__import__("os").environ, GPUNET_CPU_THREADS="3"), timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)["cpu_threads"]
    assert info["user_threads"] == 3 and info["user_threads_from"] == "GPUNET_CPU_THREADS"
    assert info["large_op_threads"] == 3 and info["gemm_one_thread_below_multiply_adds"] == GEMM_MIN_WORK
    assert info["cores"] >= 1 and info["others_busy_cores"] is not None
