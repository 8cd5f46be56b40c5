"""The node programs (gpunet/training/graph_program.py, program_layers.py): convnets and Functional graphs with
residual adds run fit, evaluate and predict as one static launch list on the kernel backend, in the emulated tier
here (the launches a GPU captures as one CUDA graph), against the NumPy backend's tape; what no rule covers goes
to the tape with one logged reason. Also the glue kernels of kernels/graph.cu and norm.cu's valid-row mode."""
import logging

import numpy as np
import pytest
from conftest import in_tier
from test_gpu_step import _fit, _same, _used_program, check_step_is_static
from test_kernels import ref_act

import gpunet
from gpunet import backend
from gpunet.kernels import emulated, graph, norm
from gpunet.training import gpu_step
from gpunet.training.tape_step import _Plan

pytestmark = pytest.mark.emulated
L = gpunet.layers

# the kernels of kernels/graph.cu and the tests here that run them (tests/test_kernels.py checks the list)
COVERS = {
    "act_forward_ew": ["test_graph_kernels_against_numpy"],
    "act_backward_ew": ["test_graph_kernels_against_numpy"],
    "add2": ["test_graph_kernels_against_numpy"],
    "add_into": ["test_graph_kernels_against_numpy"],
    "multiply_out": ["test_graph_kernels_against_numpy"],
    "moving_update": ["test_graph_kernels_against_numpy"],
    "window_copy": ["test_spatial_kernels_against_numpy"],
    "upsample_forward": ["test_spatial_kernels_against_numpy"],
    "upsample_backward": ["test_spatial_kernels_against_numpy"],
    "channel_scale": ["test_spatial_kernels_against_numpy"],
    "bias_act": ["test_spatial_kernels_against_numpy"],
}
ACTS = ["linear", "relu", "sigmoid", "tanh", "gelu", "gelu_approximate"]


@pytest.mark.parametrize("n", [1, 300, 1027])
def test_graph_kernels_against_numpy(kernel_tier, n):
    t = kernel_tier
    rng = np.random.default_rng(n)
    x, g, m = (rng.standard_normal(n).astype(np.float32) * 2 for _ in range(3))
    for act in ACTS:
        want_y, want_d = ref_act(x.astype(np.float64), act)
        y, dx = t.dev(np.full(n, np.nan)), t.dev(np.full(n, np.nan))
        graph.act_forward_launch(t.dev(x), y, act)()
        graph.act_backward_launch(t.dev(g), t.dev(x), y, dx, act)()
        np.testing.assert_allclose(t.host(y), want_y, rtol=2e-6, atol=2e-6, err_msg=act)
        # act' from the output the kernel wrote (as the backward of the program reads it)
        want_dx = g * ref_act(x.astype(np.float64), act)[1]
        np.testing.assert_allclose(t.host(dx), want_dx, rtol=1e-5, atol=1e-5, err_msg=act)
    out = t.dev(np.full(n, np.nan))
    graph.add2_launch(t.dev(x), t.dev(g), out)()
    np.testing.assert_array_equal(t.host(out), x + g)
    graph.add_into_launch(out, t.dev(m))()
    np.testing.assert_array_equal(t.host(out), (x + g) + m)
    graph.multiply_out_launch(t.dev(g), t.dev(m), out)()
    np.testing.assert_array_equal(t.host(out), g * m)
    v = t.dev(x.copy())  # written in place (and on NumPy, t.dev(x) is x itself)
    graph.moving_update_launch(v, t.dev(g), 0.99)()
    want = x * np.float32(0.99) + g * np.float32(1.0 - 0.99)  # BatchNormalization._update_moving, in float32
    np.testing.assert_array_equal(t.host(v), want)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 7, 3), (3, 9, 4)])
