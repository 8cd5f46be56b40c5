"""The dense forward through cuBLASLt (GPUNET_DENSE_VARIANT=cublaslt, and auto's pick for large products on a GPU):
Y = act(X·W + b) by cublasLtMatmul with its bias + activation epilogue, called through ctypes.

Why not CuPy's cuBLAS: CuPy 14 refuses every cuBLAS call on a capturing stream (its setStream check,
cupy_backends/cuda/libs/cublas.pyx:642-651; CuPy issue 6290), so a step that used it could not be one CUDA graph.
cuBLASLt itself supports stream capture when nothing is allocated inside it: the handle, the descriptors, the
algorithm (a heuristic query) and the workspace are all made here, before any capture, and the workspace belongs
to the caller (a step program's arena). cublasLtMatmul takes its stream as an argument: the current stream when
the launch runs, the capturing one inside a capture.

Row-major through a column-major library: Y (M×N, row-major) is Yᵀ column-major, and Yᵀ = Wᵀ·Xᵀ, so A = W as
an N×K column-major matrix (ld N), B = X as K×M (ld K), D = Y as N×M (ld N), no transposes; the bias (length N)
runs along D's rows, which is what the BIAS epilogues add. Epilogues: linear -> BIAS (or DEFAULT), relu -> RELU_BIAS,
gelu_approximate -> GELU_AUX_BIAS (cuBLASLt's GELU is the tanh form; AUX keeps the pre-activation Z, ld N). Exact
gelu, sigmoid and tanh have no epilogue: those products take the kernel variants (supported() says so).
Enum values are cublasLt.h's (CUDA 12 and 13 agree on each one used here). The emulated tier cannot run cuBLASLt;
the CuPy stand-in models these calls (tests/cupy_standin.py FakeCublasLt) and bench/gpu_probe.py times them."""
import ctypes
import glob
import os
import weakref

import numpy as np

from .. import backend

CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F = 68, 77, 0
DESC_TRANSA, DESC_TRANSB, DESC_EPILOGUE, DESC_BIAS_POINTER = 3, 4, 7, 8
DESC_EPILOGUE_AUX_POINTER, DESC_EPILOGUE_AUX_LD = 11, 12
PREF_MAX_WORKSPACE_BYTES = 1
EPILOGUE = {("linear", False): 1, ("linear", True): 4, ("relu", False): 2, ("relu", True): 6,
            ("gelu_approximate", False): 160, ("gelu_approximate", True): 164}  # *_AUX for gelu: Z is kept
WORKSPACE_BYTES = 32 << 20  # cuBLAS's recommendation for Hopper


class CublasLtError(RuntimeError):
    pass


class _Algo(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64 * 8)]


