"""Sequence layers against real Keras 3 (NumPy backend) as the referee: SimpleRNN/LSTM/GRU over a grid of
options with masks, Bidirectional's merge modes, MultiHeadAttention and Attention with every kind of mask,
Embedding/Masking/TimeDistributed, configs, and weights in files both ways. Gradients: the fused sequence
op against the tape through the cells (the general path) and against central differences in float64."""
import re

import numpy as np
import pytest

import gpunet
from gpunet import layers, ops
from gpunet.ops.tape import GradientTape, Tensor
import keras_ref  # noqa: F401  (KERAS_BACKEND=numpy before Keras is imported)

keras = pytest.importorskip("keras")

R = np.random.default_rng(5)
B, T, D, H = 3, 6, 4, 5
X = R.normal(size=(B, T, D)).astype("float32")
MASK = np.ones((B, T), bool)
MASK[0, 4:] = False   # padding at the end
MASK[1, :2] = False   # padding at the start
MASK[2, 3] = False    # a hole


def _both(kcls, gcls, *args, **kw):
    k = getattr(keras.layers, kcls)(*args, **kw)
    g = getattr(layers, gcls or kcls)(*args, **kw)
    return k, g


def _same_weights(k, g, shape, scale=0.5, seed=0):
    k.build(shape)
    g.build(shape)
    rng = np.random.default_rng(seed)
    ws = [(rng.normal(size=w.shape) * scale).astype("float32") for w in k.get_weights()]
    assert [w.shape for w in g.get_weights()] == [w.shape for w in ws]
    k.set_weights(ws)
    g.set_weights(ws)


def _plain(cfg):
    """Keras 3.15's initializer configs carry input_axes/output_axes (None); gpunet's leave them out."""
    if isinstance(cfg, dict):
        return {k: _plain(v) for k, v in cfg.items() if not (k in ("input_axes", "output_axes") and v is None)}
    return cfg


def _paths(layer):
    """Weight paths without the per-process name counters ("forward_lstm_3/lstm_cell/kernel")."""
    return [re.sub(r"_\d+(?=/|$)", "", w.path) for w in layer.weights]


def _close(a, b, tol=2e-5):
    a = list(a) if isinstance(a, (list, tuple)) else [a]
    b = list(b) if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, (x.shape, y.shape)
        np.testing.assert_allclose(y, x, rtol=tol, atol=tol)


RNN_CASES = [(cls, rs, st, gb, m, extra)
             for cls in ("SimpleRNN", "LSTM", "GRU")
             for rs, st, gb, m in [(False, False, False, False), (True, False, False, True), (True, True, True, True),
                                   (False, True, False, True), (True, False, True, False), (False, False, True, True)]
             for extra in ([{}, {"activation": "relu"}, {"reset_after": False}] if cls == "GRU" else
                           [{}, {"activation": "relu"}, {"use_bias": False}] if cls == "LSTM" else
                           [{}, {"activation": "sigmoid", "use_bias": False}])]


@pytest.mark.parametrize("cls,rs,st,gb,use_mask,extra", RNN_CASES)
def test_recurrent_layers_equal_keras(cls, rs, st, gb, use_mask, extra):
    kw = dict(return_sequences=rs, return_state=st, go_backwards=gb, **extra)
    k, g = _both(cls, None, H, **kw)
    _same_weights(k, g, (None, T, D))
    m = MASK if use_mask else None
    _close(k(X, mask=m), g(X, mask=m))
    assert g.compute_output_shape((None, T, D)) == k.compute_output_shape((None, T, D)) or \
        list(g.compute_output_shape((None, T, D))) == list(k.compute_output_shape((None, T, D)))


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state_equals_keras(cls):
    k, g = _both(cls, None, H, return_sequences=True, return_state=True)
    _same_weights(k, g, (None, T, D))
    states = [R.normal(size=(B, H)).astype("float32") for _ in range(2 if cls == "LSTM" else 1)]
    _close(k(X, initial_state=states, mask=MASK), g(X, initial_state=states, mask=MASK))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("rs,st,use_mask", [(False, False, False), (True, False, True), (True, True, True),
                                            (False, True, True)])