def test_spatial_kernels_against_numpy(kernel_tier, shape):
    """Padding/cropping windows, nearest upsampling both ways, a per-(sample, channel) scale, bias + activation."""
    t = kernel_tier
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    x4 = x[:, None] if x.ndim == 3 else x  # a 1-D tensor is a 2-D one of height 1
    N, H, W, C = x4.shape
    for (oh, ow), (Hd, Wd) in (((-1, -2), (H + 3, W + 2)), ((0, 1), (H, max(W - 1, 1)))):
        if x.ndim == 3:  # 1-D: no height to pad
            oh, Hd = 0, 1
        dst = t.dev(np.full((N, Hd, Wd, C) if x.ndim == 4 else (N, Wd, C), np.nan))
        graph.window_copy_launch(t.dev(x), dst, oh, ow)()
        want = np.zeros((N, Hd, Wd, C), np.float32)
        for i in range(Hd):
            for j in range(Wd):
                si, sj = i + oh, j + ow
                if 0 <= si < H and 0 <= sj < W:
                    want[:, i, j] = x4[:, si, sj]
        np.testing.assert_array_equal(t.host(dst).reshape(want.shape), want)
    sh, sw = (2, 3) if x.ndim == 4 else (1, 3)
    up = t.dev(np.full((N, H * sh, W * sw, C) if x.ndim == 4 else (N, W * sw, C), np.nan))
    graph.upsample_forward_launch(t.dev(x), up, sh, sw)()
    want_up = np.repeat(np.repeat(x4, sh, axis=1), sw, axis=2)
    np.testing.assert_array_equal(t.host(up).reshape(want_up.shape), want_up)
    g = rng.standard_normal(want_up.shape).astype(np.float32)
    dx = t.dev(np.full(x.shape, np.nan))
    graph.upsample_backward_launch(t.dev(g.reshape(up.shape)), dx, sh, sw)()
    want_dx = g.reshape(N, H, sh, W, sw, C).sum(axis=(2, 4), dtype=np.float64)
    np.testing.assert_allclose(t.host(dx).reshape(want_dx.shape), want_dx, rtol=1e-6, atol=1e-6)
    m = rng.random((N, C)).astype(np.float32)
    y = t.dev(np.full(x.shape, np.nan))
    graph.channel_scale_launch(t.dev(x), t.dev(m), y)()
    np.testing.assert_array_equal(t.host(y), x * m.reshape((N,) + (1,) * (x.ndim - 2) + (C,)))
    b = rng.standard_normal(C).astype(np.float32)
    for act in ("linear", "gelu"):
        z, out = t.dev(x.copy()), t.dev(np.full(x.shape, np.nan))
        graph.bias_act_launch(z, t.dev(b), out, act)()
        np.testing.assert_array_equal(t.host(z), x + b)
        np.testing.assert_allclose(t.host(out), ref_act((x + b).astype(np.float64), act)[0], rtol=2e-6, atol=2e-6)


def test_batch_norm_kernels_over_the_valid_rows(kernel_tier):
    """A step program's short last batch: statistics and sums over the valid samples only; y and dx are 0 on
    the padding rows, so they add nothing to any weight gradient upstream."""
    t = kernel_tier
    rng = np.random.default_rng(2)
    batch, valid, C, eps = 7, 4, 5, 1e-3
    x = rng.standard_normal((batch, 3, 2, C)).astype(np.float32) * 2 + 1
    g = rng.standard_normal(x.shape).astype(np.float32)
    gamma, beta = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    acb = norm._acb(x.shape, 3)
    rows, per_row = t.dev(np.array([valid]), np.int32), int(acb[0]) // batch
    nan = lambda shape: t.dev(np.full(shape, np.nan))  # noqa: E731
    mean, var, y, dg, db, dx = nan(C), nan(C), nan(x.shape), nan(C), nan(C), nan(x.shape)
    xd, gd = t.dev(x), t.dev(g)
    norm.bn_stats_launch(xd, mean, var, acb, rows, per_row)()
    norm.bn_forward_launch(xd, y, mean, var, t.dev(gamma), t.dev(beta), acb, eps, rows, per_row)()
    norm.bn_backward_reduce_launch(gd, xd, mean, var, dg, db, acb, eps, rows, per_row)()
    norm.bn_backward_data_launch(gd, xd, mean, var, t.dev(gamma), dg, db, dx, acb, eps, rows, per_row)()
    xv, gv = x[:valid].astype(np.float64).reshape(-1, C), g[:valid].astype(np.float64).reshape(-1, C)
    mu, va = xv.mean(0), xv.var(0)
    xhat = (xv - mu) / np.sqrt(va + eps)
    np.testing.assert_allclose(t.host(mean), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.host(var), va, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.host(y)[:valid].reshape(-1, C), xhat * gamma + beta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.host(db), gv.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.host(dg), (gv * xhat).sum(0), rtol=1e-5, atol=1e-5)
    m = len(xv)
    want_dx = gamma / np.sqrt(va + eps) * (gv - gv.sum(0) / m - xhat * (gv * xhat).sum(0) / m)
    np.testing.assert_allclose(t.host(dx)[:valid].reshape(-1, C), want_dx, rtol=1e-4, atol=1e-5)
    assert (t.host(y)[valid:] == 0).all() and (t.host(dx)[valid:] == 0).all()


