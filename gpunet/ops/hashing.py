"""Hashing a batch of strings for keras.layers.Hashing: FarmHash Fingerprint64 (no salt) or SipHash-2-4 keyed
by the salt, through kernels/cpu_hash.c where a C compiler built it, else gpunet/common/hashing.py (the pure
Python reference the kernel is tested against; 10-50x slower). Host-only: strings never go to the device."""
import numpy as np

from ..common import hashing
from ..kernels import cpu

_MASK = (1 << 64) - 1


def hash_bytes(items, salt=None, use_kernel=True):
    """uint64 array of the hashes of `items` (a list of bytes); salt: None or (k0, k1)."""
    n = len(items)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    lib = cpu.hash_library() if use_kernel else None
    if lib is None:
        if salt is None:
            out[:] = [hashing.fingerprint64(s) for s in items]
        else:
            k0, k1 = salt[0] & _MASK, salt[1] & _MASK
            out[:] = [hashing.siphash24(s, k0, k1) for s in items]
        return out
    lengths = np.fromiter((len(s) for s in items), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(items), dtype=np.uint8) if offsets[-1] else np.zeros(1, dtype=np.uint8)
    data = np.ascontiguousarray(data)
    if salt is None:
        lib.fingerprint64_batch(data.ctypes.data, offsets.ctypes.data, n, out.ctypes.data)
    else:
        lib.siphash24_batch(data.ctypes.data, offsets.ctypes.data, n, salt[0] & _MASK, salt[1] & _MASK,
                            out.ctypes.data)
    return out
