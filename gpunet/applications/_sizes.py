"""Small helpers the MobileNet and EfficientNet families share."""
from .. import backend


def make_divisible(v, divisor, min_value=None):
    """v rounded to the nearest multiple of divisor, never below 90% of v (the MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def channel_axis():
    return 1 if backend.image_data_format() == "channels_first" else -1


def square_size(shape, choices, fallback=224, offset=0):
    """The input's side when it is square and one of `choices` (the sizes weights exist for), else fallback."""
    if shape is None:
        return fallback
    first = backend.image_data_format() == "channels_first"
    rows, cols = (shape[1 + offset], shape[2 + offset]) if first else (shape[0 + offset], shape[1 + offset])
    return rows if rows == cols and rows in choices else fallback
