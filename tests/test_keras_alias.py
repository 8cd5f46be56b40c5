"""gpunet.install_as_keras() (gpunet/keras_alias.py) and the Keras surfaces libraries reach through it: keras.src
paths, keras.tree, keras.utils.legacy, file-like saving, ops on Python scalars, dict-valued layer outputs."""
import importlib.util
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpunet
from gpunet import _keras_src_layout, ops
from tests.keras_ref import keras as keras_ref  # sets KERAS_BACKEND=numpy before any import of Keras here

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_fresh_process(code):
    """Runs code after install_as_keras() in a new interpreter (the hook must come before any keras import)."""
    src = "import gpunet\ngpunet.install_as_keras()\n" + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_keras_and_its_paths_resolve_to_gpunet():
    out = _in_fresh_process("""
        import keras, gpunet
        from keras import layers, ops
        import keras.src.backend as kb
        from keras.src.saving import serialization_lib
        from keras.src.saving.saving_lib import load_model, save_model
        from keras.src.losses.losses import LossFunctionWrapper
        from keras.src.layers.core.dense import Dense
        from keras.src.ops import *  # noqa
        from keras.src.utils.backend_utils import in_grain_data_pipeline
        from keras.src.utils.tracking import no_automatic_dependency_tracking
        from keras.src.distribution import distribution_lib
        from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights
        from keras.src.backend import get_keras_mask, set_keras_mask, compute_output_spec, standardize_shape
        from keras.src.applications.resnet import preprocess_input
        from keras import *  # noqa
        assert layers.Dense is gpunet.layers.Dense is Dense and ops.add is gpunet.ops.add
        assert LossFunctionWrapper is gpunet.losses.LossFunctionWrapper
        assert save_model is gpunet.saving.saving_lib.save_model
        assert serialization_lib.in_safe_mode() is True
        assert kb.compute_output_spec is keras.src.backend.compute_output_spec
        assert not in_grain_data_pipeline()
        assert distribution_lib.distribution() is None
        assert preprocess_input is gpunet.applications.resnet.preprocess_input
        assert keras.version() == keras.__version__ == "%s" and gpunet.__version__ != keras.__version__
        assert keras.tree.flatten({"b": 1, "a": [2, None]}) == [2, None, 1]
        assert keras.utils.legacy.serialize_keras_object is gpunet.utils.legacy.serialize_keras_object
        assert "layers" in dir(keras) and "Dense" in dir(keras.layers)
        assert not hasattr(gpunet.losses, "losses")  # gpunet's own modules are not written to by the imports
        print("ok")
    """ % _keras_src_layout.KERAS_VERSION)
    assert out.strip().endswith("ok")


@pytest.mark.parametrize("path, named, says", [
    ("keras.src.no_such_module", None, "Keras %s has no such module" % _keras_src_layout.KERAS_VERSION),
    ("keras.src.backend.jax.random", "keras.src.backend.jax",  # the first missing package is the one named
     "no counterpart in gpunet: gpunet computes with NumPy or CuPy, not JAX"),
    ("keras.src.quantizers", None, "no counterpart in gpunet"),
    ("keras.no_such_module", None, "gpunet has no module 'no_such_module'"),
])
def test_a_path_without_counterpart_is_an_import_error_naming_it(path, named, says):
    out = _in_fresh_process("""
        try:
            import %s
        except ImportError as e:
            print(type(e).__name__, e)
    """ % path)
    assert out.startswith("ModuleNotFoundError") and repr(named or path) in out and says in out, out


def test_a_missing_name_is_an_import_error_naming_the_path():
    out = _in_fresh_process("""
        try:
            from keras.src.backend import no_such_function
        except ImportError as e:
            print(e)
    """)
    assert "no_such_function" in out and "keras.src.backend" in out


def test_install_after_keras_was_imported_is_refused():
    src = "import sys, types\nsys.modules['keras'] = types.ModuleType('keras')\nimport gpunet\n" \
          "try:\n    gpunet.install_as_keras()\nexcept RuntimeError as e:\n    print(e)\n"
    proc = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert "must run before keras is imported" in proc.stdout, proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="Keras is not installed")
