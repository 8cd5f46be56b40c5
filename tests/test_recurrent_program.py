"""The recurrent family in node programs (gpunet/training/program_recurrent.py): Embedding (mask_zero), SimpleRNN,
LSTM, GRU (return_sequences, go_backwards, masks) and Bidirectional run fit, evaluate and predict as one static
launch list in the emulated tier, against the NumPy backend's tape; sequence.cu's kernels against NumPy."""
import numpy as np
import pytest
from test_gpu_step import check_step_is_static
from test_graph_program import _program, _tape_equals_numpy, check_captured_on_standin, check_program_equals_numpy

import gpunet
from gpunet.kernels import sequence as S

pytestmark = pytest.mark.emulated
L = gpunet.layers

COVERS = {
    "embedding_gather": ["test_sequence_kernels_against_numpy"],
    "embedding_scatter": ["test_sequence_kernels_against_numpy"],
    "token_mask": ["test_sequence_kernels_against_numpy"],
    "to_time_major": ["test_sequence_kernels_against_numpy"],
    "from_time_major": ["test_sequence_kernels_against_numpy"],
    "fill": ["test_sequence_kernels_against_numpy"],
    "attention_mask": ["test_mask_kernels_against_numpy"],
    "masked_mean_forward": ["test_mask_kernels_against_numpy"],
    "masked_mean_backward": ["test_mask_kernels_against_numpy"],
}


@pytest.mark.parametrize("B,T,D,is_int", [(1, 1, 1, False), (3, 7, 5, True), (17, 9, 33, False)])
def test_sequence_kernels_against_numpy(kernel_tier, B, T, D, is_int):
    t = kernel_tier
    rng = np.random.default_rng(B * T)
    V = 11
    ids = rng.integers(0, V, (B, T)).astype(np.int32)
    ids[0, -1] = 0
    ids_buf = t.dev(ids.view(np.float32) if is_int else ids.astype(np.float32))
    E = rng.standard_normal((V, D)).astype(np.float32)
    y = t.dev(np.full((B, T, D), np.nan))
    S.embedding_gather_launch(ids_buf, is_int, t.dev(E), y)()
    np.testing.assert_array_equal(t.host(y), E[ids])
    g = rng.standard_normal((B, T, D)).astype(np.float32)
    dE = t.dev(np.full((V, D), np.nan))
    S.fill_launch(dE, 0.0)()
    S.embedding_scatter_launch(ids_buf, is_int, t.dev(g), dE)()
    want = np.zeros((V, D))
    np.add.at(want, ids.reshape(-1), g.reshape(-1, D).astype(np.float64))
    np.testing.assert_allclose(t.host(dE), want, rtol=1e-5, atol=1e-5)
    for reverse in (0, 1):
        m = t.dev(np.full((T, B), 7), np.uint8)
        S.token_mask_launch(ids_buf, is_int, m, reverse)()
        order = ids[:, ::-1] if reverse else ids
        np.testing.assert_array_equal(t.host(m), (order != 0).T.astype(np.uint8))
        # a batch-major (B, T, 2D) buffer's columns [D, 2D) to time-major and back, masked and not
        src = rng.standard_normal((B, T, 2 * D)).astype(np.float32)
        tm = t.dev(np.full((T, B, D), np.nan))
        S.to_time_major_launch(t.dev(src), tm, 2 * D, D, reverse, m, True)()
        want_tm = (src[:, ::-1] if reverse else src)[:, :, D:].transpose(1, 0, 2) * t.host(m)[:, :, None]
        np.testing.assert_array_equal(t.host(tm), want_tm)
        back = t.dev(np.ones((B, T, 2 * D)))
        S.from_time_major_launch(tm, back, 2 * D, 0, reverse, m, False, accumulate=True)()
        got = t.host(back)
        want_back = 1 + (want_tm.transpose(1, 0, 2)[:, ::-1] if reverse else want_tm.transpose(1, 0, 2))
        np.testing.assert_array_equal(got[:, :, :D], want_back.astype(np.float32))
        assert (got[:, :, D:] == 1).all()


