"""Weight penalties added to the training loss, as Keras's `regularizers`."""
from . import ops
from .common import registry
from .common.registry import lookup


class Regularizer:
    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        total = 0.0
        if self.l1:
            total = ops.multiply(self.l1, ops.sum(ops.abs(x)))
        if self.l2:
            total = ops.add(total, ops.multiply(self.l2, ops.sum(ops.square(x))))
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_TABLE = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier) and not isinstance(identifier, str):
        return identifier
    if isinstance(identifier, dict):
        return lookup("regularizer", identifier["class_name"], {"L1": L1, "L2": L2, "L1L2": L1L2}).from_config(identifier["config"])
    return lookup("regularizer", identifier, _TABLE)()


l1, l2, l1_l2 = L1, L2, L1L2


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    return get(config)


# what a saved config may name (common/registry.py)
registry.register_builtins("classes", "regularizers", {"L1": L1, "L2": L2, "L1L2": L1L2})