class _Heuristic(ctypes.Structure):
    _fields_ = [("algo", _Algo), ("workspaceSize", ctypes.c_size_t), ("state", ctypes.c_int),
                ("wavesCount", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


_P, _VP, _SZ = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t
_SIGNATURES = {
    "cublasLtCreate": [_VP],
    "cublasLtMatmulDescCreate": [_VP, ctypes.c_int, ctypes.c_int],
    "cublasLtMatmulDescSetAttribute": [_P, ctypes.c_int, _P, _SZ],
    "cublasLtMatrixLayoutCreate": [_VP, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int64],
    "cublasLtMatmulPreferenceCreate": [_VP],
    "cublasLtMatmulPreferenceSetAttribute": [_P, ctypes.c_int, _P, _SZ],
    "cublasLtMatmulAlgoGetHeuristic": [_P, _P, _P, _P, _P, _P, _P, ctypes.c_int, ctypes.POINTER(_Heuristic),
                                       ctypes.POINTER(ctypes.c_int)],
    "cublasLtMatmul": [_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, ctypes.POINTER(_Algo), _P, _SZ, _P],
}

_lib_cache = []


def _find():
    """libcublasLt as CuPy's own cuBLAS loads it (its soname first: an already-loaded library), else from the
    nvidia-cublas wheels' folders."""
    try:
        import cupy_backends.cuda.libs.cublas as _cublas  # loads libcublas and with it libcublasLt
        del _cublas
    except Exception:
        pass
    names = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"]
    import site
    for base in site.getsitepackages() + [site.getusersitepackages()]:
        names += sorted(glob.glob(os.path.join(base, "nvidia", "*", "lib", "libcublasLt.so*")))
        names += sorted(glob.glob(os.path.join(base, "nvidia", "cublas", "lib", "libcublasLt.so*")))
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(str(e).splitlines()[0])
    raise CublasLtError("libcublasLt could not be loaded (%s)" % "; ".join(errors[:3]))


def _lib():
    """The library with typed entry points (one seam: the tests put tests/cupy_standin.py's model here)."""
    if not _lib_cache:
        lib = _find()
        for name, argtypes in _SIGNATURES.items():
            f = getattr(lib, name)
            f.argtypes, f.restype = argtypes, ctypes.c_int
        _lib_cache.append(lib)
    return _lib_cache[0]


def available():
    """Whether cuBLASLt can be called here: the CuPy backend on a GPU and the library found."""
    if backend.kernels() != "cuda":
        return False
    try:
        _lib()
        return True
    except Exception:
        return False


def supported(activation):
    return any(key[0] == activation for key in EPILOGUE)


def _check(status, what):
    if status != 0:
        raise CublasLtError("%s failed with cublasStatus_t %d" % (what, status))


_handles = {}


def _handle():
    """One cuBLASLt handle per device, made outside any capture (creating one allocates)."""
    key = backend.get_xp().cuda.Device().id
    h = _handles.get(key)
    if h is None:
        h = ctypes.c_void_p()
        _check(_lib().cublasLtCreate(ctypes.byref(h)), "cublasLtCreate")
        _handles[key] = h
    return h


def _set(lib, setter, obj, attr, value, ctype):
    v = ctype(value)
    _check(setter(obj, attr, ctypes.byref(v), ctypes.sizeof(v)), "set attribute %d" % attr)


class LtMatmul:
    """One forward product with everything fixed (the descriptors, the algorithm, the workspace): calling it
    enqueues cublasLtMatmul on the current stream, so a step program runs or captures it like a Launch."""
    name = "cublaslt_matmul"

    def __init__(self, x2, W, b, Y, Z, activation, workspace):
        lib = _lib()
        M, K = x2.shape
        N = W.shape[1]
        if (activation, b is not None) not in EPILOGUE:
            raise ValueError("cuBLASLt has no epilogue for activation %r" % activation)
        if (Z is not None) != (activation == "gelu_approximate"):
            raise ValueError("cuBLASLt keeps the pre-activation for gelu_approximate only")
        self.keep = (x2, W, b, Y, Z, workspace)  # the pointers below stay valid while this launch exists
        self.handle = _handle()
        self.desc = ctypes.c_void_p()
        _check(lib.cublasLtMatmulDescCreate(ctypes.byref(self.desc), CUBLAS_COMPUTE_32F, CUDA_R_32F),
               "cublasLtMatmulDescCreate")
        put = lib.cublasLtMatmulDescSetAttribute
        _set(lib, put, self.desc, DESC_TRANSA, 0, ctypes.c_int)
        _set(lib, put, self.desc, DESC_TRANSB, 0, ctypes.c_int)
        _set(lib, put, self.desc, DESC_EPILOGUE, EPILOGUE[(activation, b is not None)], ctypes.c_int)
        if b is not None:
            _set(lib, put, self.desc, DESC_BIAS_POINTER, b.data.ptr, ctypes.c_void_p)
        if Z is not None:
            _set(lib, put, self.desc, DESC_EPILOGUE_AUX_POINTER, Z.data.ptr, ctypes.c_void_p)
            _set(lib, put, self.desc, DESC_EPILOGUE_AUX_LD, N, ctypes.c_int64)
        self.layouts = []
        for rows, cols, ld in ((N, K, N), (K, M, K), (N, M, N), (N, M, N)):  # A = W, B = X, C = D = Y
            lay = ctypes.c_void_p()
            _check(lib.cublasLtMatrixLayoutCreate(ctypes.byref(lay), CUDA_R_32F, rows, cols, ld),
                   "cublasLtMatrixLayoutCreate")
            self.layouts.append(lay)
        pref = ctypes.c_void_p()
        _check(lib.cublasLtMatmulPreferenceCreate(ctypes.byref(pref)), "cublasLtMatmulPreferenceCreate")
        self.ws_bytes = int(workspace.nbytes)
        _set(lib, lib.cublasLtMatmulPreferenceSetAttribute, pref, PREF_MAX_WORKSPACE_BYTES, self.ws_bytes,
             ctypes.c_uint64)
        found, count = _Heuristic(), ctypes.c_int(0)
        _check(lib.cublasLtMatmulAlgoGetHeuristic(self.handle, self.desc, *self.layouts, pref, 1,
                                                  ctypes.byref(found), ctypes.byref(count)),
               "cublasLtMatmulAlgoGetHeuristic")
        if count.value < 1:
            raise CublasLtError("cuBLASLt found no algorithm for %d×%d×%d (%s)" % (M, K, N, activation))
        self.algo = found.algo
        self.alpha, self.beta = ctypes.c_float(1.0), ctypes.c_float(0.0)
        self.ptrs = (W.data.ptr, x2.data.ptr, Y.data.ptr, workspace.data.ptr)

    def __call__(self):
        A, B, D, ws = self.ptrs
        stream = backend.get_xp().cuda.get_current_stream().ptr
        a, b_, c, d = self.layouts
        _check(_lib().cublasLtMatmul(self.handle, self.desc, ctypes.byref(self.alpha), A, a, B, b_,
                                     ctypes.byref(self.beta), D, c, D, d, ctypes.byref(self.algo), ws, self.ws_bytes,
                                     stream), "cublasLtMatmul")

    def __repr__(self):
        return "LtMatmul(%s)" % (self.keep[1].shape,)


_shared = weakref.WeakKeyDictionary()


def workspace(alloc):
    """The caller's workspace: one per step program (alloc is its bound scratch allocator; the program's products
    run one after another on its one stream, so they can share it), else a plain allocation for an eager op."""
    owner = getattr(alloc, "__self__", None)
    if owner is None:
        return alloc((WORKSPACE_BYTES // 4,), np.float32)
    ws = _shared.get(owner)
    if ws is None:
        ws = _shared[owner] = alloc((WORKSPACE_BYTES // 4,), np.float32)
    return ws