@pytest.mark.parametrize("B,T,C", [(1, 1, 1), (4, 9, 5)])
def test_mask_kernels_against_numpy(kernel_tier, B, T, C):
    """MultiHeadAttention's mask from mask_zero's ids, and GlobalAveragePooling1D's masked mean both ways; the
    step's padding rows (at or past the valid count) come out 0."""
    t = kernel_tier
    rng = np.random.default_rng(T)
    ids = rng.integers(0, 4, (B, T)).astype(np.int32)
    ids[:, 0] = 1  # at least one kept step a row
    keep = ids != 0
    idb = t.dev(ids.view(np.float32))
    for use_q, use_k, causal in ((1, 1, 0), (0, 1, 1), (1, 0, 1)):
        m = t.dev(np.full((B, T, T), 7), np.uint8)
        S.attention_mask_launch(idb, 1, m, use_q, use_k, causal)()
        want = np.ones((B, T, T), bool)
        if use_q:
            want &= keep[:, :, None]
        if use_k:
            want &= keep[:, None, :]
        if causal:
            want &= np.tril(np.ones((T, T), bool))
        np.testing.assert_array_equal(t.host(m), want.astype(np.uint8))
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    g = rng.standard_normal((B, C)).astype(np.float32)
    valid = max(B - 1, 1)
    rows = t.dev(np.array([valid]), np.int32)
    y, dx = t.dev(np.full((B, C), np.nan)), t.dev(np.full((B, T, C), np.nan))
    S.masked_mean_forward_launch(t.dev(x), idb, 1, y, rows)()
    S.masked_mean_backward_launch(t.dev(g), idb, 1, dx, rows)()
    n = keep.sum(1, keepdims=True)
    want_y = (x * keep[:, :, None]).sum(1, dtype=np.float64) / n
    want_dx = g[:, None, :] * keep[:, :, None] / n[:, :, None]
    want_y[valid:], want_dx[valid:] = 0, 0
    np.testing.assert_allclose(t.host(y), want_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t.host(dx), want_dx, rtol=1e-6, atol=1e-6)


V, T = 23, 7


def lstm_masked():
    return gpunet.Sequential([gpunet.Input((T,)), L.Embedding(V, 6, mask_zero=True), L.LSTM(5),
                              L.Dense(4, activation="softmax")])


def gru_stack():
    i = gpunet.Input((T,))
    x = L.Embedding(V, 6, mask_zero=True)(i)
    x = L.GRU(5, return_sequences=True)(x)
    x = L.Dropout(0.3)(x)
    x = L.SimpleRNN(4, go_backwards=True, activation="relu")(x)
    return gpunet.Model(i, L.Dense(4, activation="softmax")(x))


def bidirectional():
    i = gpunet.Input((T,))
    x = L.Embedding(V, 6)(i)
    x = L.Bidirectional(L.LSTM(5, return_sequences=True))(x)
    x = L.Bidirectional(L.GRU(3), merge_mode="sum")(x)
    return gpunet.Model(i, L.Dense(4, activation="softmax")(x))


def bidirectional_masked():
    """Bidirectional's zero_output_for_mask with return_sequences: masked steps output 0."""
    i = gpunet.Input((T,))
    x = L.Embedding(V, 6, mask_zero=True)(i)
    x = L.Bidirectional(L.SimpleRNN(5, return_sequences=True), merge_mode="sum")(x)
    x = L.Bidirectional(L.LSTM(3, go_backwards=True))(x)
    return gpunet.Model(i, L.Dense(4, activation="softmax")(x))


def int_ids():
    """Input(dtype="int32"): the ids stay integers (their bits ride the gather)."""
    i = gpunet.Input((T,), dtype="int32")
    x = L.Embedding(V, 6, mask_zero=True)(i)
    return gpunet.Model(i, L.Dense(4, activation="softmax")(L.LSTM(5)(x)))


MODELS = {"lstm_masked": lstm_masked, "gru_stack": gru_stack, "bidirectional": bidirectional,
          "bidirectional_masked": bidirectional_masked, "int_ids": int_ids}


def _tokens(n, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T))
    for r in range(n):
        x[r, rng.integers(1, T + 1):] = 0  # padded tails (at least one token): masks differ row to row
    return x.astype(dtype), rng.integers(0, 4, n)


def _adam():
    return gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_20_steps_of_a_recurrent_program_equal_the_numpy_tape(name, monkeypatch):
    x, y = _tokens(77, seed=1, dtype=np.int32 if name == "int_ids" else np.float32)
    check_program_equals_numpy(MODELS[name], _adam, x, y, monkeypatch)


def test_a_recurrent_step_allocates_nothing_and_reads_nothing_back(emulated_tier, monkeypatch):
    check_step_is_static(_program(bidirectional_masked, (T,), 8, data=_tokens(40, seed=3)), monkeypatch)


def test_a_recurrent_program_is_captured_on_the_standin(monkeypatch):
    """On float sequences: the embedding's scatter adds with atomics, in an order no run repeats (sequence.cu)."""
    def make():
        i = gpunet.Input((T, 3))
        x = L.Bidirectional(L.LSTM(5, return_sequences=True))(i)
        x = L.Bidirectional(L.GRU(3, return_sequences=True, go_backwards=True), merge_mode="sum")(x)
        return gpunet.Model(i, L.Dense(4, activation="softmax")(L.SimpleRNN(2)(x)))
    x = np.random.default_rng(7).standard_normal((45, T, 3)).astype(np.float32)
    check_captured_on_standin(make, (x, _tokens(45, seed=7)[1]), _adam, monkeypatch)


