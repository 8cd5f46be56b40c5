"""Keras optimizers (`keras.optimizers`)."""
from ..common import registry
from ..common.registry import lookup
from . import schedules  # noqa: F401
from .base import Optimizer  # noqa: F401
from .more import Adadelta, Adagrad, Adamax, Ftrl, Lamb, Lion, Nadam  # noqa: F401
from .rules import SGD, Adam, AdamW, RMSprop  # noqa: F401
from .loss_scale import LossScaleOptimizer  # noqa: F401

_TABLE = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
          "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "lamb": Lamb, "ftrl": Ftrl}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("optimizer", identifier["class_name"], {**_TABLE, **{c.__name__: c for c in _TABLE.values()},
                                                             "LossScaleOptimizer": LossScaleOptimizer})
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, _TABLE)()
    raise ValueError("Could not interpret optimizer identifier: %r" % (identifier,))


def serialize(opt):
    if opt is None:
        return None
    return {"module": "keras.optimizers", "class_name": type(opt).__name__, "config": opt.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None, use_legacy_format=False):
    if custom_objects and isinstance(config, dict) and config.get("class_name") in custom_objects:
        return custom_objects[config["class_name"]].from_config(config.get("config", {}))
    return get(config)


# what a saved config may name (common/registry.py)
registry.register_builtins("classes", "optimizers", {**{c.__name__: c for c in _TABLE.values()},
                                                     "LossScaleOptimizer": LossScaleOptimizer})


LossScaleOptimizer._deserialize = staticmethod(deserialize)  # its config holds the inner optimizer's
