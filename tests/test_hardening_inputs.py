"""Bad arguments to compile/fit/evaluate/predict: each one a clear error naming the argument, raised before
any weight changes; none a silent wrong result (issue 16)."""
import tracemalloc
import warnings

import numpy as np
import pytest

import gpunet as keras
from gpunet import layers

R = np.random.default_rng(16)
X = R.random((64, 4)).astype("float32")
Y = R.integers(0, 3, 64)


def model(compile_=True, units=3):
    m = keras.Sequential([keras.Input((4,)), layers.Dense(units, activation="softmax")])
    if compile_:
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def weights_of(m):
    return [w.copy() for w in m.get_weights()]


def unchanged(m, before):
    return all(np.array_equal(a, b) for a, b in zip(m.get_weights(), before))


# ---- batch_size and the other scalars: a negative batch size used to drop samples ----

@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("bs", [-4, 0, 2.5, True, "32"])
def test_batch_size_must_be_a_positive_integer(call, bs):
    m = model()
    args = (X,) if call == "predict" else (X, Y)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, received %s" % repr(bs).replace(".", r"\.")):
        getattr(m, call)(*args, batch_size=bs, verbose=0)


def test_negative_batch_size_no_longer_drops_samples_and_steps_is_honoured():
    m = model()
    assert m.predict(X, batch_size=5, verbose=0).shape == (64, 3)
    # steps=k reads the first k batches, as Keras does with arrays
    assert m.predict(X, batch_size=5, steps=2, verbose=0).shape == (10, 3)
    full = m.evaluate(X[:10], Y[:10], batch_size=5, verbose=0)
    assert m.evaluate(X, Y, batch_size=5, steps=2, verbose=0) == pytest.approx(full, rel=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(epochs=2.5), r"epochs must be a non-negative integer, received 2\.5"),
    (dict(epochs=-1), r"epochs must be a non-negative integer, received -1"),
    (dict(initial_epoch=1.5), r"initial_epoch must be"),
    (dict(verbose="loud"), r"verbose must be 'auto', 0, 1 or 2, received 'loud'"),
    (dict(validation_split=1.0), r"validation_split must be a float in \[0, 1\), received 1\.0"),
    (dict(validation_freq=0), r"validation_freq must be a positive integer"),
    (dict(steps_per_epoch=0), r"steps_per_epoch must be a positive integer, received 0"),
    (dict(validation_batch_size=-1), r"validation_batch_size must be a positive integer, received -1"),
    (dict(shuffle="yes"), r"shuffle must be True or False, received 'yes'"),
])
def test_fit_scalar_arguments(kwargs, match):
    m = model()
    before = weights_of(m)
    with pytest.raises(ValueError, match=match):
        m.fit(X, Y, **{"verbose": 0, **kwargs})
    assert unchanged(m, before)


def test_validation_split_as_a_string():
    with pytest.raises(TypeError, match=r"validation_split must be a float in \[0, 1\), received '0\.2' \(str\)"):
        model().fit(X, Y, validation_split="0.2", verbose=0)


def test_verbose_and_steps_on_evaluate_and_predict():
    m = model()
    with pytest.raises(ValueError, match="verbose must be"):
        m.evaluate(X, Y, verbose="loud")
    with pytest.raises(ValueError, match="steps must be a positive integer, received 0"):
        m.predict(X, steps=0)


# ---- class_weight: keys are class indices, values finite ----

def test_class_weight_negative_key_is_refused_not_wrapped_around():
    m = model()
    with pytest.raises(ValueError, match=r"class_weight keys must be class indices >= 0, received -1"):
        m.fit(X, Y, class_weight={-1: 5.0}, verbose=0)
    with pytest.raises(ValueError, match=r"received -3"):
        m.fit(X, Y, class_weight={0: 2.0, -3: 9.0}, verbose=0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, "2"])
def test_class_weight_values_must_be_finite_non_negative(value):
    m = model()
    before = weights_of(m)
    with pytest.raises(ValueError, match=r"class_weight\[0\] must be a finite number >= 0, received"):
        m.fit(X, Y, class_weight={0: value}, verbose=0)
    assert unchanged(m, before)


def test_class_weight_string_keys():
    with pytest.raises(TypeError, match=r"class_weight keys must be integer class indices, received '0' \(str\)"):
        model().fit(X, Y, class_weight={"0": 1.0}, verbose=0)


