"""Projections applied to a weight after each optimizer step (Keras's `constraints`)."""
from . import backend
from .common import registry
from .common.registry import lookup


class Constraint:
    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        xp = backend.get_xp()
        norms = xp.sqrt((w * w).sum(axis=self.axis, keepdims=True))
        desired = xp.clip(norms, 0, self.max_value)
        return w * (desired / (1e-7 + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        xp = backend.get_xp()
        return w / (1e-7 + xp.sqrt((w * w).sum(axis=self.axis, keepdims=True)))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along axis pulled into [min_value, max_value] at `rate` (1: all the way), as Keras."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        xp = backend.get_xp()
        norms = xp.sqrt((w * w).sum(axis=self.axis, keepdims=True))
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (1e-7 + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_TABLE = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
          "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm, "MinMaxNorm": MinMaxNorm,
          "MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm}


def serialize(constraint):
    if constraint is None:
        return None
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    if isinstance(config, dict):
        return lookup("constraint", config["class_name"], _TABLE).from_config(config.get("config", {}))
    return get(config)


def get(identifier):
    if identifier is None or isinstance(identifier, Constraint) or callable(identifier) and not isinstance(identifier, str):
        return identifier
    if isinstance(identifier, dict):  # a serialized constraint from a Keras config
        cls = lookup("constraint", identifier["class_name"], _TABLE)
        cfg = identifier.get("config") or {}
        return cls.from_config(cfg) if hasattr(cls, "from_config") else cls(**cfg)
    return lookup("constraint", identifier, _TABLE)()


# what a saved config may name (common/registry.py)
registry.register_builtins("classes", "constraints", _TABLE)
