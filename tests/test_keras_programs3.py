"""Keras programs, round 3 (issue 32): the model surface real programs tripped on (graph tensors, unknown sizes,
input ranks, several outputs, dict inputs, the step API, masks, convolution_op), reproducible seeds and custom
assets, each checked against real Keras where Keras's NumPy backend (in process) or JAX backend (a subprocess:
NumPy cannot fit) runs the same code. The issue's other items: test_keras_data3.py, test_keras_ops3.py,
test_mixed_precision.py."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpunet
from keras_jax_ref import assert_same, same_program
from keras_ref import keras as real_keras


# ---- 1. Model.input / output, layers' input / output, Sequential.inputs / outputs ----

def _same_shapes(mine, theirs):
    def shapes(t):
        return [tuple(x.shape) for x in t] if isinstance(t, (list, tuple)) else tuple(t.shape)
    assert shapes(mine) == shapes(theirs)


def test_feature_extraction_from_a_functional_models_tensors():
    k = real_keras()
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    got = {}
    for lib in (gpunet, k):
        inp = lib.Input((6,))
        h = lib.layers.Dense(4, activation="relu", name="hidden")(inp)
        out = lib.layers.Dense(2, name="head")(h)
        m = lib.Model(inp, out)
        fe = lib.Model(m.input, m.get_layer("hidden").output)  # the feature-extraction idiom
        got[lib] = (m, fe)
    (m, fe), (km, kfe) = got[gpunet], got[k]
    km.set_weights(m.get_weights())
    hidden, khidden = m.get_layer("hidden"), km.get_layer("hidden")
    for a, b in ((m.input, km.input), (m.output, km.output), (hidden.input, khidden.input),
                 (m.get_layer("head").output, km.get_layer("head").output)):
        _same_shapes(a, b)
    assert fe.input is m.input and m.input_shape == km.input_shape and m.output_shape == km.output_shape
    np.testing.assert_allclose(fe.predict(x, verbose=0), kfe.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_several_inputs_and_outputs_answer_lists():
    a, b = gpunet.Input((3,), name="a"), gpunet.Input((2,), name="b")
    c = gpunet.layers.Concatenate()([a, b])
    o1, o2 = gpunet.layers.Dense(1)(c), gpunet.layers.Dense(2)(c)
    m = gpunet.Model([a, b], [o1, o2])
    assert m.input == [a, b] and m.output == [o1, o2]
    concat = m.layers[2]
    assert concat.input == [a, b] and concat.output is c  # a call on several tensors: a list, as Keras
    with pytest.raises(AttributeError, match="never been called"):
        _ = gpunet.layers.Dense(3).output


def test_sequential_inputs_outputs_and_its_layers_tensors():
    k = real_keras()
    models = {lib: lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, name="x"), lib.layers.Dense(2, name="y")])
              for lib in (gpunet, k)}
    m, km = models[gpunet], models[k]
    _same_shapes(m.inputs, km.inputs)
    _same_shapes(m.outputs, km.outputs)
    for name in ("x", "y"):
        _same_shapes(m.get_layer(name).input, km.get_layer(name).input)
        _same_shapes(m.get_layer(name).output, km.get_layer(name).output)
    km.set_weights(m.get_weights())
    x = np.ones((2, 5), "float32")
    fe = gpunet.Model(m.inputs, m.get_layer("x").output)
    kfe = k.Model(km.inputs, km.get_layer("x").output)
    np.testing.assert_allclose(fe.predict(x, verbose=0), kfe.predict(x, verbose=0), rtol=1e-5)
    # gpunet also answers Sequential.input/.output from its own graph, as tf.keras did (Keras 3 raises until the
    # Sequential itself is called on a tensor): the README lists the difference
    assert m.input is m.inputs[0] and m.output is m.outputs[0]
    with pytest.raises(AttributeError, match="no defined inputs"):
        _ = gpunet.Sequential([gpunet.layers.Dense(2)]).inputs


def test_a_seq2seq_inference_model_from_a_trained_models_tensors():
    """The keras.io seq2seq idiom: encoder and decoder inference models built from the training model's tensors
    and layers, sharing its weights."""
    enc_in = gpunet.Input((None, 3))
    _, h, c = gpunet.layers.LSTM(4, return_state=True, name="enc")(enc_in)
    dec_in = gpunet.Input((None, 3))
    dec_seq = gpunet.layers.LSTM(4, return_sequences=True, name="dec")(dec_in, initial_state=[h, c])
    out = gpunet.layers.Dense(3, activation="softmax", name="out")(dec_seq)
    model = gpunet.Model([enc_in, dec_in], out)
    enc_model = gpunet.Model(model.input[0], model.get_layer("enc").output[1:])
    assert [tuple(t.shape) for t in enc_model.outputs] == [(None, 4), (None, 4)]
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    h1, c1 = enc_model.predict(x, verbose=0)
    _, h2, c2 = model.get_layer("enc")(x)
    np.testing.assert_allclose(h1, h2.numpy(), rtol=1e-5)


# ---- 2. unknown sizes stay unknown ----

class EveryOther(gpunet.layers.Layer):
    """A custom layer with no compute_output_shape whose output length follows the input's."""

    def call(self, x):
        return x[:, ::2] * 2.0


