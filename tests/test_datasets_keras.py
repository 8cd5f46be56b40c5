"""keras.datasets' other loaders: CIFAR-10/100, IMDB, Reuters, Boston and California housing. Small files in
Keras's exact formats are served from 127.0.0.1 (or placed in a search folder); real Keras, reading the same
files, is the referee for every number and type."""
import hashlib
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest

from gpunet.datasets import DatasetError, boston_housing, california_housing, cifar10, cifar100, imdb, reuters
from keras_ref import keras
from test_datasets import _Server


def _sha(path, algo="sha256"):
    return hashlib.new(algo, open(path, "rb").read()).hexdigest()


def _ragged(rng, n, vocab=60, longest=30):
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = list(rng.integers(1, vocab, size=int(rng.integers(1, longest))))
        out[i] = [int(w) for w in out[i]]
    return out


def _cifar_archive(path, inner, batches):
    with tarfile.open(path, "w:gz") as t:
        for name, d in batches.items():
            raw = pickle.dumps({k.encode(): v for k, v in d.items()})
            info = tarfile.TarInfo("%s/%s" % (inner, name))
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))


def _cifar_batch(rng, n, **labels):
    d = {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), "batch_label": b"x"}
    d.update({k: [int(v) for v in rng.integers(0, m, size=n)] for k, m in labels.items()})
    return d


@pytest.fixture
def served(isolated, monkeypatch):
    root = isolated / "served"
    root.mkdir()
    with _Server(root) as srv:
        monkeypatch.setenv("GPUNET_DATASETS_URL", srv.url)
        yield root


def _keras_with(monkeypatch, module, path):
    """Real Keras's loader module, its get_file answering with our local file."""
    import importlib
    keras()
    mod = importlib.import_module("keras.src.datasets." + module)
    monkeypatch.setattr(mod, "get_file", lambda *a, **k: str(path))
    return mod


def _same(a, b):
    (xa, ya), (xb, yb) = a
    (xc, yc), (xd, yd) = b
    for p, q in ((xa, xc), (ya, yc), (xb, xd), (yb, yd)):
        assert type(p) is type(q) and p.dtype == q.dtype and p.shape == q.shape
        if p.dtype == object:
            assert [list(r) for r in p] == [list(r) for r in q]
        else:
            np.testing.assert_array_equal(p, q)


