"""Fashion-MNIST (Zalando): `load_data()` -> (x_train, y_train), (x_test, y_test), uint8."""
from . import _idx_dataset

SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def load_data(path=None, split=None):
    """As keras.datasets.fashion_mnist.load_data; `path` (a directory with the four IDX .gz files)
    and `split` ('train'/'test') are gpunet extensions."""
    splits = _idx_dataset.check_split(split)
    files = [(n, SHA256[n]) for s in splits for n in _idx_dataset.SPLITS[s]]
    found = _idx_dataset.load("fashion-mnist", splits, SHA256, path=path, url_files=files)
    return _idx_dataset.result(found, split)
