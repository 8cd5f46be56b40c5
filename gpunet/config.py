"""Global settings, named as in `keras.config`. floatx, epsilon and the image data format live with the
backend (backend.py, as in Keras) and are the same functions here."""
from . import backend as _backend
from .backend import (epsilon, floatx, image_data_format, set_epsilon, set_floatx,  # noqa: F401
                      set_image_data_format)


_MATMUL_PRECISION = "float32"


def matmul_precision():
    return _MATMUL_PRECISION


def set_matmul_precision(value):
    """'float32' (exact, default) or 'tf32' (tensor cores on the GPU kernels; no effect on NumPy)."""
    global _MATMUL_PRECISION
    if value not in ("float32", "tf32"):
        raise ValueError("matmul precision must be 'float32' or 'tf32', got %r" % (value,))
    _MATMUL_PRECISION = value


_TRACEBACK_FILTERING = True
_INTERACTIVE_LOGGING = True


def backend():
    """The array backend in use: "numpy" or "cupy" (Keras answers with its backend's name)."""
    return _backend.name()


def enable_traceback_filtering():
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering():
    """Accepted for Keras scripts; gpunet never filters tracebacks, so there is nothing to turn off."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled():
    return _TRACEBACK_FILTERING


def enable_interactive_logging():
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = True


def disable_interactive_logging():
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = False


def is_interactive_logging_enabled():
    return _INTERACTIVE_LOGGING


_MAX_EPOCHS = None
_MAX_STEPS_PER_EPOCH = None


def set_max_epochs(max_epochs):
    """Caps the epochs of every fit() (Keras uses it to shorten example runs); None removes the cap."""
    global _MAX_EPOCHS
    _MAX_EPOCHS = None if max_epochs is None else int(max_epochs)


def max_epochs():
    return _MAX_EPOCHS


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Caps the batches of every epoch of fit() (and of evaluate/predict), as Keras does."""
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = None if max_steps_per_epoch is None else int(max_steps_per_epoch)


def max_steps_per_epoch():
    return _MAX_STEPS_PER_EPOCH


def enable_unsafe_deserialization():
    """Lets every later load run Python lambdas saved as bytecode in a file (a `Lambda` layer's function), as
    `safe_mode=False` does for one load. Only for files you trust: bytecode is code (Keras's switch)."""
    from .common import registry
    registry.enable_unsafe_deserialization()


def set_num_threads(n):
    """How many CPU threads an op large enough for several gets (a GEMM of at least 1 M multiply-adds, a
    convolution's chunks), in place of the automatic count (this process's cores that no other process keeps
    busy); None returns to it. Smaller ops keep one thread. Keras has no such setting (TensorFlow has
    `tf.config.threading.set_intra_op_parallelism_threads`, PyTorch `torch.set_num_threads`); a fixed count also
    makes CPU results repeatable run to run. GPUNET_CPU_THREADS sets it for a whole run."""
    import numbers
    from .common import threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError("set_num_threads(n) must be a positive integer or None, received %r" % (n,))
    threads.policy().user = None if n is None else int(n)


def get_num_threads():
    """The thread count a large op gets now: the user's setting, else the free cores this process may use."""
    from .common import threads
    return threads.policy().large()
