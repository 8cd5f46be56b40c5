"""Directional gradient checks (Chainer's check_backward idea): the analytic gradient projected on a
random direction against one central difference along it, in float64."""
import numpy as np

from gpunet import ops
from gpunet.ops.tape import GradientTape, Variable


def directional_check(f, *arrays, seed=0, eps=1e-6, rtol=1e-6, atol=1e-9):
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out0 = np.asarray(f(*[ops.convert_to_tensor(a) for a in arrays]).numpy())
    w = rng.standard_normal(out0.shape)

    def scalar(xs):
        return float((np.asarray(f(*[ops.convert_to_tensor(x) for x in xs]).numpy()) * w).sum())

    vs = [Variable(a, dtype="float64") for a in arrays]
    with GradientTape() as tape:
        out = f(*vs)
        loss = ops.sum(ops.multiply(out, w))
    grads = tape.gradient(loss, vs)
    dirs = [rng.standard_normal(a.shape) for a in arrays]
    analytic = sum(float((np.asarray(g.numpy()) * d).sum()) for g, d in zip(grads, dirs) if g is not None)
    for g, a in zip(grads, arrays):
        assert g is None or g.shape == a.shape, "gradient shape %s != input shape %s" % (g.shape, a.shape)
    plus = scalar([a + eps * d for a, d in zip(arrays, dirs)])
    minus = scalar([a - eps * d for a, d in zip(arrays, dirs)])
    numeric = (plus - minus) / (2 * eps)
    assert np.isclose(analytic, numeric, rtol=rtol, atol=atol), \
        "directional derivative: analytic %.12g vs numeric %.12g" % (analytic, numeric)
    return analytic, numeric
