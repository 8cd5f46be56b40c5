from .base import KerasTensor, Layer  # noqa: F401
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape  # noqa: F401
