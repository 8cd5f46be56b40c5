"""kernels/conv.cu, pool.cu and norm.cu against their NumPy references (gpunet/ops/convolution.py and
norm.py run in float64), through the ops themselves, in the emulated tier (CI) and on a GPU. Shapes
are odd and not multiples of the 64×64 tiles; outputs the launchers allocate are NaN-poisoned in the
emulated tier, so an element a kernel never writes fails here."""
import numpy as np
import pytest
from conftest import in_tier

from gpunet import ops
from gpunet.ops import batchnorm as norm, convolution as C
from gpunet.ops.tape import GradientTape, Variable

# every kernel of this family and the tests here that run it (tests/test_kernels.py checks the list)
COVERS = {
    "conv_forward": ["test_conv_kernels_at_odd_shapes", "test_conv_transpose_kernels"],
    "conv_backward_data": ["test_conv_kernels_at_odd_shapes", "test_conv_transpose_kernels"],
    "conv_backward_weight": ["test_conv_kernels_at_odd_shapes", "test_conv_transpose_kernels"],
    "max_pool_forward": ["test_pool_kernels"],
    "max_pool_backward": ["test_pool_kernels"],
    "avg_pool_forward": ["test_pool_kernels"],
    "avg_pool_backward": ["test_pool_kernels"],
    "bn_stats": ["test_batch_norm_kernels"],
    "bn_forward": ["test_batch_norm_kernels"],
    "bn_backward_reduce": ["test_batch_norm_kernels"],
    "bn_backward_data": ["test_batch_norm_kernels"],
}


def _run(fn, arrays, w, dtype):
    """fn's output and the gradient of sum(out·w) for every input, at dtype."""
    vs = [Variable(np.asarray(a, dtype=dtype), dtype=dtype) for a in arrays]
    with GradientTape() as tape:
        out = fn(*vs)
        loss = ops.sum(ops.multiply(out, np.asarray(w, dtype=dtype)))
    grads = tape.gradient(loss, vs)
    return [np.asarray(out.numpy(), np.float64)] + [None if g is None else np.asarray(g.numpy(), np.float64)
                                                    for g in grads]


def check(tier, fn, arrays, kernel_names, rtol=2e-4, seed=0):
    """The kernel tier (float32) against the NumPy path (float64), output and every gradient."""
    with in_tier("numpy"):
        probe = fn(*[ops.convert_to_tensor(np.asarray(a, np.float64)) for a in arrays])
        w = np.random.default_rng(seed).standard_normal(probe.shape)
        want = _run(fn, arrays, w, np.float64)
    before = tier.launches()
    got = _run(fn, arrays, w, np.float32)
    tier.assert_launched(before, *kernel_names)
    for i, (g, r) in enumerate(zip(got, want)):
        assert g is not None and r is not None
        assert g.shape == r.shape, (i, g.shape, r.shape)
        assert np.isfinite(g).all(), "result %d has NaN (an element the kernel never wrote?)" % i
        scale = max(np.abs(r).max(), 1.0)
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale, err_msg="result %d" % i)


