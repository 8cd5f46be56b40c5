"""keras.callbacks.TensorBoard: the event files are read back with TensorBoard's own reader
(tensorboard.backend.event_processing), and hold Keras 3's folders, tags, steps and values."""
import os
import sys
import warnings

import numpy as np
import pytest

import gpunet as keras

pytest.importorskip("tensorboardX", reason="the tensorboard extra (tensorboardX) is not installed")
ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                         reason="TensorBoard (its event reader is the referee) is not installed")


def _read(folder):
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0,
                                                          ea.TENSORS: 0})
    acc.Reload()
    return acc


def _scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def _model():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(n=50):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, size=n)


def test_epoch_scalars_histograms_images_and_graph(tmp_path):
    x, y = _data()
    model = _model()
    tb = keras.callbacks.TensorBoard(log_dir=tmp_path / "logs", histogram_freq=1, write_images=True)
    hist = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.2, callbacks=[tb], verbose=0).history
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]
    train, val = _read(tmp_path / "logs" / "train"), _read(tmp_path / "logs" / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(val.Tags()["scalars"]) >= {"epoch_loss", "epoch_accuracy"}
    for name in ("loss", "accuracy"):
        got = _scalars(train, "epoch_" + name)
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], hist[name], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in _scalars(val, "epoch_" + name)], hist["val_" + name], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in _scalars(train, "epoch_learning_rate")], [0.01] * 3, rtol=1e-6)
    # the validation runs inside fit: evaluation_<metric>_vs_iterations at the optimizer's step (3 batches an epoch)
    assert [s for s, _ in _scalars(val, "evaluation_loss_vs_iterations")] == [3, 6, 9]
    paths = [w.path for layer in model.layers for w in layer.weights]
    assert set(train.Tags()["histograms"]) == {p + "/histogram" for p in paths}
    kernel = model.layers[0].weights[0]
    h = train.Histograms(kernel.path + "/histogram")
    assert [e.step for e in h] == [0, 1, 2]
    last = h[-1].histogram_value
    assert last.num == kernel.numpy().size and np.isclose(last.sum, float(kernel.numpy().sum()), rtol=1e-5)
    assert np.isclose(last.max, float(kernel.numpy().max()))
    assert {p + "/image" for p in paths} <= set(train.Tags()["images"])
    graph = train.Tensors("keras")  # Keras's graph_keras_model summary: the model's JSON
    import json
    text = graph[0].tensor_proto.string_val[0].decode()
    assert json.loads(text)["class_name"] == "Sequential"
    assert train.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"


@pytest.mark.parametrize("update_freq,expected", [("batch", [1, 2, 3, 4, 5, 6]), (2, [2, 4, 6])])
def test_batch_scalars_every_n_batches(tmp_path, update_freq, expected):
    x, y = _data(48)
    model = _model()
    tb = keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=update_freq, write_steps_per_second=True,
                                     write_graph=False)
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[tb], verbose=0)
    train = _read(tmp_path / "train")
    assert [s for s, _ in _scalars(train, "batch_loss")] == expected
    assert [s for s, _ in _scalars(train, "batch_steps_per_second")] == expected
    assert all(v > 0 for _, v in _scalars(train, "epoch_steps_per_second"))
    assert "keras" not in train.Tags()["tensors"]


def test_epoch_only_does_not_listen_to_batches(tmp_path):
    """update_freq="epoch" (the default) asks the loop for no per-batch logs: the fast paths read nothing back."""
    tb = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    cbs = keras.callbacks.CallbackList([tb])
    assert not cbs.wants_batch_logs("on_train_batch_end")
    assert keras.callbacks.CallbackList([keras.callbacks.TensorBoard(str(tmp_path), update_freq=3)]).wants_batch_logs(
        "on_train_batch_end")


def test_arguments_are_checked_and_profiling_warns(tmp_path):
    TB = keras.callbacks.TensorBoard
    for kw, match in ((dict(update_freq="sometimes"), "update_freq.*'sometimes'"), (dict(update_freq=0), "update_freq"),
                      (dict(histogram_freq=-1), "histogram_freq=-1"), (dict(profile_batch="5,2"), "profile_batch"),
                      (dict(profile_batch=(1, 2, 3)), "profile_batch")):
        with pytest.raises(ValueError, match=match):
            TB(log_dir=str(tmp_path), **kw)
    with pytest.warns(UserWarning, match="nothing is profiled"):
        TB(log_dir=str(tmp_path), profile_batch="2,4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TB(log_dir=str(tmp_path), profile_batch=0)


def test_embeddings_are_saved_with_a_projector_config(tmp_path):
    model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3, name="emb"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).integers(0, 10, size=(8, 4))
    tb = keras.callbacks.TensorBoard(log_dir=str(tmp_path), embeddings_freq=1, embeddings_metadata={"emb": "m.tsv"})
    model.fit(x, np.zeros(8), epochs=2, callbacks=[tb], verbose=0)
    assert os.path.isfile(tmp_path / "train" / "keras_embedding.ckpt-1.weights.h5")
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "m.tsv"' in config and config.count("embeddings {") == 1
    tb = keras.callbacks.TensorBoard(log_dir=str(tmp_path), embeddings_freq=1, embeddings_metadata={"nope": "m"})
    with pytest.raises(ValueError, match="Unrecognized `Embedding` layer names.*nope"):
        model.fit(x, np.zeros(8), epochs=1, callbacks=[tb], verbose=0)


def test_without_tensorboardx_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'pip install "gpunet\[tensorboard\]"'):
        keras.callbacks.TensorBoard(log_dir=str(tmp_path))
