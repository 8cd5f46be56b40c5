"""The one place that imports CuPy: picks the array module (`xp`) and moves arrays.

Automatic choice: CuPy only when it imports *and* a CUDA device answers; otherwise NumPy, with
one line saying why. ``GPUNET_BACKEND=numpy|cupy`` forces one; forcing cupy without a working
device is an error rather than a silent fallback.

Which kernels the ops use is decided here too (`kernels()`): "cuda" (our kernels/*.cu through CuPy)
on the CuPy backend; "emulate" (the same kernels executed on the CPU through HIP-CPU, see
gpunet/kernels/emulated.py) when ``GPUNET_KERNELS=emulate``, which also selects NumPy arrays; None (NumPy/
BLAS array ops) otherwise. The ops ask `uses_kernels()`, so their kernel branch runs in both tiers.
"""
import ctypes
import importlib.util
import logging
import os
import platform

import numpy

_log = logging.getLogger("gpunet")

_xp = None
_name = None
_reason = None
_kernels = None


class BackendError(RuntimeError):
    pass


def _probe_cupy():
    """Returns (cupy module or None, reason string)."""
    if importlib.util.find_spec("cupy") is None:
        return None, "CuPy is not installed"
    # Importing CuPy costs ~0.3 s; skip it when no NVIDIA driver library can be loaded at all.
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None, "CuPy is installed but no NVIDIA driver was found (libcuda.so.1 not loadable)"
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return None, "CuPy is installed but no CUDA device is visible"
        index = device_index(count)
        cupy.cuda.Device(index).use()  # one process per GPU: this process's, before anything touches device 0
        cupy.zeros(1, dtype=cupy.float32) + 1  # a device that cannot run a kernel is no device
        return cupy, "CuPy with %d CUDA device(s), using device %d" % (count, index)
    except BackendError:
        raise
    except Exception as e:  # CUDARuntimeError (insufficient driver), ImportError of libs, ...
        return None, "CuPy is installed but unusable: %s: %s" % (type(e).__name__, e)


# the launchers' variables for this process's rank among the processes of its machine
_LOCAL_RANK_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK", "LOCAL_RANK", "SLURM_LOCALID")


def device_index(count, env=None):
    """Which of the `count` visible GPUs this process drives. GPUNET_DEVICE: an index, or a comma-separated
    rank-to-device map indexed by the local rank ("0,2,4,6"); else the launcher's local rank (mpirun, srun,
    torchrun) modulo the visible devices, so one process per GPU needs no setting (CUDA_VISIBLE_DEVICES that
    shows each process one GPU works too); else 0."""
    env = os.environ if env is None else env
    local = next((env[v] for v in _LOCAL_RANK_VARS if env.get(v, "").strip()), None)
    try:
        local = None if local is None else int(local)
    except ValueError:
        raise BackendError("the local rank variable holds %r, not an integer" % local) from None
    spec = env.get("GPUNET_DEVICE", "").strip()
    if spec:
        entries = [e.strip() for e in spec.split(",")]
        if len(entries) > 1 and local is None:
            raise BackendError("GPUNET_DEVICE=%r maps local ranks to devices, but no launcher set a local rank "
                               "(OMPI_COMM_WORLD_LOCAL_RANK, LOCAL_RANK, ...)" % spec)
        pick = entries[0] if len(entries) == 1 else (entries[local] if local < len(entries) else None)
        if pick is None:
            raise BackendError("GPUNET_DEVICE=%r has %d entries, but this process's local rank is %d"
                               % (spec, len(entries), local))
        try:
            index = int(pick)
        except ValueError:
            index = -1
        if not 0 <= index < count:
            raise BackendError("GPUNET_DEVICE=%r names device %r, but %d CUDA device(s) are visible (0..%d)"
                               % (spec, pick, count, count - 1))
        return index
    return 0 if local is None else local % count


