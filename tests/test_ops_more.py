"""The rest of keras.ops: each op against real Keras's NumPy backend on the same inputs, and each
differentiable one's gradient against a float64 central difference."""
import numpy as np
import pytest

from gpunet import ops
from gradcheck import directional_check
from keras_ref import keras

R = np.random.default_rng(7)


def anyv(*s):
    return R.standard_normal(s)


def unit(*s):
    return R.uniform(-0.9, 0.9, s)


def pos(*s):
    return R.uniform(0.5, 2.0, s)


def big(*s):
    return R.uniform(1.2, 3.0, s)


def ints(*s):
    return R.integers(0, 5, s)


A = anyv(3, 4)
# (op name, positional args, keyword args): gpunet.ops.<name> and keras.ops.<name> must agree
AGAINST_KERAS = [
    ("sin", (A,), {}), ("cos", (A,), {}), ("tan", (unit(3, 4),), {}), ("arcsin", (unit(3, 4),), {}),
    ("arccos", (unit(3, 4),), {}), ("arctan", (A,), {}), ("sinh", (A,), {}), ("cosh", (A,), {}),
    ("arcsinh", (A,), {}), ("arccosh", (big(3, 4),), {}), ("arctanh", (unit(3, 4),), {}), ("expm1", (A,), {}),
    ("exp2", (A,), {}), ("log2", (pos(3, 4),), {}), ("log10", (pos(3, 4),), {}), ("cbrt", (A,), {}),
    ("reciprocal", (pos(3, 4),), {}), ("rsqrt", (pos(3, 4),), {}), ("erf", (A,), {}), ("erfinv", (unit(3, 4),), {}),
    ("fabs", (A,), {}), ("deg2rad", (A,), {}), ("rad2deg", (A,), {}), ("sinc", (A,), {}), ("log_sigmoid", (A,), {}),
    ("tanh_shrink", (A,), {}), ("ceil", (A,), {}), ("floor", (A,), {}), ("trunc", (A,), {}), ("round", (A * 3,), {}),
    ("isfinite", (A,), {}), ("isnan", (A,), {}), ("isinf", (A,), {}), ("signbit", (A,), {}),
    ("logical_not", (A > 0,), {}), ("arctan2", (A, pos(3, 4)), {}), ("hypot", (A, anyv(4)), {}),
    ("logaddexp", (A, anyv(3, 4)), {}), ("mod", (A * 5, pos(3, 4)), {}), ("floor_divide", (A * 5, pos(3, 4)), {}),
    ("fmod", (A * 5, pos(3, 4)), {}), ("logical_and", (A > 0, A < 1), {}), ("logical_or", (A > 0, A < -1), {}),
    ("logical_xor", (A > 0, A < 1), {}), ("divide_no_nan", (A, np.where(A > 0, A, 0)), {}),
    ("isclose", (A, A + 1e-9), {}), ("heaviside", (A, 0.5), {}),
    ("prod", (A,), {"axis": 1}), ("var", (A,), {"axis": 0}), ("std", (A,), {}), ("amax", (A,), {"axis": 1}),
    ("amin", (A,), {}), ("ptp", (A,), {"axis": 1}), ("logsumexp", (A,), {"axis": 1}), ("all", (A > -3,), {}),
    ("any", (A > 1,), {"axis": 0}), ("count_nonzero", (A > 0,), {"axis": 1}), ("cumsum", (A,), {"axis": 1}),
    ("cumprod", (A,), {"axis": 0}), ("cumsum", (A,), {}), ("median", (A,), {"axis": 1}),
    ("quantile", (A, 0.3), {"axis": 0}), ("percentile", (A, 70.0), {}), ("average", (A,), {"axis": 1, "weights": pos(4)}),
    ("norm", (A,), {}), ("norm", (A,), {"axis": 1}), ("norm", (A,), {"ord": 1, "axis": 0}),
    ("stack", ([A, A * 2],), {"axis": 1}), ("tile", (A, (2, 1)), {}), ("repeat", (A, 2), {"axis": 0}),
    ("flip", (A,), {"axis": 1}), ("roll", (A, 2), {"axis": 1}), ("moveaxis", (anyv(2, 3, 4), 0, 2), {}),
    ("swapaxes", (anyv(2, 3, 4), 0, 2), {}), ("ravel", (A,), {}), ("diagonal", (A,), {}), ("trace", (A,), {}),
    ("diag", (anyv(3),), {}), ("tril", (A,), {}), ("triu", (A,), {"k": 1}), ("pad", (A, ((1, 0), (0, 2))), {}),
    ("take_along_axis", (A, ints(3, 2) % 4), {"axis": 1}), ("append", (A, A), {"axis": 0}), ("hstack", ([A, A],), {}),
    ("vstack", ([A, A],), {}), ("rot90", (A,), {}), ("fliplr", (A,), {}), ("flipud", (A,), {}),
    ("sort", (A,), {"axis": 1}), ("argsort", (A,), {"axis": 0}), ("searchsorted", (np.arange(5.0), A), {}),
    ("digitize", (A, np.array([-1.0, 0.0, 1.0])), {}), ("bincount", (ints(9),), {}), ("outer", (anyv(3), anyv(4)), {}),
    ("inner", (A, anyv(5, 4)), {}), ("vdot", (A, A), {}), ("kron", (anyv(2, 3), anyv(2, 2)), {}),
    ("cross", (anyv(4, 3), anyv(4, 3)), {}), ("tensordot", (anyv(2, 3, 4), anyv(4, 3, 5)), {"axes": ([1, 2], [1, 0])}),
    ("einsum", ("ij,jk->ik", A, anyv(4, 2)), {}), ("einsum", ("bij,bjk->bik", anyv(2, 3, 4), anyv(2, 4, 5)), {}),
    ("celu", (A,), {}), ("glu", (anyv(3, 6),), {}), ("hard_shrink", (A,), {}), ("soft_shrink", (A,), {}),
    ("hard_tanh", (A * 2,), {}), ("squareplus", (A,), {}), ("sparse_plus", (A * 2,), {}),
    ("sparse_sigmoid", (A * 2,), {}), ("threshold", (A, 0.1, -2.0), {}),
    ("moments", (A, [0]), {}), ("rms_normalization", (A,), {}), ("normalize", (A,), {}),
    ("layer_normalization", (A,), {}), ("batch_normalization", (A, anyv(4), pos(4), -1), {"offset": anyv(4), "scale": pos(4)}),
    ("binary_crossentropy", (R.random((3, 4)), R.uniform(0.05, 0.95, (3, 4))), {}),
    ("binary_crossentropy", (R.random((3, 4)), A), {"from_logits": True}),
    ("categorical_crossentropy", (np.eye(4)[[0, 2, 3]], np.abs(A) + 0.1), {}),
    ("categorical_crossentropy", (np.eye(4)[[0, 2, 3]], A), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1]), A), {"from_logits": True}),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 4), {}), ("in_top_k", (np.array([0, 3, 1]), A, 2), {}),
    ("top_k", (A, 2), {}), ("inv", (anyv(3, 3) + 3 * np.eye(3),), {}), ("det", (anyv(3, 3),), {}),
    ("solve", (anyv(3, 3) + 3 * np.eye(3), anyv(3, 2)), {}), ("logdet", (anyv(3, 3) @ anyv(3, 3).T + np.eye(3),), {}),
    ("arange", (2, 9, 3), {}), ("linspace", (0.0, 1.0, 5), {}), ("eye", (3, 4), {"k": 1}), ("tri", (3,), {}),
    ("full", ((2, 3), 1.5), {}), ("full_like", (A, 2.0), {}), ("identity", (3,), {}),
    ("dot_product_attention", (anyv(2, 5, 2, 4), anyv(2, 6, 2, 4), anyv(2, 6, 2, 4)), {}),
    ("dot_product_attention", (anyv(2, 5, 2, 4), anyv(2, 5, 2, 4), anyv(2, 5, 2, 4)), {"is_causal": True}),
    ("segment_sum", (anyv(5, 2), np.array([0, 0, 1, 2, 2])), {"num_segments": 3}),
    ("segment_max", (anyv(5, 2), np.array([0, 0, 1, 2, 2])), {"num_segments": 3}),
    ("cdist", (anyv(3, 2), anyv(4, 2)), {}), ("diff", (A,), {}), ("trapezoid", (A,), {}),
    ("nan_to_num", (np.where(A > 1, np.nan, A),), {}), ("nanmean", (np.where(A > 1, np.nan, A),), {"axis": 1}),
    ("nansum", (np.where(A > 1, np.nan, A),), {}), ("unstack", (A,), {}), ("split", (anyv(6, 2), 3), {}),
    ("array_split", (anyv(7, 2), 3), {}), ("select", ([A > 0.5, A < -0.5], [A, -A]), {}),
]


