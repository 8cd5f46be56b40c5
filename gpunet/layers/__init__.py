from .base import KerasTensor, Layer  # noqa: F401
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape  # noqa: F401
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, concatenate  # noqa: F401
