"""Activation, preprocessing and small layers, the added metrics and losses, and keras.utils /
keras.models / keras.config helpers — each against real Keras (NumPy backend) on the same inputs
and weights."""
import numpy as np
import pytest

import gpunet
from gpunet import layers
from keras_ref import keras

R = np.random.default_rng(11)
IMG = (R.random((3, 9, 7, 2)) * 255).astype("float32")


def both(name, *args, **kwargs):
    k = keras()
    return getattr(layers, name)(*args, **kwargs), getattr(k.layers, name)(*args, **kwargs)


def same(ours, theirs, x, rtol=1e-5, atol=1e-5, **call):
    a = ours(x, **call)
    b = theirs(x, **call)
    a = a.numpy() if hasattr(a, "numpy") else np.asarray(a)
    np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=atol)
    return a


@pytest.mark.parametrize("name,args,kwargs", [
    ("Softmax", (), {}), ("Softmax", (), {"axis": 1}), ("ReLU", (), {}), ("ReLU", (), {"max_value": 1.0}),
    ("ReLU", (), {"negative_slope": 0.1, "threshold": 0.5}), ("LeakyReLU", (), {}), ("LeakyReLU", (), {"negative_slope": 0.05}),
    ("ELU", (), {"alpha": 0.7}), ("Rescaling", (1 / 255.0,), {"offset": -0.5}), ("Identity", (), {}),
    ("RepeatVector", (3,), {}), ("UnitNormalization", (), {}), ("Permute", ((2, 1),), {}),
])
def test_weightless_layers_match_keras(name, args, kwargs):
    x = R.standard_normal((4, 5)).astype("float32") if name != "Permute" else R.standard_normal((4, 3, 5)).astype("float32")
    ours, theirs = both(name, *args, **kwargs)
    same(ours, theirs, x)
    clone = type(ours).from_config(ours.get_config())
    np.testing.assert_allclose(clone(x).numpy(), ours(x).numpy())
    k = keras()
    back = getattr(k.layers, name).from_config(ours.get_config())  # Keras reads gpunet's config
    np.testing.assert_allclose(np.asarray(back(x)), ours(x).numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_mask():
    ours, theirs = both("Softmax")
    x = R.standard_normal((3, 5)).astype("float32")
    mask = R.random((3, 5)) > 0.3
    same(ours, theirs, x, mask=mask)


@pytest.mark.parametrize("kwargs", [{}, {"shared_axes": [1]}, {"alpha_initializer": "ones"}])
def test_prelu_and_layer_normalization_with_weights(kwargs):
    x = R.standard_normal((4, 3, 5)).astype("float32")
    ours, theirs = both("PReLU", **kwargs)
    ours.build((None, 3, 5))
    theirs.build((None, 3, 5))
    w = [R.standard_normal(v.shape).astype("float32") for v in ours.weights]
    ours.set_weights(w)
    theirs.set_weights(w)
    same(ours, theirs, x)
    for axis in (-1, [1, 2]):
        o, t = both("LayerNormalization", axis=axis)
        o.build((None, 3, 5))
        t.build((None, 3, 5))
        w = [R.standard_normal(v.shape).astype("float32") for v in o.weights]
        o.set_weights(w)
        t.set_weights(w)
        same(o, t, x, rtol=1e-4, atol=1e-5)


def test_dot_layer_matches_keras():
    k = keras()
    a, b = R.standard_normal((4, 5)).astype("float32"), R.standard_normal((4, 5)).astype("float32")
    for kw in ({"axes": 1}, {"axes": 1, "normalize": True}):
        np.testing.assert_allclose(layers.Dot(**kw)([a, b]).numpy(), np.asarray(k.layers.Dot(**kw)([a, b])), rtol=1e-5)
    a3, b3 = R.standard_normal((2, 3, 4)).astype("float32"), R.standard_normal((2, 5, 4)).astype("float32")
    np.testing.assert_allclose(layers.Dot(axes=(2, 2))([a3, b3]).numpy(),
                               np.asarray(k.layers.Dot(axes=(2, 2))([a3, b3])), rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"interpolation": "nearest"}, {"crop_to_aspect_ratio": True},
                                    {"pad_to_aspect_ratio": True}])