def _np(v):
    if isinstance(v, (list, tuple)):
        return [_np(x) for x in v]
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


@pytest.mark.parametrize("case", range(len(AGAINST_KERAS)), ids=lambda i: AGAINST_KERAS[i][0])
def test_op_matches_keras(case):
    k = keras()
    name, args, kwargs = AGAINST_KERAS[case]
    ours, theirs = getattr(ops, name)(*args, **kwargs), getattr(k.ops, name)(*args, **kwargs)
    o, t = _np(ours), _np(theirs)
    if isinstance(t, list):
        assert len(o) == len(t)
        for a, b in zip(o, t):
            np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-5, atol=1e-6)
    else:
        assert o.shape == t.shape, (o.shape, t.shape)
        np.testing.assert_allclose(o.astype(float), t.astype(float), rtol=1e-5, atol=1e-6)


# differentiable ops: float64 gradient against central differences
GRADS = [
    (ops.sin, anyv), (ops.cos, anyv), (ops.tan, unit), (ops.arcsin, unit), (ops.arccos, unit), (ops.arctan, anyv),
    (ops.sinh, anyv), (ops.cosh, anyv), (ops.arcsinh, anyv), (ops.arccosh, big), (ops.arctanh, unit),
    (ops.expm1, anyv), (ops.exp2, anyv), (ops.log2, pos), (ops.log10, pos), (ops.cbrt, pos), (ops.reciprocal, pos),
    (ops.rsqrt, pos), (ops.erf, anyv), (ops.erfc, anyv), (ops.erfinv, unit), (ops.fabs, anyv), (ops.sinc, anyv),
    (ops.log_sigmoid, anyv), (ops.tanh_shrink, anyv), (ops.deg2rad, anyv),
    (lambda x: ops.prod(x, axis=1), anyv), (lambda x: ops.prod(x), pos), (lambda x: ops.var(x, axis=0), anyv),
    (lambda x: ops.std(x), anyv), (lambda x: ops.logsumexp(x, axis=1), anyv), (lambda x: ops.cumsum(x, axis=1), anyv),
    (lambda x: ops.cumprod(x, axis=0), pos), (lambda x: ops.norm(x, axis=1), anyv), (lambda x: ops.ptp(x, axis=0), anyv),
    (lambda x: ops.average(x, axis=1, weights=np.arange(1.0, 6.0)), anyv),
    (lambda x: ops.stack([x, ops.square(x)], axis=1), anyv), (lambda x: ops.tile(x, (2, 3)), anyv),
    (lambda x: ops.repeat(x, 2, axis=1), anyv), (lambda x: ops.flip(x, axis=0), anyv), (lambda x: ops.roll(x, 1, axis=1), anyv),
    (lambda x: ops.moveaxis(x, 0, 1), anyv), (lambda x: ops.diagonal(x), anyv), (lambda x: ops.trace(x), anyv),
    (lambda x: ops.tril(x), anyv), (lambda x: ops.pad(x, ((1, 2), (0, 1))), anyv),
    (lambda x: ops.pad(x, ((1, 2), (0, 1)), mode="reflect"), anyv),
    (lambda x: ops.take_along_axis(x, np.array([[0, 3], [1, 1], [2, 0], [3, 3]]), axis=1), anyv),
    (lambda x: ops.split(x, [2], axis=1)[1], anyv), (lambda x: ops.unstack(x)[2], anyv), (lambda x: ops.sort(x, axis=1), anyv),
    (lambda x: ops.top_k(x, 2)[0], anyv), (lambda x: ops.outer(x[0], x[1]), anyv), (lambda x: ops.kron(x, x), anyv),
    (lambda x: ops.tensordot(x, x, axes=([1], [1])), anyv), (lambda x: ops.einsum("ij,kj->ik", x, ops.square(x)), anyv),
    (lambda x: ops.einsum("ij->j", x), anyv), (lambda x: ops.cross(x[:, :3], x[:, 1:]), anyv),
    (ops.celu, anyv), (lambda x: ops.glu(x[:, :4]), anyv), (ops.squareplus, anyv), (ops.sparsemax, anyv),
    (lambda x: ops.layer_normalization(x), anyv), (lambda x: ops.rms_normalization(x), anyv), (ops.normalize, anyv),
    (lambda x: ops.moments(x, [0])[1], anyv), (lambda x: ops.binary_crossentropy(np.full(x.shape, 0.3), x, from_logits=True), anyv),
    (lambda x: ops.categorical_crossentropy(np.eye(5)[[0, 1, 4, 2]], x, from_logits=True), anyv),
    (lambda x: ops.inv(ops.add(x[:, :4], 4 * np.eye(4))), anyv), (lambda x: ops.det(x[:, :4]), anyv),
    (lambda x: ops.solve(ops.add(x[:, :4], 4 * np.eye(4)), x[:, 4]), anyv),
    (lambda x: ops.logdet(ops.add(ops.matmul(x[:, :4], ops.transpose(x[:, :4])), np.eye(4))), anyv),
    (lambda x: ops.divide_no_nan(x, np.where(np.arange(5) > 2, 1.5, 0.0)), anyv),
    (lambda x: ops.arctan2(x, ops.add(ops.square(x), 1.0)), anyv), (lambda x: ops.hypot(x, 1.5), anyv),
    (lambda x: ops.logaddexp(x, ops.square(x)), anyv), (lambda x: ops.mod(x, 0.7), anyv),
    (lambda x: ops.segment_sum(x, np.array([0, 1, 1, 0])), anyv), (lambda x: ops.cdist(x, ops.square(x)), anyv),
    (lambda x: ops.diff(x, n=2), anyv), (lambda x: ops.slice_update(x, (1, 1), ops.square(x[:2, :2])), anyv),
    (lambda x: ops.dot_product_attention(ops.reshape(x, (1, 4, 1, 5)), ops.reshape(x, (1, 4, 1, 5)),
                                         ops.reshape(ops.square(x), (1, 4, 1, 5))), anyv),
]