def test_layout_is_the_installed_keras_layout():
    keras = keras_ref()
    if keras.version() != _keras_src_layout.KERAS_VERSION:
        pytest.skip("installed Keras %s, layout of %s" % (keras.version(), _keras_src_layout.KERAS_VERSION))
    src = os.path.join(os.path.dirname(keras.__file__), "src")
    found = set()
    for d, dirs, files in os.walk(src):
        dirs[:] = [x for x in dirs if x not in ("tests", "__pycache__")]
        rel = os.path.relpath(d, src).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py") and not f.endswith("_test.py"):
                name = f[:-3]
                path = rel if name == "__init__" else (name if rel == "." else rel + "." + name)
                if path != ".":
                    found.add(path)
    assert _keras_src_layout.paths() == found, _keras_src_layout.format_layout(found)
    assert _keras_src_layout.format_layout(found) == _keras_src_layout.LAYOUT


def test_tree_matches_keras_tree():
    k = keras_ref()
    import collections
    Point = collections.namedtuple("Point", "x y")
    assert gpunet.tree.flatten(Point(1, [2, 3])) == [1, 2, 3]
    assert gpunet.tree.map_structure(str, Point(1, 2)) == Point("1", "2")
    assert gpunet.tree.flatten([collections.OrderedDict(z=1, a=2), 4]) == [1, 2, 4]  # an OrderedDict keeps its order
    for s in [{"b": [1, (2, None)], "a": 3}, [[1], {"y": 2, "x": (3,)}], 5, None]:
        assert gpunet.tree.flatten(s) == k.tree.flatten(s)
        assert gpunet.tree.flatten_with_path(s) == k.tree.flatten_with_path(s)
        assert gpunet.tree.is_nested(s) == k.tree.is_nested(s)
        assert gpunet.tree.map_structure(lambda v: None if v is None else v * 2, s) == \
            k.tree.map_structure(lambda v: None if v is None else v * 2, s)
        assert gpunet.tree.pack_sequence_as(s, gpunet.tree.flatten(s)) == s
        assert gpunet.tree.lists_to_tuples(s) == k.tree.lists_to_tuples(s)
    with pytest.raises(ValueError):
        gpunet.tree.assert_same_structure([1, [2]], [1, 2])
    with pytest.raises(ValueError, match="leaves"):
        gpunet.tree.pack_sequence_as([1, [2]], [1])
    assert gpunet.tree.map_shape_structure(len, {"a": (None, 3), "b": [(1,)]}) == {"a": 2, "b": [1]}
    assert gpunet.tree.traverse(lambda x: gpunet.tree.MAP_TO_NONE if x == 2 else None, [1, [2]]) == [1, [None]]


def test_legacy_serialization_roundtrip_with_module_objects():
    class Thing:
        def __init__(self, size=1, act=None):
            self.size, self.act = size, act

        def get_config(self):
            return {"size": self.size, "act": self.act}

        @classmethod
        def from_config(cls, config):
            return cls(**config)
    cfg = gpunet.utils.legacy.serialize_keras_object(Thing(3, "relu"))
    assert cfg == {"class_name": "Thing", "config": {"size": 3, "act": "relu"}}
    back = gpunet.utils.legacy.deserialize_keras_object(cfg, module_objects={"Thing": Thing})
    assert isinstance(back, Thing) and back.size == 3
    assert isinstance(gpunet.utils.legacy.deserialize_keras_object("Thing", module_objects={"Thing": Thing}), Thing)
    with pytest.raises(ValueError, match="Unknown object: 'Thing'"):
        gpunet.utils.legacy.deserialize_keras_object(cfg)  # nothing names it: never found by attribute
    with pytest.raises(ValueError, match="Improper config"):
        gpunet.utils.legacy.deserialize_keras_object({"config": {}})


def test_metrics_deserialize_accuracy_without_shapes():
    assert type(gpunet.metrics.deserialize("accuracy")).__name__ == "Accuracy"
    assert type(gpunet.metrics.get("accuracy")).__name__ == "Accuracy"
    with pytest.raises(ValueError, match="acc"):
        gpunet.metrics.get("acc")


def _model():
    x = gpunet.Input((4,))
    return gpunet.Model(x, gpunet.layers.Dense(3)(x))


