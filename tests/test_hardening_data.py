"""Datasets and the command line under faults: every file hash-checked, bad mirrors and read-only caches
refused clearly, slow downloads shown and given up, CLI arguments checked before training (issue 16)."""
import http.server
import os
import shutil
import subprocess
import sys
import time

import pytest

from gpunet.datasets import DatasetError, fashion_mnist, mnist
from test_datasets import _Server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_file_of_both_datasets_has_a_hash():
    names = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"}
    assert set(mnist.IDX_SHA256) == names and set(fashion_mnist.SHA256) == names
    assert len(set(mnist.IDX_SHA256.values()) | set(fashion_mnist.SHA256.values())) == 8


def test_fashion_training_files_under_mnist_names_are_refused(data_dir, tmp_path):
    d = tmp_path / "fake-mnist"
    d.mkdir()
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(data_dir, "fashion-mnist", f), d / f)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(data_dir, "mnist", f), d / f)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz is corrupt or not the expected file: SHA-256"):
        mnist.load_data(path=str(d))
    x, _ = mnist.load_data(path=str(d), split="test")  # the real test files still load
    assert x.shape == (10000, 28, 28)


@pytest.mark.parametrize("url", ["not a url", "127.0.0.1:8000/data", "http:///nohost/"])
def test_a_mirror_url_that_is_not_a_url(isolated, monkeypatch, url):
    monkeypatch.setenv("GPUNET_DATASETS_URL", url)
    with pytest.raises(DatasetError, match=r"GPUNET_DATASETS_URL=.* is not a URL: expected http://host/path/"):
        fashion_mnist.load_data()


def _under_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    return str(tmp_path / "afile" / "home")  # nothing can be created below a file, even by root


def test_a_cache_that_cannot_be_written(isolated, monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("GPUNET_HOME", _under_a_file(tmp_path))
    with _Server(_serving(tmp_path, data_dir)) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        with pytest.raises(DatasetError, match=r"cannot write to the dataset cache .*set GPUNET_HOME to a writable "
                                               r"directory"):
            fashion_mnist.load_data()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_cache_directory(isolated, monkeypatch, tmp_path, data_dir):
    home = tmp_path / "ro"
    (home / "datasets" / "fashion-mnist").mkdir(parents=True)
    os.chmod(home / "datasets" / "fashion-mnist", 0o555)
    monkeypatch.setenv("GPUNET_HOME", str(home))
    with _Server(_serving(tmp_path, data_dir)) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        with pytest.raises(DatasetError, match=r"cannot write to the dataset cache"):
            fashion_mnist.load_data()


def _serving(tmp_path, data_dir):
    served = tmp_path / "served"
    if not served.exists():
        shutil.copytree(os.path.join(data_dir, "fashion-mnist"), served)
    return served


class _Trickle(http.server.BaseHTTPRequestHandler):
    """200 bytes every 0.1 s (2 KB/s) of a 1 MB file; `silent` sends the headers and then nothing."""
    silent = False

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 10:
                if not self.silent:
                    self.wfile.write(b"\0" * 200)
                    self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


class _Silent(_Trickle):
    silent = True


@pytest.mark.parametrize("handler,match", [(_Trickle, r"stalled: .* in the last 1 s, below 10\.2 KB/s; nothing was "
                                                      r"cached"),
                                           (_Silent, r"Could not download .*timed out")])
def test_a_download_that_trickles_or_stalls_is_given_up_with_progress_shown(isolated, monkeypatch, capfd, handler,
                                                                           match):
    monkeypatch.setenv("GPUNET_DOWNLOAD_STALL_S", "1")
    with _Server(handler=handler) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        t = time.monotonic()
        with pytest.raises(DatasetError, match=match):
            fashion_mnist.load_data(split="test")
        assert time.monotonic() - t < 5
    err = capfd.readouterr().err
    assert "Downloading %st10k-images-idx3-ubyte.gz (1.0 MB)" % srv.url in err
    cache = isolated / "gpunet_home" / "datasets" / "fashion-mnist"
    assert not os.path.exists(cache) or os.listdir(cache) == []


def test_download_progress_reaches_the_end(isolated, monkeypatch, capfd, tmp_path, data_dir):
    with _Server(_serving(tmp_path, data_dir)) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        (x, _) = fashion_mnist.load_data(split="test")
    err = capfd.readouterr().err
    assert "Downloading %st10k-images-idx3-ubyte.gz (4.4 MB)" % srv.url in err and "4.4/4.4 MB" in err
    assert x.shape == (10000, 28, 28)


def test_the_stall_window_setting_is_checked(isolated, monkeypatch):
    monkeypatch.setenv("GPUNET_DOWNLOAD_STALL_S", "soon")
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")
    with pytest.raises(DatasetError, match=r"GPUNET_DOWNLOAD_STALL_S must be a positive number of seconds, received "
                                           r"'soon'"):
        fashion_mnist.load_data(split="test")


# ---- the command line ----

def gpunet_cmd(*args, **env):
    e = dict(os.environ, PYTHONPATH=ROOT)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "gpunet", *args], capture_output=True, text=True, env=e, timeout=600)


