"""The emulated kernel tier: runs kernels/*.cu on the CPU through the HIP CPU Runtime (HIP-CPU).

`GPUNET_KERNELS=emulate` makes gpunet use the NumPy array module *and* its CUDA kernels, launched
from here instead of cupy.RawModule: the same sources, the same grid, block and argument list the
GPU path uses, on NumPy arrays. So the ops' GPU branch, the launchers and the kernels all run in CI,
on machines without a GPU. It is a test tier, not a fast path (a kernel's blocks run on CPU
threads and its threads as fibers switching at __syncthreads()).

Each .cu file is compiled with g++ (C++17, HIP-CPU's headers, TBB) into a shared library cached by
the hash of everything that goes into it, with one generated C entry point per `extern "C"
__global__` kernel. What the tier checks on every launch, failing loudly where a GPU would silently
compute garbage:
  - the launch shape: 1 to 3 positive grid and block dimensions within CUDA's limits (gridDim.y/z
    <= 65535, <= 1024 threads per block, no more than the kernel's __launch_bounds__);
  - every scalar against the kernel's C signature: `int` takes numpy.int32, `float` numpy.float32,
    and so on. A Python int or float is refused: CuPy passes those as 64-bit values;
  - every array: a NumPy array of the pointee's dtype, C-contiguous, writeable where the kernel
    may write, and not partly overlapping another argument (the kernels use __restrict__);
  - memory bounds: each array is staged between guard zones filled with 0xFF bytes (NaN as float,
    -1 as int); a write past either end is an error naming the argument, and a read there brings
    NaN into the result.
What it cannot tell: speed, coalescing, occupancy, shared-memory limits, and races that the fixed
order of fibers between barriers hides. Those need the GPU tests.

Where HIP-CPU lives: $GPUNET_HIP_CPU, else third_party/hip-cpu of the source checkout (vendored, MIT).
Needs a C++17 compiler ($CXX, g++ or clang++) and TBB (Debian: apt-get install -y g++ libtbb-dev).
"""
import collections
import ctypes
import os
import re
import shutil
from pathlib import Path

import numpy as np

from . import native

COMPAT_HEADER = "hip_cpu_compat.h"
# the flags are part of the cache key. -ffp-contract=off: no fused multiply-adds the source does not ask
# for, so a result depends on the kernel's order of operations alone
CXXFLAGS = ("-std=c++17", "-O2", "-DNDEBUG", "-ffp-contract=off", "-fPIC", "-shared", "-w")
LIBS = ("-ltbb", "-lpthread")
GRID_MAX = (2**31 - 1, 65535, 65535)      # CUDA's gridDim limits
BLOCK_MAX = (1024, 1024, 64)               # blockDim limits; at most 1024 threads in all
SHARED_MAX = 48 * 1024                     # dynamic shared memory without an opt-in attribute

launch_counts = collections.Counter()  # kernel name -> launches run (tests check a kernel really ran)

# C parameter types the kernels may take, and the NumPy dtype a launcher must pass for each
_CTYPES = {
    "float": np.float32, "double": np.float64, "unsigned char": np.uint8,
    "int": np.int32, "unsigned": np.uint32, "unsigned int": np.uint32,
    "long long": np.int64, "unsigned long long": np.uint64,
    "int32_t": np.int32, "uint32_t": np.uint32, "int64_t": np.int64, "uint64_t": np.uint64,
}


class EmulationUnavailable(RuntimeError):
    """The tier cannot run here (no HIP-CPU, no compiler, no TBB); the message says what is missing."""


class KernelLaunchError(RuntimeError):
    """A launch a GPU would reject or that would compute garbage on one: bad shape, argument, bounds."""


# ---- finding the toolchain ----

def hip_cpu_dir():
    """HIP-CPU's root (it has include/hip/hip_runtime.h), or EmulationUnavailable saying where it looked."""
    env = os.environ.get("GPUNET_HIP_CPU")
    repo = Path(__file__).resolve().parent.parent.parent  # the source checkout: gpunet/kernels/ -> repo
    candidates = [Path(env)] if env else [repo / "third_party" / "hip-cpu"]
    for c in candidates:
        if (c / "include" / "hip" / "hip_runtime.h").is_file():
            return c
    raise EmulationUnavailable(
        "the HIP CPU Runtime was not found (looked in %s); set GPUNET_HIP_CPU to its folder"
        % ", ".join(str(c) for c in candidates))


