"""Keras file interop both ways (real Keras 3, NumPy backend, as the referee), checkpoints and resume,
config round trips, and refusal of corrupt, truncated and mismatched files."""
import json
import os
import zipfile

import numpy as np
import pytest

import gpunet
from gpunet import callbacks, layers
from gpunet.saving import SavingError
from keras_ref import keras

R = np.random.default_rng(21)
X = R.random((96, 6)).astype("float32")
Y = R.integers(0, 3, 96)


def seq_model():
    m = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu", name="hidden"), layers.Dropout(0.1),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def functional_model():
    a, b = gpunet.Input((6,), name="a"), gpunet.Input((6,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    pa = layers.Dense(6, name="proj")(a)
    h = layers.Concatenate()([shared(pa), shared(b)])
    h = layers.Add()([layers.Dense(4)(h), layers.Dense(4)(h)])
    out = layers.Dense(3, activation="softmax", name="out")(h)
    m = gpunet.Model([a, b], out)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_sequential_gpunet_to_keras(tmp_path):
    k = keras()
    m = seq_model()
    m.fit(X, Y, epochs=2, verbose=0)
    m.save(tmp_path / "m.keras")
    m.save_weights(tmp_path / "m.weights.h5")
    probe = R.random((10, 6)).astype("float32")
    km = k.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(km.predict(probe, verbose=0), m.predict(probe, verbose=0), atol=1e-6)
    assert km.optimizer.__class__.__name__ == "Adam" and int(km.optimizer.iterations) == 6
    kw = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dropout(0.1),
                       k.layers.Dense(3, activation="softmax")])
    kw.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(kw.predict(probe, verbose=0), m.predict(probe, verbose=0), atol=1e-6)
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert set(z.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}


def test_functional_gpunet_to_keras(tmp_path):
    k = keras()
    m = functional_model()
    m.fit([X, X[::-1]], Y, epochs=1, verbose=0)
    m.save(tmp_path / "f.keras")
    probe = [R.random((7, 6)).astype("float32"), R.random((7, 6)).astype("float32")]
    km = k.models.load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(km.predict(probe, verbose=0), m.predict(probe, verbose=0), atol=1e-6)
    m.save_weights(tmp_path / "f.weights.h5")
    km.load_weights(tmp_path / "f.weights.h5")
    np.testing.assert_allclose(km.predict(probe, verbose=0), m.predict(probe, verbose=0), atol=1e-6)


def test_keras_to_gpunet_all_formats_then_keep_training(tmp_path):
    k = keras()
    km = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(3, activation="softmax")])
    km.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    km.optimizer.build(km.trainable_variables)
    km.save(tmp_path / "k.keras")
    km.save_weights(tmp_path / "k.weights.h5")
    km.save(tmp_path / "k.h5")  # legacy HDF5
    probe = R.random((9, 6)).astype("float32")
    want = km.predict(probe, verbose=0)
    for f in ("k.keras", "k.h5"):
        g = gpunet.models.load_model(tmp_path / f)
        np.testing.assert_allclose(g.predict(probe, verbose=0), want, atol=1e-6)
        h = g.fit(X, Y, epochs=2, verbose=0)
        assert h.history["loss"][1] < h.history["loss"][0] * 1.01
    g = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    g.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(g.predict(probe, verbose=0), want, atol=1e-6)


def test_keras_functional_to_gpunet(tmp_path):
    k = keras()
    a, b = k.Input((6,), name="a"), k.Input((6,), name="b")
    sh = k.layers.Dense(4, name="shared")
    o = k.layers.Dense(2, activation="softmax", name="o")(k.layers.Concatenate()([sh(a), sh(b)]))
    km = k.Model([a, b], o)
    km.save(tmp_path / "kf.keras")
    probe = [R.random((5, 6)).astype("float32"), R.random((5, 6)).astype("float32")]
    g = gpunet.models.load_model(tmp_path / "kf.keras")
    np.testing.assert_allclose(g.predict(probe, verbose=0), km.predict(probe, verbose=0), atol=1e-6)
    assert [l.name for l in g.layers] == [l.name for l in km.layers]


