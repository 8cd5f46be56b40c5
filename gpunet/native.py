"""Builds a shared library from C/C++ source with the system compiler, once, into a cache keyed by
everything that affects the result (source, compiler, flags, CPU). Used by the CPU optimizer kernel
(cpu_kernels.py) and the emulated CUDA kernels (emulated.py)."""
import hashlib
import os
import platform
import subprocess
import tempfile


class BuildError(RuntimeError):
    pass


def cache_dir(kind):
    home = os.environ.get("GPUNET_HOME") or os.path.join(os.path.expanduser("~"), ".gpunet")
    return os.path.join(home, "cache", kind)


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


def build(kind, name, key_material, compile_argv, stdin=None, timeout=300):
    """Path of the cached library `<cache>/<kind>/<name>-<hash>.so`, compiling it first if missing.

    compile_argv(out_path) gives the compiler command writing the library to out_path; `stdin` (a
    string) is fed to it. The library is written under a temporary name and renamed: a concurrent
    process never loads a half-written file. A failed compile raises BuildError with its stderr."""
    key = hashlib.sha256(key_material.encode()).hexdigest()[:16]
    d = cache_dir(kind)
    out = os.path.join(d, "%s-%s.so" % (name, key))
    if os.path.exists(out):
        return out
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=d)
    os.close(fd)
    try:
        r = subprocess.run(compile_argv(tmp), input=stdin, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise BuildError(r.stderr.strip() or r.stdout.strip() or "compiler exit status %d" % r.returncode)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


_malloc_tuned = []


def tune_malloc():
    """Keeps freed memory in the process for the next training step instead of returning it to the OS.

    A CPU training step allocates and frees ~100 MB of activations, patches and gradients. glibc hands
    blocks of that size back to the kernel at every free (mmap, or a trimmed heap), so every step
    page-faults them in again: about a third of a convnet step on the 2-core CI machine (measured:
    README's convolution section). Raising the mmap and trim thresholds keeps them in the
    heap, as PyTorch's CPU caching allocator does for its tensors. glibc only; GPUNET_MALLOC_TUNING=0
    leaves malloc alone. Returns whether the settings took."""
    if _malloc_tuned:
        return _malloc_tuned[0]
    ok = False
    if os.environ.get("GPUNET_MALLOC_TUNING", "1") != "0" and platform.system() == "Linux":
        try:
            import ctypes
            libc = ctypes.CDLL("libc.so.6")
            M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
            ok = bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit
                      and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_TOP_PAD, 64 << 20))
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
            ok = False
    _malloc_tuned.append(ok)
    return ok
