"""Question: on a lent GPU, in one call of at most ~9 minutes, what works, what fails, and how fast is it?

    python bench/gpu_probe.py OUT [--budget 530] [--sections env,capture,...] [--plan]
    bash bench/gpu_run.sh                 # on the device machine: wheels, datasets, then this (see that file)

Sections, in this order (the order is the priority: each gets its own limit, less what the sections after it need
to start), each run in its own process under its own time limit, so one crash, hang or failure does not stop
the rest; each prints one JSON line ({"section": ..., "status": ok | failed | skipped | timeout | error, ...}) and
the whole run ends with a short table (OUT/summary.md):

  env        device, driver, CuPy/CUDA/NVRTC/torch versions, NVRTC compile of every kernels/*.cu for the
             device's arch (sm_80 and sm_90 without a device), ptxas's registers/shared memory/spills per
             kernel when nvcc is on PATH, and two measured ceilings (device copy GB/s, cuBLAS FP32 TFLOP/s)
  capture    can this stack capture a cupy.matmul (cuBLAS: CuPy 14 says no), a CuPy elementwise op and our
             RawKernel launches in a CUDA graph, and does the replay compute what the eager call does; is NCCL there
  kernels    every dense variant (tile, split-K, cuBLASLt: GPUNET_DENSE_VARIANT) at the classic (784-128-10,
             batch 32/128/1024) and wide (784-4096-4096-10, batch 1024) shapes, each timed twice: captured in a
             CUDA graph (N calls, replayed, timed by events: launch cost removed) and eagerly (back to back, host
             launch cost included); next to cuBLAS FP32 through PyTorch captured (torch.cuda.graph) and eager, and
             through CuPy eager (CuPy cannot capture cuBLAS). Graph is compared with graph, eager with eager; every
             row says how each number was timed. Also the fused head against its four separate kernels,
             softmax-xent, Adam; each output checked against a float64 reference after the timed calls
  tf32       the same cuBLAS products with TF32 allowed (PyTorch graph/eager; CuPy eager with CUPY_TF32=1)
  step       bench/gpu_step.py: fit's µs/step for the classic MLP at batch 32/128/1024, the wide MLP at
             batch 1024, keras.io's MNIST convnet (batch 128), Embedding → LSTM(128)×100 (batch 64) and
             keras.io's transformer block (batch 32) — gpunet's captured program, the same launches uncaptured,
             the tape — next to
             PyTorch eager (FP32; TF32 too for the wide one) and PyTorch's whole step captured as a CUDA
             graph (capturable Adam), one run
  sanitize   bench/gpu_sanitize.py: compute-sanitizer memcheck, racecheck and initcheck over kernel tests of
             every family at odd shapes (before the long test runs, so each tool gets its share)
  gpu_tests  `pytest -m gpu tests/` (every kernel in the cuda tier, CPU/GPU parity, the captured step, NCCL)
  suite      the rest of the test suite (-m "not gpu") with GPUNET_BACKEND=cupy: everything that runs on
             both backends, so CPU/GPU parity; with pytest-xdist on 8 workers; whatever time is left

`--plan` prints each section's limit if every section before it used all of its own (the worst case), and the
sanitizer's share per tool, then exits: a check of the budget without a GPU (tests/test_gpu_probe.py runs it).

OUT receives at most 7 files (the device tool brings back 8): probe.jsonl (every section's full result),
probe.log (every section's output), summary.md, gpu_tests.xml, suite.xml and the sanitizer's two files.
Without a device the GPU sections say "skipped: no device" and env still compiles every kernel (the smoke
test in tests/test_gpu_probe.py runs it so). `--quick` shrinks shapes and steps (a check of the script).
"""
import argparse
import functools
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
MARK = "@@probe "  # a section's result line in its own output

# name: (needs a device, most seconds it may take, least seconds worth starting it with)
SECTIONS = {
    "env": (False, 60, 20),
    "capture": (True, 30, 10),
    "kernels": (True, 100, 40),
    "tf32": (True, 30, 10),
    "step": (True, 160, 50),
    "sanitize": (True, 120, 75),   # 3 tools, each at least SANITIZE_TOOL_MIN after two 5-s margins
    "gpu_tests": (True, 150, 60),
    "suite": (True, 240, 30),
}
ORDER = list(SECTIONS)
BUDGET = 530  # bench/gpu_run.sh's call: timeout_s 560, less the wheels' install


# ---------------------------------------------------------------- helpers shared by the sections

def run_killing_group(cmd, timeout, **kw):
    """subprocess.run, but a timeout kills the child's whole process group: pytest-xdist's workers and the
    sanitizer's target would otherwise outlive their section and hold the GPU during the next one.
    Returns (returncode or None on timeout, stdout, stderr)."""
    import signal
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err


def _device_or_reason():
    """None when CuPy drives a GPU here, else why not (the sections that need one skip with it)."""
    from gpunet import backend
    try:
        if backend.name() == "cupy":
            return None
        return "no device: %s" % backend.info().get("reason", backend.name())
    except Exception as e:
        return "no device: %s: %s" % (type(e).__name__, e)


def needs_device(section):
    """A section that needs a GPU reports "skipped" with the reason there is none, instead of running."""
    @functools.wraps(section)
    def run(out, quick, budget):
        why = _device_or_reason()
        return {"status": "skipped", "reason": why} if why else section(out, quick, budget)
    return run


