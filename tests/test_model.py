import io
import re

import numpy as np
import pytest

import gpunet
from gpunet import layers, ops
from keras_ref import keras

R = np.random.default_rng(7)


def classic(dropout=False):
    ls = [gpunet.Input((28, 28)), layers.Flatten(), layers.Dense(128, activation="relu")]
    if dropout:
        ls.append(layers.Dropout(0.2))
    ls.append(layers.Dense(10, activation="softmax"))
    return gpunet.Sequential(ls)


def test_summary_matches_keras(capsys):
    k = keras()
    k.utils.clear_session()
    km = k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(128, activation="relu"),
                       k.layers.Dropout(0.2), k.layers.Dense(10, activation="softmax")])
    lines = []
    km.summary(print_fn=lambda s, **kw: lines.append(s), line_length=76)
    want = "\n".join(lines).rstrip("\n")
    got = []
    classic(dropout=True).summary(print_fn=got.append, line_length=76)
    assert got[0] == want
    assert " Total params: 101,770 (397.54 KB)" in got[0]


def test_summary_after_compile_counts_optimizer_like_keras():
    k = keras()
    k.utils.clear_session()
    km = k.Sequential([k.Input((4,)), k.layers.Dense(3)])
    km.compile(optimizer="adam", loss="mse")
    km.optimizer.build(km.trainable_variables)
    lines = []
    km.summary(print_fn=lambda s, **kw: lines.append(s), line_length=76)
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(3)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.ones((2, 4)), np.ones((2, 3)), verbose=0)
    got = []
    m.summary(print_fn=got.append, line_length=76)
    want_tail = [l for l in "\n".join(lines).splitlines() if "params" in l]
    assert [l for l in got[0].splitlines() if "params" in l] == want_tail


def test_layer_names_and_input_shape_argument():
    m = gpunet.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert [l.name for l in m.layers] == ["dense", "dense_1"]
    assert m.built and m.output_shape == (None, 2)
    assert m.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_add_pop_build():
    m = gpunet.Sequential()
    m.add(gpunet.Input((5,)))
    m.add(layers.Dense(3))
    m.add(layers.Dense(2))
    assert m.output_shape == (None, 2)
    m.pop()
    assert m.output_shape == (None, 3) and len(m.layers) == 1
    m2 = gpunet.Sequential([layers.Dense(3)])
    assert not m2.built
    m2.build((None, 7))
    assert m2.layers[0].kernel.shape == (7, 3)


def test_weights_keras_shapes_and_set_get():
    m = classic()
    w = m.get_weights()
    assert [a.shape for a in w] == [(784, 128), (128,), (128, 10), (10,)]
    assert np.all(w[1] == 0) and np.abs(w[0]).max() <= np.sqrt(6 / (784 + 128))  # glorot_uniform, zero bias
    new = [np.full_like(a, 0.01) for a in w]
    m.set_weights(new)
    assert all(np.all(a == 0.01) for a in m.get_weights())
    with pytest.raises(ValueError, match="shape"):
        m.set_weights([np.zeros((3, 3))] + new[1:])
    assert all(np.all(a == 0.01) for a in m.get_weights())  # nothing half-applied


def test_weights_load_into_keras_and_predict_the_same():
    k = keras()
    m = classic()
    x = R.random((5, 28, 28)).astype("float32")
    km = k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(128, activation="relu"),
                       k.layers.Dense(10, activation="softmax")])
    km.set_weights(m.get_weights())
    np.testing.assert_allclose(m.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(m(x)), m.predict(x, verbose=0), rtol=1e-6)


def logic_data(fn):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    return x, np.array([[fn(a, b)] for a, b in x.astype(int)], dtype="float32")


