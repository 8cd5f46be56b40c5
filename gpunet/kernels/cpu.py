"""kernels/cpu_optim.c, compiled once per machine with the system C compiler and loaded with ctypes.

The CPU twin of the launchers of kernels/optim.cu (optim.py): the fused optimizer updates in one pass instead of a dozen
NumPy array passes. Built with -O3 -march=native -ffp-contract=off (vectorised, but with the same
roundings as the NumPy reference path, so results are bit-identical) into
$GPUNET_HOME/cache/cpu (default ~/.gpunet/cache/cpu), keyed by the source, the compiler and the
CPU. No compiler, a failed build, or GPUNET_CPU_KERNELS=0: None, and the NumPy path runs."""
import ctypes
import logging
import os
import shutil

import numpy as np

from . import native

_log = logging.getLogger("gpunet")
_lib = []  # [] not tried yet, [None] unavailable, [CDLL]


def _source_path():
    from .build import kernel_dir
    return kernel_dir() / "cpu_optim.c"


def cache_dir():
    return native.cache_dir("cpu")


def _build(src, cc):
    flags = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC"]
    key = src.read_text() + cc + " ".join(flags) + native.cpu_id()
    return native.build("cpu", "cpu_optim", key, lambda out: [cc, *flags, "-o", out, str(src), "-lm"], timeout=120)


def library():
    if _lib:
        return _lib[0]
    lib = None
    if os.environ.get("GPUNET_CPU_KERNELS", "1") != "0":
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        src = _source_path()
        if cc and src.is_file():
            try:
                lib = ctypes.CDLL(_build(src, cc))
                _declare(lib)
            except Exception as e:
                _log.info("gpunet: CPU optimizer kernel unavailable (%s); using NumPy array ops", e)
                lib = None
    _lib.append(lib)
    return lib


def _declare(lib):
    P, L, F, I = ctypes.c_void_p, ctypes.c_long, ctypes.c_float, ctypes.c_int
    lib.adam_update.argtypes = [P, P, P, P, P, L, F, F, F, F, F, I]
    lib.sgd_update.argtypes = [P, P, P, L, F, F, I, F]
    lib.rmsprop_update.argtypes = [P, P, P, P, P, L, F, F, F, F, F, I, F]
    U = ctypes.c_uint32
    lib.philox_dropout_mask.argtypes = [P, L, U, U, U, F, F]
    for f in (lib.adam_update, lib.sgd_update, lib.rmsprop_update, lib.philox_dropout_mask):
        f.restype = None


def ptr(a):
    if a is None:
        return None
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        raise TypeError("CPU optimizer kernel needs contiguous float32 arrays, got %s" % a.dtype)
    return a.ctypes.data


def _reset_for_tests():
    del _lib[:]
    del _conv_lib[:]
    del _rnn_lib[:]
    del _hash_lib[:]


_conv_lib = []  # as _lib, for kernels/cpu_conv.c


def _c_library(cache, name, declare, what):
    """kernels/<name>.c built once with the system compiler and loaded, `declare` giving its prototypes;
    None (and one log line) without a compiler, on a failed build, or with GPUNET_CPU_KERNELS=0 — the
    NumPy path then runs, with the same results."""
    if cache:
        return cache[0]
    lib = None
    from .build import kernel_dir
    src = kernel_dir() / (name + ".c")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if os.environ.get("GPUNET_CPU_KERNELS", "1") != "0" and cc and src.is_file():
        flags = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC"]
        try:
            lib = ctypes.CDLL(native.build("cpu", name, src.read_text() + cc + " ".join(flags) + native.cpu_id(),
                                           lambda out: [cc, *flags, "-o", out, str(src), "-lm"], timeout=120))
            for f in declare(lib, ctypes.c_void_p, ctypes.c_int):
                f.restype = None
        except Exception as e:
            _log.info("gpunet: CPU %s kernels unavailable (%s); using NumPy array ops", what, e)
            lib = None
    cache.append(lib)
    return lib


def _declare_conv(lib, P, I):
    lib.bias_act.argtypes = [P, P, ctypes.c_longlong, I, I]
    lib.relu_grad.argtypes = [P, P, P, ctypes.c_longlong]
    lib.conv_direct.argtypes = [P, P, P, P, I, I] + [I] * 14
    lib.conv_direct_max_pool2.argtypes = [P, P, P, P, P, I, I] + [I] * 14
    lib.im2col.argtypes = lib.col2im.argtypes = [P, P] + [I] * 14
    lib.max_pool_values.argtypes = [P, P] + [I] * 12
    lib.max_pool_forward.argtypes = lib.max_pool_backward.argtypes = [P, P, P] + [I] * 12
    return (lib.bias_act, lib.relu_grad, lib.conv_direct, lib.conv_direct_max_pool2, lib.im2col, lib.col2im,
            lib.max_pool_values, lib.max_pool_forward, lib.max_pool_backward)


def conv_library():
    """kernels/cpu_conv.c (bias + activation, relu gradient, im2col, max pooling), or None."""
    return _c_library(_conv_lib, "cpu_conv", _declare_conv, "convolution")


_rnn_lib = []  # as _lib, for kernels/cpu_rnn.c


def _declare_rnn(lib, P, I):
    lib.lstm_fwd.argtypes = [P] * 8 + [I] * 4
    lib.lstm_bwd.argtypes = [P] * 9 + [I] * 4
    lib.gru_fwd.argtypes = [P] * 7 + [I] * 4
    lib.gru_bwd.argtypes = [P] * 9 + [I] * 4
    lib.simple_fwd.argtypes = [P] * 5 + [I] * 3
    lib.simple_bwd.argtypes = [P] * 6 + [I] * 3
    return (lib.lstm_fwd, lib.lstm_bwd, lib.gru_fwd, lib.gru_bwd, lib.simple_fwd, lib.simple_bwd)


def rnn_library():
    """kernels/cpu_rnn.c (the fused LSTM/GRU/SimpleRNN cell passes of ops/rnn.py), or None."""
    return _c_library(_rnn_lib, "cpu_rnn", _declare_rnn, "recurrent")


_hash_lib = []  # as _lib, for kernels/cpu_hash.c


def _declare_hash(lib, P, I):
    L, U = ctypes.c_longlong, ctypes.c_uint64
    lib.fingerprint64_batch.argtypes = [P, P, L, P]
    lib.siphash24_batch.argtypes = [P, P, L, U, U, P]
    return (lib.fingerprint64_batch, lib.siphash24_batch)


def hash_library():
    """kernels/cpu_hash.c (FarmHash Fingerprint64 and SipHash-2-4 over a batch of strings), or None."""
    return _c_library(_hash_lib, "cpu_hash", _declare_hash, "string hash")
