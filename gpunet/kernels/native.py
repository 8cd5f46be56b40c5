"""Builds a shared library from C/C++ source with the system compiler, once, into a cache keyed by
everything that affects the result (source, compiler, flags, CPU). Used by the CPU optimizer kernel
(cpu.py) and the emulated CUDA kernels (emulated.py)."""
import hashlib
import os
import platform
import subprocess
import tempfile


class BuildError(RuntimeError):
    pass


def cache_root():
    return os.environ.get("GPUNET_HOME") or os.path.join(os.path.expanduser("~"), ".gpunet")


def cache_dir(kind):
    return os.path.join(cache_root(), "cache", kind)


def _not_private(path, st):
    """Why a cache folder or library may not be trusted, or None: it must be ours, and writable by us alone (a
    library name anyone can compute, in a folder someone else can write, is a library someone else can plant)."""
    import stat
    if stat.S_ISLNK(st.st_mode):
        return "%s is a symbolic link" % path
    if st.st_uid != os.geteuid():
        return "%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, os.geteuid())
    if st.st_mode & 0o022:
        return "%s is writable by %s (mode %o)" % (path, "others" if st.st_mode & 0o002 else "its group",
                                                   st.st_mode & 0o777)
    return None


def private_dir(d):
    """Creates the cache folder d and the folders leading to it from the cache root (mode 0700), or checks the
    existing ones. Returns None when every one is private, else why not."""
    root = os.path.abspath(cache_root())
    d = os.path.abspath(d)
    chain, p = [], d
    while True:
        chain.append(p)
        if p == root or os.path.dirname(p) == p:
            break
        p = os.path.dirname(p)
    parent = os.path.dirname(chain[-1])
    try:
        st = os.stat(parent)
        shared = st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != os.getegid())
        if shared and not st.st_mode & 0o1000:  # others could swap the cache root for theirs (unless sticky: /tmp)
            return "%s, the folder holding %s, is writable by others (mode %o)" % (parent, chain[-1],
                                                                                  st.st_mode & 0o7777)
    except OSError:
        pass
    for p in reversed(chain):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            return "cannot create %s (%s)" % (p, e.strerror or e)
        why = _not_private(p, os.lstat(p))
        if why:
            return why
    return None


_fallback_dirs = {}


def _private_fallback(kind, why):
    """A folder of this process's own (mkdtemp: mode 0700, a random name) when the cache is not private."""
    if kind not in _fallback_dirs:
        import atexit
        import logging
        import shutil
        d = tempfile.mkdtemp(prefix="gpunet-%s-" % kind)
        atexit.register(shutil.rmtree, d, True)
        logging.getLogger("gpunet").warning(
            "gpunet: not using the kernel cache: %s. Compiled kernels go to a private folder for this process (%s); "
            "make the cache yours alone (chmod go-w, or set GPUNET_HOME) to keep them between runs", why, d)
        _fallback_dirs[kind] = d
    return _fallback_dirs[kind]


def build(kind, name, key_material, compile_argv, stdin=None, timeout=300):
    """Path of the cached library `<cache>/<kind>/<name>-<hash>.so`, compiling it first if missing.

    compile_argv(out_path) gives the compiler command writing the library to out_path; `stdin` (a
    string) is fed to it. The library is written under a temporary name and renamed: a concurrent
    process never loads a half-written file. A failed compile raises BuildError with its stderr.

    Native code runs inside the process, so a cached library is used only from a folder that is this user's
    alone (every folder from the cache root down: owned by the user, not writable by group or others) and only
    when the file itself is the user's, with the same modes; a library that is not is rebuilt over it, and a
    folder that is not makes the build go to a private temporary folder for this process (one warning)."""
    key = hashlib.sha256(key_material.encode()).hexdigest()[:16]
    d = cache_dir(kind)
    why = private_dir(d)
    if why:
        d = _private_fallback(kind, why)
    out = os.path.join(d, "%s-%s.so" % (name, key))
    try:
        if _not_private(out, os.lstat(out)) is None:
            return out
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=d)
    os.close(fd)
    try:
        r = subprocess.run(compile_argv(tmp), input=stdin, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise BuildError(r.stderr.strip() or r.stdout.strip() or "compiler exit status %d" % r.returncode)
        os.chmod(tmp, 0o700)  # the linker honours the umask; a group-writable umask must not make it shared
        os.replace(tmp, out)  # also over a planted or foreign file: the folder is ours
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def cpu_id():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor()


def compiler_version(cc):
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
