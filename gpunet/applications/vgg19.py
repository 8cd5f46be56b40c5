"""VGG19 (keras.applications.vgg19): Keras's layer names and weight files; caffe preprocessing."""
from .vgg16 import decode_predictions, preprocess_input, vgg  # noqa: F401


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """Instantiates the VGG19 model (Keras's arguments and layer names)."""
    return vgg((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)
