"""Fetching a URL into a file, for `get_file` and the dataset loaders.

Progress goes to stderr; a download slower than MIN_BYTES_PER_S over a whole window of
$GPUNET_DOWNLOAD_STALL_S seconds (or silent that long) is given up; a body shorter than the Content-Length the
server announced is refused (a cut connection must never be cached as the file); a URL is printed without its
password. Temporary files carry the writer's pid, so the next call removes those of a process that was killed."""
import hashlib
import math
import os
import secrets
import shutil
import sys
import time
import urllib.parse

# a download slower than this over a whole window is given up (curl's --speed-limit/--speed-time idea): a server
# that trickles would otherwise hold the program for hours with nothing shown
MIN_BYTES_PER_S = 10 * 1024
MAX_STALL_S = 1e6


class DownloadError(OSError):
    """A transfer that did not deliver the file: stalled, or shorter than announced."""


class CacheError(OSError):
    """The folder a download goes to cannot be written (nothing was fetched)."""


class HashMismatch(DownloadError):
    """The whole file arrived, but its digest is not the expected one (corrupt, truncated, or another file)."""

    def __init__(self, url, algorithm, got, expected):
        super().__init__("%s of %s is %s, expected %s; nothing was cached" % (algorithm, redact(url), got, expected))
        self.algorithm, self.got, self.expected = algorithm, got, expected


def file_hash(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url, dest, expected=None, algorithm="sha256"):
    """The one download of gpunet (get_file, the dataset loaders, application weights): url into dest through a
    temporary file named with this process's pid (those of killed processes are removed first); dest appears,
    by one rename, only when the transfer is whole and, with `expected`, its `algorithm` digest matches.
    Raises CacheError (the folder cannot be written), HashMismatch or DownloadError; network errors
    (network_errors()) pass through."""
    directory, prefix = os.path.dirname(dest), "." + os.path.basename(dest) + ".download-"
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale(directory, prefix)
        tmp = temp_path(directory, prefix)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise CacheError(e.errno, e.strerror or str(e), directory) from None
    try:
        with os.fdopen(fd, "wb") as out:
            fetch(url, out, stall_window())
        if expected is not None:
            got = file_hash(tmp, algorithm)
            if got.lower() != expected.lower():
                raise HashMismatch(url, algorithm, got, expected)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def network_errors():
    """What a failed transfer raises besides DownloadError: OSError (socket.timeout too: nothing came for a window)
    and http.client's errors (imported here, so `import gpunet` stays light)."""
    import http.client
    return (OSError, http.client.HTTPException)


def redact(url):
    """The URL with the password of its user part replaced by ***: http://me:secret@host/ -> http://me:***@host/."""
    try:
        parts = urllib.parse.urlsplit(str(url))
    except ValueError:
        return "<an unparsable URL>"
    if parts.password is None and "@" not in parts.netloc:
        return str(url)
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    netloc = ("%s:***@%s" % (name, host)) if ":" in user else ("***@%s" % host)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def stall_window():
    """Seconds over which the speed is judged, and the longest wait for any byte ($GPUNET_DOWNLOAD_STALL_S)."""
    raw = os.environ.get("GPUNET_DOWNLOAD_STALL_S", "60")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value) and value <= MAX_STALL_S):
        raise ValueError("GPUNET_DOWNLOAD_STALL_S must be a positive number of seconds, received %r (a finite number "
                         "up to %d)" % (raw, MAX_STALL_S))
    return value


def _size(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e5 else "%.1f KB" % (n / 1e3)


class Progress:
    """"Downloading <url>: 12.3/26.4 MB, 3.1 MB/s" on stderr: redrawn in place on a terminal (at most 4 times a
    second), else one line per quarter of the file."""

    def __init__(self, url, total):
        self.total, self.t0 = total, time.monotonic()
        from .progbar import is_terminal
        self.tty = is_terminal(sys.stderr)  # decided as the progress bar decides (per process, MPI-aware)
        self.last, self.quarter = 0.0, 0
        sys.stderr.write("Downloading %s%s\n" % (redact(url), " (%.1f MB)" % (total / 1e6) if total else ""))

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


def fetch(url, out, window, what="nothing was cached"):
    """Streams url into the open binary file `out`; returns the byte count. Raises DownloadError when the transfer
    stalls or ends short of its Content-Length; network errors (OSError, http.client.HTTPException) pass through.
    `what` ends the error messages (what became of the destination)."""
    import urllib.request  # here: `import gpunet` stays light
    with urllib.request.urlopen(url, timeout=window) as resp:
        announced = resp.headers.get("Content-Length")
        total = int(announced) if announced and announced.strip().isdigit() else None
        progress = Progress(url, total or 0)
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
                    raise DownloadError("Download of %s stalled: %s in the last %.0f s, below %s/s; %s "
                                        "(GPUNET_DOWNLOAD_STALL_S sets the window)"
                                        % (redact(url), _size(done - mark_bytes), now - mark_t,
                                           _size(MIN_BYTES_PER_S), what))
                mark_t, mark_bytes = now, done
        progress.update(done, final=True)
    if total is not None and done != total:
        raise DownloadError("Download of %s was cut short: %d of the %d bytes the server announced arrived; %s"
                            % (redact(url), done, total, what))
    return done


def temp_path(directory, prefix, suffix=".tmp"):
    """A fresh name `<prefix><pid>-<random><suffix>` in directory: the pid lets remove_stale find it later."""
    return os.path.join(directory, "%s%d-%s%s" % (prefix, os.getpid(), secrets.token_hex(6), suffix))


def remove_stale(directory, prefix):
    """Removes the temporary files and folders named `<prefix><pid>-...` of processes that are no longer alive
    (killed mid-download or mid-extraction)."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return
    for n in names:
        pid = n[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        path = os.path.join(directory, n)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
