#!/usr/bin/env bash
# Transfer from pretrained networks on the digit tasks, next to LeNet from source pretraining:
#  1. K labelled target examples per class: feature extraction (frozen backbone; features cached, so
#     every epoch costs only the head) and fine-tuning (backbone at 0.1x the rate, FT_STEPS steps of
#     batch 25 for every backbone: 10 passes over 100 labelled images, 40 steps, leave an imported
#     network's new head near chance), from
#     - lenet pretrained on the task's source (ferry pretrain, PRE_EPOCHS epochs),
#     - mobilenet_v2@nsfwjs and inception_v3@nsfwjs (npm nsfwjs 4.4.0, ImageNet-derived);
#  2. unsupervised adaptation on mnist->mnistm over mobilenet_v2@nsfwjs: source-only, DANN, DAN.
# Prints one line per run and a table (mean ± sd over seeds of target-test accuracy).
# usage: benchmarks/pretrained.sh [BUILD_DIR] [OUT_DIR]
#   environment: SEEDS ("1 2 3"), K (10), TASKS, FE_EPOCHS (10; epochs of source-train size), FT_STEPS (400), PRE_EPOCHS (10),
#   MOBILE_FE (224), INCEPTION_FE (149), MOBILE_FT (96), INCEPTION_FT (107), UDA_SIZE (64),
#   UDA_EPOCHS (1), UDA_ITERS (250: steps per epoch, each 32 source + 32 target images; 0: one pass
#   over the source), PARTS ("fe ft uda"), FT_TASKS (every task), INCEPTION_FT_TASKS ("mnist->mnistm")
set -euo pipefail
build=${1:-build}
out=${2:-results/pretrained}
seeds=${SEEDS:-"1 2 3"}
k=${K:-10}
tasks=${TASKS:-"mnist->mnistm mnist->optdigits synthdigits->mnist"}
parts=${PARTS:-"fe ft uda"}
mkdir -p "$out"
log=$out/runs.txt
uda_iters=${UDA_ITERS:-250}
[ "$uda_iters" != 0 ] || uda_iters=""
ferry=$build/ferry
acc() { sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$1"; }
run() { # label, then ferry train arguments
    local label=$1
    shift
    local line
    line=$("$ferry" train --device cpu "$@" 2>&1 | tail -n 1)
    local a
    a=$(acc "$line")
    echo "$label ${a:-FAILED} | $line" | tee -a "$log" >&2
    echo "$label ${a:-nan}" >> "$out/acc.txt"
}
for task in $tasks; do
    t=${task//[^a-z]/_}
    for s in $seeds; do
        ckpt=$out/lenet-$t-seed$s.safetensors
        [ -s "$ckpt" ] || "$ferry" pretrain --task "$task" --epochs "${PRE_EPOCHS:-10}" --seed "$s" --device cpu \
            --out "$ckpt" > /dev/null 2>&1
        if [[ " $parts " == *" fe "* ]]; then
            run "$task lenet fe $s" --task "$task" --method feature-extraction --init "$ckpt" --target-labels "$k" --source-epochs \
                --batch 50 --epochs "${FE_EPOCHS:-10}" --seed "$s"
            run "$task mobilenet_v2@nsfwjs/${MOBILE_FE:-224} fe $s" --task "$task" --arch mobilenet_v2@nsfwjs \
                --input-size "${MOBILE_FE:-224}" --method feature-extraction --target-labels "$k" --source-epochs --batch 50 \
                --epochs "${FE_EPOCHS:-10}" --seed "$s"
            run "$task inception_v3@nsfwjs/${INCEPTION_FE:-149} fe $s" --task "$task" --arch inception_v3@nsfwjs \
                --input-size "${INCEPTION_FE:-149}" --method feature-extraction --target-labels "$k" --source-epochs --batch 50 \
                --epochs "${FE_EPOCHS:-10}" --seed "$s"
        fi
        if [[ " $parts " == *" ft "* && " ${FT_TASKS:-$tasks} " == *" $task "* ]]; then
            ft=(--method fine-tuning --target-labels "$k" --batch 25 --epochs 1 --iters-per-epoch "${FT_STEPS:-400}" --seed "$s")
            run "$task lenet ft $s" --task "$task" --init "$ckpt" "${ft[@]}"
            run "$task mobilenet_v2@nsfwjs/${MOBILE_FT:-96} ft $s" --task "$task" --arch mobilenet_v2@nsfwjs \
                --input-size "${MOBILE_FT:-96}" "${ft[@]}"
            if [[ " ${INCEPTION_FT_TASKS:-mnist->mnistm} " == *" $task "* ]]; then
                run "$task inception_v3@nsfwjs/${INCEPTION_FT:-107} ft $s" --task "$task" --arch inception_v3@nsfwjs \
                    --input-size "${INCEPTION_FT:-107}" "${ft[@]}"
            fi
        fi
        if [[ " $parts " == *" uda "* && "$task" == "mnist->mnistm" ]]; then
            for m in source-only dann dan; do
                run "$task mobilenet_v2@nsfwjs/${UDA_SIZE:-64} $m $s" --task "$task" --arch mobilenet_v2@nsfwjs \
                    --input-size "${UDA_SIZE:-64}" --method "$m" --batch 32 --epochs "${UDA_EPOCHS:-1}" --seed "$s" \
                    ${uda_iters:+--iters-per-epoch "$uda_iters"}
            done
        fi
    done
done
echo
echo "| task | backbone/input | method | target test (mean ± sd over seeds) | seeds |"
echo "|---|---|---|---|---|"
awk '{ key = $1 " | " $2 " | " $3; v = $(NF); if (v != "nan") { s[key] += v; q[key] += v * v; n[key]++ } }
     END { for (key in s) { m = s[key] / n[key]; sd = n[key] > 1 ? sqrt((q[key] - n[key] * m * m) / (n[key] - 1)) : 0;
                            printf "| %s | %.2f ± %.2f | %d |\n", key, m, sd, n[key] } }' "$out/acc.txt" | sort
