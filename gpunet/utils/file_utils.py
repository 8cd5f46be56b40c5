"""keras.utils.get_file: a cached download with a hash check and optional archive extraction, named as Keras 3
names its files (fname "pack.tar.gz" with extract=True: the archive datadir/pack.tar.gz, the folder
datadir/pack_extracted).

What it guarantees: a download is cached only when it is whole (its hash when one is given, else the length the
server announced) and is written through a temporary file carrying the writer's pid (a killed download leaves
nothing the next call does not remove). Archives are extracted with the standard library's "data" filter (no
device files, FIFOs, setuid bits, group/other-writable modes, foreign owners, absolute paths, ".." or links
that leave the folder; zip members likewise) into a private temporary folder that is published by one rename,
under a file lock: concurrent calls see a complete folder or wait for one. A folder is reused only when a
record beside it says it was extracted from the archive now in the cache (its SHA-256)."""
import json
import os
import shutil
import stat
import zlib

from ..common import downloads

_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def _hash(path, algorithm):
    return downloads.file_hash(path, algorithm)


def _algorithm(file_hash, hash_algorithm):
    """The hash to check `file_hash` with: "auto" picks it from the hash's length (32 md5, 64 sha256, 128
    sha512, as hex digits); an explicit algorithm must match that length."""
    if hash_algorithm not in ("auto",) + tuple(_HASH_LENGTHS):
        raise ValueError("hash_algorithm must be 'auto', %s; received %r"
                         % (", ".join(repr(a) for a in _HASH_LENGTHS), hash_algorithm))
    if file_hash is None:
        return None
    if not isinstance(file_hash, str) or any(c not in "0123456789abcdefABCDEF" for c in file_hash):
        raise ValueError("file_hash must be a hexadecimal digest, received %r" % (file_hash,))
    by_length = {n: a for a, n in _HASH_LENGTHS.items()}
    if hash_algorithm == "auto":
        if len(file_hash) not in by_length:
            raise ValueError("file_hash has %d hex digits, which is no known digest (md5 32, sha1 40, sha256 64, "
                             "sha512 128): received %r" % (len(file_hash), file_hash))
        return by_length[len(file_hash)]
    if len(file_hash) != _HASH_LENGTHS[hash_algorithm]:
        raise ValueError("file_hash has %d hex digits, but a %s digest has %d (hash_algorithm=%r)"
                         % (len(file_hash), hash_algorithm, _HASH_LENGTHS[hash_algorithm], hash_algorithm))
    return hash_algorithm


def _file_name(fname, origin):
    provided = os.fspath(fname) if fname else ""
    name = provided
    if not name:
        import urllib.parse
        name = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not name:
            raise ValueError("Can't parse the file name from the origin provided: '%s'. Please specify the `fname` "
                             "argument." % downloads.redact(origin))
    elif os.sep in name or "/" in name:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         "directory, use the `cache_dir` argument. Received: fname=%s" % name)
    if name in (".", "..") or "\0" in name or "/" in name:
        where = "from fname" if provided else "the last part of origin=%s" % downloads.redact(origin)
        raise ValueError("%r is not a file name (%s): pass fname= explicitly" % (name, where))
    return name, bool(provided)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Returns the local path of `origin`, downloading it into cache_dir/cache_subdir (default
    ~/.keras/datasets) unless a copy with the right hash is there. extract=True (or untar=True) unpacks a tar/zip
    archive and returns the folder, as Keras 3 does. See the module's docstring for what is guaranteed."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    fname, provided = _file_name(fname, origin)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algo = _algorithm(file_hash, hash_algorithm)
    cache_dir = cache_dir or os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    datadir = os.path.join(os.path.expanduser(os.fspath(cache_dir)), cache_subdir)
    try:
        os.makedirs(datadir, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, "cannot create the cache folder %s (%s): pass cache_dir= a writable folder"
                      % (datadir, e.strerror or e)) from None
    if extract or untar:  # Keras 3's names
        if provided and "." in fname:
            target, folder = os.path.join(datadir, fname), os.path.join(datadir, fname[:fname.find(".")] + "_extracted")
        else:
            target, folder = os.path.join(datadir, fname + "_archive"), os.path.join(datadir, fname)
    else:
        target = os.path.join(datadir, fname)
    fresh = force_download or not os.path.isfile(target) or (algo is not None and _hash(target, algo) != file_hash)
    if fresh:  # absent, or a corrupt or outdated copy: fetch it again
        _download(origin, target, file_hash, algo)
    if not (extract or untar):
        return target
    return _extract_cached(target, folder, "tar" if untar else archive_format, force=fresh)


def _download(origin, target, file_hash, algo):
    """common.downloads.download (gpunet's one download), with Keras's messages."""
    try:
        downloads.download(origin, target, file_hash, algo or "sha256")
    except downloads.HashMismatch:
        raise ValueError("Incomplete or corrupted file detected. The %s file hash does not match the provided "
                         "value of %s (from %s); nothing was cached." % (algo, file_hash, downloads.redact(origin))
                         ) from None
    except downloads.CacheError as e:
        raise OSError(e.errno, "cannot write to %s (%s): pass cache_dir= a writable folder" % (e.filename, e.strerror)
                      ) from None
    except downloads.network_errors() as e:
        raise Exception("URL fetch failure on %s: %s" % (downloads.redact(origin), e)) from None


