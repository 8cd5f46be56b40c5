"""`keras.preprocessing`: Keras 3 keeps the old image and sequence helpers here (`keras.preprocessing.image.load_img`,
`keras.preprocessing.sequence.pad_sequences`); they are gpunet.utils's own functions."""
from . import image, sequence  # noqa: F401
