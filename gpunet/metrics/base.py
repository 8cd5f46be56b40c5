"""Metric, Mean, MeanMetricWrapper and Sum: stateful objects with update_state / result /
reset_state. State is accumulated with backend arrays (on the device under CuPy), so updating a
metric never forces a host synchronisation; only result() reads it back."""
from .. import backend
from ..ops.tape import Tensor


def _arr(x):
    if isinstance(x, Tensor):
        return x.data
    return backend.get_xp().asarray(x)


class Metric:
    argmax_invariant = False  # True: gives the same result on logits as on softmax probabilities
    direction = None  # "up" or "down": which way is better (EarlyStopping's mode="auto")

    def __init__(self, name=None, dtype=None):
        # Keras does not call reset_state() here: a subclass creates its state (add_variable) after
        # super().__init__(), so reset_state() may not work yet
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (Keras's Metric.add_variable); reset_state() puts it back to zeros."""
        from .. import initializers
        from ..ops.tape import Variable
        v = Variable(initializers.get(initializer), shape=tuple(shape), dtype=dtype or self.dtype,
                     trainable=False, name=name or "variable")
        v.path = "%s/%s" % (self.name, v.name)
        # how DataParallel combines it across processes (Keras's meaning; Variable has fixed slots)
        self.__dict__.setdefault("_aggregations", {})[id(v)] = aggregation
        self._variables.append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self):
        return list(self.__dict__.get("_variables", []))

    def reset_state(self):
        """Keras's default: every state variable back to zeros."""
        for v in self.variables:
            v.assign(backend.get_xp().zeros(v.shape, dtype=v.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Mean(Metric):
    """Weighted running mean of the values given to update_state."""
    _sum_state = ("total", "count")  # additive: summed across processes under DataParallel

    def __init__(self, name="mean", dtype=None):  # Keras: a subclass that names nothing is "mean"
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        v = _arr(values)
        if sample_weight is None:
            self.total = self.total + v.sum(dtype="float64")
            self.count = self.count + v.size
        else:
            sw = _arr(sample_weight).astype("float64")
            while sw.ndim > v.ndim and sw.shape[-1] == 1:  # (batch, 1) weights for per-sample values
                sw = sw.reshape(sw.shape[:-1])
            sw = backend.get_xp().broadcast_to(sw.reshape(sw.shape + (1,) * (v.ndim - sw.ndim)), v.shape)
            self.total = self.total + (v * sw).sum(dtype="float64")
            self.count = self.count + sw.sum()

    def add(self, value, weight):
        """Adds one already-reduced value with a weight (the loss tracker: weight = batch size)."""
        self.total = self.total + value.astype("float64") * weight
        self.count = self.count + weight

    def result(self):
        count = float(self.count)
        return float(self.total) / count if count else 0.0


class MeanMetricWrapper(Mean):
    """Mean over samples of fn(y_true, y_pred)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None)  # Keras: masked timesteps do not count
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if mask is not None:
            from ..losses import apply_mask
            sample_weight = apply_mask(sample_weight, mask, "sum")
        super().update_state(values, sample_weight)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(self._fn_kwargs)
        return cfg


class Sum(Metric):
    _sum_state = ("total",)

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        v = _arr(values).astype("float64")
        if sample_weight is not None:
            v = v * _arr(sample_weight).astype("float64").reshape(v.shape[:1] + (1,) * (v.ndim - 1))
        self.total = self.total + v.sum()

    def result(self):
        return float(self.total)
