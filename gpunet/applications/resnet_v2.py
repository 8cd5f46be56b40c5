"""ResNet50V2/101V2/152V2 (keras.applications.resnet_v2): pre-activation residual stacks; "tf" preprocessing."""
from . import imagenet_utils
from .resnet import ResNet, stack_residual_blocks_v2


def _v2(blocks, weights_name):
    def build(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=weights_name):
        def stack_fn(x):
            x = stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
            x = stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
            x = stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
            return stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")
        return ResNet(stack_fn, True, True, include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name=name, weights_name=weights_name)
    return build


ResNet50V2 = _v2((3, 4, 6, 3), "resnet50v2")
ResNet101V2 = _v2((3, 4, 23, 3), "resnet101v2")
ResNet152V2 = _v2((3, 8, 36, 3), "resnet152v2")
for _f, _n in ((ResNet50V2, "ResNet50V2"), (ResNet101V2, "ResNet101V2"), (ResNet152V2, "ResNet152V2")):
    _f.__name__ = _f.__qualname__ = _n
    _f.__doc__ = "Instantiates the %s architecture (Keras's arguments and layer names)." % _n


preprocess_input, decode_predictions = imagenet_utils.preprocessing("tf")
