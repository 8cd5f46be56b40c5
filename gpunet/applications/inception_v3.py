"""InceptionV3 (keras.applications.inception_v3): Keras's layer names (its conv-bn-relu units are unnamed and take
the automatic names, so they are made in Keras's order); "tf" preprocessing; inputs of at least 75 pixels."""
from .. import backend, layers
from . import imagenet_utils

BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
HASHES = ("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63")


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    axis = 1 if backend.image_data_format() == "channels_first" else 3
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False,
                      name=None if name is None else name + "_conv")(x)
    x = layers.BatchNormalization(axis=axis, scale=False, name=None if name is None else name + "_bn")(x)
    return layers.Activation("relu", name=name)(x)


def _chain(x, convs):
    """conv2d_bn units one after the other: (filters, rows, cols[, strides, padding])."""
    for c in convs:
        x = conv2d_bn(x, c[0], c[1], c[2], strides=c[3] if len(c) > 3 else (1, 1),
                      padding=c[4] if len(c) > 4 else "same")
    return x


def _avg_branch(x, filters):
    return conv2d_bn(layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="inception_v3"):
    """Instantiates the Inception v3 architecture (Keras's arguments and layer names)."""
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  299, 75)
    ax = 1 if backend.image_data_format() == "channels_first" else 3
    s2 = (2, 2)
    x = _chain(img_input, [(32, 3, 3, s2, "valid"), (32, 3, 3, (1, 1), "valid"), (64, 3, 3)])
    x = layers.MaxPooling2D((3, 3), strides=s2)(x)
    x = _chain(x, [(80, 1, 1, (1, 1), "valid"), (192, 3, 3, (1, 1), "valid")])
    x = layers.MaxPooling2D((3, 3), strides=s2)(x)
    for i, pool_filters in enumerate((32, 64, 64)):  # mixed 0-2: 35 x 35 x 256/288
        b1 = conv2d_bn(x, 64, 1, 1)
        b5 = _chain(x, [(48, 1, 1), (64, 5, 5)])
        b3 = _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3)])
        x = layers.concatenate([b1, b5, b3, _avg_branch(x, pool_filters)], axis=ax, name="mixed%d" % i)
    b3 = conv2d_bn(x, 384, 3, 3, strides=s2, padding="valid")  # mixed 3: 17 x 17 x 768
    b3d = _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3, s2, "valid")])
    x = layers.concatenate([b3, b3d, layers.MaxPooling2D((3, 3), strides=s2)(x)], axis=ax, name="mixed3")
    for i, f in enumerate((128, 160, 160, 192)):  # mixed 4-7
        b1 = conv2d_bn(x, 192, 1, 1)
        b7 = _chain(x, [(f, 1, 1), (f, 1, 7), (192, 7, 1)])
        b7d = _chain(x, [(f, 1, 1), (f, 7, 1), (f, 1, 7), (f, 7, 1), (192, 1, 7)])
        x = layers.concatenate([b1, b7, b7d, _avg_branch(x, 192)], axis=ax, name="mixed%d" % (4 + i))
    b3 = _chain(x, [(192, 1, 1), (320, 3, 3, s2, "valid")])  # mixed 8: 8 x 8 x 1280
    b7 = _chain(x, [(192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, s2, "valid")])
    x = layers.concatenate([b3, b7, layers.MaxPooling2D((3, 3), strides=s2)(x)], axis=ax, name="mixed8")
    for i in range(2):  # mixed 9-10: 8 x 8 x 2048
        b1 = conv2d_bn(x, 320, 1, 1)
        b3 = conv2d_bn(x, 384, 1, 1)
        b3 = layers.concatenate([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], axis=ax, name="mixed9_%d" % i)
        b3d = _chain(x, [(448, 1, 1), (384, 3, 3)])
        b3d = layers.concatenate([conv2d_bn(b3d, 384, 1, 3), conv2d_bn(b3d, 384, 3, 1)], axis=ax)
        x = layers.concatenate([b1, b3, b3d, _avg_branch(x, 192)], axis=ax, name="mixed%d" % (9 + i))
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights)
    file_name = "inception_v3_weights_tf_dim_ordering_tf_kernels%s.h5" % ("" if include_top else "_notop")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, BASE + file_name,
                                 HASHES[0 if include_top else 1])


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")
