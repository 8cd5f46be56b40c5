"""Gradients of the sequence layers against real Keras 3 on JAX (its NumPy backend has no gradients): each
layer is rebuilt in Keras from gpunet's config, given the same weights, and differentiated with jax.grad
through `stateless_call`; the gradient of sum(outputs · w) with respect to the inputs and every weight must
equal gpunet's (the fused sequence op's hand-written backward through time, masks included)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpunet
from gpunet import layers, ops
from gpunet.ops.tape import GradientTape, Tensor

RUNNER = textwrap.dedent('''
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np, jax, jax.numpy as jnp, keras
    jax.config.update("jax_enable_x64", False)
    d = np.load(sys.argv[1], allow_pickle=False)
    cases = json.loads(str(d["cases"]))
    out = {}
    for i, case in enumerate(cases):
        layer = keras.layers.deserialize({"class_name": case["class"], "config": case["config"],
                                          "module": "keras.layers"})
        inputs = [d["c%d_in%d" % (i, j)] for j in range(case["n_in"])]
        mask = d["c%d_mask" % i] if case["mask"] else None
        kw = dict(case["kwargs"])
        if mask is not None:
            kw["mask"] = mask
        layer(*inputs, **kw)
        layer.set_weights([d["c%d_w%d" % (i, j)] for j in range(case["n_w"])])
        ws = [jnp.asarray(d["c%d_ow%d" % (i, j)]) for j in range(case["n_out"])]
        ntv = [v.value for v in layer.non_trainable_variables]

        def loss(tv, xs):
            outs, _ = layer.stateless_call(tv, ntv, *xs, **kw)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            return sum(jnp.sum(o * w) for o, w in zip(outs, ws))
        gw, gx = jax.grad(loss, argnums=(0, 1))([v.value for v in layer.trainable_variables],
                                                [jnp.asarray(x) for x in inputs])
        for j, g in enumerate(gx):
            out["c%d_gx%d" % (i, j)] = np.asarray(g)
        for j, g in enumerate(gw):
            out["c%d_gw%d" % (i, j)] = np.asarray(g)
    np.savez(sys.argv[2], **out)
''')

R = np.random.default_rng(11)
B, T, D = 3, 5, 4
MASK = np.ones((B, T), bool)
MASK[0, 3:] = False
MASK[1, :2] = False
MASK[2, 2] = False

CASES = [
    (lambda: layers.LSTM(5, return_sequences=True, go_backwards=True), [(B, T, D)], True, {}),
    (lambda: layers.LSTM(4, return_state=True), [(B, T, D)], True, {}),
    (lambda: layers.GRU(5, return_sequences=True, return_state=True), [(B, T, D)], True, {}),
    (lambda: layers.GRU(3, reset_after=False, go_backwards=True), [(B, T, D)], True, {}),
    (lambda: layers.SimpleRNN(5, activation="relu", return_sequences=True), [(B, T, D)], True, {}),
    (lambda: layers.Bidirectional(layers.LSTM(4, return_sequences=True)), [(B, T, D)], True, {}),
    (lambda: layers.Bidirectional(layers.GRU(3), merge_mode="mul"), [(B, T, D)], False, {}),
    (lambda: layers.MultiHeadAttention(2, 3), [(B, T, D), (B, T + 2, 6)], False, {}),
    (lambda: layers.MultiHeadAttention(2, 3), [(B, T, D), (B, T, D)], False, {"use_causal_mask": True}),
    (lambda: layers.LayerNormalization(), [(B, T, D)], False, {}),
]


def _gpunet_grads(layer, inputs, mask, kw, ows):
    xs = [Tensor(x) for x in inputs]
    with GradientTape() as tape:
        tape.watch(xs)
        k = dict(kw)
        if mask is not None:
            k["mask"] = mask
        outs = layer(*xs, **k)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        loss = None
        for o, w in zip(outs, ows):
            t = ops.sum(ops.multiply(o, w))
            loss = t if loss is None else ops.add(loss, t)
    gs = tape.gradient(loss, xs + layer.trainable_weights)
    return [g.numpy() for g in gs[:len(xs)]], [g.numpy() for g in gs[len(xs):]]


def test_sequence_layer_gradients_equal_keras_on_jax(tmp_path):
    import importlib.util
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("the Keras-on-JAX referee needs keras and jax (pip install -e '.[test]')")
    from gpunet.common.registry import serialize_layer
    arrays, meta, ours = {}, [], []
    for i, (make, shapes, use_mask, kw) in enumerate(CASES):
        layer = make()
        inputs = [R.normal(size=s).astype("float32") for s in shapes]
        mask = MASK if use_mask else None
        outs = layer(*inputs, **kw, **({"mask": mask} if use_mask else {}))
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        weights = [(R.normal(size=w.shape) * 0.5).astype("float32") for w in layer.get_weights()]
        layer.set_weights(weights)
        ows = [R.normal(size=o.shape).astype("float32") for o in outs]
        ours.append(_gpunet_grads(layer, inputs, mask, kw, ows))
        cfg = serialize_layer(layer)
        meta.append({"class": cfg["class_name"], "config": cfg["config"], "n_in": len(inputs), "mask": use_mask,
                     "kwargs": kw, "n_w": len(weights), "n_out": len(ows)})
        arrays.update({"c%d_in%d" % (i, j): x for j, x in enumerate(inputs)})
        arrays.update({"c%d_w%d" % (i, j): w for j, w in enumerate(weights)})
        arrays.update({"c%d_ow%d" % (i, j): w for j, w in enumerate(ows)})
        if use_mask:
            arrays["c%d_mask" % i] = mask
    data, out, runner = tmp_path / "in.npz", tmp_path / "out.npz", tmp_path / "runner.py"
    np.savez(data, cases=json.dumps(meta), **arrays)
    runner.write_text(RUNNER)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, str(runner), str(data), str(out)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    ref = np.load(out)
    for i, (gx, gw) in enumerate(ours):
        what = "%s %s" % (meta[i]["class"], meta[i]["config"].get("name"))
        for j, g in enumerate(gx):
            np.testing.assert_allclose(g, ref["c%d_gx%d" % (i, j)], rtol=2e-4, atol=2e-5, err_msg=what + " input %d" % j)
        for j, g in enumerate(gw):
            np.testing.assert_allclose(g, ref["c%d_gw%d" % (i, j)], rtol=2e-4, atol=2e-5, err_msg=what + " weight %d" % j)
    assert gpunet.config.floatx() == "float32"