def graph_time(xp, fn, calls=20, replays=10, capture=True):
    """Seconds per fn() with the launch overhead removed: `calls` calls captured in one CUDA graph on a
    non-blocking stream (after two warm-up calls: compilation, module load, library handles), the graph
    replayed `replays` times, each replay between two events; the median replay over `calls`.
    Returns (seconds, how): how is "graph", "eager" (capture=False: the calls back to back between the events,
    host launch cost included), or "eager: <why capture failed>" when this call cannot be captured (CuPy 14's
    cuBLAS, for one: then it is timed eagerly, and says so)."""
    cuda = xp.cuda
    cuda.Device().synchronize()
    s = cuda.Stream(non_blocking=True)
    graph, how = None, "graph" if capture else "eager"
    with s:
        fn()
        fn()
        s.synchronize()
        try:
            if not capture:
                raise _NoCapture
            s.begin_capture()
            try:
                for _ in range(calls):
                    fn()
            finally:
                graph = s.end_capture()
        except _NoCapture:
            graph = None
        except Exception as e:
            graph, how = None, "eager: %s: %s" % (type(e).__name__, str(e).splitlines()[0][:160] if str(e) else "")
    if graph is None:
        s = cuda.Stream(non_blocking=True)  # a failed capture can leave its stream unusable
    times = []
    start, end = cuda.Event(), cuda.Event()
    with s:
        for _ in range(replays):
            start.record(s)
            if graph is not None:
                graph.launch(s)
            else:
                for _ in range(calls):
                    fn()
            end.record(s)
            end.synchronize()
            times.append(cuda.get_elapsed_time(start, end) * 1e-3 / calls)
    return statistics.median(times), how


class _NoCapture(Exception):
    pass


def torch_ready():
    """None when PyTorch can run on this GPU (the cuBLAS reference that can be captured), else why not."""
    try:
        import torch
    except Exception as e:
        return "unavailable: %s" % type(e).__name__
    return None if torch.cuda.is_available() else "unavailable: torch.cuda.is_available() is False"


def torch_time(fn, calls=20, replays=10, graph=True):
    """torch's twin of graph_time: `calls` calls captured with torch.cuda.graph (PyTorch captures cuBLAS, which
    CuPy 14 cannot) or run eagerly, on a side stream after two warm-ups, timed by events; (seconds, how)."""
    import torch
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
        fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = None
    if graph:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(calls):
                fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(replays):
        start.record()
        if g is not None:
            g.replay()
        else:
            for _ in range(calls):
                fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3 / calls)
    return statistics.median(times), "torch graph" if graph else "torch eager"


def _rel_err(xp, out, ref):
    import numpy as np
    out = xp.asarray(out).astype(np.float64)
    ref = xp.asarray(ref).astype(np.float64)
    if not bool(xp.isfinite(out).all()):
        return float("nan")
    den = float(xp.linalg.norm(ref)) or 1.0
    return float(xp.linalg.norm(out - ref)) / den


def _junit_summary(path, limit=40):
    """Counts and the first failures from a pytest --junitxml file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed = []
    for s in suites:
        for k in out:
            out[k] += int(s.get(k, 0))
        for case in s.iter("testcase"):
            for tag in ("failure", "error"):
                el = case.find(tag)
                if el is not None:
                    msg = (el.get("message") or el.text or "").strip().splitlines()
                    failed.append("%s::%s: %s" % (case.get("classname", ""), case.get("name", ""),
                                                  msg[0][:300] if msg else tag))
    out["passed"] = out["tests"] - out["failures"] - out["errors"] - out["skipped"]
    out["failed_tests"] = failed[:limit]
    if len(failed) > limit:
        out["failed_tests_left_out"] = len(failed) - limit
    return out


_RESULT = re.compile(r"\b(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


def _log_summary(text):
    """Counts from a `pytest -v` log cut short (a timeout leaves no junit file): one word per finished test."""
    counts = {}
    failed = []
    for line in text.splitlines():
        if "::" not in line:
            continue
        m = _RESULT.search(line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
            if m.group(1) in ("FAILED", "ERROR"):
                failed.append(line.strip()[:300])
    return {"finished": sum(counts.values()), "counts": counts, "failed_tests": failed[:40]}


def _pytest(out, name, args, timeout, env):
    """Runs pytest in a child process; the section's result from its junit file, or from its log if cut short."""
    xml = os.path.join(out, name + ".xml")
    log = os.path.join(out, name + ".pytest.log")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rfE", "--junitxml", xml] + args
    if _has_module("pytest_timeout"):
        cmd += ["--timeout", "300"]  # one hung test must not eat the section
    t0 = time.monotonic()
    with open(log, "w") as fh:  # unbuffered: a run cut short leaves every finished test's line in the log
        rc = run_killing_group(cmd, timeout, cwd=ROOT, env=dict(env, PYTHONUNBUFFERED="1"), stdout=fh,
                               stderr=subprocess.STDOUT)[0]
    with open(log) as fh:
        text = fh.read()
    os.remove(log)  # its text goes into probe.log through this section's output
    sys.stdout.write(text[-20000:])
    r = {"command": " ".join(cmd[1:]), "seconds": round(time.monotonic() - t0, 1), "returncode": rc}
    if rc is None:
        r.update(status="timeout", **_log_summary(text))
        return r
    if os.path.exists(xml):
        r.update(_junit_summary(xml))
        r["status"] = "ok" if rc == 0 else "failed"
    else:
        r.update(status="error", tail=text[-2000:])
    return r