def test_launches_per_step_of_lstm_128_by_100_against_the_floor(emulated_tier, capsys, monkeypatch):
    """Embedding(20000, 128) → LSTM(128) over 100 steps → Dense(2): counted from the program built at batch 64
    (not run). One launch per product is the floor: the input GEMM, 100 recurrent GEMMs and the head forward;
    99 dh GEMMs, dW, dU, dX and the head's two backward; one optimizer update."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "tile")  # one kernel per product, whatever the sizes

    def make():
        return gpunet.Sequential([gpunet.Input((100,)), L.Embedding(20000, 128), L.LSTM(128),
                                  L.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    prog = _program(make, (100,), 64, data=(rng.integers(0, 20000, (200, 100)).astype(np.float32),
                                            rng.integers(0, 2, 200)), opt=_adam)
    names = [launch.name for launch in prog.launches]
    counts = {k: names.count(k) for k in set(names)}
    assert counts == {"step_begin": 1, "gather_batch": 1, "embedding_gather": 1, "to_time_major": 1,
                      "dense_forward": 1 + 100 + 1, "lstm_cell_forward": 100, "softmax_xent_forward": 1,
                      "xent_accumulate": 1, "softmax_xent_backward": 1, "dense_backward_weight": 1 + 2,
                      "dense_backward_data": 1 + 99 + 1, "fill": 2, "lstm_cell_backward": 100,
                      "from_time_major": 1, "embedding_scatter": 1, "adam_update_ctl": 1,
                      "bias_grad_partial": 1, "bias_grad_final": 1}  # db over T·B = 6,400 rows: in parallel
    floor = (1 + 100 + 1) + (99 + 3 + 2) + 1
    with capsys.disabled():
        print("\nlaunches per step (Embedding → LSTM(128)×100 → Dense, batch 64, Adam): %d; floor %d; %s"
              % (len(names), floor, prog))
    assert len(names) == 420


FALLBACKS = {
    "gru_reset_before": (lambda: L.GRU(4, reset_after=False), "cannot run this cell"),
    "input_dropout": (lambda: L.LSTM(4, dropout=0.2), "has input dropout"),
    "recurrent_dropout": (lambda: L.LSTM(4, recurrent_dropout=0.2), "cannot run this cell"),
    "merge_mul": (lambda: L.Bidirectional(L.GRU(4), merge_mode="mul"), "merge_mode='mul'"),
    "stateful": (lambda: L.SimpleRNN(4, stateful=True), "stateful"),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_each_recurrent_fallback_is_logged_and_the_tape_trains_as_numpy(name, caplog, monkeypatch):
    layer, reason = FALLBACKS[name]

    def make():
        return gpunet.Sequential([gpunet.Input((T,), batch_size=8 if name == "stateful" else None),
                                  L.Embedding(V, 5), layer(), L.Dense(4, activation="softmax")])
    x, y = _tokens(48, seed=5)
    _tape_equals_numpy(make, None, caplog, reason, monkeypatch, data=(x, y))


def test_a_mask_reaching_a_layer_without_a_masked_rule_falls_back(caplog, monkeypatch):
    def make():
        i = gpunet.Input((T,))
        x = L.GRU(4, return_sequences=True)(L.Embedding(V, 5, mask_zero=True)(i))
        return gpunet.Model(i, L.Dense(4, activation="softmax")(L.GlobalMaxPooling1D()(x)))
    x, y = _tokens(48, seed=6)
    _tape_equals_numpy(make, None, caplog, 'reaches layer "global_max_pooling1d"', monkeypatch, data=(x, y))


def test_a_longer_sequence_takes_longer_buffers_not_more_of_them(emulated_tier, monkeypatch):
    """The time loop's products share their temporaries (split-K partials: graph_program.Program.scratch) and
    each state lives in one (T + 1, B, H) buffer: 30 steps allocate as many buffers as 10."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", "splitk")
    counts = []
    for steps in (10, 30):
        def make():
            return gpunet.Sequential([gpunet.Input((steps,)), L.Embedding(V, 8), L.LSTM(64),
                                      L.Dense(4, activation="softmax")])
        rng = np.random.default_rng(0)
        prog = _program(make, (steps,), 8, data=(rng.integers(0, V, (16, steps)).astype(np.float32),
                                                 rng.integers(0, 4, 16)), opt=_adam)
        names = [launch.name for launch in prog.launches]
        assert names.count("dense_forward_partial") >= steps  # split-K ran in the time loop
        counts.append(len(prog.arena.buffers))
    assert counts[0] == counts[1], counts
