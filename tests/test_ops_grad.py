"""Every op's gradient against a float64 central difference; broadcasting included."""
import numpy as np
import pytest

from gpunet import ops
from gradcheck import directional_check

R = np.random.default_rng(42)


def pos(*shape):
    return R.uniform(0.5, 2.0, shape)


def anyv(*shape):
    return R.standard_normal(shape)


BINARY = [ops.add, ops.subtract, ops.multiply, ops.divide, ops.maximum, ops.minimum]


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), ())])
def test_binary_broadcast(op, shapes):
    a, b = pos(*shapes[0]), pos(*shapes[1]) + 0.37  # distinct values: no ties for max/min
    directional_check(op, a, b)


def test_power_both_args():
    directional_check(ops.power, pos(3, 4), pos(4))


UNARY = [
    (ops.exp, anyv), (ops.log, pos), (ops.log1p, pos), (ops.sqrt, pos), (ops.square, anyv),
    (ops.abs, anyv), (ops.negative, anyv), (lambda x: ops.clip(x, -0.5, 0.5), anyv),
    (ops.relu, anyv), (ops.relu6, lambda *s: anyv(*s) * 4 + 3), (ops.sigmoid, anyv), (ops.tanh, anyv),
    (ops.elu, anyv), (lambda x: ops.elu(x, 0.7), anyv), (ops.selu, anyv), (ops.softplus, anyv),
    (ops.softsign, anyv), (ops.silu, anyv), (lambda x: ops.gelu(x, approximate=False), anyv),
    (lambda x: ops.gelu(x, approximate=True), anyv), (lambda x: ops.hard_sigmoid(x), lambda *s: anyv(*s) * 4),
    (ops.hard_silu, lambda *s: anyv(*s) * 4), (ops.exponential, anyv), (ops.linear, anyv),
    (ops.leaky_relu, anyv), (lambda x: ops.leaky_relu(x, 0.1), anyv),
    (lambda x: ops.softmax(x), anyv), (lambda x: ops.softmax(x, axis=0), anyv),
    (lambda x: ops.log_softmax(x), anyv), (lambda x: ops.log_softmax(x, axis=0), anyv),
]


@pytest.mark.parametrize("case", range(len(UNARY)))
def test_unary(case):
    f, gen = UNARY[case]
    directional_check(f, gen(4, 5))


REDUCTIONS = [ops.sum, ops.mean, ops.max, ops.min]


@pytest.mark.parametrize("op", REDUCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                                           ((0, 2), True)])
def test_reductions(op, axis, keepdims):
    directional_check(lambda x: op(x, axis=axis, keepdims=keepdims), anyv(3, 4, 5))


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (1, 4, 5))])
def test_matmul(sa, sb):
    directional_check(ops.matmul, anyv(*sa), anyv(*sb))


def test_shape_ops():
    directional_check(lambda x: ops.reshape(x, (4, 6)), anyv(2, 3, 4))
    directional_check(lambda x: ops.transpose(x), anyv(2, 3, 4))
    directional_check(lambda x: ops.transpose(x, (1, 2, 0)), anyv(2, 3, 4))
    directional_check(lambda x: ops.expand_dims(x, 1), anyv(2, 3))
    directional_check(lambda x: ops.squeeze(x, 1), anyv(2, 1, 3))
    directional_check(lambda x: ops.broadcast_to(x, (4, 2, 3)), anyv(2, 1))
    directional_check(lambda a, b: ops.concatenate([a, b], axis=1), anyv(2, 3), anyv(2, 2))
    directional_check(lambda x: ops.take(x, np.array([0, 2, 2]), axis=0), anyv(3, 4))
    directional_check(lambda x: x[1:, ::2], anyv(3, 4))


def test_where_and_cast():
    cond = R.random((3, 4)) > 0.5
    directional_check(lambda a, b: ops.where(cond, a, b), anyv(3, 4), anyv(4))
    directional_check(lambda x: ops.cast(x, "float64") * 2.0, anyv(3))


def test_operators_record_on_the_tape():
    directional_check(lambda a, b: (a * b + 2.0) / (b ** 2) - a @ ops.transpose(b), pos(3, 3), pos(3, 3))


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "tanh", "gelu", "gelu_approximate", "elu",
                                 "selu", "softplus", "silu", "softsign", "exponential"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_dense_gradient(act, bias):
    if bias:
        directional_check(lambda x, w, b: ops.dense(x, w, b, act), anyv(5, 7), anyv(7, 3) * 0.5, anyv(3))
    else:
        directional_check(lambda x, w: ops.dense(x, w, None, act), anyv(5, 7), anyv(7, 3) * 0.5)


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "tanh", "gelu", "gelu_approximate", "softsign"])
def test_fused_dense_equals_unfused(act):
    x, w, b = anyv(6, 5), anyv(5, 4), anyv(4)
    nn = {"gelu": lambda z: ops.gelu(z, approximate=False), "gelu_approximate": lambda z: ops.gelu(z, True)}
    f = nn.get(act, getattr(ops, act, None))
    fused = ops.dense(x, w, b, act).numpy()
    unfused = f(ops.add(ops.matmul(x, w), b)).numpy()
    np.testing.assert_allclose(fused, unfused, rtol=1e-12, atol=1e-12)


