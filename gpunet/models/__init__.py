from ..common import registry
from .cloning import clone_model  # noqa: F401
from .functional import Functional
from .model import Model  # noqa: F401
from .sequential import Sequential

# the model classes a saved config may name; a config's "Model" is a Functional one, as in Keras
registry.register_builtin_layers({"Sequential": Sequential, "Functional": Functional, "Model": Functional})


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    from ..saving import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None):
    from ..saving import model_from_json as _from_json
    return _from_json(json_string, custom_objects)


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    from ..saving import save_model as _save
    return _save(model, filepath, overwrite=overwrite, **kwargs)
