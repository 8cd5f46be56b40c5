"""DenseNet121/169/201 (keras.applications.densenet): dense blocks of concatenated 32-channel growth, transition
blocks halving the channels; Keras's names and weight files; "torch" preprocessing."""
from .. import backend, layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
WEIGHTS_HASHES = {  # (with top, without top)
    (6, 12, 24, 16): ("densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    (6, 12, 32, 32): ("densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    (6, 12, 48, 32): ("densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def _bn(name):
    return layers.BatchNormalization(axis=3 if backend.image_data_format() == "channels_last" else 1,
                                     epsilon=1.001e-5, name=name)


def dense_block(x, blocks, name):
    for i in range(blocks):
        x = conv_block(x, 32, name="%s_block%d" % (name, i + 1))
    return x


def transition_block(x, reduction, name):
    axis = 3 if backend.image_data_format() == "channels_last" else 1
    x = layers.Activation("relu", name=name + "_relu")(_bn(name + "_bn")(x))
    x = layers.Conv2D(int(x.shape[axis] * reduction), 1, use_bias=False, name=name + "_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=name + "_pool")(x)


def conv_block(x, growth_rate, name):
    axis = 3 if backend.image_data_format() == "channels_last" else 1
    y = layers.Activation("relu", name=name + "_0_relu")(_bn(name + "_0_bn")(x))
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=name + "_1_conv")(y)
    y = layers.Activation("relu", name=name + "_1_relu")(_bn(name + "_1_bn")(y))
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=name + "_2_conv")(y)
    return layers.Concatenate(axis=axis, name=name + "_concat")([x, y])


def DenseNet(blocks, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="densenet"):
    if backend.image_data_format() == "channels_first":
        raise ValueError("DenseNet does not support the `channels_first` image data format. Switch to "
                         "`channels_last` by editing your local config file at ~/.keras/keras.json")
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  224, 32)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, n in enumerate(blocks):
        x = dense_block(x, n, name="conv%d" % (i + 2))
        if i < 3:
            x = transition_block(x, 0.5, name="pool%d" % (i + 2))
    x = layers.Activation("relu", name="relu")(_bn("bn")(x))
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights,
                                  pool_names=("avg_pool", "max_pool"))
    url = file_name = file_hash = None
    known = WEIGHTS_HASHES.get(tuple(blocks))
    if known:
        file_name = "%s_weights_tf_dim_ordering_tf_kernels%s.h5" % (known[0], "" if include_top else "_notop")
        url, file_hash = BASE_WEIGHTS_PATH + file_name, known[1 if include_top else 2]
    elif weights == "imagenet":
        raise ValueError("weights_path undefined")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, url, file_hash)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet121"):
    """Instantiates the DenseNet121 architecture (Keras's arguments and layer names)."""
    return DenseNet([6, 12, 24, 16], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet169"):
    """Instantiates the DenseNet169 architecture (Keras's arguments and layer names)."""
    return DenseNet([6, 12, 32, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet201"):
    """Instantiates the DenseNet201 architecture (Keras's arguments and layer names)."""
    return DenseNet([6, 12, 48, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


preprocess_input, decode_predictions = imagenet_utils.preprocessing("torch")
