"""The .keras zip (metadata.json, config.json, model.weights.h5), .weights.h5 files, and reading
legacy Keras 2 .h5 files — laid out exactly as Keras 3 lays them out, so each side reads the
other's files. Every write goes to a temporary file that is renamed into place (atomic); every read
checks the whole file against the model before assigning anything (no half-loaded model)."""
import datetime
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib

import numpy as np

from .. import backend
from ..common import interrupts
from ..common.naming import to_snake_case
from ..common import registry
from ..common.registry import SavingError  # noqa: F401  (gpunet.saving.SavingError)
from . import assets, hdf5, safety
# check_folder and check_save_path stay importable from here (the CLI and the callbacks use them)
from .files import _atomic_write, _reserve, _target, check_folder, check_save_path  # noqa: F401

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose file layout these files follow


def _h5py():
    try:
        import h5py
    except ModuleNotFoundError:  # pragma: no cover - h5py is a dependency
        raise ImportError("Saving and loading Keras files needs h5py: pip install h5py") from None
    return h5py


# ---- which variables live where ----

def _own_vars(layer):
    return list(getattr(layer, "_own_weights", []))


def _children(layer):
    """(h5 key, child layer) pairs as Keras names them. A model's layers sit in its `layers` list: each
    is keyed by its snake_case class name, numbered per class ("layers/dense_1"). A layer's sublayers are
    keyed by the attribute holding them ("cell", "forward_layer"), a list attribute's items by class
    name under it ("blocks/dense_1") — Keras's saving walks attributes the same way."""
    from ..layers.base import Layer
    from ..layers.core import InputLayer
    listed = layer._saved_layers() if isinstance(layer, Layer) else None  # a Functional's op may be no Layer
    if listed is not None:
        return _numbered("layers", listed)
    out = []
    for attr in sorted(vars(layer)):
        value = vars(layer)[attr]
        if isinstance(value, Layer) and not isinstance(value, InputLayer):
            out.append((attr, value))
        elif isinstance(value, (list, tuple, dict)):  # a dict's values in its order, as Keras saves containers
            kids = [v for v in (value.values() if isinstance(value, dict) else value)
                    if isinstance(v, Layer) and not isinstance(v, InputLayer)]
            out.extend(_numbered(attr, kids))
    seen, unique = set(), []
    for key, kid in out:  # a sublayer held twice is saved once, under its first name
        if id(kid) not in seen:
            seen.add(id(kid))
            unique.append((key, kid))
    return unique


