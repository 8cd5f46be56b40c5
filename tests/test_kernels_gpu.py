"""GPU-only checks: dense kernels at shapes too large to emulate, and CPU and GPU training the same
model to the same numbers. Every kernel's correctness tests at odd shapes live in test_kernels.py and
run on both tiers (emulated on the CPU in CI, and here on a GPU)."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda_tier():
    from conftest import in_tier
    with in_tier("cuda") as tier:
        yield tier


@pytest.mark.parametrize("act", ["linear", "relu", "gelu"])
@pytest.mark.parametrize("shape", [(1031, 127, 1000), (129, 784, 10), (2048, 784, 512), (33, 4096, 31)])
def test_dense_kernels_at_large_shapes(cuda_tier, shape, act):
    """Shapes too large to emulate in CI time (test_kernels.py covers every kernel at odd shapes in both tiers)."""
    from test_kernels import check_dense
    check_dense(cuda_tier, shape, act, bias=True)


PARITY = r"""
import numpy as np, gpunet, json
gpunet.utils.set_random_seed(3)
x = np.random.default_rng(1).random((2048, 28, 28)).astype("float32")
y = np.random.default_rng(2).integers(0, 10, 2048)
m = gpunet.Sequential([gpunet.Input((28, 28)), gpunet.layers.Flatten(),
                       gpunet.layers.Dense(128, activation="relu"), gpunet.layers.Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class Rec(gpunet.callbacks.Callback):
    def on_train_begin(self, logs=None): self.l = []
    def on_train_batch_end(self, b, logs=None): self.l.append(logs["loss"])
r = Rec()
m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[r])
print(json.dumps({"backend": gpunet.backend.name(), "losses": r.l,
                  "w": [float(a.sum()) for a in m.get_weights()]}))
"""


def test_cpu_and_gpu_train_to_the_same_numbers():
    import json
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for b in ("numpy", "cupy"):
        r = subprocess.run([sys.executable, "-c", PARITY], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, GPUNET_BACKEND=b, PYTHONPATH=root))
        assert r.returncode == 0, r.stderr
        out[b] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cupy"]["backend"] == "cupy"
    np.testing.assert_allclose(out["cupy"]["losses"], out["numpy"]["losses"], rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(out["cupy"]["w"], out["numpy"]["w"], rtol=1e-2, atol=1e-2)
