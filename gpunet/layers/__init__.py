from ..common import registry
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from .base import InputSpec, KerasTensor, Layer  # noqa: F401
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose,  # noqa: F401
                            Convolution1D, Convolution1DTranspose, Convolution2D, Convolution2DTranspose,
                            Convolution3D, Convolution3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from .core import (Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape, SpatialDropout1D,  # noqa: F401
                   SpatialDropout2D, SpatialDropout3D)
from .attention import AdditiveAttention, Attention, EinsumDense, MultiHeadAttention  # noqa: F401
from .embedding import Embedding, Masking, ReversibleEmbedding  # noqa: F401
from .text import IntegerLookup, StringLookup, TextVectorization  # noqa: F401
from .categorical import CategoryEncoding, Hashing  # noqa: F401
from .recurrent import GRU, LSTM, RNN, SimpleRNN  # noqa: F401
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: F401
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, ConvLSTMCell  # noqa: F401
from .adaptive_pooling import (  # noqa: F401
    AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D, AdaptiveMaxPooling3D)
from .wrappers import Bidirectional, TimeDistributed  # noqa: F401
from .merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,  # noqa: F401
                    concatenate, dot, maximum, minimum, multiply, subtract)
from .misc import (ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise, Identity,  # noqa: F401
                   Lambda, LayerNormalization, Normalization, Permute, RepeatVector, RMSNormalization,
                   UnitNormalization)
from .normalization import BatchNormalization  # noqa: F401
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,  # noqa: F401
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D,  # noqa: F401
                        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .preprocessing import (CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,  # noqa: F401
                            RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing)


def serialize(layer):
    return None if layer is None else registry.serialize_layer(layer)  # Keras: None serializes to None


def deserialize(config, custom_objects=None):
    return registry.deserialize_layer(config, custom_objects)


# the layer classes a saved config may name (with the models gpunet.models adds, registered classes and
# custom_objects): every public Layer class of this namespace, under each of its names
registry.register_builtin_layers({name: obj for name, obj in list(globals().items())
                                  if isinstance(obj, type) and issubclass(obj, Layer)})
