#!/usr/bin/env bash
# DANN's gamma x trade_off grid on the digit tasks, every method under one protocol (SGD, lr 0.01,
# DANN's inv schedule for the source-only baseline too, as in Ganin et al.), 10 epochs, seeds 1-3.
# For each task the grid point is chosen on mean target-VALIDATION accuracy (a declared oracle: it
# uses labelled target data); the table gives that point's target-TEST accuracy next to the
# baseline's, and every grid point's numbers for the record. The test set selects nothing.
# usage: benchmarks/dann_grid.sh BUILD_DIR [EPOCHS] [SEEDS] [GAMMAS] [TRADE_OFFS]
#   e.g. benchmarks/dann_grid.sh build 10 "1 2 3" "3 10" "0.3 1"
set -euo pipefail
build=${1:-build}
epochs=${2:-10}
seeds=${3:-"1 2 3"}
gammas=${4:-"3 10"}
tradeoffs=${5:-"0.3 1"}
tasks=("mnist->optdigits" "synthdigits->mnist" "mnist->mnistm")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # task seed label args...: one line "task label seed target_val target_test"
    local task=$1 seed=$2 label=$3
    shift 3
    local line
    line=$("$build/ferry" train --task "$task" --epochs "$epochs" --seed "$seed" --device cpu --schedule inv "$@" \
        2>/dev/null | tail -n 1)
    local tv tt
    tv=$(sed -n 's/.*target val accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
    tt=$(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
    echo "$task $label seed $seed: target val $tv, target test $tt" >&2
    echo "$task $label $seed $tv $tt" >> "$out"
}
for task in "${tasks[@]}"; do
    for s in $seeds; do run "$task" "$s" source-only --method source-only; done
    for g in $gammas; do
        for w in $tradeoffs; do
            for s in $seeds; do
                run "$task" "$s" "dann:gamma=$g,trade_off=$w" --method dann --set "dann.gamma=$g" --set "dann.trade_off=$w"
            done
        done
    done
done
echo
awk '
    { k = $1 " " $2; tv[k] += $4; tt[k] += $5; n[k]++; task[$1] = 1; label[$2] = 1 }
    END {
        print "| task | setting | target val (mean) | target test (mean) | vs source-only |";
        print "|---|---|---|---|---|";
        for (t in task) {
            base = tt[t " source-only"] / n[t " source-only"]; best = ""; bv = -1;
            for (l in label) {
                k = t " " l; if (!(k in n)) continue;
                if (l != "source-only" && tv[k] / n[k] > bv) { bv = tv[k] / n[k]; best = l }
                printf "| %s | %s | %.2f | %.2f | %+.2f |\n", t, l, tv[k] / n[k], tt[k] / n[k], tt[k] / n[k] - base;
            }
            k = t " " best;
            printf "| %s | **chosen on target val: %s** | %.2f | %.2f | **%+.2f** |\n", t, best, tv[k] / n[k], tt[k] / n[k],
                tt[k] / n[k] - base;
        }
    }' "$out"
