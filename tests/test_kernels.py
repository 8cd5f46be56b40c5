"""Every kernel in kernels/*.cu against its NumPy reference, through gpunet's own launchers, in two
tiers (the `kernel_tier` fixture): emulated on the CPU through HIP-CPU (marker `emulated`, every CI
run) and on a GPU through CuPy (marker `gpu`, where one exists). llm.c dev/cuda style: float64
references, shapes that are not multiples of the 64×64 tiles, and outputs the launchers allocate
poisoned with NaN in the emulated tier, so an element a kernel never writes fails the test."""
import itertools
import math

import numpy as np
import pytest
from conftest import in_tier

from gpunet import ops, optimizers
from gpunet.kernels import build, dense, emulated, launch, optim, softmax_xent, step
from gpunet.ops.tape import GradientTape, Variable

ACTS = ["linear", "relu", "sigmoid", "tanh", "gelu", "gelu_approximate"]
SIZES = (1, 7, 17, 33, 65, 100, 784)  # in each of M, K, N: below, across and far past one tile
CUBE = list(itertools.product(SIZES, SIZES, SIZES))

# every `extern "C" __global__` kernel and the tests that run it in the emulated tier
COVERS = {
    "dense_forward": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "dense_backward_data": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "dense_backward_weight": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "softmax_xent_forward": ["test_softmax_xent_kernels", "test_softmax_xent_huge_logits",
                             "test_softmax_xent_label_out_of_range"],
    "xent_row_sums": ["test_softmax_xent_kernels"],
    "softmax_xent_backward": ["test_softmax_xent_kernels", "test_softmax_xent_huge_logits"],
    "adam_update": ["test_optimizer_kernel_matches_numpy_optimizer"],
    "sgd_update": ["test_optimizer_kernel_matches_numpy_optimizer"],
    "rmsprop_update": ["test_optimizer_kernel_matches_numpy_optimizer"],
    "adam_update_ctl": ["test_optimizer_ctl_kernels_equal_by_value_kernels"],
    "sgd_update_ctl": ["test_optimizer_ctl_kernels_equal_by_value_kernels"],
    "rmsprop_update_ctl": ["test_optimizer_ctl_kernels_equal_by_value_kernels"],
    "xent_accumulate": ["test_xent_padding_rows_accumulate_and_scalar_gradient"],
    "step_begin": ["test_step_begin_advances_the_control_block"],
    "gather_batch": ["test_gather_batch"],
    "dropout_forward": ["test_dropout_kernels_draw_the_philox_reference_masks"],
    "dropout_mask": ["test_dropout_kernels_draw_the_philox_reference_masks"],
    "mask_multiply": ["test_dropout_kernels_draw_the_philox_reference_masks"],
    "rows_out": ["test_rows_out"],
    "grad_sumsq": ["test_clipping_kernels_match_the_numpy_clip"],
    "grad_clip": ["test_clipping_kernels_match_the_numpy_clip"],
    "grad_unscale": ["test_unscale_and_moving_average_kernels"],
    "ema_update_ctl": ["test_unscale_and_moving_average_kernels"],
    "grad_accumulate_ctl": ["test_unscale_and_moving_average_kernels"],
    "dense_forward_partial": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "dense_backward_data_partial": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "splitk_reduce": ["test_dense_kernels_at_odd_shapes", "test_dense_every_activation_and_option"],
    "bias_grad_partial": ["test_dense_bias_gradient_of_many_rows_in_parallel"],
    "bias_grad_final": ["test_dense_bias_gradient_of_many_rows_in_parallel"],
    "dense_xent_head": ["test_the_fused_head_equals_the_separate_kernels"],
}


@pytest.mark.emulated
def test_every_kernel_has_an_emulated_test():
    found = {}
    for f in build.kernel_files():
        for name in emulated.kernel_names(f.read_text()):
            found[name] = f.name
    import test_conv_kernels  # the convolution and recurrent families keep their own lists beside their tests
    import test_attention_program
    import test_graph_program
    import test_recurrent_program
    import test_rnn_kernels
    covers = {name: [(globals(), t) for t in tests] for name, tests in COVERS.items()}
    for family in (test_conv_kernels, test_rnn_kernels, test_graph_program, test_recurrent_program,
                   test_attention_program):
        covers.update({name: [(vars(family), t) for t in tests] for name, tests in family.COVERS.items()})
    missing = sorted(set(found) - set(covers))
    assert not missing, "kernels without an emulated test (add one and list it in COVERS): %s" % missing
    assert not set(covers) - set(found), "COVERS names kernels that no longer exist"
    for name, tests in covers.items():
        for space, t in tests:
            fn = space.get(t)
            assert fn is not None, "%s: COVERS lists %s, which does not exist" % (name, t)
            assert "kernel_tier" in fn.__code__.co_varnames[:fn.__code__.co_argcount], t


# ---- references ----

def ref_act(z, act):
    """act(z) and act'(z) in float64."""
    if act == "linear":
        return z, np.ones_like(z)
    if act == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if act == "sigmoid":
        y = 1 / (1 + np.exp(-z))
        return y, y * (1 - y)
    if act == "tanh":
        y = np.tanh(z)
        return y, 1 - y * y
    if act == "gelu":
        cdf = 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2)))
        return z * cdf, cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (z + 0.044715 * z ** 3))
    return 0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)


