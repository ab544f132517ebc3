#!/usr/bin/env bash
# Every method on the CPU backend and on a Vulkan device, same task, seed and settings: the
# target-test accuracies should agree within noise (the arithmetic differs only in rounding). The
# noise is measured too: the same method on the CPU over seeds 1-3 (mean ± sd), next to seed 1 on
# each backend and their difference.
# usage: benchmarks/methods_backends.sh BUILD_DIR [DEVICE] [EPOCHS] [LR]     e.g. build vulkan:0 1 0.05
set -euo pipefail
build=${1:-build}
dev=${2:-vulkan:0}
epochs=${3:-1}
lr=${4:-0.05}
task="mnist->optdigits"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/ferry" pretrain --task "$task" --epochs 2 --seed 1 --device cpu --out "$dir/p.safetensors" > /dev/null 2>&1
acc() { sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p'; }
printf '| method | cpu seed 1 | %s seed 1 | difference | cpu seeds 1-3: mean ± sd |\n|---|---|---|---|---|\n' "$dev"
for m in source-only dann dan coral feature-extraction fine-tuning; do
    extra=(--epochs "$epochs" --batch 128 --lr "$lr")
    case $m in feature-extraction|fine-tuning) extra=(--init "$dir/p.safetensors" --target-labels 10 --batch 50 --epochs $((epochs * 20)) --lr "$lr");; esac
    run() { "$build/ferry" train --task "$task" --method "$m" "${extra[@]}" --seed "$1" --device "$2" 2>/dev/null | tail -n 1 | acc; }
    c1=$(run 1 cpu); c2=$(run 2 cpu); c3=$(run 3 cpu); v1=$(run 1 "$dev")
    stats=$(printf '%s\n' "$c1" "$c2" "$c3" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; printf "%.2f ± %.2f", m, sqrt((q - n * m * m) / (n - 1)) }')
    printf '| %s | %s | %s | %+.2f | %s |\n' "$m" "$c1" "$v1" "$(awk -v a="$v1" -v b="$c1" 'BEGIN { print a - b }')" "$stats"
done
