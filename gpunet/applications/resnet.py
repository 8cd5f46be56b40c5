"""ResNet50/101/152 (keras.applications.resnet), with the residual stacks ResNetV2 shares: Keras's layer names,
so Keras's weight files load layer for layer. Inputs: caffe preprocessing (BGR, mean-centred)."""
from .. import backend, layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {  # (with top, without top): Keras's published md5s
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def _bn_axis():
    return 3 if backend.image_data_format() == "channels_last" else 1


def _bn(name):
    return layers.BatchNormalization(axis=_bn_axis(), epsilon=1.001e-5, name=name)


def ResNet(stack_fn, preact, use_bias, include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
           pooling=None, classes=1000, classifier_activation="softmax", name="resnet", weights_name=None):
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  224, 32)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = layers.Activation("relu", name="post_relu")(_bn("post_bn")(x))
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights,
                                  pool_names=("avg_pool", "max_pool"))
    url = file_name = file_hash = None
    if weights_name in WEIGHTS_HASHES:
        file_name = "%s_weights_tf_dim_ordering_tf_kernels%s.h5" % (weights_name, "" if include_top else "_notop")
        url, file_hash = BASE_WEIGHTS_PATH + file_name, WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, url, file_hash)


def residual_block_v1(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    if conv_shortcut:
        shortcut = _bn(name + "_0_bn")(layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x))
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(_bn(name + "_1_bn")(x))
    x = layers.Conv2D(filters, kernel_size, padding="SAME", name=name + "_2_conv")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(_bn(name + "_2_bn")(x))
    x = _bn(name + "_3_bn")(layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x))
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def stack_residual_blocks_v1(x, filters, blocks, stride1=2, name=None):
    x = residual_block_v1(x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name="%s_block%d" % (name, i))
    return x


def residual_block_v2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    preact = layers.Activation("relu", name=name + "_preact_relu")(_bn(name + "_preact_bn")(x))
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=name + "_1_conv")(preact)
    x = layers.Activation("relu", name=name + "_1_relu")(_bn(name + "_1_bn")(x))
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=name + "_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=name + "_2_conv")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(_bn(name + "_2_bn")(x))
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    return layers.Add(name=name + "_out")([shortcut, x])


def stack_residual_blocks_v2(x, filters, blocks, stride1=2, name=None):
    x = residual_block_v2(x, filters, conv_shortcut=True, name=name + "_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name="%s_block%d" % (name, i))
    return residual_block_v2(x, filters, stride=stride1, name="%s_block%d" % (name, blocks))


def _v1(blocks, weights_name, default_name):
    def build(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=default_name):
        def stack_fn(x):
            x = stack_residual_blocks_v1(x, 64, blocks[0], stride1=1, name="conv2")
            x = stack_residual_blocks_v1(x, 128, blocks[1], name="conv3")
            x = stack_residual_blocks_v1(x, 256, blocks[2], name="conv4")
            return stack_residual_blocks_v1(x, 512, blocks[3], name="conv5")
        return ResNet(stack_fn, False, True, include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name=name, weights_name=weights_name)
    return build


ResNet50 = _v1((3, 4, 6, 3), "resnet50", "resnet50")
ResNet101 = _v1((3, 4, 23, 3), "resnet101", "resnet101")
ResNet152 = _v1((3, 8, 36, 3), "resnet152", "resnet152")
for _f, _n in ((ResNet50, "ResNet50"), (ResNet101, "ResNet101"), (ResNet152, "ResNet152")):
    _f.__name__ = _f.__qualname__ = _n
    _f.__doc__ = "Instantiates the %s architecture (Keras's arguments and layer names)." % _n


preprocess_input, decode_predictions = imagenet_utils.preprocessing("caffe")
