#!/usr/bin/env bash
# On the device machine, the whole GPU check in one call (prepared by bench/gpu_prepare.sh):
#   run(command="bash bench/gpu_run.sh", carry=[".data", ".whl"], timeout_s=560)
#   bash bench/gpu_run.sh [BUDGET_S]          # default 530: bench/gpu_probe.py, every section (--plan shows the plan)
# Results land in $OUT (the device tool's folder that comes back; /tmp/gpunet-probe elsewhere): at most
# 7 files, the tool brings back 8. Commit them under bench/results/gpu/<date>/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpunet-probe}"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 KERAS_BACKEND=numpy
[ -d .data/datasets ] && export GPUNET_DATA_DIR="$PWD/.data/datasets"
python3 bench/gpu_probe.py "$out" --budget "${1:-530}"