@pytest.mark.parametrize("size", [(4, 5), (13, 11), (9, 3)])
def test_resizing_matches_keras(size, kwargs):
    ours, theirs = both("Resizing", *size, **kwargs)
    same(ours, theirs, IMG, rtol=1e-4, atol=1e-3)


def test_center_crop_matches_keras():
    for size in ((5, 4), (9, 7), (12, 3)):
        ours, theirs = both("CenterCrop", *size)
        same(ours, theirs, IMG, rtol=1e-4, atol=1e-3)


AUGMENT = [
    ("RandomFlip", (), {}), ("RandomFlip", ("horizontal",), {}),
    ("RandomRotation", (0.2,), {}), ("RandomRotation", ((-0.3, 0.1),), {"fill_mode": "constant", "fill_value": 3.0}),
    ("RandomRotation", (0.25,), {"fill_mode": "nearest", "interpolation": "nearest"}),
    ("RandomRotation", (0.4,), {"fill_mode": "wrap"}),
    ("RandomZoom", (0.3,), {}), ("RandomZoom", ((-0.5, -0.2), (0.1, 0.4)), {"fill_mode": "constant"}),
    ("RandomTranslation", (0.2, 0.3), {}), ("RandomTranslation", ((-0.3, 0.0), 0.25), {"fill_mode": "nearest"}),
    ("RandomContrast", (0.5,), {}), ("RandomBrightness", (0.2,), {}), ("RandomCrop", (5, 4), {}),
    ("RandomCrop", (12, 3), {}),  # taller than the image: cropped to the aspect ratio and resized
]


@pytest.mark.parametrize("case", range(len(AUGMENT)), ids=lambda i: AUGMENT[i][0])
def test_augmentation_transforms_match_keras_given_its_random_draws(case):
    """Keras draws the transformation; both layers apply that same transformation."""
    name, args, kwargs = AUGMENT[case]
    ours, theirs = both(name, *args, seed=3, **kwargs)
    tr = theirs.get_random_transformation(IMG, training=True)
    want = np.asarray(theirs.transform_images(IMG.copy(), tr, training=True))  # Keras may add in place
    mine = {k: np.asarray(v) if hasattr(v, "shape") else v for k, v in tr.items()} if isinstance(tr, dict) else tr
    got = ours.transform_images(IMG, mine, training=True).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
    if name == "RandomCrop":  # inference: Keras documents an aspect-ratio crop and resize (3.15 returns x)
        np.testing.assert_allclose(ours(IMG, training=False).numpy(),
                                   layers.Resizing(*args, crop_to_aspect_ratio=True)(IMG).numpy())
    else:
        np.testing.assert_array_equal(ours(IMG, training=False).numpy(), IMG)  # inference passes through
    out = ours(IMG, training=True).numpy()  # our own draws: the shape Keras gives
    assert out.shape == want.shape
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


def test_augmentation_layers_train_in_a_model():
    x = (R.random((32, 8, 8, 1)) * 255).astype("float32")
    y = R.integers(0, 2, 32)
    m = gpunet.Sequential([gpunet.Input((8, 8, 1)), layers.Rescaling(1 / 255.0), layers.RandomFlip(),
                           layers.RandomRotation(0.1), layers.RandomZoom(0.1), layers.RandomTranslation(0.1, 0.1),
                           layers.RandomContrast(0.2), layers.Resizing(4, 4), layers.Reshape((16,)),
                           layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    p1, p2 = m.predict(x, verbose=0), m.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # no augmentation at inference


def test_noise_layers_and_activity_regularization():
    x = np.ones((2000, 10), "float32")
    gn = layers.GaussianNoise(0.5, seed=1)
    gd = layers.GaussianDropout(0.3, seed=1)
    np.testing.assert_array_equal(gn(x).numpy(), x)
    np.testing.assert_array_equal(gd(x).numpy(), x)
    n = gn(x, training=True).numpy() - 1
    assert abs(n.std() - 0.5) < 0.02 and abs(n.mean()) < 0.02
    d = gd(x, training=True).numpy()
    assert abs(d.mean() - 1) < 0.02 and abs(d.std() - np.sqrt(0.3 / 0.7)) < 0.02
    ar = layers.ActivityRegularization(l1=0.1, l2=0.01)
    ar(np.full((4, 3), 2.0, "float32"), training=True)
    assert float(ar.losses[0].numpy()) == pytest.approx((0.1 * 2 * 12 + 0.01 * 4 * 12) / 4)


def test_lambda_layer():
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Lambda(lambda t: gpunet.ops.square(t)), layers.Dense(1)])
    x = R.random((5, 3)).astype("float32")
    W, b = m.get_weights()
    np.testing.assert_allclose(m.predict(x, verbose=0), (x ** 2) @ W + b, rtol=1e-5)
    fn = m.get_config()["layers"][1]["config"]["function"]  # saved as Keras saves it: bytecode, loaded only
    assert fn["class_name"] == "__lambda__" and fn["config"]["code"]  # with safe_mode=False (test_untrusted_files)


