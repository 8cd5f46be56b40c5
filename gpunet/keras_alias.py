"""`gpunet.install_as_keras()`: libraries written for Keras (keras-tuner, scikeras, KerasHub, keras-rs, AutoKeras)
run on gpunet unchanged, as `pymysql.install_as_MySQLdb()` lets MySQLdb's users run on PyMySQL.

An import hook on `sys.meta_path` answers every module name under `keras`:
- `keras` and its public modules (`keras.layers`, `keras.ops.numpy`, ...) are the gpunet modules of the same
  public names, as `import gpunet as keras` sees them;
- Keras 3's internal paths `keras.src.*` (which libraries import: `keras.src.saving.serialization_lib`,
  `keras.src.backend`, ...) map through `_SRC` to the gpunet modules, or the names of modules, that play their
  part. A path `_SRC` does not list takes its closest listed ancestor's: Keras's internal modules
  (`keras.src.layers.core.dense`) export their names through their public package, which gpunet mirrors. A path
  Keras 3 does not have, or one with no counterpart here (another backend's internals), raises an ImportError
  that names it.

Each name is a view module whose attributes come from its gpunet sources, so gpunet's own modules are never
renamed or written to (the import system sets each child module on its parent). The `keras` libraries see reports
the Keras API version gpunet implements (`keras.version()`): keras-tuner takes a version that is not 3.x for
tf.keras. gpunet's own `gpunet.__version__` stays gpunet's."""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

from . import _keras_src_layout

KERAS_VERSION = _keras_src_layout.KERAS_VERSION


def in_grain_data_pipeline():
    """Keras asks whether it runs inside a Grain data pipeline; gpunet's input pipelines never do."""
    return False


def in_tf_graph():
    """gpunet never traces TensorFlow graphs."""
    return False


def _keras_version():
    return KERAS_VERSION


# keras.src.<path> -> its sources, searched in order: a gpunet module, or "module:name name" for some of its names.
_SRC = {
    "": ("gpunet",),
    "activations": ("gpunet.activations",),
    "applications": ("gpunet.applications",),
    "backend": ("gpunet.backend", "gpunet.config", "gpunet.ops.symbolic",
                "gpunet.ops.tape:Variable", "gpunet.ops"),
    "backend.common.global_state": ("gpunet.common.naming",),
    "backend.config": ("gpunet.config", "gpunet.backend"),
    "callbacks": ("gpunet.callbacks",),
    "constraints": ("gpunet.constraints",),
    "datasets": ("gpunet.datasets",),
    "distribution": ("gpunet.distribution",),
    "dtype_policies": ("gpunet.dtype_policies",),
    "export": ("gpunet.export",),
    "initializers": ("gpunet.initializers",),
    "layers": ("gpunet.layers",),
    "legacy": ("gpunet.utils.legacy",),
    "losses": ("gpunet.losses",),
    "metrics": ("gpunet.metrics",),
    "models": ("gpunet.models",),
    "models.cloning": ("gpunet.models.cloning", "gpunet.models"),
    "ops": ("gpunet.ops",),
    "optimizers": ("gpunet.optimizers",),
    "random": ("gpunet.random",),
    "regularizers": ("gpunet.regularizers",),
    "saving": ("gpunet.saving",),
    "saving.saving_lib": ("gpunet.saving.saving_lib", "gpunet.saving"),
    "saving.serialization_lib": ("gpunet.saving.objects", "gpunet.common.registry:in_safe_mode SafeModeScope "
                                 "enable_unsafe_deserialization"),
    "saving.object_registration": ("gpunet.saving.objects",),
    "trainers": ("gpunet.training",),
    "trainers.data_adapters": ("gpunet.training.targets:class_weight_to_sample_weights",
                               "gpunet.utils:pack_x_y_sample_weight unpack_x_y_sample_weight",
                               "gpunet.common.dataset:PyDataset"),
    "tree": ("gpunet.common.tree",),
    "utils": ("gpunet.utils",),
    "utils.backend_utils": ("gpunet.keras_alias:in_grain_data_pipeline in_tf_graph", "gpunet.utils"),
    "utils.tracking": ("gpunet.layers.tracking",),
    "utils.file_utils": ("gpunet.utils.file_utils", "gpunet.utils"),
    "utils.image_utils": ("gpunet.utils.image_utils", "gpunet.utils"),
    "version": (),
    "visualization": ("gpunet.utils:plot_model model_to_dot",),
}
# packages whose submodules are gpunet modules of the same name (keras.src.applications.resnet ->
# gpunet.applications.resnet), before the package's own sources
_BY_NAME = ("applications.", "datasets.")
# Keras paths with no counterpart here: importing one is an ImportError that says why
_NONE = {
    "backend.jax": "gpunet computes with NumPy or CuPy, not JAX",
    "backend.numpy": "gpunet's NumPy path is its own (gpunet.backend), not Keras's NumPy backend",
    "backend.openvino": "gpunet does not run on OpenVINO",
    "backend.tensorflow": "gpunet computes with NumPy or CuPy, not TensorFlow",
    "backend.torch": "gpunet computes with NumPy or CuPy, not PyTorch",
    "distillation": "gpunet has no knowledge-distillation models",
    "quantizers": "gpunet has no quantizers (int8/float8 layers)",
    "testing": "Keras's test-case base classes are not part of gpunet",
    "wrappers": "gpunet has no scikit-learn wrappers of its own: use scikeras",
    "api_export": "gpunet does not generate its API with Keras's export decorators",
}
_OVERRIDES = {"keras": {"__version__": KERAS_VERSION, "version": _keras_version},
              "keras.src.version": {"__version__": KERAS_VERSION, "version": _keras_version}}