def _has_module(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


def _test_env(cupy):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if cupy:
        env["GPUNET_BACKEND"] = "cupy"
    # Keras's NumPy backend imports jax; a CUDA jax must not take 75 % of the card from the tests
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


# ---------------------------------------------------------------- sections

def section_env(out, quick, budget):
    import numpy as np
    from gpunet import backend
    from gpunet.kernels import build
    r = {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
         "cpus": os.cpu_count()}
    try:
        r["backend"] = {k: v for k, v in backend.info().items() if k != "kernels"}
    except Exception as e:
        r["backend"] = "%s: %s" % (type(e).__name__, e)
    why = _device_or_reason()
    archs = build.ARCHS
    try:
        import cupy
        r["cupy"] = cupy.__version__
        try:
            from cupy_backends.cuda.libs import nvrtc
            r["nvrtc"] = ".".join(map(str, nvrtc.getVersion()))
        except Exception as e:
            r["nvrtc"] = "unavailable: %s" % type(e).__name__
        if why is None:
            rt = cupy.cuda.runtime
            props = rt.getDeviceProperties(cupy.cuda.Device().id)
            r.update(cuda_runtime=rt.runtimeGetVersion(), cuda_driver=rt.driverGetVersion(),
                     device=props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
                     compute_capability="%d.%d" % (props["major"], props["minor"]),
                     multiprocessors=props["multiProcessorCount"], memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
                     l2_mib=round(props["l2CacheSize"] / 2**20, 1))
            archs = (10 * props["major"] + props["minor"],)
    except ImportError:
        r["cupy"] = None
    try:
        import torch
        r["torch"] = torch.__version__
        r["torch_cuda"] = torch.version.cuda
    except Exception:
        r["torch"] = None
    smi = shutil.which("nvidia-smi")
    if smi:  # read-only queries: clocks and power as found (METHOD.md: never change them)
        q = subprocess.run([smi, "--query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total,"
                                 "temperature.gpu,power.draw,power.limit", "--format=csv"],
                           capture_output=True, text=True, timeout=20)
        r["nvidia_smi"] = (q.stdout or q.stderr).strip().splitlines()
    r["tools"] = {t: shutil.which(t) for t in ("nvcc", "compute-sanitizer", "ncu", "cuobjdump", "mpirun")}
    compiled = {}
    for f in build.kernel_files():
        for arch in archs:
            t0 = time.monotonic()
            try:
                build.nvrtc_compile(f, arch)
                compiled["%s sm_%d" % (f.name, arch)] = "ok %.1f s" % (time.monotonic() - t0)
            except Exception as e:
                compiled["%s sm_%d" % (f.name, arch)] = "%s: %s" % (type(e).__name__, str(e)[:300])
    r["nvrtc_compile"] = compiled
    bad = [k for k, v in compiled.items() if not v.startswith("ok")]
    if r["tools"]["nvcc"]:
        r["ptxas"] = _ptxas_report(build, max(archs))
    if why is None:
        r["ceilings"] = _ceilings(quick)
    r["status"] = "failed" if bad else "ok"
    return r


def _ptxas_report(build, arch):
    """{kernel: "R regs, S B smem, F B stack, spills"} from nvcc -Xptxas -v (registers decide occupancy)."""
    import tempfile
    rep = {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in build.kernel_files():
            p = subprocess.run(["nvcc", "-cubin", "-arch=sm_%d" % arch, "-std=c++17", "-Xptxas", "-v",
                                "-I%s" % f.parent, "-o", os.path.join(tmp, "k.cubin"), str(f)],
                               capture_output=True, text=True, timeout=120)
            if p.returncode:
                rep[f.name] = "nvcc failed: %s" % p.stderr.strip()[-300:]
                continue
            name = None
            for line in p.stderr.splitlines():
                m = re.search(r"Compiling entry function '(\w+)'", line)
                if m:
                    name = m.group(1)
                m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
                if m and name:
                    rep[name] = {"stack": int(m.group(1)), "spill_stores": int(m.group(2)), "spill_loads": int(m.group(3))}
                m = re.search(r"Used (\d+) registers", line)
                if m and name and isinstance(rep.get(name), dict):
                    smem = re.search(r"(\d+) bytes smem", line)  # absent for a kernel with no shared memory
                    rep[name].update(registers=int(m.group(1)), smem=int(smem.group(1)) if smem else 0)
    return rep


def _ceilings(quick):
    """The two ceilings METHOD.md asks to measure once per lease: a device copy (bytes read + written)
    and a large cuBLAS FP32 product, on random data."""
    import numpy as np
    from gpunet import backend
    cp = backend.get_xp()
    n = (1 << 20) if quick else (1 << 28)  # 1 GiB of float32
    a = cp.random.random(n, dtype=np.float32)
    b = cp.empty_like(a)
    t, how = graph_time(cp, lambda: cp.copyto(b, a), calls=5, replays=5)
    m = 256 if quick else 8192
    x = cp.random.random((m, m), dtype=np.float32)
    y = cp.random.random((m, m), dtype=np.float32)
    z = cp.empty_like(x)
    tm, how_m = graph_time(cp, lambda: cp.matmul(x, y, out=z), calls=3, replays=5)
    return {"copy_gbs": round(2 * a.nbytes / t / 1e9, 1), "copy_timed_by": how,
            "sgemm_%d_tflops" % m: round(2 * m ** 3 / tm / 1e12, 2), "sgemm_timed_by": how_m}


@needs_device
def section_capture(out, quick, budget):
    """Which calls this stack can capture in a CUDA graph, and whether the replay equals the eager result."""
    import numpy as np
    from gpunet import backend
    from gpunet.kernels import dense
    cp = backend.get_xp()
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((1024, 784), dtype=np.float32))
    w = cp.asarray(rng.standard_normal((784, 128), dtype=np.float32) / 28)
    b = cp.asarray(rng.standard_normal(128, dtype=np.float32))
    cases = {
        "cupy.matmul (cuBLAS)": lambda o: cp.matmul(x, w, out=o),
        "cupy elementwise (add, maximum)": lambda o: cp.maximum(cp.add(o, b, out=o), 0, out=o),
        "gpunet dense_forward (RawKernel)": lambda o: dense.dense_forward_launch(x, w, b, o, None, "relu")(),
    }
    r = {}
    for name, f in cases.items():
        eager = cp.zeros((1024, 128), cp.float32)
        f(eager)
        cp.cuda.Device().synchronize()
        out_g = cp.zeros((1024, 128), cp.float32)
        s = cp.cuda.Stream(non_blocking=True)
        try:
            with s:
                f(out_g)  # warm-up on the capturing stream: handles and modules exist before capture
                s.synchronize()
                out_g.fill(0)
                s.synchronize()
                s.begin_capture()
                try:
                    f(out_g)
                finally:
                    g = s.end_capture()
                g.launch(s)
                s.synchronize()
            r[name] = {"captured": True, "replay_equals_eager": bool(cp.allclose(out_g, eager, rtol=1e-6, atol=1e-6)),
                       "max_abs_diff": float(cp.abs(out_g - eager).max())}
        except Exception as e:
            r[name] = {"captured": False, "error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")}
    try:
        from gpunet.distribution import comm
        nccl = comm._nccl_module()  # what gpunet's data-parallel path imports
        r["nccl"] = {"available": bool(getattr(nccl, "available", True)),
                     "version": nccl.get_version() if hasattr(nccl, "get_version") else None}
    except Exception as e:
        r["nccl"] = {"available": False, "error": "%s: %s" % (type(e).__name__, e)}
    ok = all(v.get("captured") and v.get("replay_equals_eager") for k, v in r.items() if k != "nccl"
             and not k.startswith("cupy.matmul"))
    r["status"] = "ok" if ok else "failed"  # cuBLAS not capturing is a finding, not a failure of ours
    return r


