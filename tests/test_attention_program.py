"""The attention family in node programs (gpunet/training/program_attention.py): LayerNormalization and
MultiHeadAttention (self-, cross- and causal attention) with the Dense feed-forward and residual Adds — the keras.io
text classifier's transformer block as a Functional graph — run fit, evaluate and predict as one launch list in the
emulated tier, against the NumPy backend's tape; transformer.cu's kernels against NumPy."""
import numpy as np
import pytest
from test_gpu_step import check_step_is_static
from test_graph_program import _program, _tape_equals_numpy, check_captured_on_standin, check_program_equals_numpy

import gpunet
from gpunet.kernels import transformer as TR

pytestmark = pytest.mark.emulated
L = gpunet.layers

COVERS = {
    "bgemm": ["test_bgemm_reads_every_layout_against_numpy"],
    "ln_forward": ["test_layer_norm_kernels_against_numpy"],
    "ln_backward_data": ["test_layer_norm_kernels_against_numpy"],
}


@pytest.mark.parametrize("B,T,N,d,S", [(1, 1, 1, 1, 1), (2, 5, 3, 7, 9), (3, 70, 2, 5, 66)])
def test_bgemm_reads_every_layout_against_numpy(kernel_tier, B, T, N, d, S):
    """Scores Q·Kᵀ from (B, T, N, d) projections (scaled on load), P·V into (B, T, N, d), and Pᵀ·G accumulated:
    the strides the attention rule passes, at sizes past one 64×64 tile."""
    t = kernel_tier
    rng = np.random.default_rng(T)
    Q, K = rng.standard_normal((B, T, N, d)).astype(np.float32), rng.standard_normal((B, S, N, d)).astype(np.float32)
    heads = lambda T_, d_: (T_ * N * d_, d_, N * d_, 1)  # noqa: E731
    scores = t.dev(np.full((B, N, T, S), np.nan))
    TR.bgemm_launch(t.dev(Q), t.dev(K), scores, T, S, d, B, N, heads(T, d), (S * N * d, d, 1, N * d),
                    (N * T * S, T * S, S, 1), scale_a=0.5)()
    want = np.einsum("btnd,bsnd->bnts", Q.astype(np.float64) * np.float32(0.5), K.astype(np.float64))
    np.testing.assert_allclose(t.host(scores), want, rtol=1e-5, atol=1e-5)
    P = rng.standard_normal((B, N, T, S)).astype(np.float32)
    out = t.dev(np.full((B, T, N, d), np.nan))
    TR.bgemm_launch(t.dev(P), t.dev(K), out, T, d, S, B, N, (N * T * S, T * S, S, 1), heads(S, d), heads(T, d))()
    np.testing.assert_allclose(t.host(out), np.einsum("bnts,bsnd->btnd", P.astype(np.float64), K), rtol=1e-5,
                               atol=1e-5)
    acc0 = rng.standard_normal((B, S, N, d)).astype(np.float32)
    acc = t.dev(acc0.copy())
    TR.bgemm_launch(t.dev(P), t.dev(Q), acc, S, d, T, B, N, (N * T * S, T * S, 1, S), heads(T, d), heads(S, d),
                    alpha=2.0, accumulate=True)()
    np.testing.assert_allclose(t.host(acc), acc0 + 2 * np.einsum("bnts,btnd->bsnd", P.astype(np.float64), Q),
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("R,C,affine", [(1, 1, True), (7, 13, True), (5, 300, False)])
def test_layer_norm_kernels_against_numpy(kernel_tier, R, C, affine):
    t = kernel_tier
    rng = np.random.default_rng(C)
    x = (rng.standard_normal((R, C)) * 3 + 1).astype(np.float32)
    g = rng.standard_normal((R, C)).astype(np.float32)
    gamma = rng.standard_normal(C).astype(np.float32) if affine else None
    beta = rng.standard_normal(C).astype(np.float32) if affine else None
    eps = 1e-3
    nan = lambda *s: t.dev(np.full(s, np.nan))  # noqa: E731
    y, xhat, rstd, dx = nan(R, C), nan(R, C), nan(R), nan(R, C)
    dev = lambda a: None if a is None else t.dev(a)  # noqa: E731
    TR.ln_forward_launch(t.dev(x), dev(gamma), dev(beta), y, xhat, rstd, eps)()
    TR.ln_backward_data_launch(t.dev(g), xhat, rstd, dev(gamma), dx)()
    x64 = x.astype(np.float64)
    mu, var = x64.mean(1, keepdims=True), x64.var(1, keepdims=True)
    h = (x64 - mu) / np.sqrt(var + eps)
    np.testing.assert_allclose(t.host(xhat), h, rtol=1e-4, atol=1e-5)
    want_y = h * gamma + beta if affine else h
    np.testing.assert_allclose(t.host(y), want_y, rtol=1e-4, atol=1e-5)
    gg = g * gamma if affine else g.astype(np.float64)
    want_dx = (gg - gg.mean(1, keepdims=True) - h * (gg * h).mean(1, keepdims=True)) / np.sqrt(var + eps)
    np.testing.assert_allclose(t.host(dx), want_dx, rtol=1e-4, atol=1e-4)


V, T, E = 23, 7, 8


def transformer(causal=False, cross=False, heads=2, ff=16, classes=3, vocab=V, maxlen=T, embed=E, tokens=True):
    """keras.io's text classification with a transformer block (examples/nlp/text_classification_with_
    transformer), the block written as a Functional graph of built-in layers (no positional embedding: its
    custom layer adds an ops.arange the program has no rule for)."""
    def make():
        i = gpunet.Input((maxlen,) if tokens else (maxlen, embed))
        x = L.Embedding(vocab, embed)(i) if tokens else i
        if cross:
            a = L.MultiHeadAttention(num_heads=heads, key_dim=4, value_dim=3)(x, L.Dense(embed)(x),
                                                                             L.Dense(embed, activation="tanh")(x))
        else:
            a = L.MultiHeadAttention(num_heads=heads, key_dim=embed)(x, x, use_causal_mask=causal)
        x1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, L.Dropout(0.1)(a)]))
        f = L.Dropout(0.1)(L.Dense(embed)(L.Dense(ff, activation="relu")(x1)))
        x2 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x1, f]))
        p = L.Dropout(0.1)(L.GlobalAveragePooling1D()(x2))
        p = L.Dropout(0.1)(L.Dense(20, activation="relu")(p))
        return gpunet.Model(i, L.Dense(classes, activation="softmax")(p))
    return make


