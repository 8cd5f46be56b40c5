"""Schedules, the added optimizers, clipping and weight decay, sample/class weights, metrics,
initializers, regularizers, constraints and config — each against a formula written out here or
against real Keras."""
import math

import numpy as np
import pytest

import gpunet
from gpunet import constraints, initializers, layers, metrics, optimizers, regularizers
from gpunet.ops.tape import Variable
from gpunet.optimizers import schedules
from keras_ref import keras

R = np.random.default_rng(9)
STEPS = [0, 1, 5, 99, 100, 101, 250, 1000, 5000]


@pytest.mark.parametrize("make,formula", [
    (lambda: schedules.ExponentialDecay(0.1, 100, 0.5), lambda s: 0.1 * 0.5 ** (s / 100)),
    (lambda: schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True), lambda s: 0.1 * 0.5 ** (s // 100)),
    (lambda: schedules.PiecewiseConstantDecay([100, 250], [1.0, 0.5, 0.1]),
     lambda s: 1.0 if s <= 100 else (0.5 if s <= 250 else 0.1)),
    (lambda: schedules.PolynomialDecay(0.1, 1000, 0.01, power=2.0),
     lambda s: (0.1 - 0.01) * (1 - min(s, 1000) / 1000) ** 2 + 0.01),
    (lambda: schedules.PolynomialDecay(0.1, 100, 0.01, cycle=True),
     lambda s: (0.1 - 0.01) * (1 - s / (100 * max(1, math.ceil(s / 100)))) + 0.01),
    (lambda: schedules.InverseTimeDecay(0.1, 100, 0.5), lambda s: 0.1 / (1 + 0.5 * s / 100)),
    (lambda: schedules.InverseTimeDecay(0.1, 100, 0.5, staircase=True), lambda s: 0.1 / (1 + 0.5 * (s // 100))),
    (lambda: schedules.CosineDecay(0.1, 1000, alpha=0.1),
     lambda s: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 1000) / 1000)) + 0.1)),
    (lambda: schedules.CosineDecay(0.0, 1000, warmup_target=0.1, warmup_steps=100),
     lambda s: 0.1 * s / 100 if s < 100 else 0.1 * 0.5 * (1 + math.cos(math.pi * (min(s, 1100) - 100) / 1000))),
    (lambda: schedules.CosineDecayRestarts(0.1, 100, t_mul=2.0, m_mul=0.5),
     lambda s: _sgdr(s, 0.1, 100, 2.0, 0.5)),
    (lambda: schedules.CosineDecayRestarts(0.1, 100, t_mul=1.0, m_mul=1.0),
     lambda s: _sgdr(s, 0.1, 100, 1.0, 1.0)),
])
def test_schedules(make, formula):
    sch = make()
    for s in STEPS:
        assert sch(s) == pytest.approx(formula(s), rel=1e-9, abs=1e-12), s
    clone = type(sch).from_config(sch.get_config())
    assert clone(250) == sch(250)


def _sgdr(step, lr, first, t_mul, m_mul):
    """Cosine decay with warm restarts, period i lasting first * t_mul**i steps."""
    start, period, i = 0, first, 0
    while step >= start + period:
        start, period, i = start + period, period * t_mul, i + 1
    frac = (step - start) / period
    return lr * 0.5 * m_mul ** i * (1 + math.cos(math.pi * frac))


def test_schedules_match_keras():
    k = keras()
    pairs = [(schedules.ExponentialDecay(0.1, 100, 0.5), k.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)),
             (schedules.CosineDecay(0.0, 1000, warmup_target=0.1, warmup_steps=100),
              k.optimizers.schedules.CosineDecay(0.0, 1000, warmup_target=0.1, warmup_steps=100)),
             (schedules.CosineDecayRestarts(0.1, 100, 2.0, 0.5), k.optimizers.schedules.CosineDecayRestarts(0.1, 100, 2.0, 0.5)),
             (schedules.PolynomialDecay(0.1, 100, 0.01, cycle=True), k.optimizers.schedules.PolynomialDecay(0.1, 100, 0.01, cycle=True))]
    for ours, theirs in pairs:
        for s in STEPS:
            assert ours(s) == pytest.approx(float(theirs(s)), rel=1e-5, abs=1e-8)  # Keras computes in float32


