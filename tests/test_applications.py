"""keras.applications: each architecture built with weights=None has Keras's layer names and parameter count;
weights real Keras saves from its own copy load into gpunet's, and the two predict the same; weights="imagenet"
downloads a real-format (legacy .h5) file from a local server through get_file and loads it."""
import hashlib

import numpy as np
import pytest

import gpunet
from keras_ref import keras
from test_datasets import _Server

# (name, input side): the smallest inputs each architecture takes keep CI fast
ARCHS = [("VGG16", 32), ("VGG19", 32), ("ResNet50", 32), ("ResNet101", 32), ("ResNet152", 32), ("ResNet50V2", 32),
         ("ResNet101V2", 32), ("ResNet152V2", 32), ("MobileNet", 32), ("MobileNetV2", 32), ("MobileNetV3Small", 32),
         ("MobileNetV3Large", 32), ("DenseNet121", 32), ("DenseNet169", 32), ("DenseNet201", 32), ("Xception", 71),
         ("InceptionV3", 75), ("InceptionResNetV2", 75)] + [("EfficientNetB%d" % i, 32) for i in range(8)] + \
    [("EfficientNetV2" + v, 32) for v in ("B0", "B1", "B2", "B3", "S", "M", "L")] + \
    [("ConvNeXt" + v, 32) for v in ("Tiny", "Small", "Base", "Large", "XLarge")] + [("NASNetMobile", 32),
                                                                                   ("NASNetLarge", 32)]
MODULES = {"VGG16": "vgg16", "VGG19": "vgg19", "ResNet50": "resnet", "ResNet101": "resnet", "ResNet152": "resnet",
           "ResNet50V2": "resnet_v2", "ResNet101V2": "resnet_v2", "ResNet152V2": "resnet_v2", "MobileNet": "mobilenet",
           "MobileNetV2": "mobilenet_v2", "MobileNetV3Small": "mobilenet_v3", "MobileNetV3Large": "mobilenet_v3",
           "DenseNet121": "densenet", "DenseNet169": "densenet", "DenseNet201": "densenet", "Xception": "xception",
           "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2"}
MODULES.update({"EfficientNetB%d" % i: "efficientnet" for i in range(8)})
MODULES.update({"EfficientNetV2" + v: "efficientnet_v2" for v in ("B0", "B1", "B2", "B3", "S", "M", "L")})
MODULES.update({"ConvNeXt" + v: "convnext" for v in ("Tiny", "Small", "Base", "Large", "XLarge")})
MODULES.update({"NASNetMobile": "nasnet", "NASNetLarge": "nasnet"})


def _randomize(model, rng):
    """Weights with some spread (and positive variances), so every layer's arithmetic shows in the outputs."""
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.path or w.path.endswith("/variance"):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif w.path.endswith("/count"):
            continue
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.normal(scale=1.0 / np.sqrt(max(fan_in, 1)), size=shape)
        w.assign(value.astype(str(w.dtype)))


def _pair(name, **kw):
    k = keras()
    k.backend.clear_session()
    theirs = getattr(k.applications, name)(weights=None, **kw)
    gpunet.utils.clear_session()
    ours = getattr(gpunet.applications, name)(weights=None, **kw)
    return k, theirs, ours


# each family's member whose weights and predictions are compared too (the others share its code: their names,
# counts and shapes are compared, which keeps CI's time down; Keras's own model building is most of the cost)
NUMERIC = {"VGG16", "ResNet50", "ResNet50V2", "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
           "DenseNet121", "Xception", "InceptionV3", "InceptionResNetV2", "EfficientNetB0", "EfficientNetB3",
           "EfficientNetV2B0", "EfficientNetV2S", "ConvNeXtTiny", "NASNetMobile"}


@pytest.mark.parametrize("name,side", ARCHS, ids=[a[0] for a in ARCHS])
def test_architecture_matches_keras(name, side, tmp_path):
    k, theirs, ours = _pair(name, input_shape=(side, side, 3), classes=7, classifier_activation=None)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    if name not in NUMERIC:
        return
    rng = np.random.default_rng(0)
    _randomize(theirs, rng)
    theirs.save_weights(str(tmp_path / "w.weights.h5"))
    ours.load_weights(str(tmp_path / "w.weights.h5"))
    x = rng.uniform(0, 255, size=(2, side, side, 3)).astype("float32")
    x = getattr(k.applications, _module(name)).preprocess_input(x.copy())
    want = np.asarray(theirs.predict(x, verbose=0))
    got = ours.predict(x, verbose=0)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, atol=1e-4 * scale, rtol=1e-4)


@pytest.mark.parametrize("name,side", ARCHS[:1] + ARCHS[2:3] + ARCHS[5:6], ids=["VGG16", "ResNet50", "ResNet50V2"])
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_feature_extractor_shapes_and_names(name, side, pooling):
    _, theirs, ours = _pair(name, include_top=False, input_shape=(side + 8, side, 3), pooling=pooling)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert tuple(ours.output_shape) == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()