@pytest.mark.parametrize("eager", [False, True])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, eager):
    """Weights, optimizer slots, step count and the model's seed come back exactly, and each epoch's
    shuffle and dropout masks come from a stream keyed by (seed, epoch): resuming at an epoch
    boundary replays the uninterrupted run bit for bit (shuffle and dropout included)."""
    def fresh():
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(3)
        m = seq_model()  # has Dropout
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=eager)
        return m
    full = fresh()
    full.fit(X, Y, epochs=4, batch_size=16, verbose=0)
    part = fresh()
    ck = callbacks.ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}.keras"))
    part.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[ck])
    assert sorted(os.listdir(tmp_path)) == ["ck-01.keras", "ck-02.keras"]
    gpunet.utils.set_random_seed(999)  # a different process state: must not matter
    resumed = gpunet.models.load_model(tmp_path / "ck-02.keras")
    resumed.compile(optimizer=resumed.optimizer, loss=resumed.loss, metrics=["accuracy"], run_eagerly=eager)
    resumed.fit(X, Y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)
    # the file also counts the epochs trained: fit(epochs=2) without initial_epoch continues the streams
    more = gpunet.models.load_model(tmp_path / "ck-02.keras")
    more.compile(optimizer=more.optimizer, loss=more.loss, metrics=["accuracy"], run_eagerly=eager)
    more.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(full.get_weights(), more.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("eager", [False, True])
def test_fit_called_epoch_by_epoch_draws_new_streams(eager):
    """fit(epochs=1) in a loop shuffles and drops out differently at each call, as in Keras: the same
    streams as one fit(epochs=3), not epoch 0's order and dropout masks three times over."""
    def fresh():
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(5)
        m = seq_model()
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=eager)
        return m
    full = fresh()
    full.fit(X, Y, epochs=3, batch_size=16, verbose=0)
    loop = fresh()
    for _ in range(3):
        loop.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(full.get_weights(), loop.get_weights()):
        assert np.array_equal(a, b)
    assert loop._epochs_trained == 3


def test_checkpoint_best_only_weights_only_and_formatting(tmp_path):
    m = seq_model()

    class Script(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [0.9, 0.5, 0.7, 0.4][epoch]
    ck = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}-{val_loss:.2f}.weights.h5"), save_best_only=True,
                                   save_weights_only=True)
    m.fit(X, Y, epochs=4, verbose=0, validation_data=(X, Y), callbacks=[Script(), ck])
    assert sorted(os.listdir(tmp_path)) == ["w-1-0.90.weights.h5", "w-2-0.50.weights.h5", "w-4-0.40.weights.h5"]
    ck = callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), save_freq=3)
    m.fit(X, Y, epochs=1, batch_size=32, verbose=0, callbacks=[ck])
    assert (tmp_path / "b.keras").exists()
    with pytest.raises(ValueError, match=".weights.h5"):
        callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_weights_only=True)


