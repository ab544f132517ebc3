#!/usr/bin/env bash
# The negative-transfer warning of `ferry tasks T --diagnose` against the negative transfer the stores
# of this tree recorded (benchmarks/results/*.db, papers/*/results.db): for each task, LeNet is
# pretrained here on the task's source (the model a run of it starts from), the proxy A-distance and
# MMD between its features of the two domains are computed and the warning (PAD >= 1.9, declared in
# README) fires or not; each method's final target-test accuracy in each store (mean over seeds) is
# set against source-only's in the same store. Writes OUT/negative-transfer.md (per task and in all:
# hits, false alarms, misses, correct silences) and OUT/negative-transfer.csv (every cell).
# usage: benchmarks/negative_transfer.sh BUILD_DIR OUT [TASKS] [PRETRAIN_ITERS] [SEED]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-benchmarks/results}")
tasks=${3:-"mnist->optdigits synthdigits->mnist mnist->mnistm"}
pre_iters=${4:-600}
seed=${5:-1}
ferry=$build/ferry
ckpt=$out/rank-backbones # shared with benchmarks/rank.sh: pretrained once, reused
mkdir -p "$ckpt"
stores=()
for db in "$here"/benchmarks/results/*.db "$here"/papers/*/results.db; do [ -f "$db" ] && stores+=(--db "$db"); done
csv=$out/negative-transfer.csv
: > "$csv.tmp"
for task in $tasks; do
    name=$(tr -c 'A-Za-z0-9\n' '-' <<< "$task")
    model=$ckpt/lenet-source-of-$name.safetensors
    if [ ! -s "$model" ]; then
        echo "negative_transfer.sh: pretraining lenet on the source of $task ($pre_iters steps)"
        "$ferry" pretrain --task "$task" --arch lenet --epochs 1 --iters-per-epoch "$pre_iters" --seed "$seed" \
            --device cpu --out "$model" 2>&1 | tail -n 2 | head -n 1
    fi
    "$ferry" tasks "$task" --diagnose --backbone "lenet=$model" --seed "$seed" --device cpu "${stores[@]}" \
        --format csv | sed "s|$here/||g; s|$ckpt/||g" > "$csv.one"
    if [ -s "$csv.tmp" ]; then tail -n +2 "$csv.one" >> "$csv.tmp"; else cat "$csv.one" > "$csv.tmp"; fi
done
rm -f "$csv.one"
mv "$csv.tmp" "$csv"
# columns: task,backbone,pad,mmd,warning,store,method,hparams,target_labels,seeds,accuracy,source_only,hurt
/usr/bin/python3 - "$csv" > "$out/negative-transfer.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tasks = []
for r in rows:
    if r["task"] not in tasks: tasks.append(r["task"])
print("| task | PAD | MMD | warning | cells | transfer hurt | hits | false alarms | misses | correct silences |")
print("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|")
tot = [0] * 6
for t in tasks + ["all"]:
    rs = [r for r in rows if t == "all" or r["task"] == t]
    w = lambda r: r["warning"] == "1"
    h = lambda r: r["hurt"] == "1"
    c = [len(rs), sum(h(r) for r in rs), sum(w(r) and h(r) for r in rs), sum(w(r) and not h(r) for r in rs),
         sum(not w(r) and h(r) for r in rs), sum(not w(r) and not h(r) for r in rs)]
    pad = "%.4f" % float(rs[0]["pad"]) if t != "all" else ""
    mmd = "%.4f" % float(rs[0]["mmd"]) if t != "all" else ""
    warn = ("fires" if w(rs[0]) else "silent") if t != "all" else ""
    print("| %s | %s | %s | %s | %s |" % (t, pad, mmd, warn, " | ".join(str(x) for x in c)))
print()
print("Cells: a method (setting, labelled-target count) of one store on the task, its final target-test")
print("accuracy (mean over seeds) against source-only's in the same store; transfer hurt where lower.")
print("PAD and MMD: LeNet pretrained on the task's source, 300 images of each domain.")
PY
cat "$out/negative-transfer.md"
