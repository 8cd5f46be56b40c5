"""Any Keras object to and from the dict Keras writes for it (`keras.saving.serialize_keras_object`,
`deserialize_keras_object`), and the registered objects' scope. Names are looked up in gpunet's tables only
(common/registry.py); a Python lambda is refused unless safe_mode=False.
`keras.utils` exports the same functions."""
from ..layers.misc import _func_load
from ..common import registry
from ..common.registry import SavingError
from . import safety


def register_keras_serializable(package="Custom", name=None):
    return registry.register_keras_serializable(package, name)


def get_registered_name(obj):
    return registry.get_registered_name(obj) or getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    return registry.get_registered_object(name, custom_objects) or (module_objects or {}).get(name)


def get_custom_objects():
    return registry._REGISTERED


class CustomObjectScope:
    """Within the `with` block, these names resolve when a model is loaded (Keras's custom_object_scope)."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})
        self._saved = None

    def __enter__(self):
        self._saved = dict(registry._REGISTERED)
        registry._REGISTERED.update(self.custom_objects)
        return self

    def __exit__(self, *exc):
        registry._REGISTERED.clear()
        registry._REGISTERED.update(self._saved)
        return False


custom_object_scope = CustomObjectScope


def serialize_keras_object(obj):
    """The {"module", "class_name", "config", "registered_name"} dict Keras writes for an object."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if not hasattr(obj, "get_config"):
        if callable(obj) and getattr(obj, "__name__", None):
            return obj.__name__
        raise TypeError("Cannot serialize %r: it has no get_config()" % (obj,))
    return {"module": type(obj).__module__.replace("gpunet", "keras"), "class_name": type(obj).__name__,
            "config": obj.get_config(), "registered_name": registry.get_registered_name(obj)}


_NOT_THERE = object()


def _from_module_objects(config, module_objects, custom_objects):
    """Keras's `module_objects=`: the caller's own table ({"greedy": GreedySampler}, as KerasHub passes). A name
    (or a config's class_name) found there is that class made from the config, or that function; a name found in
    neither it nor the registered or custom objects comes back as it is, as Keras returns it."""
    if not isinstance(module_objects, dict):
        raise TypeError("module_objects must be a dict {name: class or function}, received %s"
                        % type(module_objects).__name__)
    if isinstance(config, dict):
        if "class_name" not in config:
            raise ValueError("Unknown `config` as a `dict`, config=%r" % (config,))
        name, inner = config["class_name"], config.get("config")
        if name == "function":
            name = config.get("config") if config.get("module") == "builtins" else config.get("registered_name")
    elif isinstance(config, str):
        name, inner = config, None
    else:
        return _NOT_THERE
    for key in (name, config.get("registered_name") if isinstance(config, dict) else None):
        if key is not None and registry.get_registered_object(key, custom_objects) is not None:
            return _NOT_THERE  # registered or custom: the general path below builds it
    if name not in module_objects:
        return config
    obj = module_objects[name]
    if not isinstance(obj, type):
        return obj
    return obj.from_config(inner or {}) if hasattr(obj, "from_config") else obj(**(inner or {}))


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a serialize_keras_object dict (or a name) describes: registered, custom or built in. Names are
    looked up in gpunet's tables only (common/registry.py), never as attributes of a module; a Python
    lambda is refused unless safe_mode=False, as in Keras."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    module_objects = kwargs.get("module_objects")
    if module_objects is not None:
        found = _from_module_objects(config, module_objects, custom_objects)
        if found is not _NOT_THERE:
            return found
    if isinstance(config, str):
        found = registry.get_registered_object(config, custom_objects)
        if found is None:
            found = registry.builtin_functions().get(config)
        if found is None:
            raise ValueError("Could not interpret serialized object %r" % (config,))
        return found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if not isinstance(config, dict):
        raise TypeError("Could not parse config: %r" % (config,))
    with registry.SafeModeScope(safe_mode):
        problem = safety.check_object(config, custom_objects) if "class_name" in config else None
        if problem:
            raise SavingError("Could not deserialize %s: %s" % (safety.describe(config), problem))
        name = config.get("class_name")
        if name == "__lambda__":
            value = (config.get("config") or {}).get("value")  # Keras's func_dump triple: code, defaults, closure
            if not (isinstance(value, (list, tuple)) and len(value) == 3):
                raise SavingError("a serialized lambda must hold [code, defaults, closure], received %r" % (value,))
            return _func_load({"code": value[0], "defaults": value[1], "closure": value[2]})
        if name == "function":
            fn = config.get("config")
            return registry.get_registered_object(fn, custom_objects) or registry.builtin_functions()[fn]
        cls = (registry.get_registered_object(config.get("registered_name") or name, custom_objects)
               or registry.get_registered_object(name, custom_objects)
               or registry.builtin_classes().get(name))
        if cls is None:
            raise ValueError("Could not locate class %r. Make sure custom classes are decorated with "
                             "`@gpunet.saving.register_keras_serializable()` or passed in custom_objects." % (name,))
        return cls.from_config(config.get("config", {}))