def test_schedule_is_evaluated_per_step_in_fit():
    m = gpunet.Sequential([gpunet.Input((2,)), layers.Dense(1)])
    sch = schedules.PiecewiseConstantDecay([2], [0.1, 0.0])
    m.compile(optimizer=optimizers.SGD(sch), loss="mse")
    x, y = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    m.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)   # steps 0,1,2 at 0.1 then 0.0
    w3 = m.get_weights()
    m.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(w3, m.get_weights()))
    assert m.optimizer.learning_rate == 0.0 and int(m.optimizer.iterations.numpy()) == 8


# ---- added optimizers: 5 steps against the rule written out here ----

W0 = np.array([0.5, -1.2, 2.0, 0.1, 0.0, -0.4], dtype=np.float32)


def grad_of(p):
    return 2.0 * (p - 0.3) + 0.1 * np.sign(p)


def run(opt, steps=5):
    v = Variable(W0.copy())
    for _ in range(steps):
        opt.apply_gradients([(grad_of(v.numpy()), v)])
    return v.numpy()


def adagrad(p, g, s, t, lr=0.001, init=0.1, eps=1e-7):
    acc = s.setdefault("a", np.full_like(p, init))
    acc += g * g
    p -= lr * g / np.sqrt(acc + eps)


def adadelta(p, g, s, t, lr=0.001, rho=0.95, eps=1e-7):
    ag, ad = s.setdefault("g", np.zeros_like(p)), s.setdefault("d", np.zeros_like(p))
    ag[...] = rho * ag + (1 - rho) * g * g
    delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
    ad[...] = rho * ad + (1 - rho) * delta * delta
    p += lr * delta


def adamax(p, g, s, t, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    m, u = s.setdefault("m", np.zeros_like(p)), s.setdefault("u", np.zeros_like(p))
    m += (g - m) * (1 - b1)
    u[...] = np.maximum(b2 * u, np.abs(g))
    p -= lr * m / ((1 - b1 ** t) * (u + eps))


def nadam(p, g, s, t, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    m, v = s.setdefault("m", np.zeros_like(p)), s.setdefault("v", np.zeros_like(p))
    u = [b1 * (1 - 0.5 * 0.96 ** i) for i in range(1, t + 2)]
    prod_t = np.prod(u[:t])
    m += (g - m) * (1 - b1)
    v += (g * g - v) * (1 - b2)
    m_hat = u[t] * m / (1 - prod_t * u[t]) + (1 - u[t - 1]) * g / (1 - prod_t)
    p -= lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)


def lion(p, g, s, t, lr=0.001, b1=0.9, b2=0.99):
    m = s.setdefault("m", np.zeros_like(p))
    p -= lr * np.sign(m * b1 + g * (1 - b1))
    m[...] = m * b2 + g * (1 - b2)


@pytest.mark.parametrize("make,rule,hp", [
    (lambda: optimizers.Adagrad(0.1), adagrad, {"lr": 0.1}),
    (lambda: optimizers.Adadelta(1.0), adadelta, {"lr": 1.0}),
    (lambda: optimizers.Adamax(0.05), adamax, {"lr": 0.05}),
    (lambda: optimizers.Nadam(0.05), nadam, {"lr": 0.05}),
    (lambda: optimizers.Lion(0.05), lion, {"lr": 0.05}),
    (lambda: optimizers.get("adagrad"), adagrad, {}),
])
def test_added_optimizers(make, rule, hp):
    p, s = W0.astype(np.float64), {}
    for t in range(1, 6):
        rule(p, grad_of(p), s, t, **hp)
    np.testing.assert_allclose(run(make()), p, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Adam", "SGD", "RMSprop", "Lamb",
                                  "Ftrl"])
