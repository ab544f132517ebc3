#!/usr/bin/env bash
# Transferability scores against the accuracy they predict: `ferry rank --evaluate` for the 1x28x28
# digit tasks over a fixed pool of backbones, each pretrained here on another task's source domain
# (LeNet on MNIST, Optdigits, SynthDigits and Fashion-MNIST, the small ResNet on MNIST), an untrained
# LeNet, and the imported mobilenet_v2@nsfwjs. Writes one table per task (the scores, the accuracy the
# declared protocol reached, and each score's weighted Kendall tau against it) to OUT/rank-TASK.md.
# usage: benchmarks/rank.sh BUILD_DIR OUT [TASKS] [PRETRAIN_ITERS] [EPOCHS] [ITERS] [SEED]
#   IMPORTED='' leaves the imported models out (their fine-tuning is most of the time: 16 min on one core)
#   e.g. benchmarks/rank.sh build benchmarks/results 'mnist->optdigits synthdigits->mnist' 600 10 20 1
set -euo pipefail
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-benchmarks/results}")
tasks=${3:-"mnist->optdigits synthdigits->mnist"}
pre_iters=${4:-600}
epochs=${5:-10}
iters=${6:-20}
seed=${7:-1}
ferry=$build/ferry
mkdir -p "$out"
ckpt=$out/rank-backbones # pretrained once, reused (delete it to pretrain again)
mkdir -p "$ckpt"
pretrain() { # arch, source task, name
    [ -s "$ckpt/$3.safetensors" ] && return 0
    echo "rank.sh: pretraining $1 on the source of $2 ($pre_iters steps)"
    "$ferry" pretrain --task "$2" --arch "$1" --epochs 1 --iters-per-epoch "$pre_iters" --seed "$seed" --device cpu \
        --out "$ckpt/$3.safetensors" 2>&1 | tail -n 2 | head -n 1
}
pretrain lenet 'mnist->optdigits' lenet-mnist
pretrain lenet 'optdigits->mnist' lenet-optdigits
pretrain lenet 'synthdigits->mnist' lenet-synthdigits
pretrain lenet 'fashion->fashion@rot45' lenet-fashion
pretrain resnet 'mnist->optdigits' resnet-mnist
backbones="lenet,lenet=$ckpt/lenet-mnist.safetensors,lenet=$ckpt/lenet-optdigits.safetensors"
backbones+=",lenet=$ckpt/lenet-synthdigits.safetensors,lenet=$ckpt/lenet-fashion.safetensors"
backbones+=",resnet=$ckpt/resnet-mnist.safetensors"
imported=${IMPORTED-mobilenet_v2@nsfwjs}
[ -n "$imported" ] && backbones+=",$imported"
for task in $tasks; do
    name=$(tr -c 'A-Za-z0-9\n' '-' <<< "$task")
    echo "rank.sh: $task"
    "$ferry" rank --task "$task" --backbones "$backbones" --evaluate --epochs "$epochs" --iters-per-epoch "$iters" \
        --seed "$seed" --device cpu | sed "s|$ckpt/||g" > "$out/rank-$name.md"
    cat "$out/rank-$name.md"
done
