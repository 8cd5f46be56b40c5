"""The tables of what a name may stand for. A name read from a saved file or a config is looked up here, in
an explicit table, never with getattr on a module: the built-ins (each package hands over its own table),
classes registered with `register_keras_serializable`, and the caller's `custom_objects`. Safe mode lives
here too: whether a load may run bytecode saved in the file (a Lambda's Python lambda), and with which names.

This module imports nothing of gpunet, so layers, models, losses and metrics use it (and fill its tables)
while saving/ builds on layers and reads the same tables."""
import difflib
import inspect


class SavingError(ValueError):
    """A model, weights or config file that cannot be loaded or saved, and why (gpunet.saving.SavingError)."""


def lookup(kind, identifier, table):
    """table[identifier] (or its lower-case form), else an error naming the kind, with a 'did you mean'."""
    if identifier in table:
        return table[identifier]
    key = identifier.lower() if isinstance(identifier, str) else identifier
    if key in table:
        return table[key]
    near = difflib.get_close_matches(str(identifier), list(table), n=3, cutoff=0.5)
    hint = (" Did you mean %s?" % " or ".join(repr(n) for n in near)) if near else ""
    raise ValueError("Unknown %s: %r.%s Known: %s" % (kind, identifier, hint, ", ".join(sorted(table))))


# ---- registered classes and functions ----

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
    cls = cls.__dict__.get("_registered_as", cls)  # a Model subclass made Functional (models/model.py)
    return cls.__dict__.get("_registered_name")


def get_registered_object(name, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _REGISTERED.get(name)


CUSTOM_HINT = ("If it is your own class or function, pass it in `custom_objects={name: object}` or decorate it "
               "with `@gpunet.saving.register_keras_serializable()`")  # the one hint every loading error gives


def accepted_kwargs(fn, config):
    """The keys of config that fn accepts (Keras files carry options gpunet ignores)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return dict(config)
    return {k: v for k, v in config.items() if k in params}


# ---- the built-in classes and functions, handed over by the modules that own them ----

# merged in this order (a later table wins a name two share), the layers and models last
_CLASS_OWNERS = ("constraints", "initializers", "regularizers", "losses", "metrics", "optimizers", "schedules")
_FUNCTION_OWNERS = ("activations", "losses", "metrics")
_OWNED = {"classes": {}, "functions": {}}
_merged = {}


def register_builtins(kind, owner, table):
    """The module `owner` hands over its table of the names a config may use: kind "classes" or "functions"
    ("relu", "mse", "auc")."""
    owners = {"classes": _CLASS_OWNERS, "functions": _FUNCTION_OWNERS}[kind]
    if owner not in owners:
        raise ValueError("register_builtins: unknown %s owner %r (expected one of %s)" % (kind, owner, owners))
    _OWNED[kind][owner] = table
    _merged.clear()


def builtin_classes():
    """{class name: class} for every built-in a config may name, by kind; the only place a class named in a file
    is looked up (besides registered classes and custom_objects)."""
    merged = _merged.get("classes")
    if merged is None:
        merged = {}
        for table in [_OWNED["classes"].get(o, {}) for o in _CLASS_OWNERS] + [_BUILTIN_LAYERS]:
            merged.update({k: v for k, v in table.items() if isinstance(v, type) and k[:1].isupper()})
        _merged["classes"] = merged
    return merged


def builtin_functions():
    """{name: object} of the built-in functions a config may name by "function" ("relu", "mse", "auc")."""
    merged = _merged.get("functions")
    if merged is None:
        merged = {}
        for o in _FUNCTION_OWNERS:
            merged.update(_OWNED["functions"].get(o, {}))
        _merged["functions"] = merged
    return merged


# ---- layers and models ----

_BUILTIN_LAYERS = {}


def register_builtin_layers(table):
    """{class name: class}: gpunet.layers hands over its public layer classes, gpunet.models its models; the
    only layer classes a config may name besides registered ones and custom_objects."""
    _BUILTIN_LAYERS.update(table)
    _merged.clear()


def serialize_layer(layer):
    reg = get_registered_name(layer)
    cls = type(layer)
    module = "keras.layers" if reg is None else None
    if reg is None and _BUILTIN_LAYERS.get(cls.__name__) is not cls and not cls.__module__.startswith("gpunet."):
        # a user's class that is not registered: Keras writes its module and its name as the registered name,
        # and a loader finds it in custom_objects under that name (Keras looks in keras.layers otherwise)
        module, reg = cls.__module__, cls.__name__
    out = {"module": module, "class_name": cls.__name__, "config": layer.get_config(), "registered_name": reg}
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
    cls = _BUILTIN_LAYERS.get(name)
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


# ---- safe mode: Keras's global switch and per-load scope ----

_SAFE_MODE = [None]  # None: no scope and no global setting (safe); False: unsafe allowed; True: safe


def in_safe_mode():
    """True unless `safe_mode=False` was passed to the load in progress or unsafe deserialization was enabled."""
    return _SAFE_MODE[0] is not False


def enable_unsafe_deserialization():
    _SAFE_MODE[0] = False


class SafeModeScope:
    """`with SafeModeScope(safe_mode):` — a global `enable_unsafe_deserialization()` wins over the argument,
    as in Keras (serialization_lib.deserialize_keras_object)."""

    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        self._saved = _SAFE_MODE[0]
        if self._saved is not False:
            _SAFE_MODE[0] = bool(self.safe_mode)
        return self

    def __exit__(self, *exc):
        _SAFE_MODE[0] = self._saved
        return False


LAMBDA_REFUSED = ("Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. This "
                  "carries a potential risk of arbitrary code execution and thus it is disallowed by default. If you "
                  "trust the source of the artifact, you can override this error by passing `safe_mode=False` to the "
                  "loading function, or calling `keras.config.enable_unsafe_deserialization()`.")


def refuse_lambda_in_safe_mode(where=""):
    if in_safe_mode():
        raise SavingError(LAMBDA_REFUSED + ((" (%s)" % where) if where else ""))


_LAMBDA_GLOBALS = {}


def set_lambda_globals(names):
    """gpunet/__init__.py hands over the names a loaded lambda may use (gpunet itself as `keras` and `gpunet`,
    `ops`, `np`): the package's root imports everything, so it gives, and nothing below it imports it."""
    _LAMBDA_GLOBALS.update(names)


def lambda_globals():
    """The globals a lambda loaded from a file (outside safe mode) runs with: a fresh dict each time."""
    import builtins
    return dict(_LAMBDA_GLOBALS, __builtins__=builtins)