def test_bidirectional_equals_keras(merge_mode, rs, st, use_mask):
    k = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=rs, return_state=st), merge_mode=merge_mode)
    g = layers.Bidirectional(layers.LSTM(H, return_sequences=rs, return_state=st), merge_mode=merge_mode)
    _same_weights(k, g, (None, T, D))
    m = MASK if use_mask else None
    _close(k(X, mask=m), g(X, mask=m))
    assert _paths(g) == _paths(k)


def test_bidirectional_with_a_gru_backward_layer_and_initial_states():
    k = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True),
                                   backward_layer=keras.layers.GRU(H, return_sequences=True, go_backwards=True))
    g = layers.Bidirectional(layers.GRU(H, return_sequences=True),
                             backward_layer=layers.GRU(H, return_sequences=True, go_backwards=True))
    _same_weights(k, g, (None, T, D))
    states = [R.normal(size=(B, H)).astype("float32") for _ in range(2)]
    _close(k(X, initial_state=states), g(X, initial_state=states))


def test_stacked_cells_and_a_custom_cell_run_the_general_path_as_keras():
    k = keras.layers.RNN([keras.layers.LSTMCell(H), keras.layers.GRUCell(3)], return_sequences=True, return_state=True)
    g = layers.RNN([layers.LSTMCell(H), layers.GRUCell(3)], return_sequences=True, return_state=True)
    _same_weights(k, g, (None, T, D))
    _close(k(X, mask=MASK), g(X, mask=MASK))

    class MinimalCell(layers.Layer):  # the RNN docstring's example, unchanged
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = ops.matmul(inputs, self.kernel)
            output = h + ops.matmul(prev_output, self.recurrent_kernel)
            return output, [output]
    layer = layers.RNN(MinimalCell(4), return_sequences=True)
    out = layer(X)
    kk, U = layer.cell.kernel.numpy(), layer.cell.recurrent_kernel.numpy()
    h = np.zeros((B, 4), "float32")
    for t in range(T):
        h = X[:, t] @ kk + h @ U
        np.testing.assert_allclose(out.numpy()[:, t], h, rtol=1e-5, atol=1e-6)


def test_stateful_rnn_carries_states_between_calls_until_reset():
    k, g = _both("LSTM", None, H, stateful=True)
    _same_weights(k, g, (B, T, D))
    for _ in range(2):
        _close(k(X), g(X))
    k.reset_states()
    g.reset_states()
    _close(k(X), g(X))
    with pytest.raises(ValueError, match="batch size"):
        g(X[:2])


def test_keras_configs_round_trip_and_match():
    for k, g in [_both("LSTM", None, 7, dropout=0.1, return_sequences=True, go_backwards=True),
                 _both("GRU", None, 3, reset_after=False, recurrent_activation="hard_sigmoid"),
                 _both("SimpleRNN", None, 2, activation="relu", return_state=True),
                 _both("Embedding", None, 30, 4, mask_zero=True), _both("Masking", None, mask_value=-1.0),
                 _both("MultiHeadAttention", None, 2, 8, value_dim=4, dropout=0.1),
                 _both("Attention", None, use_scale=True)]:
        kc, gc = _plain(k.get_config()), g.get_config()
        kc.pop("name"), gc.pop("name")
        assert {key: kc[key] for key in kc if key != "quantization_config"} == gc, type(g).__name__
        again = type(g).from_config(g.get_config())
        assert again.get_config() == g.get_config()
        k2 = type(k).from_config(g.get_config())  # Keras takes gpunet's config
        assert k2.get_config()["name"] == g.name


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("gb,use_mask,act", [(False, False, "tanh"), (True, True, "tanh"), (False, True, "relu"),
                                             (True, False, "hard_sigmoid"), (False, True, "linear")])
