"""Keras-compatible configs: layers/models to and from the dicts Keras writes in config.json.

Loading is safe: configs only name classes — built-in ones, those registered with
`register_keras_serializable`, or those passed in `custom_objects`; no code is ever unpickled or
evaluated."""
import inspect

_REGISTERED = {}


def register_keras_serializable(package="Custom", name=None):
    """Decorator: makes a user class loadable by its registered name "<package>><name>"."""
    def deco(cls):
        key = "%s>%s" % (package, name or cls.__name__)
        if key in _REGISTERED and _REGISTERED[key] is not cls:
            raise ValueError("%s has already been registered to %r" % (key, _REGISTERED[key]))
        _REGISTERED[key] = cls
        cls._registered_name = key
        return cls
    return deco


def get_registered_name(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__dict__.get("_registered_name")


def get_registered_object(name, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _REGISTERED.get(name)


def _builtin_layers():
    from .. import layers, models
    table = {name: getattr(layers, name) for name in dir(layers)
             if isinstance(getattr(layers, name), type) and issubclass(getattr(layers, name), layers.Layer)}
    table["Sequential"] = models.Sequential
    from ..models.functional import Functional
    table["Functional"] = Functional
    table["Model"] = Functional
    return table


CUSTOM_HINT = ("If it is your own class or function, pass it in `custom_objects={name: object}` or decorate it "
               "with `@gpunet.saving.register_keras_serializable()`")  # the one hint every loading error gives


def builtin_classes():
    """{class name: class} for every built-in a config may name, by kind; the only place a class named in a file
    is looked up (besides registered classes and custom_objects)."""
    if not _BUILTINS:
        from .. import constraints, initializers, losses, metrics, optimizers, regularizers
        from ..optimizers import schedules
        table = {}
        for kind in (dict(constraints._TABLE), dict(initializers._TABLE), {"L1": regularizers.L1, "L2": regularizers.L2,
                     "L1L2": regularizers.L1L2}, dict(losses._CLASSES), dict(metrics._CLASSES),
                     {c.__name__: c for c in optimizers._TABLE.values()}, dict(schedules.SCHEDULES), _builtin_layers()):
            table.update({k: v for k, v in kind.items() if isinstance(v, type) and k[:1].isupper()})
        _BUILTINS.update(table)
    return _BUILTINS


def builtin_functions():
    """{name: object} of the built-in functions a config may name by "function" ("relu", "mse", "auc")."""
    if not _FUNCTIONS:
        from .. import activations, losses, metrics
        _FUNCTIONS.update(activations._TABLE)
        _FUNCTIONS.update(losses._FUNCTIONS)
        _FUNCTIONS.update(metrics._STRINGS)
    return _FUNCTIONS


_BUILTINS, _FUNCTIONS = {}, {}


def serialize_layer(layer):
    reg = get_registered_name(layer)
    out = {"module": "keras.layers" if reg is None else None, "class_name": type(layer).__name__,
           "config": layer.get_config(), "registered_name": reg}
    if type(layer).__name__ == "Functional":
        out["module"] = "keras"
    build = layer.get_build_config()
    if build is not None:
        out["build_config"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in build.items()}
    return out


def layer_class(config, custom_objects=None):
    name, reg = config.get("class_name"), config.get("registered_name")
    for key in (reg, name):
        if key and key != "Functional":
            cls = get_registered_object(key, custom_objects)
            if cls is not None:
                return cls
    cls = _builtin_layers().get(name)
    if cls is None:
        raise ValueError("Unknown layer class %r in the saved config. If it is your own class, pass it in "
                         "`custom_objects={%r: %s}` or decorate it with "
                         "`@gpunet.saving.register_keras_serializable()`." % (name, name, name))
    return cls


def deserialize_layer(config, custom_objects=None):
    cls = layer_class(config, custom_objects)
    cfg = dict(config.get("config", {}))
    if hasattr(cls, "from_config") and "custom_objects" in inspect.signature(cls.from_config).parameters:
        layer = cls.from_config(cfg, custom_objects=custom_objects)
    else:
        layer = cls.from_config(cfg)
    build = config.get("build_config")
    if build and not layer.built:
        layer.build_from_config(build)
    return layer


def accepted_kwargs(fn, config):
    """The keys of config that fn accepts (Keras files carry options gpunet ignores)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return dict(config)
    return {k: v for k, v in config.items() if k in params}
