"""VGG16 (keras.applications.vgg16): Keras's layer names and weight files; caffe preprocessing."""
from .. import layers
from . import imagenet_utils

BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
_FILES = {"vgg16": (("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")),
          "vgg19": (("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"))}


def vgg(convs, weights_name, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
        name):
    img_input, input_shape = imagenet_utils.start(weights, include_top, classes, input_shape, input_tensor,
                                                  224, 32)
    x = img_input
    for block, (n, filters) in enumerate(zip(convs, (64, 128, 256, 512, 512)), start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name="block%d_conv%d" % (block, i))(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block%d_pool" % block)(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pooled(x, pooling)
    file_name = "%s_weights_tf_dim_ordering_tf_kernels%s.h5" % (weights_name, "" if include_top else "_notop")
    return imagenet_utils.finish(img_input, x, input_tensor, name, weights, file_name,
                                 BASE + weights_name + "/" + file_name, _FILES[weights_name][0 if include_top else 1])


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """Instantiates the VGG16 model (Keras's arguments and layer names)."""
    return vgg((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)


preprocess_input, decode_predictions = imagenet_utils.preprocessing("caffe")