METRICS = [("TruePositives", {}), ("FalsePositives", {"thresholds": [0.2, 0.7]}), ("TrueNegatives", {}),
           ("FalseNegatives", {"thresholds": 0.3}), ("MeanAbsolutePercentageError", {}),
           ("MeanSquaredLogarithmicError", {}), ("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}),
           ("LogCoshError", {}), ("Poisson", {}), ("KLDivergence", {}), ("BinaryCrossentropy", {}),
           ("CategoricalCrossentropy", {}), ("CosineSimilarity", {}), ("RootMeanSquaredError", {}), ("R2Score", {}),
           ("PearsonCorrelation", {}), ("ConcordanceCorrelation", {}), ("F1Score", {}), ("F1Score", {"average": "macro"}),
           ("FBetaScore", {"beta": 2.0, "average": "weighted", "threshold": 0.5}), ("F1Score", {"average": "micro"})]


@pytest.mark.parametrize("name,kwargs", METRICS, ids=["%s-%d" % (m[0], i) for i, m in enumerate(METRICS)])
def test_added_metrics_match_keras(name, kwargs):
    k = keras()
    ours, theirs = getattr(gpunet.metrics, name)(**kwargs), getattr(k.metrics, name)(**kwargs)
    for _ in range(2):
        t = (R.random((6, 3)) > 0.5).astype("float32")
        p = R.uniform(0.05, 0.95, (6, 3)).astype("float32")
        sw = R.random(6).astype("float32")
        ours.update_state(t, p, sample_weight=sw)
        theirs.update_state(t, p, sample_weight=sw)
    np.testing.assert_allclose(np.asarray(ours.result(), dtype=float), np.asarray(theirs.result(), dtype=float),
                               rtol=1e-4, atol=1e-6)
    ours.reset_state()
    assert ours.get_config()["name"] == theirs.get_config()["name"]


LOSSES = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Hinge", "SquaredHinge", "CategoricalHinge",
          "LogCosh", "Poisson", "CosineSimilarity", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice",
          "Tversky"]


@pytest.mark.parametrize("name", LOSSES)
def test_added_losses_match_keras(name):
    k = keras()
    t = (R.random((6, 4)) > 0.5).astype("float32")
    p = R.uniform(0.05, 0.95, (6, 4)).astype("float32")
    sw = R.random(6).astype("float32")
    ours, theirs = getattr(gpunet.losses, name)(), getattr(k.losses, name)()
    assert float(ours(t, p, sample_weight=sw).numpy()) == pytest.approx(float(theirs(t, p, sample_weight=sw)), rel=1e-5)
    assert ours.name == theirs.name


@pytest.mark.parametrize("kwargs", [{}, {"maxlen": 3}, {"padding": "post", "truncating": "post", "maxlen": 4},
                                    {"value": -1, "dtype": "float32"}])
def test_pad_sequences_matches_keras(kwargs):
    k = keras()
    seqs = [[1, 2, 3, 4, 5], [6], [], [7, 8]]
    np.testing.assert_array_equal(gpunet.utils.pad_sequences(seqs, **kwargs), k.utils.pad_sequences(seqs, **kwargs))


