"""Mixed precision (issue 32): dtype policies, autocast, LossScaleOptimizer, against real Keras."""

import numpy as np
import pytest

import gpunet
from keras_jax_ref import assert_same, same_program
from keras_ref import keras as real_keras


# ---- 15. mixed precision: dtype policies, autocast, LossScaleOptimizer ----

@pytest.fixture
def global_policy():
    """Sets gpunet's and Keras's global policy for one test and puts float32 back after it."""
    k = real_keras()

    def set_(name):
        gpunet.config.set_dtype_policy(name)
        k.config.set_dtype_policy(name)
    yield set_
    gpunet.utils.clear_session()  # back to no global policy (floatx's), in both
    k.utils.clear_session()
    assert gpunet.config.dtype_policy().name == k.config.dtype_policy().name == "float32"


def test_dtype_policies_follow_keras():
    k = real_keras()
    for name in ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "float64"):
        mine, theirs = gpunet.dtype_policies.DTypePolicy(name), k.dtype_policies.DTypePolicy(name)
        assert (mine.name, mine.compute_dtype, mine.variable_dtype, repr(mine)) == \
            (theirs.name, theirs.compute_dtype, theirs.variable_dtype, repr(theirs))
        layer, klayer = gpunet.layers.Dense(2, dtype=name), k.layers.Dense(2, dtype=name)
        assert (layer.dtype, layer.compute_dtype, layer.variable_dtype, layer.dtype_policy.name) == \
            (klayer.dtype, klayer.compute_dtype, klayer.variable_dtype, klayer.dtype_policy.name)
        assert layer.get_config()["dtype"] == klayer.get_config()["dtype"]
    assert gpunet.mixed_precision.Policy is gpunet.mixed_precision.DTypePolicy
    with pytest.raises(ValueError, match="mixed_float32"):
        gpunet.dtype_policies.DTypePolicy("mixed_float32")
    with pytest.raises(ValueError, match="policy"):
        gpunet.config.set_dtype_policy(3)


def _mixed_models(lib):
    inp = lib.Input((6, 4))
    h = lib.layers.Conv1D(5, 3, activation="relu")(inp)
    h = lib.layers.LSTM(6, return_sequences=True)(h)
    h = lib.layers.MultiHeadAttention(2, 3)(h, h)
    h = lib.layers.LayerNormalization()(lib.layers.GlobalAveragePooling1D()(h))
    out = lib.layers.Activation("softmax", dtype="float32")(lib.layers.Dense(3)(h))
    return lib.Model(inp, out)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_precision_model_predicts_as_keras(global_policy, policy):
    k = real_keras()
    global_policy(policy)
    x = np.random.default_rng(26).normal(size=(5, 6, 4)).astype("float32")
    mine, theirs = _mixed_models(gpunet), _mixed_models(k)
    assert all(w.dtype == np.float32 for w in mine.get_weights())
    theirs.set_weights(mine.get_weights())
    tol = 2e-3 if policy == "mixed_float16" else 3e-2
    got = mine.predict(x, verbose=0)
    assert got.dtype == np.float32  # the float32 softmax at the end, as the mixed-precision guide builds it
    np.testing.assert_allclose(got, np.asarray(theirs.predict(x, verbose=0)), rtol=tol, atol=tol)
    hidden = mine.layers[1](x)
    assert str(hidden.dtype) == policy[len("mixed_"):] == str(np.asarray(theirs.layers[1](x)).dtype)


_MIXED_FIT = '''
def build(keras):
    keras.config.set_dtype_policy("mixed_float16")
    inp = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu")(inp)
    out = keras.layers.Activation("softmax", dtype="float32")(keras.layers.Dense(3)(h))
    model = keras.Model(inp, out)
    keras.config.set_dtype_policy("float32")
    return model

def run(keras, model, d):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(d["x"], d["y"], epochs=3, batch_size=8, shuffle=False, verbose=0).history
    return {"history": h, "optimizer": type(model.optimizer).__name__ == "LossScaleOptimizer"}
'''


def test_mixed_float16_training_matches_keras_with_loss_scaling(tmp_path):
    rng = np.random.default_rng(27)
    data = {"x": rng.normal(size=(24, 8)).astype("float32"), "y": rng.integers(0, 3, 24)}
    mine, theirs = same_program(tmp_path, _MIXED_FIT, data)
    assert mine["optimizer"] == 1.0 and theirs["optimizer"] == 1.0  # compile wrapped the optimizer, as Keras's
    assert_same(mine["history"], theirs["history"], rtol=3e-3, atol=3e-3)