def rel_err(got, want):
    """Largest error relative to the reference's scale; NaN (an unwritten, poisoned element) -> inf."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return np.inf
    if got.size == 0:
        return 0.0
    e = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    return float(e) if np.isfinite(e) else np.inf


def check_dense(tier, shape, act, bias, need=(True, True, True), seed=0, variant="tile"):
    """The dense kernels of one GPUNET_DENSE_VARIANT against float64 NumPy; each launch the rule picks ran."""
    import os
    M, K, N = shape
    saved = os.environ.get("GPUNET_DENSE_VARIANT")
    os.environ["GPUNET_DENSE_VARIANT"] = variant
    try:
        _check_dense(tier, shape, act, bias, need, seed)
    finally:
        if saved is None:
            del os.environ["GPUNET_DENSE_VARIANT"]
        else:
            os.environ["GPUNET_DENSE_VARIANT"] = saved


def _planned(rows, cols, inner, tile, partial):
    return [tile] if dense.gemm_plan(rows, cols, inner)[0] == "tile" else [partial, "splitk_reduce"]


def _check_dense(tier, shape, act, bias, need, seed):
    M, K, N = shape
    rng = np.random.default_rng([M, K, N, seed])
    x, w, b, dy = (rng.standard_normal(s) for s in ((M, K), (K, N), (N,), (M, N)))
    w /= np.sqrt(max(K, 1))
    if not bias:
        b = np.zeros(N)
    before = tier.launches()
    X, W = tier.dev(x), tier.dev(w)
    Y, Z = dense.dense_forward(X, W, tier.dev(b) if bias else None, act)
    y, dact = ref_act(x @ w + b, act)
    Yh = tier.host(Y)
    assert rel_err(Yh, y) < 2e-5, ("forward", shape, act, bias)
    if act == "relu":  # the derivative from the kernel's own output: a z within rounding of 0 may flip
        dact = (Yh > 0).astype(np.float64)
    dz = dy * dact
    gx, gW, gb = dense.dense_backward(X, W, Y, Z, tier.dev(dy), act, need[0], need[1], bias and need[2])
    for got, want, on in ((gx, dz @ w.T, need[0]), (gW, x.T @ dz, need[1]), (gb, dz.sum(0), bias and need[2])):
        if on:
            assert rel_err(tier.host(got), want) < 2e-5, ("backward", shape, act, bias)
        else:
            assert got is None
    names = _planned(M, N, K, "dense_forward", "dense_forward_partial")
    names += _planned(M, K, N, "dense_backward_data", "dense_backward_data_partial") if need[0] else []
    names += ["dense_backward_weight"] if need[1] or (bias and need[2]) else []
    tier.assert_launched(before, *names)


@pytest.mark.parametrize("i", range(len(CUBE)), ids=lambda i: "%dx%dx%d" % CUBE[i])
def test_dense_kernels_at_odd_shapes(kernel_tier, i):
    """Every (M, K, N) in SIZES³; the activation and the bias rotate so each pair meets many shapes; the tile
    kernels and split-K (wherever its inner dimension has two chunks) each at every shape."""
    M, K, N = CUBE[i]
    splits = "splitk" in (dense.gemm_plan(M, N, K, "splitk")[0], dense.gemm_plan(M, K, N, "splitk")[0])
    for variant in ("tile", "splitk") if splits else ("tile",):  # (where neither product splits, the same kernels)
        check_dense(kernel_tier, CUBE[i], ACTS[i % len(ACTS)], bias=(i // len(ACTS)) % 2 == 0, variant=variant)


@pytest.mark.parametrize("variant", ["tile", "splitk"])
@pytest.mark.parametrize("need", [(True, True, True), (False, True, True), (True, False, False), (False, True, False)],
                         ids=["all", "first-layer", "frozen", "no-db"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("act", ACTS)
def test_dense_every_activation_and_option(kernel_tier, act, bias, need, variant):
    check_dense(kernel_tier, (33, 65, 17), act, bias, need, variant=variant)
    check_dense(kernel_tier, (7, 100, 70), act, bias, need, seed=1, variant=variant)


def test_the_variant_rule_and_its_switch(monkeypatch):
    """auto splits K where the tile grid leaves most SMs idle (the classic batch-32 forward), keeps the tile
    kernel for wide layers; tile never splits; splitk splits wherever K has two chunks; anything else is refused."""
    monkeypatch.delenv("GPUNET_DENSE_VARIANT", raising=False)
    kind, S, chunk = dense.gemm_plan(32, 128, 784)
    assert kind == "splitk" and S * chunk >= 784 > (S - 1) * chunk and chunk % 16 == 0 and chunk >= 32
    assert 2 * S <= dense.SMS
    assert dense.gemm_plan(1024, 4096, 4096)[0] == "tile"
    assert dense.gemm_plan(32, 128, 20)[0] == "tile"  # too little K to split
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")
    assert dense.gemm_plan(32, 128, 784)[0] == "tile"
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "splitk")
    assert dense.gemm_plan(1024, 4096, 4096)[0] == "splitk"
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "cuda-core")
    with pytest.raises(ValueError, match="GPUNET_DENSE_VARIANT must be one of .*; received 'cuda-core'"):
        dense.gemm_plan(32, 128, 784)


@pytest.mark.parametrize("M,N,act", [(4097, 3, "relu"), (9001, 70, "gelu"), (5000, 1, "linear")])
def test_dense_bias_gradient_of_many_rows_in_parallel(kernel_tier, M, N, act):
    """Past DB_SERIAL_ROWS rows db is summed by bias_grad_partial/final, not by the weight-gradient blocks."""
    rng = np.random.default_rng(M)
    K = 5
    x, w, b, dy = (rng.standard_normal(s) for s in ((M, K), (K, N), (N,), (M, N)))
    X, W = kernel_tier.dev(x), kernel_tier.dev(w)
    before = kernel_tier.launches()
    Y, Z = dense.dense_forward(X, W, kernel_tier.dev(b), act)
    y, dact = ref_act(x @ w + b, act)
    if act == "relu":
        dact = (kernel_tier.host(Y) > 0).astype(np.float64)
    _, gW, gb = dense.dense_backward(X, W, Y, Z, kernel_tier.dev(dy), act, False, True, True)
    assert rel_err(kernel_tier.host(gb), (dy * dact).sum(0)) < 2e-5
    assert rel_err(kernel_tier.host(gW), x.T @ (dy * dact)) < 2e-5
    kernel_tier.assert_launched(before, "bias_grad_partial", "bias_grad_final", "dense_backward_weight")


def _head_inputs(tier, R, K, C, sparse, smoothing, valid, seed=0):
    rng = np.random.default_rng([R, K, C, seed])
    h = tier.dev(rng.standard_normal((R, K)))
    W, b = tier.dev(rng.standard_normal((K, C)) / np.sqrt(K)), tier.dev(rng.standard_normal(C))
    lab = rng.integers(0, C, R)
    labels = tier.dev(lab, np.int32) if sparse else tier.dev(np.zeros(1), np.int32)
    targets = tier.dev(np.eye(C)[lab] * 0.9 + 0.1 / C) if not sparse else None
    nvalid = tier.dev([valid], np.int32)
    g = tier.dev([1.0 / max(1, valid)])
    return h, W, b, labels, targets, nvalid, g


@pytest.mark.parametrize("act", ["linear", "gelu", "relu"])
@pytest.mark.parametrize("sparse,smoothing", [(True, 0.0), (True, 0.1), (False, 0.0)], ids=["sparse", "smoothed",
                                                                                          "onehot"])
@pytest.mark.parametrize("R,K,C,valid", [(1, 1, 1, 1), (7, 17, 3, 7), (33, 100, 10, 30), (256, 65, 33, 256),
                                         (9, 784, 65, 4)])
def test_the_fused_head_equals_the_separate_kernels(kernel_tier, R, K, C, valid, sparse, smoothing, act):
    """dense_xent_head against dense_forward + softmax_xent_forward + xent_accumulate + softmax_xent_backward on
    the same inputs, padding rows (past nvalid) included: bit for bit in the emulated tier (no contraction), to
    rounding on a GPU (NVRTC contracts multiply-adds differently in each kernel)."""
    from gpunet.kernels import head
    xp = kernel_tier.xp
    h, W, b, labels, targets, nvalid, g = _head_inputs(kernel_tier, R, K, C, sparse, smoothing, valid)
    out = {}
    for fused in (False, True):
        Y, Z = launch._empty((R, C)), (launch._empty((R, C)) if launch.stores_z(act) else None)
        loss, correct, d = launch._empty(R), launch._empty(R), launch._empty((R, C))
        rows = tuple(launch._empty(R) for _ in range(3))
        acc, bad = xp.asarray(np.array([1.5, 2.0])), xp.zeros(1, np.int32)
        tg = Y if sparse else targets
        if fused:
            before = kernel_tier.launches()
            head.head_launch(h, W, b, Y, Z, labels, tg, loss, rows, correct, bad, nvalid, g, d, acc, act, sparse,
                             smoothing)()
            kernel_tier.assert_launched(before, "dense_xent_head")
        else:
            dense.dense_forward_launch(h, W, b, Y, Z, act)()
            softmax_xent.xent_forward_launch(Y, labels, tg, loss, rows, correct, bad, nvalid, sparse, smoothing)()
            softmax_xent.xent_accumulate_launch(loss, correct, acc)()
            softmax_xent.xent_backward_launch(Y, labels, tg, rows, g, 0, nvalid, d, sparse, smoothing)()
        out[fused] = [kernel_tier.host(a) for a in (Y, loss, correct, d, acc, bad) + rows
                      + ((Z,) if Z is not None else ())]
    for got, want in zip(out[True], out[False]):
        if kernel_tier.name == "emulate":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    assert out[True][5][0] == 0 and (out[True][3][valid:] == 0).all()


def test_the_fused_head_is_refused_past_one_block_and_under_the_tile_variant(monkeypatch):
    from gpunet.kernels import head
    monkeypatch.delenv("GPUNET_DENSE_VARIANT", raising=False)
    assert head.head_supported(256, "linear") and not head.head_supported(257, "linear")
    assert not head.head_supported(0, "linear") and not head.head_supported(32, "softmax")
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")
    assert not head.head_supported(32, "linear")


def test_dense_zero_rows(kernel_tier):
    """An empty batch (predict on 0 samples) gives empty outputs and zero weight gradients, as NumPy does."""
    check_dense(kernel_tier, (0, 17, 33), "relu", True)
    check_dense(kernel_tier, (0, 17, 33), "gelu", False)


# ---- softmax cross-entropy ----

def ref_xent(z, lab, C, sparse, smoothing):
    """Per-row loss, and d(sum of loss·g)/dz, in float64."""
    t = (np.eye(C)[lab] if sparse else lab) * (1 - smoothing) + smoothing / C
    m = z.max(1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(1, keepdims=True))
    return -(t * logp).sum(1), np.exp(logp) * t.sum(1, keepdims=True) - t


def run_xent(tier, z, lab, sparse, smoothing, g):
    labels = tier.dev(lab, np.int64) if sparse else tier.dev(lab)
    loss, rows, lab_d, targets = softmax_xent.softmax_xent_forward(tier.dev(z), labels, sparse, smoothing)
    stats = tier.host(softmax_xent.last_xent_stats)
    d = softmax_xent.softmax_xent_backward(tier.dev(z), lab_d, targets, rows, tier.dev(g), sparse, smoothing)
    return tier.host(loss), stats, tier.host(d)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "onehot"])
@pytest.mark.parametrize("C", [1, 7, 33, 100, 784])
@pytest.mark.parametrize("R", [1, 7, 17, 33, 65, 100, 1031])
def test_softmax_xent_kernels(kernel_tier, R, C, sparse, smoothing):
    rng = np.random.default_rng([R, C])
    z = rng.standard_normal((R, C)) * 5
    lab = rng.integers(0, C, R)
    g = rng.uniform(0.5, 1.5, R)
    target = lab if sparse else np.eye(C)[lab]
    before = kernel_tier.launches()
    loss, stats, d = run_xent(kernel_tier, z, target, sparse, smoothing, g)
    want, dz = ref_xent(z, target, C, sparse, smoothing)
    assert rel_err(loss, want) < 1e-5
    assert stats[0] == pytest.approx(want.sum(), rel=1e-5, abs=1e-6)
    assert stats[1] == (z.argmax(1) == lab).sum()
    assert rel_err(d, dz * g[:, None]) < 1e-5
    kernel_tier.assert_launched(before, "softmax_xent_forward", "xent_row_sums", "softmax_xent_backward")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "onehot"])
def test_softmax_xent_huge_logits(kernel_tier, sparse, smoothing):
    """Logits near float32's range: the loss is huge but finite (C·|z| alone would overflow)."""
    R, C = 6, 100
    rng = np.random.default_rng(5)
    z = rng.standard_normal((R, C))
    z[0, 0], z[1, 0], z[1, 3], z[2, :] = 1e37, 1e37, -1e37, -3e37
    z[3, 50], z[4, 99], z[5, 7] = 2e37, -1e37, 1e37
    lab = np.array([0, 3, 1, 50, 98, 7])
    target = lab if sparse else np.eye(C)[lab]
    g = np.ones(R)
    before = kernel_tier.launches()
    loss, _, d = run_xent(kernel_tier, z, target, sparse, smoothing, g)
    want, dz = ref_xent(z, target, C, sparse, smoothing)
    assert np.isfinite(loss).all(), loss
    assert rel_err(loss, want) < 1e-5
    assert rel_err(d, dz) < 1e-5
    kernel_tier.assert_launched(before, "softmax_xent_forward", "softmax_xent_backward")


