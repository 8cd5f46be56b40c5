"""`keras.dtype_policies`: what dtype a layer keeps its variables in and what dtype it computes in.

"float32" (or any float dtype name) is both; "mixed_float16" and "mixed_bfloat16" keep float32 variables and compute
in half precision, as Keras's mixed precision does: a layer casts its floating inputs and, during its call, its
variables to the compute dtype (training/layers: Layer.__call__'s autocast), losses and metrics take float32.
bfloat16 on NumPy comes from the `ml_dtypes` package (JAX brings it). The global policy is
`keras.config.set_dtype_policy` / `keras.mixed_precision.set_global_policy`."""
import re
from collections.abc import MutableMapping

import numpy as np

from . import config
from .common import naming

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _np_dtype(name):
    """The NumPy dtype of a float dtype name; bfloat16 through ml_dtypes, refused clearly without it."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ValueError("The bfloat16 policies need the `ml_dtypes` package on NumPy (pip install ml_dtypes; "
                             "JAX installs it)") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _is_dtype(name):
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


class DTypePolicy:
    """Keras's DTypePolicy: `name`, `compute_dtype`, `variable_dtype` (and `quantization_mode`, always None here:
    gpunet has no quantized policies)."""

    def __init__(self, name=None):
        if name is None:
            name = config.floatx()
        if isinstance(name, DTypePolicy):
            name = name.name
        if not isinstance(name, str):
            raise TypeError("'name' must be a string, such as 'mixed_float16'. Received: name=%r (of type %s)"
                            % (name, type(name).__name__))
        if name in ("mixed_float16", "mixed_bfloat16"):
            compute, variable = name[len("mixed_"):], "float32"
        elif name in _FLOATS:
            compute = variable = name
        elif name == "string" or _is_dtype(name):  # an input or lookup layer's dtype (Keras's policy takes any)
            compute = variable = name if name == "string" else np.dtype(name).name
        else:
            raise ValueError("Cannot convert '%s' to a mixed precision DTypePolicy. Valid policies include "
                             "'mixed_float16', 'mixed_bfloat16', and the name of any float dtype such as "
                             "'float32'." % (name,))
        if compute == "bfloat16":
            _np_dtype(compute)  # without ml_dtypes this fails here, when the policy is made
        self._name, self._compute_dtype, self._variable_dtype = name, compute, variable

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def variable_dtype(self):
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return None

    @property
    def is_mixed(self):
        return self._compute_dtype != self._variable_dtype

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return '<DTypePolicy "%s">' % self._name


FloatDTypePolicy = DTypePolicy  # Keras keeps the old name as an alias


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """Keras's map from layer paths (exact, else a regular expression that fully matches) to policies, with a
    default. Used as a layer's policy it acts as its default policy: gpunet layers carry no nested path to look up,
    so a layer refuses a map that holds entries (Layer.dtype_policy) rather than ignore them."""

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. Received: policy_map=%r of type %s"
                            % (policy_map, type(policy_map)))
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy) if default_policy is not None else None
        self._policy_map = {}
        for key, policy in (policy_map or {}).items():
            self[key] = policy

    @property
    def default_policy(self):
        """The default policy: the one given, else the global policy at the time of asking."""
        return self._default_policy if self._default_policy is not None else dtype_policy()

    name = property(lambda self: "map_" + self.default_policy.name)
    compute_dtype = property(lambda self: self.default_policy.compute_dtype)
    variable_dtype = property(lambda self: self.default_policy.variable_dtype)
    quantization_mode = property(lambda self: self.default_policy.quantization_mode)
    is_mixed = property(lambda self: self.default_policy.is_mixed)

    def __getitem__(self, key):
        if key in self._policy_map:
            return self._policy_map[key]
        matching = [p for p in self._policy_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError("Path '%s' matches multiple dtype policy specification keys: %s. Please make sure each "
                             "path only matches at most one dtype policy specification key in the DTypePolicyMap."
                             % (key, matching))
        return self._policy_map[matching[0]] if matching else self.default_policy

    def __setitem__(self, key, policy):
        if key in self._policy_map:
            raise ValueError("%s already exist in the DTypePolicyMap with value %s. Please make sure to not use "
                             "duplicated keys." % (key, self._policy_map[key]))
        try:
            policy = get(policy)
        except Exception:
            raise ValueError("Cannot interpret the assigned value by `keras.dtype_policies.get`. Received: %r of "
                             "type %s" % (policy, type(policy))) from None
        self._policy_map[key] = policy

    def __delitem__(self, key):
        return self._policy_map.pop(key)

    def __contains__(self, key):
        return key in self._policy_map

    def __len__(self):
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def get_config(self):
        default = self._default_policy_arg
        return {"default_policy": serialize(get(default)) if isinstance(default, DTypePolicy) else default,
                "policy_map": {k: serialize(v) for k, v in self._policy_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if not isinstance(config.get("policy_map") or {}, dict):
            raise ValueError("A DTypePolicyMap's policy_map must be a dict, received %r" % (config["policy_map"],))
        return cls(default_policy=config.get("default_policy"), policy_map=config.get("policy_map"))

    def __eq__(self, other):
        return (isinstance(other, DTypePolicyMap) and other.default_policy == self.default_policy
                and other._policy_map == self._policy_map)

    __hash__ = None

    def __repr__(self):
        return "<DTypePolicyMap at 0x%x default_policy=%s mapping=%s>" % (
            id(self), self.default_policy.name, [(k, v.name) for k, v in self._policy_map.items()])

_global = []  # the policy set with set_dtype_policy, or empty for floatx's
naming.on_clear_session(_global.clear)  # clear_session forgets it, as Keras's does


def set_dtype_policy(policy):
    """keras.config.set_dtype_policy: the policy of every layer made without dtype= from now on."""
    if not isinstance(policy, DTypePolicy):
        if isinstance(policy, str):
            policy = DTypePolicy(policy)
        else:
            raise ValueError("Invalid `policy` argument. Expected the string name of a policy (such as "
                             "'mixed_float16') or a `DTypePolicy` instance. Received: policy=%r" % (policy,))
    _global[:] = [policy]


def dtype_policy():
    """keras.config.dtype_policy: the global policy (floatx's when none was set)."""
    return _global[0] if _global else DTypePolicy(config.floatx())


def get(identifier):
    """A DTypePolicy from a name, a policy, a config dict (a Keras file's {"class_name": "DTypePolicy", ...}),
    or None (the global policy)."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        if identifier.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy", "DTypePolicyMap"):
            raise ValueError("Cannot interpret the dtype policy %r: gpunet reads DTypePolicy, FloatDTypePolicy and "
                             "DTypePolicyMap (quantized policies are not supported)" % (identifier.get("class_name"),))
        cfg = identifier.get("config") or {}
        if not isinstance(cfg, dict):
            raise ValueError("A DTypePolicy config must be a dict, received %r" % (cfg,))
        if identifier["class_name"] == "DTypePolicyMap":
            return DTypePolicyMap.from_config(cfg)
        return DTypePolicy(cfg.get("name"))
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    if isinstance(identifier, np.dtype) or (isinstance(identifier, type) and issubclass(identifier, np.generic)):
        return DTypePolicy(np.dtype(identifier).name)
    raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance of DTypePolicy. Received: "
                     "dtype=%r" % (identifier,))


def serialize(policy):
    if isinstance(policy, DTypePolicyMap):
        return {"module": "keras.dtype_policies", "class_name": "DTypePolicyMap", "config": policy.get_config(),
                "registered_name": None}
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    return get(config)
