import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gpunet_cmd(*args, **env):
    e = dict(os.environ, PYTHONPATH=ROOT)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "gpunet", *args], capture_output=True, text=True, env=e,
                          timeout=600)


def test_info_json():
    r = gpunet_cmd("info", "--json", "--backend", "numpy")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["backend"] == "numpy" and "forced" in info["reason"]
    assert set(info["kernel_files"]) >= {"dense.cu", "softmax_xent.cu", "optim.cu"}
    if isinstance(info["kernels_compile"], dict):
        assert all(v.startswith("ok") for v in info["kernels_compile"].values())


def test_train_fashion_mnist_one_epoch(data_dir):
    r = gpunet_cmd("train", "fashion_mnist", "--epochs", "1", "--seed", "1", GPUNET_DATA_DIR=data_dir)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "1875/1875 ━━━━━━━━━━━━━━━━━━━━" in r.stdout
    acc = float(lines[-1].split("test accuracy:")[1].split()[0])
    assert acc > 0.80


def test_usage_and_data_errors(tmp_path):
    r = gpunet_cmd()
    assert r.returncode == 2
    r = gpunet_cmd("train", "cifar")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = gpunet_cmd("train", "fashion_mnist", "--epochs", "0")
    assert r.returncode == 2
    r = gpunet_cmd("train", "mnist", "--data", str(tmp_path), GPUNET_HOME=str(tmp_path))
    assert r.returncode == 3 and "no complete mnist copy" in r.stderr
