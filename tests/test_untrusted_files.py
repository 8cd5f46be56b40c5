"""Loading files someone else wrote (issue 29): no code runs, no other file is read, sizes are checked before
anything is allocated, inconsistent files are refused at load. Each attack is built here exactly as a hostile
file would carry it."""
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import gpunet
from gpunet import layers
from gpunet.saving import SavingError
from keras_ref import keras

R = np.random.default_rng(29)
X = R.random((10, 6)).astype("float32")
HERE = os.path.dirname(os.path.abspath(__file__))


def model():
    return gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)])


def write_keras(path, config, weights=None, meta=None):
    """A .keras archive holding exactly these members (weights: bytes of an HDF5 file, or a builder of one)."""
    if weights is None:
        weights = h5_bytes(lambda f: f.require_group("vars"))
    elif callable(weights):
        weights = h5_bytes(weights)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps(meta or {"keras_version": "3.15.1"}))
        z.writestr("config.json", config if isinstance(config, (str, bytes)) else json.dumps(config))
        z.writestr("model.weights.h5", weights)
    return path


def h5_bytes(build):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def saved(tmp_path, m=None):
    """(config, weights bytes) of a model saved as .keras: to edit the config and write it back."""
    m.save(tmp_path / "good.keras") if m is not None else model().save(tmp_path / "good.keras")
    parts = members(tmp_path / "good.keras")
    return json.loads(parts["config.json"]), parts["model.weights.h5"]


def saved_op_node(tmp_path, op, cls):
    """The config of Input(4) -> op -> Dense(2), its weights, and the config entry of the op's node (class cls)."""
    i = gpunet.Input((4,))
    cfg, weights = saved(tmp_path, gpunet.Model(i, layers.Dense(2)(op(i))))
    return cfg, weights, next(e for e in cfg["config"]["layers"] if e["class_name"] == cls)


# ---- item 1: a config names only what the tables hold ----

def _op(name, cls, args):
    return {"module": "keras.src.ops.numpy", "class_name": cls, "config": {"name": name}, "registered_name": cls,
            "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]}


def _ref(name):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [], "dtype": "float32", "keras_history": [name, 0, 0]}}


def hostile_config(marker):
    """Issue 29's attack: ordinary-looking keras.src.ops nodes whose class names reach builtins.eval through
    gpunet.ops: __getattribute__('__builtins__'), __getattribute__('Tensor'), Switch (Tensor(builtins)), Getitem
    ('eval'), Data (unwrap), Switch (eval(payload)). Before the fix, loading this file ran the payload."""
    payload = "open(%r, 'w').write('pwned')" % str(marker)
    nodes = [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "x",
         "inbound_nodes": [], "config": {"batch_shape": [None, 2], "dtype": "float32", "name": "x"}},
        _op("b", "__getattribute__", ["__builtins__"]),
        _op("t", "__getattribute__", ["Tensor"]),
        _op("w", "Switch", [0, [_ref("t")], _ref("b")]),
        _op("g", "Getitem", [_ref("w"), "eval"]),
        _op("e", "Data", [_ref("g")]),
        _op("run", "Switch", [0, [_ref("e")], payload]),
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1}, "registered_name": None,
         "name": "d", "inbound_nodes": [{"args": [_ref("x")], "kwargs": {}}]},
    ]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": nodes, "input_layers": [["x", 0, 0]],
                       "output_layers": [["d", 0, 0]]}}


HOSTILE = r"class '__getattribute__' \(module 'keras.src.ops.numpy'\) in 'b': not one of Keras's saved operation"


def test_a_keras_file_whose_ops_reach_eval_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    path = write_keras(tmp_path / "evil.keras", hostile_config(marker))
    with pytest.raises(SavingError, match=HOSTILE):
        gpunet.models.load_model(path)  # safe_mode=True is the default
    with pytest.raises(SavingError, match=HOSTILE):
        gpunet.models.load_model(path, safe_mode=False)  # safe_mode is about lambdas: this is never loadable
    assert not marker.exists()


