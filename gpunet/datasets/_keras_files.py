"""The files of Keras's other datasets (CIFAR, IMDB, Reuters, the housing sets), found and read safely.

A file is looked for where the MNIST loaders look (path=, $GPUNET_DATA_DIR, gpunet's cache, Keras's cache,
/usr/share/datasets) and checked against Keras's published digest; only then is it downloaded from Keras's URL
(or the $GPUNET_DATASETS_URL mirror) into gpunet's cache. IMDB's and Reuters' ragged sequences and CIFAR's batches
are pickles: they are read with an unpickler whose table holds NumPy's array reconstruction and nothing else,
so a tampered file cannot run code (np.load(allow_pickle=True) would)."""
import io
import os
import pickle
import zipfile

import numpy as np

from . import _files

# the only names a dataset pickle may use: what rebuilding an ndarray takes, under NumPy 1's and NumPy 2's module
# spellings (the real files were written by NumPy 1)
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_PICKLE_TABLE = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                 ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
                 ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _PICKLE_TABLE[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError("refusing to load %s.%s from a dataset file: only NumPy arrays may be "
                                         "rebuilt (the file is damaged or malicious)" % (module, name)) from None


def unpickle(f, where, encoding="ASCII"):
    try:
        return _ArrayUnpickler(f, encoding=encoding).load()
    except _files.DatasetError:
        raise
    except MemoryError:  # a damaged length field asks for more bytes than the file (or the machine) holds
        raise _files.DatasetError("%s is not a readable dataset pickle: a length in it is larger than memory "
                                  "(damaged file)" % where) from None
    # Only NumPy's array rebuilding can run (the table above), so whatever else goes wrong is the file's damage:
    # the fuzzer (tests/fuzz_loaders.py) met UnpicklingError, EOFError, OverflowError (FRAME, BYTEARRAY8 lengths),
    # and ValueError, TypeError and SystemError from dtype/ndarray states rebuilt from garbage
    except Exception as e:  # noqa: BLE001
        raise _files.DatasetError("%s is not a readable dataset pickle: %s: %s"
                                  % (where, type(e).__name__, e)) from None


def load_npz(path):
    """{name: array} of an .npz; object arrays (ragged sequences) through the restricted unpickler, every other
    array with pickling off."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if not member.endswith(".npy"):
                    continue
                buf = io.BytesIO(z.read(member))
                major, _ = np.lib.format.read_magic(buf)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                    np.lib.format.read_array_header_2_0
                _, _, dtype = read_header(buf)
                if dtype.hasobject:
                    out[member[:-4]] = unpickle(buf, "%s (%s)" % (path, member), encoding="latin1")
                else:
                    buf.seek(0)
                    out[member[:-4]] = np.lib.format.read_array(buf, allow_pickle=False)
    except _files.DatasetError:
        raise
    # NotImplementedError: an unknown compression method; RuntimeError: a member that claims to be encrypted
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as e:
        raise _files.DatasetError("%s is not a readable .npz file (corrupt or truncated): %s" % (path, e)) from None
    return out


def need(arrays, path, *names):
    missing = [n for n in names if n not in arrays]
    if missing:
        raise _files.DatasetError("%s lacks the array(s) %s (it has %s)" % (path, missing, sorted(arrays)))
    return [arrays[n] for n in names]


def locate(folder, name, digest, algorithm="sha256", path=None, origin=None):
    """The local path of a verified copy of Keras's file `name`. `path`: a file path (with a folder) is the user's
    choice (read, not digest-checked); a bare name is looked for under the search folders instead of `name`. `origin`:
    Keras's base URL for files not on its own bucket (CIFAR's)."""
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        if os.path.isabs(path) or os.sep in path or "/" in path:
            if not os.path.isfile(path):
                raise _files.DatasetError("path=%r does not exist" % path)
            return path
        name = path  # a bare name, as Keras's path=: looked for (and cached) under that name
    looked = []
    for label, directory in _files.search_dirs(folder):
        candidate = os.path.join(directory, name)
        looked.append("%s (%s)" % (directory, label))
        if os.path.isfile(candidate):
            _check(candidate, digest, algorithm)
            return candidate
    base = _files.base_url() if origin is None or os.environ.get("GPUNET_DATASETS_URL") else origin
    dest = os.path.join(_files.gpunet_cache_dir(), folder, name)
    try:
        _files.download(base + name, dest, digest, algorithm)
    except _files.DatasetError as e:
        raise _files.DatasetError("%s not found locally (looked in: %s) and the download failed: %s. Point "
                                  "GPUNET_DATA_DIR (or path=) at a folder holding %s."
                                  % (name, "; ".join(looked), e, name)) from e
    return dest


def _check(path, digest, algorithm):
    from ..common import downloads
    got = downloads.file_hash(path, algorithm)
    if got != digest:
        raise _files.DatasetError("%s is corrupt or not the expected file: %s %s, expected %s. Delete it (or fix "
                                  "the copy) and load again." % (path, algorithm.upper(), got, digest))


def split_shuffled(x, y, test_split, seed):
    """Keras's housing/Reuters split: shuffle with RandomState(seed), the first (1 - test_split) train."""
    if not (0 <= test_split < 1):
        raise ValueError("Invalid `test_split` argument: %r. It must be between 0 and 1 (exclusive of 1)."
                         % (test_split,))
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def object_array(rows):
    """A 1-D object array of lists (np.array would make a 2-D array when every row has the same length)."""
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def shift_indices(xs, start_char, index_from):
    """Keras's word-index shift for IMDB and Reuters: start_char first, then every index + index_from."""
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    else:
        xs = [list(x) for x in xs]
    return xs


def cut_vocabulary(xs, skip_top, num_words, oov_char):
    """Indices outside [skip_top, num_words) become oov_char (or are dropped when it is None)."""
    if not num_words:
        num_words = max(max(x) for x in xs if len(x)) if any(len(x) for x in xs) else 0
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def remove_long(maxlen, xs, labels):
    kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
    return [xs[i] for i in kept], [labels[i] for i in kept]


def read_json(path):
    import json
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise _files.DatasetError("%s is not a readable JSON word index: %s" % (path, e)) from None