def test_save_and_load_through_a_file_object():
    m = _model()
    buf = io.BytesIO()
    gpunet.saving.saving_lib.save_model(m, buf)
    data = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    loaded = gpunet.saving.saving_lib.load_model(buf)  # read from the start wherever the object stands
    np.testing.assert_array_equal(m.predict(data, verbose=0), loaded.predict(data, verbose=0))
    with pytest.raises(gpunet.saving.SavingError, match="not a valid .keras file"):
        gpunet.saving.load_model(io.BytesIO(b"not a zip"))
    with pytest.raises(TypeError, match="binary mode"):
        gpunet.saving.load_model(io.StringIO("text"))


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="Keras is not installed")
def test_file_object_is_readable_by_keras(tmp_path):
    k = keras_ref()
    m = _model()
    buf = io.BytesIO()
    gpunet.saving.save_model(m, buf)
    from keras.src.saving import saving_lib as keras_saving_lib
    theirs = keras_saving_lib.load_model(io.BytesIO(buf.getvalue()))
    data = np.ones((2, 4), "float32")
    np.testing.assert_allclose(np.asarray(theirs.predict(data, verbose=0)), m.predict(data, verbose=0), atol=1e-6)
    assert k is not None


def test_ops_take_python_scalars():
    assert ops.cast(0.0, "float32").data.dtype == np.float32
    assert ops.cast(3, "float16").data.dtype == np.float16
    assert ops.convert_to_tensor(3).data.dtype == np.int32  # Keras: a Python int is int32, a float floatx
    assert ops.convert_to_tensor(2.5).data.dtype == np.float32
    assert float(ops.exp(1.0).data) == pytest.approx(np.e, rel=1e-6) and ops.exp(1.0).data.dtype == np.float32
    assert int(ops.abs(-3).data) == 3 and int(ops.maximum(2, 3).data) == 3
    assert ops.add(1, ops.ones(2)).data.dtype == np.float32  # beside a tensor, the scalar stays weak
    assert ops.arange(3).data.tolist() == [0, 1, 2] and ops.ones(2).data.tolist() == [1.0, 1.0]


def test_getitem_nodes_save_as_keras_does(tmp_path):
    x = gpunet.Input((3, 4))
    m = gpunet.Model(x, x[:, 1, ...] + x[..., 1:3:1][:, 0, 1:])
    cfg = m.get_config()
    keys = [list(layer["inbound_nodes"][0]["args"][1]) for layer in cfg["layers"] if layer["class_name"] == "GetItem"]
    assert [{"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}}, 1,
            {"class_name": "__ellipsis__", "config": {}}] in keys  # x[:, 1, ...], in Keras's form
    m.save(tmp_path / "m.keras")
    loaded = gpunet.models.load_model(tmp_path / "m.keras")
    data = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), data[:, 1] + data[..., 1:3][:, 0, 1:])


def test_layer_returning_a_dict_in_a_functional_model(tmp_path):
    class Split(gpunet.layers.Layer):
        def call(self, x):
            return {"first": x[:, :2], "rest": x[:, 2:] * 2.0}
    x = gpunet.Input((5,))
    parts = Split()(x)
    assert set(parts) == {"first", "rest"} and parts["rest"].shape == (None, 3)
    inner = gpunet.Model(x, parts)
    y = gpunet.Input((5,))
    outer = gpunet.Model(y, inner(y)["rest"])
    data = np.arange(10, dtype="float32").reshape(2, 5)
    np.testing.assert_array_equal(outer.predict(data, verbose=0), data[:, 2:] * 2)
    assert set(inner.predict(data, verbose=0)) == {"first", "rest"}


