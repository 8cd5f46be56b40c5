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
