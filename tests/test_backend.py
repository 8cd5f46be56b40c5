"""Backend choice: NumPy fallback with CuPy installed but no device, and GPUNET_BACKEND forcing."""
import importlib.util
import platform
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_py(code, **env):
    e = dict(os.environ, PYTHONPATH=ROOT)
    e.pop("GPUNET_BACKEND", None)
    e.pop("GPUNET_KERNELS", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


def test_forced_numpy():
    r = run_py("import gpunet; print(gpunet.backend.name(), gpunet.backend.info()['reason'])", GPUNET_BACKEND="numpy")
    assert r.returncode == 0 and r.stdout.startswith("numpy forced by GPUNET_BACKEND=numpy")
    assert r.stderr == ""


def test_bad_backend_value_is_a_clear_error():
    r = run_py("import gpunet; gpunet.backend.name()", GPUNET_BACKEND="tpu")
    assert r.returncode != 0 and "GPUNET_BACKEND='tpu'" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy not installed")
def test_cupy_installed_without_device_falls_back_with_one_line():
    code = ("import gpunet, numpy as np\n"
            "m = gpunet.Sequential([gpunet.Input((3,)), gpunet.layers.Dense(2)])\n"
            "m.compile(loss='mse'); m.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)\n"
            "print(gpunet.backend.name())")
    r = run_py(code)
    if "cupy" in r.stdout:
        pytest.skip("this machine has a working GPU")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "CuPy is installed but" in lines[0] and "using NumPy" in lines[0]


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy not installed")
def test_cupy_import_path_catches_driver_errors(monkeypatch):
    """Past the driver-library probe, CuPy itself raises (cudaErrorInsufficientDriver here): still a fallback."""
    from gpunet import backend
    monkeypatch.setattr(backend.ctypes, "CDLL", lambda name: None)
    backend._reset_for_tests()
    try:
        cupy, why = backend._probe_cupy()
        if cupy is not None:
            pytest.skip("this machine has a working GPU")
        assert "CuPy is installed but unusable" in why
    finally:
        backend._reset_for_tests()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy not installed")
def test_forcing_cupy_without_gpu_is_an_error():
    r = run_py("import gpunet; gpunet.backend.name()", GPUNET_BACKEND="cupy")
    if r.returncode == 0:
        pytest.skip("this machine has a working GPU")
    assert "GPUNET_BACKEND=cupy but the GPU backend cannot start" in r.stderr


def test_import_is_light():
    r = run_py("import sys, gpunet; print('cupy' in sys.modules, 'urllib.request' in sys.modules)")
    assert r.stdout.split() == ["False", "False"]


def test_gpunet_kernels_selects_the_emulated_tier_on_numpy_arrays():
    code = "import gpunet; b = gpunet.backend; print(b.name(), b.kernels(), b.uses_kernels(), '|', b.info()['kernels'])"
    r = run_py(code, GPUNET_KERNELS="emulate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy emulate True | kernels/*.cu emulated on the CPU (HIP-CPU)"
    r = run_py(code, GPUNET_BACKEND="numpy")
    assert r.stdout.strip() == "numpy None False | none (NumPy array ops)"


def test_gpunet_kernels_bad_values_are_clear_errors():
    r = run_py("import gpunet; gpunet.backend.name()", GPUNET_KERNELS="fast")
    assert r.returncode != 0 and "GPUNET_KERNELS='fast': expected 'emulate' or 'auto'" in r.stderr
    r = run_py("import gpunet; gpunet.backend.name()", GPUNET_KERNELS="emulate", GPUNET_BACKEND="cupy")
    assert r.returncode != 0 and "cannot be combined with GPUNET_BACKEND=cupy" in r.stderr


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_numpy_backend_keeps_freed_blocks_for_the_next_step():
    """On the CPU, the backend raises glibc's mmap/trim thresholds once, so a training step's large
    temporaries are reused instead of page-faulted in again; GPUNET_MALLOC_TUNING=0 leaves malloc alone."""
    code = ("import resource, numpy as np, gpunet\n"
            "gpunet.backend.get_xp()\n"
            "sizes = [(m << 20) for m in (3, 11, 18, 25)]  # a step's temporaries, alive together\n"
            "held = [np.ones(n, np.uint8) for n in sizes]; del held  # first touch\n"
            "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(10):\n"
            "    held = [np.ones(n, np.uint8) for n in sizes]; del held\n"
            "print(gpunet.backend.tune_malloc(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)")
    tuned = run_py(code, GPUNET_BACKEND="numpy")
    plain = run_py(code, GPUNET_BACKEND="numpy", GPUNET_MALLOC_TUNING="0")
    assert tuned.returncode == 0 and plain.returncode == 0, tuned.stderr + plain.stderr
    on, on_faults = tuned.stdout.split()
    off, off_faults = plain.stdout.split()
    assert on == "True" and off == "False"
    # 57 MB a step: ~14,000 page faults when handed back to the OS, ~none when kept
    assert int(on_faults) * 10 < int(off_faults), (on_faults, off_faults)