def compiler():
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if not cxx:
        raise EmulationUnavailable("no C++ compiler found (set CXX, or apt-get install -y g++)")
    return cxx


# ---- kernel signatures ----

class Param:
    def __init__(self, decl, index):
        self.decl = " ".join(decl.split())
        m = re.match(r"^(.*?)([A-Za-z_]\w*)$", self.decl)
        if not m:
            raise ValueError("cannot parse kernel parameter %r" % decl)
        self.name, ctype = m.group(2), m.group(1).replace("__restrict__", " ")
        self.index = index
        self.pointer = ctype.count("*")
        if self.pointer > 1:
            raise ValueError("parameter %r: pointers to pointers are not supported by the emulated tier" % decl)
        self.const = self.pointer == 1 and "const" in ctype.split("*")[0].split()
        base = " ".join(w for w in ctype.replace("*", " ").split() if w not in ("const", "volatile"))
        if base not in _CTYPES:
            raise ValueError("parameter %r: type %r is not one the emulated tier knows (%s)"
                             % (decl, base, ", ".join(sorted(_CTYPES))))
        self.base = base
        self.dtype = np.dtype(_CTYPES[base])
        self.ctype = ("const " if self.const else "") + base + ("*" if self.pointer else "")

    def __repr__(self):
        return "argument %d '%s' (%s)" % (self.index, self.name, self.ctype)


class Signature:
    def __init__(self, name, params, launch_bounds):
        self.name, self.params, self.launch_bounds = name, params, launch_bounds


def _strip_comments(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+(?:void\s+)?(?:__launch_bounds__\s*\(([^)]*)\)\s*)?'
                        r'(?:void\s+)?([A-Za-z_]\w*)\s*\(([^)]*)\)', re.S)


def kernel_signatures(src):
    """[Signature] of every `extern "C" __global__` kernel in a .cu source, in order."""
    src = _strip_comments(src)
    macros = dict(re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)\s+(\d+)\s*$", src, flags=re.M))
    out = []
    for bounds, name, params in _KERNEL_RE.findall(src):
        lb = None
        if bounds.strip():
            first = bounds.split(",")[0].strip()
            lb = int(macros.get(first, first)) if macros.get(first, first).isdigit() else None
        decls = [p for p in params.split(",") if p.strip()]
        out.append(Signature(name, [Param(d, i) for i, d in enumerate(decls)], lb))
    return out


def kernel_names(src):
    return [s.name for s in kernel_signatures(src)]


# ---- building ----