def _module(name):
    return MODULES[name]


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_as_keras(mode, data_format):
    k = keras()
    from keras.src.applications import imagenet_utils as ki
    rng = np.random.default_rng(1)
    for shape in ((2, 5, 4, 3), (5, 4, 3)) if data_format == "channels_last" else ((2, 3, 5, 4), (3, 5, 4)):
        x = rng.uniform(0, 255, size=shape).astype("float32")
        want = ki.preprocess_input(x.copy(), data_format=data_format, mode=mode)
        np.testing.assert_allclose(gpunet.applications.imagenet_utils.preprocess_input(
            x.copy(), data_format=data_format, mode=mode), want, rtol=1e-6, atol=1e-5)
        # on a symbolic input, as the first layers of a model
        inp = gpunet.Input(shape[1:] if len(shape) == 4 else shape)
        out = gpunet.applications.imagenet_utils.preprocess_input(inp, data_format=data_format, mode=mode)
        got = gpunet.Model(inp, out).predict(x if len(shape) == 4 else x[None], verbose=0)
        np.testing.assert_allclose(got, want if len(shape) == 4 else want[None], rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="mode"):
        gpunet.applications.imagenet_utils.preprocess_input(x, mode="opencv")
    del k


def test_argument_errors_as_keras():
    A = gpunet.applications
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        A.ResNet50(weights="/no/such/file.h5")
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        A.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="Input size must be at least 32x32"):
        A.VGG16(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="static `input_shape`"):
        A.VGG16(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="Only `None` and `softmax`"):
        A.ResNet50(weights="imagenet", classifier_activation="sigmoid")


def _legacy_weights_file(k, kmodel, path):
    """The legacy .h5 layout of Keras's published weight files (layer_names, weight_names), as Keras writes it."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


def test_imagenet_weights_download_from_keras_url_layout(tmp_path, monkeypatch):
    k = keras()
    k.backend.clear_session()
    theirs = k.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    _randomize(theirs, np.random.default_rng(2))
    served = tmp_path / "served"
    served.mkdir()
    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _legacy_weights_file(k, theirs, served / name)
    md5 = hashlib.md5((served / name).read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    from gpunet.applications import resnet
    with _Server(served) as srv:
        monkeypatch.setattr(resnet, "BASE_WEIGHTS_PATH", srv.url)
        monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50", ("0" * 32, md5))
        gpunet.utils.clear_session()
        ours = gpunet.applications.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
        assert (tmp_path / "keras_home" / "models" / name).is_file()  # Keras's cache folder
        monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50", ("0" * 32, "f" * 32))
        (tmp_path / "keras_home" / "models" / name).unlink()
        with pytest.raises(ValueError, match="hash does not match"):
            gpunet.applications.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    x = np.random.default_rng(3).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4, rtol=1e-4)
    # and a path to the same file as `weights`
    gpunet.utils.clear_session()
    again = gpunet.applications.ResNet50(weights=str(served / name), include_top=False, input_shape=(32, 32, 3))
    np.testing.assert_allclose(again.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4, rtol=1e-4)


def test_decode_predictions_reads_the_class_index_through_get_file(tmp_path, monkeypatch):
    import json
    served = tmp_path / "served"
    served.mkdir()
    index = {str(i): ["n%08d" % i, "class_%d" % i] for i in range(1000)}
    (served / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    from gpunet.applications import imagenet_utils
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    with _Server(served) as srv:
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_PATH", srv.url + "imagenet_class_index.json")
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH",
                            hashlib.md5((served / "imagenet_class_index.json").read_bytes()).hexdigest())
        preds = np.zeros((2, 1000), "float32")
        preds[0, [5, 9, 7]] = [0.5, 0.3, 0.2]
        preds[1, 999] = 1.0
        out = gpunet.applications.resnet50.decode_predictions(preds, top=3)
    assert out[0] == [("n00000005", "class_5", 0.5), ("n00000009", "class_9", 0.3), ("n00000007", "class_7", 0.2)]
    assert out[1][0][:2] == ("n00000999", "class_999")
    with pytest.raises(ValueError, match="shape"):
        gpunet.applications.imagenet_utils.decode_predictions(np.zeros((2, 10)))


def test_every_keras_application_and_module_is_here_and_tested():
    k = keras()
    public = sorted(n for n in dir(k.applications) if n[0].isupper())
    assert sorted(a[0] for a in ARCHS) == public  # each is checked against Keras above
    modules = sorted(n for n in dir(k.applications) if n[0].islower() and not n.startswith("_"))
    for m in modules:
        ours, theirs = getattr(gpunet.applications, m), getattr(k.applications, m)
        names = sorted(n for n in dir(theirs) if not n.startswith("_"))
        assert names == sorted(n for n in names if hasattr(ours, n)), (m, [n for n in names if not hasattr(ours, n)])
        if hasattr(theirs, "preprocess_input") and m != "imagenet_utils":
            x = np.random.default_rng(5).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
            np.testing.assert_allclose(ours.preprocess_input(x.copy()), theirs.preprocess_input(x.copy()), rtol=1e-6,
                                       atol=1e-5, err_msg=m)