def test_compile_config_and_optimizer_state_round_trip(tmp_path):
    m = seq_model()
    m.compile(optimizer=gpunet.optimizers.RMSprop(0.01, momentum=0.5, centered=True), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(tmp_path / "r.keras")
    g = gpunet.models.load_model(tmp_path / "r.keras")
    assert isinstance(g.optimizer, gpunet.optimizers.RMSprop) and g.optimizer.centered and g.optimizer.momentum == 0.5
    assert g.loss == "sparse_categorical_crossentropy"
    for a, b in zip(m.optimizer.variables, g.optimizer.variables):
        assert np.array_equal(a.numpy(), b.numpy())


def test_json_round_trip_and_custom_objects(tmp_path):
    @gpunet.saving.register_keras_serializable(package="Test")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return gpunet.ops.multiply(x, self.factor)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    class Unregistered(Scale):
        pass
    m = gpunet.Sequential([gpunet.Input((6,)), Scale(3.0), layers.Dense(2)])
    clone = gpunet.models.model_from_json(m.to_json())
    assert isinstance(clone.layers[0], Scale) and clone.layers[0].factor == 3.0
    m.compile(loss="mse")
    m.save(tmp_path / "s.keras")
    g = gpunet.models.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(g.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-7)
    u = gpunet.Sequential([gpunet.Input((6,)), Unregistered(), layers.Dense(2)])
    cfg = json.loads(u.to_json())
    cfg["config"]["layers"][1]["registered_name"] = None
    with pytest.raises(ValueError, match="custom_objects"):
        gpunet.models.model_from_json(json.dumps(cfg))
    assert isinstance(gpunet.models.model_from_json(json.dumps(cfg), custom_objects={"Unregistered": Unregistered})
                      .layers[0], Unregistered)


def test_corrupt_truncated_and_mismatched_files_are_refused(tmp_path):
    m = seq_model()
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(tmp_path / "good.keras")
    m.save_weights(tmp_path / "good.weights.h5")
    raw = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "trunc.keras").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SavingError, match="corrupt or truncated"):
        gpunet.models.load_model(tmp_path / "trunc.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip at all")
    with pytest.raises(SavingError, match="not a valid .keras file"):
        gpunet.models.load_model(tmp_path / "junk.keras")
    w = (tmp_path / "good.weights.h5").read_bytes()
    (tmp_path / "trunc.weights.h5").write_bytes(w[:3000])
    other = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    before = other.get_weights()
    with pytest.raises(SavingError, match="corrupt or truncated"):
        other.load_weights(tmp_path / "trunc.weights.h5")
    wrong = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(9, activation="relu"), layers.Dense(3, activation="softmax")])
    w_before = wrong.get_weights()
    with pytest.raises(SavingError, match=r"layer 'dense.*': variable 0 has shape \(6, 8\) in the file, \(6, 9\)"):
        wrong.load_weights(tmp_path / "good.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(w_before, wrong.get_weights()))  # nothing half-loaded
    fewer = gpunet.Sequential([gpunet.Input((6,)), layers.Dense(8)])
    with pytest.raises(SavingError, match="does not match the model: the file has weights for layers the model "
                                          "lacks: \\['layers/dense_1'\\]"):
        fewer.load_weights(tmp_path / "good.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))
    with pytest.raises(SavingError, match="'.keras'"):
        m.save(tmp_path / "m.h5")


def test_save_is_atomic(tmp_path, monkeypatch):
    m = seq_model()
    m.save(tmp_path / "m.keras")
    good = (tmp_path / "m.keras").read_bytes()
    import gpunet.saving.saving_lib as sl

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(sl, "_write_h5", boom)
    with pytest.raises(RuntimeError):
        m.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == good
    assert os.listdir(tmp_path) == ["m.keras"]


def test_functional_fit_lists_dicts_multi_output_summary(capsys):
    m = functional_model()
    h = m.fit({"a": X, "b": X}, Y, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    text = []
    m.summary(print_fn=text.append, line_length=108)
    assert "Connected to" in text[0] and "shared[1][0]" in text[0] and "a[0][0]" in text[0]
    i = gpunet.Input((6,))
    t = layers.Dense(8, activation="tanh")(i)
    mm = gpunet.Model(i, [layers.Dense(1, name="reg")(t), layers.Dense(3, activation="softmax", name="cls")(t)])
    mm.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 1.0],
               metrics={"cls": ["accuracy"]})
    yr = X.sum(1, keepdims=True)
    h = mm.fit(X, [yr, Y], epochs=2, verbose=0)
    assert set(h.history) == {"loss", "reg_loss", "cls_loss", "cls_accuracy"}
    d = mm.evaluate(X, {"reg": yr, "cls": Y}, verbose=0, return_dict=True)
    assert d["loss"] == pytest.approx(0.5 * d["reg_loss"] + d["cls_loss"], rel=1e-5)
    preds = mm.predict(X, verbose=0)
    assert [p.shape for p in preds] == [(96, 1), (96, 3)]
    with pytest.raises(ValueError, match="2 inputs"):
        m.predict(X, verbose=0)


def test_subclassed_model_trains():
    class MLP(gpunet.Model):
        def __init__(self):
            super().__init__()
            self.d1 = layers.Dense(16, activation="relu")
            self.d2 = layers.Dense(3, activation="softmax")

        def call(self, x, training=None):
            return self.d2(self.d1(x))
    m = MLP()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(X, Y, epochs=5, verbose=0)
    assert len(m.trainable_weights) == 4 and h.history["loss"][-1] < h.history["loss"][0]
