import functools
import gzip
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

from gpunet.datasets import DatasetError, fashion_mnist, mnist

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]


def test_fashion_mnist_from_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("GPUNET_DATA_DIR", data_dir)
    (xt, yt), (xs, ys) = fashion_mnist.load_data()
    assert xt.shape == (60000, 28, 28) and xt.dtype == np.uint8
    assert yt.shape == (60000,) and yt.dtype == np.uint8 and set(np.unique(yt)) == set(range(10))
    assert xs.shape == (10000, 28, 28) and ys.shape == (10000,)
    assert list(ys[:5]) == [9, 2, 1, 1, 6]


def test_real_mnist_test_set_loads(data_dir):
    x, y = mnist.load_data(path=os.path.join(data_dir, "mnist"), split="test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert list(y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert 30 < x.mean() < 40  # real digits, not zeros


def test_path_argument_and_keras_cache(data_dir, isolated):
    src = os.path.join(data_dir, "fashion-mnist")
    (_, y1), _ = fashion_mnist.load_data(path=src)
    keras_copy = isolated / "keras_home" / "datasets" / "fashion-mnist"
    shutil.copytree(src, keras_copy)
    (_, y2), _ = fashion_mnist.load_data()  # found in Keras's cache, no download attempted
    assert np.array_equal(y1, y2)


def test_keras_mnist_npz_in_cache(isolated, data_dir):
    x, y = mnist.load_data(path=os.path.join(data_dir, "mnist"), split="test")
    npz = isolated / "keras_home" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, x_train=x[:100], y_train=y[:100], x_test=x, y_test=y)
    with pytest.raises(DatasetError, match="SHA-256"):  # not Keras's real file: refused, not trusted
        mnist.load_data()
    (xt, _), (xs, _) = mnist.load_data(path=str(npz))  # an explicit path is the user's choice
    assert xt.shape == (100, 28, 28) and xs.shape == (10000, 28, 28)


def test_truncated_local_file_is_refused(data_dir, isolated):
    d = isolated / "copy"
    shutil.copytree(os.path.join(data_dir, "fashion-mnist"), d)
    raw = (d / FILES[3]).read_bytes()
    (d / FILES[3]).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="t10k-labels.*(corrupt|truncated)"):
        fashion_mnist.load_data(path=str(d))


class _Server:
    """Serves root's files on 127.0.0.1 (or answers with `handler`, a request handler class)."""

    def __init__(self, root=None, handler=None):
        handler = handler or functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_good_file_is_verified_and_cached(data_dir, isolated, monkeypatch):
    served = isolated / "served"
    shutil.copytree(os.path.join(data_dir, "fashion-mnist"), served)
    with _Server(served) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        (xt, yt), (xs, ys) = fashion_mnist.load_data()
    cache = isolated / "gpunet_home" / "datasets" / "fashion-mnist"
    assert sorted(os.listdir(cache)) == sorted(FILES)
    assert xt.shape == (60000, 28, 28) and list(ys[:5]) == [9, 2, 1, 1, 6]
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")  # nothing listens: must use the cache
    (_, yt2), _ = fashion_mnist.load_data()
    assert np.array_equal(yt, yt2)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_download_bad_file_is_rejected_and_not_cached(data_dir, isolated, monkeypatch, damage):
    served = isolated / "served"
    shutil.copytree(os.path.join(data_dir, "fashion-mnist"), served)
    target = served / FILES[2]
    raw = bytearray(target.read_bytes())
    if damage == "corrupt":
        raw[1000] ^= 0xFF
    else:
        raw = raw[: len(raw) - 5000]
    target.write_bytes(bytes(raw))
    with _Server(served) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        with pytest.raises(DatasetError, match="t10k-images.*corrupt or truncated.*SHA-256"):
            fashion_mnist.load_data()
    cache = isolated / "gpunet_home" / "datasets" / "fashion-mnist"
    assert FILES[2] not in os.listdir(cache)
    assert not [f for f in os.listdir(cache) if f.startswith(".download-")]


def test_missing_everywhere_says_where_it_looked(isolated, monkeypatch):
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")
    with pytest.raises(DatasetError, match="not found locally.*gpunet cache.*download failed.*GPUNET_DATA_DIR.*--data"):
        mnist.load_data()


def test_idx_reader_rejects_wrong_magic(tmp_path):
    from gpunet.datasets._files import read_idx
    p = tmp_path / "x.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x02" + b"\x01\x02")
    with pytest.raises(DatasetError, match="not an IDX images file"):
        read_idx(str(p), "images")
    assert list(read_idx(str(p), "labels")) == [1, 2]


def test_to_categorical():
    from gpunet.utils import to_categorical
    y = to_categorical([0, 2, 1])
    assert y.dtype == np.float32 and y.shape == (3, 3) and np.array_equal(y.argmax(1), [0, 2, 1])
    assert to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    with pytest.raises(ValueError, match="out of range"):
        to_categorical([5], num_classes=3)
