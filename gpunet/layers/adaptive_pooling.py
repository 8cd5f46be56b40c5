"""AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D: pooling to a fixed output size whatever the input
size (Keras 3's layers over keras.ops.adaptive_*_pool; the windows are torch's and Keras's)."""
from .. import config, ops
from .base import Layer


class _AdaptivePooling(Layer):
    rank, mode = None, None

    def __init__(self, output_size, data_format=None, **kwargs):
        r = self.rank
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            size = (output_size,) * r
        elif isinstance(output_size, (tuple, list)) and len(output_size) == r:
            size = tuple(output_size)
        else:
            raise TypeError("`output_size` must be an integer or a tuple of %d integers. Received: %r of type %s"
                            % (r, output_size, type(output_size)))
        super().__init__(**kwargs)
        self.output_size = size
        self.data_format = data_format or config.image_data_format()
        if self.data_format not in ("channels_first", "channels_last"):
            raise ValueError("Invalid data_format: %s. Expected 'channels_first' or 'channels_last'."
                             % (self.data_format,))

    def call(self, inputs):
        fn = ops.adaptive_average_pool if self.mode == "average" else ops.adaptive_max_pool
        return fn(inputs, output_size=self.output_size, data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0],) + self.output_size + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + self.output_size

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"output_size": self.output_size, "data_format": self.data_format})
        return cfg


class AdaptiveAveragePooling1D(_AdaptivePooling):
    rank, mode = 1, "average"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    rank, mode = 2, "average"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    rank, mode = 3, "average"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    rank, mode = 1, "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    rank, mode = 2, "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    rank, mode = 3, "max"
