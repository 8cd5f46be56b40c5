"""What Layer does for saving and loading: Keras's auto config for a user class without get_config (its config is
the plain arguments it was made with), and the weight budget of a model built from a file (saving_lib)."""
import inspect


class WeightBudgetExceeded(ValueError):
    """A layer built from a loaded config asked for more weight elements than the weights file holds."""


_weight_budget = []  # [remaining elements] while a model is built from a file (saving_lib), else empty


class weight_budget:
    """`with weight_budget(n):` — bounds the weights created inside by n, the element count of the weights file
    a loaded config comes with: every weight must be found in that file, so one weight larger than the whole
    file (a Dense with units=10**12) is refused before anything is allocated, not with a MemoryError after.
    Layers may create their weights more than once while a model is rebuilt (a cell built by its RNN and again
    when the model is built), so all creations together may reach a few times n."""
    REBUILDS = 4

    def __init__(self, elements):
        self.elements = elements

    def __enter__(self):
        _weight_budget.append([self.elements, self.REBUILDS * self.elements + (1 << 20)])
        return self

    def __exit__(self, *exc):
        _weight_budget.pop()
        return False


def _charge_weight(layer, shape):
    if not _weight_budget:
        return
    n = 1
    for s in shape:
        n *= s
    total, left = _weight_budget[-1]
    if n > total or n > left:
        raise WeightBudgetExceeded(
            "layer %r (%s) asks for a weight of shape %s (%d elements), but the weights file holds %d elements in all: "
            "the config and the weights disagree" % (layer.name, type(layer).__name__, shape, n, total))
    _weight_budget[-1][1] -= n


def _user_init(cls, layer_class):
    """True when cls's __init__ is the user's own (not gpunet's) and cls has no get_config of its own anywhere
    below `layer_class` (Layer): its config is then made from the arguments it was created with (Keras's auto
    config)."""
    for klass in cls.__mro__:
        if "get_config" in vars(klass):
            return klass is layer_class and _defines_init_outside_gpunet(cls)
    return False


def _defines_init_outside_gpunet(cls):
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            return not (klass.__module__ or "").startswith("gpunet.")
    return False


_AUTO_TYPES = (str, int, float, bool, type(None))


def _auto_config(cls, args, kwargs):
    """Keras's Operation.__new__ rule: the arguments a user class was created with, when every leaf is a str,
    number, bool or None (lists, tuples and dicts of them too); otherwise None (then get_config must exist)."""
    try:
        names = list(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return None
    config = dict(kwargs)
    config.update(zip(names, args))
    stack = list(config.values())
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif not isinstance(v, _AUTO_TYPES):
            return None
    return config


def auto_get_config(self, base):
    """The config of a user class without get_config: the arguments it was created with (Keras's rule), plus
    the base keys its __init__ accepts. Refused, as Keras refuses it, when an argument is not plain data."""
    auto = self.__dict__.get("_auto_config")
    if auto is None:
        raise NotImplementedError(
            "Object %s was created by passing non-serializable argument values in `__init__()`, and therefore "
            "the object must override `get_config()` in order to be serializable. Please implement "
            "`get_config()`." % type(self).__name__)
    params = inspect.signature(type(self).__init__).parameters
    takes_all = any(p.kind == p.VAR_KEYWORD for p in params.values())
    cfg = {k: v for k, v in base.items() if takes_all or k in params}
    cfg.update(auto)
    return cfg