@pytest.mark.parametrize("opts", [{}, {"clipnorm": 0.5}, {"clipvalue": 0.3}, {"global_clipnorm": 0.7},
                                  {"weight_decay": 0.1}, {"use_ema": True},
                                  {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
                                  {"gradient_accumulation_steps": 2},
                                  {"gradient_accumulation_steps": 3, "clipnorm": 0.5, "use_ema": True},
                                  {"loss_scale_factor": 8.0}])
def test_optimizers_and_options_match_keras(name, opts):
    k = keras()
    grads = [R.standard_normal((3, 2)).astype("float32") * 2 for _ in range(5)]
    gb = [R.standard_normal(2).astype("float32") for _ in range(5)]
    w0, b0 = R.standard_normal((3, 2)).astype("float32"), R.standard_normal(2).astype("float32")
    ours = getattr(optimizers, name)(learning_rate=0.05, **opts)
    theirs = getattr(k.optimizers, name)(learning_rate=0.05, **opts)
    v, vb = Variable(w0.copy()), Variable(b0.copy())
    kv, kvb = k.Variable(w0.copy()), k.Variable(b0.copy())
    for g, g2 in zip(grads, gb):
        ours.apply_gradients([(g, v), (g2, vb)])
        theirs.apply_gradients([(g, kv), (g2, kvb)])
    np.testing.assert_allclose(v.numpy(), np.asarray(kv), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vb.numpy(), np.asarray(kvb), rtol=1e-5, atol=1e-6)
    # every optimizer variable (moving averages and accumulators included), in Keras's saved order
    mine, ref = ours.variables, theirs.variables
    assert [tuple(a.shape) for a in mine] == [tuple(b.shape) for b in ref]
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    ours.finalize_variable_values([v, vb])
    theirs.finalize_variable_values([kv, kvb])
    np.testing.assert_allclose(v.numpy(), np.asarray(kv), rtol=1e-5, atol=1e-6)
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


def test_optimizer_option_errors_name_the_argument():
    with pytest.raises(ValueError, match="gradient_accumulation_steps.*1"):
        optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum.*1.5"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="loss_scale_factor.*0"):
        optimizers.Adam(loss_scale_factor=0)


def test_clipping_formulas():
    g = np.array([3.0, 4.0], dtype=np.float32)                   # norm 5
    v = Variable(np.zeros(2, dtype=np.float32))
    optimizers.SGD(1.0, clipnorm=1.0).apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), -g / 5.0, rtol=1e-6)
    v = Variable(np.zeros(2, dtype=np.float32))
    optimizers.SGD(1.0, clipvalue=3.5).apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), [-3.0, -3.5])
    a, b = Variable(np.zeros(2, dtype=np.float32)), Variable(np.zeros(1, dtype=np.float32))
    optimizers.SGD(1.0, global_clipnorm=6.5).apply_gradients([(g, a), (np.array([12.0], np.float32), b)])
    np.testing.assert_allclose(np.concatenate([a.numpy(), b.numpy()]), -np.array([3, 4, 12.0]) * 6.5 / 13, rtol=1e-6)
    w = Variable(np.full(2, 2.0, dtype=np.float32))             # decoupled decay: w -= w * wd * lr first
    optimizers.SGD(0.1, weight_decay=0.5).apply_gradients([(np.zeros(2, np.float32), w)])
    np.testing.assert_allclose(w.numpy(), 2.0 - 2.0 * 0.5 * 0.1)


# ---- sample and class weights, by hand on a 2-sample batch ----

def two_sample_model():
    m = gpunet.Sequential([gpunet.Input((2,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              weighted_metrics=["accuracy"])
    m.set_weights([np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.0]], np.float32), np.zeros(3, np.float32)])
    return m


