"""Boston housing prices (Keras's boston_housing.npz): `load_data(path, test_split=0.2, seed=113)` ->
(x_train, y_train), (x_test, y_test), float64, 13 features."""
from . import _keras_files as kf

SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    if not (0 <= test_split < 1):
        raise ValueError("Invalid `test_split` argument: %r. It must be between 0 and 1 (exclusive of 1)."
                         % (test_split,))
    where = kf.locate("boston_housing", "boston_housing.npz", SHA256, path=path)
    x, y = kf.need(kf.load_npz(where), where, "x", "y")
    return kf.split_shuffled(x, y, test_split, seed)