def test_softmax_xent_label_out_of_range(kernel_tier):
    """A label outside [0, C): that row's loss is NaN and the flag is set; the launcher raises on it."""
    z = np.random.default_rng(1).standard_normal((5, 4))
    lab = np.array([0, 4, 2, -1, 3])
    before = kernel_tier.launches()
    with pytest.raises(ValueError, match=r"a label is outside \[0, 4\)"):
        softmax_xent.softmax_xent_forward(kernel_tier.dev(z), kernel_tier.dev(lab, np.int64), True, 0.0)
    softmax_xent.CHECK_LABELS = False  # what fit does after checking labels on the host: no readback
    try:
        out = softmax_xent.softmax_xent_forward(kernel_tier.dev(z), kernel_tier.dev(lab, np.int64), True, 0.0)
    finally:
        softmax_xent.CHECK_LABELS = True
    loss = kernel_tier.host(out[0])
    want, _ = ref_xent(z[[0, 2, 4]], lab[[0, 2, 4]], 4, True, 0.0)
    assert np.isnan(loss[[1, 3]]).all()
    np.testing.assert_allclose(loss[[0, 2, 4]], want, rtol=1e-5)
    kernel_tier.assert_launched(before, "softmax_xent_forward")


# ---- the ops' kernel branch (what calls the kernels and wires their backward) ----

