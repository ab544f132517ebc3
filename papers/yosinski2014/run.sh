#!/usr/bin/env bash
# Reproduces Yosinski et al. 2014 (transferability of features, layer by layer) on halves of
# Fashion-MNIST (and MNIST with --mnist): base A/B, AnB, AnB+, BnB, BnB+ for n = 1..4 over 3 seeds
# into papers/yosinski2014/results.csv, then the report and the figure in papers/yosinski2014/report/.
# Finished runs in results.csv are skipped (delete it to train again). About 35-40 minutes on 2 CPU
# cores for Fashion-MNIST; --mnist adds about 15 minutes.
# usage: papers/yosinski2014/run.sh [BUILD_DIR] [--mnist]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build
mnist=0
for a in "$@"; do
    case $a in
    --mnist) mnist=1 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) build=$a ;;
    esac
done
# shellcheck source=config.sh
source "$here/config.sh"
[ "$mnist" = 1 ] && datasets+=(mnist)
ferry=$build/ferry
csv=$here/results.csv
ckpt=$here/checkpoints
mkdir -p "$ckpt"
[ -f "$csv" ] || echo "dataset,seed,treatment,n,test_accuracy,train_loss,epochs,iters_per_epoch,seconds" > "$csv"

done_run() { grep -q "^$1,$2,$3,$4," "$csv"; }

# train DATASET SEED TREATMENT N SPEC RUN_SEED [ferry train options]: one run, one row of results.csv
train() {
    local ds=$1 seed=$2 tr=$3 n=$4 spec=$5 run_seed=$6
    shift 6
    local t0 out acc loss steps=()
    [ "$iters" -gt 0 ] && steps=(--iters-per-epoch "$iters")
    t0=$(date +%s)
    echo "== $ds seed $seed $tr n=$n"
    out=$("$ferry" train --data "$spec" --arch "$arch" --epochs "$epochs" "${steps[@]}" --batch "$batch" --seed "$run_seed" \
        --threads "$threads" --device cpu "$@" 2>/dev/null) || { echo "$out"; return 1; }
    acc=$(sed -n 's/^final: test accuracy \([0-9.]*\)%  train loss \([0-9.]*\).*/\1/p' <<< "$out")
    loss=$(sed -n 's/^final: test accuracy \([0-9.]*\)%  train loss \([0-9.]*\).*/\2/p' <<< "$out")
    [ -n "$acc" ] || { echo "$out"; echo "run.sh: no final accuracy in the output above" >&2; return 1; }
    echo "$ds,$seed,$tr,$n,$acc,$loss,$epochs,$iters,$(($(date +%s) - t0))" >> "$csv"
    echo "   $acc%"
}

for seed in "${seeds[@]}"; do
    for ds in "${datasets[@]}"; do
        A="$ds{0,1,2,3,4}"
        B="$ds{5,6,7,8,9}"
        ev=epochs_$ds
        iv=iters_$ds
        epochs=${!ev}
        iters=${!iv}
        ts=$((seed + transfer_seed_offset))
        for half in A B; do
            spec=$A
            [ $half = B ] && spec=$B
            f=$ckpt/$ds-base$half-$seed.safetensors
            if done_run "$ds" "$seed" "base$half" 0 && [ -f "$f" ]; then continue; fi
            sed -i "/^$ds,$seed,base$half,0,/d" "$csv"
            train "$ds" "$seed" "base$half" 0 "$spec" "$seed" --save "$f"
        done
        for n in $(seq 1 $((layers - 1))); do
            for tr in BnB BnB+ AnB AnB+; do
                done_run "$ds" "$seed" "$tr" "$n" && continue
                from=$ckpt/$ds-base${tr:0:1}-$seed.safetensors
                freeze=()
                [ "${tr: -1}" = + ] || freeze=(--freeze-layers "$n")
                train "$ds" "$seed" "$tr" "$n" "$B" "$ts" --init "$from" --transfer-layers "$n" "${freeze[@]}"
            done
        done
    done
done
python3 "$here/report.py" "$csv" "$here/report"