def test_a_custom_layers_unknown_length_stays_unknown():
    k = real_keras()

    class KEveryOther(k.layers.Layer):
        def call(self, x):
            return x[:, ::2] * 2.0
    assert EveryOther()(gpunet.Input((None, 3))).shape == KEveryOther()(k.Input((None, 3))).shape == (None, None, 3)
    assert EveryOther()(gpunet.Input((7, 3))).shape == (None, 4, 3)
    img = gpunet.layers.Lambda(lambda t: t[:, ::2, ::2])(gpunet.Input((None, None, 1)))
    assert img.shape == (None, None, None, 1)
    lines = []
    inp = gpunet.Input((None, 3))
    gpunet.Model(inp, EveryOther()(inp)).summary(print_fn=lines.append)
    assert any("(None, None, 3)" in line for line in lines), lines


def test_a_sequence_model_with_an_unknown_length_trains_on_several_lengths():
    inp = gpunet.Input((None, 3))
    out = gpunet.layers.Dense(2)(EveryOther()(inp))
    m = gpunet.Model(inp, out)
    assert m.output_shape == (None, None, 2)
    m.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    for steps in (6, 9):
        x = rng.normal(size=(8, steps, 3)).astype("float32")
        y = rng.normal(size=(8, (steps + 1) // 2, 2)).astype("float32")
        h = m.fit(x, y, epochs=1, verbose=0).history
        assert np.isfinite(h["loss"][0])


# ---- 3. input rank adjustment ----

@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_inputs_one_axis_short_or_long_are_adjusted_as_keras_does(kind):
    k = real_keras()
    rng = np.random.default_rng(3)

    def build(lib, shape):
        if kind == "sequential":
            return lib.Sequential([lib.Input(shape), lib.layers.Flatten(), lib.layers.Dense(2)])
        inp = lib.Input(shape)
        return lib.Model(inp, lib.layers.Dense(2)(lib.layers.Flatten()(inp)))
    for shape, given in (((6, 5, 1), (4, 6, 5)), ((6, 5), (4, 6, 5, 1))):
        m, km = build(gpunet, shape), build(k, shape)
        km.set_weights(m.get_weights())
        x = rng.normal(size=given).astype("float32")
        want = km.predict(x, verbose=0)
        np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m(x).numpy(), want, rtol=1e-5, atol=1e-6)
        m.compile("sgd", "mse")
        assert np.isfinite(m.evaluate(x, np.zeros((4, 2), "float32"), verbose=0))
    m = build(gpunet, (6, 5, 1))
    with pytest.raises(ValueError, match="incompatible"):
        m.predict(np.zeros((4, 6, 5, 2), "float32"), verbose=0)  # a trailing axis of 2 is not Keras's rule


# ---- 4. multi-output training: outputs without a loss, dict losses, metrics and targets ----

_TWO_OUT = '''
def build(keras):
    inp = keras.Input((4,), name="x")
    h = keras.layers.Dense(5, activation="tanh", name="h")(inp)
    a = keras.layers.Dense(2, name="a")(h)
    b = keras.layers.Dense(1, name="b")(h)
    return keras.Model(inp, {STRUCT})

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.05), {COMPILE})
    h = model.fit(d["x"], {Y}, epochs=2, batch_size=4, shuffle=False, verbose=0)
    return h.history
'''

_MULTI_CASES = {
    "list, loss=[fn, None], y=[ya, None]": ("[a, b]", 'loss=["mse", None]', '[d["ya"], None]'),
    "list, loss=[fn, None], y=[ya]": ("[a, b]", 'loss=["mse", None]', '[d["ya"]]'),
    "list, loss by name": ("[a, b]", 'loss={"b": "mae", "a": "mse"}, loss_weights={"a": 1.0, "b": 0.5}',
                           '[d["ya"], d["yb"]]'),
    "list, y as a dict": ("[a, b]", 'loss=["mse", "mae"], metrics=[["mae"], ["mse"]]', '{"a": d["ya"], "b": d["yb"]}'),
    "dict, dict loss for one output": ('{"a": a, "b": b}', 'loss={"a": "mse"}', '{"a": d["ya"], "b": d["yb"]}'),
    "dict, dict loss, metrics and y": ('{"a": a, "b": b}', 'loss={"a": "mse", "b": "mae"}, metrics={"a": "mae"}',
                                       '{"a": d["ya"], "b": d["yb"]}'),
    "dict, list loss (sorted keys)": ('{"b": b, "a": a}', 'loss=["mse", "mae"]', '{"a": d["ya"], "b": d["yb"]}'),
}


@pytest.mark.parametrize("case", sorted(_MULTI_CASES))
def test_multi_output_training_matches_keras(tmp_path, case):
    struct, comp, y = _MULTI_CASES[case]
    rng = np.random.default_rng(4)
    data = {"x": rng.normal(size=(12, 4)).astype("float32"), "ya": rng.normal(size=(12, 2)).astype("float32"),
            "yb": rng.normal(size=(12, 1)).astype("float32")}
    src = _TWO_OUT.replace("{STRUCT}", struct).replace("{COMPILE}", comp).replace("{Y}", y)
    mine, theirs = same_program(tmp_path, src, data)
    assert_same(mine, theirs)


def test_multi_output_evaluate_and_the_per_batch_loop_follow_the_same_rules():
    """evaluate on arrays and a custom train_step (the per-batch loop: compute_loss, compute_metrics) take
    targets for just the outputs that have a loss, and log <output>_loss only when several have one."""
    inp = gpunet.Input((4,))
    a, b = gpunet.layers.Dense(2, name="a")(inp), gpunet.layers.Dense(1, name="b")(inp)
    x, ya = np.ones((8, 4), "float32"), np.ones((8, 2), "float32")
    m = gpunet.Model(inp, {"a": a, "b": b})
    m.compile("sgd", loss={"a": "mse"}, metrics={"a": ["mae"]})
    logs = m.evaluate(x, {"a": ya}, verbose=0, return_dict=True)
    assert sorted(logs) == ["a_mae", "loss"]

    class Custom(gpunet.Model):
        def train_step(self, data):
            return super().train_step(data)
    c = Custom(inp, [a, b])
    c.compile("sgd", loss=["mse", None])
    c.set_weights(m.get_weights())
    assert sorted(c.fit(x, [ya], verbose=0).history) == ["loss"]
    with pytest.raises(ValueError, match="names outputs"):
        m.compile("sgd", loss={"a": "mse", "typo": "mae"})
        m.fit(x, {"a": ya}, verbose=0)
    m.compile("sgd", loss={"a": "mse", "b": "mse"})
    with pytest.raises(ValueError, match="without entries for"):
        m.fit(x, {"a": ya}, verbose=0)


# ---- 5. inputs as dicts; a layer that takes a dict ----

_ENDPOINT = '''
def build(keras):
    class Endpoint(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(keras.ops.mean(keras.ops.square(inputs["inputs"] - inputs["targets"])))
            return inputs["inputs"]
    i = keras.Input((3,), name="inputs")
    t = keras.Input((3,), name="targets")
    h = keras.layers.Dense(3, name="dense")(i)
    return keras.Model({"inputs": i, "targets": t}, Endpoint(name="end")({"inputs": h, "targets": t}))

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    h = model.fit({"inputs": d["x"], "targets": d["t"]}, epochs=3, batch_size=4, shuffle=False, verbose=0)
    return {"history": h.history, "pred": model.predict({"targets": d["t"], "inputs": d["x"]}, verbose=0)}
'''


def test_an_endpoint_layer_over_dict_inputs_trains_as_in_keras(tmp_path):
    rng = np.random.default_rng(5)
    data = {"x": rng.normal(size=(8, 3)).astype("float32"), "t": rng.normal(size=(8, 3)).astype("float32")}
    mine, theirs = same_program(tmp_path, _ENDPOINT, data)
    assert_same(mine, theirs)


# ---- 6. compute_loss overrides without `training` ----

_OLD_COMPUTE_LOSS = '''
def build(keras):
    class M(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return keras.ops.mean(keras.ops.abs(y - y_pred)) * 2.0
    inp = keras.Input((3,))
    return M(inp, keras.layers.Dense(1)(inp))

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    h = model.fit(d["x"], d["y"], epochs=2, batch_size=4, shuffle=False, verbose=0)
    return {"fit": h.history, "evaluate": model.evaluate(d["x"], d["y"], verbose=0)}
'''


def test_a_compute_loss_override_without_training_is_called_as_keras_calls_it(tmp_path):
    rng = np.random.default_rng(6)
    data = {"x": rng.normal(size=(8, 3)).astype("float32"), "y": rng.normal(size=(8, 1)).astype("float32")}
    mine, theirs = same_program(tmp_path, _OLD_COMPUTE_LOSS, data)
    assert_same(mine, theirs)


def test_compute_loss_with_training_gets_it_positionally_named_arguments_as_keras():
    seen = []

    class M(gpunet.Model):
        def compute_loss(self, x, y, y_pred, sample_weights, training=True):  # a renamed parameter: positional
            seen.append(training)
            return gpunet.ops.mean(gpunet.ops.square(y - y_pred))
    inp = gpunet.Input((2,))
    m = M(inp, gpunet.layers.Dense(1)(inp))
    m.compile("sgd")
    m.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0, batch_size=4)
    m.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0, batch_size=4)
    assert seen == [True, False]


