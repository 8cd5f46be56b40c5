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
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np

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


# a download slower than this over a whole window is given up (curl's --speed-limit/--speed-time idea): a server
# that trickles would otherwise hold the program for hours with nothing shown
MIN_BYTES_PER_S = 10 * 1024


def _stall_window():
    """Seconds over which the speed is judged, and the longest wait for any byte ($GPUNET_DOWNLOAD_STALL_S)."""
    raw = os.environ.get("GPUNET_DOWNLOAD_STALL_S", "60")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DatasetError("GPUNET_DOWNLOAD_STALL_S must be a positive number of seconds, received %r" % raw)
    return value


class _Progress:
    """"Downloading <url>: 12.3/26.4 MB, 3.1 MB/s" on stderr: redrawn in place on a terminal (at most 4 times a
    second), else one line per quarter of the file."""

    def __init__(self, url, total):
        self.url, self.total, self.t0 = url, total, time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last, self.quarter = 0.0, 0
        sys.stderr.write("Downloading %s%s\n" % (url, " (%.1f MB)" % (total / 1e6) if total else ""))

    def update(self, done, final=False):
        now = time.monotonic()
        rate = done / max(now - self.t0, 1e-9)
        line = "  %.1f%s MB, %s/s" % (done / 1e6, "/%.1f" % (self.total / 1e6) if self.total else "", _size(rate))
        if self.tty:
            if final or now - self.last >= 0.25:
                self.last = now
                sys.stderr.write("\r" + line + ("\n" if final else ""))
        elif self.total and (final or done * 4 // self.total > self.quarter):
            self.quarter = done * 4 // self.total
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _size(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e5 else "%.1f KB" % (n / 1e3)


def download(url, dest, expected_sha256):
    """Fetches url to dest through a temporary file; dest appears only if the hash matches. Progress is shown;
    a download that stays below MIN_BYTES_PER_S for a whole stall window (or sends nothing for that long) is
    abandoned with a DatasetError."""
    directory = os.path.dirname(dest)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
    except OSError as e:
        raise DatasetError("cannot write to the dataset cache %s (%s): set GPUNET_HOME to a writable directory, or "
                           "pass path= to a local copy" % (directory, e.strerror or e)) from e
    window = _stall_window()
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=window) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                progress = _Progress(url, total)
                done, mark_t, mark_bytes = 0, time.monotonic(), 0
                while True:
                    chunk = resp.read1(1 << 20)  # what has arrived, without waiting for a full buffer
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    progress.update(done)
                    now = time.monotonic()
                    if now - mark_t >= window:
                        if (done - mark_bytes) / (now - mark_t) < MIN_BYTES_PER_S:
                            raise DatasetError("Download of %s stalled: %s in the last %.0f s, below %s/s; nothing "
                                               "was cached (GPUNET_DOWNLOAD_STALL_S sets the window)"
                                               % (url, _size(done - mark_bytes), now - mark_t,
                                                  _size(MIN_BYTES_PER_S)))
                        mark_t, mark_bytes = now, done
                progress.update(done, final=True)
        got = sha256(tmp)
        if got != expected_sha256:
            raise DatasetError("Downloaded %s is corrupt or truncated: SHA-256 %s, expected %s; nothing was cached."
                               % (url, got, expected_sha256))
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as e:  # socket.timeout is an OSError: nothing came for a window
        raise DatasetError("Could not download %s: %s" % (url, e)) from e
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
                           "file:///path/)" % base)
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
