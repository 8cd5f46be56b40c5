"""Projections applied to a weight after each optimizer step (Keras's `constraints`)."""
from . import backend
from .utils.registry import lookup


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


_TABLE = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
          "unit_norm": UnitNorm, "unitnorm": UnitNorm}


def get(identifier):
    if identifier is None or isinstance(identifier, Constraint) or callable(identifier) and not isinstance(identifier, str):
        return identifier
    return lookup("constraint", identifier, _TABLE)()
