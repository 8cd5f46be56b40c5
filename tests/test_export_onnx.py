"""model.export(path, format="onnx"): onnxruntime runs the file, and its outputs equal predict's within 1e-5,
for one model of each family; what has no mapping is refused with the layer's name."""
import numpy as np
import pytest

import gpunet as keras
from gpunet import layers

ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported models (pip install onnxruntime)")
pytest.importorskip("onnx", reason="the onnx package writes the file")


def _check(model, xs, tmp_path, atol=1e-5):
    xs = xs if isinstance(xs, list) else [xs]
    path = tmp_path / "m.onnx"
    model.export(str(path), format="onnx", verbose=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    got = sess.run(None, feeds)
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)
    # the batch dimension is dynamic: one row runs too
    one = sess.run(None, {i.name: x[:1] for i, x in zip(sess.get_inputs(), xs)})
    np.testing.assert_allclose(one[0], got[0][:1], atol=atol, rtol=1e-5)
    return sess


def _rand(rng, *shape):
    return rng.normal(size=shape).astype("float32")


ACTS = ["relu", "sigmoid", "tanh", "softplus", "softsign", "selu", "elu", "gelu", "silu", "leaky_relu", "relu6",
        "hard_sigmoid", "mish", "exponential", "linear"]


def test_mlp_with_every_activation(tmp_path):
    rng = np.random.default_rng(0)
    x = keras.Input((7,), name="features")
    h = x
    for act in ACTS:
        h = layers.Dense(6, activation=act)(h)
    h = layers.Dropout(0.5)(h)
    h = layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.05)(h)
    h = layers.LeakyReLU(0.3)(layers.ELU(0.7)(h))
    out = layers.Dense(4, activation="softmax")(layers.Activation("tanh")(h))
    _check(keras.Model(x, out), _rand(rng, 9, 7), tmp_path)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_convnet_with_pooling_and_batchnorm(tmp_path, padding):
    rng = np.random.default_rng(1)
    model = keras.Sequential([
        keras.Input((13, 11, 3)), layers.Rescaling(1 / 255.0, offset=-0.5),
        layers.Conv2D(5, 3, strides=2, padding=padding, activation="relu"),
        layers.BatchNormalization(), layers.ZeroPadding2D(((1, 0), (0, 2))),
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding=padding),
        layers.SeparableConv2D(6, 3, padding="same", activation="relu"),
        layers.Conv2D(4, 3, dilation_rate=2, padding="same", groups=2),
        layers.MaxPooling2D(2, padding=padding), layers.AveragePooling2D(2, strides=1, padding="same"),
        layers.SpatialDropout2D(0.2), layers.Flatten(), layers.Dense(3)])
    bn = model.layers[2]
    bn.moving_mean.assign(rng.normal(size=5).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2, size=5).astype("float32"))
    _check(model, rng.uniform(0, 255, size=(4, 13, 11, 3)).astype("float32"), tmp_path, atol=2e-5)


def test_conv1d_causal_global_pools_and_reshapes(tmp_path):
    rng = np.random.default_rng(2)
    x = keras.Input((12, 4))
    a = layers.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu")(x)
    b = layers.MaxPooling1D(2)(layers.Conv1D(6, 2, strides=1, padding="same")(x))
    c = layers.GlobalAveragePooling1D()(a)
    d = layers.GlobalMaxPooling1D(keepdims=True)(b)
    e = layers.Reshape((3, 2))(layers.Permute((2, 1))(d))
    out = layers.Concatenate()([c, layers.Flatten()(e)])
    _check(keras.Model(x, out), _rand(rng, 5, 12, 4), tmp_path)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before", "simple", "lstm_backwards_seq"])
