"""Finds kernels/*.cu and compiles them: NVRTC alone for the GPU-free check (`gpunet info`, CI), once per
device with cupy.RawModule for launches, or for the CPU through the emulated tier (emulated.py) when
backend.kernels() == "emulate". `fn(file, kernel)` is the one door every launcher goes through."""
import os
import re
from pathlib import Path

from .. import backend

ARCHS = (80, 90)


class KernelCompileError(RuntimeError):
    pass


def kernel_dir():
    """kernels/ beside the package in a source checkout, else the copy installed as gpunet/_cuda."""
    here = Path(__file__).resolve().parent.parent  # gpunet/
    repo = here.parent / "kernels"
    if repo.is_dir() and any(repo.glob("*.cu")):
        return repo
    return here / "_cuda"


def kernel_files():
    return sorted(kernel_dir().glob("*.cu"))


def source(name):
    path = kernel_dir() / name
    if not path.is_file():
        raise KernelCompileError("kernel file %s not found (looked in %s)" % (name, kernel_dir()))
    return path.read_text()


def _inline_headers(text):
    """The source with each `#include "x.cuh"` of kernels/ pasted in: CuPy keys its on-disk kernel cache by
    the code it is given, so an edited header must change that code, or a stale binary would load."""
    def paste(m):
        path = kernel_dir() / m.group(1)
        if not path.is_file():
            return m.group(0)
        return re.sub(r"^#pragma once\s*$", "", _inline_headers(path.read_text()), flags=re.M)
    return re.sub(r'^#include "([^"]+)"', paste, text, flags=re.M)


def cache_dir():
    return os.environ.get("CUPY_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache")


def _first_error(log, name):
    m = re.search(r"%s\((\d+)\): (error.*)" % re.escape(name), log or "")
    return ("%s line %s: %s" % (name, m.group(1), m.group(2))) if m else "%s: %s" % (name, (log or "").strip()[:2000])


def nvrtc_compile(path, arch):
    """Compiles one .cu file to PTX for compute_<arch> with NVRTC alone (no GPU or driver needed)."""
    from cupy_backends.cuda.libs import nvrtc
    path = Path(path)
    prog = nvrtc.createProgram(path.read_text(), path.name, [], [])
    try:
        nvrtc.compileProgram(prog, ["-arch=compute_%d" % arch, "-std=c++17", "-I%s" % path.parent])
    except nvrtc.NVRTCError:
        raise KernelCompileError("compiling for sm_%d failed: %s" % (arch, _first_error(nvrtc.getProgramLog(prog), path.name))) from None
    return nvrtc.getPTX(prog)


def compile_check():
    """{file: 'ok (sm_80, sm_90)' or the first error}; a GPU-free check used by `gpunet info`."""
    try:
        import cupy_backends.cuda.libs.nvrtc  # noqa: F401
    except Exception as e:
        return "not checked: NVRTC unavailable (%s; pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12)" % type(e).__name__
    out = {}
    for f in kernel_files():
        try:
            for arch in ARCHS:
                nvrtc_compile(f, arch)
            out[f.name] = "ok (%s)" % ", ".join("sm_%d" % a for a in ARCHS)
        except KernelCompileError as e:
            out[f.name] = str(e)
        except Exception as e:  # the NVRTC library itself is missing: one line says so
            return ("not checked: the NVRTC library cannot be loaded (%s); pip install nvidia-cuda-nvrtc-cu12, "
                    "or use a CUDA image" % str(e).strip().splitlines()[0][:120])
    return out


_modules = {}
_functions = {}


def _device_key():
    return backend.get_xp().cuda.Device().id if backend.kernels() == "cuda" else "emulate"


def module(name):
    """The compiled module of kernels/<name>: a cupy.RawModule, or its emulated twin."""
    key = (name, _device_key())
    mod = _modules.get(key)
    if mod is None:
        if key[1] == "emulate":
            from . import emulated
            source(name)  # a missing file: KernelCompileError naming it
            mod = emulated.module(kernel_dir() / name)
        else:
            xp = backend.get_xp()
            try:
                mod = xp.RawModule(code=_inline_headers(source(name)), options=("-std=c++17",))
                mod.compile()
            except xp.cuda.compiler.CompileException as e:
                raise KernelCompileError(_first_error(str(e), name)) from None
        _modules[key] = mod
    return mod


def fn(file, kernel):
    """A launchable kernel, kept: building a RawKernel per launch costs a driver lookup each time."""
    key = (file, kernel, _device_key())
    f = _functions.get(key)
    if f is None:
        f = _functions[key] = module(file).get_function(kernel)
    return f