def test_dict_of_sublayers_is_tracked_and_saved(tmp_path):
    class Tables(gpunet.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.tables = {"a": gpunet.layers.Dense(2), "b": gpunet.layers.Dense(2)}

        def call(self, x):
            return self.tables["a"](x) + self.tables["b"](x)
    layer = Tables()
    layer(np.ones((1, 3), "float32"))
    assert len(layer.weights) == 4 and len(layer._flatten_layers()) == 3
    assert [k for k, _ in gpunet.saving.saving_lib._children(layer)] == ["tables/dense", "tables/dense_1"]


def test_no_automatic_dependency_tracking_hides_what_the_method_assigns():
    from gpunet.layers.tracking import no_automatic_dependency_tracking

    class Holder(gpunet.layers.Layer):
        def __init__(self):
            super().__init__()
            self.kept = gpunet.layers.Dense(1)
            self._configure()

        @no_automatic_dependency_tracking
        def _configure(self):
            self.hidden = [gpunet.layers.Dense(1)]
    h = Holder()
    assert h._sublayers() == [h.kept]


def test_masks_and_shapes_helpers():
    a = np.zeros(3)
    gpunet.backend.set_keras_mask(a, np.array([True, False, True]))
    assert gpunet.backend.get_keras_mask(a).tolist() == [True, False, True]
    gpunet.backend.set_keras_mask(a, None)
    assert gpunet.backend.get_keras_mask(a) is None
    t = ops.convert_to_tensor(np.ones(2))
    gpunet.backend.set_keras_mask(t, "m")
    assert t._keras_mask == "m"
    assert gpunet.backend.standardize_shape([None, np.int64(3)]) == (None, 3)
    for bad in (None, (2.0,), (-1,), ("a",)):
        with pytest.raises(ValueError):
            gpunet.backend.standardize_shape(bad)
    spec = gpunet.ops.symbolic.compute_output_spec(gpunet.layers.Dense(4), np.ones((2, 3), "float32"))
    assert spec.shape == (2, 4)


def test_class_weight_to_sample_weights_matches_keras():
    from gpunet.training.targets import class_weight_to_sample_weights
    y = np.array([0, 1, 2, 1])
    assert class_weight_to_sample_weights(y, {1: 2.0}).tolist() == [1.0, 2.0, 1.0, 2.0]
    assert class_weight_to_sample_weights(np.eye(3)[y], {2: 5.0}).tolist() == [1.0, 1.0, 5.0, 1.0]


def test_repeated_metric_names_are_numbered_as_keras_logs_them():
    class Ones(gpunet.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(np.ones(len(y_true)))
    x = gpunet.Input((2,))
    m = gpunet.Model(x, gpunet.layers.Dense(1)(x))
    m.compile(loss="mse", metrics=[Ones(), Ones()], weighted_metrics=[Ones()])
    h = m.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert sorted(h.history) == ["loss", "mean", "mean_1", "weighted_mean"]


def test_dtype_policy_map_as_keras():
    k = keras_ref()
    for mod in (gpunet.dtype_policies, k.dtype_policies):
        m = mod.DTypePolicyMap("float32")
        m["encoder/layer_0/dense"] = "bfloat16"
        m["encoder/.*"] = "float16"
        assert m["encoder/layer_0/dense"].name == "bfloat16" and m["encoder/attention/query"].name == "float16"
        assert m["decoder"].name == "float32" and m.compute_dtype == "float32" and len(m) == 2
        m["encoder/attention/.*"] = "bfloat16"
        with pytest.raises(ValueError, match="matches multiple"):
            m["encoder/attention/query"]
        with pytest.raises(ValueError, match="already exist"):
            m["decoder"] = "float32"
            m["decoder"] = "float16"
    cfg = gpunet.dtype_policies.serialize(gpunet.dtype_policies.DTypePolicyMap("float32", {"a": "float16"}))
    back = gpunet.dtype_policies.get(cfg)
    assert isinstance(back, gpunet.dtype_policies.DTypePolicyMap) and back["a"].name == "float16"
    layer = gpunet.layers.Dense(2, dtype=gpunet.dtype_policies.DTypePolicyMap("float32"))  # only a default: taken
    assert layer.compute_dtype == "float32" and layer.quantization_mode is None
    with pytest.raises(ValueError, match="DTypePolicyMap with entries"):
        gpunet.layers.Dense(2, dtype=back)  # gpunet layers have no nested paths: refused, not ignored


def test_deserialize_with_module_objects_as_keras():
    """KerasHub's samplers.get: the caller's table names the class (Keras then looks it up by its registered name,
    so the class is registered on both sides here)."""
    k = keras_ref()
    for mod in (gpunet.saving, k.saving):
        @mod.register_keras_serializable(package="alias_test")
        class Greedy:
            def __init__(self, temperature=1.0):
                self.temperature = temperature

            def get_config(self):
                return {"temperature": self.temperature}

            @classmethod
            def from_config(cls, config):
                return cls(**(config or {}))
        table = {"greedy": Greedy}
        assert isinstance(mod.deserialize_keras_object("greedy", module_objects=table), Greedy)
        got = mod.deserialize_keras_object({"class_name": "greedy", "config": {"temperature": 0.5}, "module": "x"},
                                           module_objects=table)
        assert got.temperature == 0.5
        assert mod.deserialize_keras_object("other", module_objects=table) == "other"  # as it is, as Keras
    with pytest.raises(TypeError, match="module_objects must be a dict"):
        gpunet.saving.deserialize_keras_object("greedy", module_objects=[table["greedy"]])


def test_serialize_none_as_keras():
    k = keras_ref()
    for name in ("losses", "metrics", "optimizers", "initializers", "regularizers", "constraints", "layers"):
        assert getattr(gpunet, name).serialize(None) is None is getattr(k, name).serialize(None), name
    for name in ("losses", "metrics", "activations", "initializers", "regularizers", "constraints"):
        assert getattr(gpunet, name).deserialize(None) is None is getattr(k, name).deserialize(None), name


def test_get_uid_shares_the_names_counts_and_clear_session_resets_it():
    gpunet.utils.clear_session()
    assert [gpunet.backend.get_uid("block"), gpunet.backend.get_uid("block")] == [1, 2]
    gpunet.utils.clear_session()
    assert gpunet.backend.get_uid("block") == 1
    gpunet.layers.Dense(1, name=None)
    assert gpunet.backend.get_uid("dense") == 2  # as in Keras: the automatic name "dense" counted once


def test_mha_private_api_computes_what_call_does():
    mha = gpunet.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    rng = np.random.default_rng(0)
    q, v = rng.normal(size=(2, 5, 6)).astype("float32"), rng.normal(size=(2, 7, 6)).astype("float32")
    mask = rng.random((2, 5, 7)) > 0.3
    out, scores = mha(q, v, attention_mask=mask, return_attention_scores=True)
    assert mha._query_dense is mha.query_dense and (mha._num_heads, mha._key_dim, mha._value_dim) == (2, 3, 4)
    pq, pk, pv = mha._query_dense(q), mha._key_dense(v), mha._value_dense(v)
    inner, s2 = mha._compute_attention(pq, pk, pv, attention_mask=ops.convert_to_tensor(mask),
                                       return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(mha._output_dense(inner).data), np.asarray(out.data), atol=1e-6)
    np.testing.assert_allclose(np.asarray(s2.data), np.asarray(scores.data), atol=1e-6)
    assert mha._compute_attention(pq, pk, pv)[1] is None  # no dropout, not asked for: None, as Keras
    # Keras's einsum notation for the same products
    want = np.einsum(mha._dot_product_equation, np.asarray(pk.data), np.asarray(pq.data) / np.sqrt(3.0))
    np.testing.assert_allclose(np.asarray(ops.matmul(
        ops.transpose(ops.multiply(pq, 1 / np.sqrt(3.0)), (0, 2, 1, 3)), ops.transpose(pk, (0, 2, 3, 1))).data),
        want, atol=1e-5)


def test_one_output_takes_a_dict_of_metrics_and_saves_it(tmp_path):
    x = gpunet.Input((3,))
    m = gpunet.Model(x, gpunet.layers.Dense(2, activation="softmax", name="head")(x))
    m.compile("adam", loss={"head": "sparse_categorical_crossentropy"}, metrics={"head": ["accuracy"]})
    h = m.fit(np.ones((4, 3), "float32"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert sorted(h.history) == ["accuracy", "loss"]  # one output: Keras flattens the dict, no prefix
    assert m.get_compile_config()["metrics"] == {"head": ["accuracy"]}
    m.save(tmp_path / "m.keras")
    loaded = gpunet.models.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(np.ones((4, 3), "float32"), np.array([0, 1, 0, 1]), verbose=0, return_dict=True).keys() \
        == {"loss", "accuracy"}


def test_a_registered_model_subclass_built_functionally_saves_under_its_name(tmp_path):
    @gpunet.saving.register_keras_serializable(package="alias_test")
    class Tiny(gpunet.Model):
        def __init__(self, units=2, **kw):
            x = gpunet.Input((3,))
            super().__init__(x, gpunet.layers.Dense(units)(x), **kw)
            self.units = units

        def get_config(self):
            return {"units": self.units, "name": self.name}
    m = Tiny(4)
    m.save(tmp_path / "t.keras")
    loaded = gpunet.models.load_model(tmp_path / "t.keras")  # found by its registered name, no custom_objects
    assert type(loaded).__name__ == "Tiny" and loaded.units == 4