# ---- models ----

def convnet(shape=(12, 11, 1), f=(8, 6), classes=5, dropout=0.5):
    """keras.io's MNIST convnet (examples/vision/mnist_convnet), scaled down for the emulated tier."""
    return lambda: gpunet.Sequential([
        gpunet.Input(shape), L.Conv2D(f[0], kernel_size=(3, 3), activation="relu"), L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(f[1], kernel_size=(3, 3), activation="relu", padding="same"), L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(), L.Dropout(dropout), L.Dense(classes, activation="softmax")])


def resnet_block(shape=(9, 10, 3), f=8, classes=5):
    """A residual block (Functional, Add) with BatchNormalization and a frozen-free shortcut, as keras.io's
    ResNet examples write it: Conv (no bias) → BN → relu, twice, the sum, relu, global average, softmax."""
    def make():
        i = gpunet.Input(shape)
        x = L.Conv2D(f, 3, padding="same", use_bias=False)(i)
        x = L.BatchNormalization()(x)
        s = L.Activation("relu")(x)
        x = L.Conv2D(f, 3, padding="same", use_bias=False)(s)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.Add()([x, s])
        x = L.ReLU()(x)
        x = L.Dropout(0.2)(x)
        x = L.GlobalAveragePooling2D()(x)
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(x))
    return make


def conv1d_branches(shape=(17, 4), classes=5):
    """Conv1D, two branches from one tensor (its gradients summed), average and max pooling, a Dense on 3-D."""
    def make():
        i = gpunet.Input(shape)
        x = L.Conv1D(6, 3, activation="tanh")(i)
        a = L.AveragePooling1D(2, padding="same")(x)
        b = L.Dense(6, activation="gelu")(L.MaxPooling1D(2, padding="same")(x))
        x = L.Add()([a, b, L.Activation("sigmoid")(a)])
        x = L.Reshape((8, 6))(x)
        x = L.GlobalMaxPooling1D()(x)
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(x))
    return make


def separable_mobile(shape=(10, 9, 3), classes=5):
    """MobileNet-style: ZeroPadding, SeparableConv (depth multiplier 2), DepthwiseConv, a gelu that cannot fold,
    SpatialDropout, UpSampling, Cropping, pooling."""
    def make():
        i = gpunet.Input(shape)
        x = L.ZeroPadding2D(((1, 2), (0, 1)))(i)
        x = L.SeparableConv2D(6, 3, activation="relu", depth_multiplier=2)(x)
        x = L.Activation("gelu")(L.DepthwiseConv2D(3, padding="same")(x))
        x = L.Cropping2D(((1, 0), (2, 1)))(L.UpSampling2D((2, 1))(L.SpatialDropout2D(0.3)(x)))
        x = L.Flatten()(L.MaxPooling2D(2)(x))
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(x))
    return make


def spatial_1d(shape=(13, 4), classes=5):
    def make():
        i = gpunet.Input(shape)
        x = L.SeparableConv1D(5, 3, activation="tanh")(L.ZeroPadding1D(2)(i))
        x = L.SpatialDropout1D(0.2)(L.DepthwiseConv1D(2)(x))
        x = L.Cropping1D((1, 3))(L.UpSampling1D(2)(x))
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(L.GlobalAveragePooling1D()(x)))
    return make


def deconv(shape=(6, 5, 3), classes=5):
    """Conv2DTranspose ('same' with strides, output_padding, a fused and a separate activation), Conv1DTranspose."""
    def make():
        i = gpunet.Input(shape)
        x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(i)
        x = L.Conv2DTranspose(3, (2, 3), strides=(1, 2), output_padding=(0, 1), activation="gelu")(x)
        x = L.Conv2D(4, 3, use_bias=False)(x)
        y = L.Conv1DTranspose(2, 3, use_bias=False)(L.Reshape((-1, 4))(x))
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(L.Flatten()(y)))
    return make


def _data(n, shape, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, classes, n)


def _schedule_adam():
    return gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9))


