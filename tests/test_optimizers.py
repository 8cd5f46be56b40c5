"""Each optimizer's first 5 steps against Keras's published update rules, written out here."""
import math

import numpy as np
import pytest

import gpunet
from gpunet import optimizers
from gpunet.ops.tape import Variable

W0 = np.array([[0.5, -1.2, 2.0], [0.1, 0.0, -0.4]], dtype=np.float32)
B0 = np.array([0.3, -0.7, 1.5], dtype=np.float32)
TARGET = np.array([1.0, -2.0, 0.5], dtype=np.float32)


def grad_of(p):
    """A gradient that depends on the parameters, so later steps see new values."""
    return 2.0 * (p - TARGET) + 0.1 * np.sign(p)


def run(opt, steps=5):
    vs = [Variable(W0.copy()), Variable(B0.copy())]
    for _ in range(steps):
        grads = [grad_of(v.numpy()) for v in vs]
        opt.apply_gradients(zip(grads, vs))
    return [v.numpy() for v in vs]


def reference(rule, steps=5, **hp):
    ps = [W0.astype(np.float64), B0.astype(np.float64)]
    state = [dict() for _ in ps]
    for t in range(1, steps + 1):
        for p, st in zip(ps, state):
            rule(p, grad_of(p), st, t, **hp)
    return ps


def adam_rule(p, g, st, t, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=0.0):
    if wd:
        p -= p * wd * lr
    m = st.setdefault("m", np.zeros_like(p))
    v = st.setdefault("v", np.zeros_like(p))
    m += (g - m) * (1 - b1)
    v += (g * g - v) * (1 - b2)
    vv = v
    if amsgrad:
        vh = st.setdefault("vh", np.zeros_like(p))
        np.maximum(vh, v, out=vh)
        vv = vh
    alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    p -= m * alpha / (np.sqrt(vv) + eps)


def sgd_rule(p, g, st, t, lr=0.01, mu=0.0, nesterov=False):
    if mu == 0:
        p -= lr * g
        return
    m = st.setdefault("m", np.zeros_like(p))
    m[...] = mu * m - lr * g
    p += (mu * m - lr * g) if nesterov else m


def rmsprop_rule(p, g, st, t, lr=0.001, rho=0.9, mu=0.0, eps=1e-7, centered=False):
    v = st.setdefault("v", np.zeros_like(p))
    v[...] = rho * v + (1 - rho) * g * g
    if centered:
        a = st.setdefault("a", np.zeros_like(p))
        a[...] = rho * a + (1 - rho) * g
        denom = v - a * a + eps
    else:
        denom = v + eps
    inc = lr * g / np.sqrt(denom)
    if mu:
        m = st.setdefault("m", np.zeros_like(p))
        m[...] = mu * m + inc
        p -= m
    else:
        p -= inc


CASES = [
    (lambda: optimizers.Adam(), adam_rule, {}),
    (lambda: optimizers.Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-3), adam_rule,
     dict(lr=0.05, b1=0.8, b2=0.99, eps=1e-3)),
    (lambda: optimizers.Adam(learning_rate=0.05, amsgrad=True), adam_rule, dict(lr=0.05, amsgrad=True)),
    (lambda: optimizers.AdamW(learning_rate=0.05), adam_rule, dict(lr=0.05, wd=0.004)),
    (lambda: optimizers.AdamW(learning_rate=0.05, weight_decay=0.1), adam_rule, dict(lr=0.05, wd=0.1)),
    (lambda: optimizers.SGD(), sgd_rule, {}),
    (lambda: optimizers.SGD(0.1, momentum=0.9), sgd_rule, dict(lr=0.1, mu=0.9)),
    (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), sgd_rule, dict(lr=0.1, mu=0.9, nesterov=True)),
    (lambda: optimizers.RMSprop(), rmsprop_rule, {}),
    (lambda: optimizers.RMSprop(0.01, momentum=0.5), rmsprop_rule, dict(lr=0.01, mu=0.5)),
    (lambda: optimizers.RMSprop(0.01, centered=True), rmsprop_rule, dict(lr=0.01, centered=True)),
    (lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.3, centered=True), rmsprop_rule,
     dict(lr=0.01, rho=0.8, mu=0.3, centered=True)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_first_five_steps_match_keras_formula(case):
    make, rule, hp = CASES[case]
    got = run(make())
    want = reference(rule, **hp)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
        assert not np.allclose(g, [W0, B0][len(g.shape) == 1 and 1 or 0])  # it moved


