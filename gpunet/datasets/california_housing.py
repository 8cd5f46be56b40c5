"""California housing (Keras's california_housing.npz): `load_data(version="large", path, test_split=0.2,
seed=113)` -> (x_train, y_train), (x_test, y_test), 8 features; version "small" keeps the first 600 samples."""
from . import _keras_files as kf

SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    if not (0 <= test_split < 1):
        raise ValueError("Invalid `test_split` argument: %r. It must be between 0 and 1 (exclusive of 1)."
                         % (test_split,))
    if version not in ("small", "large"):
        raise ValueError("Argument `version` must be one of 'small', 'large'. Received: version=%r" % (version,))
    where = kf.locate("california_housing", "california_housing.npz", SHA256, path=path)
    x, y = kf.need(kf.load_npz(where), where, "x", "y")
    if version == "small":
        x, y = x[:600], y[:600]
    return kf.split_shuffled(x, y, test_split, seed)