def _dense_net(x, params, act, labels, sparse, smoothing):
    with GradientTape() as tape:
        h = ops.dense(x, params[0], params[1], act)
        logits = ops.dense(h, params[2], params[3] if len(params) > 3 else None, "linear")
        loss = ops.softmax_cross_entropy(labels, logits, sparse=sparse, label_smoothing=smoothing, reduction="mean")
    return loss, tape.gradient(loss, [x] + list(params))


@pytest.mark.parametrize("sparse,smoothing", [(True, 0.0), (False, 0.1)], ids=["sparse", "onehot-smoothed"])
@pytest.mark.parametrize("act", ACTS)
def test_fused_ops_kernel_branch_equals_numpy_branch(kernel_tier, act, sparse, smoothing):
    """ops.dense / ops.softmax_cross_entropy on 3-D inputs: kernel branch vs NumPy branch, through the tape."""
    from gpunet import backend
    rng = np.random.default_rng(7)
    B, T, F, H, C = 5, 3, 19, 23, 6
    arrays = [rng.standard_normal((B, T, F)), rng.standard_normal((F, H)) / 4, rng.standard_normal(H),
              rng.standard_normal((H, C)) / 4, rng.standard_normal(C)]
    lab = rng.integers(0, C, (B, T))
    labels = lab if sparse else np.eye(C)[lab]

    def run():
        xp = backend.get_xp()
        vs = [Variable(xp.asarray(a.astype(np.float32))) for a in arrays]
        loss, grads = _dense_net(vs[0], vs[1:], act, xp.asarray(labels), sparse, smoothing)
        return [backend.to_numpy(t.data if hasattr(t, "data") else t) for t in [loss] + list(grads)]

    before = kernel_tier.launches()
    got = run()
    kernel_tier.assert_launched(before, "dense_forward", "dense_backward_data", "dense_backward_weight",
                                "softmax_xent_forward", "softmax_xent_backward")
    with in_tier("numpy"):
        want = run()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_softmax_xent_zero_rows(kernel_tier):
    """Mean cross-entropy over an empty batch: 0 (Keras's divide_no_nan), an empty gradient, both branches."""
    from gpunet import backend

    def run():
        xp = backend.get_xp()
        z = Variable(xp.zeros((0, 4), dtype=np.float32))
        with GradientTape() as tape:
            loss = ops.softmax_cross_entropy(xp.zeros((0,), dtype=np.int64), z, reduction="mean")
        g = tape.gradient(loss, [z])[0]
        return float(backend.to_numpy(loss.data)), backend.to_numpy(g.data if hasattr(g, "data") else g)

    kernel_result = run()
    with in_tier("numpy"):
        numpy_result = run()
    for loss, g in (kernel_result, numpy_result):
        assert loss == 0.0 and g.shape == (0, 4)


def test_softmax_xent_op_rejects_bad_labels_in_both_branches(kernel_tier):
    from gpunet import backend

    def run():
        xp = backend.get_xp()
        z = xp.zeros((3, 4), dtype=np.float32)
        for bad in ([0, 4, 1], [0, -1, 1]):
            with pytest.raises(ValueError, match=r"softmax_cross_entropy: a label is outside \[0, 4\)"):
                ops.softmax_cross_entropy(xp.asarray(bad), z)

    run()
    with in_tier("numpy"):
        run()


# ---- optimizer updates ----

