"""keras.applications.imagenet_utils: preprocess_input's three modes, decode_predictions (ImageNet's class index
downloaded once, as Keras does, through get_file), and what every application shares: its argument checks, the
input tensor, the classifier head and the weights download (Keras's URL and published hash, ~/.keras/models)."""
import json
import warnings

import numpy as np

from .. import backend, layers
from ..layers.base import KerasTensor

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"

_MEAN = {"caffe": [103.939, 116.779, 123.68], "torch": [0.485, 0.456, 0.406]}
_STD = {"torch": [0.229, 0.224, 0.225]}


def preprocess_input(x, data_format=None, mode="caffe"):
    """caffe: RGB -> BGR, minus ImageNet's channel means; tf: to [-1, 1]; torch: to [0, 1], then each channel
    normalized by ImageNet's mean and std. NumPy float input is modified in place, as Keras does."""
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError("Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode=%s" % (mode,))
    if data_format is None:
        data_format = backend.image_data_format()
    elif data_format not in ("channels_first", "channels_last"):
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. Received: "
                         "data_format=%s" % (data_format,))
    if isinstance(x, KerasTensor) or not isinstance(x, np.ndarray):
        return _preprocess_tensor(x, data_format, mode)
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(backend.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
    else:
        x = (x[::-1] if x.ndim == 3 else x[:, ::-1]) if data_format == "channels_first" else x[..., ::-1]
    channel = (lambda c: (slice(None),) * (0 if x.ndim == 3 else 1) + (c,)) if data_format == "channels_first" \
        else (lambda c: (Ellipsis, c))
    for c in range(3):
        x[channel(c)] -= _MEAN[mode][c]
        if mode in _STD:
            x[channel(c)] /= _STD[mode][c]
    return x


def _preprocess_tensor(x, data_format, mode):
    from .. import ops
    x = ops.convert_to_tensor(x) if not isinstance(x, KerasTensor) else x
    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    ndim = len(x.shape)
    axis = -1 if data_format == "channels_last" else (0 if ndim == 3 else 1)
    if mode == "torch":
        x = ops.divide(x, 255.0)
    else:
        x = ops.flip(x, axis=axis)
    shape = [1] * ndim
    shape[axis] = 3
    x = ops.add(x, np.reshape(-np.asarray(_MEAN[mode], dtype=np.float32), shape))
    if mode in _STD:
        x = ops.divide(x, np.reshape(np.asarray(_STD[mode], dtype=np.float32), shape))
    return x


def decode_predictions(preds, top=5):
    """[(class_name, class_description, score), ...] of the `top` classes of each row of (samples, 1000)."""
    global CLASS_INDEX
    preds = backend.to_numpy(preds.data if hasattr(preds, "data") else preds) if not isinstance(preds, np.ndarray) \
        else preds
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, "
                         "1000)). Received array with shape: %s" % (preds.shape,))
    if CLASS_INDEX is None:
        from ..utils.file_utils import get_file
        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                        file_hash=CLASS_INDEX_HASH)
        with open(path) as f:
            index = json.load(f)
        if not (isinstance(index, dict) and all(isinstance(v, list) and len(v) == 2 for v in index.values())):
            raise ValueError("%s is not ImageNet's class index ({\"0\": [wnid, name], ...})" % path)
        CLASS_INDEX = index
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        row = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in best]
        row.sort(key=lambda r: r[2], reverse=True)
        results.append(row)
    return results


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """Keras's rules for an application's input shape (channels, minimum size, static with include_top)."""
    last = data_format != "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[-1] if last else input_shape[0]
        if channels not in (1, 3):
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                          "with %s input channels." % (channels,), stacklevel=3)
        default_shape = (default_size, default_size, channels) if last else (channels, default_size, default_size)
    else:
        default_shape = (default_size, default_size, 3) if last else (3, default_size, default_size)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, `input_shape` should "
                             "be %s.  Received: input_shape=%s" % (default_shape, input_shape))
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels, spatial = (input_shape[-1], input_shape[:2]) if last else (input_shape[0], input_shape[1:])
        if channels != 3 and weights == "imagenet":
            raise ValueError("The input must have 3 channels; Received `input_shape=%s`" % (input_shape,))
        if any(s is not None and s < min_size for s in spatial):
            raise ValueError("Input size must be at least %dx%d; Received: input_shape=%s"
                             % (min_size, min_size, input_shape))
    else:
        input_shape = default_shape if require_flatten else ((None, None, 3) if last else (3, None, None))
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. Received: "
                         "input_shape=%s" % (input_shape,))
    return tuple(input_shape)


