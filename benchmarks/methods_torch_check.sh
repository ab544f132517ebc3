#!/usr/bin/env bash
# Ferry against the independent PyTorch implementation (benchmarks/uda_torch.py) for the same methods
# under the same protocol (uda_torch.py's: LeNet, SGD momentum 0.9, weight decay 5e-4, lr 0.01 annealed
# as lr0 / (1 + 10 p)^0.75, batch 64 + 64, select last), on one task: target-test accuracy per seed and
# the mean difference to source-only of each, side by side.
# usage: benchmarks/methods_torch_check.sh BUILD_DIR [TASK] [EPOCHS] [SEEDS] [METHODS]
#   e.g. benchmarks/methods_torch_check.sh build 'mnist->optdigits' 3 1,2,3 source-only,im,bnm
set -euo pipefail
build=${1:-build}
task=${2:-mnist->optdigits}
epochs=${3:-3}
seeds=${4:-1,2,3}
methods=${5:-source-only,im,bnm}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/ferry" tasks "$task" --export "$dir" >/dev/null
echo "== PyTorch ($task, $epochs epochs, seeds $seeds)"
/usr/bin/python3 "$here/uda_torch.py" "$dir" --epochs "$epochs" --seeds "$seeds" --methods "$methods" --threads 1
echo "== Ferry"
declare -A sum
for m in ${methods//,/ }; do
    tot=0 n=0
    for s in ${seeds//,/ }; do
        acc=$("$build/ferry" train --task "$task" --method "$m" --epochs "$epochs" --seed "$s" --batch 64 --lr 0.01 \
              --schedule inv --weight-decay 5e-4 --threads 1 --device cpu 2>/dev/null | tail -n 1 |
              sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p')
        echo "$m seed $s: target test $acc%"
        tot=$(awk -v a="$tot" -v b="$acc" 'BEGIN { print a + b }')
        n=$((n + 1))
    done
    sum[$m]=$(awk -v a="$tot" -v n="$n" 'BEGIN { printf "%.2f", a / n }')
    echo "$m: mean ${sum[$m]}"
done
for m in ${methods//,/ }; do
    [ "$m" = source-only ] || [ -z "${sum[source-only]:-}" ] ||
        awk -v m="$m" -v a="${sum[$m]}" -v b="${sum[source-only]}" 'BEGIN { printf "%s - source-only: %+.2f\n", m, a - b }'
done
