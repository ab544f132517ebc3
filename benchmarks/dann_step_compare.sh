#!/usr/bin/env bash
# Runs the DANN-LeNet step in Ferry and in PyTorch (Debian python3-torch) with the same thread
# count, alternating, REPS times each in the same run (these machines are shared and noisy), and
# prints each pair's ratio and, last, the median ratio.
# usage: benchmarks/dann_step_compare.sh [BUILD_DIR] [THREADS] [STEPS] [REPS]
set -euo pipefail
build=${1:-build}
threads=${2:-$(nproc)}
steps=${3:-200}
reps=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)

have_torch=1
/usr/bin/python3 -c 'import torch' 2>/dev/null || have_torch=0
ratios=()
for r in $(seq 1 "$reps"); do
    ferry_line=$("$build/benchmarks/dann_step" "$threads" "$steps" | tail -n 1)
    ferry=${ferry_line#images_per_s=}
    if [ $have_torch = 0 ]; then
        echo "run $r: ferry_images_per_s=$ferry (pytorch not installed: apt-get install python3-torch; no ratio)"
        continue
    fi
    torch_line=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/dann_step_torch.py" "$threads" "$steps" | tail -n 1)
    torch=${torch_line#images_per_s=}
    ratio=$(awk -v f="$ferry" -v t="$torch" 'BEGIN { printf "%.2f", f / t }')
    ratios+=("$ratio")
    echo "run $r: ferry_images_per_s=$ferry pytorch_images_per_s=$torch ratio=$ratio"
done
[ ${#ratios[@]} -gt 0 ] || exit 0
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "threads=$threads steps=$steps runs=${#ratios[@]} median_ratio=$median"
