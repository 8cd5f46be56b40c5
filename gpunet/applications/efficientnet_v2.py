"""EfficientNetV2 B0-B3, S, M, L (keras.applications.efficientnet_v2): fused and plain MBConv blocks, Keras's
names and weight files. Preprocessing is inside the model (include_preprocessing), so preprocess_input passes
its input through."""
import math

from .. import backend, initializers, layers
from . import imagenet_utils
from .efficientnet import CONV_KERNEL_INITIALIZER, DENSE_KERNEL_INITIALIZER, squeeze_excite

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
WEIGHTS_HASHES = {  # (with top, without top)
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
# kernel, repeats, filters in, filters out, expansion, se_ratio, stride, conv type (1 fused, 0 MBConv)
_B = [(3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1), (3, 3, 48, 96, 4, .25, 2, 0),
      (3, 5, 96, 112, 6, .25, 1, 0), (3, 8, 112, 192, 6, .25, 2, 0)]
_TABLES = {
    "efficientnetv2-s": [(3, 2, 24, 24, 1, 0, 1, 1), (3, 4, 24, 48, 4, 0, 2, 1), (3, 4, 48, 64, 4, 0, 2, 1),
                         (3, 6, 64, 128, 4, .25, 2, 0), (3, 9, 128, 160, 6, .25, 1, 0),
                         (3, 15, 160, 256, 6, .25, 2, 0)],
    "efficientnetv2-m": [(3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
                         (3, 7, 80, 160, 4, .25, 2, 0), (3, 14, 160, 176, 6, .25, 1, 0),
                         (3, 18, 176, 304, 6, .25, 2, 0), (3, 5, 304, 512, 6, .25, 1, 0)],
    "efficientnetv2-l": [(3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
                         (3, 10, 96, 192, 4, .25, 2, 0), (3, 19, 192, 224, 6, .25, 1, 0),
                         (3, 25, 224, 384, 6, .25, 2, 0), (3, 7, 384, 640, 6, .25, 1, 0)],
    "efficientnetv2-b0": _B, "efficientnetv2-b1": _B, "efficientnetv2-b2": _B, "efficientnetv2-b3": _B,
}
DEFAULT_BLOCKS_ARGS = {name: [dict(kernel_size=k, num_repeat=r, input_filters=i, output_filters=o, expand_ratio=e,
                                   se_ratio=se, strides=s, conv_type=c) for k, r, i, o, e, se, s, c in rows]
                       for name, rows in _TABLES.items()}


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    filters *= width_coefficient
    return int(max(min_depth or depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _block(fused, input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
           bn_momentum=0.9, activation="swish", survival_probability=0.8, name=None):
    """FusedMBConvBlock (fused=True) or MBConvBlock, applied to a tensor."""
    bn_axis = 3 if backend.image_data_format() == "channels_last" else 1

    def bn(x, suffix):
        return layers.BatchNormalization(axis=bn_axis, momentum=bn_momentum, name=name + suffix)(x)

    def apply(inputs):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = layers.Conv2D(filters, kernel_size=kernel_size if fused else 1, strides=strides if fused else 1,
                              kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same",
                              data_format=backend.image_data_format(), use_bias=False, name=name + "expand_conv")(x)
            x = layers.Activation(activation, name=name + "expand_activation")(bn(x, "expand_bn"))
        if not fused:
            x = layers.DepthwiseConv2D(kernel_size=kernel_size, strides=strides,
                                       depthwise_initializer=CONV_KERNEL_INITIALIZER, padding="same",
                                       data_format=backend.image_data_format(), use_bias=False,
                                       name=name + "dwconv2")(x)
            x = layers.Activation(activation, name=name + "activation")(bn(x, "bn"))
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name, bn_axis)
        one = not fused or expand_ratio != 1  # the projection is 1x1, unless a fused block has no expansion
        x = layers.Conv2D(output_filters, kernel_size=1 if one else kernel_size, strides=1 if one else strides,
                          kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same",
                          **({} if fused else {"data_format": backend.image_data_format()}), use_bias=False,
                          name=name + "project_conv")(x)
        x = bn(x, "project_bn")
        if fused and expand_ratio == 1:
            x = layers.Activation(activation, name=name + "project_activation")(x)
        if strides == 1 and input_filters == output_filters:
            if survival_probability:  # Keras passes the survival probability as the dropout rate
                x = layers.Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
            x = layers.add([x, inputs], name=name + "add")
        return x
    return apply


def MBConvBlock(input_filters, output_filters, **kwargs):
    return _block(False, input_filters, output_filters, **kwargs)


def FusedMBConvBlock(input_filters, output_filters, **kwargs):
    return _block(True, input_filters, output_filters, **kwargs)


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                   depth_divisor=8, min_depth=8, bn_momentum=0.9, activation="swish", blocks_args="default",
                   name="efficientnetv2", include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax", include_preprocessing=True,
                   weights_name=None):
    blocks_args = DEFAULT_BLOCKS_ARGS[name] if blocks_args == "default" else blocks_args
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  default_size, 32)
    bn_axis = 3 if backend.image_data_format() == "channels_last" else 1
    x = img_input
    if include_preprocessing:
        if name.split("-")[-1].startswith("b") and input_shape[bn_axis - 1] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229 ** 2, 0.224 ** 2, 0.225 ** 2],
                                     axis=bn_axis)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def rf(f):
        return round_filters(f, width_coefficient, min_depth, depth_divisor)

    x = layers.Conv2D(rf(blocks_args[0]["input_filters"]), kernel_size=3, strides=2,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, momentum=bn_momentum, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    total = float(sum(a["num_repeat"] for a in blocks_args))
    b = 0
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError("The number of repeats in `EfficientNetV2` must be > 0. Received: num_repeat=%s"
                             % (args["num_repeat"],))
        args = dict(args)
        args["input_filters"], args["output_filters"] = rf(args["input_filters"]), rf(args["output_filters"])
        make = (MBConvBlock, FusedMBConvBlock)[args.pop("conv_type")]
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:
                args["strides"], args["input_filters"] = 1, args["output_filters"]
            x = make(activation=activation, bn_momentum=bn_momentum, survival_probability=drop_connect_rate * b / total,
                     name="block%d%s_" % (i + 1, chr(j + 97)), **args)(x)
            b += 1
    x = layers.Conv2D(rf(1280), kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same",
                      data_format=backend.image_data_format(), use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, momentum=bn_momentum, name="top_bn")(x)
    x = layers.Activation(activation=activation, name="top_activation")(x)
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights,
                                  pool_names=("avg_pool", "max_pool"), dropout=dropout_rate,
                                  kernel_initializer=DENSE_KERNEL_INITIALIZER,
                                  bias_initializer=initializers.Constant(0.0))
    url = file_name = file_hash = None
    if weights_name in WEIGHTS_HASHES:
        file_name = name + (".h5" if include_top else "_notop.h5")
        url, file_hash = BASE_WEIGHTS_PATH + file_name, WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, url, file_hash)