def test_fused_sequence_op_gradients_equal_the_cells_and_central_differences(cls, gb, use_mask, act):
    gpunet.config.set_floatx("float64")
    try:
        layer = getattr(layers, cls)(H, return_sequences=True, return_state=True, go_backwards=gb, activation=act)
        layer.build((None, T, D))
        rng = np.random.default_rng(3)
        weights = [rng.normal(size=w.shape) * 0.5 for w in layer.get_weights()]
        layer.set_weights(weights)
        x = rng.normal(size=(B, T, D))
        states = [rng.normal(size=(B, H)) for _ in range(2 if cls == "LSTM" else 1)]
        ws = [rng.normal(size=s) for s in [(B, T, H)] + [(B, H)] * len(states)]
        mask = MASK if use_mask else None

        def run(fused, xv, sv, wv):
            for v, val in zip(layer.trainable_weights, wv):
                v.assign(val)
            if not fused:
                layer._fused_kind = lambda training: None
            try:
                xt, st = Tensor(xv), [Tensor(s) for s in sv]
                with GradientTape() as tape:
                    tape.watch([xt] + st)
                    outs = layer(xt, initial_state=st, mask=mask)
                    loss = sum(ops.sum(ops.multiply(o, w)) for o, w in zip(outs, ws))
                grads = tape.gradient(loss, [xt] + st + layer.trainable_weights)
            finally:
                layer.__dict__.pop("_fused_kind", None)
            return float(loss.numpy()), [gr.numpy() for gr in grads]
        assert layer._fused_kind(True) is not None
        lf, gf = run(True, x, states, weights)
        ll, gl = run(False, x, states, weights)
        assert abs(lf - ll) < 1e-10
        for a, b in zip(gf, gl):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
        dirs = [rng.normal(size=np.shape(a)) for a in gf]
        analytic = sum(float((a * d).sum()) for a, d in zip(gf, dirs))
        eps, n = 1e-6, len(states)

        def shifted(s):
            return run(True, x + s * dirs[0], [st + s * d for st, d in zip(states, dirs[1:1 + n])],
                       [w + s * d for w, d in zip(weights, dirs[1 + n:])])[0]
        numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
        assert np.isclose(analytic, numeric, rtol=1e-6, atol=1e-8), (analytic, numeric)
    finally:
        gpunet.config.set_floatx("float32")


def test_lstm_dropout_options_take_the_right_path_and_train():
    lstm = layers.LSTM(H, dropout=0.3)
    lstm.build((None, T, D))
    assert lstm._fused_kind(True) == "lstm"  # input dropout: one mask per sequence, then the fused op
    rec = layers.LSTM(H, recurrent_dropout=0.3)
    rec.build((None, T, D))
    assert rec._fused_kind(True) is None and rec._fused_kind(False) == "lstm"
    assert rec.cell.implementation == 1  # Keras: one mask per gate
    for layer in (lstm, rec):
        a, b = layer(X, training=True).numpy(), layer(X, training=True).numpy()
        assert not np.allclose(a, b)  # fresh masks per call
        np.testing.assert_array_equal(layer(X).numpy(), layer(X, training=False).numpy())


def test_masks_flow_through_sequential_and_functional_models_into_the_loss():
    x = np.array([[3, 1, 0, 0], [2, 5, 7, 0]])
    k = keras.Sequential([keras.Input((4,)), keras.layers.Embedding(10, 3, mask_zero=True),
                          keras.layers.LSTM(4, return_sequences=True), keras.layers.Dense(2)])
    g = gpunet.Sequential([gpunet.Input((4,)), layers.Embedding(10, 3, mask_zero=True),
                           layers.LSTM(4, return_sequences=True), layers.Dense(2)])
    g.set_weights(k.get_weights())
    out = g(x)
    np.testing.assert_array_equal(out._keras_mask.numpy(), x != 0)
    _close(k.predict(x, verbose=0), g.predict(x, verbose=0))
    y = R.normal(size=(2, 4, 2)).astype("float32")
    k.compile(loss="mse")
    g.compile(loss="mse")
    np.testing.assert_allclose(g.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0), rtol=1e-5)
    # the padded timesteps do not count: the loss is the mean over the 5 real ones
    per = ((g.predict(x, verbose=0) - y) ** 2).mean(axis=-1)
    np.testing.assert_allclose(g.evaluate(x, y, verbose=0), per[x != 0].mean(), rtol=1e-5)
    inp = gpunet.Input((4,))
    h = layers.Embedding(10, 3, mask_zero=True)(inp)
    h = layers.Bidirectional(layers.GRU(4, return_sequences=True))(h)
    pooled = layers.GlobalAveragePooling1D()(h)
    f = gpunet.Model(inp, layers.Dense(1)(pooled))
    ki = keras.Input((4,))
    kh = keras.layers.Embedding(10, 3, mask_zero=True)(ki)
    kh = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))(kh)
    kf = keras.Model(ki, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(kh)))
    f.set_weights(kf.get_weights())
    _close(kf.predict(x, verbose=0), f.predict(x, verbose=0))