def test_utils_match_keras():
    k = keras()
    img = R.random((5, 4, 3)) * 255
    np.testing.assert_array_equal(gpunet.utils.img_to_array(img), k.utils.img_to_array(img))
    np.testing.assert_array_equal(gpunet.utils.img_to_array(img, data_format="channels_first"),
                                  k.utils.img_to_array(img, data_format="channels_first"))
    x = R.standard_normal((3, 4))
    np.testing.assert_allclose(gpunet.utils.normalize(x, axis=1), k.utils.normalize(x, axis=1))
    np.testing.assert_allclose(gpunet.utils.normalize(x, axis=0), x / np.linalg.norm(x, axis=0, keepdims=True))
    i = gpunet.Input((3,))
    assert gpunet.utils.is_keras_tensor(i) and not gpunet.utils.is_keras_tensor(x)
    assert gpunet.utils.get_source_inputs(layers.Dense(2)(i)) == [i]


def test_clone_model_sequential_functional_shared_layers():
    seq = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    c = gpunet.models.clone_model(seq)
    assert [l.name for l in c.layers] == [l.name for l in seq.layers] and c.layers[0] is not seq.layers[0]
    assert not np.allclose(c.get_weights()[0], seq.get_weights()[0])  # freshly initialised
    c.set_weights(seq.get_weights())
    x = R.random((5, 4)).astype("float32")
    np.testing.assert_allclose(c.predict(x, verbose=0), seq.predict(x, verbose=0), rtol=1e-6)
    a, b = gpunet.Input((4,)), gpunet.Input((4,))
    shared = layers.Dense(3)
    out = gpunet.ops.add(shared(a), shared(b))
    f = gpunet.Model([a, b], out)
    seen = []
    c2 = gpunet.models.clone_model(f, clone_function=lambda l: seen.append(l.name) or l.__class__.from_config(l.get_config()))
    assert seen == [shared.name] and len(c2.weights) == 2
    c2.set_weights(f.get_weights())
    np.testing.assert_allclose(c2.predict([x, x * 2], verbose=0), f.predict([x, x * 2], verbose=0), rtol=1e-6)


def test_config_helpers():
    gpunet.config.disable_traceback_filtering()
    assert not gpunet.config.is_traceback_filtering_enabled()
    gpunet.config.enable_traceback_filtering()
    assert gpunet.config.image_data_format() == "channels_last"
    with pytest.raises(ValueError, match="channels_last"):
        gpunet.config.set_image_data_format("channels_first")
    assert gpunet.config.backend() in ("numpy", "cupy")


def test_swap_ema_weights_evaluates_with_the_averages():
    x = R.random((64, 4)).astype("float32")
    y = R.random((64, 1)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(1)])
    m.compile(optimizer=gpunet.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    h = m.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[gpunet.callbacks.SwapEMAWeights()])
    raw_after_fit = m.get_weights()  # finalize_variable_values: the averages
    ema = m.optimizer._ema.copy()
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in raw_after_fit]), ema, rtol=1e-6)
    assert np.isfinite(h.history["val_loss"]).all()
    with pytest.raises(ValueError, match="use_ema=True"):
        m2 = gpunet.Sequential([gpunet.Input((4,)), layers.Dense(1)])
        m2.compile(optimizer="sgd", loss="mse")
        m2.fit(x, y, verbose=0, validation_data=(x, y), callbacks=[gpunet.callbacks.SwapEMAWeights()])


@pytest.mark.parametrize("axis", [-1, None, (1, 2)])
def test_normalization_adapt_matches_keras(axis):
    k = keras()
    x = (R.standard_normal((20, 3, 4)) * 3 + 1).astype("float32")
    ours, theirs = layers.Normalization(axis=axis), k.layers.Normalization(axis=axis)
    ours.adapt(x)
    theirs.adapt(x)
    same(ours, theirs, x, rtol=1e-4, atol=1e-4)
    ours2 = layers.Normalization(axis=axis)
    ours2.adapt([x[:7], x[7:13], x[13:]])  # batch by batch: the same statistics
    np.testing.assert_allclose(ours2(x).numpy(), ours(x).numpy(), rtol=1e-4, atol=1e-5)
    assert [w.dtype for w in ours.get_weights()] == [np.asarray(w).dtype for w in theirs.get_weights()]
    inv = layers.Normalization(axis=axis, invert=True)
    inv.build(x.shape)
    inv.set_weights(ours.get_weights())
    np.testing.assert_allclose(inv(ours(x)).numpy(), x, rtol=1e-4, atol=1e-4)