def test_model_from_json_config_and_a_legacy_h5_take_the_same_tables(tmp_path):
    marker = tmp_path / "PWNED"
    config = hostile_config(marker)
    with pytest.raises(SavingError, match=HOSTILE):
        gpunet.models.model_from_json(json.dumps(config))
    with pytest.raises(SavingError, match=HOSTILE):
        gpunet.saving.model_from_config(config)
    legacy = tmp_path / "evil.h5"
    with h5py.File(legacy, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.create_group("model_weights").attrs["layer_names"] = np.array([b"d"])
    with pytest.raises(SavingError, match=HOSTILE):
        gpunet.models.load_model(legacy)
    assert not marker.exists()


def test_nothing_is_built_before_an_unknown_name_is_refused(tmp_path, monkeypatch):
    """A Dense first, then a class from another module: refused before the Dense is even constructed."""
    cfg, weights = saved(tmp_path)
    cfg["config"]["layers"].append({"module": "os", "class_name": "system", "config": {"command": "true"},
                                    "registered_name": None})
    write_keras(tmp_path / "bad.keras", cfg, weights)
    built = []
    real = layers.Dense.__init__
    monkeypatch.setattr(layers.Dense, "__init__", lambda self, *a, **k: (built.append(1), real(self, *a, **k))[1])
    with pytest.raises(SavingError, match=r"class 'system' \(module 'os'\) in 'sequential'.*not a Keras built-in "
                                          r"and not registered.*custom_objects"):
        gpunet.models.load_model(tmp_path / "bad.keras")
    assert built == []


@pytest.mark.parametrize("name", ["__builtins__", "__import__", "Tensor", "data", "backend"])
def test_deserialize_keras_object_looks_names_up_in_tables_only(name):
    with pytest.raises(ValueError):
        gpunet.utils.deserialize_keras_object(name)
    with pytest.raises(ValueError, match="class %r" % name):
        gpunet.saving.deserialize_keras_object({"module": "keras.layers", "class_name": name, "config": {}})
    assert gpunet.utils.deserialize_keras_object("relu") is gpunet.activations.relu
    assert isinstance(gpunet.utils.deserialize_keras_object(
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}), layers.Dense)


def test_ops_that_take_python_functions_never_load(tmp_path):
    cfg, weights, node = saved_op_node(tmp_path, gpunet.ops.relu, "Relu")
    node["class_name"] = "Cond"
    write_keras(tmp_path / "cond.keras", cfg, weights)
    with pytest.raises(SavingError, match=r"class 'Cond' .*takes Python functions as arguments"):
        gpunet.models.load_model(tmp_path / "cond.keras")


def test_a_graph_node_without_tensor_inputs_is_refused(tmp_path):
    """A loaded node is only ever called on the graph's tensors: one whose arguments are all data from the file
    would run eagerly at load (here ones((10**6, 10**6)))."""
    cfg, weights, node = saved_op_node(tmp_path, gpunet.ops.abs, "Abs")
    node["class_name"], node["inbound_nodes"] = "OnesLike", [{"args": [[10 ** 6, 10 ** 6]], "kwargs": {}}]
    write_keras(tmp_path / "eager.keras", cfg, weights)
    with pytest.raises(SavingError, match="has no tensor inputs"):
        gpunet.models.load_model(tmp_path / "eager.keras")


def test_the_op_table_is_keras_s_own():
    """ops/op_classes.py lists Keras 3.15's saved operation classes: each is an Operation of that module."""
    keras()
    import importlib
    from keras.src.ops.operation import Operation
    from gpunet.ops import op_classes
    for cls, module in op_classes.MODULE_OF.items():
        found = vars(importlib.import_module("keras.src.ops." + module)).get(cls)
        assert isinstance(found, type) and issubclass(found, Operation), (module, cls)
    import keras.ops as kops
    for cls, fn in op_classes.FUNCTION_OF.items():
        assert (hasattr(kops, fn) or hasattr(getattr(kops, op_classes.MODULE_OF[cls], None), fn)), (cls, fn)