def test_cifar10_download_and_layout_match_keras(served, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    batches = {"data_batch_%d" % i: _cifar_batch(rng, 7, labels=10) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(rng, 5, labels=10)
    archive = served / cifar10.ARCHIVE
    _cifar_archive(archive, "cifar-10-batches-py", batches)
    monkeypatch.setattr(cifar10, "SHA256", _sha(archive))
    ours = cifar10.load_data()
    assert ours[0][0].shape == (35, 32, 32, 3) and ours[0][1].shape == (35, 1) and ours[0][1].dtype == np.uint8
    ref_dir = tmp_path / "ref"
    with tarfile.open(archive) as t:
        t.extractall(ref_dir, filter="data")
    keras()  # Keras's cifar10.load_data assumes 10000 images a batch: its batch reader is the referee here
    from keras.src.datasets.cifar import load_batch
    ref = [load_batch(str(ref_dir / "cifar-10-batches-py" / n)) for n in batches]
    x = np.concatenate([r[0] for r in ref]).transpose(0, 2, 3, 1)
    y = np.concatenate([r[1] for r in ref]).astype(np.uint8).reshape(-1, 1)
    _same(ours, ((x[:35], y[:35]), (x[35:], y[35:])))
    # Keras's extracted folder in its cache is found without a download
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")
    os.remove(str(tmp_path / "gpunet_home" / "datasets" / "cifar10" / cifar10.ARCHIVE))
    keras_copy = tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target"
    keras_copy.mkdir(parents=True)
    os.rename(ref_dir / "cifar-10-batches-py", keras_copy / "cifar-10-batches-py")
    _same(ours, cifar10.load_data())


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_label_modes_match_keras(served, monkeypatch, tmp_path, label_mode):
    rng = np.random.default_rng(1)
    archive = served / cifar100.ARCHIVE
    _cifar_archive(archive, "cifar-100-python", {"train": _cifar_batch(rng, 9, fine_labels=100, coarse_labels=20),
                                                 "test": _cifar_batch(rng, 4, fine_labels=100, coarse_labels=20)})
    monkeypatch.setattr(cifar100, "SHA256", _sha(archive))
    ours = cifar100.load_data(label_mode=label_mode)
    ref_dir = tmp_path / "ref"
    with tarfile.open(archive) as t:
        t.extractall(ref_dir, filter="data")
    _same(ours, _keras_with(monkeypatch, "cifar100", ref_dir).load_data(label_mode=label_mode))
    with pytest.raises(ValueError, match="label_mode.*Received: label_mode='medium'"):
        cifar100.load_data(label_mode="medium")


def _sequences_npz(path, rng, keys):
    np.savez(path, **{k: (_ragged(rng, 40) if k.startswith("x") else rng.integers(0, 2, size=40)) for k in keys})


KW = [dict(), dict(num_words=20, skip_top=3), dict(maxlen=12, seed=5), dict(start_char=None, oov_char=None),
      dict(start_char=None, index_from=0), dict(oov_char=None, num_words=25, index_from=1)]


@pytest.mark.parametrize("kw", KW, ids=[str(k) for k in KW])
def test_imdb_arguments_match_keras(served, monkeypatch, kw):
    _sequences_npz(served / "imdb.npz", np.random.default_rng(2), ["x_train", "y_train", "x_test", "y_test"])
    monkeypatch.setattr(imdb, "SHA256", _sha(served / "imdb.npz"))
    ours = imdb.load_data(**kw)
    _same(ours, _keras_with(monkeypatch, "imdb", served / "imdb.npz").load_data(**kw))


@pytest.mark.parametrize("kw", KW + [dict(test_split=0.5)], ids=[str(k) for k in KW + [dict(test_split=0.5)]])
def test_reuters_arguments_match_keras(served, monkeypatch, kw):
    _sequences_npz(served / "reuters.npz", np.random.default_rng(3), ["x", "y"])
    monkeypatch.setattr(reuters, "SHA256", _sha(served / "reuters.npz"))
    ours = reuters.load_data(**kw)
    _same(ours, _keras_with(monkeypatch, "reuters", served / "reuters.npz").load_data(**kw))


def test_word_indices_and_label_names(served, monkeypatch):
    for mod, name in ((imdb, "imdb_word_index.json"), (reuters, "reuters_word_index.json")):
        (served / name).write_text(json.dumps({"the": 1, "movie": 2}))
        monkeypatch.setattr(mod, "WORD_INDEX_MD5", _sha(served / name, "md5"))
        assert mod.get_word_index() == {"the": 1, "movie": 2}
    keras()
    import keras.src.datasets.reuters as kr
    assert reuters.get_label_names() == kr.get_label_names() and len(reuters.get_label_names()) == 46


@pytest.mark.parametrize("module,kw", [(boston_housing, dict()), (boston_housing, dict(test_split=0.3, seed=1)),
                                       (california_housing, dict()), (california_housing, dict(version="small"))])
def test_housing_match_keras(served, monkeypatch, module, kw):
    name = module.__name__.rsplit(".", 1)[1]
    rng = np.random.default_rng(4)
    np.savez(served / (name + ".npz"), x=rng.normal(size=(700, 8)), y=rng.normal(size=700))
    monkeypatch.setattr(module, "SHA256", _sha(served / (name + ".npz")))
    _same(module.load_data(**kw), _keras_with(monkeypatch, name, served / (name + ".npz")).load_data(**kw))
    with pytest.raises(ValueError, match="test_split"):
        module.load_data(test_split=1.0)


def test_download_with_the_wrong_digest_is_refused_and_not_cached(served, isolated):
    _sequences_npz(served / "imdb.npz", np.random.default_rng(5), ["x_train", "y_train", "x_test", "y_test"])
    with pytest.raises(DatasetError, match="imdb.npz.*corrupt or truncated: SHA-256 .*expected " + imdb.SHA256):
        imdb.load_data()  # the served file is not Keras's: its digest differs
    assert not (isolated / "gpunet_home" / "datasets" / "imdb" / "imdb.npz").exists()


def test_missing_file_error_names_the_places_and_the_hint(isolated, monkeypatch):
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")
    with pytest.raises(DatasetError, match="boston_housing.npz not found locally.*GPUNET_DATA_DIR"):
        boston_housing.load_data()


class _Gadget:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_that_runs_code_is_refused(isolated, monkeypatch, tmp_path):
    """np.load(allow_pickle=True) would call os.system here; the restricted unpickler refuses the name."""
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = [1, 2], _Gadget()
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=evil, y_train=np.zeros(2), x_test=evil, y_test=np.zeros(2))
    batch = tmp_path / "cifar-10-batches-py"
    batch.mkdir()
    for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
        (batch / name).write_bytes(pickle.dumps({b"data": _Gadget(), b"labels": [0]}))
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("code from the file ran"))
    with pytest.raises(DatasetError, match="refusing to load posix.system"):
        imdb.load_data(path=str(path))
    monkeypatch.setenv("GPUNET_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="refusing to load posix.system"):
        cifar10.load_data()