def test_defaults_are_keras_defaults():
    a = optimizers.Adam()
    assert a.learning_rate == pytest.approx(0.001)  # held as float32, as Keras's learning_rate variable
    assert (a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == (0.9, 0.999, 1e-7, False)
    s = optimizers.SGD()
    assert s.learning_rate == pytest.approx(0.01) and (s.momentum, s.nesterov) == (0.0, False)
    r = optimizers.RMSprop()
    assert r.learning_rate == pytest.approx(0.001) and (r.rho, r.momentum, r.epsilon, r.centered) == (0.9, 0.0, 1e-7, False)
    assert optimizers.AdamW().weight_decay == 0.004


def test_strings_iterations_and_settable_learning_rate():
    opt = optimizers.get("adam")
    assert isinstance(opt, optimizers.Adam)
    v = Variable(np.ones(3, dtype=np.float32))
    opt.apply_gradients([(np.ones(3, dtype=np.float32), v)])
    assert int(opt.iterations.numpy()) == 1
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    sgd = optimizers.SGD(learning_rate=0.1)
    sgd.apply_gradients([(np.ones(3, dtype=np.float32), v)])
    sgd.learning_rate = 1.0
    before = v.numpy().copy()
    sgd.apply_gradients([(np.ones(3, dtype=np.float32), v)])
    np.testing.assert_allclose(v.numpy(), before - 1.0)
    assert int(sgd.iterations.numpy()) == 2


def test_unknown_optimizer_suggests_names():
    with pytest.raises(ValueError, match=r"Did you mean .*'adam'"):
        optimizers.get("adma")


def test_missing_gradient_leaves_variable_alone():
    a, b = Variable(np.ones(2, dtype=np.float32)), Variable(np.ones(2, dtype=np.float32))
    opt = optimizers.SGD(0.1)
    opt.build([a, b])
    opt.apply_gradients([(None, a), (np.ones(2, dtype=np.float32), b)])
    np.testing.assert_allclose(a.numpy(), 1.0)
    np.testing.assert_allclose(b.numpy(), 0.9)


def test_unknown_variable_is_refused():
    a = Variable(np.ones(2, dtype=np.float32))
    opt = optimizers.SGD(0.1)
    opt.apply_gradients([(np.ones(2, dtype=np.float32), a)])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(np.ones(2, dtype=np.float32), Variable(np.ones(2, dtype=np.float32)))])


def test_compile_accepts_instances_and_strings():
    for opt in ["sgd", "adam", "adamw", "rmsprop", optimizers.SGD(0.2)]:
        m = gpunet.Sequential([gpunet.Input((3,)), gpunet.layers.Dense(2)])
        m.compile(optimizer=opt, loss="mse")
        m.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
        assert int(m.optimizer.iterations.numpy()) == 1


@pytest.mark.parametrize("case", range(len(CASES)))
def test_cpu_kernel_bit_identical_to_array_ops(case, monkeypatch):
    """kernels/cpu_optim.c (one pass) against the NumPy array-op reference: the same bits."""
    from gpunet.kernels import cpu as cpu_kernels
    if cpu_kernels.library() is None:
        pytest.skip("no C compiler: the CPU kernel is not built here")
    make = CASES[case][0]
    rng = np.random.default_rng(case)
    w0 = rng.standard_normal(70001).astype(np.float32)  # odd size: the vector loop's tail is used
    grads = [rng.standard_normal(70001).astype(np.float32) for _ in range(5)]
    out = []
    for use_c in (True, False):
        monkeypatch.setattr(cpu_kernels, "_lib", [cpu_kernels.library()] if use_c else [None])
        opt = make()
        v = Variable(w0.copy())
        for g in grads:
            opt.apply_gradients([(g, v)])
        out.append(v.numpy())
    assert np.array_equal(out[0], out[1])


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_cpu_kernel_flushes_subnormals_and_restores_the_float_mode(name):
    """A dead unit's Adam moment decays through the subnormal range, where each x86 operation takes ~100 cycles:
    the C update flushes subnormals to zero (as TensorFlow, XLA and our CUDA kernels do), and leaves the
    caller's float mode as it was (NumPy after it still makes subnormals)."""
    from gpunet.kernels import cpu as cpu_kernels
    lib = cpu_kernels.library()
    if lib is None:
        pytest.skip("no C compiler: the CPU kernel is not built here")
    tiny, f32, ptr = np.finfo(np.float32).tiny, np.float32, cpu_kernels.ptr
    p, g = np.ones(9, np.float32), np.zeros(9, np.float32)
    slot = np.full(9, tiny * 0.25, np.float32)  # subnormal; the gradient 0 keeps a flushed slot at 0
    other = np.ones(9, np.float32)
    if name == "adam":
        lib.adam_update(ptr(p), ptr(g), ptr(slot), ptr(other), None, 9, f32(0.1), f32(0.001), f32(1e-7), f32(1e-3),
                        f32(0), 0)
    elif name == "sgd":
        lib.sgd_update(ptr(p), ptr(g), ptr(slot), 9, f32(0.1), f32(0.9), 0, f32(0))
    else:
        lib.rmsprop_update(ptr(p), ptr(g), ptr(slot), None, None, 9, f32(1e-3), f32(0.9), f32(0.1), f32(0),
                           f32(1e-7), 0, f32(0))
    assert np.all(slot == 0), slot
    assert np.all(p == 1)
    half = np.float32(tiny) * np.float32(0.5)
    assert half != 0 and half < tiny  # the mode was restored