def _select():
    global _xp, _name, _reason, _kernels
    forced = os.environ.get("GPUNET_BACKEND", "").strip().lower()
    if forced not in ("", "auto", "numpy", "cupy"):
        raise BackendError("GPUNET_BACKEND=%r: expected 'numpy', 'cupy' or 'auto'" % forced)
    kern = os.environ.get("GPUNET_KERNELS", "").strip().lower()
    if kern not in ("", "auto", "emulate"):
        raise BackendError("GPUNET_KERNELS=%r: expected 'emulate' or 'auto'" % kern)
    if kern == "emulate":
        if forced == "cupy":
            raise BackendError("GPUNET_KERNELS=emulate runs the CUDA kernels on NumPy arrays on the CPU; "
                               "it cannot be combined with GPUNET_BACKEND=cupy")
        _xp, _name, _kernels = numpy, "numpy", "emulate"
        _reason = "forced by GPUNET_KERNELS=emulate (CUDA kernels emulated on the CPU through HIP-CPU)"
        return
    _kernels = None
    if forced == "numpy":
        _xp, _name, _reason = numpy, "numpy", "forced by GPUNET_BACKEND=numpy"
        return
    cupy, why = _probe_cupy()
    if cupy is not None:
        _xp, _name, _kernels = cupy, "cupy", "cuda"
        _reason = why + (" (forced by GPUNET_BACKEND=cupy)" if forced == "cupy" else "")
        return
    if forced == "cupy":
        raise BackendError("GPUNET_BACKEND=cupy but the GPU backend cannot start: " + why)
    _xp, _name, _reason = numpy, "numpy", why + "; using NumPy on the CPU"
    if "not installed" in why:
        _log.info("gpunet: %s", _reason)
    else:  # the user installed CuPy and expects a GPU: say once why it is not used
        _log.warning("gpunet: %s", _reason)


def get_xp():
    """The array module every op uses: numpy or cupy."""
    if _xp is None:
        _select()
        if _xp is numpy:
            tune_malloc()
    return _xp


def name():
    get_xp()
    return _name


def is_gpu():
    return name() == "cupy"


def kernels():
    """Which kernels the ops launch: "cuda" (CuPy), "emulate" (HIP-CPU, NumPy arrays) or None."""
    get_xp()
    return _kernels


def uses_kernels():
    """True when the ops take their kernel branch (kernels/*.cu, on a GPU or emulated)."""
    return kernels() is not None


def to_device(a, dtype=None):
    xp = get_xp()
    return xp.asarray(a, dtype=dtype)


def to_numpy(a):
    if isinstance(a, numpy.ndarray):
        return a
    if _name == "cupy" and type(a).__module__.startswith("cupy"):
        return a.get()
    return numpy.asarray(a)


def pinned_empty(shape, dtype):
    """A host array in page-locked memory (CuPy): the target of an asynchronous device-to-host copy."""
    import cupyx
    return cupyx.empty_pinned(shape, dtype)


def info():
    """A dict describing the backend in use and why it was chosen."""
    xp = get_xp()
    d = {"backend": _name, "reason": _reason, "numpy": numpy.__version__,
         "kernels": {"cuda": "kernels/*.cu through CuPy", "emulate": "kernels/*.cu emulated on the CPU (HIP-CPU)",
                     None: "none (NumPy array ops)"}[_kernels]}
    if _name == "cupy":
        dev = xp.cuda.Device()
        props = xp.cuda.runtime.getDeviceProperties(dev.id)
        free, total = dev.mem_info
        d.update({
            "cupy": xp.__version__,
            "device": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
            "compute_capability": dev.compute_capability,
            "memory_total_gib": round(total / 2**30, 2),
            "memory_free_gib": round(free / 2**30, 2),
            "cuda_runtime": xp.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": xp.cuda.runtime.driverGetVersion(),
        })
    return d


def _reset_for_tests():
    global _xp, _name, _reason, _kernels
    _xp = _name = _reason = _kernels = None


def _state():
    return _xp, _name, _reason, _kernels


def _set_state(state):
    """Tests switch tiers within one process (the emulated tier on a GPU machine): set, then restore."""
    global _xp, _name, _reason, _kernels
    _xp, _name, _reason, _kernels = state