def test_normalization_given_mean_variance_rms_and_alpha_dropout():
    k = keras()
    x = R.standard_normal((5, 3)).astype("float32")
    ours, theirs = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25]), \
        k.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])
    same(ours, theirs, x)
    o, t = layers.RMSNormalization(), k.layers.RMSNormalization()
    same(o, t, x, rtol=1e-4)
    ad = layers.AlphaDropout(0.2, seed=1)
    np.testing.assert_array_equal(ad(x).numpy(), x)
    big = R.standard_normal((200, 200)).astype("float32")
    out = ad(big, training=True).numpy()
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05  # self-normalising


def test_get_file_downloads_checks_the_hash_caches_and_extracts(tmp_path):
    """Against a local HTTP server on 127.0.0.1."""
    import hashlib
    import http.server
    import tarfile
    import threading
    site = tmp_path / "site"
    site.mkdir()
    (site / "data.txt").write_bytes(b"hello gpunet")
    with tarfile.open(site / "pack.tar.gz", "w:gz") as t:
        t.add(site / "data.txt", arcname="inner/data.txt")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/" % server.server_address[1]
        good = hashlib.sha256(b"hello gpunet").hexdigest()
        cache = str(tmp_path / "cache")
        p = gpunet.utils.get_file("data.txt", url + "data.txt", file_hash=good, cache_dir=cache)
        assert open(p, "rb").read() == b"hello gpunet" and p.startswith(cache)
        (site / "data.txt").write_bytes(b"changed")  # the cached copy with the right hash is used
        assert gpunet.utils.get_file("data.txt", url + "data.txt", file_hash=good, cache_dir=cache) == p
        with pytest.raises(ValueError, match="hash does not match"):
            gpunet.utils.get_file("other.txt", url + "data.txt", file_hash=good, cache_dir=cache)
        assert not (tmp_path / "cache" / "datasets" / "other.txt").exists()
        d = gpunet.utils.get_file("pack.tar.gz", url + "pack.tar.gz", extract=True, cache_dir=cache)
        assert open(d + "/inner/data.txt", "rb").read() == b"hello gpunet"
    finally:
        server.shutdown()


def test_max_epochs_and_steps_caps():
    x, y = R.random((64, 3)).astype("float32"), R.random((64, 1)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    gpunet.config.set_max_epochs(2)
    gpunet.config.set_max_steps_per_epoch(3)
    try:
        h = m.fit(x, y, epochs=10, batch_size=8, verbose=0)
    finally:
        gpunet.config.set_max_epochs(None)
        gpunet.config.set_max_steps_per_epoch(None)
    assert len(h.history["loss"]) == 2 and int(m.optimizer.iterations.numpy()) == 6


def test_keras_object_serialization_and_custom_object_scope():
    obj = gpunet.utils.serialize_keras_object(gpunet.optimizers.Adam(0.01))
    back = gpunet.utils.deserialize_keras_object(obj)
    assert isinstance(back, gpunet.optimizers.Adam) and back.learning_rate == pytest.approx(0.01)

    class MyLayer(layers.Dense):
        pass
    m = gpunet.Sequential([gpunet.Input((3,)), MyLayer(2)])
    with gpunet.utils.custom_object_scope({"MyLayer": MyLayer}):
        again = gpunet.Sequential.from_config(m.get_config())
    assert type(again.layers[0]) is MyLayer
    left, right = gpunet.utils.split_dataset((np.arange(10), np.arange(10) * 2), left_size=0.7)
    assert len(left[0]) == 7 and list(right[1]) == [14, 16, 18]


def test_ops_image_resize_matches_keras_and_refuses_what_it_cannot_do():
    k = keras()
    for kw in ({}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True, "fill_value": 7.0},
               {"interpolation": "nearest"}):
        np.testing.assert_allclose(gpunet.ops.image.resize(IMG, (5, 8), **kw).numpy(),
                                   np.asarray(k.ops.image.resize(IMG, (5, 8), **kw)), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="antialias"):
        gpunet.ops.image.resize(IMG, (5, 8), antialias=True)
    with pytest.raises(ValueError, match="channels_last"):
        gpunet.ops.image.resize(IMG, (5, 8), data_format="channels_first")