def _numbered(prefix, kids):
    counts, out = {}, []
    for kid in kids:
        base = to_snake_case(type(kid).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        out.append(("%s/%s" % (prefix, base if n == 0 else "%s_%d" % (base, n)), kid))
    return out


def _collect(layer, prefix, out):
    """{h5 path of a 'vars' group: (layer, [variables])} for the layer tree under prefix."""
    for key, kid in _children(layer):
        path = "%s/%s" % (prefix, key) if prefix else key
        out[path + "/vars"] = (kid, _own_vars(kid))
        _collect(kid, path, out)
    return out


def _dataset(group, name, array):
    """One variable, with HDF5's Fletcher-32 checksum: a flipped bit in the file fails the read instead of
    loading a wrong weight. The filter needs a chunked layout, which a scalar or an empty array cannot
    have; h5py (so Keras) reads checksummed datasets transparently."""
    a = backend.to_numpy(array)
    if a.ndim and a.size:
        group.create_dataset(name, data=a, fletcher32=True, chunks=a.shape if a.nbytes <= (4 << 20) else True)
    else:
        group.create_dataset(name, data=a)


def _h5_size_bound(model, include_optimizer=True):
    """An upper bound of the bytes _write_h5 writes: every array, plus HDF5's headers, B-trees and checksums."""
    arrays = [v.data for _, vs in _collect(model, "", {}).values() for v in vs] + [v.data for v in _own_vars(model)]
    opt = getattr(model, "optimizer", None)
    if include_optimizer and opt is not None and getattr(opt, "built", False):
        arrays += [v.data for v in opt.variables]
    return sum(int(a.nbytes) for a in arrays) + 8192 * (len(arrays) + 8) + (1 << 20)


def _write_h5(target, model, include_optimizer=True, attrs=None):
    """Writes the weights file to the path `target`, by name. h5py is never given a Python file object or an
    in-memory image to write: when such a write fails (disk full, a file-size limit, memory), h5py raises, then
    retries it from a destructor at interpreter exit and crashes the process (callers _reserve the space
    first). `attrs` go on the root group."""
    h5py = _h5py()
    with h5py.File(target, "w") as f:
        for path, (layer, vs) in _collect(model, "", {}).items():
            g = f.require_group(path)
            g.attrs["name"] = layer.name
            for i, v in enumerate(vs):
                _dataset(g, str(i), v.data)
        top = f.require_group("vars")
        top.attrs["name"] = model.name
        for i, v in enumerate(_own_vars(model)):
            _dataset(top, str(i), v.data)
        opt = getattr(model, "optimizer", None)
        if include_optimizer and opt is not None and getattr(opt, "built", False):
            g = f.require_group("optimizer/vars")
            g.attrs["name"] = opt.name
            for i, v in enumerate(opt.variables):
                _dataset(g, str(i), v.data)
        for k, v in (attrs or {}).items():  # e.g. BackupAndRestore's resume point, inside the one file
            f.attrs[k] = v


def _open_h5(fobj, source):
    """An HDF5 file opened for reading, after every link and dataset in it was checked (saving/hdf5.py)."""
    try:
        f = _h5py().File(fobj, "r")
    except OSError as e:
        raise SavingError("%s is not a readable HDF5 file (corrupt or truncated): %s" % (source, e)) from None
    try:
        hdf5.check_file(f, source, skip=_OPTIMIZER_GROUPS)
    except SavingError:
        f.close()
        raise
    except Exception as e:  # h5py's errors for a damaged object header or B-tree met on the walk
        f.close()
        raise SavingError("%s is not a readable HDF5 file (corrupt): %s: %s" % (source, type(e).__name__, e)) from None
    return f


_OPTIMIZER_GROUPS = ("optimizer", "optimizer_weights")


class _h5_damage:
    """Around reads of an HDF5 file that passed the structure checks: h5py's errors there (a damaged attribute,
    heap or chunk: OSError, RuntimeError, KeyError, TypeError from its converters) mean a corrupt file."""

    def __init__(self, source):
        self.source = source

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is not None and issubclass(kind, (OSError, RuntimeError, KeyError, TypeError, IndexError,
                                                  AttributeError, UnicodeDecodeError)):
            raise SavingError("%s is corrupt: %s: %s" % (self.source, kind.__name__, e)) from None
        return False


def _weight_elements(fobj, source):
    """How many weight elements (optimizer state aside) a weights file holds: what a config may allocate."""
    with _open_h5(fobj, source) as f:
        return hdf5.check_file(f, source, skip=_OPTIMIZER_GROUPS)


def _group(parent, path, source):
    """parent[path] when it is a group; a relative path only (an absolute one would leave the parent)."""
    return _child(parent, path, _h5py().Group, source, path)


def _child(parent, path, kind, source, where):
    """parent[path] when it is a `kind` (h5py.Group or h5py.Dataset), by a relative path only."""
    if not isinstance(path, str) or not path or path.startswith("/") or "" in path.split("/"):
        raise SavingError("%s: invalid name %r in the file (%s)" % (source, path, where))
    try:
        obj = parent[path]
    except (KeyError, ValueError):
        raise SavingError("%s: %s is missing (the file does not match the model)" % (source, where)) from None
    if not isinstance(obj, kind):
        raise SavingError("%s: %s is a %s, expected a %s" % (source, where, type(obj).__name__, kind.__name__.lower()))
    return obj


def _read_h5(fobj, model, source, load_optimizer=True):
    """Reads every array, checks it against the model, and only then assigns."""
    h5py = _h5py()
    with _open_h5(fobj, source) as f, _h5_damage(source):
        if "layers" not in f and "vars" not in f:
            if "model_weights" in f or "layer_names" in f.attrs:
                return _read_legacy(f, model, source)
            raise SavingError("%s holds no Keras weights (no 'layers' group)" % source)
        plan = []
        expected = _collect(model, "", {})
        extra = []

        def find_extra(name, obj):
            if name.endswith("/vars") and len(obj) and name not in expected and not name.startswith("optimizer"):
                extra.append(name[:-5])
        f.visititems(lambda n, o: find_extra(n, o) if isinstance(o, h5py.Group) else None)
        extra = sorted(e for e in extra if e)  # "" is the model's own top-level vars group
        if extra:
            raise SavingError("%s does not match the model: the file has weights for layers the model lacks: %s"
                              % (source, extra))
        for path, (layer, vs) in expected.items():
            if not vs:
                if path in f and isinstance(f[path], h5py.Group) and len(f[path]):
                    raise SavingError("%s does not match layer %r: the file holds %d variables for it, the layer has "
                                      "none%s" % (source, layer.name, len(f[path]), "" if layer.built else
                                                  " (it is not built yet: build the model first)"))
                continue
            if path not in f:
                raise SavingError("%s does not match the model: no weights for layer %r (expected at %s; the file has "
                                  "%s)" % (source, layer.name, path, sorted(f["layers"]) if "layers" in f else []))
            g = _group(f, path, source)
            if len(g) != len(vs):
                raise SavingError("%s does not match layer %r: it holds %d variables, the layer has %d"
                                  % (source, layer.name, len(g), len(vs)))
            for i, v in enumerate(vs):
                a = _read_array(g, str(i), source, "%s/%d (layer %r)" % (path, i, layer.name), tuple(v.shape),
                                "layer %r: variable %d" % (layer.name, i))
                plan.append((v, _converted(a, v.dtype, source, "%s/%d (layer %r)" % (path, i, layer.name))))
        opt_arrays = None
        opt = getattr(model, "optimizer", None)
        if load_optimizer and opt is not None and "optimizer/vars" in f:
            g = _group(f, "optimizer/vars", source)
            opt_arrays = [_converted(_read_array(g, str(i), source, "optimizer/vars/%d" % i), None, source,
                                     "optimizer/vars/%d" % i) for i in range(len(g))]
    if opt_arrays is not None:
        # Keras saves a compiled, never-trained model's optimizer unbuilt: its iteration and learning rate only
        unbuilt = len(opt_arrays) == 1 + int(opt._tracks_lr())
        if not getattr(opt, "built", False) and not unbuilt:
            opt.build(model.trainable_weights)
        try:
            opt.check_own_variables(opt_arrays)
        except ValueError as e:
            raise SavingError("%s: %s" % (source, e)) from None
    # everything is read, converted and checked: only now does the model change
    if opt_arrays is not None:
        opt.load_own_variables(opt_arrays)
    for v, a in plan:
        v.assign(a)


def _read_array(group, key, source, where, expect_shape=None, owner=None):
    """One dataset as a NumPy array; its shape and type are checked before its data is read."""
    ds = _child(group, key, _h5py().Dataset, source, where)
    if expect_shape is not None and tuple(ds.shape or ()) != expect_shape:
        raise SavingError("%s does not match %s has shape %s in the file, %s in the model"
                          % (source, owner or where, tuple(ds.shape or ()), expect_shape))
    if ds.dtype.kind not in "biuf":
        raise SavingError("%s: %s holds %s data, not numbers (dtype %s)"
                          % (source, where, {"S": "string", "U": "string", "O": "object"}.get(ds.dtype.kind,
                                                                                              "non-numeric"), ds.dtype))
    try:
        return np.asarray(ds[()])
    except Exception as e:  # h5py's OSError for a failed Fletcher-32 checksum, a truncated chunk, ...
        raise SavingError("%s: cannot read %s: the file is corrupt (%s)" % (source, where, e)) from None


def _converted(a, dtype, source, where):
    """A numeric copy in the variable's dtype; strings, objects or non-numbers in a weight are refused."""
    if a.dtype.kind not in "biuf":
        raise SavingError("%s: %s holds %s data, not numbers (dtype %s)"
                          % (source, where, {"S": "string", "U": "string", "O": "object"}.get(a.dtype.kind, "non-numeric"),
                             a.dtype))
    return a if dtype is None else a.astype(dtype, copy=False)


def _names_attr(group, key, source):
    """A list-of-names attribute of a legacy file (layer_names, weight_names) as Python strings."""
    raw = group.attrs.get(key, [])
    try:
        names = [n.decode() if isinstance(n, bytes) else n for n in np.asarray(raw).reshape(-1).tolist()]
    except (TypeError, ValueError, UnicodeDecodeError) as e:
        raise SavingError("%s: the %r attribute of %s is not a list of names: %s" % (source, key, group.name, e)) \
            from None
    if not all(isinstance(n, str) for n in names):
        raise SavingError("%s: the %r attribute of %s is not a list of names" % (source, key, group.name))
    return names


def _read_legacy(f, model, source):
    """Keras 2 / tf.keras .h5: model_weights/<layer name> with a weight_names attribute."""
    root = _group(f, "model_weights", source) if "model_weights" in f else f
    names = _names_attr(root, "layer_names", source)
    with_weights = [n for n in names if len(_names_attr(_group(root, n, source), "weight_names", source)) > 0]
    # Keras writes one group per top-level layer holding all its weights (an LSTM's cell, a Bidirectional's
    # two halves): trainable ones first, as its _legacy_weights lists them
    top = [kid for _, kid in _children(model) if kid.weights]
    if len(top) == len(with_weights) and all(
            len(_names_attr(root[n], "weight_names", source)) == len(l.weights) for n, l in zip(with_weights, top)):
        layers = top
        weights_of = (lambda l: l.trainable_weights + l.non_trainable_weights)  # noqa: E731
    else:  # files that list nested layers one by one
        layers = [l for l in _flat_layers(model) if _own_vars(l)]
        weights_of = _own_vars
    if len(with_weights) != len(layers):
        raise SavingError("%s does not match the model: it has weights for %d layers (%s), the model has %d (%s)"
                          % (source, len(with_weights), with_weights, len(layers), [l.name for l in layers]))
    plan = []
    for name, layer in zip(with_weights, layers):
        g = root[name]
        wnames = _names_attr(g, "weight_names", source)
        vs = weights_of(layer)
        if len(wnames) != len(vs):
            raise SavingError("%s: layer %r has %d weights in the file, %d in the model" % (source, name, len(wnames), len(vs)))
        for w, v in zip(wnames, vs):
            a = _read_array(g, w, source, "%s/%s" % (name, w), tuple(v.shape), "layer %r: weight %s" % (layer.name, w))
            plan.append((v, _converted(a, v.dtype, source, "%s/%s" % (name, w))))
    for v, a in plan:  # assigned only once every weight has been read and checked
        v.assign(a)


def _flat_layers(model):
    out = []
    for _, kid in _children(model):
        if _children(kid):
            out.extend(_flat_layers(kid))
        else:
            out.append(kid)
    return out


# ---- public API ----

def model_config(model):
    kind = type(model).__name__
    if kind == "Functional":  # how Keras 3 names its own classes in config.json
        cfg = {"module": "keras.src.models.functional", "class_name": "Functional", "config": model.get_config(),
               "registered_name": "Functional", "build_config": {"input_shape": None}}
    else:
        cfg = {"module": "keras" if kind == "Sequential" else None, "class_name": kind,
               "config": model.get_config(), "registered_name": registry.get_registered_name(model)}
        build = model.get_build_config()
        if build is not None:
            cfg["build_config"] = {"input_shape": _jsonable(build["input_shape"])}
    if getattr(model, "compiled", False):
        cfg["compile_config"] = model.get_compile_config()
    return cfg


def _jsonable(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [list(s) for s in shape]
    return None if shape is None else list(shape)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Writes a .keras file at `filepath`, or into a binary file object (io.BytesIO: Keras's saving_lib takes one,
    and scikeras pickles and deep-copies models through it)."""
    fileobj = filepath if hasattr(filepath, "write") else None
    path = "model.keras" if fileobj is not None else os.fspath(filepath)
    if path.endswith((".h5", ".hdf5")):
        raise SavingError("gpunet writes the native Keras 3 format: save to a '.keras' file (legacy .h5 files can "
                          "be read with load_model, not written)")
    if not path.endswith(".keras"):
        raise SavingError("Invalid filepath extension for saving %r: use a '.keras' extension" % path)
    if fileobj is None and os.path.exists(path) and not overwrite:
        raise SavingError("%s exists and overwrite=False" % path)
    config = json.dumps(model_config(model), default=_json_default)
    meta = {"keras_version": KERAS_FORMAT_VERSION, "gpunet_version": _version(),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    if getattr(model, "_seed", None) is not None:
        meta["gpunet_seed"] = model._seed  # resuming fit replays the same epoch streams (Keras ignores it)
        meta["gpunet_epochs_trained"] = int(getattr(model, "_epochs_trained", 0))
    meta = json.dumps(meta)
    if fileobj is None:
        _target(path)  # a directory or a read-only file is refused before any work
    with interrupts.deferred():  # Ctrl-C stops the program after the file is whole, never half-way
        def write(tmp):
            h5 = tmp[:-len(".tmp")] + "-weights.tmp"  # beside it, removed with it if the process dies
            _reserve(tmp, 2 * _h5_size_bound(model, include_optimizer) + len(config) + len(meta))
            try:
                _write_h5(h5, model, include_optimizer)
                with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
                    z.writestr("metadata.json", meta)
                    z.writestr("config.json", config)
                    z.write(h5, "model.weights.h5")
                    assets.write(z, model, _children)  # each save_assets(dir) into assets/<its path>/, as Keras
            finally:
                if os.path.exists(h5):
                    os.remove(h5)
        if fileobj is None:
            _atomic_write(path, write)
            return
        with tempfile.TemporaryDirectory(prefix="gpunet-save-") as d:  # the whole file first: nothing half-written
            tmp = os.path.join(d, "model.keras.tmp")
            write(tmp)
            with open(tmp, "rb") as f:
                shutil.copyfileobj(f, fileobj)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError("not JSON serializable: %r" % (o,))


def _version():
    from ..version import __version__
    return __version__


_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError)  # RuntimeError:
# an encrypted member; NotImplementedError: a compression method zipfile lacks; zlib.error: a damaged deflate stream


def _check_custom_objects(custom_objects):
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError("custom_objects must be a dict {name: class or function}, received %r (%s)"
                        % (custom_objects, type(custom_objects).__name__))


def _member(z, name, source, limit=None):
    """A member of a .keras archive, its declared size and inflation checked before it is decompressed."""
    safety.check_zip_member(z.getinfo(name), source, limit)
    return z.read(name)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Keras's load_model. Nothing in the file runs: every name in its config is checked against gpunet's
    tables (saving/safety.py) and every link and dataset of its weights (saving/hdf5.py) before the model is
    built; a Python lambda loads only with safe_mode=False."""
    _check_custom_objects(custom_objects)
    if hasattr(filepath, "read"):  # a binary file object holding a .keras archive (as Keras's saving_lib reads)
        if hasattr(filepath, "seekable") and filepath.seekable():
            filepath.seek(0)  # zipfile reads the archive from its start, wherever the object stands
        data = filepath.read()
        if not isinstance(data, bytes):
            raise TypeError("load_model: a file object must be opened in binary mode; its read() returned %s"
                            % type(data).__name__)
        path, archive = "<%s>" % type(filepath).__name__, (lambda: io.BytesIO(data))
    else:
        path = os.fspath(filepath)
        if not os.path.isfile(path):
            raise SavingError("No file found at %r" % path)
        if path.endswith((".h5", ".hdf5")):
            return _load_legacy_model(path, custom_objects, compile, safe_mode)
        archive = (lambda: path)
    try:
        with zipfile.ZipFile(archive(), "r") as z:
            names = set(z.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise SavingError("%s is not a .keras model file: missing %s" % (path, sorted(missing)))
            config = safety.parse_json(_member(z, "config.json", path, safety.MAX_CONFIG_BYTES), path)
            meta = (safety.parse_json(_member(z, "metadata.json", path, 1 << 20), path, "metadata.json")
                    if "metadata.json" in names else {})
            weights = io.BytesIO(_member(z, "model.weights.h5", path))
    except _ZIP_ERRORS as e:
        raise SavingError("%s is not a valid .keras file (corrupt or truncated): %s" % (path, e)) from None
    if not isinstance(meta, dict):
        raise SavingError("%s: metadata.json must hold a JSON object, found %s" % (path, type(meta).__name__))
    budget = _weight_elements(weights, path)  # links, datasets and sizes checked before anything is built
    model = model_from_config(config, custom_objects, path, safe_mode=safe_mode, compile=compile, weight_budget=budget)
    if compile and config.get("compile_config"):
        _compile_from_config(model, config["compile_config"], custom_objects, path)
    _read_h5(weights, model, path, load_optimizer=compile)
    try:
        with zipfile.ZipFile(archive(), "r") as z:
            assets.read(z, model, path, _children)  # each load_assets(dir) from assets/<its path>/
    except _ZIP_ERRORS as e:
        raise SavingError("%s is not a valid .keras file (corrupt or truncated): %s" % (path, e)) from None
    if isinstance(meta.get("gpunet_seed"), int):
        model._seed = meta["gpunet_seed"]
    if isinstance(meta.get("gpunet_epochs_trained"), int):
        model._epochs_trained = meta["gpunet_epochs_trained"]
    return model


def model_from_config(config, custom_objects=None, source="The saved model", safe_mode=True, compile=True,
                      weight_budget=None):
    """A model from its config (Keras's model_from_config). Every class the config names is checked against the
    tables first (SavingError naming the first unknown one); `weight_budget`, the element count of the weights
    file beside the config, bounds what its layers may allocate."""
    from ..layers.saving_support import weight_budget as budget_scope
    _check_custom_objects(custom_objects)
    if not isinstance(config, dict) or "class_name" not in config:
        raise SavingError("%s: not a model config: expected a JSON object with 'class_name' and 'config', found %s"
                          % (source, type(config).__name__))
    with registry.SafeModeScope(safe_mode):
        safety.check_config(config, custom_objects, source, compile=compile)
        try:
            if weight_budget is None:
                return registry.deserialize_layer(config, custom_objects)
            with budget_scope(weight_budget):
                return registry.deserialize_layer(config, custom_objects)
        except SavingError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:  # a bad value in config.json
            raise SavingError("%s: its config cannot be rebuilt: %s: %s" % (source, type(e).__name__, e)) from None
        except NotImplementedError as e:  # a Keras option gpunet does not implement (BatchNormalization renorm)
            raise SavingError("%s: the model uses what gpunet does not support: %s" % (source, e)) from None
        except MemoryError:
            raise SavingError("%s: building the model its config describes ran out of memory: a layer asks for more "
                              "than this machine has (check sizes such as `units` in the config)" % source) from None
        except RecursionError:
            raise SavingError("%s: its config nests models too deeply to rebuild" % source) from None


def _compile_from_config(model, compile_config, custom_objects, source):
    try:
        model.compile_from_config(compile_config, custom_objects)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SavingError("%s: the saved compile() arguments cannot be restored: %s. %s, or load with compile=False "
                          "and compile the model yourself." % (source, e, registry.CUSTOM_HINT)) from None


def _json_attr(f, key, path):
    raw = f.attrs.get(key)
    if raw is None:
        return None
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw[()]
    if not isinstance(raw, (bytes, str)):
        raise SavingError("%s: the %r attribute is not text" % (path, key))
    return safety.parse_json(raw, path, key)


def _load_legacy_model(path, custom_objects, compile, safe_mode=True):
    with _open_h5(path, path) as f, _h5_damage(path):
        config = _json_attr(f, "model_config", path)
        if config is None:
            raise SavingError("%s has no model_config: it is a weights-only file; build the model and call "
                              "load_weights" % path)
        training = _json_attr(f, "training_config", path) if compile else None
        if training is not None:
            if not isinstance(training, dict):
                raise SavingError("%s: training_config must be a JSON object" % path)
            with registry.SafeModeScope(safe_mode):
                safety.check_config(training, custom_objects, path)
        budget = hdf5.check_file(f, path, skip=_OPTIMIZER_GROUPS)
        model = model_from_config(config, custom_objects, path, safe_mode=safe_mode, weight_budget=budget)
        _read_legacy(f, model, path)
    if training is not None:
        opt = training.get("optimizer_config")
        try:
            model.compile(optimizer=opt if opt else "rmsprop", loss=training.get("loss"),
                          metrics=training.get("metrics"), weighted_metrics=training.get("weighted_metrics"))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SavingError("%s: the saved training config cannot be restored: %s. %s, or load with compile=False."
                              % (path, e, registry.CUSTOM_HINT)) from None
    return model


def save_weights(model, filepath, overwrite=True, _attrs=None):
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise SavingError("The filename must end in `.weights.h5`, received %r" % path)
    if os.path.exists(path) and not overwrite:
        raise SavingError("%s exists and overwrite=False" % path)
    with interrupts.deferred():
        def write(tmp):
            _reserve(tmp, _h5_size_bound(model))
            _write_h5(tmp, model, include_optimizer=True, attrs=_attrs)
        _atomic_write(path, write)


_UNBUILT = ("You are loading weights into a model that has not yet been built. Try building the model first by "
            "calling it on some data or by using `build()`.")


def load_weights(model, filepath, skip_mismatch=False):
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise SavingError("No file found at %r" % path)
    if not model.built:  # Keras's refusal: an unbuilt model has no variables, so nothing would be loaded
        raise SavingError("%s (loading %s into %r)" % (_UNBUILT, path, model.name))
    if path.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as z:
                data = io.BytesIO(_member(z, "model.weights.h5", path))
        except (KeyError,) + _ZIP_ERRORS as e:
            raise SavingError("%s is not a valid .keras file (corrupt or truncated): %s" % (path, e)) from None
        return _read_h5(data, model, path)
    _read_h5(path, model, path)