def _schedule_sgd():
    return gpunet.optimizers.SGD(gpunet.optimizers.schedules.ExponentialDecay(0.05, 5, 0.9), momentum=0.9)


MODELS = {  # 77 rows at batch 8 over two epochs: 20 steps, the last of each epoch 5 rows
    "convnet": (convnet(), (12, 11, 1), _schedule_adam),
    # BatchNormalization's scale invariance leaves near-zero gradients that Adam normalizes to whole steps, so
    # float32 rounding grows step by step there; plain SGD keeps the comparison at rounding size
    "resnet_block": (resnet_block(), (9, 10, 3), _schedule_sgd),
    "conv1d_branches": (conv1d_branches(), (17, 4), _schedule_adam),
    "separable_mobile": (separable_mobile(), (10, 9, 3), _schedule_adam),
    "spatial_1d": (spatial_1d(), (13, 4), _schedule_adam),
    "deconv": (deconv(), (6, 5, 3), _schedule_adam),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_20_steps_of_a_node_program_equal_the_numpy_tape(name, monkeypatch):
    make, shape, opt = MODELS[name]
    check_program_equals_numpy(make, opt, *_data(77, shape, seed=1), monkeypatch)


def check_program_equals_numpy(make, opt, x, y, monkeypatch):
    """fit in the emulated tier runs a TrainProgram and trains to the NumPy tape's weights (the moving mean and
    variance are among them); evaluate and predict run forward programs (the moving statistics, no dropout) and
    give the NumPy path's numbers."""
    built = _used_program(monkeypatch)
    got = _fit("emulate", make, opt, x, y, batch_size=8, epochs=2)
    assert isinstance(built[-1], gpu_step.TrainProgram)
    want = _fit("numpy", make, opt, x, y, batch_size=8, epochs=2)
    _same(got, want, rtol=5e-5, atol=5e-6)
    m_got, m_want = got[2], want[2]
    with in_tier("emulate"):
        built_eval = []
        ev = gpu_step.EvalProgram.build
        monkeypatch.setattr(gpu_step.EvalProgram, "build", staticmethod(lambda *a, **k: built_eval.append(ev(*a, **k))
                                                                         or built_eval[-1]))
        e_got = m_got.evaluate(x, y, batch_size=16, verbose=0)
        p_got = m_got.predict(x, batch_size=16, verbose=0)
    assert isinstance(built_eval[-1], gpu_step.EvalProgram)
    with in_tier("numpy"):
        e_want = m_want.evaluate(x, y, batch_size=16, verbose=0)
        p_want = m_want.predict(x, batch_size=16, verbose=0)
    np.testing.assert_allclose(e_got, e_want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p_got, p_want, rtol=1e-4, atol=1e-6)


def _program(make, shape, batch, n=40, opt=_schedule_sgd, data=None):
    """A TrainProgram built for a fresh model (not run)."""
    x, y = data if data is not None else _data(n, shape, seed=3)
    gpunet.utils.clear_session()
    gpunet.utils.set_random_seed(1)
    m = make()
    m.compile(optimizer=opt(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plan = _Plan(m, y, m._output_shape())
    m.optimizer.build(plan.variables)
    xd, yd = backend.to_device(x), backend.to_device(y.astype(np.int32))
    prog = gpu_step.TrainProgram.build(m, plan, xd, yd, batch, -(-len(x) // batch), shuffle=True)
    assert prog is not None
    return prog


def test_a_node_program_step_allocates_nothing_and_reads_nothing_back(emulated_tier, monkeypatch):
    check_step_is_static(_program(resnet_block(), (9, 10, 3), 8), monkeypatch)


# keras.io's MNIST convnet at batch 128 (its fit's batch size): the launches one step runs
KERAS_IO_CONVNET = {
    "step_begin": 1, "gather_batch": 1, "conv_forward": 2, "max_pool_forward": 2, "dropout_forward": 1,
    "dense_xent_head": 0, "dense_forward": 1, "softmax_xent_forward": 1, "xent_accumulate": 1,
    "softmax_xent_backward": 1, "dense_backward_weight": 1, "dense_backward_data": 1, "mask_multiply": 1,
    "max_pool_backward": 2, "conv_backward_weight": 2, "bias_grad_partial": 2, "bias_grad_final": 2,
    "conv_backward_data": 1, "adam_update_ctl": 1}


def test_launches_per_step_of_the_keras_io_convnet_against_the_floor(emulated_tier, capsys, monkeypatch):
    """Counted from the program (built, not run: the emulated tier would take minutes at this size). The floor:
    one launch per product (2 conv forward, 1 dense forward; 2 conv weight gradients, 1 conv data gradient,
    1 dense weight and 1 dense data gradient) and one optimizer update: 9."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")  # one kernel per product: the count does not hang on
    prog = _program(convnet((28, 28, 1), (32, 64), 10), (28, 28, 1), 128, n=300, opt=_schedule_adam)  # sizes
    names = [launch.name for launch in prog.launches]
    counts = {k: names.count(k) for k in set(names)}
    assert counts == {k: v for k, v in KERAS_IO_CONVNET.items() if v}
    floor = 9
    with capsys.disabled():
        print("\nlaunches per step (keras.io MNIST convnet, batch 128, Adam): %d; floor %d; %s"
              % (len(names), floor, prog))
    assert len(names) == sum(KERAS_IO_CONVNET.values())


def test_buffers_are_reused_once_dead(emulated_tier):
    """Liveness: a forward-only program keeps two activations of a deep chain alive, not one per layer; a
    training program's gradients of one size share buffers."""
    make = lambda: gpunet.Sequential([gpunet.Input((20,))] + [L.Dense(64, activation="relu") for _ in range(8)]  # noqa
                                     + [L.Dense(5, activation="softmax")])
    x, y = _data(64, (20,), seed=2)
    gpunet.utils.clear_session()
    m = make()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    plan = _Plan(m, y, m._output_shape())
    xd, yd = backend.to_device(x), backend.to_device(y.astype(np.int32))
    ev = gpu_step.EvalProgram.build(m, plan, xd, yd, 32, 2)
    acts = [b for b in ev.arena.buffers if b.size == 32 * 64]
    assert len(acts) == 2, len(acts)  # one layer's input and its output, whatever the depth
    tr = _program(make, (20,), 32, n=64)
    grads = [b for b in tr.arena.buffers if b.size == 32 * 64]
    assert len(grads) == 8 + 2, len(grads)  # the 8 kept activations, and two gradient buffers taking turns
    assert "MiB" in repr(tr) and tr.graph.nbytes == sum(b.nbytes for b in tr.arena.buffers)


def _tape_equals_numpy(make, shape, caplog, reason, monkeypatch, data=None, **kw):
    """No program is built, the reason is logged once, and the tape's weights are the NumPy backend's (under SGD:
    Adam would scale the rounding noise of gradients that are 0 in exact arithmetic up to whole steps)."""
    x, y = data if data is not None else _data(45, shape, seed=5)
    built = _used_program(monkeypatch)
    with caplog.at_level(logging.INFO, logger="gpunet"):
        got = _fit("emulate", make, _schedule_sgd, x, y, batch_size=8, epochs=2, **kw)
    assert built == [None]
    told = [r.getMessage() for r in caplog.records if "without the GPU step program" in r.getMessage()]
    assert len(told) == 1 and reason in told[0], told
    want = _fit("numpy", make, _schedule_sgd, x, y, batch_size=8, epochs=2, **kw)
    _same(got, want, rtol=1e-4, atol=1e-5)


def _seq(layers, shape=(9, 8, 2)):
    return lambda: gpunet.Sequential([gpunet.Input(shape), *layers(), L.Flatten(), L.Dense(5, activation="softmax")])


FALLBACK_REASONS = {
    "channels_first": (_seq(lambda: [L.Conv2D(3, 3, data_format="channels_first")], shape=(2, 9, 8)),
                       "is channels_first"),
    "causal": (_seq(lambda: [L.Conv1D(3, 3, padding="causal")], shape=(9, 2)), "padding='causal'"),
    "no_rule": (_seq(lambda: [L.Permute((2, 1, 3))]), 'no program rule for layer "permute"'),
    "activation": (_seq(lambda: [L.Conv2D(3, 3, activation="elu")]), "has an activation the kernels lack"),
    "relu6": (_seq(lambda: [L.ReLU(max_value=6.0)]), "has max_value"),
    "noise_shape": (_seq(lambda: [L.Dropout(0.3, noise_shape=(None, 1, 1, 2))]), "has a noise_shape"),
    "flatten_first": (lambda: gpunet.Sequential([gpunet.Input((2, 9, 8)), L.Flatten(data_format="channels_first"),
                                                 L.Dense(5, activation="softmax")]), "Flatten"),
    "shared_layer": (lambda: _shared(), "is called more than once"),
    "broadcast_add": (lambda: _broadcast_add(), "broadcasts its inputs"),
    "activity_regularizer": (_seq(lambda: [L.Conv2D(3, 3, activity_regularizer="l2")]), "activity"),
    "bilinear": (_seq(lambda: [L.UpSampling2D(interpolation="bilinear")]), "interpolates bilinear"),
    "mixed_precision": (_seq(lambda: [L.Conv2D(3, 3, dtype="mixed_float16")]), "half precision"),
    "overrides_call": (lambda: _Overrides(*_io()), "overrides call()"),
    "ops_on_tensors": (lambda: _functional(lambda x: gpunet.ops.multiply(x, 2.0)), "outside a layer"),
    "training_flag": (lambda: _functional(lambda x: L.Dropout(0.3)(x, training=True)), "is called with training"),
    "return_state": (lambda: _functional(lambda x: L.GRU(4, return_state=True)(L.Reshape((9, 16))(x))[0]),
                     "returns several"),
}


class _Overrides(gpunet.Model):
    def call(self, inputs, training=None):
        return super().call(inputs, training=training)


def _io(block=lambda x: x):
    i = gpunet.Input((9, 8, 2))
    return i, L.Dense(5, activation="softmax")(L.Flatten()(block(i)))


def _functional(block):
    return gpunet.Model(*_io(block))


def _shared():
    i = gpunet.Input((6,))
    d = L.Dense(6, activation="relu")
    return gpunet.Model(i, L.Dense(5, activation="softmax")(d(d(i))))


def _broadcast_add():
    i = gpunet.Input((4, 3))
    x = L.Add()([L.Dense(3)(i), L.Dense(1)(i)])
    return gpunet.Model(i, L.Dense(5, activation="softmax")(L.Flatten()(x)))


@pytest.mark.parametrize("name", sorted(FALLBACK_REASONS))
def test_each_fallback_reason_is_logged_once_and_the_tape_trains_as_numpy(name, caplog, monkeypatch):
    make, reason = FALLBACK_REASONS[name]
    shape = {"causal": (9, 2), "flatten_first": (2, 9, 8), "shared_layer": (6,), "broadcast_add": (4, 3),
             "channels_first": (2, 9, 8)}
    _tape_equals_numpy(make, shape.get(name, (9, 8, 2)), caplog, reason, monkeypatch)


def check_captured_on_standin(make, data, opt, monkeypatch):
    """The step on the CuPy stand-in: captured once (a sync or an allocation inside would fail the capture),
    replayed every step, the same weights as the uncaptured program and as the emulated tier."""
    import cupy_standin
    x, y = data
    out = {}
    for graphs in ("1", "0"):
        monkeypatch.setenv("GPUNET_CUDA_GRAPHS", graphs)
        built = _used_program(monkeypatch)
        with cupy_standin.installed(monkeypatch) as counters:
            gpunet.utils.clear_session()
            gpunet.utils.set_random_seed(7)
            m = make()
            m.compile(optimizer=opt(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            h = m.fit(x, y, batch_size=8, epochs=2, verbose=0)
            out[graphs] = ([np.array(w) for w in m.get_weights()], h.history, built[-1], counters.captures)
        monkeypatch.undo()
    (wg, hg, pg, cg), (we, he, _, ce) = out["1"], out["0"]
    assert isinstance(pg, gpu_step.TrainProgram) and pg.runner.capture and cg == 1 and ce == 0
    for a, b in zip(wg, we):
        np.testing.assert_array_equal(a, b)
    assert hg == he
    before = dict(emulated.launch_counts)
    w_emul = _fit("emulate", make, opt, x, y, batch_size=8, epochs=2)[0]
    assert emulated.launch_counts != before  # the emulated run launched kernels (no silent NumPy path)
    for a, b in zip(wg, w_emul):
        np.testing.assert_array_equal(a, b)


def test_a_node_program_is_captured_on_the_standin_and_replays_the_uncaptured_step(monkeypatch):
    check_captured_on_standin(resnet_block(), _data(45, (9, 10, 3), seed=6), _schedule_sgd, monkeypatch)