def test_class_weight_equals_the_sample_weights_it_stands_for():
    """Keras: a class the dict does not name weighs 1; the rest weigh as the dict says."""
    cw = {0: 2.0, 2: 0.5, 7: 3.0}  # class 7 does not occur: ignored
    a, b = model(), model()
    b.set_weights(a.get_weights())
    keras.utils.set_random_seed(1)
    ha = a.fit(X, Y, class_weight=cw, epochs=2, shuffle=False, verbose=0).history
    keras.utils.set_random_seed(1)
    sw = np.array([cw.get(int(c), 1.0) for c in Y], dtype="float32")
    hb = b.fit(X, Y, sample_weight=sw, epochs=2, shuffle=False, verbose=0).history
    assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-6)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


# ---- targets ----

@pytest.mark.parametrize("batch_size", [1, 32])
def test_one_hot_labels_with_sparse_crossentropy_are_refused_up_front(batch_size):
    m = model()
    before = weights_of(m)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: arguments `target` and `output` must "
                                         r"have the same shape up until the last dimension: target\.shape=\(64, 3\), "
                                         r"output\.shape=\(None, 3\)"):
        m.fit(X, np.eye(3)[Y], batch_size=batch_size, verbose=0)
    assert unchanged(m, before)
    with pytest.raises(ValueError, match="one-hot targets need categorical_crossentropy"):
        m.evaluate(X, np.eye(3)[Y], verbose=0)


def test_sparse_labels_with_a_trailing_axis_of_one_still_train():
    m = model()
    h = m.fit(X, Y.reshape(-1, 1), verbose=0).history
    assert np.isfinite(h["loss"][0]) and 0 <= h["accuracy"][0] <= 1


def test_bad_label_in_the_last_batch_of_a_multi_output_model_is_found_before_training():
    inp = keras.Input((4,))
    h = layers.Dense(8, activation="relu")(inp)
    a = layers.Dense(3, activation="softmax", name="a")(h)
    b = layers.Dense(1, name="b")(h)
    m = keras.Model(inp, [a, b])
    m.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    ya = Y.copy()
    ya[-1] = 3  # out of range, in the last batch
    before = weights_of(m)
    with pytest.raises(ValueError, match=r"output 'a'.*labels must be in \[0, 3\).*\[0, 3\]"):
        m.fit(X, [ya, X[:, :1]], batch_size=16, verbose=0)
    assert unchanged(m, before)
    with pytest.raises(ValueError, match=r"output 'a'.*target\.shape=\(64, 3\)"):
        m.fit(X, [np.eye(3)[Y], X[:, :1]], verbose=0)


def test_targets_as_a_scalar():
    with pytest.raises(ValueError, match=r"y must hold one entry per sample \(64\), received the scalar 1"):
        model().fit(X, 1, verbose=0)


@pytest.mark.parametrize("shape", [(64, 2), (64, 3, 1), (32,)])
def test_sample_weight_of_the_wrong_shape(shape):
    m = model()
    err = ValueError
    with pytest.raises(err, match=r"sample_weight has shape|sample_weight has 32"):
        m.fit(X, Y, sample_weight=np.ones(shape), verbose=0)


