"""The emulated tier's own checks (gpunet/kernels/emulated.py), on purpose-made kernels: a tier that let a
bad launch through would let the real kernels' bugs through too."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gpunet.kernels import build, emulated
from gpunet.kernels.emulated import KernelLaunchError

pytestmark = pytest.mark.emulated
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = r"""
#define THREADS 128
#define WARP 32

// dst[i] = src[i] + 1 for i < n + extra: extra > 0 writes past the end of dst
extern "C" __global__ void __launch_bounds__(THREADS)
write_n(const float* __restrict__ src, float* __restrict__ dst, int n, int extra) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n + extra) dst[i] = src[i < n ? i : 0] + 1.f;
}

// dst[i] = src[i + shift]: shift > 0 reads past the end of src
extern "C" __global__ void read_shifted(const float* __restrict__ src, float* __restrict__ dst, int n, int shift) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = src[i + shift];
}

// each 32-lane warp sums its lanes with butterflies; lane 0 writes the warp's sum (CUDA semantics:
// HIP-CPU's warpSize is 64, the compatibility header keeps 32-lane shuffles)
extern "C" __global__ void warp_sums(const float* __restrict__ x, float* __restrict__ out) {
    float v = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % WARP == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / WARP] = v;
}

// other scalar and pointer types, and __int_as_float
extern "C" __global__ void types(double* __restrict__ x, long long n, double a, unsigned int bits,
                                 float* __restrict__ f) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = x[i] * a + (double)bits;
    if (i == 0) f[0] = __int_as_float(0x3f800000);
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    from conftest import require_emulation
    require_emulation()
    d = tmp_path_factory.mktemp("probe")
    shutil.copy(os.path.join(build.kernel_dir(), emulated.COMPAT_HEADER), d)
    (d / "probe.cu").write_text(PROBE)
    return emulated.module(d / "probe.cu")


def f32(*a):
    return np.asarray(a, dtype=np.float32)


def test_signatures_are_parsed_from_the_source(probe):
    sigs = probe.signatures
    assert list(sigs) == ["write_n", "read_shifted", "warp_sums", "types"]
    assert sigs["write_n"].launch_bounds == 128 and sigs["read_shifted"].launch_bounds is None
    p = sigs["types"].params
    assert [(q.name, q.ctype) for q in p] == [("x", "double*"), ("n", "long long"), ("a", "double"),
                                              ("bits", "unsigned int"), ("f", "float*")]
    assert sigs["write_n"].params[0].const and not sigs["write_n"].params[1].const


def test_a_correct_launch_runs(probe):
    src, dst = np.arange(300, dtype=np.float32), np.zeros(300, dtype=np.float32)
    probe.get_function("write_n")((3,), (128,), (src, dst, np.int32(300), np.int32(0)))
    np.testing.assert_array_equal(dst, src + 1)


def test_a_write_past_the_end_is_caught(probe):
    """The bug class of an off-by-one tile bound: the guard zone after `dst` is written."""
    src, dst = np.arange(300, dtype=np.float32), np.zeros(300, dtype=np.float32)
    with pytest.raises(KernelLaunchError, match=r"write_n wrote outside argument 1 'dst' \(float\*\): up to 4 bytes "
                                                r"past the end of a float32 array of 1200 bytes"):
        probe.get_function("write_n")((3,), (128,), (src, dst, np.int32(300), np.int32(1)))


def test_a_read_past_the_end_reads_nan(probe):
    src, dst = np.arange(100, dtype=np.float32), np.zeros(100, dtype=np.float32)
    probe.get_function("read_shifted")((1,), (128,), (src, dst, np.int32(100), np.int32(1)))
    np.testing.assert_array_equal(dst[:99], src[1:])
    assert np.isnan(dst[99])


def test_shuffles_keep_cuda_32_lane_semantics(probe):
    x = np.arange(128, dtype=np.float32)
    out = np.zeros(4, dtype=np.float32)
    probe.get_function("warp_sums")((2,), (64,), (x, out))
    np.testing.assert_array_equal(out, [x[i * 32:(i + 1) * 32].sum() for i in range(4)])


def test_other_types_and_int_as_float(probe):
    x, f = np.arange(5, dtype=np.float64), np.zeros(1, dtype=np.float32)
    probe.get_function("types")((1,), (32,), (x, np.int64(5), np.float64(0.5), np.uint32(3), f))
    np.testing.assert_array_equal(x, np.arange(5) * 0.5 + 3)
    assert f[0] == 1.0


@pytest.mark.parametrize("value,message", [
    (300, r"argument 2 'n' \(int\) takes numpy.int32, but the launcher passed a Python int, which CuPy passes "
          r"as a 64-bit integer"),
    (np.int64(300), r"argument 2 'n' \(int\) takes numpy.int32, but the launcher passed int64 300"),
    (300.0, r"'n' \(int\) takes numpy.int32, but the launcher passed a Python float, which CuPy passes as a double"),
    (np.float32(300), r"'n' \(int\) takes numpy.int32, but the launcher passed float32"),
])
def test_a_scalar_of_the_wrong_type_is_refused(probe, value, message):
    src, dst = np.zeros(300, dtype=np.float32), np.zeros(300, dtype=np.float32)
    with pytest.raises(KernelLaunchError, match=message):
        probe.get_function("write_n")((3,), (128,), (src, dst, value, np.int32(0)))


def test_a_double_where_the_kernel_takes_float_or_double_is_checked(probe):
    x, f = np.zeros(5), np.zeros(1, dtype=np.float32)
    with pytest.raises(KernelLaunchError, match=r"'a' \(double\) takes numpy.float64, but the launcher passed a "
                                                r"Python float"):
        probe.get_function("types")((1,), (32,), (x, np.int64(5), 0.5, np.uint32(3), f))
    with pytest.raises(KernelLaunchError, match=r"'n' \(long long\) takes numpy.int64, but the launcher passed int32"):
        probe.get_function("types")((1,), (32,), (x, np.int32(5), np.float64(0.5), np.uint32(3), f))