def wrapper_source(cu_name, sigs):
    """The C++ translation unit: HIP-CPU, the compatibility header, the kernel file, and one
    `extern "C" int gpunet_launch_<kernel>(grid[3], block[3], shared_bytes, args[])` per kernel."""
    lines = ['#include "%s"' % COMPAT_HEADER, '#include "%s"' % cu_name, ""]
    for s in sigs:
        args = ", ".join(("(%s)a[%d]" if p.pointer else "*(const %s*)a[%d]") % (p.ctype, p.index)
                         for p in s.params)
        lines += [
            'extern "C" int gpunet_launch_%s(const unsigned* g, const unsigned* b, unsigned shmem, void** a) {'
            % s.name,
            "    (void)a;",
            "    hipLaunchKernelGGL(%s, dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]), shmem, 0%s);"
            % (s.name, (", " + args) if args else ""),
            "    if (hipDeviceSynchronize() != hipSuccess) return 1;",
            "    return hipGetLastError() == hipSuccess ? 0 : 2;",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _explain(log, cu_name):
    first = next((ln for ln in log.splitlines() if "error" in ln), log.strip().splitlines()[0] if log.strip() else "")
    hint = ""
    if "tbb" in log.lower() or "execution" in log:
        hint = " (HIP-CPU needs TBB: apt-get install -y libtbb-dev)"
    return "emulated build of %s failed%s: %s" % (cu_name, hint, first.strip()[:600])


def build(path):
    """The cached shared library of one .cu file (compiled on first use: 10-20 s with -O2)."""
    path = Path(path)
    hip, cxx = hip_cpu_dir(), compiler()
    src = path.read_text()
    compat = path.parent / COMPAT_HEADER
    if not compat.is_file():
        raise EmulationUnavailable("%s is missing beside %s" % (COMPAT_HEADER, path.name))
    sigs = kernel_signatures(src)
    wrapper = wrapper_source(path.name, sigs)
    flags = list(CXXFLAGS) + ["-I", str(hip / "include"), "-I", str(path.parent)]
    headers = [(path.parent / h).read_text() for h in re.findall(r'#include "([^"]+)"', src)
               if (path.parent / h).is_file()]  # an edited header rebuilds every file that includes it
    key = "\n".join([wrapper, src, *headers, compat.read_text(), " ".join(CXXFLAGS), str(hip.resolve()),
                     native.compiler_version(cxx), native.cpu_id()])
    try:
        return native.build("emulated", path.stem, key,
                            lambda out: [cxx, *flags, "-x", "c++", "-", "-o", out, *LIBS], stdin=wrapper)
    except native.BuildError as e:
        raise EmulationUnavailable(_explain(str(e), path.name)) from None


# ---- launching ----

def _guard_bytes(nbytes):
    # an overrun of up to the array's own size lands in the guard (at least 4 KiB, at most 16 MiB)
    return int(min(max(4096, -(-nbytes // 256) * 256), 16 << 20))


class _Staged:
    """One distinct array argument copied between two guard zones of 0xFF bytes."""

    def __init__(self, arr):
        self.arr, n = arr, arr.nbytes
        self.guard = g = _guard_bytes(n)
        self.buf = np.full(g + n + g, 0xFF, dtype=np.uint8)
        if n:
            self.buf[g:g + n] = arr.reshape(-1).view(np.uint8)
        self.ptr = self.buf.ctypes.data + g
        self.params = []

    def check_and_copy_back(self, kernel):
        g, n = self.guard, self.arr.nbytes
        for zone, where in ((self.buf[:g], "before the start"), (self.buf[g + n:], "past the end")):
            bad = np.flatnonzero(zone != 0xFF)
            if bad.size:
                off = (g - bad[0]) if where == "before the start" else (bad[-1] + 1)
                raise KernelLaunchError(
                    "%s wrote outside %s: up to %d bytes %s of a %s array of %d bytes"
                    % (kernel, " / ".join(map(repr, self.params)), off, where, self.arr.dtype, n))
        if n and any(not p.const for p in self.params):
            self.arr.reshape(-1).view(np.uint8)[...] = self.buf[g:g + n]


def _dims(value, what, kernel, limits):
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        raise KernelLaunchError("%s: %s must be a tuple of 1 to 3 ints, got %r" % (kernel, what, value))
    dims = []
    for i, d in enumerate(value):
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise KernelLaunchError("%s: %s[%d] must be an int, got %r" % (kernel, what, i, d))
        d = int(d)
        if not 1 <= d <= limits[i]:
            raise KernelLaunchError("%s: %s %r is invalid on a GPU (cudaErrorInvalidConfiguration): %sDim.%s = %d "
                                    "is outside [1, %d]" % (kernel, what, tuple(value), what, "xyz"[i], d, limits[i]))
        dims.append(d)
    return dims + [1] * (3 - len(dims))


class EmulatedKernel:
    """Called like cupy.RawKernel: kernel(grid, block, args, shared_mem=0, stream=None)."""

    def __init__(self, lib, sig, file):
        self.sig, self.name, self.file = sig, sig.name, file
        self._fn = getattr(lib, "gpunet_launch_" + sig.name)
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p]
        self._fn.restype = ctypes.c_int

    def _scalar(self, p, v):
        if isinstance(v, np.generic) and v.dtype == p.dtype:
            return np.array(v, dtype=p.dtype)
        if isinstance(v, (bool, int, float)):
            got = "a Python %s, which CuPy passes as a %s" % (
                type(v).__name__, "64-bit integer" if isinstance(v, int) else "double")
        else:
            got = "%s %s" % (getattr(v, "dtype", type(v).__name__), v)
        raise KernelLaunchError("%s: %r takes numpy.%s, but the launcher passed %s"
                                % (self.name, p, p.dtype.name, got))

    def _array(self, p, v):
        if not isinstance(v, np.ndarray):
            raise KernelLaunchError("%s: %r takes a %s array, but the launcher passed %s"
                                    % (self.name, p, p.dtype.name, type(v).__name__))
        if v.dtype != p.dtype:
            raise KernelLaunchError("%s: %r takes a %s array, but the launcher passed %s"
                                    % (self.name, p, p.dtype.name, v.dtype))
        if not v.flags.c_contiguous:
            raise KernelLaunchError("%s: %r got a non-contiguous array of shape %s and strides %s (the kernel "
                                    "indexes it as dense row-major memory)" % (self.name, p, v.shape, v.strides))
        if not p.const and not v.flags.writeable:
            raise KernelLaunchError("%s: %r got a read-only array" % (self.name, p))

    def validate(self, grid, block, args, shared_mem=0):
        """Every check of a launch, without running it: (grid, block) as 3-tuples, or KernelLaunchError."""
        sig = self.sig
        g = _dims(grid, "grid", self.name, GRID_MAX)
        b = _dims(block, "block", self.name, BLOCK_MAX)
        threads = b[0] * b[1] * b[2]
        if threads > 1024 or (sig.launch_bounds and threads > sig.launch_bounds):
            raise KernelLaunchError("%s: a block of %d threads exceeds %s" % (
                self.name, threads, "__launch_bounds__(%d)" % sig.launch_bounds
                if sig.launch_bounds and threads > sig.launch_bounds else "1024"))
        if not 0 <= int(shared_mem) <= SHARED_MAX:
            raise KernelLaunchError("%s: shared_mem=%d is outside [0, %d]" % (self.name, shared_mem, SHARED_MAX))
        args = tuple(args)
        if len(args) != len(sig.params):
            raise KernelLaunchError("%s takes %d arguments (%s), the launcher passed %d"
                                    % (self.name, len(sig.params), ", ".join(p.name for p in sig.params),
                                       len(args)))
        for p, v in zip(sig.params, args):
            if p.pointer:
                self._array(p, v)
            else:
                self._scalar(p, v)
        return g, b

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        g, b = self.validate(grid, block, args, shared_mem)
        args = tuple(args)
        keep, staged, ptrs = [], {}, []
        for p, v in zip(self.sig.params, args):
            if p.pointer:
                key = (v.ctypes.data, v.nbytes)
                st = staged.get(key)
                if st is None:
                    st = staged[key] = _Staged(v)
                st.params.append(p)
                ptrs.append(st.ptr)
            else:
                s = self._scalar(p, v)
                keep.append(s)
                ptrs.append(s.ctypes.data)
        self._check_overlap(staged)
        argv = (ctypes.c_void_p * max(1, len(ptrs)))(*ptrs)
        gv, bv = (ctypes.c_uint * 3)(*g), (ctypes.c_uint * 3)(*b)
        rc = self._fn(gv, bv, int(shared_mem), argv)
        if rc:
            raise KernelLaunchError("%s: the HIP-CPU launch failed (code %d)" % (self.name, rc))
        for st in staged.values():
            st.check_and_copy_back(self.name)
        launch_counts[self.name] += 1

    def _check_overlap(self, staged):
        spans = sorted((ptr, ptr + n, st) for (ptr, n), st in staged.items() if n)
        for (a0, a1, sa), (b0, b1, sb) in zip(spans, spans[1:]):
            if b0 < a1:
                raise KernelLaunchError("%s: %r and %r overlap in memory but are not the same array (the kernel's "
                                        "pointers are __restrict__)" % (self.name, sa.params[0], sb.params[0]))


class EmulatedModule:
    """The emulated twin of cupy.RawModule for one .cu file: get_function(name) -> EmulatedKernel."""

    def __init__(self, path):
        path = Path(path)
        self.path = path
        self.signatures = {s.name: s for s in kernel_signatures(path.read_text())}
        self._lib = ctypes.CDLL(build(path))
        self._kernels = {}

    def get_function(self, name):
        k = self._kernels.get(name)
        if k is None:
            if name not in self.signatures:
                raise KernelLaunchError("%s has no kernel %r (it has %s)"
                                        % (self.path.name, name, ", ".join(self.signatures)))
            k = self._kernels[name] = EmulatedKernel(self._lib, self.signatures[name], self.path.name)
        return k


_modules = {}


def module(path):
    path = Path(path)
    mod = _modules.get(path)
    if mod is None:
        mod = _modules[path] = EmulatedModule(path)
    return mod


def prebuild(paths):
    """Builds every file's library at once, one compiler per core (each takes ~10-20 s alone)."""
    from concurrent.futures import ThreadPoolExecutor
    paths = [Path(p) for p in paths]
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        for f in [pool.submit(build, p) for p in paths]:
            f.result()


def check_available():
    """None when the tier can build here, else the reason it cannot (one line)."""
    try:
        hip_cpu_dir()
        compiler()
    except EmulationUnavailable as e:
        return str(e)
    return None
