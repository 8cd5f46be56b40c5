from . import (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, mnist,  # noqa: F401
               reuters)
from ._files import DatasetError  # noqa: F401
