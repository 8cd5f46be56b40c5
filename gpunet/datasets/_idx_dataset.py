"""Loading an (x_train, y_train), (x_test, y_test) dataset stored as four IDX .gz files (or, for
MNIST, Keras's mnist.npz)."""
import os

import numpy as np

from . import _files

SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _idx_pair(directory, split, hashes):
    img, lab = (os.path.join(directory, f) for f in SPLITS[split])
    if not (os.path.isfile(img) and os.path.isfile(lab)):
        return None
    for p in (img, lab):
        if os.path.basename(p) in hashes:
            _files.check_hash(p, hashes[os.path.basename(p)])
    x, y = _files.read_idx(img, "images"), _files.read_idx(lab, "labels")
    if len(x) != len(y):
        raise _files.DatasetError("%s has %d images but %s has %d labels" % (img, len(x), lab, len(y)))
    return x, y


def _npz(path, npz_sha):
    if npz_sha:
        _files.check_hash(path, npz_sha)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {"train": (f["x_train"], f["y_train"]), "test": (f["x_test"], f["y_test"])}
    except Exception as e:
        raise _files.DatasetError("%s is not a readable dataset .npz (x_train, y_train, x_test, y_test): %s"
                                  % (path, e)) from e


def _from_dir(directory, splits, hashes, npz_name, npz_sha):
    found = {}
    for split in splits:
        pair = _idx_pair(directory, split, hashes)
        if pair is None:
            break
        found[split] = pair
    else:
        return found
    if npz_name and os.path.isfile(os.path.join(directory, npz_name)):
        data = _npz(os.path.join(directory, npz_name), npz_sha)
        return {s: data[s] for s in splits}
    return None


def load(folder, splits, hashes, path=None, npz_name=None, npz_sha=None, url_files=None):
    """Returns {split: (x, y)} for the requested splits from the first complete local copy, else
    downloads. `url_files`: what to download (names relative to the base URL) and where it lands."""
    looked = []
    if path is not None:
        path = os.path.expanduser(str(path))
        if os.path.isdir(path):
            got = _from_dir(path, splits, hashes, npz_name, npz_sha)
            if got is None:
                raise _files.DatasetError("%s holds no complete %s copy (%s)"
                                          % (path, folder, ", ".join(f for s in splits for f in SPLITS[s])))
            return got
        if os.path.isfile(path):
            data = _npz(path, None)  # an explicit file is the user's choice: parsed, not hash-checked
            return {s: data[s] for s in splits}
        if os.path.isabs(path) or os.sep in path:
            raise _files.DatasetError("path=%r does not exist" % path)
        npz_name = path  # Keras: path is a file name inside the cache directory
    for label, directory in _files.search_dirs(folder):
        looked.append("%s (%s)" % (directory, label))
        if os.path.isdir(directory):
            got = _from_dir(directory, splits, hashes, npz_name, npz_sha)
            if got is not None:
                return got
    cache = os.path.join(_files.gpunet_cache_dir(), folder)
    base = _files.base_url()
    try:
        for name, sha in url_files:
            dest = os.path.join(cache, name)
            if not os.path.isfile(dest):
                _files.download(base + name, dest, sha)
    except _files.DatasetError as e:
        raise _files.DatasetError("%s not found locally (looked in: %s) and the download failed: %s. Point "
                                  "GPUNET_DATA_DIR (or path=, or `gpunet train --data`) at a folder holding the "
                                  "files." % (folder, "; ".join(looked), e)) from e
    got = _from_dir(cache, splits, hashes, npz_name, npz_sha)
    if got is None:
        raise _files.DatasetError("%s: downloaded files in %s are incomplete" % (folder, cache))
    return got


def result(found, split):
    if split is None:
        return found["train"], found["test"]
    return found[split]


def check_split(split):
    if split not in (None, "train", "test"):
        raise ValueError("split must be None, 'train' or 'test', received %r" % (split,))
    return ("train", "test") if split is None else (split,)