OPTIMIZERS = {
    "adam": lambda: optimizers.Adam(0.01), "amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(0.01), "sgd": lambda: optimizers.SGD(0.1),
    "sgd_wd": lambda: optimizers.SGD(0.1, weight_decay=0.01),
    "momentum": lambda: optimizers.SGD(0.1, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(0.01), "rmsprop_momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5),
    "centered": lambda: optimizers.RMSprop(0.01, centered=True, weight_decay=0.004),
}


@pytest.mark.parametrize("partial", [False, True], ids=["flat", "per-variable"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_kernel_matches_numpy_optimizer(kernel_tier, name, partial):
    """5 steps of the fused kernel against the optimizer's NumPy array update on the same device: bit for
    bit in the emulated tier (same operations, same order, no contraction); within float32 rounding on
    a GPU, whose compiler fuses multiply-adds. `partial`: one variable has no gradient, so the kernel
    runs on a slice of the flat buffer."""
    rng = np.random.default_rng(0)
    w0 = [rng.standard_normal(1031).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in w0] for _ in range(5)]
    fused, plain = OPTIMIZERS[name](), OPTIMIZERS[name]()
    plain._kernel_update = lambda *a: False  # force the array-op path
    out = []
    before = kernel_tier.launches()
    for opt in (fused, plain):
        vs = [Variable(kernel_tier.dev(w)) for w in w0]
        for gs in grads:
            pairs = [(kernel_tier.dev(g), v) for g, v in zip(gs, vs)]
            opt.apply_gradients(pairs[:1] if partial else pairs)
        out.append([v.numpy() for v in vs])
    kernel_tier.assert_launched(before, {"adam": "adam_update", "amsgrad": "adam_update", "adamw": "adam_update"}
                                .get(name, "sgd_update" if name.startswith(("sgd", "mom", "nes")) else "rmsprop_update"))
    for a, b in zip(*out):
        if kernel_tier.name == "emulate":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ---- a whole fit ----

@pytest.mark.parametrize("eagerly", [False, True], ids=["program", "tape"])
def test_fit_through_kernels_equals_numpy_backend(kernel_tier, eagerly):
    """A small MLP with dropout, 36 steps of Adam (a partial last batch, validation each epoch), through the
    kernels end to end, by the launch program and (run_eagerly) by the tape; the NumPy backend (its
    compiled CPU step) is the reference. Dropout draws the same Philox masks on every path."""
    import gpunet
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 12)).astype(np.float32)
    y = rng.integers(0, 5, 96)

    def run():
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(11)
        m = gpunet.Sequential([gpunet.Input((12,)), gpunet.layers.Dense(16, activation="relu"),
                               gpunet.layers.Dropout(0.25), gpunet.layers.Dense(9, activation="tanh"),
                               gpunet.layers.Dense(5, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=eagerly and gpunet.backend.uses_kernels())
        h = m.fit(x, y, epochs=6, batch_size=13, validation_split=0.2, verbose=0)
        return m.get_weights(), h.history

    before = kernel_tier.launches()
    got_w, got_h = run()
    kernel_tier.assert_launched(before, "dense_forward", "dense_backward_data", "dense_backward_weight",
                                "softmax_xent_forward",  # the program's validation, and the tape
                                *(["adam_update", "dropout_mask", "softmax_xent_backward"] if eagerly else
                                  ["adam_update_ctl", "dropout_forward", "mask_multiply", "step_begin",
                                   "dense_xent_head"]))
    with in_tier("numpy"):
        want_w, want_h = run()
    for a, b in zip(got_w, want_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for k in want_h:
        np.testing.assert_allclose(got_h[k], want_h[k], rtol=1e-4, atol=1e-5, err_msg=k)


# ---- launch shapes at the limits ----

def test_dense_launches_past_65535_row_tiles(emulated_tier, monkeypatch):
    """4,194,241 rows need 65,536 row tiles: with tiles on gridDim.y (capped at 65535) the launch failed.
    Every launch the dense launchers make is checked against CUDA's limits and the kernels' signatures
    without running it (emulating 65,536 blocks would take most of a minute)."""
    checked = []
    real_fn = build.fn

    def validate_only(file, name):
        k = real_fn(file, name)
        return lambda grid, block, args, shared_mem=0, stream=None: checked.append(
            (name, k.validate(grid, block, args, shared_mem)[0]))
    monkeypatch.setattr(launch, "fn", validate_only)  # every Launch looks its kernel up here
    M = 65535 * 64 + 1
    x = np.ones((M, 1), dtype=np.float32)
    Y, Z = dense.dense_forward(x, np.ones((1, 3), dtype=np.float32), np.zeros(3, dtype=np.float32), "relu")
    dense.dense_backward(x, np.ones((1, 3), dtype=np.float32), Y, Z, np.ones((M, 3), dtype=np.float32), "relu",
                           True, True, True)
    assert [c[0] for c in checked] == ["dense_forward", "dense_backward_data", "dense_backward_weight",
                                       "bias_grad_partial", "bias_grad_final"]  # db of 4 M rows: in parallel
    assert checked[0][1] == [65536, 1, 1] and checked[1][1] == [65536, 1, 1]
    assert checked[3][1] == [1, 4096, 1]  # 4,096 chunks of 1,025 rows, one block of 32 columns each


def test_dense_wider_than_the_grid_takes_the_array_path(emulated_tier):
    """A layer with more than 65535·64 units cannot be tiled on gridDim.y: the op computes it with array
    ops instead (the same numbers), and a direct launch is refused as a GPU would refuse it."""
    from gpunet.kernels.emulated import KernelLaunchError
    N = launch.MAX_COLS + 1
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((3, N)).astype(np.float32)
    before = emulated_tier.launches()
    y = ops.dense(x, w, None, "relu").data
    assert emulated_tier.launches().get("dense_forward", 0) == before.get("dense_forward", 0)
    np.testing.assert_allclose(y, np.maximum(x @ w, 0), rtol=1e-6)
    with pytest.raises(KernelLaunchError, match=r"gridDim.y = 65536 is outside \[1, 65535\]"):
        build.fn("dense.cu", "dense_forward")((1, 65536), (256,), (
            x, w, w, y, y, np.int32(2), np.int32(3), np.int32(N), np.int32(1), np.int32(0), np.int32(0)))


def test_sizes_past_int32_take_the_array_path(emulated_tier, monkeypatch):
    """Kernels take sizes as `int`: past 2^31 - 1 rows, logits or weights the ops, the loss and the
    optimizer use array ops instead of a launch. INT_MAX is lowered here to make that testable."""
    for family in (dense, softmax_xent, optim):  # each family checks its sizes against the limit
        monkeypatch.setattr(family, "INT_MAX", 100)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((101, 3)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    z, lab = rng.standard_normal((101, 4)).astype(np.float32), rng.integers(0, 4, 101)
    before = emulated_tier.launches()
    np.testing.assert_allclose(ops.dense(x, w, None, "tanh").data, np.tanh(x @ w), rtol=1e-6)
    want, _ = ref_xent(z.astype(np.float64), lab, 4, True, 0.0)
    np.testing.assert_allclose(ops.softmax_cross_entropy(lab, z).data, want, rtol=1e-5)
    v = Variable(np.ones(1031, dtype=np.float32))
    optimizers.Adam(0.1).apply_gradients([(np.ones(1031, dtype=np.float32), v)])
    np.testing.assert_allclose(v.numpy(), 0.9, rtol=1e-5)
    now = emulated_tier.launches()
    assert all(now.get(k, 0) == before.get(k, 0) for k in ("dense_forward", "softmax_xent_forward", "adam_update"))


@pytest.mark.emulated
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "onehot"])
def test_softmax_xent_numpy_branch_huge_logits(sparse, smoothing):
    """The NumPy reference itself stays finite where a plain sum of C huge log-probabilities overflows."""
    from gpunet.ops.fused import xent_numpy
    z = np.random.default_rng(5).standard_normal((3, 100))
    z[0, 0], z[1, 3], z[2, :] = 1e37, -1e37, -3e37
    lab = np.array([0, 3, 1])
    target = lab if sparse else np.eye(100)[lab]
    loss, grad = xent_numpy(z.astype(np.float32), target, sparse, smoothing)
    want, dz = ref_xent(z, target, 100, sparse, smoothing)
    assert rel_err(loss, want) < 1e-5 and rel_err(grad(), dz) < 1e-5


# ---- the step program's kernels (kernels/step.cu, and the by-pointer variants) ----

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_ctl_kernels_equal_by_value_kernels(kernel_tier, name):
    """<rule>_update_ctl (scalars read through a pointer, as in a captured step) gives exactly what
    <rule>_update (scalars by value) gives, over 3 steps with changing learning rate and decay."""
    from gpunet.optimizers.rules import Adam, SGD
    rng = np.random.default_rng(1)
    n = 1031
    p0 = rng.standard_normal(n).astype(np.float32)
    gs = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    opt = OPTIMIZERS[name]()
    names = opt._state_names()
    out = []
    for by_pointer in (False, True):
        p = kernel_tier.dev(p0)
        st = {k: kernel_tier.dev(np.full(n, opt._state_initial_value(k))) for k in names}
        cur = kernel_tier.dev(np.zeros(6))
        for t, g in enumerate(gs):
            g = kernel_tier.dev(g)
            lr = 0.01 / (t + 1)
            a = opt._alpha(lr, t + 1) if isinstance(opt, Adam) else lr
            decay = (opt.weight_decay or 0.0) * lr
            if not by_pointer:
                opt._kernel_update(p, g, st, lr, t + 1, decay)
                continue
            cur[...] = kernel_tier.dev(np.array([a, decay, 0, 0, 0, 1]))  # cur[5] = 1: an update step
            if isinstance(opt, Adam):
                optim.adam_update_ctl_launch(p, g, st["momentum"], st["velocity"], st.get("velocity_hat"), cur,
                                               opt.beta_1, opt.beta_2, opt.epsilon)()
            elif isinstance(opt, SGD):
                optim.sgd_update_ctl_launch(p, g, st.get("momentum"), cur, opt.momentum, opt.nesterov)()
            else:
                optim.rmsprop_update_ctl_launch(p, g, st["velocity"], st.get("momentum"),
                                                  st.get("average_gradient"), cur, opt.rho, opt.momentum,
                                                  opt.epsilon)()
        out.append([kernel_tier.host(p)] + [kernel_tier.host(st[k]) for k in names])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "onehot"])
