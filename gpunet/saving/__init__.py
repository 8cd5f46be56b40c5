"""Saving and loading in Keras 3's file formats (`keras.saving`)."""
from ..common.registry import get_registered_name, get_registered_object, register_keras_serializable  # noqa: F401
from .objects import (CustomObjectScope, custom_object_scope, deserialize_keras_object,  # noqa: F401
                      get_custom_objects, serialize_keras_object)
from .saving_lib import SavingError, load_model, load_weights, model_from_config, save_model, save_weights  # noqa: F401


def model_from_json(json_string, custom_objects=None):
    from .safety import parse_json
    return model_from_config(parse_json(json_string, "The model JSON", "the JSON"), custom_objects)
