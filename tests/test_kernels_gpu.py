"""GPU kernels against float64 NumPy references (llm.c dev/cuda style): odd shapes that are not
multiples of the tiles, outputs poisoned with NaN first so an unwritten element fails."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

SIZES = [1, 31, 33, 127, 129, 784, 1000, 1031]


def _cp():
    import cupy
    return cupy


def ref_act(z, act):
    from math import erf, pi, sqrt
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
        cdf = 0.5 * (1 + np.vectorize(erf)(z / sqrt(2)))
        return z * cdf, cdf + z * np.exp(-0.5 * z * z) / sqrt(2 * pi)
    c = sqrt(2 / pi)
    t = np.tanh(c * (z + 0.044715 * z ** 3))
    return 0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)


def rel_err(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "tanh", "gelu", "gelu_approximate"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (31, 33, 127), (129, 784, 10), (32, 784, 128), (1031, 127, 1000),
                                   (33, 1000, 31)])
def test_dense_kernels_match_reference(act, shape):
    from gpunet import kernels
    cp = _cp()
    M, K, N = shape
    rng = np.random.default_rng(M * 7 + K)
    x, w, b = (rng.standard_normal(s) for s in ((M, K), (K, N), (N,)))
    w /= np.sqrt(K)
    dy = rng.standard_normal((M, N))
    z = x @ w + b
    y, dact = ref_act(z, act)
    dz = dy * dact
    f32 = lambda a: cp.asarray(a.astype(np.float32))  # noqa: E731
    Y, Z = kernels.dense_forward(f32(x), f32(w), f32(b), act)
    assert rel_err(Y.get(), y) < 1e-5
    gx, gW, gb = kernels.dense_backward(f32(x), f32(w), Y, Z, f32(dy), act, True, True, True)
    assert rel_err(gx.get(), dz @ w.T) < 1e-5
    assert rel_err(gW.get(), x.T @ dz) < 1e-5
    assert rel_err(gb.get(), dz.sum(0)) < 1e-5


@pytest.mark.parametrize("R,C", [(1, 1), (31, 10), (33, 127), (129, 1000), (1031, 33)])
@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_xent_kernels_match_reference(R, C, sparse, smoothing):
    from gpunet import kernels
    cp = _cp()
    rng = np.random.default_rng(R + C)
    z = rng.standard_normal((R, C)) * 5
    lab = rng.integers(0, C, R)
    onehot = np.eye(C)[lab]
    t = onehot * (1 - smoothing) + smoothing / C
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    loss = -(t * logp).sum(1)
    g = rng.uniform(0.5, 1.5, R)
    dz = (np.exp(logp) * t.sum(1, keepdims=True) - t) * g[:, None]
    labels = cp.asarray(lab) if sparse else cp.asarray(onehot.astype(np.float32))
    out = kernels.softmax_xent_forward(cp.asarray(z.astype(np.float32)), labels, sparse, smoothing)
    assert rel_err(out[0].get(), loss) < 1e-5
    stats = kernels.last_xent_stats.get()
    assert stats[0] == pytest.approx(loss.sum(), rel=1e-5)
    assert stats[1] == (z.argmax(1) == lab).sum()
    d = kernels.softmax_xent_backward(cp.asarray(z.astype(np.float32)), out[3], out[4], out[1], out[2],
                                      cp.asarray(g.astype(np.float32)), sparse, smoothing)
    assert rel_err(d.get(), dz) < 1e-5


def test_softmax_xent_huge_logits_and_bad_label():
    from gpunet import kernels
    cp = _cp()
    z = cp.asarray(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32))
    loss = kernels.softmax_xent_forward(z, cp.asarray([0, 1]), True, 0.0)[0].get()
    np.testing.assert_allclose(loss, [0.0, 2e4], rtol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        kernels.softmax_xent_forward(z, cp.asarray([0, 3]), True, 0.0)


@pytest.mark.parametrize("name", ["adam", "amsgrad", "adamw", "sgd", "momentum", "nesterov", "rmsprop", "centered"])
def test_fused_optimizer_kernel_equals_array_path(name):
    from gpunet import optimizers
    from gpunet.ops.tape import Variable
    cp = _cp()
    make = {"adam": lambda: optimizers.Adam(0.01), "amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
            "adamw": lambda: optimizers.AdamW(0.01), "sgd": lambda: optimizers.SGD(0.1),
            "momentum": lambda: optimizers.SGD(0.1, momentum=0.9),
            "nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5),
            "centered": lambda: optimizers.RMSprop(0.01, centered=True)}[name]
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(1031).astype(np.float32)
    grads = [rng.standard_normal(1031).astype(np.float32) for _ in range(5)]
    fused, plain = make(), make()
    plain._kernel_update = lambda *a: False  # force the array-op path
    out = []
    for opt in (fused, plain):
        v = Variable(w0.copy())
        for g in grads:
            opt.apply_gradients([(cp.asarray(g), v)])
        out.append(v.numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6, atol=1e-7)


PARITY = r"""
import numpy as np, gpunet, json
gpunet.utils.set_random_seed(3)
x = np.random.default_rng(1).random((2048, 28, 28)).astype("float32")
y = np.random.default_rng(2).integers(0, 10, 2048)
m = gpunet.Sequential([gpunet.Input((28, 28)), gpunet.layers.Flatten(),
                       gpunet.layers.Dense(128, activation="relu"), gpunet.layers.Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class Rec(gpunet.callbacks.Callback):
    def on_train_begin(self, logs=None): self.l = []
    def on_train_batch_end(self, b, logs=None): self.l.append(logs["loss"])
r = Rec()
m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[r])
print(json.dumps({"backend": gpunet.backend.name(), "losses": r.l,
                  "w": [float(a.sum()) for a in m.get_weights()]}))
"""


def test_cpu_and_gpu_train_to_the_same_numbers():
    import json
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for b in ("numpy", "cupy"):
        r = subprocess.run([sys.executable, "-c", PARITY], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, GPUNET_BACKEND=b, PYTHONPATH=root))
        assert r.returncode == 0, r.stderr
        out[b] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cupy"]["backend"] == "cupy"
    np.testing.assert_allclose(out["cupy"]["losses"], out["numpy"]["losses"], rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(out["cupy"]["w"], out["numpy"]["w"], rtol=1e-2, atol=1e-2)