@needs_device
def section_gpu_tests(out, quick, budget):
    args = ["-m", "gpu", "tests/"]
    if _has_module("xdist") and not quick:
        args += ["-n", "4"]
    return _pytest(out, "gpu_tests", args, budget, _test_env(True))


def _dense_shapes(quick):
    if quick:  # a check of the script (the emulated tier through the CuPy stand-in): tiny odd shapes
        return [("classic b5 L1", 5, 70, 7, "relu"), ("classic b5 L2", 5, 7, 3, "linear")]
    rows = []
    for b in (32, 128, 1024):
        rows += [("classic b%d L1" % b, b, 784, 128, "relu"), ("classic b%d L2" % b, b, 128, 10, "linear")]
    rows += [("wide L1", 1024, 784, 4096, "relu"), ("wide L2", 1024, 4096, 4096, "relu"),
             ("wide L3", 1024, 4096, 10, "linear")]
    return rows


def _act(xp, z, act):
    """The activation in place (no allocation inside a captured call)."""
    return xp.maximum(z, 0, out=z) if act == "relu" else z


def _cublas_refs(xp, x, W, b, dY, act, calls, replays):
    """cuBLAS FP32 for the three products (and the unfused forward with bias and activation), timed both ways
    where that is possible: through PyTorch eager and captured (torch.cuda.graph captures cuBLAS), and through
    CuPy eagerly (CuPy 14 refuses cuBLAS while capturing). {column: (µs or None, how)}."""
    import numpy as np
    M, K = x.shape
    N = W.shape[1]
    Yc, gxc, gWc = xp.empty((M, N), np.float32), xp.empty((M, K), np.float32), xp.empty((K, N), np.float32)
    out = {}
    for name, f in (("fwd", lambda: xp.matmul(x, W, out=Yc)), ("dx", lambda: xp.matmul(dY, W.T, out=gxc)),
                    ("dw", lambda: xp.matmul(x.T, dY, out=gWc))):
        t, how = graph_time(xp, f, calls, replays, capture=False)
        out["cupy_eager_" + name] = (t * 1e6, "cupy eager")
    why = torch_ready()
    for mode in ("graph", "eager"):
        for name in ("fwd", "fwd_bias_act", "dx", "dw"):
            out["torch_%s_%s" % (mode, name)] = (None, why)
    if why is None:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False  # FP32 (TF32 is the tf32 section's)
        tx, tW, tb, tdY = (torch.from_dlpack(a) for a in (x, W, b, dY))
        tY, tgx, tgW = torch.empty((M, N), device="cuda"), torch.empty((M, K), device="cuda"), \
            torch.empty((K, N), device="cuda")

        def fba():
            torch.addmm(tb, tx, tW, out=tY)
            if act == "relu":
                torch.relu_(tY)
        fns = {"fwd": lambda: torch.matmul(tx, tW, out=tY), "fwd_bias_act": fba,
               "dx": lambda: torch.matmul(tdY, tW.T, out=tgx), "dw": lambda: torch.matmul(tx.T, tdY, out=tgW)}
        for mode in ("graph", "eager"):
            for name, f in fns.items():
                t, how = torch_time(f, calls, replays, graph=mode == "graph")
                out["torch_%s_%s" % (mode, name)] = (t * 1e6, how)
    return out


def _variant_launches(dense, kind, variant, args, alloc):
    """The launch list of one variant, or None when the variant does not apply to this product (split-K with
    too little K, cuBLASLt where it cannot run or has no epilogue)."""
    if kind == "fwd":
        launches = dense.dense_forward_launches(*args, alloc=alloc, variant=variant)
    else:
        launches = dense.dense_backward_data_launches(*args, alloc=alloc, variant=variant)
    if variant == "tile":  # always applies
        return launches
    names = [getattr(x, "name", None) for x in launches]
    want = {"splitk": ("dense_forward_partial", "dense_backward_data_partial"), "cublaslt": ("cublaslt_matmul",)}
    return launches if any(n in want[variant] for n in names) else None