def test_sample_weight_per_timestep_is_accepted():
    m = keras.Sequential([keras.Input((5, 2)), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = R.random((8, 5, 2)).astype("float32"), R.integers(0, 3, (8, 5))
    h = m.fit(x, y, sample_weight=np.ones((8, 5)), verbose=0).history
    assert np.isfinite(h["loss"][0])
    with pytest.raises(ValueError, match=r"expected \(8,\) or \(8, 1\) or \(8, 5\) \(one weight per sample, or per "
                                         r"sample and timestep\)"):
        m.fit(x, y, sample_weight=np.ones((8, 4)), verbose=0)


# ---- inputs ----

@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_zero_samples(call):
    m = model()
    args = (X[:0],) if call == "predict" else (X[:0], Y[:0])
    with pytest.raises(ValueError, match=r"x has no samples \(shape \(0, 4\)\): at least one is needed"):
        getattr(m, call)(*args, verbose=0)


def test_empty_validation_data():
    m = model()
    before = weights_of(m)
    with pytest.raises(ValueError, match=r"x_val has no samples"):
        m.fit(X, Y, validation_data=(X[:0], Y[:0]), verbose=0)
    assert unchanged(m, before)


def test_ragged_lists():
    with pytest.raises(ValueError, match=r"x is a ragged nested list .*pad_sequences"):
        model().fit([[1, 2, 3, 4], [1, 2]], [0, 1], verbose=0)


def test_dict_for_a_sequential_model():
    with pytest.raises(ValueError, match=r"x is a dict \(keys \['a'\]\), but this model has one input"):
        model().fit({"a": X}, Y, verbose=0)


def test_values_beyond_float32_say_the_cast_made_them_inf():
    x = X.astype("float64")
    x[5, 2] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray "overflow encountered in cast" either
        with pytest.raises(ValueError, match=r"x holds values beyond the range of float32 \(sample 5: largest "
                                             r"magnitude 1e\+39.*the cast to the model's dtype makes them inf"):
            model().fit(x, Y, verbose=0)
    x[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN or inf values \(first bad sample: index 5\)"):
        model().predict(x, verbose=0)


def test_integer_inputs_cast_per_batch_equal_a_float_copy():
    """uint8 images stay uint8 until each batch is taken; the result equals training on the float copy."""
    xi = R.integers(0, 256, (50, 4)).astype("uint8")
    a, b = model(), model()
    b.set_weights(a.get_weights())
    keras.utils.set_random_seed(3)
    ha = a.fit(xi, Y[:50], batch_size=7, epochs=2, validation_split=0.2, verbose=0).history
    keras.utils.set_random_seed(3)
    hb = b.fit(xi.astype("float32"), Y[:50], batch_size=7, epochs=2, validation_split=0.2, verbose=0).history
    assert ha == hb
    np.testing.assert_array_equal(a.predict(xi, verbose=0), b.predict(xi.astype("float32"), verbose=0))
    assert a.evaluate(xi, Y[:50], verbose=0) == b.evaluate(xi.astype("float32"), Y[:50], verbose=0)
    # the eager path (the tape) takes the same per-batch cast as the compiled CPU step
    a, c = model(), model()
    c.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    c.set_weights(a.get_weights())
    keras.utils.set_random_seed(4)
    ha = a.fit(xi, Y[:50], batch_size=7, epochs=2, verbose=0).history
    keras.utils.set_random_seed(4)
    hc = c.fit(xi, Y[:50], batch_size=7, epochs=2, verbose=0).history
    assert ha["loss"] == pytest.approx(hc["loss"], rel=1e-5)
    for u, v in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


# ---- compile and optimizers: refused when given, not at the first step ----

def test_compile_refuses_uninterpretable_metrics():
    m = model(compile_=False)
    with pytest.raises(ValueError, match=r"Could not interpret metric identifier: 42"):
        m.compile("adam", "mse", metrics=[42])
    with pytest.raises(ValueError, match=r"Could not interpret metric identifier: 42"):
        m.compile("adam", "mse", weighted_metrics=[42])


def test_compile_loss_list_for_a_single_output():
    m = model(compile_=False)
    with pytest.raises(ValueError, match=r"received a list of 2 losses; model '.*' has one output"):
        m.compile("adam", loss=["mse", "mse"])
    m.compile("adam", loss=["sparse_categorical_crossentropy"])  # Keras accepts a one-entry list
    assert np.isfinite(m.fit(X, Y, verbose=0).history["loss"][0])


@pytest.mark.parametrize("lr", ["fast", None, float("nan"), [0.1]])
def test_optimizer_learning_rate_is_checked_at_construction(lr):
    with pytest.raises(ValueError, match=r"`learning_rate` must be a finite number, a LearningRateSchedule or a "
                                         r"callable\. Received: learning_rate="):
        keras.optimizers.SGD(learning_rate=lr)
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = lr


def test_optimizer_clip_arguments():
    with pytest.raises(ValueError, match=r"`clipnorm` must be a non-negative number or None\. Received: clipnorm=-1"):
        keras.optimizers.SGD(clipnorm=-1)
    with pytest.raises(ValueError, match=r"clipvalue='1'"):
        keras.optimizers.SGD(clipvalue="1")


# ---- memory: the data are cast and checked per batch (or per chunk), never as a whole ----

def _peak_above(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.skipif(keras.backend.name() != "numpy", reason="measures host allocations of the NumPy backend")
def test_peak_memory_of_predict_evaluate_fit_on_a_large_uint8_input():
    n = 60000
    x = R.integers(0, 256, (n, 784), dtype=np.uint8)  # 47 MB; as float32 188 MB
    y = R.integers(0, 10, n)
    m = keras.Sequential([keras.Input((784,)), layers.Dense(10, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.predict(x[:10], verbose=0)
    limit = 0.5 * x.nbytes  # the whole-input float32 copy and NaN scan came to 5x the input
    assert _peak_above(lambda: m.predict(x, batch_size=1024, verbose=0)) < limit
    assert _peak_above(lambda: m.evaluate(x, y, batch_size=1024, verbose=0)) < limit
    assert _peak_above(lambda: m.fit(x, y, batch_size=1024, steps_per_epoch=3, verbose=0)) < limit
    # float64 data become float32 (half their size) chunk by chunk: no full-size temporaries beside it
    xf = x[:20000].astype("float64")
    assert _peak_above(lambda: m.predict(xf, batch_size=1024, verbose=0)) < 0.5 * xf.nbytes + (40 << 20)


def test_callbacks_that_are_not_callbacks_are_refused_before_training():
    m = model()
    before = weights_of(m)
    with pytest.raises(TypeError, match=r"callbacks must be gpunet\.callbacks\.Callback instances, received <object "
                                        r".*\(of type object\)"):
        m.fit(X, Y, callbacks=[object()], verbose=0)
    assert unchanged(m, before)


# ---- numbers that can only destroy training, and API edges (issue 29, items 14 and 15) ----

@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.1"])
@pytest.mark.parametrize("loss", ["CategoricalCrossentropy", "BinaryCrossentropy", "BinaryFocalCrossentropy",
                                  "CategoricalFocalCrossentropy"])
def test_label_smoothing_outside_zero_one_is_refused_when_the_loss_is_made(loss, value):
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\], received"):
        getattr(keras.losses, loss)(label_smoothing=value)
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        keras.losses.categorical_crossentropy(np.eye(3, dtype="float32"), np.full((3, 3), 1 / 3, "float32"),
                                              label_smoothing=value)
    for ok in (0.0, 0.1, 1.0):
        getattr(keras.losses, loss)(label_smoothing=ok)


def test_adam_epsilon_zero_warns_with_the_real_cause_and_negative_is_refused():
    with pytest.warns(RuntimeWarning, match=r"Adam\(epsilon=0\): .*0/0 = NaN.*Keras's default is 1e-7"):
        keras.optimizers.Adam(epsilon=0)
    for bad in (-1e-7, float("nan"), float("inf"), "small"):
        with pytest.raises(ValueError, match=r"Adam: `epsilon` must be a finite number >= 0. Received: epsilon="):
            keras.optimizers.Adam(epsilon=bad)
    with pytest.raises(ValueError, match="RMSprop: `epsilon` must be"):
        keras.optimizers.RMSprop(epsilon=-1.0)
    m = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu", kernel_initializer="zeros"),
                          layers.Dense(3, activation="softmax")])
    with pytest.warns(RuntimeWarning):
        m.compile(keras.optimizers.Adam(epsilon=0), "sparse_categorical_crossentropy")
    with pytest.warns(RuntimeWarning, match="the optimizer's epsilon is 0"):  # dead units: 0/0 in the first step
        m.fit(X, Y, epochs=1, verbose=0)


def test_a_class_weight_that_overflows_float32_is_refused():
    m = model()
    before = weights_of(m)
    with pytest.raises(ValueError, match=r"class_weight\[1\] = 1e\+39 overflows float32"):
        m.fit(X, Y, class_weight={0: 1.0, 1: 1e39}, epochs=1, verbose=0)
    assert unchanged(m, before)


def test_a_pydataset_of_length_zero_is_refused():
    class Empty(keras.utils.PyDataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)
    m = model()
    with pytest.raises(ValueError, match="The PyDataset has length 0"):
        m.fit(Empty(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="The PyDataset has length 0"):
        m.evaluate(Empty(), verbose=0)


def test_sample_weight_with_a_generator_is_named_in_the_error():
    def gen():
        while True:
            yield X[:8], Y[:8]
    m = model()
    with pytest.raises(ValueError, match=r"When providing `x` as a Python generator or iterator, `sample_weight` "
                                         r"should not be passed"):
        m.fit(gen(), sample_weight=np.ones(8), steps_per_epoch=2, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"`y` should not be passed"):
        m.fit(gen(), Y, steps_per_epoch=2, epochs=1, verbose=0)
