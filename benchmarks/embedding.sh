#!/usr/bin/env bash
# Source and target features before and after adaptation, in the plane: source-only and DANN trained
# on TASK (EPOCHS epochs of ITERS steps, seed 1, one thread, CPU), an untrained LeNet beside them, drawn
# by `ferry embed` as OUT/embedding-TASK.svg and .png.
# usage: benchmarks/embedding.sh BUILD_DIR OUT [TASK] [EPOCHS] [ITERS]
set -euo pipefail
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-benchmarks/results}")
task=${3:-mnist->mnistm}
epochs=${4:-2}
iters=${5:-300}
ferry=$build/ferry
export FERRY_PLUGIN_PATH=${FERRY_PLUGIN_PATH:-$build/algorithms}
name=$(tr -c 'A-Za-z0-9\n' '-' <<< "$task")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for m in source-only dann; do
    "$ferry" train --task "$task" --method "$m" --epochs "$epochs" --iters-per-epoch "$iters" --seed 1 --threads 1 \
        --device cpu --save "$work/$m.safetensors" 2>&1 | grep '^final' | sed "s/^/$m: /"
done
"$ferry" embed --task "$task" --models "before (source-only)=lenet=$work/source-only.safetensors,after (DANN)=lenet=$work/dann.safetensors,untrained=lenet" \
    --threads 1 --device cpu --out "$work/embedding" | sed "s|$work/||g"
for f in svg png; do cp "$work/embedding.$f" "$out/embedding-$name.$f"; done
echo "embedding.sh: wrote $out/embedding-$name.svg and .png"
