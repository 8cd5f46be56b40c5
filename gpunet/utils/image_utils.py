"""keras.utils image helpers that need no image library (arrays in, arrays out); the ones that
read or write image files need Pillow, as in Keras."""
import numpy as np

from .. import config


def img_to_array(img, data_format=None, dtype=None):
    """An image (a PIL image, or anything array-like) as a float array (H, W, C), channels last."""
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("Unknown data_format: %r" % (data_format,))
    x = np.asarray(img, dtype=dtype or config.floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError("Unsupported image shape: %s" % (x.shape,))
    return np.transpose(x, (2, 0, 1)) if data_format == "channels_first" else x


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("This function needs Pillow (pip install pillow), as in Keras") from e
    return Image


def array_to_img(x, data_format=None, scale=True, dtype=None):
    Image = _pil()
    x = np.asarray(x, dtype=dtype or config.floatx())
    if x.ndim != 3:
        raise ValueError("Expected image array to have rank 3 (single image). Got array with shape: %s" % (x.shape,))
    if (data_format or "channels_last") == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - x.min()
        m = x.max()
        if m:
            x = x / m
        x = x * 255
    x = x.astype("uint8")
    return Image.fromarray(x[:, :, 0] if x.shape[2] == 1 else x)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    Image = _pil()
    img = Image.open(path)
    img = img.convert({"grayscale": "L", "rgba": "RGBA", "rgb": "RGB"}[color_mode])
    if target_size is not None and img.size != (target_size[1], target_size[0]):
        img = img.resize((target_size[1], target_size[0]), getattr(Image, interpolation.upper()))
    return img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    array_to_img(x, data_format=data_format, scale=scale).save(path, format=file_format, **kwargs)