# ---- 7. symbolic masks, a model with no trainable weights, a stateful RNN called directly ----

def test_symbolic_tensors_carry_keras_masks():
    k = real_keras()
    for lib in (gpunet, k):
        ids = lib.Input((None,), dtype="int32")
        emb = lib.layers.Embedding(10, 4, mask_zero=True)(ids)
        assert emb._keras_mask is not None and tuple(emb._keras_mask.shape) == (None, None)
        assert lib.layers.Dense(3)(emb)._keras_mask is not None  # passed on by a layer that supports masking
        masked = lib.layers.Masking()(lib.Input((5, 2)))
        assert tuple(masked._keras_mask.shape) == (None, 5)
        assert getattr(lib.layers.Dense(2)(lib.Input((3,))), "_keras_mask", None) is None


_NO_WEIGHTS = '''
def build(keras):
    return keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0)])

def run(keras, model, d):
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    h = model.fit(d["x"], d["y"], epochs=2, batch_size=4, verbose=0)
    return h.history
'''


def test_a_model_without_trainable_weights_fits_as_in_keras(tmp_path):
    rng = np.random.default_rng(7)
    data = {"x": rng.normal(size=(8, 3)).astype("float32"), "y": rng.normal(size=(8, 3)).astype("float32")}
    mine, theirs = same_program(tmp_path, _NO_WEIGHTS, data)
    assert_same(mine, theirs)
    frozen = gpunet.Sequential([gpunet.Input((3,)), gpunet.layers.Dense(3)])
    frozen.trainable = False
    frozen.compile("adam", "mse")
    before = frozen.get_weights()
    frozen.fit(data["x"], data["y"], verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_stateful_rnn_called_on_an_array_takes_its_batch_size():
    k = real_keras()
    x = np.random.default_rng(8).normal(size=(2, 5, 3)).astype("float32")
    lstm, klstm = gpunet.layers.LSTM(4, stateful=True), k.layers.LSTM(4, stateful=True)
    first = lstm(x)
    klstm(x)
    klstm.set_weights(lstm.get_weights())
    klstm.reset_states()
    np.testing.assert_allclose(first.numpy(), np.asarray(klstm(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lstm(x).numpy(), np.asarray(klstm(x)), rtol=1e-5, atol=1e-6)  # state carried


# ---- 13. reproducible runs: default seeds from Python's `random`, as in Keras ----

_SEEDED = textwrap.dedent('''
    import json, random, sys
    import numpy as np
    mode, seed = sys.argv[1], int(sys.argv[2])
    if mode == "random":
        random.seed(seed)
    elif mode == "random+numpy":
        random.seed(seed)
        np.random.seed(seed)
    import gpunet
    if mode == "set_random_seed":
        gpunet.utils.set_random_seed(seed)
    m = gpunet.Sequential([gpunet.Input((4,)), gpunet.layers.Dense(8, activation="relu"),
                           gpunet.layers.Dropout(0.5), gpunet.layers.Dense(3, activation="softmax")])
    out = {"initial": [w.tolist() for w in m.get_weights()],
           "noise": gpunet.random.normal((3,)).numpy().tolist()}
    if mode != "random":
        data = np.random.default_rng(0)
        x, y = data.normal(size=(20, 4)).astype("float32"), data.integers(0, 3, 20)
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=4, verbose=0)
        out["trained"] = [w.tolist() for w in m.get_weights()]
    print(json.dumps(out))
''')


def _seeded_run(tmp_path, mode, seed):
    script = tmp_path / "seeded.py"
    script.write_text(_SEEDED)
    p = subprocess.run([sys.executable, str(script), mode, str(seed)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONHASHSEED="random"))
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["random", "random+numpy", "set_random_seed"])
def test_the_same_seeded_script_gives_the_same_numbers_in_two_processes(tmp_path, mode):
    first, second = _seeded_run(tmp_path, mode, 7), _seeded_run(tmp_path, mode, 7)
    assert first == second  # initial weights, an unseeded keras.random draw, and (seeded NumPy too) the fit
    other = _seeded_run(tmp_path, mode, 8)
    assert other["initial"] != first["initial"] and other["noise"] != first["noise"]


def test_unseeded_initializers_draw_their_seed_when_made_as_keras_does():
    import random
    random.seed(3)
    a = gpunet.initializers.GlorotUniform()
    random.seed(3)
    b = gpunet.initializers.GlorotUniform()
    np.testing.assert_array_equal(np.asarray(a((4, 4))), np.asarray(b((4, 4))))
    np.testing.assert_array_equal(np.asarray(a((4, 4))), np.asarray(a((4, 4))))  # the instance repeats, as Keras's
    assert a.get_config()["seed"] is None  # the config keeps what was given
    mha = gpunet.layers.MultiHeadAttention(2, 4)
    q = np.ones((1, 3, 4), "float32")
    mha(q, q)
    kernels = [w for w in mha.weights if w.path.endswith("kernel")]
    assert not np.array_equal(np.asarray(kernels[0].numpy()), np.asarray(kernels[1].numpy()))  # a copy each


# ---- 8. Conv.convolution_op, the hook custom convolutions override ----

def _standardized(lib):
    class StandardizedConv2D(lib.layers.Conv2D):
        """keras.io's weight standardization example."""

        def convolution_op(self, inputs, kernel):
            mean, var = lib.ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            return lib.ops.conv(inputs, (kernel - mean) / lib.ops.sqrt(var + 1e-10), padding="valid",
                                strides=list(self.strides), dilation_rate=self.dilation_rate)
    return StandardizedConv2D


def test_an_overridden_convolution_op_is_what_the_layer_computes():
    k = real_keras()
    x = np.random.default_rng(9).normal(size=(2, 7, 6, 3)).astype("float32")
    models = {lib: lib.Sequential([lib.Input((7, 6, 3)), _standardized(lib)(4, 3, activation="relu"),
                                   lib.layers.MaxPooling2D(), lib.layers.Flatten(), lib.layers.Dense(2)])
              for lib in (gpunet, k)}
    models[k].set_weights(models[gpunet].get_weights())
    want = models[k].predict(x, verbose=0)
    np.testing.assert_allclose(models[gpunet].predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)  # fit's fast path
    np.testing.assert_allclose(models[gpunet](x).numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_the_fused_conv_equals_the_general_path_through_convolution_op(padding):
    class Through(gpunet.layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, kernel)
    x = np.random.default_rng(10).normal(size=(2, 8, 7, 3)).astype("float32")
    plain = gpunet.layers.Conv2D(5, 3, strides=2, padding=padding, activation="relu")
    through = Through(5, 3, strides=2, padding=padding, activation="relu")
    plain(x), through(x)
    through.set_weights(plain.get_weights())
    np.testing.assert_allclose(through(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)

# ---- 12. custom objects' assets in .keras archives ----

def _table_layer(lib):
    class Table(lib.layers.Layer):
        """A layer with a file of its own (Keras's saving guide): save_assets/load_assets."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.table = "unset"

        def call(self, x):
            return x

        def save_assets(self, dir_path):
            with open(os.path.join(dir_path, "table.txt"), "w") as f:
                f.write(self.table)

        def load_assets(self, dir_path):
            with open(os.path.join(dir_path, "table.txt")) as f:
                self.table = f.read()
    return Table


@pytest.mark.parametrize("writer", ["gpunet", "keras"])
def test_custom_assets_travel_in_keras_archives_both_ways(tmp_path, writer):
    k = real_keras()
    libs = {"gpunet": gpunet, "keras": k}
    w, r = libs[writer], libs["keras" if writer == "gpunet" else "gpunet"]
    Table = _table_layer(w)
    model = w.Sequential([w.Input((2,)), Table(name="table"), w.layers.Dense(1)])
    model.layers[0].table = "row 1\nrow 2 \u00e9"
    path = str(tmp_path / "m.keras")
    model.save(path)
    import zipfile
    with zipfile.ZipFile(path) as z:
        assert z.read("assets/layers/table/table.txt").decode() == "row 1\nrow 2 \u00e9"
    loaded = r.saving.load_model(path, custom_objects={"Table": _table_layer(r)})
    assert loaded.layers[0].table == "row 1\nrow 2 \u00e9"


def test_an_asset_path_outside_the_assets_folder_is_refused(tmp_path):
    Table = _table_layer(gpunet)
    model = gpunet.Sequential([gpunet.Input((2,)), Table(name="table"), gpunet.layers.Dense(1)])
    good = str(tmp_path / "m.keras")
    model.save(good)
    import zipfile
    bad = str(tmp_path / "bad.keras")
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("assets/layers/../../escape.txt", "x")
    with pytest.raises(gpunet.saving.SavingError, match="outside the assets folder"):
        gpunet.saving.load_model(bad, custom_objects={"Table": Table})
    assert not (tmp_path / "escape.txt").exists()


class Vectorized(gpunet.layers.Layer):
    """A layer holding a TextVectorization made in __init__, adapted later: its config has no vocabulary, so the
    vocabulary comes back from the asset (Keras's path for an adapted lookup)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tv = gpunet.layers.TextVectorization(max_tokens=20, output_sequence_length=4)

    def call(self, x):
        return x


def test_an_adapted_vectorizer_comes_back_from_its_asset(tmp_path):
    model = gpunet.Sequential([gpunet.Input((2,)), Vectorized(name="vectorized"), gpunet.layers.Dense(1)])
    model.layers[0].tv.adapt(["the cat sat", "the dog ran far"])
    want = model.layers[0].tv.get_vocabulary()
    path = str(tmp_path / "m.keras")
    model.save(path)
    import zipfile
    with zipfile.ZipFile(path) as z:
        assert "assets/layers/vectorized/tv/vocabulary.txt" in z.namelist()
    loaded = gpunet.saving.load_model(path, custom_objects={"Vectorized": Vectorized})
    assert loaded.layers[0].tv.get_vocabulary() == want
    plain = gpunet.Sequential([gpunet.Input((4,)), gpunet.layers.Embedding(20, 3)])
    plain.save(str(tmp_path / "plain.keras"))  # nothing with assets: no assets folder, loads as before
    with zipfile.ZipFile(str(tmp_path / "plain.keras")) as z:
        assert not [n for n in z.namelist() if n.startswith("assets/")]
    gpunet.saving.load_model(str(tmp_path / "plain.keras"))

def test_a_one_layer_functional_softmax_model_evaluates_and_fits():
    """The fused softmax head read the Input's batch as a bare array when the head sat right on the Input."""
    k = real_keras()
    x, y = np.random.default_rng(30).normal(size=(6, 3)).astype("float32"), np.array([0, 1, 1, 0, 0, 1])
    models = {}
    for lib in (gpunet, k):
        inp = lib.Input((3,))
        models[lib] = lib.Model(inp, lib.layers.Dense(2, activation="softmax")(inp))
        models[lib].compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    models[k].set_weights(models[gpunet].get_weights())
    np.testing.assert_allclose(models[gpunet].evaluate(x, y, verbose=0), models[k].evaluate(x, y, verbose=0),
                               rtol=1e-5)
    assert np.isfinite(models[gpunet].fit(x, y, verbose=0).history["loss"][0])


def test_a_compiled_model_inside_another_leaves_its_trackers_out_of_the_outer_logs():
    """Keras skips a nested Trainer's own metrics: the inner model's untouched loss tracker (0.0) overwrote the
    outer loss in the per-batch loop's logs."""
    k = real_keras()
    x, y = np.random.default_rng(31).normal(size=(6, 5)).astype("float32"), np.array([0, 1, 1, 0, 0, 1])
    outer = {}
    for lib in (gpunet, k):
        inp = lib.Input((5,))
        inner = lib.Model(inp, lib.layers.Dense(2, activation="softmax")(inp))
        inner.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        raw = lib.Input((5,))
        outer[lib] = lib.Model(raw, inner(raw))
        outer[lib].compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    outer[k].set_weights(outer[gpunet].get_weights())
    mine = outer[gpunet].evaluate(x, y, verbose=0, return_dict=True)
    theirs = outer[k].evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-5)
    import gpunet.training.batch_loop as per_batch  # the loop the raw-string models take
    logs = per_batch.evaluate(outer[gpunet], x, y, 32, 0, None, None, None, True)
    np.testing.assert_allclose(logs["loss"], theirs["loss"], rtol=1e-5)


def test_a_list_for_a_one_tensor_model_warns_as_keras_and_still_runs():
    k = real_keras()
    x = np.ones((2, 4), "float32")
    for lib in (gpunet, k):
        inp = lib.Input((4,))
        m = lib.Model(inp, lib.layers.Dense(2)(inp))
        with pytest.warns(UserWarning, match="structure of `inputs` doesn't match"):
            direct = m([x])
        with pytest.warns(UserWarning, match="structure of `inputs` doesn't match"):
            predicted = m.predict([x], verbose=0)
        np.testing.assert_allclose(np.asarray(direct), predicted, rtol=1e-6)
