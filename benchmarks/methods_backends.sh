#!/usr/bin/env bash
# Every method on the CPU backend and on a Vulkan device, same task, seed and settings: the
# target-test accuracies should agree within noise (the arithmetic differs only in rounding).
# usage: benchmarks/methods_backends.sh BUILD_DIR [DEVICE] [EPOCHS]     e.g. build vulkan:0 1
set -euo pipefail
build=${1:-build}
dev=${2:-vulkan:0}
epochs=${3:-1}
task="mnist->optdigits"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/ferry" pretrain --task "$task" --epochs 2 --seed 1 --device cpu --out "$dir/p.safetensors" > /dev/null 2>&1
printf '| method | cpu | %s |\n|---|---|---|\n' "$dev"
for m in source-only dann dan coral feature-extraction fine-tuning; do
    extra=(--epochs "$epochs" --batch 128)
    case $m in feature-extraction|fine-tuning) extra=(--init "$dir/p.safetensors" --target-labels 10 --batch 50 --epochs $((epochs * 20)));; esac
    row="| $m |"
    for d in cpu "$dev"; do
        line=$("$build/ferry" train --task "$task" --method "$m" "${extra[@]}" --seed 1 --device "$d" 2>/dev/null | tail -n 1)
        row="$row $(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$line") |"
    done
    echo "$row"
done