@pytest.mark.parametrize("R,valid", [(1, 1), (17, 5), (33, 0), (100, 99), (1031, 1031)])
def test_xent_padding_rows_accumulate_and_scalar_gradient(kernel_tier, R, valid, sparse):
    """In a step program the rows at or past *nvalid are padding: loss 0, correct 0, gradient 0;
    xent_accumulate adds this batch's sums to float64 device totals; the gradient scale is one value
    read through a pointer (g_stride 0)."""
    rng = np.random.default_rng([R, valid])
    C = 7
    z = rng.standard_normal((R, C)) * 3
    lab = rng.integers(0, C, R)
    xp = kernel_tier.xp
    z_d = kernel_tier.dev(z)
    labels = kernel_tier.dev(lab, np.int32) if sparse else kernel_tier.dev(np.zeros(1), np.int32)
    targets = z_d if sparse else kernel_tier.dev(np.eye(C)[lab])
    loss, correct, d = (launch._empty(R) for _ in range(3))
    d = launch._empty((R, C))
    rows = tuple(launch._empty(R) for _ in range(3))
    nvalid = kernel_tier.dev([valid], np.int32)
    acc = kernel_tier.dev([0.5, 2.0], np.float64)
    scale = kernel_tier.dev([0.25])
    softmax_xent.xent_forward_launch(z_d, labels, targets, loss, rows, correct, kernel_tier.dev([0], np.int32), nvalid,
                                sparse, 0.0)()
    for _ in range(2):
        softmax_xent.xent_accumulate_launch(loss, correct, acc)()
    softmax_xent.xent_backward_launch(z_d, labels, targets, rows, scale, 0, nvalid, d, sparse, 0.0)()
    want, dz = ref_xent(z, lab if sparse else np.eye(C)[lab], C, sparse, 0.0)
    want[valid:] = 0
    dz[valid:] = 0
    hits = (z.argmax(1) == lab)[:valid].sum()
    assert rel_err(kernel_tier.host(loss), want) < 1e-5
    np.testing.assert_array_equal(kernel_tier.host(correct)[valid:], 0)
    got = kernel_tier.host(acc)
    assert got[0] == pytest.approx(0.5 + 2 * want.sum(), rel=1e-5)
    assert got[1] == 2.0 + 2 * hits
    assert rel_err(kernel_tier.host(d), dz * 0.25) < 1e-5
    assert xp is kernel_tier.xp


def test_step_begin_advances_the_control_block(kernel_tier):
    """t += 1, valid rows of the step (short last batch, then 0 past the data), the table row into cur,
    iterations += 1 when counting; past the table's rows an idle step that reads nothing out of bounds."""
    table = np.arange(3 * 4, dtype=np.float32).reshape(3, 4) + 0.5
    ctl = kernel_tier.dev([-1, 0, 7, 9], np.int32)
    it = kernel_tier.dev([41], np.int32)
    tab, cur = kernel_tier.dev(table), kernel_tier.dev(np.full(4, np.nan))
    launch = step.step_begin_launch(ctl, it, tab, cur, 70, 32, True)  # 70 rows: 32, 32, 6
    for t, valid in enumerate([32, 32, 6]):
        launch()
        np.testing.assert_array_equal(kernel_tier.host(ctl), [t, valid, 7, 9])
        np.testing.assert_array_equal(kernel_tier.host(cur), table[t])
        assert int(kernel_tier.host(it)[0]) == 42 + t
    launch()
    np.testing.assert_array_equal(kernel_tier.host(ctl), [3, 0, 7, 9])
    np.testing.assert_array_equal(kernel_tier.host(cur), 0)
    ctl2 = kernel_tier.dev([-1, 0, 0, 0], np.int32)
    step.step_begin_launch(ctl2, it, kernel_tier.dev(np.zeros((1, 1))), kernel_tier.dev([0]), 5, 32, False)()
    np.testing.assert_array_equal(kernel_tier.host(ctl2)[:2], [0, 5])
    assert int(kernel_tier.host(it)[0]) == 45  # count=False: evaluate and predict leave iterations alone


def _begin(tier, ctl, n, batch):
    """step_begin as evaluate's program makes it: no counting, an 8-row table of one unused scalar."""
    return step.step_begin_launch(ctl, tier.dev([0], np.int32), tier.dev(np.zeros((8, 1))), tier.dev([0]), n,
                                     batch, False)