def _variant(wc, dc, size, key, public):
    def build(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", include_preprocessing=True, name="efficientnetv2" + (
                  key if key.startswith("-") else "-" + key)):
        return EfficientNetV2(width_coefficient=wc, depth_coefficient=dc, default_size=size, name=name,
                              include_top=include_top, weights=weights, input_tensor=input_tensor,
                              input_shape=input_shape, pooling=pooling, classes=classes,
                              classifier_activation=classifier_activation, include_preprocessing=include_preprocessing,
                              weights_name=key)
    build.__name__ = build.__qualname__ = public
    build.__doc__ = "Instantiates the %s architecture (Keras's arguments and layer names)." % public
    return build


EfficientNetV2B0 = _variant(1.0, 1.0, 224, "b0", "EfficientNetV2B0")
EfficientNetV2B1 = _variant(1.0, 1.1, 240, "b1", "EfficientNetV2B1")
EfficientNetV2B2 = _variant(1.1, 1.2, 260, "b2", "EfficientNetV2B2")
EfficientNetV2B3 = _variant(1.2, 1.4, 300, "b3", "EfficientNetV2B3")
EfficientNetV2S = _variant(1.0, 1.0, 384, "-s", "EfficientNetV2S")
EfficientNetV2M = _variant(1.0, 1.0, 480, "-m", "EfficientNetV2M")
EfficientNetV2L = _variant(1.0, 1.0, 480, "-l", "EfficientNetV2L")


preprocess_input, decode_predictions = imagenet_utils.preprocessing(None)