def test_sample_and_class_weight_by_hand():
    x = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    y = np.array([0, 2])
    m = two_sample_model()
    p = m.predict(x, verbose=0)
    l0, l1 = -np.log(p[0, 0]), -np.log(p[1, 2])
    correct = (p.argmax(1) == y).astype(float)
    sw = np.array([0.25, 3.0], np.float32)
    logs = m.test_on_batch(x, y, sample_weight=sw, return_dict=True)
    assert logs["loss"] == pytest.approx((0.25 * l0 + 3.0 * l1) / 2, rel=1e-5)   # sum(w*l) / batch size
    assert logs["accuracy"] == pytest.approx(correct.mean())                     # `metrics` ignore weights
    assert logs["weighted_accuracy"] == pytest.approx((0.25 * correct[0] + 3.0 * correct[1]) / 3.25)
    logs = m.train_on_batch(x, y, class_weight={0: 2.0, 2: 0.5}, return_dict=True)
    assert logs["loss"] == pytest.approx((2.0 * l0 + 0.5 * l1) / 2, rel=1e-5)
    h = m.fit(x, y, class_weight={0: 2.0, 2: 0.5}, sample_weight=np.array([1.0, 2.0]), batch_size=2, verbose=0)
    assert h.history["loss"][0] == pytest.approx((2.0 * l0 + 1.0 * l1) / 2, rel=1e-5)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx((l0 + l1) / 2, rel=1e-5)
    assert m.predict_on_batch(x) == pytest.approx(p)


def test_steps_per_epoch_and_validation_freq():
    m = gpunet.Sequential([gpunet.Input((2,)), layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((40, 2), "float32"), np.zeros((40, 1), "float32")
    h = m.fit(x, y, batch_size=4, epochs=4, steps_per_epoch=3, validation_data=(x, y), validation_freq=2, verbose=0)
    assert int(m.optimizer.iterations.numpy()) == 12
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    h = m.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]


# ---- metrics against direct NumPy ----

def test_precision_recall_auc_against_numpy():
    y = R.integers(0, 2, 500)
    p = np.clip(y * 0.3 + R.random(500) * 0.7, 0, 1).astype("float32")
    tp, fp, fn = ((p > 0.5) & (y == 1)).sum(), ((p > 0.5) & (y == 0)).sum(), ((p <= 0.5) & (y == 1)).sum()
    pr, rc = metrics.Precision(), metrics.Recall()
    for a, b in ((0, 200), (200, 500)):  # two updates accumulate
        pr.update_state(y[a:b], p[a:b])
        rc.update_state(y[a:b], p[a:b])
    assert pr.result() == pytest.approx(tp / (tp + fp))
    assert rc.result() == pytest.approx(tp / (tp + fn))
    auc = metrics.AUC()
    auc.update_state(y, p)
    eps = 1e-7
    th = np.array([-eps] + [(i + 1) / 199 for i in range(198)] + [1 + eps])
    tpr = np.array([((p > t) & (y == 1)).sum() / (y == 1).sum() for t in th])
    fpr = np.array([((p > t) & (y == 0)).sum() / (y == 0).sum() for t in th])
    assert auc.result() == pytest.approx(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum(), rel=1e-6)


def test_metrics_match_keras():
    k = keras()
    y = R.integers(0, 2, 300)
    p = R.random(300).astype("float32")
    for name in ("Precision", "Recall", "AUC"):
        ours, theirs = getattr(metrics, name)(), getattr(k.metrics, name)()
        ours.update_state(y, p)
        theirs.update_state(y, p)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)
    yc = R.integers(0, 10, 300)
    pc = R.random((300, 10)).astype("float32")
    for ours, theirs, yy in ((metrics.SparseTopKCategoricalAccuracy(k=3), k.metrics.SparseTopKCategoricalAccuracy(k=3), yc),
                             (metrics.TopKCategoricalAccuracy(k=2), k.metrics.TopKCategoricalAccuracy(k=2), np.eye(10)[yc])):
        ours.update_state(yy, pc)
        theirs.update_state(yy, pc)
        assert ours.result() == pytest.approx(float(theirs.result()))
        direct = np.mean([(pc[i] > pc[i, yc[i]]).sum() < ours._fn_kwargs["k"] for i in range(300)])
        assert ours.result() == pytest.approx(direct)