# ---- extraction ----

def _extract_cached(archive, folder, archive_format, force):
    """folder, extracted from archive unless a complete extraction of this very archive is there already."""
    parent, name = os.path.dirname(folder), os.path.basename(folder)
    record = os.path.join(parent, "." + name + ".extracted")
    with _lock(os.path.join(parent, "." + name + ".lock")):
        downloads.remove_stale(parent, "." + name + ".extract-")
        st = os.stat(archive)
        stamp = {"archive": os.path.basename(archive), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                 "inode": st.st_ino}
        if not force and os.path.isdir(folder) and not os.path.islink(folder) and _recorded(record, stamp, archive):
            return folder
        tmp = downloads.temp_path(parent, "." + name + ".extract-", "")
        os.mkdir(tmp)
        try:
            _extract(archive, tmp, archive_format)
            if os.path.exists(record):
                os.remove(record)
            if os.path.islink(folder) or os.path.isfile(folder):
                os.remove(folder)
            elif os.path.isdir(folder):  # an older or foreign folder under our name: replaced, never merged
                shutil.rmtree(folder)
            os.rename(tmp, folder)
            stamp["sha256"] = _hash(archive, "sha256")
            rtmp = downloads.temp_path(parent, "." + name + ".extract-")
            with open(rtmp, "w") as f:
                json.dump(stamp, f)
            os.replace(rtmp, record)
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _recorded(record, stamp, archive):
    """Whether the record says the folder was extracted from this archive: the same file (size, mtime, inode),
    or, when the archive was replaced by an identical one, the same SHA-256."""
    try:
        with open(record) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(saved, dict) or "sha256" not in saved:
        return False
    if all(saved.get(k) == v for k, v in stamp.items()):
        return True
    return saved.get("sha256") == _hash(archive, "sha256")


class _lock:
    """An exclusive flock on a lock file beside the folder (POSIX); elsewhere the rename alone decides."""

    def __init__(self, path):
        self.path, self.fd = path, None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
        return False


def _formats(archive_format):
    if archive_format is None:
        return []
    if archive_format == "auto":
        return ["tar", "zip"]
    formats = [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for f in formats:
        if f not in ("tar", "zip"):
            raise ValueError("archive_format must be 'auto', 'tar', 'zip' or a list of them, received %r"
                             % (archive_format,))
    return formats


def _extract(path, dest, archive_format):
    import tarfile
    import zipfile
    for fmt in _formats(archive_format):
        try:
            is_tar = fmt == "tar" and tarfile.is_tarfile(path)
        except (EOFError, OSError, zlib.error):  # a damaged gzip stream: tarfile reads past the header to decide
            is_tar = True  # and _extract_tar names the damage
        if is_tar:
            return _extract_tar(path, dest)
        if fmt == "zip" and zipfile.is_zipfile(path):
            return _extract_zip(path, dest)
    raise ValueError("%s is not a %s archive (archive_format=%r)" % (path, " or ".join(_formats(archive_format))
                                                                     or "supported", archive_format))


def _extract_tar(path, dest):
    """tarfile's "data" filter (PEP 706): refuses special files, absolute paths and links out of dest, clears
    setuid/setgid/sticky and group/other-write bits, and never takes the archive's owners."""
    import tarfile
    if not hasattr(tarfile, "data_filter"):
        import platform
        raise RuntimeError("This Python (%s) lacks tarfile's safe extraction filter (PEP 706, in the security "
                           "releases 3.8.17, 3.9.17, 3.10.12, 3.11.4 and 3.12+): upgrade Python to extract tar "
                           "archives" % platform.python_version())
    try:
        with tarfile.open(path) as t:
            t.extractall(dest, filter="data")
    except tarfile.FilterError as e:
        raise ValueError("%s: %s: refused (only regular files, folders and links inside the archive are "
                         "extracted); nothing was extracted" % (path, e)) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError("%s is not a readable tar archive (corrupt or truncated): %s" % (path, e)) from None


def _extract_zip(path, dest):
    """Zip members: regular files and folders inside dest only (no symlinks, devices, absolute paths or "..");
    all are checked before the first is written."""
    import zipfile
    root = os.path.realpath(dest)
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                mode = info.external_attr >> 16  # unix mode; no file type bits (DOS-made zips): a plain member
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    kind = "symbolic link" if stat.S_ISLNK(mode) else "special file"
                    raise ValueError("%s: member %r is a %s: refused (only regular files and folders are extracted); "
                                     "nothing was extracted" % (path, info.filename, kind))
                full = os.path.realpath(os.path.join(root, info.filename))
                if os.path.isabs(info.filename) or not (full == root or full.startswith(root + os.sep)):
                    raise ValueError("%s: member %r would be written outside the folder: refused; nothing was "
                                     "extracted" % (path, info.filename))
            z.extractall(dest)  # zipfile applies no stored modes or owners: files get what open() gives
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, OSError, zlib.error) as e:
        raise ValueError("%s is not a readable zip archive: %s" % (path, e)) from None
