#!/usr/bin/env bash
# The effect of augmentation on fine-tuning with few labels: LeNet pretrained on MNIST (ferry pretrain
# on the task's source), fine-tuned on K labelled MNIST-M examples per class, without augmentation
# and with each spec of SPECS, over SEEDS. A seed fixes the checkpoint, the labelled examples and the
# run, so each spec is compared with no augmentation on the same examples (paired difference).
# Prints one line per run and a table of target-test accuracy at the last epoch (mean ± sd over seeds).
# usage: benchmarks/augment.sh [BUILD_DIR] [OUT_DIR]
#   environment: SEEDS ("1 2 3"), K (10), TASK (mnist->mnistm), PRE_EPOCHS (5), EPOCHS (20),
#   ITERS (40: steps per epoch; 25 images each, so 20 epochs pass over the 100 examples 200 times;
#   with 10 x 20 steps the augmented runs are still learning and the plain one is ahead),
#   BATCH (25), LR (0.01), THREADS (1: on a loaded 2-core machine two threads run LeNet steps ~10x
#   slower), SPECS (below; "none" is always run first). About 10 minutes on 2 loaded cores.
set -euo pipefail
build=${1:-build}
out=${2:-results/augment}
seeds=${SEEDS:-"1 2 3"}
k=${K:-10}
task=${TASK:-"mnist->mnistm"}
specs=${SPECS:-"crop=2 crop=2,rot=10,scale=0.9:1.1 crop=2,rot=10,scale=0.9:1.1,jitter=0.3,noise=0.03"}
mkdir -p "$out"
log=$out/runs.txt
: > "$out/acc.txt"
ferry=$build/ferry
t=${task//[^a-z]/_}
for s in $seeds; do
    ckpt=$out/lenet-$t-seed$s-epochs${PRE_EPOCHS:-5}.safetensors
    [ -s "$ckpt" ] || "$ferry" pretrain --task "$task" --epochs "${PRE_EPOCHS:-5}" --seed "$s" --device cpu --threads "${THREADS:-1}" \
        --out "$ckpt" > /dev/null 2>&1
    for spec in none $specs; do
        line=$("$ferry" train --device cpu --threads "${THREADS:-1}" --task "$task" --method fine-tuning --init "$ckpt" --target-labels "$k" \
            --batch "${BATCH:-25}" --epochs "${EPOCHS:-20}" --iters-per-epoch "${ITERS:-40}" --lr "${LR:-0.01}" \
            --seed "$s" --augment "$spec" 2>&1 | tail -n 1)
        a=$(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$line")
        echo "$spec seed $s: ${a:-FAILED} | $line" | tee -a "$log" >&2
        echo "$spec $s ${a:-nan}" >> "$out/acc.txt"
    done
done
echo
echo "$task, fine-tuning LeNet (pretrained ${PRE_EPOCHS:-5} epochs on the source) on $k labelled target examples per class,"
echo "${EPOCHS:-20} epochs x ${ITERS:-40} steps of ${BATCH:-25}; target-test accuracy (%) at the last epoch"
echo
echo "| augment | target test (mean ± sd) | vs none (paired, mean ± sd) | seeds |"
echo "|---|---|---|---|"
awk '{ v[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } if (!($2 in sd)) { sd[$2] = 1; seeds[++m] = $2 } }
     function msd(x, c,   i, s, q, mu) { s = 0; q = 0; for (i = 1; i <= c; i++) s += x[i]; mu = s / c
                                          for (i = 1; i <= c; i++) q += (x[i] - mu) ^ 2
                                          return sprintf("%.2f ± %.2f", mu, c > 1 ? sqrt(q / (c - 1)) : 0) }
     END { for (i = 1; i <= n; i++) { a = order[i]; c = 0; d = 0; split("", x); split("", y)
               for (j = 1; j <= m; j++) { r = seeds[j]
                   if (((a, r) in v) && v[a, r] != "nan") { x[++c] = v[a, r]
                       if ((("none", r) in v) && v["none", r] != "nan") y[++d] = v[a, r] - v["none", r] } }
               printf "| %s | %s | %s | %d |\n", a, c ? msd(x, c) : "-", a == "none" || !d ? "-" : msd(y, d), c } }' \
    "$out/acc.txt"