def test_sparse_crossentropy_and_accuracy_skip_masked_timesteps_as_keras():
    x = np.array([[3, 1, 0, 0], [2, 5, 7, 0], [4, 0, 0, 0]])
    y = np.array([[1, 0, 2, 2], [2, 1, 0, 1], [0, 2, 2, 2]])

    def build(lib, L):
        m = lib.Sequential([lib.Input((4,)), L.Embedding(10, 3, mask_zero=True), L.SimpleRNN(5, return_sequences=True),
                            L.Dense(3, activation="softmax")])
        m.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"], optimizer="sgd")
        return m
    k, g = build(keras, keras.layers), build(gpunet, layers)
    g.set_weights(k.get_weights())
    _close(k.evaluate(x, y, verbose=0), g.evaluate(x, y, verbose=0), tol=1e-5)
    sw = R.random((3, 4))  # per-timestep weights, combined with the mask
    _close(k.evaluate(x, y, sample_weight=sw, verbose=0), g.evaluate(x, y, sample_weight=sw, verbose=0), tol=1e-5)
    # training sees the same masked loss: fit's first-batch loss is evaluate's on that batch
    first = g.evaluate(x[:2], y[:2], verbose=0)[0]
    h = g.fit(x[:2], y[:2], epochs=1, batch_size=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"][0], first, rtol=1e-5)


def test_masked_softmax_and_global_pooling_and_time_distributed_equal_keras():
    x = R.normal(size=(B, T, D)).astype("float32")
    k, g = _both("Softmax", None)
    _close(k(x, mask=np.broadcast_to(MASK[:, :, None], x.shape)), g(x, mask=np.broadcast_to(MASK[:, :, None], x.shape)))
    k, g = _both("GlobalAveragePooling1D", None)
    _close(k(x, mask=MASK), g(x, mask=MASK))
    k = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="tanh"))
    g = layers.TimeDistributed(layers.Dense(3, activation="tanh"))
    _same_weights(k, g, (None, T, D))
    _close(k(x), g(x))
    k, g = _both("Masking", None, mask_value=0.0)
    xm = x.copy()
    xm[0, 2:] = 0.0
    _close(k(xm), g(xm))
    np.testing.assert_array_equal(g(xm)._keras_mask.numpy(), np.any(xm != 0, axis=-1))


ATTN_CALLS = [{}, {"attention_mask": R.random((B, T, T + 1)) > 0.3}, {"use_causal_mask": True},
              {"value_mask": R.random((B, T + 1)) > 0.2}, {"return_attention_scores": True}]


@pytest.mark.parametrize("kw", [{}, {"value_dim": 3}, {"output_shape": 5}, {"use_bias": False}])
@pytest.mark.parametrize("call", range(len(ATTN_CALLS)))
def test_multi_head_attention_equals_keras(kw, call):
    c = dict(ATTN_CALLS[call])
    q = R.normal(size=(B, T, D)).astype("float32")
    v = R.normal(size=(B, T if c.get("use_causal_mask") else T + 1, 6)).astype("float32")
    k, g = _both("MultiHeadAttention", None, 3, 4, **kw)
    k(q, v)
    g(q, v)
    ws = [(R.normal(size=w.shape) * 0.5).astype("float32") for w in k.get_weights()]
    k.set_weights(ws)
    g.set_weights(ws)
    _close(k(q, v, **c), g(q, v, **c))
    assert _paths(g) == _paths(k)


def test_attention_masks_from_embeddings_reach_multi_head_attention():
    ids = np.array([[4, 2, 0, 0], [1, 3, 5, 0]])

    def build(lib, L):
        inp = lib.Input((4,))
        e = L.Embedding(8, 6, mask_zero=True)(inp)
        a = L.MultiHeadAttention(2, 3)(e, e)
        return lib.Model(inp, L.GlobalAveragePooling1D()(a))
    k, g = build(keras, keras.layers), build(gpunet, layers)
    g.set_weights(k.get_weights())
    _close(k.predict(ids, verbose=0), g.predict(ids, verbose=0))


