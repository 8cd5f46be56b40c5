"""bench/gpu_probe.py, gpu_sanitize.py and gpu_step.py: the scripts a lent GPU runs in one call. A GPU's time is
short, so everything about them that does not need one is checked here: the run without a device, the guards
around each section, the budget, reading pytest's and the sanitizer's results, and the kernel-timing sections
on the CuPy stand-in (CuPy's capture rules over the emulated kernels)."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpunet.kernels import build, dense

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


probe = _load("gpu_probe")
sanitize = _load("gpu_sanitize")


def _no_gpu():
    from gpunet import backend
    if backend.name() == "cupy":
        pytest.skip("this machine has a GPU: the probe runs its GPU sections for real (bench/gpu_run.sh)")


def test_without_a_device_the_probe_compiles_every_kernel_and_skips_the_gpu_sections(tmp_path):
    _no_gpu()
    env = dict(os.environ)
    env.pop("GPUNET_BACKEND", None)
    p = subprocess.run([sys.executable, os.path.join(BENCH, "gpu_probe.py"), str(tmp_path), "--budget", "200",
                        "--sections", "env,capture,kernels,step"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    printed = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    assert [r["section"] for r in printed] == ["env", "capture", "kernels", "step"]
    results = {json.loads(x)["section"]: json.loads(x) for x in (tmp_path / "probe.jsonl").read_text().splitlines()}
    env_r = results["env"]
    assert env_r["status"] == "ok", env_r
    if not str(env_r.get("nvrtc", "unavailable")).startswith("unavailable"):  # every kernel file, both architectures
        want = {"%s sm_%d" % (f.name, a) for f in build.kernel_files() for a in build.ARCHS}
        assert set(env_r["nvrtc_compile"]) == want
        assert all(v.startswith("ok") for v in env_r["nvrtc_compile"].values()), env_r["nvrtc_compile"]
    if env_r["tools"]["nvcc"]:  # ptxas's resource report: every kernel, registers always, smem 0 where none
        assert "dense_forward" in env_r["ptxas"] and "sgd_update" in env_r["ptxas"]
        assert all({"registers", "smem", "spill_stores"} <= set(v) for v in env_r["ptxas"].values()), env_r["ptxas"]
    for name in ("capture", "kernels", "step"):
        assert results[name]["status"] == "skipped" and results[name]["reason"].startswith("no device"), results[name]
    text = (tmp_path / "summary.md").read_text()
    assert "| env | ok |" in text and "| kernels | skipped |" in text
    assert sorted(os.listdir(tmp_path)) == ["probe.jsonl", "probe.log", "summary.md"]


def test_a_section_that_crashes_hangs_or_prints_no_result_is_recorded_and_the_next_one_runs(tmp_path):
    env = dict(os.environ)
    with open(tmp_path / "log", "w") as log:
        ok = probe.run_child([sys.executable, "-c", "print('noise'); print(%r)" % (probe.MARK + '{"status": "ok", "n": 3}')],
                             30, env, log)
        crash = probe.run_child([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
                                30, env, log)
        hang = probe.run_child([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
                               1, env, log)
    assert ok["status"] == "ok" and ok["n"] == 3
    assert crash["status"] == "error" and crash["returncode"] == 3 and "boom" in crash["tail"]
    assert hang["status"] == "timeout" and hang["limit_s"] == 1
    assert "noise" in (tmp_path / "log").read_text() and "boom" in (tmp_path / "log").read_text()


def test_the_budget_keeps_room_for_the_later_sections_and_the_order_is_the_priority():
    # plenty of time: each section its own limit
    assert probe.plan(["env", "capture", "suite"], 480, 0) == probe.SECTIONS["env"][1]
    # less: the first gets what the later ones leave, never under its own minimum while the budget has it
    assert probe.plan(["gpu_tests", "suite"], 480, 320) == 150 - 20
    assert probe.plan(["gpu_tests", "suite"], 480, 400) == probe.SECTIONS["gpu_tests"][2]
    # the budget's end is a hard limit
    assert probe.plan(["suite"], 480, 450) == 30


def test_the_plan_of_one_call_runs_timings_then_the_sanitizer_then_the_tests_and_fits_the_call():
    """GPU-REVIEW-2 D3: the suite ran before the sanitizer and took its time, so memcheck's share fell under its
    floor. Now, even if every section used all of its limit, each one starts, the sanitizer's tools each get at
    least their floor, and the whole run fits bench/gpu_run.sh's call (timeout_s 560, less the wheels' install)."""
    assert probe.ORDER == ["env", "capture", "kernels", "tf32", "step", "sanitize", "gpu_tests", "suite"]
    table = probe.plan_table(probe.ORDER, probe.BUDGET)
    assert all(runs for _, _, runs in table), table
    assert sum(limit for _, limit, _ in table) <= probe.BUDGET <= 560 - 20
    limit = dict((n, lim) for n, lim, _ in table)["sanitize"]
    assert sanitize.tool_share(limit - 10, len(sanitize.TOOLS)) >= sanitize.TOOL_MIN
    run_sh = open(os.path.join(BENCH, "gpu_run.sh")).read()
    assert "--budget \"${1:-%d}\"" % probe.BUDGET in run_sh and "timeout_s=560" in run_sh
    p = subprocess.run([sys.executable, os.path.join(BENCH, "gpu_probe.py"), "/tmp/unused", "--plan"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    print(p.stdout)
    assert [ln.split()[0] for ln in p.stdout.splitlines()] == probe.ORDER + ["budget"]
    assert "a tool" in p.stdout and "skipped" not in p.stdout


def test_pytest_results_come_from_junit_or_from_the_log_of_a_run_cut_short(tmp_path):
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_sample.py").write_text(textwrap.dedent("""
        import os, time, pytest
        def test_passes(): pass
        def test_fails(): assert 1 == 2, "one is not two"
        @pytest.mark.skip(reason="no")
        def test_skipped(): pass
        def test_slow():
            if os.environ.get("SLOW"): time.sleep(60)
    """))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = probe._pytest(str(out), "sample", [str(tests)], 120, env)
    assert r["status"] == "failed" and r["returncode"] == 1
    assert (r["tests"], r["passed"], r["failures"], r["skipped"]) == (4, 2, 1, 1)
    assert len(r["failed_tests"]) == 1 and "test_fails" in r["failed_tests"][0] and "one is not two" in r["failed_tests"][0]
    assert os.listdir(out) == ["sample.xml"]  # the log went to this process's output, not into OUT
    cut = probe._pytest(str(out), "slow", [str(tests)], 8, dict(env, SLOW="1"))
    assert cut["status"] == "timeout"
    assert cut["counts"].get("PASSED") == 1 and cut["counts"].get("FAILED") == 1, cut


@pytest.fixture
def standin(monkeypatch):
    import cupy_standin
    with cupy_standin.installed(monkeypatch) as counters:
        yield counters


def test_the_kernel_timing_sections_on_the_cupy_standin_capture_and_check_every_output(standin, tmp_path):
    r = probe.section_capture(str(tmp_path), True, 60)
    assert r["status"] == "ok", r
    assert r["gpunet dense_forward (RawKernel)"] == {"captured": True, "replay_equals_eager": True, "max_abs_diff": 0.0}
    k = probe.section_kernels(str(tmp_path), True, 60)
    assert k["status"] == "ok" and k["worst_rel_err"] < 1e-5, k
    for d in k["dense"]:
        # every number says how it was timed: ours both ways, CuPy's cuBLAS eager (capture is refused), and
        # PyTorch's columns honest about being unavailable here (no torch in CI)
        assert d["timed_by"]["fwd tile graph"] == "graph" and d["timed_by"]["fwd tile eager"] == "eager"
        assert d["timed_by"]["cublas cupy_eager_fwd"] == "cupy eager" and d["cublas_fp32_us"]["cupy_eager_fwd"] > 0
        assert set(d["us"]) >= {"fwd tile graph", "fwd tile eager", "dx tile graph", "dw_db tile graph"}
        assert all(v > 0 for v in d["us"].values())
        assert d["rel_err"]["fwd tile"] < 1e-5 and d["speed_vs_cublas_fp32"]["fwd eager vs cupy eager"] > 0
    assert any("fwd splitk graph" in d["us"] for d in k["dense"])  # the 70-deep product splits; split-K timed too
    assert k["softmax_xent"] and k["adam"][0]["finite"] and k["head"][0]["fused"]["launches"] == 1
    assert standin.captures >= 3 * len(k["dense"]) and standin.replays > 0
    tf = probe.section_tf32(str(tmp_path), True, 60)
    assert tf["status"] == "ok" and len(tf["dense"]) == len(k["dense"])
    table = probe.summary({"env": {"status": "ok"}, "kernels": dict(k, section="kernels"), "tf32": tf})
    assert "| classic b5 L1 5×70×7 |" in table and "graph against graph and eager against eager" in table
    assert "fused head" in table


def test_the_kernels_section_fails_when_a_timed_graph_leaves_its_output_unwritten(standin, tmp_path, monkeypatch):
    """The check after the timed replays is what makes the times mean something: a launch that does nothing
    (here the forward kernel swapped for an empty one) must fail the section, not report a fast kernel."""
    real = dense.dense_forward_launch
    monkeypatch.setattr(dense, "dense_forward_launch", lambda *a, **k: (lambda: None) if real(*a, **k) else None)
    k = probe.section_kernels(str(tmp_path), True, 60)
    assert k["status"] == "failed" and k["worst_rel_err"] == float("inf")
    assert all(np.isnan(d["rel_err"]["fwd tile"]) for d in k["dense"])


def test_graph_time_falls_back_to_eager_timing_when_a_call_cannot_be_captured(standin):
    from gpunet import backend
    xp = backend.get_xp()
    calls = []

    def refuses():
        if any(s.capturing for s in sys.modules["cupy_standin"].STATE.stack):
            raise RuntimeError("operation not permitted when stream is capturing")
        calls.append(1)
    t, how = probe.graph_time(xp, refuses, calls=3, replays=2)
    assert how.startswith("eager: RuntimeError: operation not permitted") and t >= 0
    assert len(calls) == 2 + 3 * 2  # the warm-ups, then each eager replay's calls


def test_gpu_step_smoke_runs_both_models_through_the_launch_program(tmp_path):
    from conftest import require_emulation
    require_emulation()
    env = dict(os.environ)
    env.pop("GPUNET_BACKEND", None)
    p = subprocess.run([sys.executable, os.path.join(BENCH, "gpu_step.py"), "--smoke", "--out", str(tmp_path)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_step.json").read_text())["rows"]
    assert {(r["model"], r["name"]) for r in rows} == {(m, n) for m in ("classic", "wide") for n in (
        "gpunet graph", "gpunet no graph", "gpunet graph tile", "gpunet tape")}
    # the default rule (split-K, the fused head) next to the first kernels (GPUNET_DENSE_VARIANT=tile)
    by = {(r["model"], r["name"]): r for r in rows}
    assert "dense_xent_head" in by[("classic", "gpunet graph")]["launches"]
    assert "dense_xent_head" not in by[("classic", "gpunet graph tile")]["launches"]
    assert all("error" not in r and r["us_per_step"] > 0 for r in rows), rows
    # the launch program ran (not the tape) for the program rows; one more Dense: at least its forward, dW and dX
    # (the wide model runs at batch 1024, where the kernel rule picks other variants than at 32)
    launches = {(r["model"], r["name"]): r["launches_per_step"] for r in rows}
    classic, wide = launches[("classic", "gpunet graph")], launches[("wide", "gpunet graph")]
    assert classic and wide >= classic + 3, (classic, wide)


def test_the_sanitizer_runs_real_tests_and_reads_its_verdicts():
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *sanitize.TESTS],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "%d tests collected" % len(sanitize.TESTS) in p.stdout, p.stdout[-1500:]
    assert all("[cuda" in t or "test_kernels_gpu" in t for t in sanitize.TESTS)  # the GPU tier, not the emulated one
    cmd = sanitize.command("compute-sanitizer", "racecheck", sanitize.TESTS[:1])
    assert cmd[:3] == ["compute-sanitizer", "--tool", "racecheck"] and "set_allocator(None)" in cmd[cmd.index("-c") + 1]
    clean = "1 passed in 3.2s\n========= ERROR SUMMARY: 0 errors\n"
    assert sanitize.judge("memcheck", 0, clean)["status"] == "ok"
    found = "========= Invalid __global__ write of size 4 bytes\n=========     at dense_forward\n" \
            "1 passed\n========= ERROR SUMMARY: 1 error\n"
    r = sanitize.judge("memcheck", sanitize.ERROR_EXIT, found)
    assert r["status"] == "failed" and r["sanitizer_errors"] == 1 and "Invalid __global__ write" in r["first_errors"][0]
    assert sanitize.judge("racecheck", 1, "1 failed, 3 passed\n========= ERROR SUMMARY: 0 errors\n")["status"] == "tests_failed"
    refused = sanitize.judge("memcheck", 1, "========= Error: Device not supported\n")
    assert refused["status"] == "refused" and refused["reason"] == "Device not supported"
    assert sanitize.judge("memcheck", 1, "Segmentation fault")["status"] == "error"
    assert sanitize.judge("memcheck", None, "")["status"] == "timeout"


def test_gpu_programs_smoke_runs_every_family_through_its_program(tmp_path):
    """bench/gpu_programs.py (and gpu_step.py --models convnet lstm transformer) at toy sizes in the emulated tier:
    each family's program rows ran the program, with more launches than its floor; the tape rows ran none."""
    from conftest import require_emulation
    require_emulation()
    env = dict(os.environ)
    env.pop("GPUNET_BACKEND", None)
    p = subprocess.run([sys.executable, os.path.join(BENCH, "gpu_step.py"), "--smoke", "--models", "convnet", "lstm",
                        "transformer", "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_step.json").read_text())["rows"]
    assert {(r["model"], r["name"]) for r in rows} == {(m, n) for m in ("convnet", "lstm", "transformer") for n in (
        "gpunet graph", "gpunet no graph", "gpunet tape")}
    assert all("error" not in r and r["us_per_step"] > 0 for r in rows), rows
    for r in rows:
        if r["name"] == "gpunet tape":
            assert r["launches_per_step"] is None
        else:
            assert r["launches_per_step"] > r["launch_floor"] and r["program"].startswith("TrainProgram("), r