@pytest.mark.parametrize("case", range(len(GRADS)))
def test_gradient(case):
    f, gen = GRADS[case]
    directional_check(f, gen(4, 5))


def test_sparsemax_is_the_simplex_projection():
    """Keras's own sparsemax sums the wrong cumulative sums (all zeros here), so the referee is the
    definition: max(z - tau, 0) with tau found by bisection so that the output sums to 1."""
    x = anyv(5, 7)
    lo, hi = x.min(-1, keepdims=True) - 1, x.max(-1, keepdims=True)
    for _ in range(200):
        tau = (lo + hi) / 2
        over = np.maximum(x - tau, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(over, tau, lo), np.where(over, hi, tau)
    np.testing.assert_allclose(ops.sparsemax(x).numpy(), np.maximum(x - (lo + hi) / 2, 0), rtol=1e-6, atol=1e-9)


def test_custom_gradient_and_control_flow():
    @ops.custom_gradient
    def clip_grad(x):
        def grad(upstream):
            return ops.clip(upstream, -0.1, 0.1)
        return ops.multiply(x, 2.0), grad
    from gpunet import GradientTape, Variable
    v = Variable(np.array([1.0, -2.0], dtype="float32"))
    with GradientTape() as tape:
        y = ops.sum(ops.multiply(clip_grad(v), 5.0))
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [0.1, 0.1])
    assert float(ops.cond(ops.greater(1.0, 0.0), lambda: ops.ones(()), lambda: ops.zeros(()))) == 1.0
    assert ops.fori_loop(0, 4, lambda i, v: v + i, 0) == 6
    assert ops.while_loop(lambda x: x < 10, lambda x: x * 2, 1) == 16
    carry, ys = ops.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(1.0, 4.0))
    assert float(carry) == 6.0 and np.allclose(np.asarray(ys), [0.0, 2.0, 9.0])
    np.testing.assert_allclose(np.asarray(ops.associative_scan(lambda a, b: a + b, np.arange(5.0))), np.cumsum(np.arange(5.0)))
    np.testing.assert_allclose(np.asarray(ops.map(lambda r: ops.sum(r), np.ones((3, 2)))), [2, 2, 2])