@pytest.mark.parametrize("save,match", [("out.h5", "Invalid filepath extension"), ("afile/m.keras", "is a file, not a folder"),
                                        ("adir", "Invalid filepath extension"), ("adir.keras", "is a directory")])
def test_train_checks_the_save_path_before_training(tmp_path, data_dir, save, match):
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir.keras").mkdir()
    t = time.monotonic()
    r = gpunet_cmd("train", "fashion_mnist", "--save", str(tmp_path / save), GPUNET_DATA_DIR=data_dir)
    assert r.returncode == 2, r.stderr
    assert match in r.stderr and "test accuracy" not in r.stdout
    assert time.monotonic() - t < 60  # refused at once, not after five epochs


@pytest.mark.parametrize("env", [dict(GPUNET_DATASETS_URL="not a url"),
                                 dict(GPUNET_DATASETS_URL="http://127.0.0.1:9/", GPUNET_HOME="<under a file>")])
def test_train_dataset_failures_exit_3(tmp_path, env):
    env = {k: _under_a_file(tmp_path) if v == "<under a file>" else v for k, v in env.items()}
    env.setdefault("GPUNET_HOME", str(tmp_path / "home"))
    r = gpunet_cmd("train", "mnist", GPUNET_DATA_DIR=str(tmp_path / "empty"), KERAS_HOME=str(tmp_path / "keras"),
                   **env)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "GPUNET_DATASETS_URL" in r.stderr or "cannot write to the dataset cache" in r.stderr


@pytest.mark.parametrize("args", [["bench", "--samples", "0"], ["bench", "--samples", "-5"],
                                  ["bench", "--batch-size", "0"], ["train", "fashion_mnist", "--epochs", "x"]])
def test_bad_numbers_are_usage_errors(args):
    r = gpunet_cmd(*args)
    assert r.returncode == 2 and "expected a positive integer" in r.stderr, r.stderr


# ---- packaging: what a non-editable install runs ----

@pytest.mark.slow
def test_the_installed_wheel_finds_and_builds_its_cpu_kernels(tmp_path):
    """`pip install .` must ship kernels/*.c: without them every user of a wheel silently ran the slower NumPy
    optimizer. Installed into a folder and imported from outside the checkout."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "--target",
                        str(tmp_path / "site"), ROOT], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "setuptools" in r.stderr:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                            str(tmp_path / "site"), ROOT], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    probe = ("import gpunet, gpunet.kernels.build as k, gpunet.kernels.cpu as c\n"
             "assert gpunet.__file__.startswith(%r), gpunet.__file__\n"
             "print(k.kernel_dir())\n"
             "print(c.library() is not None)\n" % str(tmp_path / "site"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), GPUNET_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(tmp_path), env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    kernel_dir, built = r.stdout.split()
    assert kernel_dir.startswith(str(tmp_path / "site")) and kernel_dir.endswith("_cuda")
    if shutil.which("cc") or shutil.which("gcc"):
        assert built == "True"