def erf(x):
    """Elementwise erf (NumPy has none; exact gelu needs it)."""
    xp = get_xp()
    if xp is numpy:
        import math
        return numpy.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype, copy=False)
    from cupyx.scipy.special import erf as cupy_erf
    return cupy_erf(x)


# keras.backend names that scripts use
def clear_session():
    from .common.naming import clear_session as _clear
    _clear()


def backend():
    """The array library in use, "numpy" or "cupy" (Keras names its framework here; a script that
    branches on "jax"/"torch"/"tensorflow" takes its generic path)."""
    return name()


# ---- settings keras.config and keras.backend share (config.py re-exports them) ----

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def floatx():
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError("Unknown floatx %r: expected float16, bfloat16, float32 or float64" % (value,))
    _FLOATX = value


def epsilon():
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """gpunet's image layers are channels_last; "channels_first" is refused rather than ignored."""
    global _IMAGE_DATA_FORMAT
    if data_format != "channels_last":
        raise ValueError("gpunet supports image_data_format 'channels_last' only, received %r" % (data_format,))
    _IMAGE_DATA_FORMAT = data_format


def is_keras_tensor(x):
    """Whether x is a symbolic tensor (ops/symbolic.py's KerasTensor marks itself; the backend imports no op)."""
    return getattr(type(x), "_is_keras_tensor", False) is True


def standardize_dtype(dtype):
    import numpy as np
    return str(np.dtype(getattr(dtype, "name", dtype)))


def result_type(*dtypes):
    import numpy as np
    return str(np.result_type(*[np.dtype(standardize_dtype(d)) for d in dtypes]))


def is_float_dtype(dtype):
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    return standardize_dtype(dtype).startswith(("int", "uint"))


def get_uid(prefix=""):
    """1, 2, 3, ... per prefix: Keras's counter, the one automatic layer names use, reset by clear_session (AutoKeras
    names its blocks with it and clears the session between builds to get the same names again)."""
    from .common import naming
    return naming.get_uid(prefix)


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
            libc = ctypes.CDLL("libc.so.6")
            M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
            ok = bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit
                      and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_TOP_PAD, 64 << 20))
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
            ok = False
    _malloc_tuned.append(ok)
    return ok


# ---- Keras's backend helpers that libraries import from keras.src.backend ----

def standardize_shape(shape):
    """A shape as a tuple of ints >= 0 and Nones (Keras's rules: no None shape, no str or float dimension)."""
    if shape is None:
        raise ValueError("Undefined shapes are not supported.")
    if not hasattr(shape, "__iter__"):
        raise ValueError("Cannot convert '%s' to a shape." % (shape,))
    out = []
    for d in shape:
        if d is None:
            out.append(None)
            continue
        if isinstance(d, (str, float)):
            raise ValueError("Cannot convert '%s' to a shape. Found invalid dimension '%s' of type '%s'."
                             % (shape, d, type(d)))
        try:
            d = int(d)
        except Exception as e:
            raise ValueError("Cannot convert '%s' to a shape. Found invalid dimension '%s' of type '%s'."
                             % (shape, d, type(d))) from e
        if d < 0:
            raise ValueError("Cannot convert '%s' to a shape. Negative dimensions are not allowed." % (shape,))
        out.append(d)
    return tuple(out)


# Keras's mask metadata lives on the tensor (`_keras_mask`, which gpunet's Tensor and KerasTensor carry); an array
# that takes no attributes (a NumPy array) keeps it here, by id, until the array is collected.
_masks = {}


def set_keras_mask(x, mask):
    """Sets (or, with None, clears) the mask Keras layers read from x."""
    try:
        x._keras_mask = mask
        return
    except AttributeError:
        pass
    import weakref
    if mask is None:
        _masks.pop(id(x), None)
        return
    if id(x) not in _masks:
        weakref.finalize(x, _masks.pop, id(x), None)
    _masks[id(x)] = mask


def get_keras_mask(x):
    """The mask set on x, or None."""
    if hasattr(x, "_keras_mask"):
        return x._keras_mask
    return _masks.get(id(x))
