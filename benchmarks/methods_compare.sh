#!/usr/bin/env bash
# Unsupervised domain adaptation: source-only, DANN and DAN (and any methods given) on the digit
# tasks over seeds, target-test accuracy after the last epoch. Prints one line per run and a table of
# mean ± sd and the gain over source-only per task.
# usage: benchmarks/methods_compare.sh BUILD_DIR [EPOCHS] [SEEDS] [METHODS...]
#   e.g. benchmarks/methods_compare.sh build 10 "1 2 3" source-only dann dan
set -euo pipefail
build=${1:-build}
epochs=${2:-10}
seeds=${3:-"1 2 3"}
shift $(( $# > 3 ? 3 : $# )) || true
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(source-only dann dan)
tasks=("mnist->optdigits" "synthdigits->mnist" "mnist->mnistm")
out=$(mktemp)
for task in "${tasks[@]}"; do
    for m in "${methods[@]}"; do
        for s in $seeds; do
            line=$("$build/ferry" train --task "$task" --method "$m" --epochs "$epochs" --seed "$s" --device cpu 2>/dev/null | tail -n 1)
            acc=$(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
            sv=$(sed -n 's/.*source val accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
            echo "$task $m seed $s: source val $sv  target test $acc"
            echo "$task $m $s $acc" >> "$out"
        done
    done
done
echo
awk -v methods="${methods[*]}" '
    { key = $1 " " $2; sum[key] += $4; sq[key] += $4 * $4; n[key]++; task[$1] = 1; }
    END {
        split(methods, ms, " ");
        printf "| task |"; for (i = 1; i in ms; i++) printf " %s |", ms[i]; printf "\n|---|";
        for (i = 1; i in ms; i++) printf "---|"; printf "\n";
        for (t in task) {
            printf "| %s |", t;
            base = sum[t " source-only"] / n[t " source-only"];
            for (i = 1; i in ms; i++) {
                k = t " " ms[i]; mean = sum[k] / n[k]; var = sq[k] / n[k] - mean * mean;
                sd = n[k] > 1 ? sqrt(var * n[k] / (n[k] - 1)) : 0;
                if (ms[i] == "source-only") printf " %.2f ± %.2f |", mean, sd;
                else printf " %.2f ± %.2f (%+.2f) |", mean, sd, mean - base;
            }
            printf "\n";
        }
    }' "$out"
rm -f "$out"
