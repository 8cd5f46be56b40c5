"""Xception (keras.applications.xception): entry, middle (8 blocks) and exit flows of separable convolutions with
residual 1x1 shortcuts; Keras's names (its shortcut layers are unnamed and take the automatic ones); "tf"
preprocessing; inputs of at least 71 pixels."""
from .. import layers
from . import imagenet_utils
from ._sizes import channel_axis

BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def _sep(x, filters, name, ax, act_name=None):
    """[ReLU named act_name], SeparableConv2D 3x3, BatchNormalization."""
    if act_name:
        x = layers.Activation("relu", name=act_name)(x)
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=ax, name=name + "_bn")(x)


def _shortcut(x, filters, ax):
    r = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return layers.BatchNormalization(axis=ax)(r)


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception"):
    """Instantiates the Xception architecture (Keras's arguments and layer names)."""
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  299, 71)
    ax = channel_axis()
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.Activation("relu", name="block1_conv1_act")(layers.BatchNormalization(axis=ax,
                                                                                     name="block1_conv1_bn")(x))
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(layers.BatchNormalization(axis=ax,
                                                                                     name="block1_conv2_bn")(x))
    for block, filters in ((2, 128), (3, 256), (4, 728)):  # entry flow
        residual = _shortcut(x, filters, ax)
        p = "block%d_" % block
        x = _sep(x, filters, p + "sepconv1", ax, None if block == 2 else p + "sepconv1_act")
        x = _sep(x, filters, p + "sepconv2", ax, p + "sepconv2_act")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=p + "pool")(x)
        x = layers.add([x, residual])
    for i in range(8):  # middle flow
        residual, p = x, "block%d_" % (i + 5)
        for j in (1, 2, 3):
            x = _sep(x, 728, p + "sepconv%d" % j, ax, p + "sepconv%d_act" % j)
        x = layers.add([x, residual])
    residual = _shortcut(x, 1024, ax)  # exit flow
    x = _sep(x, 728, "block13_sepconv1", ax, "block13_sepconv1_act")
    x = _sep(x, 1024, "block13_sepconv2", ax, "block13_sepconv2_act")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
    x = layers.add([x, residual])
    x = layers.Activation("relu", name="block14_sepconv1_act")(_sep(x, 1536, "block14_sepconv1", ax))
    x = layers.Activation("relu", name="block14_sepconv2_act")(_sep(x, 2048, "block14_sepconv2", ax))
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights)
    file_name = "xception_weights_tf_dim_ordering_tf_kernels%s.h5" % ("" if include_top else "_notop")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, BASE + file_name,
                                 HASHES[0 if include_top else 1])


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")