def padded(causal=False):
    """Embedding(mask_zero=True): the padding mask reaches the attention (query and value), passes the Adds,
    LayerNormalizations and Dense layers, and GlobalAveragePooling1D averages the unmasked steps."""
    def make():
        i = gpunet.Input((T,))
        x = L.Embedding(V, E, mask_zero=True)(i)
        a = L.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, use_causal_mask=causal)
        x1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, L.Dropout(0.1)(a)]))
        f = L.Dropout(0.1)(L.Dense(E)(L.Dense(16, activation="relu")(x1)))
        x2 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x1, f]))
        return gpunet.Model(i, L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(x2)))
    return make


MODELS = {"self": transformer(), "causal": transformer(causal=True), "cross": transformer(cross=True),
          "padded": padded(), "padded_causal": padded(causal=True)}


def _tokens(n, seed=0):
    """Ids with padded tails (0) of every length but the whole row."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T))
    for r in range(n):
        x[r, rng.integers(1, T + 1):] = 0
    return x.astype(np.float32), rng.integers(0, 3, n)


def _adam():
    return gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9))


def _sgd():
    """The key projection's bias has no gradient in exact arithmetic (softmax ignores a constant added to a row), so
    it moves by rounding noise alone; Adam scales that noise up to whole steps, SGD keeps it at rounding size."""
    return gpunet.optimizers.SGD(gpunet.optimizers.schedules.ExponentialDecay(0.1, 5, 0.9), momentum=0.9)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_20_steps_of_a_transformer_program_equal_the_numpy_tape(name, monkeypatch):
    x, y = _tokens(77, seed=1)
    check_program_equals_numpy(MODELS[name], _sgd, x, y, monkeypatch)


def test_a_transformer_step_allocates_nothing_and_reads_nothing_back(emulated_tier, monkeypatch):
    check_step_is_static(_program(MODELS["causal"], (T,), 8, data=_tokens(40, seed=3)), monkeypatch)


def test_a_transformer_program_is_captured_on_the_standin(monkeypatch):
    """On float inputs: the embedding's scatter adds with atomics, in an order no run repeats (sequence.cu)."""
    x = np.random.default_rng(7).standard_normal((45, T, E)).astype(np.float32)
    check_captured_on_standin(transformer(cross=True, tokens=False), (x, _tokens(45, seed=7)[1]), _sgd, monkeypatch)


