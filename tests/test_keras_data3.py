"""Every input Keras accepts (issue 32): re-iterable datasets (tf.data, DataLoader), PyDataset workers, the
raw-string model idiom, and the lookups' deprecated output_mode names."""
import os

import numpy as np
import pytest

import gpunet


# ---- 11. lookups: Keras's deprecated output_mode names ----

@pytest.mark.parametrize("make", [
    lambda mode: gpunet.layers.StringLookup(vocabulary=["a", "b", "c"], output_mode=mode),
    lambda mode: gpunet.layers.IntegerLookup(vocabulary=[3, 5, 7], output_mode=mode),
    lambda mode: gpunet.layers.TextVectorization(vocabulary=["a", "b", "c"], output_mode=mode),
])
def test_binary_is_keras_s_old_name_for_multi_hot(make):
    old, new = make("binary"), make("multi_hot")
    if isinstance(old, gpunet.layers.TextVectorization):
        sample = np.array(["a b", "c a"])
    elif isinstance(old, gpunet.layers.IntegerLookup):
        sample = np.array([[3, 7], [5, 9]])
    else:
        sample = np.array([["a", "b"], ["c", "z"]])
    np.testing.assert_array_equal(np.asarray(old(sample)), np.asarray(new(sample)))
    assert old.get_config()["output_mode"] == "multi_hot"  # Keras stores the current name
    assert type(old)(output_mode="tf-idf").output_mode == "tf_idf"

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
