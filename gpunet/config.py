"""Global numeric settings, named as in `keras.config`."""
_FLOATX = "float32"
_EPSILON = 1e-7
_MATMUL_PRECISION = "float32"


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


def matmul_precision():
    return _MATMUL_PRECISION


def set_matmul_precision(value):
    """'float32' (exact, default) or 'tf32' (tensor cores on the GPU kernels; no effect on NumPy)."""
    global _MATMUL_PRECISION
    if value not in ("float32", "tf32"):
        raise ValueError("matmul precision must be 'float32' or 'tf32', got %r" % (value,))
    _MATMUL_PRECISION = value
