from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from .base import InputSpec, KerasTensor, Layer  # noqa: F401
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape  # noqa: F401
from .merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,  # noqa: F401
                    concatenate, dot, maximum, minimum, multiply, subtract)
from .misc import (ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise, Identity,  # noqa: F401
                   Lambda, LayerNormalization, Normalization, Permute, RepeatVector, RMSNormalization,
                   UnitNormalization)
from .preprocessing import (CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,  # noqa: F401
                            RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing)


def serialize(layer):
    from ..saving.serialization import serialize_layer
    return serialize_layer(layer)


def deserialize(config, custom_objects=None):
    from ..saving.serialization import deserialize_layer
    return deserialize_layer(config, custom_objects)
