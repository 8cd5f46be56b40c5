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


_TRACEBACK_FILTERING = True
_INTERACTIVE_LOGGING = True
_IMAGE_DATA_FORMAT = "channels_last"


def backend():
    """The array backend in use: "numpy" or "cupy" (Keras answers with its backend's name)."""
    from . import backend as b
    return b.name() if hasattr(b, "name") else ("cupy" if b.get_xp().__name__ == "cupy" else "numpy")


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


def image_data_format():
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """gpunet's image layers are channels_last; "channels_first" is refused rather than ignored."""
    global _IMAGE_DATA_FORMAT
    if data_format != "channels_last":
        raise ValueError("gpunet supports image_data_format 'channels_last' only, received %r" % (data_format,))
    _IMAGE_DATA_FORMAT = data_format


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
    from .saving import safety
    safety.enable_unsafe_deserialization()