def test_launches_per_step_of_one_transformer_block_against_the_floor(emulated_tier, capsys, monkeypatch):
    """keras.io's sizes (vocabulary 20,000, 200 tokens, embedding 32, 2 heads, feed-forward 32, batch 32), counted
    from the program built (not run). Floor: one launch per product — 3 projections, 2 attention products, the
    output projection, 2 feed-forward and 2 head Dense forward; their backward (2 each for the Dense products, 4
    attention products), and one optimizer update."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")  # one kernel per product, whatever the sizes
    rng = np.random.default_rng(0)
    prog = _program(transformer(heads=2, ff=32, classes=2, vocab=20000, maxlen=200, embed=32), (200,), 32,
                    data=(rng.integers(0, 20000, (100, 200)).astype(np.float32), rng.integers(0, 2, 100)), opt=_adam)
    names = [launch.name for launch in prog.launches]
    counts = {k: names.count(k) for k in set(names)}
    dense_products = 4 + 2 + 2  # the attention's 4 projections, the feed-forward's 2, the head's 2
    assert counts["bgemm"] == 2 + 4 and counts["masked_softmax_forward"] == 1 == counts["masked_softmax_backward"]
    assert counts["dense_forward"] == dense_products and counts["dense_backward_weight"] == dense_products
    assert counts["dense_backward_data"] == dense_products  # the first projection's input: the embedding's
    assert counts["ln_forward"] == 2 == counts["ln_backward_data"]
    floor = dense_products * 3 + 6 + 1
    with capsys.disabled():
        print("\nlaunches per step (keras.io transformer block, batch 32, 200 tokens, Adam): %d; floor %d; %s"
              % (len(names), floor, prog))
    # and the glue: 2 residual adds, 4 gradient sums, 4 dropouts' masks (2 applied in place), 2 γ products, 10 pairs
    # of parallel bias sums (6,400 rows), the loss's 3, the embedding's 3 (with the table's zeroing), the pooling's 2
    assert len(names) == 83, sorted(counts.items())


def _padded(n, seed):
    x, y = _tokens(n, seed)
    x[:, -2:] = 0
    return x, y


FALLBACKS = {
    "attention_dropout": (lambda i: L.MultiHeadAttention(2, 4, dropout=0.2)(i, i), "dropout on the attention"),
    "two_masks": (lambda i: L.MultiHeadAttention(2, 4)(i, L.Embedding(V, E, mask_zero=True)(i._source)),
                  'the masks of "embedding" and "embedding_1" meet'),
    "layer_norm_axes": (lambda i: L.LayerNormalization(axis=1)(i), "not the last alone"),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_each_attention_fallback_is_logged_and_the_tape_trains_as_numpy(name, caplog, monkeypatch):
    block, reason = FALLBACKS[name]

    def make():
        i = gpunet.Input((T,))
        x = L.Embedding(V, E, mask_zero=name == "two_masks")(i)
        x._source = i
        return gpunet.Model(i, L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(block(x))))
    _tape_equals_numpy(make, None, caplog, reason, monkeypatch, data=_padded(48, 5))