def test_bad_arrays_are_refused(probe):
    k = probe.get_function("write_n")
    good, n0 = np.zeros(64, dtype=np.float32), np.int32(0)
    with pytest.raises(KernelLaunchError, match=r"argument 0 'src' \(const float\*\) takes a float32 array, but the "
                                                r"launcher passed float64"):
        k((1,), (64,), (np.zeros(64), good, np.int32(64), n0))
    with pytest.raises(KernelLaunchError, match=r"takes a float32 array, but the launcher passed list"):
        k((1,), (64,), ([0.0] * 64, good, np.int32(64), n0))
    with pytest.raises(KernelLaunchError, match=r"'src' \(const float\*\) got a non-contiguous array of shape \(64,\)"):
        k((1,), (64,), (np.zeros(128, dtype=np.float32)[::2], good, np.int32(64), n0))
    ro = np.zeros(64, dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises(KernelLaunchError, match=r"'dst' \(float\*\) got a read-only array"):
        k((1,), (64,), (good, ro, np.int32(64), n0))
    buf = np.zeros(128, dtype=np.float32)
    with pytest.raises(KernelLaunchError, match=r"overlap in memory but are not the same array"):
        k((1,), (64,), (buf[:64], buf[32:96], np.int32(64), n0))
    with pytest.raises(KernelLaunchError, match=r"write_n takes 4 arguments \(src, dst, n, extra\), the launcher "
                                                r"passed 3"):
        k((1,), (64,), (good, good, np.int32(64)))


@pytest.mark.parametrize("grid,block,message", [
    ((0,), (128,), r"gridDim.x = 0 is outside \[1, 2147483647\]"),
    ((1, 65536), (128,), r"gridDim.y = 65536 is outside \[1, 65535\]"),
    ((1,), (129,), r"a block of 129 threads exceeds __launch_bounds__\(128\)"),
    ((1,), (32, 32, 2), r"blockDim.z = 2|a block of 2048 threads"),
    (1, (128,), r"grid must be a tuple of 1 to 3 ints, got 1"),
    ((1.0,), (128,), r"grid\[0\] must be an int"),
])
def test_launch_shapes_a_gpu_refuses_are_refused(probe, grid, block, message):
    a = np.zeros(8, dtype=np.float32)
    with pytest.raises(KernelLaunchError, match=message):
        probe.get_function("write_n")(grid, block, (a, a.copy(), np.int32(8), np.int32(0)))


def test_unknown_kernel_and_parse_errors(probe):
    with pytest.raises(KernelLaunchError, match=r"probe.cu has no kernel 'nope' \(it has write_n, read_shifted"):
        probe.get_function("nope")
    with pytest.raises(ValueError, match=r"type 'bool' is not one the emulated tier knows"):
        emulated.kernel_signatures('extern "C" __global__ void k(bool* x) {}')


def test_a_kernel_that_does_not_compile_names_file_and_error(tmp_path):
    from conftest import require_emulation
    require_emulation()
    shutil.copy(os.path.join(build.kernel_dir(), emulated.COMPAT_HEADER), tmp_path)
    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* x) {\n  x[0] = undefined_name;\n}\n')
    with pytest.raises(emulated.EmulationUnavailable, match=r"emulated build of broken.cu failed: .*broken.cu:2:.*"
                                                            r"undefined_name"):
        emulated.module(tmp_path / "broken.cu")


def _pytest_one(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GPUNET_HIP_CPU")}
    env.update(env_extra, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           os.path.join(ROOT, "tests", "test_emulated_tier.py") + "::test_a_correct_launch_runs"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def test_without_hip_cpu_the_tier_skips_with_one_reason_and_fails_in_ci(tmp_path):
    r = _pytest_one({"GPUNET_HIP_CPU": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout and "emulated kernel tier unavailable: the HIP CPU Runtime was not found " \
                                       "(looked in %s)" % tmp_path in r.stdout
    r = _pytest_one({"GPUNET_HIP_CPU": str(tmp_path), "CI": "true"})
    assert r.returncode == 1 and "the emulated kernel tier must run in CI, but it cannot" in r.stdout


def test_gpunet_kernels_emulate_runs_fit_through_the_kernels():
    """The user-facing switch: GPUNET_KERNELS=emulate picks NumPy arrays and the emulated kernels."""
    from conftest import require_emulation
    require_emulation()
    code = ("import numpy as np, gpunet\n"
            "from gpunet.kernels import emulated\n"
            "m = gpunet.Sequential([gpunet.Input((5,)), gpunet.layers.Dense(4, activation='relu'),"
            " gpunet.layers.Dense(3, activation='softmax')])\n"
            "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
            "m.fit(np.ones((8, 5), 'float32'), np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)\n"
            "print(gpunet.backend.name(), gpunet.backend.kernels(), sorted(emulated.launch_counts))\n"
            "print(gpunet.backend.info()['kernels'])\n")
    env = dict(os.environ, PYTHONPATH=ROOT, GPUNET_KERNELS="emulate")
    env.pop("GPUNET_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    # fit runs the static launch program (gpunet/training/gpu_step.py), every kernel of it emulated
    # (the last Dense with the loss in one kernel: the fused head of the default variant rule)
    assert first == ("numpy emulate ['adam_update_ctl', 'dense_backward_data', 'dense_backward_weight', "
                     "'dense_forward', 'dense_xent_head', 'gather_batch', 'step_begin']")
    assert second == "kernels/*.cu emulated on the CPU (HIP-CPU)"
