"""Question: do our kernels read or write out of bounds, race on shared memory, or read memory nothing wrote?

    python bench/gpu_sanitize.py OUT [--budget 150] [--tools memcheck,racecheck,initcheck]

Runs compute-sanitizer with each tool (in that order, each given a share of what is left of the budget)
over TESTS: one or more kernel tests of every kernels/*.cu family at odd shapes, in the cuda tier, and the
captured training step. CuPy's memory pool is switched off in the test process (each array its own
cudaMalloc), or an access past an array's end that stays inside a pooled chunk would go unseen.
Writes OUT/sanitize.jsonl (one line per tool: status ok | failed | refused | timeout | skipped, the
sanitizer's error count, pytest's summary) and OUT/sanitize.log; prints the same lines. compute-sanitizer
works on the Firecracker H200 machines and refuses the device on gVisor ones (the device tool's KINDS.md):
a refusal is recorded as such, not as a pass. bench/gpu_probe.py runs this after its timing sections and
before the long test runs, so that each tool gets its share.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gpu_probe import run_killing_group  # noqa: E402  (a timeout kills the sanitizer and the Python it watches)

TESTS = [
    # dense.cu
    "tests/test_kernels.py::test_dense_kernels_at_odd_shapes[cuda-17x33x784]",
    "tests/test_kernels.py::test_dense_kernels_at_odd_shapes[cuda-100x65x17]",
    "tests/test_kernels.py::test_dense_every_activation_and_option[cuda-gelu-bias-all-tile]",
    "tests/test_kernels.py::test_dense_every_activation_and_option[cuda-gelu-bias-all-splitk]",
    "tests/test_kernels.py::test_dense_bias_gradient_of_many_rows_in_parallel[cuda-9001-70-gelu]",
    # head.cu
    "tests/test_kernels.py::test_the_fused_head_equals_the_separate_kernels[cuda-9-784-65-4-sparse-gelu]",
    "tests/test_kernels.py::test_the_fused_head_equals_the_separate_kernels[cuda-33-100-10-30-onehot-linear]",
    # softmax_xent.cu
    "tests/test_kernels.py::test_softmax_xent_kernels[cuda-1031-100-sparse-0.0]",
    "tests/test_kernels.py::test_softmax_xent_kernels[cuda-100-7-onehot-0.1]",
    "tests/test_kernels.py::test_xent_padding_rows_accumulate_and_scalar_gradient[cuda-17-5-onehot]",
    # optim.cu
    "tests/test_kernels.py::test_optimizer_ctl_kernels_equal_by_value_kernels[cuda-amsgrad]",
    "tests/test_kernels.py::test_optimizer_kernel_matches_numpy_optimizer[cuda-rmsprop_momentum-flat]",
    "tests/test_kernels.py::test_clipping_kernels_match_the_numpy_clip[cuda-global_clipnorm]",
    "tests/test_kernels.py::test_unscale_and_moving_average_kernels[cuda]",
    # step.cu
    "tests/test_kernels.py::test_step_begin_advances_the_control_block[cuda]",
    "tests/test_kernels.py::test_gather_batch[cuda-True-onehot]",
    "tests/test_kernels.py::test_rows_out[cuda-33-True]",
    "tests/test_kernels.py::test_dropout_kernels_draw_the_philox_reference_masks[cuda-130-0.5]",
    # conv.cu, pool.cu, norm.cu
    "tests/test_conv_kernels.py::test_conv_kernels_at_odd_shapes[cuda-2d-same-g3-channels_first-gelu]",
    "tests/test_conv_kernels.py::test_conv_transpose_kernels[cuda-same-strides2-None]",
    "tests/test_conv_kernels.py::test_pool_kernels[cuda-shape1-pool1-strides1-same-channels_last-max_pool]",
    "tests/test_conv_kernels.py::test_pool_kernels[cuda-shape2-pool2-strides2-same-channels_first-average_pool]",
    "tests/test_conv_kernels.py::test_batch_norm_kernels[cuda-shape1-1]",
    # rnn.cu, attention.cu
    "tests/test_rnn_kernels.py::test_recurrent_cell_kernels[cuda-lstm-True-False-tanh-sigmoid-True]",
    "tests/test_rnn_kernels.py::test_recurrent_cell_kernels[cuda-gru-True-True-tanh-sigmoid-True]",
    "tests/test_rnn_kernels.py::test_masked_softmax_kernels[cuda-shape3-heads]",
    # the captured step program (its buffers come from its own pool: memcheck sees the pool's chunks)
    "tests/test_kernels_gpu.py::test_captured_and_uncaptured_steps_give_the_same_weights",
]
TOOLS = ("memcheck", "racecheck", "initcheck")
TOOL_MIN = 20  # seconds below which a tool is not started (CuPy's start-up and pytest's collection alone take ~10)


def tool_share(left, tools_left):
    """What the next tool may take: an equal share of what is left (a tool that finishes early leaves more)."""
    return left / max(1, tools_left)
ERROR_EXIT = 86
# pytest in a process whose CuPy allocates each array on its own (no pool)
RUNNER = ("import sys, cupy; cupy.cuda.set_allocator(None); cupy.cuda.set_pinned_memory_allocator(None); "
          "import pytest; sys.exit(pytest.main(sys.argv[1:]))")


def find_sanitizer():
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    for pattern in ("/usr/local/cuda*/bin/compute-sanitizer", "/usr/local/cuda*/compute-sanitizer/compute-sanitizer",
                    "/opt/nvidia/*/compute-sanitizer", "/opt/nvidia/*/*/compute-sanitizer"):
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[-1]
    return None


def command(sanitizer, tool, tests):
    return [sanitizer, "--tool", tool, "--error-exitcode", str(ERROR_EXIT), "--print-limit", "20",
            "--target-processes", "all", sys.executable, "-c", RUNNER, "-p", "no:cacheprovider", "-q", *tests]


def judge(tool, rc, text):
    """One tool's result from its exit code and output: failed (the sanitizer found errors), ok (it ran, found
    none, every test passed), tests_failed (it found none but a test failed under it), refused (it could not
    run on this device), timeout, or error (it never reported)."""
    counts = [int(n) for n in re.findall(r"ERROR SUMMARY: (\d+) error", text)]
    summary = [ln for ln in text.splitlines() if re.search(r"\d+ (passed|failed|error)", ln)][-1:]
    r = {"tool": tool, "returncode": rc, "sanitizer_errors": sum(counts), "pytest": summary[0].strip() if summary else None}
    refused = re.search(r"Device not supported|is not supported|error 999", text, re.I)
    if rc is None:
        r["status"] = "timeout"
    elif sum(counts):
        r["status"] = "failed"
        r["first_errors"] = [ln.strip() for ln in text.splitlines() if ln.startswith("=========")][:30]
    elif counts and rc == 0:
        r["status"] = "ok"
    elif counts:
        r["status"] = "tests_failed"
        r["tail"] = text[-1500:]
    else:
        r["status"] = "refused" if refused else "error"
        r["reason" if refused else "tail"] = refused.group(0) if refused else text[-1500:]
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--budget", type=float, default=150)
    ap.add_argument("--tools", default=",".join(TOOLS))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    san = find_sanitizer()
    env = dict(os.environ, GPUNET_BACKEND="cupy", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    results = []
    with open(os.path.join(a.out, "sanitize.log"), "w") as log, \
            open(os.path.join(a.out, "sanitize.jsonl"), "w") as jl:
        for i, tool in enumerate(tools):
            left = a.budget - (time.monotonic() - t0)
            share = tool_share(left, len(tools) - i)
            if san is None:
                r = {"tool": tool, "status": "skipped", "reason": "compute-sanitizer not found on PATH or under "
                                                                  "/usr/local/cuda*, /opt/nvidia"}
            elif share < TOOL_MIN:
                r = {"tool": tool, "status": "skipped", "reason": "no time left (%.0f s)" % left}
            else:
                cmd = command(san, tool, TESTS)
                log.write("\n===== %s (limit %.0f s): %s\n" % (tool, share, " ".join(cmd[:9])))
                t1 = time.monotonic()
                rc, so, se = run_killing_group(cmd, share, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True)
                text = so
                log.write(text)
                log.flush()
                r = judge(tool, rc, text)
                r["seconds"] = round(time.monotonic() - t1, 1)
            r["tests"] = len(TESTS)
            results.append(r)
            jl.write(json.dumps(r) + "\n")
            print(json.dumps(r), flush=True)
    return 0 if all(r["status"] in ("ok", "skipped", "refused") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