@needs_device
def section_kernels(out, quick, budget):
    """Every dense variant against cuBLAS at the MLPs' shapes, each timed both ways (captured in a CUDA graph,
    and eagerly: back to back, host launch cost included), so that graph is compared with graph and eager with
    eager; every output checked against float64 after the timing (the timed calls really did the work)."""
    import numpy as np
    from gpunet import backend
    from gpunet.kernels import dense, head, optim, softmax_xent
    xp = backend.get_xp()
    rng = np.random.default_rng(0)
    calls, replays = (2, 2) if quick else (20, 10)

    def dev(shape, scale=1.0):
        return xp.asarray((rng.standard_normal(shape) * scale).astype(np.float32))

    def poisoned(shape):
        return xp.asarray(np.full(shape, np.nan, np.float32))

    def alloc(shape, dtype=np.float32):
        return xp.empty(shape, dtype)

    def run_all(launches):
        return lambda: [x() for x in launches]

    dense_rows, worst = [], 0.0
    for name, M, K, N, act in _dense_shapes(quick):
        x, W, b, dY = dev((M, K)), dev((K, N), K ** -0.5), dev(N, 0.1), dev((M, N))
        x64, W64, dY64 = (a.astype(np.float64) for a in (x, W, dY))
        Y64 = _act(xp, x64 @ W64 + b.astype(np.float64), act)
        row = {"name": name, "M": M, "K": K, "N": N, "act": act, "us": {}, "timed_by": {}, "rel_err": {},
               "plan": {"fwd": dense.gemm_plan(M, N, K, "auto")[:2], "dx": dense.gemm_plan(M, K, N, "auto")[:2]}}

        def time_both(key, launches):
            for mode in ("graph", "eager"):
                t, how = graph_time(xp, run_all(launches), calls, replays, capture=mode == "graph")
                row["us"]["%s %s" % (key, mode)], row["timed_by"]["%s %s" % (key, mode)] = t * 1e6, how

        Yk = None
        for variant in ("tile", "splitk", "cublaslt"):
            Y = poisoned((M, N))
            L = _variant_launches(dense, "fwd", variant, (x, W, b, Y, None, act), alloc)
            if L is not None:
                time_both("fwd " + variant, L)
                row["rel_err"]["fwd " + variant] = _rel_err(xp, Y, Y64)
                Yk = Y if variant == "tile" else Yk
        dz64 = dY64 * (Yk > 0) if act == "relu" else dY64  # the kernel's own Y decides ReLU's derivative
        for variant in ("tile", "splitk"):
            gx = poisoned((M, K))
            L = _variant_launches(dense, "dx", variant, (dY, Yk, None, W, gx, act), alloc)
            if L is not None:
                time_both("dx " + variant, L)
                row["rel_err"]["dx " + variant] = _rel_err(xp, gx, dz64 @ W64.T)
        gW, gb = poisoned((K, N)), poisoned(N)
        time_both("dw_db tile", dense.dense_backward_weight_launches(x, dY, Yk, None, gW, gb, act, alloc=alloc))
        row["rel_err"].update({"dw": _rel_err(xp, gW, x64.T @ dz64), "db": _rel_err(xp, gb, dz64.sum(0))})
        refs = _cublas_refs(xp, x, W, b, dY, act, calls, replays)
        row["cublas_fp32_us"] = {k: v[0] for k, v in refs.items()}
        row["timed_by"].update({"cublas " + k: v[1] for k, v in refs.items()})
        u, c = row["us"], row["cublas_fp32_us"]
        best = {m: min((v, k) for k, v in u.items() if k.startswith("fwd ") and k.endswith(m)) for m in ("graph",
                                                                                                        "eager")}
        row["best_fwd"] = {m: best[m][1] for m in best}
        # speed = reference µs / our µs: graph against torch's captured cuBLAS, eager against CuPy's eager cuBLAS
        row["speed_vs_cublas_fp32"] = {
            "fwd graph vs torch graph": c["torch_graph_fwd"] / best["graph"][0] if c["torch_graph_fwd"] else None,
            "fwd graph vs torch graph (bias+act)": (c["torch_graph_fwd_bias_act"] / best["graph"][0]
                                                    if c["torch_graph_fwd_bias_act"] else None),
            "fwd eager vs cupy eager": c["cupy_eager_fwd"] / best["eager"][0],
            "dx graph vs torch graph": (c["torch_graph_dx"] / min(v for k, v in u.items() if k.startswith("dx ")
                                                                  and k.endswith("graph"))
                                        if c["torch_graph_dx"] else None),
            "dw graph vs torch graph": c["torch_graph_dw"] / u["dw_db tile graph"] if c["torch_graph_dw"] else None}
        errs = list(row["rel_err"].values())
        worst = max([worst] + [e if e == e else math.inf for e in errs])
        dense_rows.append(row)
        print("%-16s fwd graph: best %s %.1f us, cuBLAS (torch graph) %s | eager: best %s %.1f us, cuBLAS (CuPy) "
              "%.1f | err %.1e" % (name, best["graph"][1].split()[1], best["graph"][0],
                                   "%.1f" % c["torch_graph_fwd"] if c["torch_graph_fwd"] else "-",
                                   best["eager"][1].split()[1], best["eager"][0], c["cupy_eager_fwd"], max(errs)),
              flush=True)
    xent = []
    for R, C in ((5, 3),) if quick else ((32, 10), (1024, 10)):
        z = dev((R, C))
        lab = xp.asarray(rng.integers(0, C, R).astype(np.int32))
        loss, correct, rows = poisoned(R), poisoned(R), tuple(poisoned(R) for _ in range(3))
        bad, nvalid = xp.zeros(1, np.int32), softmax_xent.all_rows()
        f = softmax_xent.xent_forward_launch(z, lab, z, loss, rows, correct, bad, nvalid, True, 0.0)
        g, d = xp.asarray(np.full(1, 1.0 / R, np.float32)), poisoned((R, C))
        bwd = softmax_xent.xent_backward_launch(z, lab, z, rows, g, 0, nvalid, d, True, 0.0)
        t_fx, _ = graph_time(xp, f, calls, replays)
        t_bx, _ = graph_time(xp, bwd, calls, replays)
        z64 = z.astype(np.float64)
        lse = xp.log(xp.exp(z64 - z64.max(1, keepdims=True)).sum(1)) + z64.max(1)
        ref_loss = lse - z64[xp.arange(R), lab]
        p = xp.exp(z64 - lse[:, None])
        p[xp.arange(R), lab] -= 1
        xent.append({"rows": R, "classes": C, "fwd_us": t_fx * 1e6, "bwd_us": t_bx * 1e6, "timed_by": "graph",
                     "rel_err": {"loss": _rel_err(xp, loss, ref_loss), "dlogits": _rel_err(xp, d, p / R)}})
        worst = max([worst] + list(xent[-1]["rel_err"].values()))
    heads = []
    for R, K, C in ((5, 7, 3),) if quick else ((32, 128, 10), (256, 128, 10)):
        h, W2, b2 = dev((R, K)), dev((K, C), K ** -0.5), dev(C, 0.1)
        lab = xp.asarray(rng.integers(0, C, R).astype(np.int32))
        nvalid, g = softmax_xent.all_rows(), xp.asarray(np.full(1, 1.0 / R, np.float32))
        res = {}
        for fused in (True, False):
            Y, loss, correct, d = poisoned((R, C)), poisoned(R), poisoned(R), poisoned((R, C))
            rows, acc, bad = tuple(poisoned(R) for _ in range(3)), xp.zeros(2, np.float64), xp.zeros(1, np.int32)
            if fused:
                L = [head.head_launch(h, W2, b2, Y, None, lab, Y, loss, rows, correct, bad, nvalid, g, d, acc,
                                      "linear", True, 0.0)]
            else:
                L = [dense.dense_forward_launch(h, W2, b2, Y, None, "linear"),
                     softmax_xent.xent_forward_launch(Y, lab, Y, loss, rows, correct, bad, nvalid, True, 0.0),
                     softmax_xent.xent_accumulate_launch(loss, correct, acc),
                     softmax_xent.xent_backward_launch(Y, lab, Y, rows, g, 0, nvalid, d, True, 0.0)]
            t, how = graph_time(xp, run_all(L), calls, replays)
            res["fused" if fused else "separate"] = {"us": t * 1e6, "timed_by": how, "launches": len(L)}
            z64 = h.astype(np.float64) @ W2.astype(np.float64) + b2.astype(np.float64)
            p = xp.exp(z64 - z64.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[xp.arange(R), lab] -= 1
            err = _rel_err(xp, d, p / R)
            res["fused" if fused else "separate"]["rel_err_dlogits"] = err
            worst = max(worst, err if err == err else math.inf)
        heads.append(dict(rows=R, K=K, classes=C, **res))
    adam = []
    for n in ((1000,) if quick else (101770, 20037642)):
        p_, g_, m_, v_ = dev(n), dev(n), xp.zeros(n, np.float32), xp.zeros(n, np.float32)
        cur = xp.asarray(np.array([1e-3, 0.0], np.float32))
        t_a, _ = graph_time(xp, optim.adam_update_ctl_launch(p_, g_, m_, v_, None, cur, 0.9, 0.999, 1e-7),
                            calls, replays)
        finite = bool(xp.isfinite(p_).all())
        adam.append({"params": n, "us": t_a * 1e6, "gbs": 28.0 * n / t_a / 1e9, "finite": finite,
                     "timed_by": "graph"})  # 16 B in, 12 out
        worst = max(worst, 0.0 if finite else math.inf)
    ok = worst < 1e-4
    return {"status": "ok" if ok else "failed", "worst_rel_err": worst, "calls_per_graph": calls, "replays": replays,
            "dense": dense_rows, "softmax_xent": xent, "head": heads, "adam": adam}


@needs_device
def section_tf32(out, quick, budget):
    """cuBLAS with TF32 allowed at the dense shapes: through PyTorch (allow_tf32, eager and captured) and through
    CuPy eagerly (CUPY_TF32=1, set by the orchestrator before CuPy's import; CuPy cannot capture cuBLAS)."""
    import numpy as np
    from gpunet import backend
    cp = backend.get_xp()
    rng = np.random.default_rng(0)
    calls, replays = (2, 2) if quick else (20, 10)
    why = torch_ready()
    rows = []
    for name, M, K, N, act in _dense_shapes(quick):
        x = cp.asarray(rng.standard_normal((M, K)).astype(np.float32))
        W = cp.asarray((rng.standard_normal((K, N)) * K ** -0.5).astype(np.float32))
        dY = cp.asarray(rng.standard_normal((M, N)).astype(np.float32))
        Yc, gxc, gWc = cp.empty((M, N), np.float32), cp.empty((M, K), np.float32), cp.empty((K, N), np.float32)
        t = {k: graph_time(cp, f, calls, replays, capture=False)[0] * 1e6 for k, f in (
            ("fwd", lambda: cp.matmul(x, W, out=Yc)), ("dx", lambda: cp.matmul(dY, W.T, out=gxc)),
            ("dw", lambda: cp.matmul(x.T, dY, out=gWc)))}
        r = {"name": name, "M": M, "K": K, "N": N, "cupy_eager_tf32_us": t,
             "fwd_rel_err": _rel_err(cp, Yc, x.astype(np.float64) @ W.astype(np.float64))}
        if why is None:
            import torch
            torch.backends.cuda.matmul.allow_tf32 = True
            tx, tW, tdY = (torch.from_dlpack(a) for a in (x, W, dY))
            tY, tgx, tgW = (torch.empty(s_, device="cuda") for s_ in ((M, N), (M, K), (K, N)))
            for mode in ("graph", "eager"):
                r["torch_%s_tf32_us" % mode] = {k: torch_time(f, calls, replays, graph=mode == "graph")[0] * 1e6
                                                for k, f in (("fwd", lambda: torch.matmul(tx, tW, out=tY)),
                                                             ("dx", lambda: torch.matmul(tdY, tW.T, out=tgx)),
                                                             ("dw", lambda: torch.matmul(tx.T, tdY, out=tgW)))}
            torch.backends.cuda.matmul.allow_tf32 = False
        else:
            r["torch"] = why
        rows.append(r)
    return {"status": "ok", "CUPY_TF32": os.environ.get("CUPY_TF32"), "dense": rows,
            "note": "fwd_rel_err near 1e-3..1e-4 shows TF32 was in use in CuPy; near 1e-7, it was not"}


def section_step(out, quick, budget):
    why = _device_or_reason()
    if why and not quick:
        return {"status": "skipped", "reason": why}
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, os.path.join(HERE, "gpu_step.py"), "--out", tmp]
        cmd += ["--smoke"] if quick else ["--models", "classic", "wide", "convnet", "lstm", "transformer"]
        rc, so, se = run_killing_group(cmd, budget, cwd=ROOT, env=_test_env(False), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        sys.stdout.write(so[-20000:] + se[-5000:])
        path = os.path.join(tmp, "gpu_step.json")
        if rc is None:  # the rows finished so far were printed as they came
            rows = [json.loads(x) for x in so.splitlines() if x.startswith('{"') and '"name"' in x]
            return {"status": "timeout", "rows": rows, "tail": se[-1500:]}
        if rc or not os.path.exists(path):
            return {"status": "error", "returncode": rc, "tail": (so + se)[-2000:]}
        with open(path) as fh:
            res = json.load(fh)
    errors = [r["name"] + " b%d: %s" % (r["batch"], r["error"]) for r in res["rows"] if "error" in r]
    res.update(status="failed" if errors else "ok", errors=errors, command=" ".join(cmd[1:]))
    return res


@needs_device
def section_sanitize(out, quick, budget):
    cmd = [sys.executable, os.path.join(HERE, "gpu_sanitize.py"), out, "--budget", str(int(budget) - 5)]
    # (the orchestrator passed its limit less 5 s as `budget`: the tools share limit - 10 s)
    rc, so, se = run_killing_group(cmd, budget, cwd=ROOT, env=_test_env(True), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    sys.stdout.write(so[-20000:] + se[-5000:])
    lines = [json.loads(x) for x in so.splitlines() if x.startswith("{")]
    status = "timeout" if rc is None else "ok" if rc == 0 else ("failed" if lines else "error")
    return {"status": status, "runs": lines, "returncode": rc}


@needs_device
def section_suite(out, quick, budget):
    args = ["tests/", "-m", "not gpu"]  # the gpu-marked ones ran in gpu_tests
    if _has_module("xdist"):
        args += ["-n", "8"]
    return _pytest(out, "suite", args, budget, _test_env(True))


# ---------------------------------------------------------------- the orchestrator

def run_child(cmd, timeout, env, log):
    """One section's process: its result line, or what went wrong (crash, timeout, no result line)."""
    t0 = time.monotonic()
    rc, so, se = run_killing_group(cmd, timeout, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
    text = so + se
    log.write(text)
    log.flush()
    lines = [x[len(MARK):] for x in text.splitlines() if x.startswith(MARK)]
    if rc is None:
        r = {"status": "timeout", "limit_s": timeout, "tail": text[-1500:]}
    elif lines:
        r = json.loads(lines[-1])
    else:
        r = {"status": "error", "returncode": rc, "tail": text[-1500:]}
    r.setdefault("seconds", round(time.monotonic() - t0, 1))
    return r


def plan(names, budget, elapsed):
    """Seconds to give the first of `names`: its own limit, less what the later ones need to start, but never
    less than its own minimum while the budget has that much (the order is the priority)."""
    most, least = SECTIONS[names[0]][1:]
    left = budget - elapsed
    later = sum(SECTIONS[n][2] for n in names[1:])
    return min(most, max(least, left - later), left)


def plan_table(names, budget):
    """[(section, limit)] if every section used all of its limit (the worst case), and the sanitizer's share
    of one tool; a section whose limit falls under its own minimum is marked as one that would be skipped."""
    rows, elapsed = [], 0.0
    for i, name in enumerate(names):
        limit = plan(names[i:], budget, elapsed)
        rows.append((name, limit, limit >= SECTIONS[name][2]))
        elapsed += max(limit, 0)
    return rows


def summary(results):
    """The short table printed last: every ratio the issue's targets are stated in."""
    lines = ["# gpunet GPU probe", ""]
    env = results.get("env", {})
    lines.append("device: %s, CuPy %s, CUDA runtime %s, driver %s, torch %s" % (
        env.get("device", "none"), env.get("cupy"), env.get("cuda_runtime"), env.get("cuda_driver"), env.get("torch")))
    if env.get("ceilings"):
        lines.append("ceilings: %s" % json.dumps(env["ceilings"]))
    lines += ["", "| section | status | seconds | note |", "|---|---|---|---|"]
    for name, r in results.items():
        note = r.get("reason") or ""
        if "tests" in r:
            note = "%d passed, %d failed, %d errors, %d skipped" % (r["passed"], r["failures"], r["errors"], r["skipped"])
        elif "finished" in r:
            note = "cut short: %s" % r["counts"]
        lines.append("| %s | %s | %s | %s |" % (name, r.get("status"), r.get("seconds"), note))
    k = results.get("kernels", {})
    if k.get("dense"):
        def us(v):
            return "%.1f" % v if isinstance(v, (int, float)) else "-"
        lines += ["", "Dense products, µs per call. *graph*: N calls captured in one CUDA graph and replayed (launch "
                  "cost removed); *eager*: the calls back to back (host launch cost included). cuBLAS graph = PyTorch "
                  "torch.cuda.graph around torch.matmul; cuBLAS eager = CuPy (CuPy 14 cannot capture cuBLAS). "
                  "Speed = cuBLAS µs / ours, graph against graph and eager against eager.", "",
                  "| shape (M×K×N) | ours fwd graph: tile / split-K / cuBLASLt | cuBLAS fwd graph (+bias+act) | "
                  "ours fwd eager (best) | cuBLAS fwd eager (CuPy) | dX graph: tile / split-K, cuBLAS | "
                  "dW graph ours / cuBLAS | speed fwd graph / eager | timed by |", "|---" * 9 + "|"]
        for d in k["dense"]:
            u, c, sp = d["us"], d["cublas_fp32_us"], d["speed_vs_cublas_fp32"]
            best_eager = d["best_fwd"]["eager"]
            cells = "| %s %d×%d×%d | %s / %s / %s | %s (%s) | %s (%s) | %s | %s / %s, %s | %s / %s | %s / %s | %s |"
            lines.append(cells % (
                d["name"], d["M"], d["K"], d["N"], us(u.get("fwd tile graph")), us(u.get("fwd splitk graph")),
                us(u.get("fwd cublaslt graph")), us(c.get("torch_graph_fwd")), us(c.get("torch_graph_fwd_bias_act")),
                us(u.get(best_eager)), best_eager.split()[1], us(c.get("cupy_eager_fwd")),
                us(u.get("dx tile graph")), us(u.get("dx splitk graph")), us(c.get("torch_graph_dx")),
                us(u.get("dw_db tile graph")), us(c.get("torch_graph_dw")),
                "%.2f" % sp["fwd graph vs torch graph"] if sp.get("fwd graph vs torch graph") else "-",
                "%.2f" % sp["fwd eager vs cupy eager"],
                "; ".join(sorted({"%s" % v for v in d["timed_by"].values()}))))
        for h in k.get("head", []):
            lines.append("\nfused head %d rows × %d → %d classes: %.1f µs in 1 launch vs %.1f µs in %d "
                         "(graph)\n" % (
                h["rows"], h["K"], h["classes"], h["fused"]["us"], h["separate"]["us"], h["separate"]["launches"]))
    tf = results.get("tf32", {}).get("dense", [])
    if tf:
        lines += ["", "| TF32 shape | PyTorch graph fwd / dX / dW µs | CuPy eager fwd / dX / dW µs |",
                  "|---|---|---|"]
        for d in tf:
            tg = d.get("torch_graph_tf32_us", {})
            lines.append("| %s | %s | %s |" % (d["name"], " / ".join("%.1f" % tg[x] for x in ("fwd", "dx", "dw"))
                                              if tg else d.get("torch", "-"),
                                              " / ".join("%.1f" % d["cupy_eager_tf32_us"][x]
                                                         for x in ("fwd", "dx", "dw"))))
    st = results.get("step", {})
    if st.get("rows"):
        lines += ["", "| model | batch | row | µs/step | vs PyTorch eager FP32 | vs PyTorch graph |", "|---|---|---|---|---|---|"]
        for r in st["rows"]:
            lines.append("| %s | %d | %s | %s | %s | %s |" % (
                r.get("model", "classic"), r["batch"], r["name"],
                "%.1f" % r["us_per_step"] if "us_per_step" in r else r.get("error", "")[:80],
                r.get("vs_torch_eager", "-"), r.get("vs_torch_graph", "-")))
        lines += ["", "targets: classic batch 32, gpunet graph ≤ 0.2× PyTorch eager and < 1× PyTorch graph; "
                  "wide batch 1024, PyTorch FP32 µs / gpunet µs ≥ 0.8 (vs_torch_eager ≤ 1.25)"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder for probe.jsonl, probe.log, summary.md and the junit files")
    ap.add_argument("--budget", type=float, default=BUDGET, help="seconds for the whole run (default %d)" % BUDGET)
    ap.add_argument("--sections", default=",".join(ORDER), help="comma-separated, from: %s" % ", ".join(ORDER))
    ap.add_argument("--sanitize", action="store_true", help="include the sanitizer when --sections leaves it out")
    ap.add_argument("--plan", action="store_true", help="print each section's worst-case limit and exit")
    ap.add_argument("--quick", action="store_true", help="tiny shapes and steps: checks the script, numbers mean nothing")
    ap.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section in this process
    ap.add_argument("--limit", type=float, default=60, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.section:
        try:
            r = globals()["section_" + a.section](a.out, a.quick, a.limit)
        except Exception as e:
            import traceback
            traceback.print_exc()
            r = {"status": "error", "error": "%s: %s" % (type(e).__name__, str(e)[:500])}
        print(MARK + json.dumps(r, default=str), flush=True)
        return 0
    names = [n.strip() for n in a.sections.split(",") if n.strip()]
    if a.sanitize and "sanitize" not in names:
        names.append("sanitize")
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error("--sections: unknown %s (known: %s)" % (unknown, ", ".join(ORDER)))
    names = [n for n in ORDER if n in names]  # the order is the priority, whatever order they were named in
    if a.plan:
        import gpu_sanitize
        for name, limit, runs in plan_table(names, a.budget):
            note = "" if runs else " (under its minimum of %d s: skipped)" % SECTIONS[name][2]
            if name == "sanitize" and runs:
                note = " (%.0f s a tool, at least %d)" % (gpu_sanitize.tool_share(limit - 10, len(gpu_sanitize.TOOLS)),
                                                          gpu_sanitize.TOOL_MIN)
            print("%-10s %4.0f s%s" % (name, limit, note))
        print("budget     %4.0f s (worst case: every section uses all of its limit)" % a.budget)
        return 0
    t0 = time.monotonic()
    results = {}
    with open(os.path.join(a.out, "probe.jsonl"), "w") as jl, open(os.path.join(a.out, "probe.log"), "w") as log:
        for i, name in enumerate(names):
            # once env has found no device, the GPU sections skip here: no process, no time reserved for them
            no_device = results.get("env", {}).get("status") in ("ok", "failed") and not results["env"].get("device")
            todo = [n for n in names[i:] if not (no_device and SECTIONS[n][0])]
            limit = plan(todo, a.budget, time.monotonic() - t0) if todo and todo[0] == name else 0
            if no_device and SECTIONS[name][0]:
                backend_info = results["env"].get("backend")
                r = {"status": "skipped", "reason": "no device: %s" % (
                    backend_info.get("reason") if isinstance(backend_info, dict) else backend_info)}
            elif limit < SECTIONS[name][2]:
                r = {"status": "skipped", "reason": "no time left in the budget (%.0f s of %.0f s used)"
                     % (time.monotonic() - t0, a.budget)}
            else:
                env = _test_env(False)
                if name == "tf32":
                    env["CUPY_TF32"] = "1"
                log.write("\n===== %s (limit %.0f s) =====\n" % (name, limit))
                cmd = [sys.executable, os.path.abspath(__file__), a.out, "--section", name, "--limit", str(limit - 5)]
                r = run_child(cmd + (["--quick"] if a.quick else []), limit, env, log)
            r = dict({"section": name}, **r)
            results[name] = r
            line = json.dumps(r, default=str)
            jl.write(line + "\n")
            jl.flush()
            brief = {k: v for k, v in r.items() if k in ("section", "status", "seconds", "reason", "tests", "passed",
                                                         "failures", "errors", "skipped", "worst_rel_err", "counts")}
            print(json.dumps(brief), flush=True)
    text = summary(results)
    with open(os.path.join(a.out, "summary.md"), "w") as fh:
        fh.write(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
