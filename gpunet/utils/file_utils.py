"""keras.utils.get_file: a cached download with a hash check (and optional archive extraction)."""
import hashlib
import os
import shutil


def _hash(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _algorithm(file_hash, hash_algorithm):
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    return "sha256" if len(file_hash) == 64 else "md5"


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Returns the local path of `origin`, downloading it into cache_dir/cache_subdir (default
    ~/.keras/datasets) unless a copy with the right hash is there. A download that fails the hash
    check is deleted, never cached. extract=True (or untar=True) unpacks a tar/zip archive beside it
    and returns the extracted folder, as Keras 3 does."""
    import tempfile
    import urllib.request  # imported here: `import gpunet` stays light
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if not fname:
        fname = os.path.basename(urllib.request.urlparse(origin).path)
        if not fname:
            raise ValueError("Can't parse the file name from the origin provided: '%s'. Please specify the `fname` "
                             "argument." % origin)
    cache_dir = cache_dir or os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    datadir = os.path.join(os.path.expanduser(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    if untar:
        extract = True
        if not fname.endswith((".tar.gz", ".tgz", ".tar")):
            fname += ".tar.gz"
    fpath = os.path.join(datadir, fname)
    expected = file_hash or md5_hash
    algo = _algorithm(expected, "md5" if md5_hash and not file_hash else hash_algorithm) if expected else None
    fresh = force_download or not os.path.exists(fpath)
    if not fresh and expected and _hash(fpath, algo) != expected:
        fresh = True  # a corrupt or outdated copy: fetch it again
    if fresh:
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=datadir)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=60) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
            if expected and _hash(tmp, algo) != expected:
                raise ValueError("Incomplete or corrupted file detected. The %s file hash does not match the provided "
                                 "value of %s (from %s); nothing was cached." % (algo, expected, origin))
            os.replace(tmp, fpath)
        except OSError as e:
            raise Exception("URL fetch failure on %s: %s" % (origin, e)) from e
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if not extract:
        return fpath
    target = fpath
    for ext in (".tar.gz", ".tgz", ".tar.bz2", ".tar", ".zip"):
        if target.endswith(ext):
            target = target[: -len(ext)]
            break
    else:
        target = fpath + "_extracted"
    if force_download or fresh or not os.path.isdir(target):
        shutil.rmtree(target, ignore_errors=True)
        _extract(fpath, target, archive_format)
    return target


def _extract(path, target, archive_format):
    import tarfile
    import zipfile
    fmt = archive_format
    if fmt == "auto":
        fmt = "zip" if zipfile.is_zipfile(path) else ("tar" if tarfile.is_tarfile(path) else None)
    if fmt not in ("tar", "zip"):
        raise ValueError("%s is not a tar or zip archive (archive_format=%r)" % (path, archive_format))
    tmp = target + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if fmt == "zip":
        with zipfile.ZipFile(path) as z:
            for m in z.namelist():
                _safe(tmp, m)
            z.extractall(tmp)
    else:
        with tarfile.open(path) as t:
            for m in t.getmembers():
                _safe(tmp, m.name)
                if m.issym() or m.islnk():
                    raise ValueError("%s holds a link (%s): refused" % (path, m.name))
            t.extractall(tmp)
    os.replace(tmp, target)


def _safe(root, name):
    """Archive members may not escape the extraction folder (../ or absolute paths)."""
    full = os.path.realpath(os.path.join(root, name))
    if not full.startswith(os.path.realpath(root) + os.sep) and full != os.path.realpath(root):
        raise ValueError("Archive member %r would be written outside %s: refused" % (name, root))