@pytest.mark.parametrize("kw", [{}, {"use_scale": True}, {"score_mode": "concat"}, {"use_scale": True,
                                                                                    "score_mode": "concat"}])
def test_attention_layer_equals_keras(kw):
    q = R.normal(size=(B, T, D)).astype("float32")
    v = R.normal(size=(B, T, D)).astype("float32")
    qm, vm = MASK, np.roll(MASK, 1, axis=1)
    k, g = _both("Attention", None, **kw)
    if kw.get("use_scale"):
        k.build([q.shape, v.shape])
        g.build([q.shape, v.shape])
        k.set_weights([np.float32(1.7)] * len(k.get_weights()))
        g.set_weights([np.float32(1.7)] * len(g.get_weights()))
    for c in [{}, {"mask": [qm, vm]}, {"use_causal_mask": True}, {"return_attention_scores": True}]:
        _close(k([q, v], **c), g([q, v], **c))


def test_embedding_checks_ids_and_keeps_keras_names():
    e = layers.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"ids in \[0, 5\).*\[0, 7\]"):
        e(np.array([[0, 7]]))
    with pytest.raises(ValueError, match="output_dim"):
        layers.Embedding(5, 0)
    with pytest.warns(UserWarning, match="input_length"):
        layers.Embedding(5, 2, input_length=3)
    assert e.weights[0].path.endswith("embeddings")
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="batch, time, features"):
        layers.LSTM(2)(np.zeros((2, 3), "float32"))


def test_lstm_model_files_both_ways(tmp_path):
    def build(lib, L):
        m = lib.Sequential([lib.Input((T,), dtype="int32"), L.Embedding(12, 4, mask_zero=True),
                            L.Bidirectional(L.LSTM(5, return_sequences=True)), L.GRU(3), L.Dense(2)])
        m.compile(optimizer="adam", loss="mse")
        return m
    ids = R.integers(0, 12, (4, T))
    ids[0, 3:] = 0
    k = build(keras, keras.layers)
    k.optimizer.build(k.trainable_variables)  # a built optimizer: its state travels in the file
    k.save(tmp_path / "k.keras")
    k.save_weights(tmp_path / "k.weights.h5")
    g = gpunet.saving.load_model(tmp_path / "k.keras")
    _close(k.predict(ids, verbose=0), g.predict(ids, verbose=0))
    g2 = build(gpunet, layers)
    g2.load_weights(tmp_path / "k.weights.h5")
    _close(k.predict(ids, verbose=0), g2.predict(ids, verbose=0))
    g2.fit(ids, R.normal(size=(4, 2)), epochs=1, verbose=0)
    g2.save(tmp_path / "g.keras")
    k2 = keras.saving.load_model(tmp_path / "g.keras")
    _close(g2.predict(ids, verbose=0), k2.predict(ids, verbose=0))
    g2.save_weights(tmp_path / "g.weights.h5")
    k.load_weights(tmp_path / "g.weights.h5")
    _close(g2.predict(ids, verbose=0), k.predict(ids, verbose=0))


def test_legacy_h5_files_of_recurrent_models_load(tmp_path):
    """Keras's legacy .h5 keeps one group per top-level layer holding all its weights (cells, both halves)."""
    def build(lib, L):
        return lib.Sequential([lib.Input((T,)), L.Embedding(12, 4, mask_zero=True),
                               L.Bidirectional(L.LSTM(3, return_sequences=True)), L.GRU(2), L.Dense(2)])
    ids = R.integers(0, 12, (3, T))
    k = build(keras, keras.layers)
    k.save(tmp_path / "k.h5")
    g = build(gpunet, layers)
    g.load_weights(tmp_path / "k.h5")
    _close(k.predict(ids, verbose=0), g.predict(ids, verbose=0))
    g2 = gpunet.saving.load_model(tmp_path / "k.h5", compile=False)
    _close(k.predict(ids, verbose=0), g2.predict(ids, verbose=0))


