from . import fashion_mnist, mnist  # noqa: F401
from ._files import DatasetError  # noqa: F401
