"""Saving and loading in Keras 3's file formats (`keras.saving`)."""
from .saving_lib import SavingError, load_model, load_weights, model_from_config, save_model, save_weights  # noqa: F401
from .serialization import get_registered_name, get_registered_object, register_keras_serializable  # noqa: F401


def model_from_json(json_string, custom_objects=None):
    import json
    return model_from_config(json.loads(json_string), custom_objects)