def test_ops_are_saved_under_keras_s_class_and_module_and_load_both_ways(tmp_path):
    k = keras()
    i = gpunet.Input((6,))
    h = gpunet.ops.relu(layers.Dense(5)(i))
    h = gpunet.ops.concatenate([gpunet.ops.rsqrt(h * h + h), gpunet.ops.hard_silu(h)], axis=-1)
    m = gpunet.Model(i, layers.Dense(2)(h))
    m.save(tmp_path / "g.keras")
    saved = {e["class_name"]: e["module"] for e in json.loads(members(tmp_path / "g.keras")["config.json"])
             ["config"]["layers"] if e["module"] and e["module"].startswith("keras.src.ops")}
    assert saved == {"Relu": "keras.src.ops.nn", "Multiply": "keras.src.ops.numpy", "Add": "keras.src.ops.numpy",
                     "Rsqrt": "keras.src.ops.math",
                     "HardSilu": "keras.src.ops.nn", "Concatenate": "keras.src.ops.numpy"}
    km = k.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(km.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-6)
    km.save(tmp_path / "k.keras")
    g = gpunet.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(g.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-6)


def test_an_op_keras_lacks_cannot_be_saved(tmp_path):
    i = gpunet.Input((4,))
    m = gpunet.Model(i, gpunet.ops.exponential(i))
    with pytest.raises(ValueError, match="gpunet.ops.exponential.*Keras has no operation class"):
        m.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


# ---- item 1: safe_mode and Lambda, as in Keras ----

def _keras_lambda_model(path):
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(4), k.layers.Lambda(lambda t, s=3.0: t * s + 1.0)])
    km.save(path)
    return km


def test_a_lambda_saved_as_bytecode_needs_safe_mode_false(tmp_path):
    km = _keras_lambda_model(tmp_path / "k.keras")
    for load in (lambda: gpunet.models.load_model(tmp_path / "k.keras"),
                 lambda: layers.Lambda.from_config(json.loads(members(tmp_path / "k.keras")["config.json"])
                                                   ["config"]["layers"][2]["config"])):  # a direct call fails closed
        with pytest.raises(ValueError, match=r"Lambda.*Python lambda.*arbitrary code execution.*`safe_mode=False`.*"
                                             r"enable_unsafe_deserialization"):
            load()
    g = gpunet.models.load_model(tmp_path / "k.keras", safe_mode=False)
    np.testing.assert_allclose(g.predict(X, verbose=0), km.predict(X, verbose=0), rtol=1e-6)


def test_enable_unsafe_deserialization_lets_every_later_load_run_lambdas(tmp_path):
    from gpunet.common import registry
    km = _keras_lambda_model(tmp_path / "k.keras")
    saved = registry._SAFE_MODE[0]
    try:
        gpunet.config.enable_unsafe_deserialization()
        g = gpunet.models.load_model(tmp_path / "k.keras")  # safe_mode=True is overridden, as in Keras
    finally:
        registry._SAFE_MODE[0] = saved
    np.testing.assert_allclose(g.predict(X, verbose=0), km.predict(X, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="safe_mode=False"):
        gpunet.models.load_model(tmp_path / "k.keras")


def double(t):
    return t * 2.0


def test_lambda_layers_save_as_keras_saves_them(tmp_path):
    k = keras()
    m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(4), layers.Lambda(lambda t: t * t),
                           layers.Lambda(double), layers.Lambda(lambda t: gpunet.ops.square(t))])
    m.save(tmp_path / "g.keras")
    cfg = json.loads(members(tmp_path / "g.keras")["config.json"])["config"]["layers"]
    assert cfg[2]["config"]["function"]["class_name"] == "__lambda__"
    assert cfg[3]["config"]["function"] == {"module": "builtins", "class_name": "function", "config": "double",
                                            "registered_name": "function"}
    with pytest.raises(SavingError, match="'double' is neither a Keras built-in nor registered"):
        gpunet.models.load_model(tmp_path / "g.keras", safe_mode=False)
    g = gpunet.models.load_model(tmp_path / "g.keras", safe_mode=False, custom_objects={"double": double})
    np.testing.assert_allclose(g.predict(X, verbose=0), m.predict(X, verbose=0), rtol=1e-6)
    m.pop()  # Keras runs a loaded lambda with its own globals, where `gpunet` is not defined
    m.save(tmp_path / "g.keras")
    km = k.models.load_model(tmp_path / "g.keras", safe_mode=False, custom_objects={"double": double})
    np.testing.assert_allclose(km.predict(X, verbose=0), m.predict(X, verbose=0), rtol=1e-5)