@pytest.mark.parametrize("fn", [lambda a, b: a & b, lambda a, b: a | b], ids=["AND", "OR"])
def test_perceptron_learns_and_or(fn):
    x, y = logic_data(fn)
    m = gpunet.Sequential([gpunet.Input((2,)), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=gpunet.optimizers.SGD(1.0), loss="binary_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert np.array_equal((m.predict(x, verbose=0) > 0.5).astype("float32"), y)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == 1.0


def test_hidden_layer_learns_xor():
    x, y = logic_data(lambda a, b: a ^ b)
    m = gpunet.Sequential([gpunet.Input((2,)), layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=gpunet.optimizers.Adam(0.05), loss="binary_crossentropy")
    m.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert np.array_equal((m.predict(x, verbose=0) > 0.5).astype("float32"), y)


def train_once(seed):
    gpunet.utils.clear_session()
    gpunet.utils.set_random_seed(seed)
    x = np.random.default_rng(1).random((300, 28, 28)).astype("float32")
    y = np.random.default_rng(2).integers(0, 10, 300)
    m = classic(dropout=True)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.1)
    return m.get_weights()


def test_same_seed_bit_identical():
    a, b, c = train_once(5), train_once(5), train_once(6)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_fit_history_evaluate_predict_api():
    x = R.random((200, 28, 28)).astype("float32")
    y = R.integers(0, 10, 200)
    m = classic()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=2, batch_size=50, verbose=0, validation_data=(x[:40], y[:40]))
    assert h is m.history and h.epoch == [0, 1]
    assert sorted(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert isinstance(m.evaluate(x, y, verbose=0), list) and len(m.evaluate(x, y, verbose=0)) == 2
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(d) == ["accuracy", "loss"] and 0 <= d["accuracy"] <= 1
    assert h.history["val_loss"][-1] == pytest.approx(m.evaluate(x[:40], y[:40], verbose=0)[0], rel=1e-6)
    p = m.predict(x[:7], verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (7, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert m.metrics_names == ["loss", "compile_metrics"]  # as Keras 3 names them
    m2 = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(1)])
    m2.compile(loss="mse")
    assert isinstance(m2.optimizer, gpunet.optimizers.RMSprop)  # Keras's default optimizer
    assert isinstance(m2.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0), float)


def test_logs_are_running_means_over_the_epoch():
    class Rec(gpunet.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(dict(logs))

        def on_train_begin(self, logs=None):
            self.seen = []
    x = R.random((96, 4)).astype("float32")
    y = R.random((96, 1)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(1)])
    m.compile(optimizer=gpunet.optimizers.SGD(0.0), loss="mse")  # lr 0: the per-batch losses are fixed
    rec = Rec()
    h = m.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    per_batch = [float(m.evaluate(x[i:i + 32], y[i:i + 32], verbose=0)) for i in (0, 32, 64)]
    assert rec.seen[1]["loss"] == pytest.approx(np.mean(per_batch[:2]), rel=1e-6)
    assert h.history["loss"][0] == pytest.approx(np.mean(per_batch), rel=1e-6)


@pytest.mark.parametrize("loss,y_kind,expected", [
    ("sparse_categorical_crossentropy", "sparse", "SparseCategoricalAccuracy"),
    ("categorical_crossentropy", "onehot", "CategoricalAccuracy"),
    ("binary_crossentropy", "binary", "BinaryAccuracy")])
def test_accuracy_resolution(loss, y_kind, expected):
    x = R.random((20, 4)).astype("float32")
    units, act = (1, "sigmoid") if y_kind == "binary" else (3, "softmax")
    y = {"sparse": R.integers(0, 3, 20), "onehot": np.eye(3)[R.integers(0, 3, 20)],
         "binary": R.integers(0, 2, (20, 1)).astype("float32")}[y_kind]
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(units, activation=act)])
    m.compile(optimizer="adam", loss=loss, metrics=["acc"])
    h = m.fit(x, y, verbose=0)
    assert m.metrics_names == ["loss", "compile_metrics"]  # Keras 3: one container for compile(metrics=)
    assert type(m.metrics[1].metrics[0]).__name__ == expected and "acc" in h.history


def test_progress_bar_format_in_logs():
    x = R.random((64, 4)).astype("float32")
    y = R.integers(0, 3, 64)
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    buf = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(buf):
        m.fit(x, y, epochs=2, batch_size=32, verbose=1)
    out = buf.getvalue().splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert re.fullmatch(r"2/2 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", out[1]), out[1]
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.fit(x, y, epochs=1, batch_size=32, verbose=2)
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}\n", buf.getvalue())


def test_custom_layer_trains_without_handwritten_backward():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
            self.b = self.add_weight(shape=(), initializer="zeros", name="b")

        def call(self, x):
            return ops.add(ops.multiply(ops.tanh(x), self.w), self.b)
    x = R.standard_normal((128, 3)).astype("float32")
    y = np.tanh(x) * np.array([2.0, -1.0, 0.5], dtype="float32") + 0.3
    m = gpunet.Sequential([gpunet.Input((3,)), Scale()])
    m.compile(optimizer=gpunet.optimizers.Adam(0.05), loss="mse")
    m.fit(x, y, epochs=60, batch_size=32, verbose=0)
    w, b = m.layers[0].get_weights()
    np.testing.assert_allclose(w, [2.0, -1.0, 0.5], atol=0.05)
    assert float(b) == pytest.approx(0.3, abs=0.05)


def test_dropout_only_in_training():
    d = layers.Dropout(0.5)
    x = np.ones((1000, 10), dtype="float32")
    assert np.array_equal(np.asarray(d(x)), x)
    y = np.asarray(d(x, training=True))
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6


def test_layer_config_roundtrip():
    for layer in [layers.Dense(3, activation="tanh", use_bias=False, name="d"), layers.Flatten(),
                  layers.Activation("relu"), layers.Dropout(0.3), layers.Reshape((2, -1))]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


# ---- bad input: clear errors naming what was expected and what was received ----