def test_recurrent_with_embedding(tmp_path, kind):
    rng = np.random.default_rng(3)
    x = keras.Input((9,), dtype="int32")
    h = layers.Embedding(30, 8)(x)
    if kind == "lstm":
        h = layers.LSTM(5, return_sequences=True)(h)
        h = layers.LSTM(4)(h)
    elif kind == "gru":
        h = layers.GRU(5)(h)
    elif kind == "gru_reset_before":
        h = layers.GRU(5, reset_after=False, return_sequences=True, go_backwards=True)(h)
        h = layers.Flatten()(h)
    elif kind == "simple":
        h = layers.SimpleRNN(6, activation="relu")(h)
    else:
        h = layers.Flatten()(layers.LSTM(3, return_sequences=True, go_backwards=True,
                                         recurrent_activation="hard_sigmoid")(h))
    model = keras.Model(x, layers.Dense(2)(h))
    for w in model.weights:  # non-zero biases: the gate order of every bias is checked too
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    _check(model, rng.integers(0, 30, size=(6, 9)).astype("int32"), tmp_path)


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_block(tmp_path, causal):
    rng = np.random.default_rng(4)
    x = keras.Input((7, 16))
    mha = layers.MultiHeadAttention(num_heads=4, key_dim=5, value_dim=3)
    a = mha(x, x, use_causal_mask=causal)
    h = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, a]))
    f = layers.Dense(16)(layers.Dense(32, activation="gelu")(h))
    h = layers.LayerNormalization()(layers.Add()([h, f]))
    cross = layers.MultiHeadAttention(2, 4)(h, x, x)  # query, value and key given apart
    out = layers.Dense(3)(layers.GlobalAveragePooling1D()(cross))
    _check(keras.Model(x, out), _rand(rng, 3, 7, 16), tmp_path)


def test_merge_layers_two_outputs_and_a_nested_model(tmp_path):
    rng = np.random.default_rng(5)
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(6, activation="tanh"), layers.Dense(6)], name="inner")
    ia, ib = inner(a), inner(b)
    merged = [layers.Add()([ia, ib, a]), layers.Subtract()([ia, ib]), layers.Multiply()([ia, ib, b]),
              layers.Average()([ia, ib]), layers.Maximum()([ia, ib]), layers.Minimum()([ia, ib])]
    dot = layers.Dot(axes=1, normalize=True)([ia, ib])
    out1 = layers.Dense(2, name="score")(layers.Concatenate()(merged + [dot]))
    out2 = layers.Dense(1, activation="sigmoid", name="prob")(ia)
    sess = _check(keras.Model([a, b], [out1, out2]), [_rand(rng, 4, 6), _rand(rng, 4, 6)], tmp_path)
    assert [o.name for o in sess.get_outputs()] == ["score", "prob"]
    assert [i.name for i in sess.get_inputs()] == ["a", "b"]


def test_refusals_name_the_layer(tmp_path):
    x = keras.Input((5,), dtype="int32")
    m = keras.Model(x, layers.LSTM(2)(layers.Embedding(10, 3, mask_zero=True)(x)))
    with pytest.raises(ValueError, match="'embedding.*' \\(Embedding\\): mask_zero=True"):
        m.export(str(tmp_path / "m.onnx"), format="onnx")
    x = keras.Input((4, 4, 2))
    m = keras.Model(x, layers.UpSampling2D()(x))
    with pytest.raises(ValueError, match="\\(UpSampling2D\\) has no ONNX mapping"):
        m.export(str(tmp_path / "m.onnx"), format="onnx")
    assert not (tmp_path / "m.onnx").exists()  # nothing half-written
    with pytest.raises(NotImplementedError, match="needs TensorFlow"):
        m.export(str(tmp_path / "saved"), format="tf_saved_model")
    with pytest.raises(NotImplementedError, match="needs TensorFlow"):
        m.export(str(tmp_path / "saved"))  # Keras's default format
    with pytest.raises(ValueError, match="Unrecognized format='coreml'"):
        m.export(str(tmp_path / "m"), format="coreml")
    with pytest.raises(ValueError, match="opset_version >= 17"):
        keras.Sequential([keras.Input((2,)), layers.Dense(1)]).export(str(tmp_path / "m.onnx"), format="onnx",
                                                                      opset_version=11)


def test_opset_version_is_written_and_a_message_printed(tmp_path, capsys):
    import onnx
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.export(str(tmp_path / "m.onnx"), format="onnx", opset_version=20)
    assert "Saved artifact at" in capsys.readouterr().out
    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == 20