def test_fused_dense_leading_axes():
    directional_check(lambda x, w, b: ops.dense(x, w, b, "tanh"), anyv(2, 3, 4), anyv(4, 5), anyv(5))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_xent_sparse(smoothing):
    labels = np.array([0, 3, 1, 2, 3])
    directional_check(lambda z: ops.softmax_cross_entropy(labels, z, sparse=True, label_smoothing=smoothing),
                      anyv(5, 4) * 3)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_xent_onehot(smoothing):
    t = np.eye(4)[[0, 3, 1, 2, 3]]
    t[0] = [0.2, 0.3, 0.5, 0.0]  # soft targets too
    directional_check(lambda z: ops.softmax_cross_entropy(t, z, sparse=False, label_smoothing=smoothing),
                      anyv(5, 4) * 3)


def test_softmax_xent_equals_unfused():
    z = anyv(6, 5) * 4
    labels = R.integers(0, 5, 6)
    t = np.eye(5)[labels]
    fused = ops.softmax_cross_entropy(labels, z, sparse=True).numpy()
    unfused = -(t * ops.log_softmax(z).numpy()).sum(1)
    np.testing.assert_allclose(fused, unfused, rtol=1e-12)
    np.testing.assert_allclose(ops.softmax_cross_entropy(t, z, sparse=False).numpy(), unfused, rtol=1e-12)


def test_softmax_xent_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32)
    loss = ops.softmax_cross_entropy(np.array([0, 1]), z).numpy()
    assert np.isfinite(loss).all()
    np.testing.assert_allclose(loss, [0.0, 2e4], rtol=1e-6)


def test_gradient_only_where_needed():
    """The first layer's input gradient is never computed: its backward gets needs=(False, True, True)."""
    from gpunet.ops.tape import GradientTape, Variable
    w, b = Variable(anyv(4, 3)), Variable(anyv(3))
    with GradientTape() as tape:
        y = ops.dense(anyv(2, 4).astype(np.float32), w, b, "relu")
        loss = ops.sum(y)
    assert tape.nodes[0].needs == (False, True, True)
    gw, gb = tape.gradient(loss, [w, b])
    assert gw.shape == (4, 3) and gb.shape == (3,)


def test_watch_constant_input():
    from gpunet.ops.tape import GradientTape
    x = ops.convert_to_tensor(np.array([1.0, 2.0, 3.0]))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.square(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 4.0, 6.0])


def test_softmax_xent_mean_reduction():
    labels = np.array([0, 3, 1, 2, 3])
    z = anyv(5, 4) * 3
    directional_check(lambda z: ops.softmax_cross_entropy(labels, z, reduction="mean"), z)
    assert float(ops.softmax_cross_entropy(labels, z, reduction="mean").numpy()) == pytest.approx(
        ops.softmax_cross_entropy(labels, z).numpy().mean(), rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda: __import__("gpunet").layers.Dense(3, activation="tanh", dtype="float64"),
    lambda: __import__("gpunet").layers.Dense(3, activation="softmax", dtype="float64"),
    lambda: __import__("gpunet").layers.Dense(3, activation="gelu", use_bias=False, dtype="float64"),
    lambda: __import__("gpunet").layers.Flatten(dtype="float64"),
    lambda: __import__("gpunet").layers.Reshape((2, -1), dtype="float64"),
    lambda: __import__("gpunet").layers.Activation("selu", dtype="float64"),
    lambda: __import__("gpunet").layers.Activation("leaky_relu", dtype="float64"),
    lambda: __import__("gpunet").layers.Dropout(0.5, dtype="float64"),  # inference: identity
], ids=["dense_tanh", "dense_softmax", "dense_gelu", "flatten", "reshape", "act_selu", "act_leaky", "dropout"])
def test_layer_input_gradients(make):
    layer = make()
    x = anyv(4, 2, 3)
    if "Dense" in type(layer).__name__:
        x = anyv(4, 6)
    directional_check(lambda t: layer(t), x)


def test_layer_weight_gradients_through_dense():
    import gpunet
    from gpunet.ops.tape import GradientTape
    layer = gpunet.layers.Dense(3, activation="sigmoid", dtype="float64")
    x = anyv(5, 4)
    layer(x)
    w0, b0 = layer.get_weights()
    dw, db = R.standard_normal(w0.shape), R.standard_normal(b0.shape)
    with GradientTape() as tape:
        loss = ops.sum(ops.square(layer(x)))
    gw, gb = tape.gradient(loss, [layer.kernel, layer.bias])
    analytic = float((gw.numpy() * dw).sum() + (gb.numpy() * db).sum())

    def at(s):
        layer.set_weights([w0 + s * dw, b0 + s * db])
        return float(ops.sum(ops.square(layer(x))).numpy())
    numeric = (at(1e-6) - at(-1e-6)) / 2e-6
    assert analytic == pytest.approx(numeric, rel=1e-6)


def test_dropout_gradient_is_the_mask():
    import gpunet
    from gpunet.ops.tape import GradientTape, Variable
    x = Variable(np.ones((200, 10)), dtype="float64")
    with GradientTape() as tape:
        y = gpunet.layers.Dropout(0.25, dtype="float64")(x, training=True)
        loss = ops.sum(y)
    g = tape.gradient(loss, x).numpy()
    np.testing.assert_array_equal(g, y.numpy())  # d(sum(x*mask))/dx = mask, which is y for x = 1
    assert set(np.unique(g)) <= {0.0, 1 / 0.75}
