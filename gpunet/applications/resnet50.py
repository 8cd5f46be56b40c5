"""keras.applications.resnet50: ResNet50 and its preprocessing, as keras.applications.resnet has them."""
from .resnet import ResNet50, decode_predictions, preprocess_input  # noqa: F401
