#!/usr/bin/env bash
# Runs the DANN-LeNet step in Ferry and in PyTorch (Debian python3-torch) with the same thread
# count, one after the other in the same run, and prints the throughput ratio.
# usage: benchmarks/dann_step_compare.sh [BUILD_DIR] [THREADS] [STEPS]
set -euo pipefail
build=${1:-build}
threads=${2:-$(nproc)}
steps=${3:-60}
here=$(cd "$(dirname "$0")" && pwd)

ferry_line=$("$build/benchmarks/dann_step" "$threads" "$steps" | tee /dev/stderr | tail -n 1)
ferry=${ferry_line#images_per_s=}
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "pytorch: not installed (apt-get install python3-torch); no ratio" >&2
    echo "images_per_s=$ferry"
    exit 0
fi
torch_line=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/dann_step_torch.py" "$threads" "$steps" \
             | tee /dev/stderr | tail -n 1)
torch=${torch_line#images_per_s=}
awk -v f="$ferry" -v t="$torch" -v n="$threads" \
    'BEGIN { printf "threads=%d ferry_images_per_s=%d pytorch_images_per_s=%d ratio=%.2f\n", n, f, t, f / t }'