def test_fit_before_compile():
    with pytest.raises(RuntimeError, match="compile"):
        classic().fit(np.zeros((2, 28, 28)), np.zeros(2))


def test_wrong_input_shape_names_the_layer():
    m = gpunet.Sequential([layers.Dense(4), layers.Dense(2)])
    m(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r'layer "dense".*expected axis -1.*value 5.*\(None, 6\)'):
        m(np.zeros((2, 6)))
    m2 = classic()
    m2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expected shape \(None, 28, 28\).*\(None, 28, 27\)"):
        m2.fit(np.zeros((4, 28, 27)), np.zeros(4))


def test_length_mismatch_bad_labels_nan_and_dtype():
    m = classic()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    w0 = m.get_weights()
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        m.fit(np.zeros((4, 28, 28)), np.zeros(3))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\).*\[0, 12\]"):
        m.fit(np.zeros((4, 28, 28)), np.array([0, 1, 12, 3]))
    x = np.zeros((4, 28, 28), dtype="float32")
    x[2, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf.*index 2"):
        m.fit(x, np.zeros(4))
    with pytest.raises(TypeError, match="numeric"):
        m.fit(np.array([["a"] * 784] * 2).reshape(2, 28, 28), np.zeros(2))
    assert all(np.array_equal(a, b) for a, b in zip(w0, m.get_weights()))  # nothing half-applied
    m1 = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(3, activation="softmax")])
    m1.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="one-hot.*sparse_categorical_crossentropy"):
        m1.fit(np.zeros((4, 4)), np.array([0, 1, 2, 1]))


def test_unknown_identifiers_suggest_names():
    with pytest.raises(ValueError, match="Did you mean 'relu'"):
        layers.Dense(3, activation="rleu")
    with pytest.raises(ValueError, match="Did you mean 'glorot_uniform'"):
        layers.Dense(3, kernel_initializer="glorot_unifrom")
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="metric"):
        m.compile(loss="mse", metrics=["mean_sqaured_error"])
    assert not m.compiled
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Dense"):
        layers.Dense(3, activaton="relu")


def test_diverging_loss_is_reported():
    x = R.standard_normal((64, 3)).astype("float32") * 100
    y = R.standard_normal((64, 1)).astype("float32") * 100
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(1)])
    m.compile(optimizer=gpunet.optimizers.SGD(1e6), loss="mse")
    with pytest.warns(RuntimeWarning, match="diverged"):
        m.fit(x, y, epochs=2, verbose=0)


@pytest.mark.parametrize("head", ["dense_softmax", "activation_softmax"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "categorical_smoothed"])
def test_compiled_step_equals_tape_path(head, loss):
    """fit's compiled step plan and the general tape path (run_eagerly=True) give the same weights."""
    x = R.random((256, 6, 5)).astype("float32")
    yi = R.integers(0, 4, 256)
    y = yi if loss.startswith("sparse") else np.eye(4, dtype="float32")[yi]
    if loss == "categorical_smoothed":  # label smoothing: the shared cross-entropy reference's smoothing sum
        loss = gpunet.losses.CategoricalCrossentropy(label_smoothing=0.1)
    out = []
    for eager in (False, True):
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(11)
        ls = [gpunet.Input((6, 5)), layers.Flatten(), layers.Dense(16, activation="tanh"), layers.Dropout(0.3),
              layers.Dense(8), layers.Activation("relu"), layers.Dense(8, activation="gelu")]
        ls += [layers.Dense(4, activation="softmax")] if head == "dense_softmax" else [layers.Dense(4), layers.Activation("softmax")]
        m = gpunet.Sequential(ls)
        m.compile(optimizer="adam", loss=loss, metrics=["accuracy"], run_eagerly=eager)
        h = m.fit(x, y, epochs=2, batch_size=32, verbose=0)
        out.append((m.get_weights(), h.history))
    for a, b in zip(out[0][0], out[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for k in out[0][1]:
        np.testing.assert_allclose(out[0][1][k], out[1][1][k], rtol=1e-6)


def test_progress_bar_redraws_in_place_on_a_terminal():
    from gpunet.common.progbar import Progbar

    class Tty(io.StringIO):
        def isatty(self):
            return True
    out = Tty()
    bar = Progbar(4, stream=out, interval=0.0)
    for i in range(1, 5):
        bar.update(i, [("loss", 0.5 / i), ("accuracy", 0.25 * i)])
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "\x1b[1m4/4\x1b[0m" in text and "\x1b[32m" in text  # Keras's bold count and green bar
    last = re.sub(r"\x1b\[[0-9;]*m", "", text.split("\r")[-1])
    # a shorter line than the previous one is padded with spaces to erase it, as Keras does
    assert re.fullmatch(r"4/4 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.1250 - accuracy: 1\.0000 *\n", last), last
    small = io.StringIO()
    Progbar(1, stream=small).update(1, [("loss", 1e-5)])
    assert "loss: 1.0000e-05" in small.getvalue()
