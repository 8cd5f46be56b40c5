"""CIFAR-100: `load_data(label_mode="fine")` -> (x_train, y_train), (x_test, y_test): uint8 images
(50000/10000, 32, 32, 3) and int64 labels of shape (N, 1): 100 fine classes or 20 coarse ones."""
from . import cifar

ARCHIVE = "cifar-100-python.tar.gz"
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"  # Keras's published digest


def load_data(label_mode="fine"):
    if label_mode not in ("fine", "coarse"):
        raise ValueError('`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode=%r.' % (label_mode,))
    train, test = cifar.load("cifar100", ARCHIVE, SHA256, "cifar-100-python", [["train"], ["test"]],
                             label_mode + "_labels")
    return train, test
