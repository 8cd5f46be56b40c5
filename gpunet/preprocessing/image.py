"""`keras.preprocessing.image`: loading, saving and converting images, and smart_resize."""
from ..utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", backend_module=None):
    """Keras's smart_resize: the largest centred window of the target's aspect ratio, resized to `size` (an image
    (H, W, C) or a batch); a NumPy array in, a NumPy array out."""
    import numpy as np

    from .. import backend, ops
    if backend_module is not None:
        raise ValueError("smart_resize: backend_module is a Keras-internal argument gpunet does not take, received %r"
                         % (backend_module,))
    if len(size) != 2:
        raise ValueError("Expected `size` to be a tuple of 2 integers, but got: %r." % (size,))
    arr = np.asarray(x)
    if arr.ndim not in (3, 4):
        raise ValueError("Expected an image array with shape `(height, width, channels)`, or `(batch_size, height, "
                         "width, channels)`, but got input with incorrect rank, of shape %s." % (arr.shape,))
    if data_format == "channels_first":
        arr = np.moveaxis(arr, -3, -1)
    out = ops.image.resize(arr.astype("float32") if arr.dtype.kind != "f" else arr, tuple(size),
                           interpolation=interpolation, crop_to_aspect_ratio=True)
    out = np.asarray(backend.to_numpy(out.data))
    return np.moveaxis(out, -1, -3) if data_format == "channels_first" else out