# ---- item 2: HDF5 names that point elsewhere ----

def _secret(tmp_path):
    """A file the attacker wants: bytes that would load as weights and be written into the next saved model."""
    p = tmp_path / "id_rsa"
    p.write_bytes(np.arange(48, dtype="float32").tobytes())
    return p


def _weights_with(tmp_path, plant):
    """A gpunet .weights.h5 of model() whose first kernel is replaced by plant(file, name, shape, dtype)."""
    p = tmp_path / "m.weights.h5"
    model().save_weights(p)
    with h5py.File(p, "r+") as f:
        ds = f["layers/dense/vars/0"]
        shape, dtype = ds.shape, ds.dtype
        del f["layers/dense/vars/0"]
        plant(f, "layers/dense/vars/0", shape, dtype)
    return p


def _external_storage(secret):
    return lambda f, name, shape, dtype: f.create_dataset(name, shape=shape, dtype=dtype,
                                                          external=[(str(secret), 0, 48 * 4)])


def _virtual(other):
    def plant(f, name, shape, dtype):
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[:] = h5py.VirtualSource(str(other), "w", shape=shape)
        f.create_virtual_dataset(name, layout)
    return plant


def _other_h5(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.full((6, 8), 7.0, "float32")
    return other


PLANTS = {
    "external link": (lambda t: (lambda f, name, shape, dtype: f.__setitem__(name, h5py.ExternalLink(
        str(_other_h5(t)), "/w"))), r"layers/dense/vars/0 is an external link to /w in .*other.h5: refused"),
    "external storage": (lambda t: _external_storage(_secret(t)),
                         r"layers/dense/vars/0 keeps its data in external files .*id_rsa"),
    "virtual dataset": (lambda t: _virtual(_other_h5(t)), r"layers/dense/vars/0 is a virtual dataset"),
    "soft link": (lambda t: (lambda f, name, shape, dtype: (f.create_dataset("elsewhere", data=np.ones(shape, dtype)),
                                                            f.__setitem__(name, h5py.SoftLink("/elsewhere")))),
                  r"layers/dense/vars/0 is a soft link to /elsewhere"),
}


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_hdf5_names_that_point_elsewhere_are_refused(tmp_path, kind):
    plant, match = PLANTS[kind]
    p = _weights_with(tmp_path, plant(tmp_path))
    m = model()
    before = m.get_weights()
    with pytest.raises(SavingError, match=match):
        m.load_weights(p)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    # the same weights inside a .keras archive
    good = tmp_path / "good.keras"
    model().save(good)
    write_keras(tmp_path / "m.keras", members(good)["config.json"], p.read_bytes())
    with pytest.raises(SavingError, match=match):
        gpunet.models.load_model(tmp_path / "m.keras")


def test_an_external_link_never_opens_the_other_file(tmp_path):
    """The link points at a FIFO: opening it would block forever, so a load that returns proves it was never
    opened (run in a child process with a deadline)."""
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    p = _weights_with(tmp_path, lambda f, name, shape, dtype: f.__setitem__(name, h5py.ExternalLink(str(fifo), "/w")))
    code = textwrap.dedent("""
        import sys; sys.path.insert(0, %r)
        import gpunet, test_untrusted_files as t
        try:
            t.model().load_weights(%r)
        except gpunet.saving.SavingError as e:
            print("refused:", e)
    """ % (HERE, str(p)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "refused:" in r.stdout and "external link" in r.stdout, r.stdout + r.stderr


def test_a_legacy_h5_with_external_storage_is_refused(tmp_path):
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(8, name="d0"), k.layers.Dense(3, name="d1")])
    km.save(tmp_path / "k.h5")
    secret = _secret(tmp_path)
    with h5py.File(tmp_path / "k.h5", "r+") as f:
        names = []
        f.visit(names.append)
        kernel = next(n for n in names if n.startswith("model_weights") and n.endswith("d0/kernel"))
        shape, dtype = f[kernel].shape, f[kernel].dtype
        del f[kernel]
        f.create_dataset(kernel, shape=shape, dtype=dtype, external=[(str(secret), 0, 48 * 4)])
    with pytest.raises(SavingError, match="keeps its data in external files"):
        gpunet.models.load_model(tmp_path / "k.h5")
    with pytest.raises(SavingError, match="keeps its data in external files"):
        model().load_weights(tmp_path / "k.h5")


# ---- item 10: weights into an unbuilt model ----

def test_load_weights_into_an_unbuilt_sequential_is_refused(tmp_path):
    model().save_weights(tmp_path / "m.weights.h5")
    unbuilt = gpunet.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)])
    with pytest.raises(ValueError, match="You are loading weights into a model that has not yet been built"):
        unbuilt.load_weights(tmp_path / "m.weights.h5")
    unbuilt.build((None, 6))
    unbuilt.load_weights(tmp_path / "m.weights.h5")  # built: it loads