def test_symbolic_ops_build_functional_models():
    """keras.ops on KerasTensors make graph nodes, saved and loaded as Keras saves ops."""
    import gpunet
    from gpunet import layers
    a, b = gpunet.Input((4,), name="a"), gpunet.Input((4,), name="b")
    h = layers.Dense(4)(a)
    out = ops.concatenate([h * b + 1.0, ops.exp(-b), ops.stack([a, b], axis=1)[:, 0]], axis=-1)
    out = ops.mean(ops.reshape(out, (-1, 3, 4)), axis=1)
    m = gpunet.Model([a, b], out)
    x = [anyv(5, 4).astype("float32"), anyv(5, 4).astype("float32")]
    W, bias = m.get_weights()
    hh = x[0] @ W + bias
    want = np.concatenate([hh * x[1] + 1, np.exp(-x[1]), x[0]], -1).reshape(5, 3, 4).mean(1)
    np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5)
    m2 = gpunet.Model.from_config(m.get_config())
    m2.set_weights(m.get_weights())
    np.testing.assert_allclose(m2.predict(x, verbose=0), want, rtol=1e-5)
    assert [type(l).__name__ for l in m._functional_layers][-3:] == ["FunctionOp"] * 3  # graph operations,
    assert all(type(l).__name__ != "FunctionOp" for l in m.layers)  # not layers (Keras 3's model.layers)
    with pytest.raises(TypeError, match="truth value"):
        bool(a)


