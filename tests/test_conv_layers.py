"""Convolution, pooling, batch normalization and the spatial reshaping layers against real Keras 3:
ops forward over a grid of configurations (Keras's NumPy backend), gradients against Keras's JAX
implementation and against float64 central differences, every layer's config, weights and outputs,
BatchNormalization's moving statistics, files both ways, and the errors bad arguments get."""
import itertools

import numpy as np
import pytest

import gpunet
from gpunet import layers, ops
from gpunet.ops import batchnorm, convolution as C
from gradcheck import directional_check
from keras_ref import keras

R = np.random.default_rng(7)


def rnd(*shape):
    return R.standard_normal(shape).astype(np.float32)


# ---- ops against Keras (forward) ----

GRID = [(nd, pad, s, d, g, fmt) for nd, pad, s, d, g, fmt in itertools.product(
    (1, 2), ("valid", "same"), (1, 2), (1, 2), (1, 2), ("channels_last", "channels_first")) if not (s > 1 and d > 1)]


def _x(nd, fmt, c=4):
    x = rnd(*((2,) + (9, 7)[:nd] + (c,)))
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == "channels_first" else x


@pytest.mark.parametrize("nd,pad,s,d,g,fmt", GRID)
def test_conv_ops_equal_keras(nd, pad, s, d, g, fmt):
    k = keras()
    x = _x(nd, fmt)
    W = rnd(*((3, 2)[:nd] + (4 // g, 6)))
    kw = dict(strides=s, padding=pad, data_format=fmt, dilation_rate=d)
    np.testing.assert_allclose(ops.conv(x, W, **kw).numpy(), k.ops.conv(x, W, **kw), rtol=1e-5, atol=1e-5)
    Wd = rnd(*((3, 2)[:nd] + (4, 2)))
    np.testing.assert_allclose(ops.depthwise_conv(x, Wd, **kw).numpy(), k.ops.depthwise_conv(x, Wd, **kw),
                               rtol=1e-5, atol=1e-5)
    Wp = rnd(*((1,) * nd + (8, 5)))
    np.testing.assert_allclose(ops.separable_conv(x, Wd, Wp, **kw).numpy(), k.ops.separable_conv(x, Wd, Wp, **kw),
                               rtol=1e-5, atol=1e-5)
    if g == 1:
        Wt = rnd(*((3, 2)[:nd] + (5, 4)))
        for op in (None, 0, 1):
            if op is not None and op >= max(s, d):
                continue
            got = ops.conv_transpose(x, Wt, output_padding=op, **kw).numpy()
            np.testing.assert_allclose(got, k.ops.conv_transpose(x, Wt, output_padding=op, **kw), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nd,pad,s,fmt", [(nd, pad, s, fmt) for nd, pad, s, _, g, fmt in GRID if g == 1])
@pytest.mark.parametrize("pool", [2, 3])
def test_pool_ops_equal_keras(nd, pad, s, fmt, pool):
    k = keras()
    x = _x(nd, fmt)
    strides = (s,) * nd if s > 1 else None
    kstrides = strides or (pool,) * nd  # Keras 3.15's NumPy backend mishandles strides=None for 1-D pools
    for name in ("max_pool", "average_pool"):
        got = getattr(ops, name)(x, pool, strides, pad, fmt).numpy()
        np.testing.assert_allclose(got, getattr(k.ops, name)(x, pool, kstrides, pad, fmt), rtol=1e-6, atol=1e-6)


# ---- gradients: against Keras's JAX implementation, and central differences in float64 ----

def _jax_grads(fn, arrays, w):
    import jax
    out, vjp = jax.vjp(fn, *[np.asarray(a) for a in arrays])
    return [np.asarray(out)] + [np.asarray(g) for g in vjp(np.asarray(w, np.float32))]


def _our_grads(fn, arrays, w):
    vs = [gpunet.Variable(a) for a in arrays]
    with gpunet.GradientTape() as tape:
        out = fn(*vs)
        loss = ops.sum(ops.multiply(out, w))
    return [out.numpy()] + [g.numpy() for g in tape.gradient(loss, vs)]


@pytest.mark.parametrize("case", [("conv", 2, "same", 2, 1, "channels_last"), ("conv", 2, "valid", 1, 2, "channels_first"),
                                  ("conv", 1, "same", 1, 1, "channels_last"), ("conv_transpose", 2, "same", 2, 1, "channels_last"),
                                  ("depthwise_conv", 2, "valid", 1, 1, "channels_last"),
                                  ("max_pool", 2, "same", 2, 1, "channels_last"), ("average_pool", 2, "same", 2, 1, "channels_first"),
                                  ("max_pool", 1, "valid", 1, 1, "channels_last")])
def test_gradients_equal_keras_jax(case):
    keras()
    from keras.src.backend.jax import nn as knn
    name, nd, pad, s, d, fmt = case
    x = _x(nd, fmt)
    if name == "conv":
        arrays, kw = [x, rnd(*((3, 2)[:nd] + (4 // d, 6)))], dict(strides=s, padding=pad, data_format=fmt)
    elif name == "conv_transpose":
        arrays, kw = [x, rnd(*((3, 2)[:nd] + (5, 4)))], dict(strides=s, padding=pad, data_format=fmt)
    elif name == "depthwise_conv":
        arrays, kw = [x, rnd(*((3, 2)[:nd] + (4, 2)))], dict(strides=s, padding=pad, data_format=fmt)
    else:
        x[0, ..., :2] = 0.0  # ties inside windows: the gradient goes to the first maximum, as in JAX
        arrays, kw = [x], dict(pool_size=2 if name == "max_pool" else 3, strides=(s,) * nd, padding=pad,
                               data_format=fmt)
    w = rnd(*np.shape(getattr(knn, name)(*arrays, **kw)))
    want = _jax_grads(lambda *a: getattr(knn, name)(*a, **kw), arrays, w)
    got = _our_grads(lambda *a: getattr(ops, name)(*a, **kw), arrays, w)
    for i, (g, r) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4, err_msg="result %d" % i)


@pytest.mark.parametrize("nd,pad,s,d,g,fmt", GRID[::3])
@pytest.mark.parametrize("act", ["linear", "tanh"])
def test_conv_gradient_central_differences(nd, pad, s, d, g, fmt, act):
    x = _x(nd, fmt).astype(np.float64)
    W = rnd(*((3, 2)[:nd] + (4 // g, 6))).astype(np.float64)
    b = rnd(6).astype(np.float64)
    directional_check(lambda x_, w_, b_: C.conv_bias_act(x_, w_, b_, act, s, pad, fmt, d), x, W, b)


@pytest.mark.parametrize("pad,s,op", [("valid", 2, None), ("same", 2, 1), ("same", 1, None)])
def test_conv_transpose_and_separable_gradients(pad, s, op):
    x = rnd(2, 5, 4, 3).astype(np.float64)
    directional_check(lambda x_, w_: ops.conv_transpose(x_, w_, s, pad, op), x, rnd(3, 2, 4, 3).astype(np.float64))
    directional_check(lambda x_, a_, b_: ops.separable_conv(x_, a_, b_, s, pad), x, rnd(3, 3, 3, 2).astype(np.float64),
                      rnd(1, 1, 6, 4).astype(np.float64))


@pytest.mark.parametrize("name", ["max_pool", "average_pool"])
@pytest.mark.parametrize("pool,s,pad", [(2, None, "valid"), (3, 2, "same"), (3, 1, "same")])
def test_pool_gradient_central_differences(name, pool, s, pad):
    x = rnd(2, 7, 6, 3).astype(np.float64)  # no ties: a max is differentiable there
    directional_check(lambda x_: getattr(ops, name)(x_, pool, s, pad), x)


@pytest.mark.parametrize("shape,axis", [((9, 4), -1), ((2, 3, 4, 5), 1), ((3, 5, 2), -1)])
def test_batch_norm_gradients(shape, axis):
    x = (rnd(*shape) * 2 + 1).astype(np.float64)
    n = shape[axis]
    gam, bet = rnd(n).astype(np.float64), rnd(n).astype(np.float64)
    directional_check(lambda x_, g_, b_: batchnorm.batch_norm_train(x_, g_, b_, axis, 1e-3)[0], x, gam, bet)
    mean, var = ops.convert_to_tensor(rnd(n).astype(np.float64)), ops.convert_to_tensor(R.random(n) + 0.5)
    directional_check(lambda x_, g_, b_: batchnorm.batch_norm_apply(x_, mean, var, g_, b_, axis, 1e-3), x, gam, bet)


def test_fast_data_gradient_equals_col2im():
    """The stride-1 data gradient (one GEMM per tap on a shifted range) against the general col2im one."""
    for pad, d in (("same", 1), ("valid", 2), ("same", 2)):
        x = rnd(3, 8, 7, 5)
        W = rnd(3, 2, 5, 4)
        outs, lo = C.conv_geometry(x.shape[1:-1], W.shape[:2], (1, 1), (d, d), pad)
        dz = rnd(3 * outs[0] * outs[1], 4)
        fast = C._backward_data_shifted(dz, W, x.shape, (d, d), lo, outs)
        dcols = np.matmul(dz[None], W.reshape(-1, 4).T[None])
        slow = C.col2im(dcols, x.shape, (3, 2), (1, 1), (d, d), lo, outs)
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)


# ---- layers against Keras ----

LAYER_CASES = [
    ("Conv2D", dict(filters=5, kernel_size=3, padding="same", activation="relu"), (2, 8, 7, 3)),
    ("Conv2D", dict(filters=4, kernel_size=(2, 3), strides=2, groups=2, use_bias=False), (2, 9, 8, 4)),
    ("Conv2D", dict(filters=3, kernel_size=3, dilation_rate=2, data_format="channels_first", activation="gelu"),
     (2, 2, 9, 9)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, activation="tanh"), (2, 10, 3)),
    ("Conv1D", dict(filters=4, kernel_size=2, strides=2, padding="same"), (2, 9, 3)),
    ("Conv3D", dict(filters=2, kernel_size=2, padding="same"), (1, 4, 3, 5, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same", activation="sigmoid"), (2, 4, 5, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), strides=(2, 3), output_padding=(1, 2)), (2, 4, 3, 3)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2), (2, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (2, 6, 5, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2), (2, 9, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, depth_multiplier=2, activation="relu"), (2, 7, 6, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, padding="same"), (2, 8, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3)),
    ("MaxPooling1D", dict(pool_size=2), (2, 9, 3)),
    ("AveragePooling2D", dict(pool_size=(2, 3), padding="same", data_format="channels_first"), (2, 3, 7, 6)),
    ("AveragePooling1D", dict(pool_size=3, strides=1), (2, 9, 3)),
    ("GlobalAveragePooling2D", dict(), (2, 5, 4, 3)),
    ("GlobalAveragePooling1D", dict(keepdims=True), (2, 5, 3)),
    ("GlobalMaxPooling2D", dict(data_format="channels_first"), (2, 3, 5, 4)),
    ("GlobalMaxPooling1D", dict(), (2, 5, 3)),
    ("BatchNormalization", dict(), (6, 4)),
    ("BatchNormalization", dict(axis=1, momentum=0.9, epsilon=1e-2, center=False), (4, 3, 5, 5)),
    ("UpSampling2D", dict(size=(2, 3)), (2, 3, 4, 2)),
    ("UpSampling1D", dict(size=3), (2, 4, 2)),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (2, 4, 5, 3)),
    ("UpSampling2D", dict(size=2, interpolation="bilinear", data_format="channels_first"), (2, 3, 4, 5)),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3))), (2, 3, 4, 2)),
    ("ZeroPadding1D", dict(padding=2), (2, 4, 2)),
    ("Cropping2D", dict(cropping=((1, 0), (2, 1))), (2, 5, 6, 2)),
    ("Cropping1D", dict(cropping=(1, 2)), (2, 6, 2)),
    ("SpatialDropout2D", dict(rate=0.3), (2, 4, 4, 3)),
    ("SpatialDropout1D", dict(rate=0.3), (2, 4, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape", LAYER_CASES, ids=[c[0] + str(i) for i, c in enumerate(LAYER_CASES)])
def test_layer_equals_keras(name, kwargs, shape):
    k = keras()
    kl = getattr(k.layers, name)(**kwargs)
    x = rnd(*shape)
    want = np.asarray(kl(x))
    cfg = kl.get_config()
    gl = getattr(layers, name).from_config(cfg)
    ours = gl.get_config()
    assert set(ours) == set(cfg), (sorted(set(ours) ^ set(cfg)))
    for key in cfg:
        if key.endswith("_initializer"):  # Keras 3.15 adds fields (input_axes) to an initializer's own config
            assert ours[key]["class_name"] == cfg[key]["class_name"], key
        elif key not in ("name", "dtype"):
            assert _plain(ours[key]) == _plain(cfg[key]), (key, ours[key], cfg[key])
    gl.build(shape)
    assert [w.path.split("/")[-1] for w in gl.weights] == [w.path.split("/")[-1] for w in kl.weights]
    assert [tuple(w.shape) for w in gl.weights] == [tuple(w.shape) for w in kl.weights]
    gl.set_weights([np.asarray(w) for w in kl.get_weights()])
    got = gl(x).numpy()
    assert got.shape == want.shape == tuple(d for d in gl.compute_output_shape(shape))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(i) for i in v]
    if isinstance(v, dict):
        return {a: _plain(b) for a, b in v.items() if a != "registered_name"}
    return v


def test_spatial_dropout_drops_whole_channels():
    gpunet.utils.set_random_seed(3)
    x = np.ones((4, 6, 5, 8), np.float32)
    y = layers.SpatialDropout2D(0.5)(x, training=True).numpy()
    per_map = y.reshape(4, 30, 8)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))  # one draw per (sample, channel)
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    y1 = layers.SpatialDropout1D(0.5)(np.ones((3, 7, 6), np.float32), training=True).numpy()
    assert np.all(y1.min(axis=1) == y1.max(axis=1))
    np.testing.assert_array_equal(layers.SpatialDropout2D(0.5)(x).numpy(), x)  # inference: identity


def test_batch_norm_moving_statistics_equal_keras_after_training_calls():
    k = keras()
    kl = k.layers.BatchNormalization(momentum=0.9)
    gl = layers.BatchNormalization(momentum=0.9)
    for step in range(5):
        x = rnd(16, 6) * (step + 1) + step
        kl(x, training=True)
        gl(x, training=True)
    for a, b in zip(gl.get_weights(), kl.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x = rnd(8, 6)
    np.testing.assert_allclose(gl(x).numpy(), np.asarray(kl(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gl(x, training=True).numpy(), np.asarray(kl(x, training=True)), rtol=1e-4, atol=1e-4)


def test_batch_norm_trainable_false_freezes_statistics_and_uses_them():
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    x, y = rnd(64, 3) * 3 + 2, rnd(64, 2)
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    bn = m.layers[1]
    moved = [w.copy() for w in bn.get_weights()]
    assert not np.allclose(moved[2], 0) and not np.allclose(moved[3], 1)  # training moved the statistics
    bn.trainable = False
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(bn.get_weights(), moved):
        np.testing.assert_array_equal(a, b)
    # frozen: training=True normalizes with the moving statistics, as inference does
    h = m.layers[0](x).numpy()
    np.testing.assert_allclose(bn(h, training=True).numpy(), bn(h).numpy(), rtol=1e-6)
    assert len(bn.trainable_weights) == 0


def test_batch_norm_masked_statistics_equal_keras():
    k = keras()
    x = rnd(3, 5, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    kl, gl = k.layers.BatchNormalization(), layers.BatchNormalization()
    want = np.asarray(kl(x, training=True, mask=mask))
    got = gl(x, training=True, mask=mask).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for a, b in zip(gl.get_weights(), kl.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---- models: files both ways, a small ResNet, training ----

def resnet_block_model(lib):
    L = lib.layers
    inp = lib.Input((12, 12, 3))
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    h = L.BatchNormalization()(h)
    h = L.Activation("relu")(h)
    r = L.Conv2D(8, 3, padding="same")(h)
    r = L.BatchNormalization()(r)
    h = L.Add()([h, r])
    h = L.MaxPooling2D()(h)
    h = L.SeparableConv2D(6, 3, padding="same", activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    out = L.Dense(3, activation="softmax")(h)
    return lib.Model(inp, out)


def test_resnet_trains_saves_and_loads_in_keras(tmp_path):
    k = keras()
    m = resnet_block_model(gpunet)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = rnd(64, 12, 12, 3), R.integers(0, 3, 64)
    h = m.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    m.save(tmp_path / "r.keras")
    m.save_weights(tmp_path / "r.weights.h5")
    probe = rnd(5, 12, 12, 3)
    km = k.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(km.predict(probe, verbose=0), m.predict(probe, verbose=0), rtol=1e-4, atol=1e-5)
    kw = resnet_block_model(k)
    kw.load_weights(tmp_path / "r.weights.h5")
    np.testing.assert_allclose(kw.predict(probe, verbose=0), m.predict(probe, verbose=0), rtol=1e-4, atol=1e-5)
    back = gpunet.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(back.predict(probe, verbose=0), m.predict(probe, verbose=0), rtol=1e-6, atol=1e-6)


def test_keras_convnet_loads_in_gpunet(tmp_path):
    k = keras()
    L = k.layers
    km = k.Sequential([k.Input((10, 9, 2)), L.ZeroPadding2D(1), L.Conv2D(4, 3, strides=2, activation="relu"),
                       L.BatchNormalization(), L.Conv2DTranspose(3, 2, strides=2), L.Cropping2D(((1, 0), (0, 1))),
                       L.UpSampling2D(), L.AveragePooling2D(2, padding="same"), L.DepthwiseConv2D(3),
                       L.GlobalMaxPooling2D(), L.Dense(2)])
    km.layers[2].moving_mean.assign(R.random(4).astype("float32"))  # non-trivial statistics travel too
    km.save(tmp_path / "k.keras")
    km.save_weights(tmp_path / "k.weights.h5")
    probe = rnd(3, 10, 9, 2)
    g = gpunet.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(g.predict(probe, verbose=0), km.predict(probe, verbose=0), rtol=1e-4, atol=1e-5)
    assert [type(l).__name__ for l in g.layers] == [type(l).__name__ for l in km.layers]


def test_mnist_convnet_example_trains(data_dir):
    """The keras.io MNIST convnet, unchanged but for the import and a subset, learns Fashion-MNIST."""
    keras_ = gpunet
    (x_train, y_train), (x_test, y_test) = keras_.datasets.fashion_mnist.load_data()
    x_train = np.expand_dims(x_train[:6000].astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test[:2000].astype("float32") / 255, -1)
    y_train = keras_.utils.to_categorical(y_train[:6000], 10)
    y_test = keras_.utils.to_categorical(y_test[:2000], 10)
    model = keras_.Sequential([
        keras_.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=2, validation_split=0.1, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.70, acc


# ---- errors name the argument, the expected and the received value ----

@pytest.mark.parametrize("make,match", [
    (lambda: layers.Conv2D(0, 3), "filters"),
    (lambda: layers.Conv2D(4, 0), "kernel_size"),
    (lambda: layers.Conv2D(4, 3, padding="causal"), "padding"),
    (lambda: layers.Conv2D(4, 3, data_format="channels_middle"), "data_format"),
    (lambda: layers.Conv2D(5, 3, groups=2), "groups"),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: layers.MaxPooling2D(pool_size=(2, 2, 2)), "pool_size"),
    (lambda: layers.ZeroPadding2D(padding=(1, 2, 3)), "padding"),
    (lambda: layers.Cropping1D(cropping=-1), "cropping"),
])
def test_bad_arguments_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="rank 4"):
        layers.Conv2D(4, 3)(rnd(2, 8, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        layers.Conv2D(4, 3, groups=2)(rnd(2, 8, 8, 3))
    with pytest.raises(ValueError, match="empty"):
        layers.Conv2D(4, 5)(rnd(2, 3, 3, 1))
    with pytest.raises(ValueError, match="channels"):
        ops.conv(rnd(2, 6, 6, 3), rnd(3, 3, 2, 4))
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping2D(3)(rnd(1, 5, 5, 1))
    with pytest.raises(NotImplementedError, match="renorm"):
        layers.BatchNormalization(renorm=True)



# ---- kernels/cpu_conv.c equals the array code it replaces, bit for bit ----

CPU_CONV_CASES = [((3, 9, 8, 4), (2, 2), None, "valid", 1), ((2, 7, 6, 3), (3, 2), (2, 1), "same", 1),
                  ((2, 11, 5), (3,), (2,), "same", 1), ((3, 9, 10, 6), (2, 2), None, "valid", 1),
                  ((2, 10, 9, 7), (3, 3), (1, 2), "same", 2), ((2, 13, 6), (2,), (1,), "valid", 1)]


@pytest.mark.parametrize("shape,pool,strides,pad,dil", CPU_CONV_CASES)
def test_cpu_conv_kernels_equal_the_array_code(monkeypatch, shape, pool, strides, pad, dil):
    """Inference and training (forward, then the gradients) with kernels/cpu_conv.c and without: the
    same bits. Shapes with more than 4 channels take the C im2col; overlapping windows sum gradients."""
    from gpunet.kernels import cpu as cpu_kernels
    if cpu_kernels.conv_library() is None:
        pytest.skip("no C compiler here: the array code is the only path")
    x = rnd(*shape)
    x[0, :2] = 0.0
    x[1, 0, 0] = np.nan  # propagates, as numpy.maximum does
    W = rnd(*((3,) * (len(shape) - 2) + (shape[-1], 5)))
    b = rnd(5)
    xt = x.copy()
    xt[1, 0, 0] = 0.5  # the gradients are compared on finite data
    xt[0, 1:3] = xt[0, 1:2]  # ties inside pooling windows: the first maximum takes the gradient
    w = None

    def run():
        nonlocal w
        with gpunet.ops.stop_recording():  # inference: bias_act and max_pool_values
            y = C.conv_bias_act(x, W, b, "relu", 1, "same", None, dil)
            out = [y.numpy(), ops.max_pool(y, pool, strides, pad).numpy(),
                   C.conv_bias_act(x, W, b, "linear", 1, "valid").numpy()]
        vs = [gpunet.Variable(a) for a in (xt, W, b)]
        with gpunet.GradientTape() as tape:  # training: im2col, relu_grad, max_pool_forward/backward
            p = ops.max_pool(C.conv_bias_act(vs[0], vs[1], vs[2], "relu", 1, pad, None, dil), pool, strides, pad)
            w = rnd(*p.shape) if w is None else w
            loss = ops.sum(ops.multiply(p, w))
        return out + [p.numpy()] + [g.numpy() for g in tape.gradient(loss, vs)]
    fast = run()
    monkeypatch.setattr(cpu_kernels, "conv_library", lambda: None)
    slow = run()
    for a, b_ in zip(fast, slow):
        np.testing.assert_array_equal(a, b_)
    assert np.isfinite(fast[-3]).all() and np.abs(fast[-3]).sum() > 0


def test_build_then_set_weights_keeps_them():
    """layer.build(shape) marks the layer built, as in Keras: the first call must not rebuild the weights."""
    for layer, shape in ((layers.Dense(3), (None, 4)), (layers.Conv2D(2, 3), (None, 5, 5, 1))):
        layer.build(shape)
        assert layer.built
        want = [np.full(w.shape, 0.5, np.float32) for w in layer.get_weights()]
        layer.set_weights(want)
        layer(np.ones((1,) + shape[1:], np.float32))
        for a, b in zip(layer.get_weights(), want):
            np.testing.assert_array_equal(a, b)


def test_cupy_source_carries_the_shared_header():
    """CuPy caches compiled kernels by their source text: the header must be pasted into it."""
    from gpunet.kernels import build
    code = build._inline_headers(build.source("conv.cu"))
    assert '#include "gemm_tile.cuh"' not in code and "gemm_tile(" in code and "struct RowMajor" in code


def test_bilinear_upsampling_has_a_gradient():
    """Not a silent dead end for backprop: its gradient matches central differences."""
    layer = layers.UpSampling2D(size=(2, 3), interpolation="bilinear", dtype="float64")
    directional_check(lambda x_: layer(x_), rnd(2, 3, 4, 2).astype(np.float64))


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.ZeroPadding2D(((1, 2), (0, 1)), dtype="float64"), (2, 3, 4, 2)),
    (lambda: layers.Cropping2D(((1, 0), (1, 1)), dtype="float64"), (2, 4, 5, 2)),
    (lambda: layers.UpSampling2D((2, 3), dtype="float64"), (2, 3, 2, 2)),
    (lambda: layers.UpSampling1D(2, dtype="float64"), (2, 3, 2)),
    (lambda: layers.GlobalMaxPooling2D(dtype="float64"), (2, 3, 4, 2)),
    (lambda: layers.GlobalAveragePooling1D(keepdims=True, dtype="float64"), (2, 5, 3)),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64"), (2, 5, 4, 3)),
    (lambda: layers.BatchNormalization(dtype="float64"), (6, 3)),
])
def test_reshaping_and_pooling_layers_have_gradients(make, shape):
    layer = make()
    layer.build(shape)
    directional_check(lambda x_: layer(x_, training=True), rnd(*shape).astype(np.float64))


_KERAS_JAX_FIT = """
import os, sys, numpy as np
os.environ["KERAS_BACKEND"] = "jax"
import keras
d = np.load(sys.argv[1])
L = keras.layers
m = keras.Sequential([keras.Input((12, 12, 2)), L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(),
                      L.Conv2D(5, 3, padding="same", activation="relu"), L.Flatten(), L.Dense(4, activation="softmax")])
m.set_weights([d["w%d" % i] for i in range(6)])
m.compile(loss="categorical_crossentropy", optimizer="adam")
m.fit(d["x"], d["y"], batch_size=16, epochs=2, shuffle=False, verbose=0)
np.savez(sys.argv[2], *m.get_weights())
"""


def test_convnet_training_equals_keras_jax_step_for_step(tmp_path):
    """The same convnet, initial weights and batches: after 8 Adam steps gpunet's weights equal those
    Keras 3 on JAX computes (its NumPy backend cannot train), to float32 rounding."""
    import importlib.util
    import subprocess
    import sys
    keras()
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    L = layers
    m = gpunet.Sequential([gpunet.Input((12, 12, 2)), L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(5, 3, padding="same", activation="relu"), L.Flatten(),
                           L.Dense(4, activation="softmax")])
    x, y = rnd(64, 12, 12, 2), gpunet.utils.to_categorical(R.integers(0, 4, 64), 4)
    init = m.get_weights()
    np.savez(tmp_path / "init.npz", x=x, y=y, **{"w%d" % i: w for i, w in enumerate(init)})
    m.compile(loss="categorical_crossentropy", optimizer="adam")
    m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    script = tmp_path / "kfit.py"
    script.write_text(_KERAS_JAX_FIT)
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "init.npz"), str(tmp_path / "after.npz")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    want = np.load(tmp_path / "after.npz")
    for i, (w, w0) in enumerate(zip(m.get_weights(), init)):
        assert np.abs(w - w0).max() > 1e-3  # the steps moved every variable
        np.testing.assert_allclose(w, want["arr_%d" % i], rtol=1e-4, atol=2e-5, err_msg="variable %d" % i)


# ---- a Conv layer and the MaxPooling after it as one op (ops/conv_pool.py) ----

CONV_POOL_CASES = [  # (x shape, kernel, conv strides, padding, dilation, groups, act, bias, pool, pool strides, pool padding)
    ((5, 13, 11, 3), (3, 3), 1, "valid", 1, 1, "relu", True, (2, 2), None, "valid"),
    ((4, 12, 9, 6), (3, 2), (2, 1), "same", 1, 2, "linear", False, (3, 3), (2, 2), "same"),
    ((3, 14, 10, 5), (2, 3), 1, "same", 2, 1, "relu", True, (2, 3), (1, 2), "valid"),
    ((6, 17, 4), (3,), 1, "valid", 1, 1, "relu", True, (2,), None, "same"),
    ((5, 12, 13, 1), (3, 3), 1, "same", 1, 1, "relu", True, (2, 2), None, "valid"),  # conv_direct (16 filters)
    ((3, 12, 13, 1), (3, 3), 1, "valid", 1, 1, "relu", True, (2, 2), None, "same"),  # 10x11: a padded last column
    ((4, 19, 2), (4,), 2, "valid", 1, 1, "linear", True, (3,), (2,), "valid"),  # conv_direct, overlapping pools
]


@pytest.mark.parametrize("case", CONV_POOL_CASES)
def test_conv_pool_op_equals_the_two_ops(case):
    """The same values and gradients up to the GEMMs' blocking (the fused op computes only the conv outputs
    the pool reads, so its GEMMs have fewer rows); inference (bias and act after the pool) gives the training
    pass's values bit for bit."""
    from gpunet.ops import conv_pool
    shape, k, s, pad, d, groups, act, with_b, pool, ps, ppad = case
    x = rnd(*shape)
    F = 16 if shape[-1] <= 2 else 8  # few channels and filters in sixteens: the direct kernel
    W = rnd(*(k + (shape[-1] // groups, F)))
    b = rnd(F) if with_b else None
    arrays = [x, W] + ([b] if with_b else [])

    def fused(x_, w_, b_=None):
        return conv_pool.conv_act_max_pool(x_, w_, b_, act, s, pad, d, pool, ps, ppad)

    def two(x_, w_, b_=None):
        return ops.max_pool(C.conv_bias_act(x_, w_, b_, act, s, pad, None, d), pool, ps, ppad)
    with gpunet.ops.stop_recording():
        inferred = fused(*arrays).numpy()
        want = two(*arrays).numpy()
        np.testing.assert_allclose(inferred, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    w = None
    res = []
    for fn in (fused, two):
        vs = [gpunet.Variable(a) for a in arrays]
        with gpunet.GradientTape() as tape:
            out = fn(*vs)
            w = rnd(*out.shape) if w is None else w
            loss = ops.sum(ops.multiply(out, w))
        res.append([out.numpy()] + [g.numpy() for g in tape.gradient(loss, vs)])
    np.testing.assert_array_equal(inferred, res[0][0])
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-6, atol=1e-6 * np.abs(want).max())
    for a, b_ in zip(res[0][1:], res[1][1:]):
        np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-5 * float(np.abs(b_).max()))
    assert all(np.abs(g).sum() > 0 for g in res[0][1:])


def test_conv_pool_op_computes_only_what_the_pool_reads(monkeypatch):
    """A 'valid' 2x2 pool of an 11x11 conv output reads its first 10x10: the op computes those alone (the
    MNIST convnet's second layer), in training and in inference, with the two ops' values."""
    from gpunet.ops import conv_pool
    seen = []
    real = C.conv_chunk
    monkeypatch.setattr(C, "conv_chunk", lambda *a: seen.append(a[-2]) or real(*a))
    x, W, b = rnd(3, 13, 13, 8), rnd(3, 3, 8, 16), rnd(16)
    with gpunet.ops.stop_recording():
        two = ops.max_pool(C.conv_bias_act(x, W, b, "relu"), 2).numpy()
        assert seen == [(11, 11)] * len(seen)  # the conv op alone computes all 11x11
        seen.clear()
        y = conv_pool.conv_act_max_pool(x, W, b, "relu", 1, "valid", 1, 2, None, "valid").numpy()
    np.testing.assert_allclose(y, two, rtol=1e-6, atol=1e-6 * np.abs(two).max())  # the GEMMs' rounding
    v = gpunet.Variable(x)
    with gpunet.GradientTape():
        conv_pool.conv_act_max_pool(v, W, b, "relu", 1, "valid", 1, 2, None, "valid")
    assert seen and set(seen) == {(10, 10)}


def test_conv_pool_gradients_central_differences():
    from gpunet.ops import conv_pool
    x, W, b = rnd(2, 7, 6, 3).astype(np.float64), rnd(3, 3, 3, 4).astype(np.float64), rnd(4).astype(np.float64)
    # float64 runs the array code inside the fused op: the same formulas the float32 path takes
    directional_check(lambda x_, w_, b_: conv_pool.conv_act_max_pool(x_, w_, b_, "relu", 1, "same", 1, 2, None,
                                                                      "valid"), x, W, b)


def _convnet(seed=0, channels=2, filters=6):
    gpunet.utils.set_random_seed(seed)
    m = gpunet.Sequential([gpunet.Input((12, 11, channels)), layers.Conv2D(filters, 3, activation="relu"),
                           layers.MaxPooling2D(2),
                           layers.Conv2D(5, 2, padding="same"), layers.MaxPooling2D(2, strides=1),
                           layers.Flatten(), layers.Dense(3, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("channels,filters", [(2, 6), (1, 16)])  # (1, 16): the first pair in conv_direct_max_pool2
def test_convnet_fit_with_and_without_the_fused_conv_pool(monkeypatch, channels, filters):
    from gpunet.layers import convolutional
    from gpunet.models import sequential
    rng = np.random.default_rng(3)
    x, y = rng.random((70, 12, 11, channels), dtype=np.float32), rng.integers(0, 3, 70)
    calls = []
    real = convolutional.fused_conv_pool

    def spy(conv, pool, x_):
        out = real(conv, pool, x_)
        calls.append(out is not None)
        return out
    monkeypatch.setattr(sequential, "fused_conv_pool", spy)
    fused = _convnet(channels=channels, filters=filters)
    h1 = fused.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
    p1 = fused.predict(x, verbose=0)
    assert calls and all(calls)  # both pairs fused, in fit and in predict
    monkeypatch.setattr(sequential, "fused_conv_pool", lambda *a: None)
    plain = _convnet(channels=channels, filters=filters)
    h2 = plain.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p1, plain.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_conv_pool_fusion_only_where_it_is_the_same_computation():
    from gpunet.layers.convolutional import fused_conv_pool

    class MyPool(layers.MaxPooling2D):
        def call(self, inputs):
            return super().call(inputs) * 2.0
    x = rnd(2, 9, 9, 3)
    pairs = [(layers.Conv2D(4, 3, activation="tanh"), layers.MaxPooling2D()),  # act' needs z, not the max
             (layers.Conv2D(4, 3), layers.AveragePooling2D(2)),
             (layers.Conv2D(4, 3), MyPool()),
             (layers.Conv2D(4, 3, data_format="channels_first"), layers.MaxPooling2D(data_format="channels_first")),
             (layers.Conv1D(4, 3, padding="causal"), layers.MaxPooling1D()),
             (layers.Conv2D(4, 3), layers.MaxPooling1D())]
    for conv, pool in pairs:
        xin = x if conv.rank == 2 else x[:, 0]
        conv.build(xin.shape)
        pool.build(conv.compute_output_shape(xin.shape))
        assert fused_conv_pool(conv, pool, gpunet.ops.convert_to_tensor(xin)) is None, (conv, pool)
    conv, pool = layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D()
    conv.build(x.shape)
    pool.build(conv.compute_output_shape(x.shape))
    assert fused_conv_pool(conv, pool, gpunet.ops.convert_to_tensor(x)) is not None
    assert fused_conv_pool(conv, pool, gpunet.ops.convert_to_tensor(x.astype(np.float64))) is None


def _conv_direct_reference(x, W, b, relu, strides, dilation, padding):
    """kernels/cpu_conv.c conv_direct's arithmetic in NumPy: per output, 0 + x·w over taps then channels,
    each product and sum rounded to float32; then bias and relu (NaN and -0.0 stay)."""
    outs, lo = C.conv_geometry(x.shape[1:-1], W.shape[:-2], strides, dilation, padding)
    need = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(outs, W.shape[:-2], strides, dilation)]
    xp = C._padded(x, lo, need)
    acc = np.zeros((x.shape[0],) + outs + (W.shape[-1],), np.float32)
    for tap in np.ndindex(*W.shape[:-2]):
        sl = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, outs, strides))
        view = xp[(slice(None),) + sl + (slice(None),)]
        for c in range(x.shape[-1]):
            acc = acc + view[..., c:c + 1] * W[tap][c]
    z = acc + b if b is not None else acc
    return np.where(z < 0, np.float32(0), z) if relu else z


@pytest.mark.parametrize("shape,k,s,d,pad,F,relu,bias", [
    ((3, 11, 13, 1), (3, 3), (1, 1), (1, 1), "valid", 32, True, True),
    ((2, 9, 10, 3), (3, 3), (1, 1), (1, 1), "same", 16, True, True),
    ((2, 12, 11, 2), (5, 3), (2, 1), (1, 1), "same", 48, False, True),
    ((2, 13, 12, 4), (3, 2), (1, 1), (2, 2), "valid", 16, True, False),
    ((3, 7, 3, 1), (2, 2), (1, 1), (1, 1), "valid", 16, True, True),  # rows shorter than a 4-wide block
    ((4, 19, 2), (4,), (2,), (1,), "same", 32, True, True),
])
def test_conv_direct_kernel_equals_its_reference(shape, k, s, d, pad, F, relu, bias):
    from gpunet.kernels import cpu as cpu_kernels
    if cpu_kernels.conv_library() is None:
        pytest.skip("no C compiler here: the array code is the only path")
    x = rnd(*shape)
    x[0, 1] = 0.0
    W = rnd(*(k + (shape[-1], F)))
    b = rnd(F) if bias else None
    assert C.direct_kernel(x, W, b, 1, "relu" if relu else "linear") is not None
    with gpunet.ops.stop_recording():
        got = C.conv_bias_act(x, W, b, "relu" if relu else "linear", s, pad, None, d).numpy()
    want = _conv_direct_reference(x, W, b, relu, s, d, pad)
    np.testing.assert_array_equal(got, want)
    # and the GEMM path agrees to rounding (it sums the same products in BLAS's order)
    lib = cpu_kernels.conv_library()
    try:
        cpu_kernels._conv_lib[:] = [None]
        with gpunet.ops.stop_recording():
            gemm = C.conv_bias_act(x, W, b, "relu" if relu else "linear", s, pad, None, d).numpy()
    finally:
        cpu_kernels._conv_lib[:] = [lib]
    np.testing.assert_allclose(got, gemm, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,k,s,d,pad,F,relu,bias", [
    ((3, 11, 13, 1), (3, 3), (1, 1), (1, 1), "valid", 32, True, True),  # 9x11 -> 4x5: the last row and column unread
    ((2, 9, 10, 3), (3, 3), (1, 1), (1, 1), "same", 16, True, True),  # windows on the padding
    ((2, 12, 11, 2), (5, 3), (2, 1), (1, 1), "same", 48, False, True),
    ((2, 13, 12, 4), (3, 2), (1, 1), (2, 2), "valid", 16, True, False),
])
def test_conv_direct_max_pool2_equals_conv_direct_then_max_pool(shape, k, s, d, pad, F, relu, bias):
    """kernels/cpu_conv.c conv_direct_max_pool2: the values and argmax of conv_direct then max_pool_forward,
    bit for bit, ties (zeros after relu, equal inputs), NaN and the padding included."""
    from gpunet.kernels import cpu as cpu_kernels
    from gpunet.ops import pooling as Pl
    lib = cpu_kernels.conv_library()
    if lib is None:
        pytest.skip("no C compiler here: the array code is the only path")
    x = rnd(*shape)
    x[0, 1] = 0.0  # a row of zeros: windows of equal values
    x[1, 2, 3, 0] = np.nan
    W = rnd(*(k + (shape[-1], F)))
    b = rnd(F) if bias else None
    outs, lo = C.conv_geometry(shape[1:-1], k, s, d, pad)
    pouts = tuple(o // 2 for o in outs)
    geo = C.c_geometry(shape, outs, k, s, lo, d)
    z = np.empty((shape[0] * int(np.prod(outs)), F), np.float32)
    lib.conv_direct(x.ctypes.data, W.ctypes.data, None if b is None else b.ctypes.data, z.ctypes.data, F, int(relu), *geo)
    want_y, want_arg = Pl.max_pool_forward(z.reshape((shape[0],) + outs + (F,)), (2, 2), (2, 2), (0, 0), pouts)
    y = np.full((shape[0],) + pouts + (F,), 7.0, np.float32)
    arg = np.full(y.shape, 9, np.int8)
    lib.conv_direct_max_pool2(x.ctypes.data, W.ctypes.data, None if b is None else b.ctypes.data, y.ctypes.data,
                              arg.ctypes.data, F, int(relu), *geo)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(arg, want_arg)
    assert np.isnan(y).any() and (want_arg > 0).any() and (want_arg == 0).any()
    y2 = np.full_like(y, 7.0)  # without arg: the values alone
    lib.conv_direct_max_pool2(x.ctypes.data, W.ctypes.data, None if b is None else b.ctypes.data, y2.ctypes.data,
                              None, F, int(relu), *geo)
    np.testing.assert_array_equal(y2, want_y)
