"""Keras programs, round 3 (issue 32): the Keras surface real programs tripped on, each checked against real Keras
where Keras's NumPy backend (in process) or JAX backend (a subprocess: NumPy cannot fit) runs the same code."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpunet
from keras_ref import keras as real_keras

_RUNNER = textwrap.dedent('''
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    import keras
    d = dict(np.load(sys.argv[1], allow_pickle=False))
    ns = {}
    exec(open(sys.argv[2]).read(), ns)
    model = ns["build"](keras)
    n = int(d.pop("n_weights"))
    model.set_weights([d.pop("w%d" % i) for i in range(n)])
    out = ns["run"](keras, model, d)
    print(json.dumps(out, default=lambda o: np.asarray(o, dtype=np.float64).tolist()))
''')


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "shape") or isinstance(v, (float, np.floating, int, np.integer)):
        return np.asarray(v, dtype=np.float64).tolist()
    return v


def same_program(tmp_path, source, data):
    """Runs `build(keras)` and `run(keras, model, data)` from `source` with gpunet here and with Keras on JAX in a
    subprocess, Keras's model starting from gpunet's initial weights; returns (gpunet's result, Keras's)."""
    import importlib.util
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("the Keras-on-JAX referee needs keras and jax (pip install -e '.[test]')")
    ns = {}
    exec(textwrap.dedent(source), ns)
    model = ns["build"](gpunet)
    weights = model.get_weights()
    mine = _jsonable(ns["run"](gpunet, model, {k: v.copy() for k, v in data.items()}))
    npz, src, runner = (tmp_path / n for n in ("ref.npz", "prog.py", "runner.py"))
    np.savez(npz, n_weights=len(weights), **{"w%d" % i: w for i, w in enumerate(weights)}, **data)
    src.write_text(textwrap.dedent(source))
    runner.write_text(_RUNNER)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, str(runner), str(npz), str(src)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, "Keras-on-JAX referee failed:\n" + p.stderr[-4000:]
    return mine, json.loads(p.stdout.strip().splitlines()[-1])


def assert_same(mine, theirs, rtol=1e-4, atol=1e-5):
    if isinstance(theirs, dict):
        assert sorted(mine) == sorted(theirs), (sorted(mine), sorted(theirs))
        for k in theirs:
            assert_same(mine[k], theirs[k], rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                                   rtol=rtol, atol=atol)


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


# ---- 11. lookups: Keras's deprecated output_mode names ----

@pytest.mark.parametrize("make", [
    lambda mode: gpunet.layers.StringLookup(vocabulary=["a", "b", "c"], output_mode=mode),
    lambda mode: gpunet.layers.IntegerLookup(vocabulary=[3, 5, 7], output_mode=mode),
    lambda mode: gpunet.layers.TextVectorization(vocabulary=["a", "b", "c"], output_mode=mode),
])
def test_binary_is_keras_s_old_name_for_multi_hot(make):
    old, new = make("binary"), make("multi_hot")
    sample = np.array(["a b", "c a"]) if isinstance(old, gpunet.layers.TextVectorization) else (
        np.array([[3, 7], [5, 9]]) if isinstance(old, gpunet.layers.IntegerLookup) else np.array([["a", "b"], ["c", "z"]]))
    np.testing.assert_array_equal(np.asarray(old(sample)), np.asarray(new(sample)))
    assert old.get_config()["output_mode"] == "multi_hot"  # Keras stores the current name
    assert type(old)(output_mode="tf-idf").output_mode == "tf_idf"


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


# ---- 10. keras.ops.image and the keras.ops namespaces ----

_IMAGE_CASES = [
    ("extract_patches", dict(size=3)), ("extract_patches", dict(size=(2, 3), strides=(1, 2))),
    ("extract_patches", dict(size=3, padding="same")), ("extract_patches", dict(size=2, dilation_rate=2, strides=1)),
    ("rgb_to_hsv", {}), ("rgb_to_hsv", dict(data_format="channels_first")),
    ("pad_images", dict(top_padding=1, left_padding=2, target_height=12, target_width=10)),
    ("pad_images", dict(bottom_padding=0, right_padding=3, target_height=10, target_width=11)),
    ("crop_images", dict(top_cropping=1, left_cropping=2, target_height=5, target_width=3)),
    ("crop_images", dict(top_cropping=1, bottom_cropping=2, left_cropping=0, right_cropping=1)),
    ("gaussian_blur", {}), ("gaussian_blur", dict(kernel_size=(5, 3), sigma=(2.0, 0.7))),
    ("gaussian_blur", dict(data_format="channels_first")),
    ("sobel_edges", {}), ("sobel_edges", dict(data_format="channels_first")),
]


@pytest.mark.parametrize("name,kwargs", _IMAGE_CASES)
def test_image_ops_equal_keras(name, kwargs):
    k = real_keras()
    x = np.random.default_rng(11).uniform(size=(2, 9, 7, 3)).astype("float32")
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    got = getattr(gpunet.ops.image, name)(x, **kwargs)
    want = getattr(k.ops.image, name)(x, **kwargs)
    np.testing.assert_allclose(np.asarray(got.numpy()), np.asarray(want), rtol=1e-5, atol=1e-6)
    if name != "rgb_to_hsv":  # an unbatched image gives the batched result's first item
        one = getattr(gpunet.ops.image, name)(x[0], **kwargs) if name != "sobel_edges" else None
        if one is not None:
            np.testing.assert_allclose(np.asarray(one.numpy()), np.asarray(want)[0], rtol=1e-5, atol=1e-6)


def test_hsv_to_rgb_and_3d_patches_equal_keras():
    k = real_keras()
    rng = np.random.default_rng(12)
    hsv = rng.uniform(size=(2, 5, 4, 3)).astype("float32")
    np.testing.assert_allclose(gpunet.ops.image.hsv_to_rgb(hsv).numpy(), np.asarray(k.ops.image.hsv_to_rgb(hsv)),
                               rtol=1e-5, atol=1e-6)
    v = rng.uniform(size=(2, 6, 5, 4, 2)).astype("float32")
    np.testing.assert_array_equal(gpunet.ops.image.extract_patches(v, (2, 2, 2)).numpy(),
                                  np.asarray(k.ops.image.extract_patches_3d(v, (2, 2, 2))))


@pytest.mark.parametrize("name,kwargs", [
    ("extract_patches", dict(size=2, strides=1)), ("rgb_to_hsv", {}), ("hsv_to_rgb", {}),
    ("pad_images", dict(top_padding=1, left_padding=0, target_height=6, target_width=5)),
    ("crop_images", dict(top_cropping=1, left_cropping=1, target_height=2, target_width=2)),
    ("gaussian_blur", {}), ("sobel_edges", {})])
def test_image_ops_gradients_match_central_differences(name, kwargs):
    from gradcheck import directional_check
    x = np.random.default_rng(13).uniform(0.1, 0.9, size=(1, 4, 4, 3))
    directional_check(lambda t: getattr(gpunet.ops.image, name)(t, **kwargs), x, rtol=1e-5, atol=1e-8)


def test_image_op_arguments_are_checked_by_name():
    x = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="exactly two of top_padding"):
        gpunet.ops.image.pad_images(x, top_padding=1, bottom_padding=1, target_height=6, left_padding=0,
                                    target_width=4)
    with pytest.raises(ValueError, match="bottom_padding must be >= 0"):
        gpunet.ops.image.pad_images(x, top_padding=3, left_padding=0, target_height=5, target_width=4)
    with pytest.raises(ValueError, match="rank"):
        gpunet.ops.image.crop_images(np.zeros((4, 4)), top_cropping=0, left_cropping=0, target_height=1,
                                     target_width=1)
    with pytest.raises(ValueError, match="float dtype"):
        gpunet.ops.image.rgb_to_hsv(np.zeros((1, 2, 2, 3), "uint8"))


def test_the_keras_ops_namespaces_answer_keras_s_names():
    k = real_keras()
    from gpunet.ops.namespaces import NAMES
    for ns in ("nn", "numpy", "linalg"):
        assert NAMES[ns] == {n for n in dir(getattr(k.ops, ns)) if not n.startswith("_")}, ns
    assert gpunet.ops.numpy.mean is gpunet.ops.mean and gpunet.ops.nn.conv is gpunet.ops.conv
    assert gpunet.ops.linalg.norm is gpunet.ops.norm
    with pytest.raises(AttributeError, match="no attribute 'not_an_op'"):
        _ = gpunet.ops.numpy.not_an_op
    with pytest.raises(AttributeError):
        _ = gpunet.ops.numpy.data  # a gpunet.ops name Keras does not list under numpy


class Patches(gpunet.layers.Layer):
    """keras.io's ViT patch layer, unchanged but for the import."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, images):
        shape = gpunet.ops.shape(images)
        patches = gpunet.ops.image.extract_patches(images, size=self.patch_size)
        return gpunet.ops.reshape(patches, (shape[0], (shape[1] // self.patch_size) * (shape[2] // self.patch_size),
                                            self.patch_size * self.patch_size * shape[-1]))


def test_a_vit_patch_layer_builds_and_trains():
    inp = gpunet.Input((8, 8, 3))
    h = Patches(4)(inp)
    assert h.shape == (None, 4, 48)
    out = gpunet.layers.Dense(2)(gpunet.layers.GlobalAveragePooling1D()(gpunet.layers.Dense(6)(h)))
    m = gpunet.Model(inp, out)
    m.compile("adam", gpunet.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(14).uniform(size=(6, 8, 8, 3)).astype("float32")
    h = m.fit(x, np.arange(6) % 2, epochs=2, verbose=0).history
    assert np.isfinite(h["loss"]).all()


# ---- 14. every input Keras accepts: re-iterable datasets (tf.data, DataLoader), PyDataset workers ----

class Loader:
    """A re-iterable dataset as a torch DataLoader is one: iter() starts a pass, len() counts its batches; it
    yields lists [x, y] as DataLoader does. Records the batches handed out."""

    def __init__(self, x, y, batch_size, with_len=True):
        self.x, self.y, self.bs, self.log = x, y, batch_size, []
        if with_len:
            self.__class__ = _SizedLoader

    def __iter__(self):
        for lo in range(0, len(self.x), self.bs):
            self.log.append(lo // self.bs)
            yield [self.x[lo:lo + self.bs], self.y[lo:lo + self.bs]]


class _SizedLoader(Loader):
    def __len__(self):
        return -(-len(self.x) // self.bs)


def _mlp():
    gpunet.utils.set_random_seed(3)
    m = gpunet.Sequential([gpunet.Input((4,)), gpunet.layers.Dense(5, activation="relu"), gpunet.layers.Dense(1)])
    m.compile(gpunet.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return m


@pytest.mark.parametrize("with_len", [True, False])
def test_a_reiterable_dataset_trains_like_the_same_batches_from_arrays(with_len):
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(20, 4)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    ref = _mlp()
    h_ref = ref.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    m = _mlp()
    loader = Loader(x, y, 8, with_len)
    h = m.fit(loader, epochs=3, verbose=0, validation_data=Loader(x, y, 8, with_len)).history
    assert loader.log == [0, 1, 2] * 3  # a fresh pass each epoch
    for key in ("loss", "mae"):
        np.testing.assert_allclose(h[key], h_ref[key], rtol=1e-5)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.evaluate(Loader(x, y, 8, with_len), verbose=0), ref.evaluate(x, y, verbose=0),
                               rtol=1e-5)
    np.testing.assert_allclose(m.predict(Loader(x, y, 8, with_len), verbose=0), ref.predict(x, verbose=0), rtol=1e-5)


def test_steps_per_epoch_runs_one_pass_on_across_epochs_as_keras():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    loader = Loader(x, y, 8)  # 4 batches a pass
    with pytest.warns(UserWarning, match="ran out of data"):
        _mlp().fit(loader, epochs=3, steps_per_epoch=3, verbose=0)
    # Keras's EpochIterator: 0 1 2 | 3, out of data | a new pass 0 1 2
    assert loader.log == [0, 1, 2, 3, 0, 1, 2]


class Squares(gpunet.utils.PyDataset):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.readers = set()

    def __len__(self):
        return 5

    def __getitem__(self, i):
        import threading
        self.readers.add((os.getpid(), threading.get_ident()))
        x = np.full((4, 4), i, "float32") / 5.0
        return x, x.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kwargs", [dict(workers=3), dict(workers=2, use_multiprocessing=True, max_queue_size=2)])
def test_a_pydataset_read_by_workers_trains_as_read_in_the_calling_thread(kwargs):
    import threading
    serial, parallel = Squares(), Squares(**kwargs)
    a, b = _mlp(), _mlp()
    ha = a.fit(serial, epochs=2, shuffle=False, verbose=0).history
    hb = b.fit(parallel, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-6)
    if not kwargs.get("use_multiprocessing"):  # threads record into this object; processes into their copies
        assert any(t != threading.get_ident() for _, t in parallel.readers)
    np.testing.assert_allclose(b.predict(Squares(**kwargs), verbose=0), a.predict(serial, verbose=0), rtol=1e-6)


def test_a_torch_dataloader_trains():
    torch = pytest.importorskip("torch", reason="torch is not installed (the device image has it)")
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(20, 4)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=8)
    ref, m = _mlp(), _mlp()
    h_ref = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(m.fit(loader, epochs=2, verbose=0).history["loss"], h_ref["loss"], rtol=1e-5)


def test_a_tf_data_dataset_trains():
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed: the test extra leaves it out to "
                                                   "keep CI's install short (README); pip install tensorflow-cpu")
    rng = np.random.default_rng(18)
    x, y = rng.normal(size=(20, 4)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    ref, m = _mlp(), _mlp()
    h_ref = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(m.fit(ds, epochs=2, verbose=0).history["loss"], h_ref["loss"], rtol=1e-5)
    np.testing.assert_allclose(m.predict(ds.map(lambda a, b: a), verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    endless = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    assert len(m.fit(endless, epochs=2, steps_per_epoch=4, verbose=0).history["loss"]) == 2


# ---- 9. ConvLSTM1D/2D/3D ----

_CONVLSTM_CASES = [
    (2, (2, 4, 6, 5, 2), {}), (2, (2, 4, 6, 5, 2), dict(return_sequences=True, padding="same")),
    (2, (2, 4, 6, 5, 2), dict(return_state=True, go_backwards=True, strides=2)),
    (1, (2, 4, 7, 2), dict(return_sequences=True, dilation_rate=2)),
    (3, (2, 3, 5, 4, 4, 2), dict(return_sequences=True)),
    (2, (2, 4, 2, 6, 5), dict(data_format="channels_first", return_sequences=True)),
    (2, (2, 4, 6, 5, 2), dict(return_sequences=True, use_bias=False, activation="relu", unit_forget_bias=False)),
]


@pytest.mark.parametrize("rank,shape,kwargs", _CONVLSTM_CASES)
def test_conv_lstm_equals_keras(rank, shape, kwargs):
    k = real_keras()
    x = np.random.default_rng(19).normal(size=shape).astype("float32")
    mine = getattr(gpunet.layers, "ConvLSTM%dD" % rank)(3, 3, **kwargs)
    theirs = getattr(k.layers, "ConvLSTM%dD" % rank)(3, 3, **kwargs)
    got = mine(x)
    theirs(x)
    assert [w.path for w in mine.weights] == [w.path.replace(theirs.name, mine.name) for w in theirs.weights]
    theirs.set_weights(mine.get_weights())
    want = theirs(x)
    for a, b in zip(got if isinstance(got, list) else [got], want if isinstance(want, (list, tuple)) else [want]):
        np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)
    cfg, kcfg = mine.get_config(), theirs.get_config()
    assert sorted(cfg) == sorted(kcfg)
    assert {key: cfg[key] for key in ("filters", "kernel_size", "strides", "padding", "return_sequences")} == \
        {key: kcfg[key] for key in ("filters", "kernel_size", "strides", "padding", "return_sequences")}


@pytest.mark.parametrize("zero_output", [False, True])
def test_conv_lstm_masks_hold_the_state_over_masked_steps(zero_output):
    """Keras 3.15 fails on a ConvLSTM mask (its mask does not broadcast over the frames), so the reference is the
    RNN rule itself: a masked step keeps h and c, and its output is the previous output (or zeros)."""
    x = np.random.default_rng(20).normal(size=(3, 5, 4, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    seq = gpunet.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True,
                                   zero_output_for_mask=zero_output)
    out, h, c = seq(x, mask=mask)
    for i, n in enumerate(mask.sum(1)):
        ref_out, ref_h, ref_c = seq(x[i:i + 1, :n])
        np.testing.assert_allclose(out.numpy()[i, :n], ref_out.numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h.numpy()[i], ref_h.numpy()[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.numpy()[i], ref_c.numpy()[0], rtol=1e-5, atol=1e-6)
        tail = out.numpy()[i, n:]
        want = np.zeros_like(tail) if zero_output else np.broadcast_to(ref_out.numpy()[0, -1], tail.shape)
        np.testing.assert_allclose(tail, want, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\)"):
        seq(x, mask=np.ones((3, 5, 4), bool))


def test_conv_lstm_files_travel_both_ways(tmp_path):
    k = real_keras()
    x = np.random.default_rng(21).normal(size=(2, 3, 5, 5, 1)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((3, 5, 5, 1)), gpunet.layers.ConvLSTM2D(2, 3, return_sequences=True),
                           gpunet.layers.ConvLSTM2D(2, 3), gpunet.layers.Flatten(), gpunet.layers.Dense(1)])
    m.save(str(tmp_path / "g.keras"))
    km = k.saving.load_model(str(tmp_path / "g.keras"))
    np.testing.assert_allclose(np.asarray(km.predict(x, verbose=0)), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    km.save(str(tmp_path / "k.keras"))
    back = gpunet.saving.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


_CONVLSTM_FIT = '''
def build(keras):
    return keras.Sequential([keras.Input((4, 6, 6, 1)),
                             keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                             keras.layers.TimeDistributed(keras.layers.Flatten()), keras.layers.LSTM(4),
                             keras.layers.Dense(1)])

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model.fit(d["x"], d["y"], epochs=3, batch_size=4, shuffle=False, verbose=0).history
'''


def test_a_conv_lstm_model_trains_as_in_keras(tmp_path):
    rng = np.random.default_rng(22)
    data = {"x": rng.normal(size=(8, 4, 6, 6, 1)).astype("float32"), "y": rng.normal(size=(8, 1)).astype("float32")}
    mine, theirs = same_program(tmp_path, _CONVLSTM_FIT, data)
    assert_same(mine, theirs, rtol=2e-4, atol=1e-5)


def test_a_stateful_conv_lstm_carries_its_state():
    x = np.random.default_rng(23).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    layer = gpunet.layers.ConvLSTM2D(2, 3, padding="same", stateful=True)
    plain = gpunet.layers.ConvLSTM2D(2, 3, padding="same", return_state=True)
    first = layer(x)
    plain(x)
    plain.set_weights(layer.get_weights())
    _, h, c = plain(x)
    np.testing.assert_allclose(first.numpy(), h.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer(x).numpy(), plain(x, initial_state=[h, c])[0].numpy(), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(layer(x).numpy(), first.numpy(), rtol=1e-6)


def test_conv_lstm_dropout_draws_one_mask_per_sequence_and_leaves_inference_alone():
    x = np.random.default_rng(24).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    layer = gpunet.layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.5)
    base = gpunet.layers.ConvLSTM2D(2, 3)
    out = layer(x)
    base(x)
    base.set_weights(layer.get_weights())
    np.testing.assert_allclose(out.numpy(), base(x).numpy(), rtol=1e-6)  # training=False: no dropout
    assert not np.allclose(layer(x, training=True).numpy(), out.numpy())
    with pytest.raises(ValueError, match="static input shapes"):
        gpunet.layers.ConvLSTM2D(2, 3)(gpunet.Input((None, None, 4, 1)))


# ---- 16. keras.preprocessing, as Keras 3 keeps it ----

@pytest.mark.parametrize("size", [(5, 5), (4, 7), (13, 9)])
def test_preprocessing_image_smart_resize_equals_keras(size):
    k = real_keras()
    x = np.random.default_rng(25).uniform(0, 255, size=(2, 13, 9, 3)).astype("float32")
    np.testing.assert_allclose(gpunet.preprocessing.image.smart_resize(x, size),
                               np.asarray(k.preprocessing.image.smart_resize(x, size)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gpunet.preprocessing.image.smart_resize(x[0], size),
                               np.asarray(k.preprocessing.image.smart_resize(x[0], size)), rtol=1e-5, atol=1e-4)
    from gpunet.preprocessing.sequence import pad_sequences
    assert pad_sequences is gpunet.utils.pad_sequences
    assert gpunet.preprocessing.image.load_img is gpunet.utils.load_img


# ---- 15. mixed precision: dtype policies, autocast, LossScaleOptimizer ----

@pytest.fixture
def global_policy():
    """Sets gpunet's and Keras's global policy for one test and puts float32 back after it."""
    k = real_keras()

    def set_(name):
        gpunet.config.set_dtype_policy(name)
        k.config.set_dtype_policy(name)
    yield set_
    gpunet.utils.clear_session()  # back to no global policy (floatx's), in both
    k.utils.clear_session()
    assert gpunet.config.dtype_policy().name == k.config.dtype_policy().name == "float32"


def test_dtype_policies_follow_keras():
    k = real_keras()
    for name in ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "float64"):
        mine, theirs = gpunet.dtype_policies.DTypePolicy(name), k.dtype_policies.DTypePolicy(name)
        assert (mine.name, mine.compute_dtype, mine.variable_dtype, repr(mine)) == \
            (theirs.name, theirs.compute_dtype, theirs.variable_dtype, repr(theirs))
        layer, klayer = gpunet.layers.Dense(2, dtype=name), k.layers.Dense(2, dtype=name)
        assert (layer.dtype, layer.compute_dtype, layer.variable_dtype, layer.dtype_policy.name) == \
            (klayer.dtype, klayer.compute_dtype, klayer.variable_dtype, klayer.dtype_policy.name)
        assert layer.get_config()["dtype"] == klayer.get_config()["dtype"]
    assert gpunet.mixed_precision.Policy is gpunet.mixed_precision.DTypePolicy
    with pytest.raises(ValueError, match="mixed_float32"):
        gpunet.dtype_policies.DTypePolicy("mixed_float32")
    with pytest.raises(ValueError, match="policy"):
        gpunet.config.set_dtype_policy(3)


def _mixed_models(lib):
    inp = lib.Input((6, 4))
    h = lib.layers.Conv1D(5, 3, activation="relu")(inp)
    h = lib.layers.LSTM(6, return_sequences=True)(h)
    h = lib.layers.MultiHeadAttention(2, 3)(h, h)
    h = lib.layers.LayerNormalization()(lib.layers.GlobalAveragePooling1D()(h))
    out = lib.layers.Activation("softmax", dtype="float32")(lib.layers.Dense(3)(h))
    return lib.Model(inp, out)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_precision_model_predicts_as_keras(global_policy, policy):
    k = real_keras()
    global_policy(policy)
    x = np.random.default_rng(26).normal(size=(5, 6, 4)).astype("float32")
    mine, theirs = _mixed_models(gpunet), _mixed_models(k)
    assert all(w.dtype == np.float32 for w in mine.get_weights())
    theirs.set_weights(mine.get_weights())
    tol = 2e-3 if policy == "mixed_float16" else 3e-2
    got = mine.predict(x, verbose=0)
    assert got.dtype == np.float32  # the float32 softmax at the end, as the mixed-precision guide builds it
    np.testing.assert_allclose(got, np.asarray(theirs.predict(x, verbose=0)), rtol=tol, atol=tol)
    hidden = mine.layers[1](x)
    assert str(hidden.dtype) == policy[len("mixed_"):] == str(np.asarray(theirs.layers[1](x)).dtype)


_MIXED_FIT = '''
def build(keras):
    keras.config.set_dtype_policy("mixed_float16")
    inp = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu")(inp)
    out = keras.layers.Activation("softmax", dtype="float32")(keras.layers.Dense(3)(h))
    model = keras.Model(inp, out)
    keras.config.set_dtype_policy("float32")
    return model

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(d["x"], d["y"], epochs=3, batch_size=8, shuffle=False, verbose=0).history
    return {"history": h, "optimizer": type(model.optimizer).__name__ == "LossScaleOptimizer"}
'''


def test_mixed_float16_training_matches_keras_with_loss_scaling(tmp_path):
    rng = np.random.default_rng(27)
    data = {"x": rng.normal(size=(24, 8)).astype("float32"), "y": rng.integers(0, 3, 24)}
    mine, theirs = same_program(tmp_path, _MIXED_FIT, data)
    assert mine["optimizer"] == 1.0 and theirs["optimizer"] == 1.0  # compile wrapped the optimizer, as Keras's
    assert_same(mine["history"], theirs["history"], rtol=3e-3, atol=3e-3)


def test_a_mixed_model_fits_alike_on_the_fast_and_the_eager_path(global_policy):
    """The compiled CPU step, the fused softmax head and the fused recurrence do not run a mixed model: fit takes
    the layers' own calls, which run_eagerly=True takes too."""
    global_policy("mixed_float16")
    rng = np.random.default_rng(28)
    x, y = rng.normal(size=(16, 5, 3)).astype("float32"), rng.integers(0, 3, 16)
    runs = []
    for eager in (False, True):
        gpunet.utils.set_random_seed(4)
        m = gpunet.Sequential([gpunet.Input((5, 3)), gpunet.layers.LSTM(4), gpunet.layers.Dense(3),
                               gpunet.layers.Activation("softmax", dtype="float32")])
        m.compile("adam", "sparse_categorical_crossentropy", run_eagerly=eager)
        runs.append((m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"], m.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    from gpunet.training import cpu_step, tape_step
    assert cpu_step.layer_chain(m) is None  # no compiled CPU step, no GPU launch program
    assert m.layers[0]._fused_kind(True) is None  # the cell's own call, in float16
    assert not tape_step._Plan(m, y, (None, 3)).fused  # the float32 softmax runs, then the loss on its output


def test_loss_scale_optimizer_skips_overflowing_steps_and_grows_its_scale():
    v = gpunet.Variable(np.ones(3, "float32"))
    opt = gpunet.mixed_precision.LossScaleOptimizer(gpunet.optimizers.SGD(0.5), initial_scale=8.0,
                                                    dynamic_growth_steps=2)
    assert float(opt.scale_loss(gpunet.ops.convert_to_tensor(1.5)).numpy()) == 12.0
    opt.apply([np.array([8.0, 8.0, np.inf], "float32")], [v])  # an overflow: no step, the scale halves
    np.testing.assert_array_equal(v.numpy(), np.ones(3))
    assert float(opt.dynamic_scale.numpy()) == 4.0 and int(opt.iterations.numpy()) == 0
    opt.apply([np.array([4.0, 0.0, -4.0], "float32")], [v])  # unscaled: [1, 0, -1]
    np.testing.assert_allclose(v.numpy(), [0.5, 1.0, 1.5])
    assert float(opt.dynamic_scale.numpy()) == 4.0
    opt.apply([np.zeros(3, "float32")], [v])  # the second finite step in a row: the scale doubles
    assert float(opt.dynamic_scale.numpy()) == 8.0 and int(opt.iterations.numpy()) == 2
    k = real_keras()
    theirs = k.optimizers.LossScaleOptimizer(k.optimizers.SGD(0.5), initial_scale=8.0, dynamic_growth_steps=2)
    assert opt.get_config() == theirs.get_config() | {"inner_optimizer": opt.get_config()["inner_optimizer"]}
    assert opt.get_config()["inner_optimizer"]["class_name"] == "SGD"
    theirs.build([k.Variable(np.ones(3, "float32"))])
    assert len(opt.variables) == len(theirs.variables)
    again = gpunet.optimizers.deserialize(gpunet.optimizers.serialize(opt))
    assert isinstance(again.inner_optimizer, gpunet.optimizers.SGD) and again.dynamic_growth_steps == 2


def test_a_mixed_model_travels_in_keras_files_both_ways(tmp_path, global_policy):
    k = real_keras()
    global_policy("mixed_float16")
    x = np.random.default_rng(29).normal(size=(4, 6, 4)).astype("float32")
    m = _mixed_models(gpunet)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.save(str(tmp_path / "g.keras"))
    global_policy("float32")  # the files carry each layer's policy
    km = k.saving.load_model(str(tmp_path / "g.keras"))
    assert km.layers[1].dtype_policy.name == "mixed_float16"
    np.testing.assert_allclose(np.asarray(km.predict(x, verbose=0)), m.predict(x, verbose=0), rtol=2e-3, atol=2e-3)
    km.save(str(tmp_path / "k.keras"))
    back = gpunet.saving.load_model(str(tmp_path / "k.keras"))
    assert back.layers[1].compute_dtype == "float16" and back.layers[1].dtype == "float32"
    assert type(back.optimizer).__name__ == "LossScaleOptimizer"
    np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=2e-3, atol=2e-3)


def test_clear_session_forgets_the_global_policy_as_keras_does():
    gpunet.config.set_dtype_policy("mixed_float16")
    assert gpunet.layers.Dense(2).compute_dtype == "float16"
    gpunet.utils.clear_session()
    gpunet.config.set_floatx("float64")
    try:
        assert gpunet.layers.Dense(2).dtype == "float64"  # floatx's policy again
    finally:
        gpunet.config.set_floatx("float32")


# ---- 11. the raw-string model idiom: lookups and TextVectorization on a string Input ----

def test_an_end_to_end_model_over_raw_strings():
    """keras.io's text classification from scratch: a model trained on vectorized ids, then an end-to-end model
    that takes the raw strings (Keras runs this on TensorFlow only; gpunet's lookups read host strings)."""
    texts = np.array(["the cat sat", "a dog ran", "the dog sat down", "cats and dogs", "a cat ran far", "sat"])
    labels = np.array([0, 1, 1, 0, 0, 1])
    vectorize = gpunet.layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(texts)
    ids_in = gpunet.Input((5,), dtype="int64")
    h = gpunet.layers.GlobalAveragePooling1D()(gpunet.layers.Embedding(30, 4)(ids_in))
    model = gpunet.Model(ids_in, gpunet.layers.Dense(2, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(vectorize(texts), labels, epochs=2, verbose=0)
    raw = gpunet.Input((1,), dtype="string")
    ids = vectorize(raw)
    assert ids.shape == (None, 5) and ids.dtype == "int64"
    end_to_end = gpunet.Model(raw, model(ids))
    want = model.predict(vectorize(texts), verbose=0)
    np.testing.assert_allclose(end_to_end.predict(texts[:, None], verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(end_to_end(texts[:, None]).numpy(), want, rtol=1e-6)
    end_to_end.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = end_to_end.evaluate(texts[:, None], labels, verbose=0)
    np.testing.assert_allclose([loss, acc], model.evaluate(vectorize(texts), labels, verbose=0), rtol=1e-6)
    h = end_to_end.fit(texts[:, None], labels, epochs=1, batch_size=3, verbose=0).history
    assert np.isfinite(h["loss"][0])
    with pytest.raises(TypeError, match="takes strings"):
        end_to_end.predict(np.zeros((2, 1)), verbose=0)


def test_string_lookups_are_graph_nodes_on_a_string_input():
    raw = gpunet.Input((2,), dtype="string")
    ids = gpunet.layers.StringLookup(vocabulary=["a", "b", "c"])(raw)
    hot = gpunet.layers.StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot")(raw)
    assert (ids.shape, ids.dtype, hot.shape, hot.dtype) == ((None, 2), "int64", (None, 4), "float32")
    m = gpunet.Model(raw, [ids, hot])
    got_ids, got_hot = m.predict(np.array([["a", "z"], ["c", "b"]]), verbose=0)
    np.testing.assert_array_equal(got_ids, [[1, 0], [3, 2]])
    np.testing.assert_array_equal(got_hot, [[1, 1, 0, 0], [0, 0, 1, 1]])


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


# ---- 10. keras.ops.nn: depth/space, unfold/fold, adaptive pooling (and the Adaptive*Pooling layers) ----

@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_depth_and_space_rearrangements_equal_keras(fmt):
    k = real_keras()
    x = np.random.default_rng(32).normal(size=(2, 4, 6, 8) if fmt == "channels_last" else (2, 8, 4, 6))
    x = x.astype("float32")
    for name, arg in (("depth_to_space", 2), ("space_to_depth", 2)):
        got = getattr(gpunet.ops, name)(x, arg, data_format=fmt)
        np.testing.assert_array_equal(got.numpy(), np.asarray(getattr(k.ops, name)(x, arg, data_format=fmt)))
    back = gpunet.ops.space_to_depth(gpunet.ops.depth_to_space(x, 2, data_format=fmt), 2, data_format=fmt)
    np.testing.assert_array_equal(back.numpy(), x)
    with pytest.raises(ValueError, match="block_size"):
        gpunet.ops.depth_to_space(x, 1)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=2, padding=1),
                                    dict(kernel_size=3, dilation=2, padding=(1, 2), stride=(1, 2))])
def test_unfold_and_fold_equal_keras(kwargs):
    k = real_keras()
    x = np.random.default_rng(33).normal(size=(2, 3, 7, 8)).astype("float32")
    cols = gpunet.ops.unfold(x, **kwargs)
    want = np.asarray(k.ops.unfold(x, **kwargs))
    np.testing.assert_allclose(cols.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(gpunet.ops.fold(want, (7, 8), **kwargs).numpy(),
                               np.asarray(k.ops.fold(want, (7, 8), **kwargs)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,size", [((2, 10, 3), 4), ((2, 7, 9, 3), (3, 4)), ((1, 5, 6, 7, 2), (2, 3, 4)),
                                        ((2, 3, 11, 5), (4, 2))])
def test_adaptive_pooling_equals_keras(shape, size):
    k = real_keras()
    fmt = "channels_first" if shape == (2, 3, 11, 5) else "channels_last"
    x = np.random.default_rng(34).normal(size=shape).astype("float32")
    for name in ("adaptive_average_pool", "adaptive_max_pool"):
        got = getattr(gpunet.ops, name)(x, size, data_format=fmt)
        np.testing.assert_allclose(got.numpy(), np.asarray(getattr(k.ops, name)(x, size, data_format=fmt)),
                                   rtol=1e-5, atol=1e-6)
    rank = len(shape) - 2
    for kind in ("Average", "Max"):
        name = "Adaptive%sPooling%dD" % (kind, rank)
        mine, theirs = getattr(gpunet.layers, name)(size, data_format=fmt), getattr(k.layers, name)(size,
                                                                                                 data_format=fmt)
        np.testing.assert_allclose(mine(x).numpy(), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
        assert mine.get_config()["output_size"] == theirs.get_config()["output_size"]
        assert mine.compute_output_shape(shape) == theirs.compute_output_shape(shape)


@pytest.mark.parametrize("name,args", [
    ("depth_to_space", (2,)), ("space_to_depth", (2,)), ("unfold", (2,)), ("adaptive_average_pool", ((2, 3),)),
    ("adaptive_max_pool", ((3, 2),))])
def test_spatial_ops_gradients_match_central_differences(name, args):
    from gradcheck import directional_check
    x = np.random.default_rng(35).normal(size=(1, 4, 6, 8))
    directional_check(lambda t: getattr(gpunet.ops, name)(t, *args), x, rtol=1e-5, atol=1e-8)


def test_fold_gradient_matches_central_differences():
    from gradcheck import directional_check
    cols = np.random.default_rng(36).normal(size=(1, 2 * 4, 9))
    directional_check(lambda t: gpunet.ops.fold(t, (5, 5), kernel_size=2, stride=2, padding=1), cols, rtol=1e-5,
                      atol=1e-8)
