"""What every launcher shares: a Launch (a kernel with its grid, block and arguments fixed), the typed
scalars and checked arrays kernels take, and the output buffers they write.

CuPy passes a Python float as double and an int as 64-bit, so every scalar goes through
numpy.float32 / numpy.int32 here, and every array is checked for dtype and C-contiguity."""
import math

import numpy as np

from .. import backend
from .build import fn

ACT_CODES = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "gelu_approximate": 5}
TILE = 64                   # each dense block computes a 64×64 output tile (kernels/dense.cu)
INT_MAX = 2**31 - 1         # sizes are passed as `int`
# row tiles go on gridDim.x (up to 2^31 - 1); column tiles on gridDim.y, which CUDA caps at 65535
MAX_COLS = 65535 * TILE


def _tiles(n):
    return max(1, -(-n // TILE))  # at least one block: a zero grid is a launch error, an empty batch is not


class Launch:
    """One kernel launch with everything fixed: the kernel, grid, block and arguments. The eager ops build
    one and run it at once; a step program (gpunet/training/gpu_step.py) builds its list once and runs the
    same objects every step (or captures them as a CUDA graph), so a step does no argument work at all."""
    __slots__ = ("file", "name", "kernel", "grid", "block", "args")

    def __init__(self, file, name, grid, block, args):
        self.file, self.name = file, name
        self.kernel = fn(file, name)
        self.grid, self.block, self.args = tuple(grid), tuple(block), tuple(args)

    def __call__(self):
        self.kernel(self.grid, self.block, self.args)

    def __repr__(self):
        return "Launch(%s, grid=%s, block=%s)" % (self.name, self.grid, self.block)


def _f32(x):
    return np.float32(x)


def _i32(x):
    return np.int32(x)


def _c32(a, what):
    """A C-contiguous float32 device array, or a clear error."""
    xp = backend.get_xp()
    if a.dtype != np.float32:
        raise TypeError("GPU kernels run in float32; %s has dtype %s" % (what, a.dtype))
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def _grid(n, per):
    return (max(1, math.ceil(n / per)),)


def _empty(shape, dtype=np.float32):
    """An output buffer. Emulated, it is poisoned (NaN, or -1 for integers) so that an element a
    kernel fails to write shows up in a test instead of passing as leftover memory."""
    xp = backend.get_xp()
    if backend.kernels() == "emulate":
        return xp.full(shape, np.nan if np.dtype(dtype).kind == "f" else -1, dtype=dtype)
    return xp.empty(shape, dtype=dtype)


def stores_z(activation):
    """Whether a fused GEMM + activation keeps the pre-activation: gelu's derivative needs it."""
    return activation in ("gelu", "gelu_approximate")


# channels_first ops are transposed to channels_last on the device, in and out (conv, pool)
def _xp():
    return backend.get_xp()


def _last(a, fmt):
    return a if fmt == "channels_last" else _xp().moveaxis(a, 1, -1)


def _first(a, fmt):
    return a if fmt == "channels_last" else _xp().ascontiguousarray(_xp().moveaxis(a, -1, 1))


def _fits(*shapes):
    return all(int(np.prod(s)) <= INT_MAX for s in shapes)
