import contextlib
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


_emulation = []  # [] not checked yet, [None] ready, [reason] unavailable


def emulation_unavailable():
    """None when the emulated kernel tier can run here (every kernel library built), else why not."""
    if not _emulation:
        from gpunet.kernels import build, emulated
        why = emulated.check_available()
        if why is None:
            try:
                emulated.prebuild(build.kernel_files())
            except emulated.EmulationUnavailable as e:
                why = str(e)
        _emulation.append(why)
    return _emulation[0]


def require_emulation():
    """Skips with one clear reason on a machine without the tier; in CI (CI set) a missing tier fails."""
    why = emulation_unavailable()
    if why is None:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("the emulated kernel tier must run in CI, but it cannot: %s" % why, pytrace=False)
    pytest.skip("emulated kernel tier unavailable: %s" % why)


class KernelTier:
    """Where a kernel test runs: "emulate" (NumPy arrays, HIP-CPU) or "cuda" (CuPy arrays, a GPU)."""

    def __init__(self, name):
        self.name = name
        self.xp = backend.get_xp()

    def dev(self, a, dtype=np.float32):
        return self.xp.asarray(np.asarray(a, dtype=dtype))

    def host(self, a):
        return backend.to_numpy(a)

    def launches(self):
        from gpunet.kernels import emulated
        return dict(emulated.launch_counts) if self.name == "emulate" else None

    def assert_launched(self, before, *names):
        """In the emulated tier, each named kernel really ran since `before` (not a silent fallback)."""
        if before is None:
            return
        now = self.launches()
        missing = [n for n in names if now.get(n, 0) <= before.get(n, 0)]
        assert not missing, "kernels not launched: %s" % missing


def use_tier(name):
    """Switches the backend to a tier; returns the state to restore with backend._set_state."""
    saved = backend._state()
    if name == "emulate":
        require_emulation()
        backend._set_state((np, "numpy", "emulated kernel tier (tests)", "emulate"))
    elif name == "numpy":
        backend._set_state((np, "numpy", "NumPy reference (tests)", None))
    elif backend.kernels() != "cuda":
        pytest.skip("needs a CUDA device through CuPy")
    return saved


@contextlib.contextmanager
def in_tier(name):
    """Runs a block in a tier ("emulate", "cuda", or "numpy": the NumPy reference, no kernels)."""
    saved = use_tier(name)
    try:
        yield KernelTier(name)
    finally:
        backend._set_state(saved)


@pytest.fixture(params=[pytest.param("emulate", marks=pytest.mark.emulated),
                        pytest.param("cuda", marks=pytest.mark.gpu)])
def kernel_tier(request):
    with in_tier(request.param) as tier:
        yield tier


@pytest.fixture
def emulated_tier():
    with in_tier("emulate") as tier:
        yield tier


@pytest.fixture(autouse=True)
def _fresh_names_and_seed():
    gpunet.utils.clear_session()
    gpunet.utils.set_random_seed(1234)
    yield


@pytest.fixture
def data_dir(request, monkeypatch):
    """The shared datasets folder ($GPUNET_DATA_DIR, else ../shared/datasets beside the clone), also set as
    $GPUNET_DATA_DIR for the test (unless it is `isolated`, which serves or copies the files itself): the README's
    test command needs no environment and downloads nothing."""
    d = os.environ.get("GPUNET_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
    if not os.path.isdir(os.path.join(d, "fashion-mnist")):
        pytest.skip("the shared datasets are not available (set GPUNET_DATA_DIR)")
    d = os.path.abspath(d)
    if "isolated" not in request.fixturenames:
        monkeypatch.setenv("GPUNET_DATA_DIR", d)
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No local copies anywhere but what a test puts there."""
    monkeypatch.delenv("GPUNET_DATA_DIR", raising=False)
    monkeypatch.setenv("GPUNET_HOME", str(tmp_path / "gpunet_home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr("gpunet.datasets._files.search_dirs",
                        _without_debian(_dataset_files().search_dirs))
    return tmp_path


def _without_debian(fn):
    return lambda folder: [d for d in fn(folder) if not d[1].startswith("/usr/share/datasets")]


def _dataset_files():
    from gpunet.datasets import _files
    return _files
