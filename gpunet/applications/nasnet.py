"""NASNetMobile and NASNetLarge (keras.applications.nasnet): NASNet-A normal and reduction cells with Keras's
layer names (its unnamed ReLUs, paddings and concatenations take the automatic names, made in Keras's order);
"tf" preprocessing; channels_last only."""

from .. import backend, layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
_WEIGHTS = {  # default size: {include_top: (cache name, url file, md5)}
    224: {True: ("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
          False: ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63")},
    331: {True: ("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
          False: ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5")},
}


def _bn(name):
    return layers.BatchNormalization(axis=-1, momentum=0.9997, epsilon=1e-3, name=name)


def _conv1x1(x, filters, name):
    return layers.Conv2D(filters, (1, 1), strides=(1, 1), padding="same", use_bias=False, name=name,
                         kernel_initializer="he_normal")(x)


def NASNet(input_shape=None, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
           filter_multiplier=2, include_top=True, weights="imagenet", input_tensor=None, pooling=None, classes=1000,
           default_size=None, classifier_activation="softmax", name="NASNet"):
    if backend.image_data_format() == "channels_first":
        raise ValueError("NASNet does not support the `channels_first` image data format. Switch to `channels_last` "
                         "by editing your local config file at ~/.keras/keras.json")
    imagenet_utils.check_weights(weights, include_top, classes)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError("When specifying the input shape of a NASNet and loading `ImageNet` weights, the input_shape "
                         "argument must be static (no None entries). Got: `input_shape=%s`." % (input_shape,))
    default_size = 331 if default_size is None else default_size
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format=backend.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    if penultimate_filters % (24 * filter_multiplier ** 2) != 0:
        raise ValueError("For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
                         "(`filter_multiplier` ** 2). Current value: %s" % (penultimate_filters,))
    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False, name="stem_conv1",
                      kernel_initializer="he_normal")(img_input)
    x = _bn("stem_bn1")(x)
    x, p = _reduction_a_cell(x, None, filters // filter_multiplier ** 2, block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for stage in range(3):
        if stage:
            x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier ** stage,
                                      block_id="reduce_%d" % (stage * num_blocks))
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            x, p = _normal_a_cell(x, p, filters * filter_multiplier ** stage,
                                  block_id="%d" % (stage * num_blocks + i + (1 if stage else 0)))
    x = layers.Activation("relu")(x)
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights,
                                  gap_name=None)
    file_name = url = file_hash = None
    if weights == "imagenet":
        if default_size not in _WEIGHTS:
            raise ValueError("ImageNet weights can only be loaded with NASNetLarge or NASNetMobile")
        file_name, remote, file_hash = _WEIGHTS[default_size][bool(include_top)]
        url = BASE_WEIGHTS_PATH + remote
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, url, file_hash)


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name="nasnet_mobile"):
    """Instantiates a Mobile NASNet model in ImageNet mode (Keras's arguments and layer names)."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=224, classifier_activation=classifier_activation,
                  name=name)


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="nasnet_large"):
    """Instantiates a NASNet model in ImageNet mode (Keras's arguments and layer names)."""
    return NASNet(input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=331, classifier_activation=classifier_activation,
                  name=name)


def _separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    x = layers.Activation("relu")(ip)
    if strides == (2, 2):
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name="separable_conv_1_pad_%s" % block_id)(x)
    x = layers.SeparableConv2D(filters, kernel_size, strides=strides, name="separable_conv_1_%s" % block_id,
                               padding="valid" if strides == (2, 2) else "same", use_bias=False)(x)
    x = layers.Activation("relu")(_bn("separable_conv_1_bn_%s" % block_id)(x))
    x = layers.SeparableConv2D(filters, kernel_size, name="separable_conv_2_%s" % block_id, padding="same",
                               use_bias=False)(x)
    return _bn("separable_conv_2_bn_%s" % block_id)(x)


