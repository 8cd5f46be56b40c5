"""CIFAR-10: `load_data()` -> (x_train, y_train), (x_test, y_test): uint8 images (50000/10000, 32, 32, 3)
(channels first under image_data_format "channels_first") and uint8 labels of shape (N, 1), as Keras returns."""
from . import cifar

ARCHIVE = "cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # Keras's published digest


def load_data():
    train, test = cifar.load("cifar10", ARCHIVE, SHA256, "cifar-10-batches-py",
                             [["data_batch_%d" % i for i in range(1, 6)], ["test_batch"]], "labels")
    return train, test