def test_additive_attention_and_reversible_embedding_equal_keras():
    q, v = R.normal(size=(2, 4, 5)).astype("float32"), R.normal(size=(2, 6, 5)).astype("float32")
    masks = [np.array([[1, 1, 0, 1], [1, 0, 1, 1]], bool), np.array([[1, 1, 1, 0, 0, 1], [1] * 6], bool)]
    for kw in [{}, {"use_scale": False}]:
        k, g = _both("AdditiveAttention", None, **kw)
        k([q, v])
        g([q, v])
        g.set_weights(k.get_weights())
        _close(k([q, v], mask=masks), g([q, v], mask=masks))
        assert _plain(k.get_config()) == g.get_config()
    for tie in (True, False):
        k, g = _both("ReversibleEmbedding", None, 10, 4, tie_weights=tie, logit_soft_cap=3.0, mask_zero=True)
        ids = np.array([[1, 2, 0]])
        k(ids), g(ids)
        g.set_weights(k.get_weights())
        _close(k(ids), g(ids))
        h = R.normal(size=(1, 3, 4)).astype("float32")
        _close(k(h, reverse=True), g(h, reverse=True))
        np.testing.assert_array_equal(g(ids)._keras_mask.numpy(), ids != 0)
        kc, gc = _plain(k.get_config()), g.get_config()
        kc.pop("name"), gc.pop("name")
        assert {a: kc[a] for a in kc if a != "quantization_config"} == gc


def test_integer_token_ids_stay_integers_for_embedding_inputs():
    """float32 holds integers exactly only up to 2^24: token ids for an Input(dtype="int32") read by an
    Embedding reach it as integers; other models' data become floatx as before."""
    from gpunet.training import data
    ids = np.array([[2 ** 24 + 1, 3]])
    m = gpunet.Sequential([gpunet.Input((2,), dtype="int32"), layers.Embedding(10, 2), layers.Flatten()])
    assert data.prepare_x(m, ids).dtype == np.int32
    with pytest.raises(ValueError, match="outside the range"):
        data.prepare_x(m, np.array([[2 ** 40, 1]]))
    dense = gpunet.Sequential([gpunet.Input((2,), dtype="int32"), layers.Dense(1)])
    assert data.prepare_x(dense, ids).dtype == np.float32
    inp = gpunet.Input((2,), dtype="int64")
    f = gpunet.Model(inp, layers.Flatten()(layers.Embedding(10, 2)(inp)))
    assert data.prepare_x(f, ids).dtype == np.int64


def test_bad_sequence_inputs_get_clear_errors():
    lstm = layers.LSTM(H)
    with pytest.raises(ValueError, match=r"initial_state\[1\] must have shape \(batch, 5\)"):
        lstm(X, initial_state=[np.zeros((B, H), "float32"), np.zeros((B, 2), "float32")])
    with pytest.raises(ValueError, match="expects 2 initial state"):
        lstm(X, initial_state=[np.zeros((B, H), "float32")])
    with pytest.raises(ValueError, match="Bidirectional wraps a recurrent layer"):
        layers.Bidirectional(layers.Dense(3))
    mha = layers.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="share the batch size"):
        mha(X, X[:2])
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_per_timestep_targets_train_alike_on_the_fast_and_eager_paths(loss):
    """(batch, time) labels for (batch, time, classes) softmax outputs: the fused cross-entropy (and the compiled
    CPU step where it applies) equals the tape with run_eagerly=True, and evaluate equals Keras's."""
    x = R.normal(size=(48, 4, 5)).astype("float32")
    ys = R.integers(0, 3, (48, 4))
    y = ys if loss.startswith("sparse") else np.eye(3, dtype="float32")[ys]
    runs = []
    # made before the seeded runs: Keras draws its layers' seeds from Python's `random`, as gpunet now does, so a
    # Keras model made inside one run would move the stream that run's fit takes its seed from
    k = keras.Sequential([keras.Input((4, 5)), keras.layers.Dense(6, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
    k.compile(loss=loss, metrics=["accuracy"])
    for eager in (False, True):
        gpunet.utils.set_random_seed(1)
        m = gpunet.Sequential([gpunet.Input((4, 5)), layers.Dense(6, activation="relu"),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss=loss, metrics=["accuracy"], run_eagerly=eager)
        if not eager:
            k.set_weights(m.get_weights())
            _close(k.evaluate(x, y, verbose=0), m.evaluate(x, y, verbose=0), tol=1e-5)
        h = m.fit(x, y, epochs=2, batch_size=16, verbose=0).history
        runs.append((h, m.get_weights()))
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(runs[0][0][key], runs[1][0][key], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