CONV_CASES = [
    # nd, batch, spatial, C, F, kernel, strides, dilation, padding, groups, data_format, activation
    (2, 2, (9, 7), 3, 5, (3, 2), (1, 1), (1, 1), "valid", 1, "channels_last", "relu"),
    (2, 3, (10, 11), 4, 6, (3, 3), (2, 3), (1, 1), "same", 2, "channels_last", "linear"),
    (2, 2, (8, 9), 6, 9, (2, 3), (1, 1), (2, 1), "same", 3, "channels_first", "gelu"),
    (2, 1, (70, 5), 2, 67, (3, 1), (1, 1), (1, 1), "valid", 1, "channels_last", "tanh"),  # M and F past a tile
    (1, 3, (13,), 5, 4, (4,), (3,), (1,), "same", 1, "channels_last", "sigmoid"),
    (1, 2, (11,), 4, 4, (3,), (1,), (2,), "valid", 4, "channels_first", "relu"),  # depthwise-like groups
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "%dd-%s-g%d-%s-%s" % (c[0], c[8], c[9], c[10], c[11]))
def test_conv_kernels_at_odd_shapes(kernel_tier, case):
    nd, n, sp, c, f, k, s, d, pad, groups, fmt, act = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n,) + sp + (c,))
    if fmt == "channels_first":
        x = np.moveaxis(x, -1, 1).copy()
    W = rng.standard_normal(k + (c // groups, f)) * 0.5
    b = rng.standard_normal(f)
    check(kernel_tier, lambda x_, w_, b_: C.conv_bias_act(x_, w_, b_, act, s, pad, fmt, d), [x, W, b],
          ["conv_forward", "conv_backward_data", "conv_backward_weight"])


@pytest.mark.parametrize("act,groups", [("relu", 1), ("gelu", 2)])
def test_conv_bias_gradient_of_many_positions_in_parallel(kernel_tier, act, groups):
    """Past DB_SERIAL_ROWS output positions (here 2·47·49 = 4,606) db is summed by dense.cu's bias_grad
    kernels in parallel, not by the weight-gradient blocks' 4 lanes a column."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 49, 51, 2))
    W = rng.standard_normal((3, 3, 2 // groups, 4)) * 0.5
    b = rng.standard_normal(4)
    check(kernel_tier, lambda x_, w_, b_: C.conv_bias_act(x_, w_, b_, act, 1, "valid", "channels_last", 1), [x, W, b],
          ["conv_forward", "conv_backward_data", "conv_backward_weight", "bias_grad_partial", "bias_grad_final"])


@pytest.mark.parametrize("padding,strides,output_padding", [("valid", (2, 1), None), ("same", (2, 3), (1, 0)),
                                                            ("same", (1, 1), None)])
def test_conv_transpose_kernels(kernel_tier, padding, strides, output_padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 4, 3))
    W = rng.standard_normal((3, 2, 4, 3)) * 0.5
    check(kernel_tier, lambda x_, w_: ops.conv_transpose(x_, w_, strides, padding, output_padding), [x, W],
          ["conv_forward", "conv_backward_data", "conv_backward_weight"])


@pytest.mark.parametrize("op", ["max_pool", "average_pool"])
@pytest.mark.parametrize("shape,pool,strides,padding,fmt", [
    ((2, 9, 7, 3), (2, 2), None, "valid", "channels_last"),
    ((2, 9, 7, 3), (3, 2), (2, 1), "same", "channels_last"),   # overlapping windows, partial windows
    ((3, 4, 10, 5), (3, 3), (2, 2), "same", "channels_first"),
    ((2, 17, 3), (4,), (3,), "same", "channels_last"),
])
def test_pool_kernels(kernel_tier, op, shape, pool, strides, padding, fmt):
    x = np.random.default_rng(3).standard_normal(shape)
    if op == "max_pool":
        x[0, :2] = 0.0  # ties: the gradient must go to the first maximum only, as the reference does
    fn = getattr(ops, op)
    names = ["max_pool_forward", "max_pool_backward"] if op == "max_pool" else ["avg_pool_forward",
                                                                                 "avg_pool_backward"]
    check(kernel_tier, lambda x_: fn(x_, pool, strides, padding, fmt), [x], names)


@pytest.mark.parametrize("shape,axis", [((37, 5), -1), ((3, 4, 5, 7), 1), ((2, 3, 300), -1), ((5, 3, 2, 2), -1)])
def test_batch_norm_kernels(kernel_tier, shape, axis):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 3 + 1.5
    n = shape[axis]
    gamma, beta = rng.standard_normal(n), rng.standard_normal(n)
    names = ["bn_stats", "bn_forward", "bn_backward_reduce", "bn_backward_data"]
    check(kernel_tier, lambda x_, g_, b_: norm.batch_norm_train(x_, g_, b_, axis, 1e-3)[0], [x, gamma, beta], names)
    mean, var = rng.standard_normal(n), rng.random(n) + 0.5
    check(kernel_tier, lambda x_, g_, b_: norm.batch_norm_apply(x_, ops.convert_to_tensor(mean.astype(x_.dtype)),
                                                                ops.convert_to_tensor(var.astype(x_.dtype)),
                                                                g_, b_, axis, 1e-3),
          [x, gamma, beta], ["bn_forward", "bn_backward_reduce"])
    # no gamma, no beta
    check(kernel_tier, lambda x_: norm.batch_norm_train(x_, None, None, axis, 1e-3)[0], [x], names)


def test_batch_norm_statistics_in_the_kernel_tier(kernel_tier):
    x = np.random.default_rng(5).standard_normal((50, 6)).astype(np.float32) * 4 + 2
    _, mean, var = norm.batch_norm_train(ops.convert_to_tensor(x), None, None, -1, 1e-3)
    np.testing.assert_allclose(kernel_tier.host(mean), x.astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kernel_tier.host(var), x.astype(np.float64).var(0), rtol=1e-4)
