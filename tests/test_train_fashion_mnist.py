"""The main job: the classic MLP on Fashion-MNIST reaches Keras's accuracy on the NumPy backend."""
import numpy as np
import pytest

import gpunet
from gpunet.utils import to_categorical


@pytest.fixture(scope="module")
def fashion(request):
    import os
    d = os.environ.get("GPUNET_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
    if not os.path.isdir(os.path.join(d, "fashion-mnist")):
        pytest.skip("the shared datasets are not available (set GPUNET_DATA_DIR)")
    (xt, yt), (xs, ys) = gpunet.datasets.fashion_mnist.load_data(path=os.path.join(d, "fashion-mnist"))
    return (xt / 255.0).astype("float32"), yt, (xs / 255.0).astype("float32"), ys


# Keras's classic MLP reaches 0.85-0.87 after three epochs, depending on the seed. Measured here with Python's
# `random` as the source of default seeds (as in Keras): seeds 0-5 gave 0.859-0.868, the suite's 1234 gives
# 0.853 alone and 0.848 after the other tests (a different CPU kernel path changes the round-off, and training
# amplifies it). The bar sits below that spread, well above what a broken step reaches (0.10-0.80).
ACCURACY = 0.845


def classic():
    return gpunet.Sequential([gpunet.Input((28, 28)), gpunet.layers.Flatten(),
                              gpunet.layers.Dense(128, activation="relu"),
                              gpunet.layers.Dense(10, activation="softmax")])


@pytest.mark.slow
def test_sparse_labels_three_epochs(fashion):
    xt, yt, xs, ys = fashion
    m = classic()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(xt, yt, batch_size=32, epochs=3, verbose=0)
    loss, acc = m.evaluate(xs, ys, verbose=0)
    assert acc >= ACCURACY, acc
    assert h.history["loss"][2] < h.history["loss"][0]
    assert (m.predict(xs, verbose=0).argmax(1) == ys).mean() == pytest.approx(acc, abs=1e-6)


@pytest.mark.slow
def test_onehot_labels_three_epochs(fashion):
    xt, yt, xs, ys = fashion
    m = classic()
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    m.fit(xt, to_categorical(yt, 10), batch_size=32, epochs=3, verbose=0)
    loss, acc = m.evaluate(xs, to_categorical(ys, 10), verbose=0)
    assert acc >= ACCURACY, acc
