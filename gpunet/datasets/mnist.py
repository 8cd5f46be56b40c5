"""MNIST digits: `load_data()` -> (x_train, y_train), (x_test, y_test), uint8 (N, 28, 28) and (N,)."""
from . import _idx_dataset

NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
IDX_SHA256 = {  # the canonical files (yann.lecun.com, and its mirrors byte for byte)
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def load_data(path=None, split=None):
    """As keras.datasets.mnist.load_data. `path` may also be a directory holding the four IDX
    .gz files. gpunet extension: split='train' or 'test' returns just that (x, y) pair, so the
    test set loads where only it is available."""
    splits = _idx_dataset.check_split(split)
    found = _idx_dataset.load("mnist", splits, IDX_SHA256, path=path, npz_name="mnist.npz",
                              npz_sha=NPZ_SHA256, url_files=[("mnist.npz", NPZ_SHA256)])
    return _idx_dataset.result(found, split)