def _adjust_block(p, ip, filters, block_id=None):
    """p brought to ip's size (a factorized reduction) or channel count (a 1x1 projection)."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name="adjust_relu_1_%s" % block_id)(p)
        p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name="adjust_avg_pool_1_%s" % block_id)(p)
        p1 = _conv1x1(p1, filters // 2, "adjust_conv_1_%s" % block_id)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p))
        p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name="adjust_avg_pool_2_%s" % block_id)(p2)
        p2 = _conv1x1(p2, filters // 2, "adjust_conv_2_%s" % block_id)
        return _bn("adjust_bn_%s" % block_id)(layers.concatenate([p1, p2], axis=-1))
    if p.shape[-1] != filters:
        p = _conv1x1(layers.Activation("relu")(p), filters, "adjust_conv_projection_%s" % block_id)
        return _bn("adjust_bn_%s" % block_id)(p)
    return p


def _avg3(x, strides, padding, name):
    return layers.AveragePooling2D((3, 3), strides=strides, padding=padding, name=name)(x)


def _normal_a_cell(ip, p, filters, block_id=None):
    p = _adjust_block(p, ip, filters, block_id)
    h = _bn("normal_bn_1_%s" % block_id)(_conv1x1(layers.Activation("relu")(ip), filters,
                                                   "normal_conv_1_%s" % block_id))
    b = block_id
    x1 = layers.add([_separable_conv_block(h, filters, kernel_size=(5, 5), block_id="normal_left1_%s" % b),
                     _separable_conv_block(p, filters, block_id="normal_right1_%s" % b)], name="normal_add_1_%s" % b)
    x2 = layers.add([_separable_conv_block(p, filters, (5, 5), block_id="normal_left2_%s" % b),
                     _separable_conv_block(p, filters, (3, 3), block_id="normal_right2_%s" % b)],
                    name="normal_add_2_%s" % b)
    x3 = layers.add([_avg3(h, (1, 1), "same", "normal_left3_%s" % b), p], name="normal_add_3_%s" % b)
    x4 = layers.add([_avg3(p, (1, 1), "same", "normal_left4_%s" % b), _avg3(p, (1, 1), "same", "normal_right4_%s" % b)],
                    name="normal_add_4_%s" % b)
    x5 = layers.add([_separable_conv_block(h, filters, block_id="normal_left5_%s" % b), h], name="normal_add_5_%s" % b)
    return layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name="normal_concat_%s" % b), ip


def _reduction_a_cell(ip, p, filters, block_id=None):
    b = block_id
    p = _adjust_block(p, ip, filters, b)
    h = _bn("reduction_bn_1_%s" % b)(_conv1x1(layers.Activation("relu")(ip), filters, "reduction_conv_1_%s" % b))
    h3 = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3), name="reduction_pad_1_%s" % b)(h)
    s2 = (2, 2)
    x1 = layers.add([_separable_conv_block(h, filters, (5, 5), strides=s2, block_id="reduction_left1_%s" % b),
                     _separable_conv_block(p, filters, (7, 7), strides=s2, block_id="reduction_right1_%s" % b)],
                    name="reduction_add_1_%s" % b)
    x2 = layers.add([layers.MaxPooling2D((3, 3), strides=s2, padding="valid", name="reduction_left2_%s" % b)(h3),
                     _separable_conv_block(p, filters, (7, 7), strides=s2, block_id="reduction_right2_%s" % b)],
                    name="reduction_add_2_%s" % b)
    x3 = layers.add([_avg3(h3, s2, "valid", "reduction_left3_%s" % b),
                     _separable_conv_block(p, filters, (5, 5), strides=s2, block_id="reduction_right3_%s" % b)],
                    name="reduction_add3_%s" % b)
    x4 = layers.add([x2, _avg3(x1, (1, 1), "same", "reduction_left4_%s" % b)])
    x5 = layers.add([_separable_conv_block(x1, filters, (3, 3), block_id="reduction_left4_%s" % b),
                     layers.MaxPooling2D((3, 3), strides=s2, padding="valid", name="reduction_right5_%s" % b)(h3)],
                    name="reduction_add4_%s" % b)
    return layers.concatenate([x2, x3, x4, x5], axis=-1, name="reduction_concat_%s" % b), ip


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")


