#!/usr/bin/env bash
# Inductive transfer with K labelled target examples per class: feature extraction and fine-tuning
# from a source-pretrained checkpoint against training the same network from scratch on the same
# labels (fine-tuning without a checkpoint), over seeds. Prints one line per run and a table.
# usage: benchmarks/fewshot.sh BUILD_DIR [TASK] [K] [SEEDS] [PRETRAIN_EPOCHS] [EPOCHS]
#   e.g. benchmarks/fewshot.sh build 'synthdigits->mnist' 10 "1 2 3" 10 60
set -euo pipefail
build=${1:-build}
task=${2:-"synthdigits->mnist"}
k=${3:-10}
seeds=${4:-"1 2 3"}
pre_epochs=${5:-10}
epochs=${6:-60}
dir=$(mktemp -d)
out=$dir/results
for s in $seeds; do
    ckpt=$dir/pretrained-$s.safetensors
    "$build/ferry" pretrain --task "$task" --epochs "$pre_epochs" --seed "$s" --device cpu --out "$ckpt" 2>/dev/null | tail -n 2 | head -n 1
    for variant in feature-extraction fine-tuning scratch; do
        args=(--method "$variant")
        [ "$variant" = scratch ] && args=(--method fine-tuning) || args+=(--init "$ckpt")
        line=$("$build/ferry" train --task "$task" "${args[@]}" --target-labels "$k" --batch 50 --epochs "$epochs" \
               --seed "$s" --device cpu 2>/dev/null | tail -n 1)
        acc=$(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
        echo "$task K=$k $variant seed $s: target test $acc"
        echo "$variant $acc" >> "$out"
    done
done
echo
awk '{ sum[$1] += $2; sq[$1] += $2 * $2; n[$1]++ }
     END { for (m in sum) { mean = sum[m] / n[m]; sd = n[m] > 1 ? sqrt((sq[m] - n[m] * mean * mean) / (n[m] - 1)) : 0;
                            printf "| %s | %.2f ± %.2f |\n", m, mean, sd } }' "$out"
rm -rf "$dir"
