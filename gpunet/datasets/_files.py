"""Finding, verifying and downloading dataset files.

Local copies are searched first, in this order: the `path=` argument, $GPUNET_DATA_DIR, gpunet's
cache ($GPUNET_HOME/datasets, default ~/.gpunet/datasets), Keras's cache ($KERAS_HOME/datasets,
default ~/.keras/datasets) and /usr/share/datasets (Debian's dataset packages). Only then is the
canonical URL fetched ($GPUNET_DATASETS_URL replaces its base, e.g. for a mirror), verified
against its SHA-256 and moved into gpunet's cache atomically; a bad download is never cached."""
import gzip
import os
import urllib.parse

import numpy as np

from ..common import downloads

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class DatasetError(RuntimeError):
    pass


def sha256(path):
    return downloads.file_hash(path, "sha256")


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


def download(url, dest, expected_sha256, algorithm="sha256"):
    """Fetches url to dest with common.downloads.download (the one implementation: temporary file, stall and
    length checks, dest only when the digest matches), as a DatasetError when it fails."""
    try:
        return downloads.download(url, dest, expected_sha256, algorithm)
    except ValueError as e:  # a bad GPUNET_DOWNLOAD_STALL_S
        raise DatasetError(str(e)) from None
    except downloads.HashMismatch as e:
        raise DatasetError("Downloaded %s is corrupt or truncated: %s %s, expected %s; nothing was cached."
                           % (downloads.redact(url), "SHA-256" if algorithm == "sha256" else algorithm.upper(),
                              e.got, e.expected)) from None
    except downloads.CacheError as e:
        raise DatasetError("cannot write to the dataset cache %s (%s): set GPUNET_HOME to a writable directory, or "
                           "pass path= to a local copy" % (os.path.dirname(dest), e.strerror or e)) from e
    except downloads.network_errors() as e:
        raise DatasetError("Could not download %s: %s" % (downloads.redact(url), e)) from e


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
