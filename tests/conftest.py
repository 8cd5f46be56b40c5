import os

import numpy as np
import pytest

import gpunet
from gpunet import backend


def _gpu_available():
    try:
        return backend.name() == "cupy"
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device through CuPy (GPUNET_BACKEND=cupy / a GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_names_and_seed():
    gpunet.utils.clear_session()
    gpunet.utils.set_random_seed(1234)
    yield


@pytest.fixture
def data_dir():
    d = os.environ.get("GPUNET_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
    if not os.path.isdir(os.path.join(d, "fashion-mnist")):
        pytest.skip("the shared datasets are not available (set GPUNET_DATA_DIR)")
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(0)
