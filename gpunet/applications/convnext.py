"""ConvNeXt Tiny/Small/Base/Large/XLarge (keras.applications.convnext), with Keras's layer names, its nested stem
and downsampling Sequentials, and its LayerScale and StochasticDepth layers (registered, so saved configs load).
The ImageNet normalization is inside the model (include_preprocessing); preprocess_input passes through."""
import numpy as np

from .. import backend, initializers, layers, ops, random
from ..common import registry
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
WEIGHTS_HASHES = {  # (with top, without top): sha256
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}
MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024], "default_size": 224},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536], "default_size": 224},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048], "default_size": 224},
}


class StochasticDepth(layers.Layer):
    """Drops a sample's whole residual branch with probability drop_path_rate while training (scaling the kept
    ones by 1 / keep); the identity at inference."""

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if not training or not self.drop_path_rate:
            return x
        keep = 1.0 - self.drop_path_rate
        shape = (ops.shape(x)[0],) + (1,) * (len(ops.shape(x)) - 1)
        mask = ops.floor(ops.add(keep, random.uniform(shape, 0, 1)))
        return ops.multiply(ops.divide(x, keep), mask)

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config


class LayerScale(layers.Layer):
    """x * gamma, a learned per-channel scale starting at init_values (CaiT's LayerScale)."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values, self.projection_dim = init_values, projection_dim

    def build(self, _):
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=initializers.Constant(self.init_values),
                                     trainable=True)
        self.built = True

    def call(self, x):
        return ops.multiply(x, self.gamma)

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


registry.register_builtin_layers({"StochasticDepth": StochasticDepth, "LayerScale": LayerScale})


def ConvNeXtBlock(projection_dim, drop_path_rate=0.0, layer_scale_init_value=1e-6, name=None):
    def apply(inputs):
        x = layers.Conv2D(filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
                          name=name + "_depthwise_conv")(inputs)
        x = layers.LayerNormalization(epsilon=1e-6, name=name + "_layernorm")(x)
        x = layers.Dense(4 * projection_dim, name=name + "_pointwise_conv_1")(x)
        x = layers.Activation("gelu", name=name + "_gelu")(x)
        x = layers.Dense(projection_dim, name=name + "_pointwise_conv_2")(x)
        if layer_scale_init_value is not None:
            x = LayerScale(layer_scale_init_value, projection_dim, name=name + "_layer_scale")(x)
        last = StochasticDepth(drop_path_rate, name=name + "_stochastic_depth") if drop_path_rate else \
            layers.Activation("linear", name=name + "_identity")
        return inputs + last(x)
    return apply


def ConvNeXt(depths, projection_dims, drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=224,
             name="convnext", include_preprocessing=True, include_top=True, weights=None, input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", weights_name=None):
    from ..models.sequential import Sequential
    if backend.image_data_format() == "channels_first":
        raise ValueError("ConvNeXt does not support the `channels_first` image data format. Switch to "
                         "`channels_last` by editing your local config file at ~/.keras/keras.json")
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  default_size, 32)
    x = img_input
    if include_preprocessing and input_shape[2] == 3:
        x = layers.Normalization(mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
                                 variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
                                 name=name + "_prestem_normalization")(x)
    downsample = [Sequential([layers.Conv2D(projection_dims[0], kernel_size=4, strides=4, name=name + "_stem_conv"),
                              layers.LayerNormalization(epsilon=1e-6, name=name + "_stem_layernorm")],
                             name=name + "_stem")]
    for i in range(3):
        downsample.append(Sequential([
            layers.LayerNormalization(epsilon=1e-6, name="%s_downsampling_layernorm_%d" % (name, i)),
            layers.Conv2D(projection_dims[i + 1], kernel_size=2, strides=2,
                          name="%s_downsampling_conv_%d" % (name, i))],
            name="%s_downsampling_block_%d" % (name, i)))
    rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample[i](x)
        for j in range(depths[i]):
            x = ConvNeXtBlock(projection_dims[i], rates[cur + j], layer_scale_init_value,
                              name="%s_stage_%d_block_%d" % (name, i, j))(x)
        cur += depths[i]
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.GlobalAveragePooling2D(name=name + "_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=name + "_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=name + "_head_dense")(x)
    else:
        x = layers.LayerNormalization(epsilon=1e-6)(imagenet_utils.pooled(x, pooling))
    url = file_name = file_hash = None
    if weights == "imagenet":
        expected = MODEL_CONFIGS[weights_name.split("convnext_")[-1]]
        if list(depths) != expected["depths"] or list(projection_dims) != expected["projection_dims"]:
            raise ValueError("Architecture configuration does not match %s variant. When using pre-trained weights, "
                             "the model architecture must match the pre-trained configuration exactly."
                             % weights_name)
        if weights_name not in name:
            raise ValueError('Model name "%s" does not match weights variant "%s". When using imagenet weights, model '
                             "name must contain the weights variant." % (name, weights_name))
        file_name = name + (".h5" if include_top else "_notop.h5")
        url, file_hash = BASE_WEIGHTS_PATH + file_name, WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name, url, file_hash)


def _variant(size):
    def build(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="convnext_" + size):
        cfg = MODEL_CONFIGS[size]
        return ConvNeXt(weights_name="convnext_" + size, depths=cfg["depths"], projection_dims=cfg["projection_dims"],
                        drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=cfg["default_size"], name=name,
                        include_top=include_top, include_preprocessing=include_preprocessing, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation)
    public = "ConvNeXt" + {"xlarge": "XLarge"}.get(size, size.capitalize())
    build.__name__ = build.__qualname__ = public
    build.__doc__ = "Instantiates the %s architecture (Keras's arguments and layer names)." % public
    return build


ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase = _variant("tiny"), _variant("small"), _variant("base")
ConvNeXtLarge, ConvNeXtXLarge = _variant("large"), _variant("xlarge")


preprocess_input, decode_predictions = imagenet_utils.preprocessing(None)
