import numpy as np
import pytest

import gpunet
from gpunet import losses, ops
from gradcheck import directional_check
from keras_ref import keras

R = np.random.default_rng(3)


def probs(n, c):
    p = R.random((n, c)) + 0.05
    return p / p.sum(1, keepdims=True)


def cases():
    yb = (R.random((6, 3)) > 0.5).astype("float64")
    yc = np.eye(4)[R.integers(0, 4, 6)]
    ys = R.integers(0, 4, 6)
    yr = R.standard_normal((6, 3))
    return [
        ("mean_squared_error", yr, R.standard_normal((6, 3)), {}),
        ("mean_absolute_error", yr, R.standard_normal((6, 3)), {}),
        ("huber", yr, R.standard_normal((6, 3)) * 2, {}),
        ("kl_divergence", probs(6, 4), probs(6, 4), {}),
        ("binary_crossentropy", yb, R.uniform(0.05, 0.95, (6, 3)), {}),
        ("binary_crossentropy", yb, R.standard_normal((6, 3)), {"from_logits": True}),
        ("binary_crossentropy", yb, R.uniform(0.05, 0.95, (6, 3)), {"label_smoothing": 0.1}),
        ("categorical_crossentropy", yc, probs(6, 4), {}),
        ("categorical_crossentropy", yc, R.standard_normal((6, 4)), {"from_logits": True}),
        ("categorical_crossentropy", yc, probs(6, 4), {"label_smoothing": 0.1}),
        ("sparse_categorical_crossentropy", ys, probs(6, 4), {}),
        ("sparse_categorical_crossentropy", ys, R.standard_normal((6, 4)), {"from_logits": True}),
    ]


CASES = cases()


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] + str(c[3]) for c in CASES])
def test_loss_values_match_keras(i):
    k = keras()
    name, yt, yp, kw = CASES[i]
    ours = getattr(losses, name)(yt.astype("float32"), yp.astype("float32"), **kw).numpy()
    theirs = np.asarray(getattr(k.losses, name)(yt.astype("float32"), yp.astype("float32"), **kw))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] + str(c[3]) for c in CASES])
def test_loss_gradients(i):
    name, yt, yp, kw = CASES[i]
    fn = getattr(losses, name)
    directional_check(lambda p: fn(yt, p, **kw), yp, rtol=1e-5)


@pytest.mark.parametrize("cls,kw", [("MeanSquaredError", {}), ("CategoricalCrossentropy", {"label_smoothing": 0.2}),
                                    ("SparseCategoricalCrossentropy", {"from_logits": True}), ("Huber", {"delta": 0.5}),
                                    ("BinaryCrossentropy", {}), ("KLDivergence", {}), ("MeanAbsoluteError", {})])
def test_loss_classes_reduce_like_keras(cls, kw):
    k = keras()
    name = {"MeanSquaredError": 0, "CategoricalCrossentropy": 9, "SparseCategoricalCrossentropy": 11, "Huber": 2,
            "BinaryCrossentropy": 4, "KLDivergence": 3, "MeanAbsoluteError": 1}[cls]
    _, yt, yp, _ = CASES[name]
    sw = R.uniform(0.2, 2.0, len(yt)).astype("float32")
    for weight in (None, sw):
        ours = float(getattr(losses, cls)(**kw)(yt.astype("float32"), yp.astype("float32"), sample_weight=weight))
        theirs = float(getattr(k.losses, cls)(**kw)(yt.astype("float32"), yp.astype("float32"), sample_weight=weight))
        assert ours == pytest.approx(theirs, rel=1e-5)


def test_probabilities_are_clipped():
    loss = losses.categorical_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]], dtype="float32"))
    assert float(loss.numpy()[0]) == pytest.approx(-np.log(1e-7), rel=1e-4)


def test_labels_out_of_range_are_reported():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\).*\[0, 3\]"):
        losses.sparse_categorical_crossentropy(np.array([0, 3]), probs(2, 3))
    with pytest.raises(ValueError, match="one-hot"):
        losses.categorical_crossentropy(np.array([0, 2]), probs(2, 3))


def test_unknown_loss_suggests():
    with pytest.raises(ValueError, match="Did you mean 'mse'"):
        losses.get("mes")


def test_user_loss_function_trains():
    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(ops.subtract(y_true, y_pred)) * 2.0, axis=-1)
    x = R.standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    m = gpunet.Sequential([gpunet.Input((3,)), gpunet.layers.Dense(1)])
    m.compile(optimizer=gpunet.optimizers.SGD(0.05), loss=my_loss)
    h = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.01 * h.history["loss"][0]
