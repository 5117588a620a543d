#!/usr/bin/env bash
# One GPU check on a machine with no hub access: every family at its real configuration with random weights,
# one job each at the published setting (121 x 768 x 512), peak GPU memory against fit's prediction, one
# table, all within 8 minutes (bench/gpu_check.py stops starting releases after 450 s). Arguments pass on,
# e.g. `bash bench/gpu_check.sh --model ltx-2-19b --steps 30`. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 "${PYTHON:-python}" bench/gpu_check.py "$@"