@pytest.mark.parametrize("targets", ["sparse", "onehot", "none"])
@pytest.mark.parametrize("shuffled", [True, False])
def test_gather_batch(kernel_tier, targets, shuffled):
    """Rows perm[t·batch + r] (or t·batch + r) of x and of the targets; rows past the valid count are zero."""
    rng = np.random.default_rng(5)
    n, F, C, batch = 45, 33, 7, 17
    x = rng.standard_normal((n, F)).astype(np.float32)
    lab = rng.integers(0, C, n).astype(np.int32)
    onehot = np.eye(C, dtype=np.float32)[lab]
    perm = rng.permutation(n).astype(np.int32)
    xd = kernel_tier.dev(x)
    y = {"sparse": kernel_tier.dev(lab, np.int32), "onehot": kernel_tier.dev(onehot), "none": None}[targets]
    xb = launch._empty((batch, F))
    yb = None if y is None else launch._empty((batch,) if targets == "sparse" else (batch, C),
                                                np.int32 if targets == "sparse" else np.float32)
    ctl = kernel_tier.dev([-1, 0, 0, 0], np.int32)
    pd = kernel_tier.dev(perm, np.int32) if shuffled else None
    begin = _begin(kernel_tier, ctl, n, batch)
    gather = step.gather_batch_launch(xd, pd, ctl, xb, y, yb, targets == "sparse", kernel_tier.dev([0], np.int32),
                                         kernel_tier.dev([0]))
    order = perm if shuffled else np.arange(n)
    for t in range(3):  # 17, 17, 11 rows
        begin()
        gather()
        idx = order[t * batch:(t + 1) * batch]
        v = len(idx)
        got = kernel_tier.host(xb)
        np.testing.assert_array_equal(got[:v], x[idx])
        np.testing.assert_array_equal(got[v:], 0)
        if targets == "sparse":
            np.testing.assert_array_equal(kernel_tier.host(yb)[:v], lab[idx])
            np.testing.assert_array_equal(kernel_tier.host(yb)[v:], 0)
        elif targets == "onehot":
            np.testing.assert_array_equal(kernel_tier.host(yb)[:v], onehot[idx])
            np.testing.assert_array_equal(kernel_tier.host(yb)[v:], 0)


