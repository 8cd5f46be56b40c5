"""The wheel must carry the kernel sources (kernels/* as gpunet/_cuda/*)."""
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_wheel_contains_kernels(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(tmp_path), ROOT], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    wheel = next(p for p in os.listdir(tmp_path) if p.endswith(".whl"))
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    cu = {os.path.basename(n) for n in names if n.startswith("gpunet/_cuda/") and n.endswith(".cu")}
    assert cu == {f for f in os.listdir(os.path.join(ROOT, "kernels")) if f.endswith(".cu")}
    # the emulated tier's header and the CPU optimizer kernel travel with them
    assert {"gpunet/_cuda/hip_cpu_compat.h", "gpunet/_cuda/cpu_optim.c"} <= set(names)
    assert "gpunet/ops/fused.py" in names and "gpunet/datasets/mnist.py" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert entry and "gpunet = gpunet.cli:main" in zipfile.ZipFile(tmp_path / wheel).read(entry[0]).decode()
    meta = [n for n in names if n.endswith(".dist-info/METADATA")][0]
    text = zipfile.ZipFile(tmp_path / wheel).read(meta).decode()
    assert "License-Expression: MIT" in text  # PEP 639's form, not the deprecated License/classifier
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Provides-Extra: cuda12" in text and "cupy-cuda12x[ctk]" in text  # the driver-only machine gets NVRTC


@pytest.mark.slow
def test_sdist_is_the_whole_project(tmp_path):
    """A user who downloads the sdist can run the suite: the tests, conftest.py, the referee helpers, the kernels
    and the vendored HIP CPU Runtime travel with it."""
    pytest.importorskip("build", reason="the test extra installs `build`")
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), ROOT],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    import tarfile
    sdist = next(p for p in os.listdir(tmp_path) if p.endswith(".tar.gz"))
    with tarfile.open(tmp_path / sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    tests = {"tests/" + f for f in os.listdir(os.path.join(ROOT, "tests")) if f.endswith(".py")}
    assert tests <= names, sorted(tests - names)
    assert {"tests/conftest.py", "LICENSE", "README.md", "pyproject.toml", "third_party/hip-cpu/LICENSE",
            "kernels/dense.cu", "docs/architecture.md"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