def test_metrics_in_compile_and_user_metric():
    def mean_pred(y_true, y_pred):
        return gpunet.ops.mean(y_pred, axis=-1)
    x = R.random((64, 3)).astype("float32")
    y = (x.sum(1, keepdims=True) > 1.5).astype("float32")
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["auc", metrics.Precision(), mean_pred, "mae"])
    h = m.fit(x, y, epochs=2, verbose=0)
    assert {"auc", "precision", "mean_pred", "mae", "loss"} <= set(h.history)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["mean_pred"] == pytest.approx(m.predict(x, verbose=0).mean(), rel=1e-5)


# ---- initializers, regularizers, constraints, config ----

@pytest.mark.parametrize("name,check", [
    ("glorot_uniform", lambda w: np.abs(w).max() <= math.sqrt(6 / 300) and abs(w.std() - math.sqrt(2 / 300)) < 0.01),
    ("glorot_normal", lambda w: abs(w.std() - math.sqrt(2 / 300)) < 0.01),
    ("he_uniform", lambda w: np.abs(w).max() <= math.sqrt(6 / 200)),
    ("he_normal", lambda w: abs(w.std() - math.sqrt(2 / 200)) < 0.01),
    ("lecun_uniform", lambda w: np.abs(w).max() <= math.sqrt(3 / 200)),
    ("lecun_normal", lambda w: abs(w.std() - math.sqrt(1 / 200)) < 0.005),
    ("random_normal", lambda w: abs(w.std() - 0.05) < 0.003),
    ("random_uniform", lambda w: np.abs(w).max() <= 0.05),
    ("truncated_normal", lambda w: np.abs(w).max() <= 0.1),
    ("zeros", lambda w: not w.any()), ("ones", lambda w: (w == 1).all()),
])
def test_initializers(name, check):
    w = np.asarray(initializers.get(name)((200, 100)))
    assert w.dtype == np.float32 and w.shape == (200, 100) and check(w)


def test_seeded_initializers_orthogonal_identity_constant():
    a = initializers.GlorotUniform(seed=3)((5, 4))
    assert np.array_equal(a, initializers.GlorotUniform(seed=3)((5, 4)))
    assert not np.array_equal(a, initializers.GlorotUniform(seed=4)((5, 4)))
    q = np.asarray(initializers.Orthogonal(seed=1)((6, 4)), dtype=np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    assert np.array_equal(initializers.Identity()((3, 3)), np.eye(3, dtype=np.float32))
    assert (np.asarray(initializers.Constant(0.7)((2,))) == np.float32(0.7)).all()
    layer = layers.Dense(3, kernel_initializer=initializers.HeNormal(seed=1), bias_initializer="ones")
    layer(np.zeros((1, 4), np.float32))
    assert np.array_equal(layer.bias.numpy(), np.ones(3, np.float32))


def test_regularizers_add_to_the_loss_as_keras():
    x = R.random((16, 3)).astype("float32")
    y = R.random((16, 2)).astype("float32")
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(2, kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.1),
                                                            bias_regularizer="l2")])
    m.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    w, b = m.get_weights()
    data = ((m.predict(x, verbose=0) - y) ** 2).mean()
    penalty = 0.01 * np.abs(w).sum() + 0.1 * (w ** 2).sum() + 0.01 * (b ** 2).sum()
    assert m.evaluate(x, y, verbose=0) == pytest.approx(data + penalty, rel=1e-5)
    k = keras()
    assert float(k.regularizers.L1L2(l1=0.01, l2=0.1)(w)) == pytest.approx(float(regularizers.L1L2(0.01, 0.1)(w).numpy()), rel=1e-6)