# ---- item 11: sizes checked before reading or allocating ----

def _peak_rss_growth(code):
    """Runs code in a child process; returns (its output, how much its peak RSS grew while the code ran, MiB)."""
    body = textwrap.indent(textwrap.dedent(code).strip(), " " * 4)
    prog = ("import resource, sys\nsys.path.insert(0, %r)\nimport gpunet, numpy, h5py, test_untrusted_files\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\ntry:\n%s\nexcept Exception as e:\n"
            "    print('%%s: %%s' %% (type(e).__name__, e))\n"
            "print('GROWTH', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0)\n" % (HERE, body))
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300)
    growth = [float(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("GROWTH")]
    assert growth, r.stdout + r.stderr
    return r.stdout, growth[0]


def test_a_zip_bomb_is_refused_from_its_directory_entry(tmp_path):
    good = tmp_path / "good.keras"
    model().save(good)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("config.json", members(good)["config.json"])
        with z.open("model.weights.h5", "w", force_zip64=True) as w:
            block = bytes(1 << 20)
            for _ in range(256):  # 256 MiB of zeros in ~250 KB
                w.write(block)
    assert bomb.stat().st_size < 2 << 20
    out, growth = _peak_rss_growth("gpunet.models.load_model(%r)" % str(bomb))
    assert "SavingError" in out and "model.weights.h5 declares 268435456 bytes stored in" in out and "zip bomb" in out
    assert growth < 64, out


def test_a_dataset_declaring_gigabytes_it_does_not_store_is_refused_before_reading(tmp_path):
    p = _weights_with(tmp_path, lambda f, name, shape, dtype: f.create_dataset(
        name, shape=(6, 8), dtype=dtype, chunks=(6, 8), compression="gzip"))
    with h5py.File(p, "r+") as f:  # a 3 GiB bias that is only a fill value: ~1 KB on disk
        del f["layers/dense/vars/1"]
        f.create_dataset("layers/dense/vars/1", shape=(3 << 28,), dtype="float32", chunks=(1 << 20,),
                         compression="gzip")
    assert p.stat().st_size < 64 << 10
    out, growth = _peak_rss_growth("test_untrusted_files.model().load_weights(%r)" % str(p))
    assert "SavingError" in out and "layers/dense/vars/1 declares 3.0 GiB" in out and "bomb" in out
    assert growth < 64, out


def test_a_config_asking_for_more_weights_than_the_file_holds_is_refused_before_allocating(tmp_path):
    cfg, weights = saved(tmp_path)
    cfg["config"]["layers"][1]["config"]["units"] = 10 ** 12
    cfg["config"]["layers"][1].pop("build_config", None)
    write_keras(tmp_path / "huge.keras", cfg, weights)
    with pytest.raises(SavingError, match=r"layer 'dense.*' \(Dense\) asks for a weight of shape \(6, 1000000000000\).*"
                                          r"the weights file holds 83 elements"):
        gpunet.models.load_model(tmp_path / "huge.keras")
    cfg["config"].pop("build_config", None)
    with pytest.raises(SavingError, match="ran out of memory.*units"):  # no weights file: the allocation fails
        gpunet.models.model_from_json(json.dumps(cfg))


def test_deep_nesting_is_refused_before_json_parses_it(tmp_path):
    deep = '{"class_name": "Sequential", "config": {"layers": ' + "[" * 100000 + "]" * 100000 + "}}"
    write_keras(tmp_path / "deep.keras", deep)
    with pytest.raises(SavingError, match="config.json nests 100002 levels deep, over the limit of 200"):
        gpunet.models.load_model(tmp_path / "deep.keras")
    with pytest.raises(SavingError, match="nests .* levels deep"):
        gpunet.models.model_from_json(deep)


def test_limits_do_not_refuse_real_models(tmp_path):
    """A model of 2,000 layers (one weights group each) and a 2-million-element kernel still load."""
    big = gpunet.Sequential([gpunet.Input((1000,)), layers.Dense(2000)] + [layers.Dense(4) for _ in range(1999)])
    big.save(tmp_path / "big.keras")
    back = gpunet.models.load_model(tmp_path / "big.keras")
    assert all(np.array_equal(a, b) for a, b in zip(back.get_weights(), big.get_weights()))


# ---- item 12: inconsistent files are refused at load ----

def test_an_input_shape_that_disagrees_with_the_weights_is_refused_at_load(tmp_path):
    cfg, weights = saved(tmp_path)
    cfg["config"]["layers"][0]["config"]["batch_shape"] = [None, 7]
    write_keras(tmp_path / "m.keras", cfg, weights)
    with pytest.raises(SavingError, match=r'layer "dense.*" is incompatible with the layer: expected axis -1 of input '
                                          r"shape to have value 6, but received input with shape \(None, 7\)"):
        gpunet.models.load_model(tmp_path / "m.keras")


def test_an_input_layer_in_the_middle_of_a_sequential_config_is_named(tmp_path):
    cfg, weights = saved(tmp_path)
    cfg["config"]["layers"].insert(2, cfg["config"]["layers"][0])
    write_keras(tmp_path / "m.keras", cfg, weights)
    with pytest.raises(SavingError, match="an InputLayer at position 2 .*an InputLayer may only come first"):
        gpunet.models.load_model(tmp_path / "m.keras")


# ---- item 15: what a config lacks is said when saving, as Keras says it ----

class WithArgs(gpunet.Model):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d = layers.Dense(units)

    def call(self, x):
        return self.d(x)


class WithALayerArgument(gpunet.Model):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def call(self, x):
        return self.inner(x)


def test_a_subclassed_model_without_get_config(tmp_path):
    m = WithArgs(3)
    m.predict(X, verbose=0)
    m.save(tmp_path / "a.keras")  # Keras's auto config: the plain arguments it was made with
    back = gpunet.models.load_model(tmp_path / "a.keras", custom_objects={"WithArgs": WithArgs})
    np.testing.assert_array_equal(back.predict(X, verbose=0), m.predict(X, verbose=0))
    bare = WithALayerArgument(layers.Dense(2))
    bare.predict(X, verbose=0)
    with pytest.raises(NotImplementedError, match="Object WithALayerArgument was created by passing non-serializable "
                                                  r"argument values in `__init__\(\)`.*implement `get_config\(\)`"):
        bare.save(tmp_path / "b.keras")
    assert not (tmp_path / "b.keras").exists()


def my_metric(y_true, y_pred):
    return gpunet.ops.mean(y_pred)


def test_a_model_compiled_with_a_metric_function_saves_and_loads(tmp_path):
    k = keras()
    m = model()
    m.compile("adam", "mse", metrics=[my_metric])
    m.save(tmp_path / "m.keras")  # was an AttributeError in models/model.py
    with pytest.raises(SavingError, match="'my_metric' is neither a Keras built-in nor registered"):
        gpunet.models.load_model(tmp_path / "m.keras")
    back = gpunet.models.load_model(tmp_path / "m.keras", custom_objects={"my_metric": my_metric})
    assert back.compiled
    km = k.models.load_model(tmp_path / "m.keras", custom_objects={"my_metric": my_metric})
    np.testing.assert_allclose(km.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-6)
