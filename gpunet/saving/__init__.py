"""Saving and loading in Keras 3's file formats (`keras.saving`)."""
from .saving_lib import SavingError, load_model, load_weights, model_from_config, save_model, save_weights  # noqa: F401
from .serialization import get_registered_name, get_registered_object, register_keras_serializable  # noqa: F401


def model_from_json(json_string, custom_objects=None):
    from .safety import parse_json
    return model_from_config(parse_json(json_string, "The model JSON", "the JSON"), custom_objects)


def _utils():
    from .. import utils
    return utils


def serialize_keras_object(obj):
    return _utils().serialize_keras_object(obj)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    return _utils().deserialize_keras_object(config, custom_objects, safe_mode, **kwargs)


def get_custom_objects():
    return _utils().get_custom_objects()


def __getattr__(name):
    if name in ("CustomObjectScope", "custom_object_scope"):
        return getattr(_utils(), name)
    raise AttributeError("module 'gpunet.saving' has no attribute %r" % name)