def correct_pad(inputs, kernel_size):
    """The ZeroPadding2D for a stride-2 'valid' convolution that pads as 'same' would (odd sizes)."""
    axis = 2 if backend.image_data_format() == "channels_first" else 1
    size = inputs.shape[axis:axis + 2]
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = (k[0] // 2, k[1] // 2)
    return (half[0] - adjust[0], half[0]), (half[1] - adjust[1], half[1])


def validate_activation(classifier_activation, weights):
    if weights is None:
        return
    from .. import activations
    act = activations.get(classifier_activation)
    if act not in (activations.get("softmax"), activations.get(None)):
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` argument "
                         "when using pretrained weights, with `include_top=True`; Received: classifier_activation=%s"
                         % (classifier_activation,))


# ---- what every application does around its body ----

def check_weights(weights, include_top, classes, imagenet_classes=1000):
    import os
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), 'imagenet' "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.  Received: "
                         "weights=%s" % (weights,))
    if weights == "imagenet" and include_top and classes != imagenet_classes:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be %d.  Received "
                         "classes=%s" % (imagenet_classes, classes))


def image_input(input_tensor, input_shape):
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not isinstance(input_tensor, KerasTensor):
        raise ValueError("input_tensor must be a symbolic tensor (keras.Input or a layer's output), received %r"
                         % (input_tensor,))
    return input_tensor


def source_inputs(tensor):
    """The Input tensors `tensor` is computed from (Keras's operation_utils.get_source_inputs)."""
    out, seen = [], set()

    def visit(kt):
        op, parents, node = kt._history
        if node is None:
            if id(kt) not in seen:
                seen.add(id(kt))
                out.append(kt)
            return
        for p in parents:
            visit(p)
    visit(tensor)
    return out


def pooled(x, pooling, avg_name=None, max_name=None):
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def start(weights, include_top, classes, input_shape, input_tensor, default_size, min_size):
    """The checks and the image input every application begins with: (input tensor, input shape)."""
    check_weights(weights, include_top, classes)
    input_shape = obtain_input_shape(input_shape, default_size=default_size, min_size=min_size,
                                     data_format=backend.image_data_format(), require_flatten=include_top,
                                     weights=weights)
    return image_input(input_tensor, input_shape), input_shape


def classifier(x, include_top, pooling, classes, classifier_activation, weights, gap_name="avg_pool",
               pool_names=(None, None), dropout=None, **dense_kwargs):
    """Keras's usual top: global average pooling (named gap_name), optional dropout and the "predictions" Dense
    (dense_kwargs: its initializers); without the top, the `pooling` the user asked for (named pool_names)."""
    if not include_top:
        return pooled(x, pooling, *pool_names)
    x = layers.GlobalAveragePooling2D(name=gap_name)(x)
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation, name="predictions", **dense_kwargs)(x)


def preprocessing(mode):
    """A module's preprocess_input and decode_predictions (mode None: the model preprocesses, a pass-through)."""
    def preprocess_input(x, data_format=None):
        return x if mode is None else globals()["preprocess_input"](x, data_format=data_format, mode=mode)

    def decode(preds, top=5):
        return decode_predictions(preds, top=top)
    decode.__name__ = decode.__qualname__ = "decode_predictions"
    preprocess_input.__doc__ = ("A pass-through: the model preprocesses its own input." if mode is None else
                                "preprocess_input with mode=%r (see imagenet_utils.preprocess_input)." % mode)
    decode.__doc__ = decode_predictions.__doc__
    return preprocess_input, decode


def finish(img_input, x, input_tensor, name, weights, file_name=None, url=None, file_hash=None):
    """The Functional model from img_input (or input_tensor's sources) to x, with its weights loaded: Keras's file
    from `url` through get_file (checked against file_hash, cached in ~/.keras/models), or the user's file."""
    from ..models.functional import Functional
    inputs = source_inputs(input_tensor) if input_tensor is not None else img_input
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    model = Functional(inputs, x, name=name)
    if weights == "imagenet" and url is not None:
        from ..utils.file_utils import get_file
        model.load_weights(get_file(file_name, url, cache_subdir="models", file_hash=file_hash))
    elif weights is not None and weights != "imagenet":
        model.load_weights(weights)
    return model
