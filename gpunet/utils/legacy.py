"""`keras.utils.legacy`: Keras 2's object serialization, {"class_name": ..., "config": ...} without Keras 3's
"module" and "registered_name". Libraries written across Keras versions keep their own objects in this format:
keras-tuner's hyperparameters, conditions and oracles are saved with it.

A name is looked up in custom_objects, the registered objects (register_keras_serializable, custom_object_scope),
then `module_objects`: the caller's explicit table of its own classes. Never as an attribute of a module.
Keras 2's shared-object IDs (written only inside its legacy model-saving scopes) are not produced here: gpunet
saves models in Keras 3's formats."""
import inspect

from ..common import registry
from ..saving.objects import CustomObjectScope


def _registered_name(cls):
    return registry.get_registered_name(cls) or cls.__name__


def serialize_keras_object(instance):
    """An object with get_config() as {"class_name", "config"} (configs' objects serialized the same way and
    marked passive); a function or class as its registered name."""
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                value = serialize_keras_object(item)
                if isinstance(value, dict) and not isinstance(item, dict):
                    value["__passive_serialization__"] = True
                config[key] = value
            except ValueError:
                config[key] = item
        return {"class_name": _registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return _registered_name(instance)
    raise ValueError("Cannot serialize %r because it doesn't implement `get_config()`." % (instance,))


def _lookup(name, module_objects, custom_objects):
    found = registry.get_registered_object(name, custom_objects)
    if found is None and module_objects is not None:
        if not isinstance(module_objects, dict):
            raise TypeError("module_objects must be a dict {name: object}, received %s" % type(module_objects))
        found = module_objects.get(name)
    return found


def _unknown(kind, name):
    return ValueError("Unknown %s: '%s'. Please ensure you are using a `keras.utils.custom_object_scope` and that "
                      "this object is included in the scope." % (kind, name))


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None, printable_module_name="object"):
    """The object a legacy config (or a name) describes; a class named by a string is instantiated without
    arguments, as in Keras 2."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError("Improper config format for %s. Expecting python dict contains `class_name` and "
                             "`config` as keys" % (identifier,))
        cls = _lookup(identifier["class_name"], module_objects, custom_objects)
        if cls is None:
            raise _unknown(printable_module_name, identifier["class_name"])
        config = identifier["config"]
        if isinstance(config, dict):
            config = dict(config)
            for key, item in config.items():
                if key == "name":
                    continue
                if isinstance(item, dict) and "__passive_serialization__" in item:
                    config[key] = deserialize_keras_object(item, module_objects, custom_objects, "config_item")
                elif isinstance(item, str) and inspect.isfunction(_lookup(item, module_objects, custom_objects)):
                    config[key] = _lookup(item, module_objects, custom_objects)
        custom_objects = dict(custom_objects or {})
        if hasattr(cls, "from_config"):
            if "custom_objects" in inspect.signature(cls.from_config).parameters:
                return cls.from_config(config, custom_objects={**registry._REGISTERED, **custom_objects})
            with CustomObjectScope(custom_objects):
                return cls.from_config(config)
        with CustomObjectScope(custom_objects):
            return cls(**config)
    if isinstance(identifier, str):
        obj = _lookup(identifier, module_objects, custom_objects)
        if obj is None:
            raise _unknown(printable_module_name, identifier)
        return obj() if inspect.isclass(obj) else obj
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError("Could not interpret serialized %s: %r" % (printable_module_name, identifier))
