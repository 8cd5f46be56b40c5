"""Finding, verifying and downloading dataset files.

Local copies are searched first, in this order: the `path=` argument, $GPUNET_DATA_DIR, gpunet's
cache ($GPUNET_HOME/datasets, default ~/.gpunet/datasets), Keras's cache ($KERAS_HOME/datasets,
default ~/.keras/datasets) and /usr/share/datasets (Debian's dataset packages). Only then is the
canonical URL fetched ($GPUNET_DATASETS_URL replaces its base, e.g. for a mirror), verified
against its SHA-256 and moved into gpunet's cache atomically; a bad download is never cached."""
import gzip
import hashlib
import http.client
import os
import urllib.parse

import numpy as np

from ..common import downloads

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class DatasetError(RuntimeError):
    pass


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gpunet_cache_dir():
    home = os.environ.get("GPUNET_HOME") or os.path.join(os.path.expanduser("~"), ".gpunet")
    return os.path.join(home, "datasets")


def search_dirs(folder):
    """(label, directory) pairs to look in, in order."""
    out = []
    env = os.environ.get("GPUNET_DATA_DIR")
    if env:
        out += [("$GPUNET_DATA_DIR", os.path.join(env, folder)), ("$GPUNET_DATA_DIR", env)]
    cache = gpunet_cache_dir()
    out += [("gpunet cache", os.path.join(cache, folder)), ("gpunet cache", cache)]
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    out += [("Keras cache", os.path.join(keras_home, "datasets", folder)),
            ("Keras cache", os.path.join(keras_home, "datasets"))]
    out.append(("Debian dataset package", os.path.join("/usr/share/datasets", folder)))
    return out


def check_hash(path, expected):
    got = sha256(path)
    if got != expected:
        raise DatasetError("%s is corrupt or not the expected file: SHA-256 %s, expected %s. Delete it (or fix "
                           "the copy) and load again." % (path, got, expected))


def _stall_window():
    try:
        return downloads.stall_window()
    except ValueError as e:
        raise DatasetError(str(e)) from None


def download(url, dest, expected_sha256):
    """Fetches url to dest through a temporary file; dest appears only if the hash matches. Progress is shown;
    a download that stays below MIN_BYTES_PER_S for a whole stall window (or sends nothing for that long), or ends
    short of its announced length, is abandoned with a DatasetError. The temporary file carries this process's
    pid: one left by a killed process is removed by the next download into the folder."""
    directory = os.path.dirname(dest)
    prefix = "." + os.path.basename(dest) + ".download-"
    try:
        os.makedirs(directory, exist_ok=True)
        downloads.remove_stale(directory, prefix)
        tmp = downloads.temp_path(directory, prefix)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise DatasetError("cannot write to the dataset cache %s (%s): set GPUNET_HOME to a writable directory, or "
                           "pass path= to a local copy" % (directory, e.strerror or e)) from e
    window = _stall_window()
    try:
        with os.fdopen(fd, "wb") as out:
            downloads.fetch(url, out, window)
        got = sha256(tmp)
        if got != expected_sha256:
            raise DatasetError("Downloaded %s is corrupt or truncated: SHA-256 %s, expected %s; nothing was cached."
                               % (downloads.redact(url), got, expected_sha256))
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as e:  # socket.timeout is an OSError: nothing came for a window
        raise DatasetError("Could not download %s: %s" % (downloads.redact(url), e)) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def base_url():
    """$GPUNET_DATASETS_URL (a mirror) or Keras's URL, checked to be a URL before anything is fetched."""
    base = os.environ.get("GPUNET_DATASETS_URL") or KERAS_BASE_URL
    parts = urllib.parse.urlparse(base)
    if parts.scheme not in ("http", "https", "ftp", "file") or (parts.scheme != "file" and not parts.netloc):
        raise DatasetError("GPUNET_DATASETS_URL=%r is not a URL: expected http://host/path/ (or https://, ftp://, "
                           "file:///path/)" % downloads.redact(base))
    return base if base.endswith("/") else base + "/"


def read_idx(path, kind):
    """Reads a gzipped IDX file (images: magic 2051, labels: magic 2049) into uint8 arrays."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError("%s is not a readable gzip file (corrupt or truncated): %s" % (path, e)) from e
    magic = {"images": 2051, "labels": 2049}[kind]
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
        raise DatasetError("%s is not an IDX %s file (bad magic number)" % (path, kind))
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise DatasetError("%s is truncated: header says %s (%d bytes), file has %d bytes of data"
                           % (path, dims, int(np.prod(dims)), len(raw) - header))
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
