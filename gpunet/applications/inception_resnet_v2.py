"""InceptionResNetV2 (keras.applications.inception_resnet_v2): Keras's layer names, with its CustomScaleLayer
(x + scale * residual) so saved configs name the same class; "tf" preprocessing; inputs of at least 75 pixels."""
from .. import backend, layers, ops
from ..common import registry
from . import imagenet_utils

BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
HASHES = ("e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4")


class CustomScaleLayer(layers.Layer):
    """inputs[0] + inputs[1] * scale: the scaled residual of an Inception-ResNet block."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config

    def call(self, inputs):
        return ops.add(inputs[0], ops.multiply(inputs[1], self.scale))


registry.register_builtin_layers({"CustomScaleLayer": CustomScaleLayer})


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        axis = 1 if backend.image_data_format() == "channels_first" else 3
        x = layers.BatchNormalization(axis=axis, scale=False, name=None if name is None else name + "_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else name + "_ac")(x)
    return x


def _chain(x, convs):
    for c in convs:  # (filters, kernel[, strides, padding])
        x = conv2d_bn(x, c[0], c[1], strides=c[2] if len(c) > 2 else 1, padding=c[3] if len(c) > 3 else "same")
    return x


_BRANCHES = {"block35": [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]],
             "block17": [[(192, 1)], [(128, 1), (160, [1, 7]), (192, [7, 1])]],
             "block8": [[(192, 1)], [(192, 1), (224, [1, 3]), (256, [3, 1])]]}


def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
    if block_type not in _BRANCHES:
        raise ValueError('Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", but got: %s'
                         % (block_type,))
    branches = [_chain(x, b) for b in _BRANCHES[block_type]]
    block_name = "%s_%d" % (block_type, block_idx)
    axis = 1 if backend.image_data_format() == "channels_first" else 3
    mixed = layers.Concatenate(axis=axis, name=block_name + "_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[axis], 1, activation=None, use_bias=True, name=block_name + "_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=block_name + "_ac")(x)
    return x


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="inception_resnet_v2"):
    """Instantiates the Inception-ResNet v2 architecture (Keras's arguments and layer names)."""
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  299, 75)
    ax = 1 if backend.image_data_format() == "channels_first" else 3
    x = _chain(img_input, [(32, 3, 2, "valid"), (32, 3, 1, "valid"), (64, 3)])
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _chain(x, [(80, 1, 1, "valid"), (192, 3, 1, "valid")])
    x = layers.MaxPooling2D(3, strides=2)(x)
    b = [conv2d_bn(x, 96, 1), _chain(x, [(48, 1), (64, 5)]), _chain(x, [(64, 1), (96, 3), (96, 3)]),
         conv2d_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)]
    x = layers.Concatenate(axis=ax, name="mixed_5b")(b)
    for i in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=i)
    b = [conv2d_bn(x, 384, 3, strides=2, padding="valid"), _chain(x, [(256, 1), (256, 3), (384, 3, 2, "valid")]),
         layers.MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = layers.Concatenate(axis=ax, name="mixed_6a")(b)
    for i in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=i)
    b = [_chain(x, [(256, 1), (384, 3, 2, "valid")]), _chain(x, [(256, 1), (288, 3, 2, "valid")]),
         _chain(x, [(256, 1), (288, 3), (320, 3, 2, "valid")]), layers.MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = layers.Concatenate(axis=ax, name="mixed_7a")(b)
    for i in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=i)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights)
    file_name = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels%s.h5" % ("" if include_top else "_notop")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, BASE_WEIGHT_URL + file_name,
                                 HASHES[0 if include_top else 1])


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")