def test_a_mixed_model_fits_alike_on_the_fast_and_the_eager_path(global_policy):
    """The compiled CPU step, the fused softmax head and the fused recurrence do not run a mixed model: fit takes
    the layers' own calls, which run_eagerly=True takes too."""
    global_policy("mixed_float16")
    rng = np.random.default_rng(28)
    x, y = rng.normal(size=(16, 5, 3)).astype("float32"), rng.integers(0, 3, 16)
    runs = []
    for eager in (False, True):
        gpunet.utils.set_random_seed(4)
        m = gpunet.Sequential([gpunet.Input((5, 3)), gpunet.layers.LSTM(4), gpunet.layers.Dense(3),
                               gpunet.layers.Activation("softmax", dtype="float32")])
        m.compile("adam", "sparse_categorical_crossentropy", run_eagerly=eager)
        runs.append((m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"], m.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    from gpunet.training import cpu_step, tape_step
    assert cpu_step.layer_chain(m) is None  # no compiled CPU step, no GPU launch program
    assert m.layers[0]._fused_kind(True) is None  # the cell's own call, in float16
    assert not tape_step._Plan(m, y, (None, 3)).fused  # the float32 softmax runs, then the loss on its output


def test_loss_scale_optimizer_skips_overflowing_steps_and_grows_its_scale():
    v = gpunet.Variable(np.ones(3, "float32"))
    opt = gpunet.mixed_precision.LossScaleOptimizer(gpunet.optimizers.SGD(0.5), initial_scale=8.0,
                                                    dynamic_growth_steps=2)
    assert float(opt.scale_loss(gpunet.ops.convert_to_tensor(1.5)).numpy()) == 12.0
    opt.apply([np.array([8.0, 8.0, np.inf], "float32")], [v])  # an overflow: no step, the scale halves
    np.testing.assert_array_equal(v.numpy(), np.ones(3))
    assert float(opt.dynamic_scale.numpy()) == 4.0 and int(opt.iterations.numpy()) == 0
    opt.apply([np.array([4.0, 0.0, -4.0], "float32")], [v])  # unscaled: [1, 0, -1]
    np.testing.assert_allclose(v.numpy(), [0.5, 1.0, 1.5])
    assert float(opt.dynamic_scale.numpy()) == 4.0
    opt.apply([np.zeros(3, "float32")], [v])  # the second finite step in a row: the scale doubles
    assert float(opt.dynamic_scale.numpy()) == 8.0 and int(opt.iterations.numpy()) == 2
    k = real_keras()
    theirs = k.optimizers.LossScaleOptimizer(k.optimizers.SGD(0.5), initial_scale=8.0, dynamic_growth_steps=2)
    assert opt.get_config() == theirs.get_config() | {"inner_optimizer": opt.get_config()["inner_optimizer"]}
    assert opt.get_config()["inner_optimizer"]["class_name"] == "SGD"
    theirs.build([k.Variable(np.ones(3, "float32"))])
    assert len(opt.variables) == len(theirs.variables)
    again = gpunet.optimizers.deserialize(gpunet.optimizers.serialize(opt))
    assert isinstance(again.inner_optimizer, gpunet.optimizers.SGD) and again.dynamic_growth_steps == 2


def test_a_mixed_model_travels_in_keras_files_both_ways(tmp_path, global_policy):
    k = real_keras()
    global_policy("mixed_float16")
    x = np.random.default_rng(29).normal(size=(4, 6, 4)).astype("float32")
    m = _mixed_models(gpunet)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.save(str(tmp_path / "g.keras"))
    global_policy("float32")  # the files carry each layer's policy
    km = k.saving.load_model(str(tmp_path / "g.keras"))
    assert km.layers[1].dtype_policy.name == "mixed_float16"
    np.testing.assert_allclose(np.asarray(km.predict(x, verbose=0)), m.predict(x, verbose=0), rtol=2e-3, atol=2e-3)
    km.save(str(tmp_path / "k.keras"))
    back = gpunet.saving.load_model(str(tmp_path / "k.keras"))
    assert back.layers[1].compute_dtype == "float16" and back.layers[1].dtype == "float32"
    assert type(back.optimizer).__name__ == "LossScaleOptimizer"
    np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=2e-3, atol=2e-3)


def test_clear_session_forgets_the_global_policy_as_keras_does():
    gpunet.config.set_dtype_policy("mixed_float16")
    assert gpunet.layers.Dense(2).compute_dtype == "float16"
    gpunet.utils.clear_session()
    gpunet.config.set_floatx("float64")
    try:
        assert gpunet.layers.Dense(2).dtype == "float64"  # floatx's policy again
    finally:
        gpunet.config.set_floatx("float32")
