"""keras.applications: the image classification architectures Keras ships, with Keras's arguments, layer names and
weight files (weights="imagenet" downloads Keras's published file through get_file, hash-checked, into
~/.keras/models), each module with its preprocess_input and decode_predictions."""
from . import imagenet_utils, resnet, resnet50, resnet_v2, vgg16, vgg19  # noqa: F401
from .resnet import ResNet50, ResNet101, ResNet152  # noqa: F401
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2  # noqa: F401
from .vgg16 import VGG16  # noqa: F401
from .vgg19 import VGG19  # noqa: F401
