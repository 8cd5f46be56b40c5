"""Real Keras 3 (NumPy backend, no TensorFlow needed) as the referee for numbers and formats."""
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")


def keras():
    import importlib.util
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed (pip install -e '.[test]')")
    import keras as k  # installed but broken (a missing scipy, say) must fail, not skip
    if k.backend.backend() != "numpy":
        pytest.skip("keras was imported with another backend")
    return k