def test_philox_matches_random123_known_answers():
    """gpunet.random's Philox-4x32-10 against the known-answer vectors published with Random123."""
    from gpunet.random import philox4x32
    kat = [((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
           ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
           ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
            (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    for ctr, key, want in kat:
        assert [int(w) for w in philox4x32(*ctr, *key)] == list(want)


@pytest.mark.parametrize("size", [1, 3, 4, 5, 4097])
def test_cpu_dropout_mask_is_the_philox_reference(size):
    """fit's dropout on the CPU (kernels/cpu_optim.c philox_dropout_mask) draws the NumPy reference's
    masks bit for bit, so the CPU, emulated and GPU paths train alike."""
    from gpunet import random as R
    from gpunet.kernels import cpu as cpu_kernels
    lib = cpu_kernels.library()
    if lib is None:
        pytest.skip("no C compiler: the NumPy reference itself runs")
    for call, key, rate in [(0, (0, 0), 0.5), (2**32 - 1, (2**32 - 1, 12), 0.1), (77, (5, 9), 0.9)]:
        keep = 1.0 - rate
        mask = np.empty(size, np.float32)
        lib.philox_dropout_mask(mask.ctypes.data, size, call, key[0], key[1], np.float32(keep), np.float32(2.0))
        np.testing.assert_array_equal(mask, R.philox_keep_mask(size, call, key, keep) * np.float32(2.0))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("F", [1, 7, 130])
def test_dropout_kernels_draw_the_philox_reference_masks(kernel_tier, F, rate):
    """dropout_forward (in a step: call t·calls + j, padding rows zero), dropout_mask (the tape path) and
    mask_multiply (the backward) against gpunet.random's NumPy Philox stream, bit for bit."""
    from gpunet.random import philox_keep_mask
    rng = np.random.default_rng(F)
    batch, n, key, calls, j = 9, 23, (12345, 3), 2, 1  # 23 rows: 9, 9, 5
    keep, scale = 1.0 - rate, np.float32(1.0 / (1.0 - rate))
    x = rng.standard_normal((batch, F)).astype(np.float32)
    xd, y, mask = kernel_tier.dev(x), launch._empty((batch, F)), launch._empty((batch, F))
    k0, k1 = np.array(key, dtype=np.uint32).view(np.int32)
    ctl = kernel_tier.dev([-1, 0, k0, k1], np.int32)
    begin = _begin(kernel_tier, ctl, n, batch)
    fwd = step.dropout_forward_launch(xd, y, mask, ctl, j, calls, rate)
    for t, valid in enumerate([9, 9, 5]):
        begin()
        fwd()
        want = np.zeros((batch, F), np.float32)
        want.reshape(-1)[:valid * F] = philox_keep_mask(valid * F, t * calls + j, key, keep) * scale
        np.testing.assert_array_equal(kernel_tier.host(mask), want)
        np.testing.assert_array_equal(kernel_tier.host(y), x * want)
    alone = step.dropout_mask((batch, F), 77, key, rate)
    want = (philox_keep_mask(batch * F, 77, key, keep) * scale).reshape(batch, F).astype(np.float32)
    np.testing.assert_array_equal(kernel_tier.host(alone), want)
    g = kernel_tier.dev(x.copy())  # mask_multiply works in place
    step.mask_multiply_launch(g, alone)()
    np.testing.assert_array_equal(kernel_tier.host(g), x * want)
    kept = philox_keep_mask(200000, 0, key, keep).mean()
    assert abs(kept - keep) < 0.01  # the stream keeps the right fraction


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize("C", [1, 10, 33])
def test_rows_out(kernel_tier, C, softmax):
    """The valid rows of each step's output go to out[t·batch + r] (softmax applied or not); nothing else."""
    rng = np.random.default_rng(C)
    n, batch = 20, 8
    out = launch._empty((n, C))
    ctl = kernel_tier.dev([-1, 0, 0, 0], np.int32)
    begin = _begin(kernel_tier, ctl, n, batch)
    src = kernel_tier.dev(np.zeros((batch, C)))
    rows_out = step.rows_out_launch(src, out, ctl, softmax)
    want = np.zeros((n, C))
    for t in range(3):
        z = rng.standard_normal((batch, C)) * 4
        src[...] = kernel_tier.dev(z)
        begin()
        rows_out()
        v = min(batch, n - t * batch)
        e = np.exp(z - z.max(1, keepdims=True))
        want[t * batch:t * batch + v] = (e / e.sum(1, keepdims=True) if softmax else z)[:v]
    assert rel_err(kernel_tier.host(out), want) < 1e-6


@pytest.mark.parametrize("mode", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_kernels_match_the_numpy_clip(kernel_tier, mode):
    """grad_sumsq + grad_clip against the optimizer's NumPy clipping, per variable (segments of odd sizes,
    some below and some far above the threshold, one of zeros), on gradients that
    also hold a NaN in one segment (it stays NaN where Keras gives NaN) and on non-adjacent slices."""
    rng = np.random.default_rng(2)
    sizes = [1, 7, 300, 1031, 5]
    scales = [10.0, 1e-4, 0.5, 3.0, 0.0]
    g0 = np.concatenate([rng.standard_normal(n) * s for n, s in zip(sizes, scales)]).astype(np.float32)
    c = {"clipnorm": 1.0, "global_clipnorm": 2.0, "clipvalue": 0.3}[mode]
    for nan in (False, True):
        g = g0.copy()
        if nan:
            g[3] = np.nan
        results = []
        for use_kernels in (True, False):
            opt = optimizers.SGD(0.1, **{mode: c})
            vs = [Variable(kernel_tier.dev(np.zeros(n))) for n in sizes]
            opt.build(vs)
            opt._grad[...] = kernel_tier.dev(g)
            if use_kernels:
                opt._clip_in_place([opt._all], True)
            else:
                with in_tier("numpy"):
                    opt._grad = kernel_tier.host(opt._grad).copy()
                    opt._clip_in_place([opt._all], True)
            results.append(kernel_tier.host(opt._grad))
        np.testing.assert_allclose(results[0], results[1], rtol=2e-6, atol=1e-12, equal_nan=True)
        nans = np.flatnonzero(np.isnan(results[0]))
        if nan:  # global: every gradient NaN (Keras's scale is NaN); otherwise the NaN stays where it was
            assert len(nans) == (g.size if mode == "global_clipnorm" else 1) and 3 in nans
        else:
            assert not len(nans)
    # two non-adjacent variables' slices (a partial apply): only those are clipped, each by itself
    opt = optimizers.SGD(0.1, **{mode: c})
    vs = [Variable(kernel_tier.dev(np.zeros(n))) for n in sizes]
    opt.build(vs)
    opt._grad[...] = kernel_tier.dev(g0)
    picked = [opt._slot(3), opt._slot(0)]
    opt._clip_in_place(picked, False)
    got = kernel_tier.host(opt._grad)
    want = g0.astype(np.float64).copy()
    parts = [want[s] for s in picked]
    if mode == "clipvalue":
        for p in parts:
            np.clip(p, -c, c, out=p)
    elif mode == "clipnorm":
        for p in parts:
            n = np.sqrt((p * p).sum())
            p *= c / max(n, c)
    else:
        n = np.sqrt(sum((p * p).sum() for p in parts))
        for p in parts:
            p *= c * min(1 / n, 1 / c)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-12)


def test_unscale_and_moving_average_kernels(kernel_tier):
    """grad_unscale (g / loss_scale_factor), grad_accumulate_ctl and ema_update_ctl (the flags and the
    momentum read through the step's scalars) against the optimizer's NumPy steps, bit for bit in the
    emulated tier; an update kernel returns at once on a step that only accumulates."""
    rng = np.random.default_rng(4)
    n = 1031
    g0 = rng.standard_normal(n).astype(np.float32)
    g = kernel_tier.dev(g0.copy())  # in place
    optim.grad_unscale_launch(g, 8.0)()
    want = g0.copy()
    want /= 8.0
    np.testing.assert_array_equal(kernel_tier.host(g), want)
    p0, e0 = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    for m, overwrite in ((0.0, 0.0), (0.99, 0.0), (0.9, 1.0)):
        p, e = kernel_tier.dev(p0.copy()), kernel_tier.dev(e0.copy())
        optim.ema_update_ctl_launch(p, e, kernel_tier.dev([0, 0, 0, m, overwrite, 0]))()
        f = np.float32
        want_e = e0 * f(m) + p0 * (f(1) - f(m))
        tol = dict(rtol=0, atol=0) if kernel_tier.name == "emulate" else dict(rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(kernel_tier.host(e), want_e, **tol)
        np.testing.assert_allclose(kernel_tier.host(p), want_e if overwrite else p0, **tol)
    acc0 = rng.standard_normal(n).astype(np.float32)
    for update in (0.0, 1.0):
        g, acc = kernel_tier.dev(g0.copy()), kernel_tier.dev(acc0.copy())
        cur = kernel_tier.dev([0.1, 0, 0, 0, 0, update])
        optim.grad_accumulate_ctl_launch(g, acc, 3, cur)()
        if update:
            want_g, want_acc = g0 + acc0, np.zeros(n, np.float32)
            want_g /= np.float32(3)
        else:
            want_g, want_acc = g0, acc0 + g0
        np.testing.assert_allclose(kernel_tier.host(g), want_g, rtol=1e-7 if kernel_tier.name == "cuda" else 0)
        np.testing.assert_allclose(kernel_tier.host(acc), want_acc, rtol=1e-7 if kernel_tier.name == "cuda" else 0)
        p = kernel_tier.dev(p0.copy())
        optim.sgd_update_ctl_launch(p, g, None, cur, 0.0, False)()
        np.testing.assert_array_equal(kernel_tier.host(p) == p0, not update)


# what each GEMM operand loader reads fastest along: whether consecutive inner (k) indices are adjacent in memory
# (None: a Strided loader's layout is known at run time only; its kernel dispatches on the strides, every combination)
_A_INNER_CONTIGUOUS = {"RowMajor": True, "ActGrad": True, "Im2col": True, "DzGather": True, "Transposed": False,
                       "Im2colT": False, "la": None}
_B_INNER_CONTIGUOUS = {"RowMajor": False, "GroupW": False, "dz": False, "Transposed": True, "WGatherT": True,
                       "lb": None}


def test_every_gemm_tile_loads_its_operands_along_their_contiguous_axis():
    """gemm_tile's template flags pick the order a block walks its tile loads in; the wrong one strides each
    warp's reads (dense_backward_data read Wᵀ with a stride of N floats: GPU-REVIEW-2 B2). The result is the same
    either way, so only the source can say: each call's flags must match its loaders' layout."""
    import re
    calls = []
    for f in sorted(build.kernel_dir().glob("*.cu")):
        for m in re.finditer(r"gemm_tile<(true|false)(?:,\s*(true|false))?>\((.*?)\);", f.read_text(), re.S):
            args, depth, cur = [], 0, ""
            for ch in m.group(3):
                depth += 1 if ch in "({" else -1 if ch in ")}" else 0
                if ch == "," and depth == 0:
                    args.append(cur.strip())
                    cur = ""
                else:
                    cur += ch
            la, lb = (re.match(r"\w+", a).group(0) for a in args[3:5])
            want = (_A_INNER_CONTIGUOUS[la], _B_INNER_CONTIGUOUS[lb])
            got = (m.group(1) == "true", m.group(2) == "true")
            calls.append((f.name, la, lb, got))
            if want == (None, None):
                continue
            assert got == want, "%s: gemm_tile<%s, %s> with loaders %s, %s" % (f.name, *got, la, lb)
    assert len(calls) >= 8 and any(c[:3] == ("dense.cu", "ActGrad", "Transposed") for c in calls)
    runtime = {c[3] for c in calls if c[1:3] == ("la", "lb")}
    assert runtime == {(a, b) for a in (True, False) for b in (True, False)}, runtime  # transformer.cu's bgemm