def test_symbolic_model_config_loads_in_keras(tmp_path):
    """A Functional model with ops nodes: Keras reads gpunet's config and computes the same numbers."""
    k = keras()
    import gpunet
    from gpunet import layers
    a = gpunet.Input((3,), name="a")
    h = layers.Dense(3, name="d")(a)
    out = ops.concatenate([h + a, ops.exp(a)], axis=-1)
    m = gpunet.Model(a, out)
    theirs = k.Model.from_config(m.get_config())
    theirs.set_weights(m.get_weights())
    x = anyv(4, 3).astype("float32")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), m.predict(x, verbose=0), rtol=1e-5)
    ours = gpunet.Model.from_config(k.Model.from_config(m.get_config()).get_config())
    ours.set_weights(m.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_dot_product_attention_with_a_mask_and_is_causal_matches_keras():
    k = keras()
    q, kk, v = anyv(2, 5, 2, 4), anyv(2, 5, 2, 4), anyv(2, 5, 2, 4)
    mask = R.random((2, 2, 5, 5)) > 0.2
    mask[..., 0] = True  # every query sees at least one key
    ours = ops.dot_product_attention(q, kk, v, mask=mask, is_causal=True).numpy()
    theirs = np.asarray(k.ops.dot_product_attention(q, kk, v, mask=mask, is_causal=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_the_gradient_of_max_and_min_stays_float32():
    """The tie count divides the gradient in its own dtype: a float64 gradient reached the fused recurrent op
    (GlobalMaxPooling1D after a GRU) and the float32 cell kernels refused it."""
    from gpunet.ops.tape import GradientTape, Variable
    x = Variable(np.array([[1.0, 3.0, 3.0], [2.0, 0.5, 1.0]], np.float32))
    want = {ops.max: [[0, 0.5, 0.5], [1, 0, 0]], ops.min: [[1, 0, 0], [0, 1, 0]]}
    for fn in (ops.max, ops.min):
        with GradientTape() as tape:
            loss = ops.sum(fn(x, axis=1))
        g = tape.gradient(loss, x)
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g.numpy(), want[fn])
