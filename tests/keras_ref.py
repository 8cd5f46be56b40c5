"""Real Keras 3 (NumPy backend, no TensorFlow needed) as the referee for numbers and formats."""
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")


def keras():
    k = pytest.importorskip("keras")
    if k.backend.backend() != "numpy":
        pytest.skip("keras was imported with another backend")
    return k
