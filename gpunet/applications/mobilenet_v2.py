"""MobileNetV2 (keras.applications.mobilenet_v2): inverted residual blocks with Keras's names; "tf"
preprocessing. imagenet weights exist for alpha 0.35-1.4 at 96-224 pixels."""
import warnings

from .. import backend, layers
from . import imagenet_utils
from ._sizes import channel_axis, make_divisible, square_size

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
# (filters, stride, expansion) of blocks 0-16
_BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6), (64, 1, 6),
           (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]
_SIZES = (96, 128, 160, 192, 224)


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """Instantiates the MobileNetV2 architecture (Keras's arguments and layer names)."""
    imagenet_utils.check_weights(weights, include_top, classes)
    if input_shape is None and input_tensor is not None:
        default = square_size(tuple(input_tensor.shape), _SIZES, offset=1)
    else:
        default = square_size(input_shape, _SIZES)
    if input_shape is not None and input_tensor is not None:
        axis = 1 if backend.image_data_format() == "channels_first" else 2
        if input_tensor.shape[axis] != input_shape[1]:
            raise ValueError("input_tensor.shape[%d] must equal input_shape[1]; Received `input_tensor.shape=%s`, "
                             "`input_shape=%s`" % (axis, input_tensor.shape, input_shape))
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default, min_size=32,
                                                    data_format=backend.image_data_format(),
                                                    require_flatten=include_top, weights=weights)
    rows, cols = input_shape[:2] if backend.image_data_format() == "channels_last" else input_shape[1:]
    if weights == "imagenet":
        if alpha not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
            raise ValueError("If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                             "`1.0`, `1.3` or `1.4` only; Received `alpha=%s`" % (alpha,))
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    ax = channel_axis()
    x = layers.Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(img_input)
    x = layers.ReLU(6.0, name="Conv1_relu")(_bn(ax, "bn_Conv1")(x))
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id, ax)
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.ReLU(6.0, name="out_relu")(_bn(ax, "Conv_1_bn")(x))
    x = imagenet_utils.classifier(x, include_top, pooling, classes, classifier_activation, weights,
                                  gap_name=None)
    name = name if name is not None else "mobilenetv2_%0.2f_%s" % (alpha, rows)
    file_name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_%s_%s%s.h5" % (
        float(alpha), rows, "" if include_top else "_no_top")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, BASE_WEIGHT_PATH + file_name)


def _bn(ax, name):
    return layers.BatchNormalization(axis=ax, epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id, ax):
    in_channels = inputs.shape[ax]
    pointwise = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = "block_%d_" % block_id
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=prefix + "expand")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(_bn(ax, prefix + "expand_BN")(x))
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=prefix + "depthwise")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(_bn(ax, prefix + "depthwise_BN")(x))
    x = layers.Conv2D(pointwise, kernel_size=1, padding="same", use_bias=False, activation=None,
                      name=prefix + "project")(x)
    x = _bn(ax, prefix + "project_BN")(x)
    if in_channels == pointwise and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")