_SRC_PATHS = _keras_src_layout.paths()


def _missing(fullname, why):
    return ModuleNotFoundError("No module named %r: %s (gpunet.install_as_keras() maps keras to gpunet)"
                               % (fullname, why), name=fullname)


def _source(spec):
    module_name, _, names = spec.partition(":")
    return importlib.import_module(module_name), (frozenset(names.split()) if names else None)


class KerasView(types.ModuleType):
    """A `keras...` module whose attributes are its gpunet sources' (see the module docstring)."""

    def __init__(self, name, sources, overrides=None):
        super().__init__(name)
        self.__dict__["_gpunet_sources"] = sources
        self.__dict__.update(overrides or {})

    def __getattr__(self, attr):
        if attr.startswith("__") and attr != "__all__":
            raise AttributeError(attr)
        fullname = self.__name__ + "." + attr
        if _is_module_path(fullname):  # keras.src.backend: the view, not gpunet.backend itself
            return importlib.import_module(fullname)
        for module, names in self._gpunet_sources:
            if names is None or attr in names:
                try:
                    value = getattr(module, attr)
                except AttributeError:
                    continue
                if isinstance(value, types.ModuleType) and fullname.startswith("keras.") \
                        and not fullname.startswith("keras.src."):
                    return importlib.import_module(fullname)  # keras.layers: the view of gpunet.layers
                return value
        if attr == "__all__":
            return sorted(self._public())
        raise AttributeError("module %r has no attribute %r (gpunet.install_as_keras() maps it to %s)"
                             % (self.__name__, attr, ", ".join(m.__name__ for m, _ in self._gpunet_sources)
                                or "no gpunet module"))

    def _public(self):
        out = {k for k in self.__dict__ if not k.startswith("_")}
        for module, names in self._gpunet_sources:
            listed = names if names is not None else getattr(module, "__all__", None) or dir(module)
            if module.__name__ == "gpunet":  # its modules loaded on first use are public names too
                listed = set(listed) | (set(module._LAZY) - {"kernels"})
            for k in listed:
                v = getattr(module, k, None)
                if k.startswith("_") or (isinstance(v, types.ModuleType) and not v.__name__.startswith("gpunet")):
                    continue
                out.add(k)
        return out

    def __dir__(self):
        return sorted(set(super().__dir__()) | self._public())


def _is_module_path(fullname):
    return fullname == "keras.src" or fullname.startswith("keras.src.") and fullname[len("keras.src."):] in _SRC_PATHS


def _src_view(fullname):
    path = fullname[len("keras.src"):].lstrip(".")
    if path and path not in _SRC_PATHS:
        raise _missing(fullname, "Keras %s has no such module" % KERAS_VERSION)
    parts = path.split(".") if path else []
    sources = None
    for n in range(len(parts), -1, -1):
        prefix = ".".join(parts[:n])
        if prefix in _NONE:
            raise _missing(fullname, "it has no counterpart in gpunet: " + _NONE[prefix])
        if prefix in _SRC:
            sources = list(_SRC[prefix])
            break
    if sources is None:
        raise _missing(fullname, "gpunet has no counterpart to keras.src.%s" % parts[0])
    if path.startswith(_BY_NAME) and path.count(".") == 1 and importlib.util.find_spec("gpunet." + path):
        sources.insert(0, "gpunet." + path)
    return KerasView(fullname, [_source(s) for s in sources], _OVERRIDES.get(fullname))


def _public_view(fullname):
    """keras.<a>.<b>: the gpunet module at the same public path (an attribute, or a submodule not yet loaded)."""
    obj = sys.modules["gpunet"]
    for part in fullname.split(".")[1:]:
        value = getattr(obj, part, None)
        if value is None and isinstance(obj, types.ModuleType):
            try:
                value = importlib.import_module(obj.__name__ + "." + part)
            except ModuleNotFoundError as e:
                if e.name != obj.__name__ + "." + part:
                    raise
        if not isinstance(value, types.ModuleType):
            raise _missing(fullname, "gpunet has no module %r under %s" % (part, obj.__name__))
        obj = value
    return KerasView(fullname, [(obj, None)], _OVERRIDES.get(fullname))


class _Loader(importlib.abc.Loader):
    def __init__(self, module):
        self._module = module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        pass


class KerasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("keras."):
            return None
        if fullname == "keras.src" or fullname.startswith("keras.src."):
            module = _src_view(fullname)
        else:
            module = _public_view(fullname)
        return importlib.machinery.ModuleSpec(fullname, _Loader(module), is_package=True)


def install_as_keras():
    """From now on `import keras` (and `keras.*`, `keras.src.*`) gives gpunet. Call it before importing the
    library that imports keras; calling it again does nothing."""
    if any(isinstance(f, KerasFinder) for f in sys.meta_path):
        return
    loaded = sorted(n for n in sys.modules if n == "keras" or n.startswith("keras."))
    if loaded:
        where = getattr(sys.modules[loaded[0]], "__file__", None) or "?"
        raise RuntimeError("install_as_keras() must run before keras is imported, but %s is already imported "
                           "(from %s): call gpunet.install_as_keras() before importing keras or a library that "
                           "imports it" % (loaded[0], where))
    sys.meta_path.insert(0, KerasFinder())
