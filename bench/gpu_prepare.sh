#!/usr/bin/env bash
# On the development machine, before a device call (no GPU needed): what the device image lacks, put in the
# two ignored folders the call carries. Then, with the device tool:
#   run(command="bash bench/gpu_run.sh", carry=[".data", ".whl"], timeout_s=560)
# .data/datasets: a copy of ../shared/datasets (../shared does not travel); .whl: Keras (the referee of the
# numerics tests; the image has none), the two of its requirements the image lacks (namex, optree) and
# gpunet's threadpoolctl (the CPU threading policy's BLAS control), built
# for the image's CPython 3.12 on x86-64. The device tool's README says how wheels travel.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${SHARED:-../shared}"
[ -d "$shared/datasets/fashion-mnist" ] || { echo "no $shared/datasets/fashion-mnist" >&2; exit 1; }
rm -rf .data/datasets && mkdir -p .data && cp -r "$shared/datasets" .data/datasets
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "keras==${KERAS_VERSION:-3.15.1}" namex optree threadpoolctl
for d in .data .whl; do git check-ignore -q "$d" || { echo ".data or .whl is not ignored: it would be committed" >&2; exit 1; }; done
du -sh .data .whl