def test_activity_regularizer_and_constraints():
    x = R.random((16, 3)).astype("float32") * 5
    m = gpunet.Sequential([gpunet.Input((3,)), layers.Dense(4, kernel_constraint=constraints.MaxNorm(0.5),
                                                            bias_constraint=constraints.NonNeg(),
                                                            activity_regularizer=regularizers.L2(0.01))])
    m.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    m.fit(x, R.standard_normal((16, 4)).astype("float32") * 5, epochs=3, verbose=0)
    w, b = m.get_weights()
    assert np.sqrt((w ** 2).sum(0)).max() <= 0.5 + 1e-5 and (b >= 0).all()
    u = np.asarray(constraints.UnitNorm()(np.array([[3.0, 0.0], [4.0, 2.0]])))
    np.testing.assert_allclose(np.sqrt((u ** 2).sum(0)), 1.0, rtol=1e-6)


def test_config_floatx_epsilon():
    from gpunet import config
    assert config.floatx() == "float32" and config.epsilon() == 1e-7
    config.set_epsilon(1e-5)
    try:
        loss = gpunet.losses.binary_crossentropy(np.array([1.0]), np.array([0.0], np.float32))
        assert float(loss.numpy()) == pytest.approx(-math.log(1e-5), rel=1e-4)
    finally:
        config.set_epsilon(1e-7)
    config.set_floatx("float64")
    try:
        assert layers.Dense(2)(np.ones((1, 3))).dtype == np.float64
    finally:
        config.set_floatx("float32")
    with pytest.raises(ValueError):
        config.set_floatx("int8")


def test_configs_round_trip():
    from gpunet import losses
    for obj in [losses.CategoricalCrossentropy(label_smoothing=0.1), losses.Huber(delta=0.3),
                losses.SparseCategoricalCrossentropy(from_logits=True), losses.MeanSquaredError()]:
        clone = type(obj).from_config(obj.get_config())
        assert clone.get_config() == obj.get_config()
        assert losses.get(losses.serialize(obj)).get_config() == obj.get_config()
    for obj in [metrics.AUC(num_thresholds=50), metrics.Precision(thresholds=0.3), metrics.TopKCategoricalAccuracy(k=3),
                metrics.SparseCategoricalAccuracy(name="acc")]:
        clone = metrics.get({"class_name": type(obj).__name__, "config": obj.get_config()})
        assert type(clone) is type(obj) and clone.name == obj.name
    for init in [initializers.GlorotUniform(seed=4), initializers.RandomNormal(0.1, 0.2, seed=1),
                 initializers.Orthogonal(gain=2.0), initializers.Constant(0.5), initializers.VarianceScaling(2.0, "fan_out")]:
        clone = initializers.get(initializers.serialize(init))
        assert clone.get_config() == init.get_config()
    for reg in [regularizers.L1(0.2), regularizers.L2(0.3), regularizers.L1L2(0.1, 0.2)]:
        clone = regularizers.get({"class_name": type(reg).__name__, "config": reg.get_config()})
        assert clone.get_config() == reg.get_config()
    for opt in [optimizers.Adam(0.01, amsgrad=True), optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                optimizers.Lion(0.002), optimizers.AdamW(schedules.CosineDecay(0.1, 100))]:
        clone = optimizers.get(optimizers.serialize(opt))
        assert clone.get_config() == opt.get_config()
    k = keras()
    for opt in [optimizers.Adam(0.01, amsgrad=True), optimizers.RMSprop(0.02, centered=True)]:
        theirs = k.optimizers.deserialize(optimizers.serialize(opt))
        assert theirs.get_config()["amsgrad" if "amsgrad" in opt.get_config() else "centered"]


def test_ftrl_regularization_terms_match_keras():
    k = keras()
    kw = dict(learning_rate=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.02,
              l2_shrinkage_regularization_strength=0.03, beta=0.5, learning_rate_power=-0.7)
    ours, theirs = optimizers.Ftrl(**kw), k.optimizers.Ftrl(**kw)
    w0 = R.standard_normal((3, 2)).astype("float32")
    v, kv = Variable(w0.copy()), k.Variable(w0.copy())
    for _ in range(4):
        g = R.standard_normal((3, 2)).astype("float32")
        ours.apply_gradients([(g, v)])
        theirs.apply_gradients([(g, kv)])
    np.testing.assert_allclose(v.numpy(), np.asarray(kv), rtol=1e-5, atol=1e-6)
