"""Where a save's bytes go: a temporary file beside the target, written by name, fsync'd, given the mode open()
would give, renamed over the target and the folder fsync'd; what a save checks before any work (a directory or
a read-only file in the way, a folder that cannot be written, the free space); and the error a failed write
raises, in words. A crash or power cut leaves the old file or the new one, never a partial one."""
import errno
import os
import secrets

from ..common import downloads
from ..common.registry import SavingError


def _reserve(tmp, nbytes):
    """Proves nbytes can be written beside the temp file `tmp` now (free space, quota, the file-size limit) by
    allocating them in a probe file, then frees them for the write that follows. HDF5 must never meet a failed
    write: h5py then keeps the file open and crashes the interpreter when it retries the write at exit. The probe
    is named after tmp, so a process killed meanwhile leaves nothing the next save does not remove."""
    if not hasattr(os, "posix_fallocate"):
        return
    probe = tmp[:-len(".tmp")] + "-space.tmp"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, max(int(nbytes), 1))
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # a filesystem without fallocate: go on
            raise
    finally:
        os.close(fd)
        os.remove(probe)


def _target(path):
    """Where a save really writes: through a symlink to its target (as open() would), and never over a
    directory or a read-only file (checked by its mode bits too, so running as root does not override it)."""
    real = os.path.realpath(path)
    if os.path.isdir(real):
        raise SavingError("%s is a directory: cannot save a file there (choose a file name such as %s)"
                          % (path, os.path.join(path, "model.keras")))
    if os.path.exists(real):
        mode = os.stat(real).st_mode
        if not os.access(real, os.W_OK) or not mode & 0o222:
            raise PermissionError(errno.EACCES, "Permission denied: %s is read-only; not overwriting it" % path, path)
    return real


def check_save_path(path, extension=".keras"):
    """What a save to `path` would refuse, found before hours of training (the `gpunet train --save` check):
    the extension, a directory or read-only file in the way, a folder that cannot be created or written."""
    path = os.fspath(path)
    if not path.endswith(extension):
        raise SavingError("Invalid filepath extension for saving %r: use a %r extension" % (path, extension))
    real = _target(path)
    check_folder(os.path.dirname(real), path)
    return real


def check_folder(folder, path):
    """That files can be created in `folder` (or the folders leading to it can), for a save to `path`."""
    d = os.path.abspath(folder or ".")
    while not os.path.isdir(d):  # the nearest folder that exists must let us create the rest
        if os.path.exists(d):
            raise SavingError("%s: %s is a file, not a folder" % (path, d))
        d = os.path.dirname(d)
    if not os.access(d, os.W_OK | os.X_OK) or (os.geteuid() == 0 and not os.stat(d).st_mode & 0o222) or \
            not _can_create(d):
        raise PermissionError(errno.EACCES, "Permission denied: cannot create files in %s" % d, path)


def _can_create(d):
    """Whether a file can really be created in d: root's os.access says yes on read-only mounts, /proc and /sys."""
    probe = os.path.join(d, ".gpunet-probe-%d-%s.tmp" % (os.getpid(), secrets.token_hex(4)))
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    os.remove(probe)
    return True


def _temp_prefix(real):
    return "." + os.path.basename(real) + ".tmp-"


def _remove_stale_temps(real):
    """Temp files of this target left by a process that died mid-save (SIGKILL, power cut): the writer's pid
    is in the name, so only those of processes no longer alive are removed."""
    downloads.remove_stale(os.path.dirname(real), _temp_prefix(real))


def _atomic_write(path, write):
    """Writes through a temp file in the target's directory: `write(temp_path)` writes it by name, then it is
    fsync'd, given the mode a plain open() would (the old file's, else 0666 & ~umask), renamed over the target,
    and the directory fsync'd, so a crash or power cut leaves the old file or the new one, never an empty or
    partial one. A full disk or exhausted memory is reported as such, and the old file is left as it was."""
    real = _target(path)
    d = os.path.dirname(real)
    os.makedirs(d, exist_ok=True)
    _remove_stale_temps(real)
    tmp = os.path.join(d, "%s%d-%s.tmp" % (_temp_prefix(real), os.getpid(), secrets.token_hex(6)))
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for open()
    try:
        try:
            write(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except MemoryError:
            raise _write_error(OSError(errno.ENOMEM, "out of memory"), path) from None
        except OSError as e:
            raise _write_error(e, path) from None
        if os.path.exists(real):  # a replaced file keeps its mode, as open(path, "w") leaves it
            os.chmod(tmp, os.stat(real).st_mode & 0o7777)
        os.replace(tmp, real)
        _fsync_dir(d)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_FULL = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "the file exceeds the size limit",
         errno.EDQUOT: "the disk quota is exceeded"}


def _write_error(e, path):
    """The error a failed save raises: the cause in words (h5py's errors carry the errno in their text only), and
    what became of the file."""
    code = e.errno
    if code is None:
        import re
        m = re.search(r"errno = (\d+)", str(e))
        code = int(m.group(1)) if m else (errno.ENOMEM if "unable to allocate" in str(e) else None)
    after = ("%s was left as it was" % path) if os.path.exists(path) else "nothing was written"
    if code == errno.ENOMEM:
        return MemoryError("out of memory while saving %s; %s" % (path, after))
    why = _FULL.get(code)
    if why is None:
        return OSError(code, "could not write %s: %s; %s" % (path, e, after))
    return OSError(code, "%s while saving %s (%s); %s" % (why.capitalize(), path, os.strerror(code), after))


def _fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
