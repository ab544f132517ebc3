#!/usr/bin/env bash
# The ferry tool end to end: help texts, argument errors, train -> save -> eval on real MNIST, ferry rank, and
# a damaged checkpoint. usage: test_cli.sh PATH/TO/ferry
set -uo pipefail
ferry=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass=0
check() { # description, then a command that must succeed
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

check "help lists commands" bash -c "'$ferry' help | grep -q 'train'"
check "train --help" bash -c "'$ferry' train --help | grep -q -- '--epochs'"
check "eval --help" bash -c "'$ferry' eval --help | grep -q -- '--load'"
check "unknown command exits 2" bash -c "'$ferry' fly 2>/dev/null; [ \$? -eq 2 ]"
check "bad number names the option" bash -c "'$ferry' train --epochs zero 2>&1 | grep -q -- '--epochs expects a number'"
check "unknown data set is an error" bash -c "'$ferry' train --data nope --epochs 1 2>&1 | grep -q nope"
check "eval needs --load" bash -c "'$ferry' eval 2>&1 | grep -q -- '--load'"

# Devices: no loader, no driver, no such device -> a message and a non-zero exit; the default
# device falls back to the CPU backend. (FERRY_VULKAN_LOADER names the loader to open;
# VK_ICD_FILENAMES pointing nowhere leaves the loader without a driver.)
check "devices lists the CPU backend" bash -c "'$ferry' devices | grep -q '^cpu '"
check "no loader: vulkan:0 fails with a message" bash -c "FERRY_VULKAN_LOADER=libnothere.so.1 '$ferry' train --device vulkan:0 --epochs 1 2>&1 | grep -q 'no Vulkan loader'"
check "no loader: non-zero exit" bash -c "! FERRY_VULKAN_LOADER=libnothere.so.1 '$ferry' train --device vulkan:0 --epochs 1 >/dev/null 2>&1"
check "no driver: a message, non-zero exit" bash -c "out=\$(VK_ICD_FILENAMES=$tmp/none.json '$ferry' eval --device vulkan:0 --load x 2>&1); [ \$? -ne 0 ] && grep -qi 'vulkan' <<< \"\$out\""
check "no loader: devices still lists the CPU" bash -c "FERRY_VULKAN_LOADER=libnothere.so.1 '$ferry' devices | grep -q '^cpu '"
check "unknown device is an error" bash -c "'$ferry' train --device tpu:0 2>&1 | grep -q \"unknown device 'tpu:0'\""
check "ops lists every op on every backend" bash -c "out=\$('$ferry' ops); grep -q '^conv2d ' <<< \"\$out\" && grep -q '0 op/backend pairs unsupported' <<< \"\$out\" && ! grep -q ' NO ' <<< \"\$out\""
check "device index out of range" bash -c "'$ferry' train --device vulkan:99 2>&1 | grep -q 'no device vulkan:99'"
# A method run with an unknown task or a bad hyperparameter stops before it prints the run's header.
check "train --method: unknown task is refused before the header" bash -c "out=\$('$ferry' train --task 'mnist->nowhere' --method dann --device cpu 2>&1); [ \$? -eq 2 ] && grep -q \"unknown data set 'nowhere'\" <<< \"\$out\" && ! grep -q 'on task' <<< \"\$out\""
check "train --method: a bad --set is refused before the header" bash -c "out=\$('$ferry' train --task 'mnist->optdigits' --method dann --set dann.gamma=1000 --device cpu 2>&1); [ \$? -eq 1 ] && grep -q 'dann.gamma = 1000 is out of range' <<< \"\$out\" && ! grep -q 'on task' <<< \"\$out\""
# Augmentation specs are checked before anything runs: a bad one names the key and exits 2.
check "train --augment: a bad value names the key, exit 2, no run" bash -c "out=\$('$ferry' train --augment 'crop=4,rot=abc' --epochs 1 --device cpu 2>&1); [ \$? -eq 2 ] && grep -q \"augment 'crop=4,rot=abc': rot expects\" <<< \"\$out\" && ! grep -q 'ferry .*: train' <<< \"\$out\""
check "train --augment: an unknown key is named" bash -c "out=\$('$ferry' train --augment 'flip=0.5,blur=2' --device cpu 2>&1); [ \$? -eq 2 ] && grep -q \"unknown key 'blur'\" <<< \"\$out\""
check "train --augment-target needs --method" bash -c "'$ferry' train --augment-target flip=1 --device cpu 2>/dev/null; [ \$? -eq 2 ]"
check "train --augment-target: an inductive method has no unlabelled batches" bash -c "out=\$('$ferry' train --task 'mnist->optdigits' --method fine-tuning --target-labels 10 --augment-target rot=10 --device cpu 2>&1); [ \$? -eq 2 ] && grep -q 'no unlabelled target batches' <<< \"\$out\""
# --transfer-layers / --freeze-layers: refused before the header when they cannot apply
check "train --help: --transfer-layers and --freeze-layers" bash -c "'$ferry' train --help | grep -q -- '--transfer-layers N' && '$ferry' train --help | grep -q -- '--freeze-layers N'"
check "--transfer-layers needs --init" bash -c "out=\$('$ferry' train --transfer-layers 2 --device cpu 2>&1); [ \$? -eq 1 ] && grep -q -- '--transfer-layers 2 needs --init FILE' <<< \"\$out\" && ! grep -q 'train lenet' <<< \"\$out\""
check "--freeze-layers does not apply to --method" bash -c "out=\$('$ferry' train --task 'mnist->optdigits' --method dann --freeze-layers 1 2>&1); [ \$? -eq 2 ] && grep -q 'apply to plain training, not to --method' <<< \"\$out\""
check "--freeze-layers expects a number" bash -c "'$ferry' train --freeze-layers x 2>&1 | grep -q -- '--freeze-layers expects a number'"

# Models: the table, and running one on a tensor file (an input written here in the safetensors format).
check "models lists the architectures with their preprocessing" bash -c "out=\$('$ferry' models); grep -q '^lenet ' <<< \"\$out\" && grep -q '^resnet ' <<< \"\$out\" && grep -q 'GMACs' <<< \"\$out\""
python3 - "$tmp/in.safetensors" <<'PY'
import json, struct, sys
n, c, h, w = 3, 1, 28, 28
data = struct.pack("<%df" % (n * c * h * w), *[((i * 37) % 101) / 101.0 for i in range(n * c * h * w)])
head = json.dumps({"input": {"dtype": "F32", "shape": [n, c, h, w], "data_offsets": [0, len(data)]}}).encode()
head += b" " * (-len(head) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(head)) + head + data)
PY
check "models run writes logits and features" bash -c "'$ferry' models run --arch lenet --input '$tmp/in.safetensors' --output '$tmp/out.safetensors' --device cpu | grep -q 'logits \[3, 10\], features \[3, 768\]' && test -s '$tmp/out.safetensors'"
check "models run: no input tensor is refused by file" bash -c "'$ferry' models run --arch lenet --input '$tmp/out.safetensors' --output '$tmp/o2.safetensors' 2>&1 | grep -q \"out.safetensors: no F32 tensor 'input'\""
check "models run: unknown architecture" bash -c "'$ferry' models run --arch lenet9 --input '$tmp/in.safetensors' --output '$tmp/o2.safetensors' 2>&1 | grep -q \"unknown architecture 'lenet9'\""

# Without the data (and without FERRY_REQUIRE_DATA) the rest is skipped: exit 77 tells meson.
if [ ! -f "${FERRY_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/mnist/0.json" ] && [ -z "${FERRY_REQUIRE_DATA:-}" ]; then
    echo "MNIST not fetched (scripts/fetch-data.sh): skipping the training checks"
    echo "cli: $pass passed, $fails failed"
    exit $((fails ? 1 : 77))
fi

out=$("$ferry" train --data mnist --epochs 1 --batch 128 --seed 3 --save "$tmp/m.safetensors" 2>/dev/null)
check "train prints a final accuracy" bash -c "grep -q 'final: test accuracy' <<< '$out'"
check "train saved a checkpoint" test -s "$tmp/m.safetensors"
train_acc=$(sed -n 's/^final: test accuracy \([0-9.]*\)%.*/\1/p' <<< "$out")
eval_out=$("$ferry" eval --data mnist --load "$tmp/m.safetensors" 2>&1)
eval_acc=$(sed -n 's/.*accuracy \([0-9.]*\)% on 2000 examples/\1/p' <<< "$eval_out")
check "eval reproduces the trained accuracy ($train_acc vs $eval_acc)" test -n "$eval_acc" -a "$train_acc" = "$eval_acc"
head -c 100 "$tmp/m.safetensors" > "$tmp/cut.safetensors"
check "truncated checkpoint: error names the file" bash -c "'$ferry' eval --load '$tmp/cut.safetensors' 2>&1 | grep -q 'cut.safetensors'"
check "truncated checkpoint: non-zero exit" bash -c "! '$ferry' eval --load '$tmp/cut.safetensors' >/dev/null 2>&1"
check "wrong architecture is refused" bash -c "! '$ferry' eval --arch resnet --load '$tmp/m.safetensors' >/dev/null 2>&1"
check "weights of another architecture: missing and unexpected tensors named" bash -c "out=\$('$ferry' models run --arch resnet --weights '$tmp/m.safetensors' --classes 10 --input '$tmp/in.safetensors' --output '$tmp/o3.safetensors' 2>&1); [ \$? -ne 0 ] && grep -q 'm.safetensors: not the weights of resnet' <<< \"\$out\" && grep -q 'missing: conv1.weight' <<< \"\$out\" && grep -q 'unexpected: .*features.0.weight' <<< \"\$out\" && ! test -e '$tmp/o3.safetensors'"
check "--transfer-layers beyond the model's layers" bash -c "out=\$('$ferry' train --init '$tmp/m.safetensors' --transfer-layers 6 --device cpu 2>&1); [ \$? -eq 1 ] && grep -q -- '--transfer-layers 6: lenet has 5 layers (features.0 ... classifier.4)' <<< \"\$out\" && ! grep -q 'train lenet' <<< \"\$out\""
check "--freeze-layers of every layer leaves nothing to train" bash -c "'$ferry' train --freeze-layers 5 --device cpu 2>&1 | grep -q 'freezing all of them leaves nothing to train'"
check "--transfer-layers from a checkpoint of another architecture" bash -c "out=\$('$ferry' train --arch resnet --init '$tmp/m.safetensors' --transfer-layers 1 --device cpu 2>&1); [ \$? -eq 1 ] && grep -q \"m.safetensors: tensor '.*' is not a parameter of resnet: a checkpoint of another architecture\" <<< \"\$out\""
out=$("$ferry" train --data mnist --init "$tmp/m.safetensors" --transfer-layers 2 --freeze-layers 2 --epochs 1 --batch 128 --device cpu 2>/dev/null)
check "transfer run: the header lists the layers in forward order" bash -c "grep -q '^layers: 1 features.0 (conv 32x1x5x5), 2 features.3 (conv 48x32x5x5), 3 classifier.0 (linear 100x768), 4 classifier.2 (linear 100x100), 5 classifier.4 (linear 10x100)$' <<< '$out'"
check "transfer run: copied and frozen layers named, and it trains" bash -c "grep -q 'layers 1-2 from .*m.safetensors, the rest freshly initialised' <<< '$out' && grep -q 'layers 1-2 frozen' <<< '$out' && grep -q 'final: test accuracy' <<< '$out'"
out=$("$ferry" train --data optdigits --input-size 16 --epochs 1 --iters-per-epoch 30 --device cpu 2>&1)
check "train --iters-per-epoch: epochs of N steps, wrapping the 22 batches of a pass" bash -c "grep -q '1 epochs of 30 steps' <<< '$out' && grep -q 'final: test accuracy' <<< '$out'"

check "data list names every domain" bash -c "'$ferry' data list | grep -c -E '^(mnist|fashion|optdigits|synthdigits|mnistm) ' | grep -q 5"
ntasks=$("$ferry" tasks | grep -c -E '^[a-z].*(->|coloredfashion)')
check "tasks lists six tasks ($ntasks)" test "$ntasks" -eq 6
check "data show writes a PNG" bash -c "'$ferry' data show optdigits --out '$tmp/o.png' >/dev/null && head -c 8 '$tmp/o.png' | grep -q PNG"
check "data show: unknown variant" bash -c "'$ferry' data show mnist@blur 2>&1 | grep -q 'blur'"
check "data export writes IDX" bash -c "'$ferry' data export optdigits --format idx --out '$tmp/e' >/dev/null && test -s '$tmp/e/optdigits-train-images-idx3-ubyte.gz'"
# idx: and csv: specs over the exported IDX files; the CSV is written from them in the UCI optdigits
# layout (64 pixels 0..16, then the label)
check "data show idx: finds the labels beside the images" bash -c "'$ferry' data show 'idx:$tmp/e/optdigits-train-images-idx3-ubyte.gz' --out '$tmp/i.png' | grep -q 'train: 1150 examples, 1x8x8, 10 classes'"
/usr/bin/python3 "$(dirname "$0")/idx_to_csv.py" "$tmp/e/optdigits-train-images-idx3-ubyte.gz" "$tmp/e/optdigits-train-labels-idx1-ubyte.gz" "$tmp/od.csv"
check "data show csv: reads the shape, label column and scale (the IDX's statistics)" bash -c "'$ferry' data show 'csv:$tmp/od.csv?shape=1x8x8&label=64&max=16' --split all --out '$tmp/c.png' | grep -q 'channel 0: mean 0.3060 std 0.3762 min 0.0000 max 1.0000' && '$ferry' data show 'idx:$tmp/e/optdigits-train-images-idx3-ubyte.gz' --split all --out '$tmp/i.png' | grep -q 'channel 0: mean 0.3060 std 0.3762 min 0.0000 max 1.0000'"
mkdir -p "$tmp/moved/elsewhere" && cp "$tmp"/e/optdigits-train-*.gz "$tmp/moved/elsewhere/"
check "a one-part domain's split does not depend on where its files lie" bash -c "cmp -s <('$ferry' data show 'idx:$tmp/e/optdigits-train-images-idx3-ubyte.gz' --out '$tmp/i1.png' | tail -n +2 | head -n 2) <('$ferry' data show 'idx:$tmp/moved/elsewhere/optdigits-train-images-idx3-ubyte.gz' --out '$tmp/i2.png' | tail -n +2 | head -n 2)"
check "data show csv: without its shape is refused" bash -c "'$ferry' data show 'csv:$tmp/od.csv' --out '$tmp/c.png' 2>&1 | grep -q 'needs its image shape'"
check "an inline task from idx: to csv: trains a method" bash -c "'$ferry' train --task 'idx:$tmp/e/optdigits-train-images-idx3-ubyte.gz->csv:$tmp/od.csv?shape=1x8x8&label=64&max=16' --input-size 16 --method dann --epochs 1 --device cpu 2>&1 | grep -q 'target test accuracy'"
check "data export needs --format idx" bash -c "! '$ferry' data export optdigits --out '$tmp/e' 2>/dev/null"
"$ferry" data export 'optdigits{3,8}' --split all --format folder --out "$tmp/od" > /dev/null
check "data show folder: counts its classes by name" bash -c "'$ferry' data show 'folder:$tmp/od' --out '$tmp/od.png' | grep -q '0=3:.*1=8:'"
check "data show --augment writes the augmented sheet" bash -c "'$ferry' data show 'folder:$tmp/od' --out '$tmp/oa.png' --augment crop=2,rot=10 > /dev/null && head -c 8 '$tmp/oa-augmented.png' | grep -q PNG && ! cmp -s '$tmp/oa.png' '$tmp/oa-augmented.png'"
check "data show --augment: a bad spec names the key" bash -c "'$ferry' data show optdigits --out '$tmp/ob.png' --augment wobble=1 2>&1 | grep -q wobble"
check "data show: a class the folder lacks is named" bash -c "'$ferry' data show 'folder:$tmp/od{3,5}' 2>&1 | grep -q \"no class '5'\""
check "train on a user folder is bit-for-bit reproducible" bash -c "'$ferry' train --data 'folder:$tmp/od?size=28' --epochs 1 --device cpu --threads 2 --save '$tmp/u1.safetensors' > /dev/null && '$ferry' train --data 'folder:$tmp/od?size=28' --epochs 1 --device cpu --threads 2 --save '$tmp/u2.safetensors' > /dev/null && cmp -s '$tmp/u1.safetensors' '$tmp/u2.safetensors'"
check "an inline task between two specs trains a method" bash -c "'$ferry' train --task 'mnist{3,8}->folder:$tmp/od' --method dann --epochs 1 --device cpu 2>&1 | grep -q 'target test accuracy'"
check "tasks --export writes every split, no labels for the unlabelled one" bash -c "'$ferry' tasks 'mnist->optdigits' --export '$tmp/t' >/dev/null && [ \$(ls '$tmp/t' | wc -l) -eq 9 ] && test -s '$tmp/t/target-train-images-idx3-ubyte.gz' && ! test -e '$tmp/t/target-train-labels-idx1-ubyte.gz'"
check "tasks --split-seed must be a number" bash -c "'$ferry' tasks 'mnist->optdigits' --split-seed x 2>&1 | grep -q -- '--split-seed expects'"
out=$(FERRY_VULKAN_LOADER=libnothere.so.1 "$ferry" train --data mnist --epochs 1 --batch 512 2>/dev/null)
check "no Vulkan: the default device is the CPU backend" bash -c "grep -q '^device: cpu' <<< '$out'"
out=$("$ferry" train --task 'mnist->optdigits' --epochs 1 --batch 128 2>/dev/null | tail -n 1)
check "train --task reports source val and target test" bash -c "grep -q 'source val accuracy .* target test accuracy' <<< '$out'"
out=$("$ferry" train --task 'mnist->optdigits' --method dann --epochs 1 --batch 2000 --device cpu 2>&1)
check "a batch larger than the unlabelled target set is refused ($(tail -n 1 <<< "$out"))" \
    bash -c "grep -q 'larger than the 1295 unlabelled target examples' <<< '$out'"
# an inductive method (10 labelled target examples per class) from a pretrained checkpoint: one pass
# over its 100 examples is 2 steps of 50; with --source-epochs it takes as many steps as the source
"$ferry" pretrain --task 'mnist->optdigits' --epochs 1 --batch 128 --out "$tmp/pre.safetensors" > /dev/null 2>&1
check "pretrain writes a checkpoint" test -s "$tmp/pre.safetensors"
# ferry rank: an untrained LeNet and the pretrained one, scored on the task's labelled target examples
rank() { "$ferry" rank --task 'mnist->optdigits' --backbones "lenet,lenet=$tmp/pre.safetensors" --device cpu "$@" 2>/dev/null; }
r1=$(rank --format csv | cut -d, -f1-11); r2=$(rank --format csv | cut -d, -f1-11)
check "rank: a row per backbone with every score" bash -c "[ \$(grep -c '^lenet' <<< '$r1') -eq 2 ] && head -1 <<< '$r1' | grep -q 'logme,leep,nce,h-score,h-score-s,transrate,pad,mmd'"
check "rank: every score finite ($(tail -n 1 <<< "$r1"))" bash -c "! grep -qi 'nan\|inf' <<< '$r1'"
check "rank: the same scores twice" test "$r1" = "$r2"
check "rank: markdown table" bash -c "'$ferry' rank --task 'mnist->optdigits' --backbones lenet --device cpu 2>/dev/null | grep -q '^| lenet | 768 |'"
out=$("$ferry" rank --task 'mnist->optdigits' --backbones "lenet,lenet=$tmp/pre.safetensors" --device cpu --evaluate \
      --epochs 1 --iters-per-epoch 3 2>/dev/null)
check "rank --evaluate: an accuracy per backbone and a tau per score" \
    bash -c "[ \$(grep -c '^| lenet.* | [0-9.]* | [0-9.]* |\$' <<< '$out') -eq 2 ] && [ \$(grep -c '^| [a-z-]*\( (negated)\)\? | \(-\?[0-9.]*\|— (every backbone tied)\) |\$' <<< '$out') -eq 8 ]"
check "rank --evaluate: an unknown protocol is named" bash -c "'$ferry' rank --task 'mnist->optdigits' --backbones lenet --evaluate --protocol nope 2>&1 | grep -q 'protocol nope: no such method'"
check "rank: an unknown architecture is named" bash -c "'$ferry' rank --task 'mnist->optdigits' --backbones lenett 2>&1 | grep -q \"no architecture 'lenett'\""
check "rank: a missing checkpoint is named" bash -c "! '$ferry' rank --task 'mnist->optdigits' --backbones lenet=$tmp/none.safetensors > /dev/null 2>&1 && '$ferry' rank --task 'mnist->optdigits' --backbones lenet=$tmp/none.safetensors 2>&1 | grep -q 'none.safetensors'"
# ferry tasks T --diagnose: the domain distance, the scores and the warning, checked against a store of
# a method and source-only; the verdict recomputed here from the store itself
cat > "$tmp/nt.yaml" <<YAML
name: nt
tasks: [mnist->optdigits]
methods: [source-only, entropy-min]
seeds: [1]
epochs: 1
iters_per_epoch: 30
batch: 16
threads: 1
YAML
"$ferry" bench "$tmp/nt.yaml" --db "$tmp/nt.db" --no-table > /dev/null 2>&1
diag() { "$ferry" tasks 'mnist->optdigits' --diagnose --backbone "lenet=$tmp/pre.safetensors" --device cpu --db "$tmp/nt.db" "$@" 2>&1; }
text=$(diag); rows=$(diag --format csv); row=$(tail -n 1 <<< "$rows")
pad=$(cut -d, -f3 <<< "$row"); warned=$(cut -d, -f5 <<< "$row"); hurt=${row##*,}
want=$(/usr/bin/python3 -c "import sqlite3, sys; d = dict(sqlite3.connect(sys.argv[1]).execute('select r.method, m.target_test from runs r join metrics m on m.key = r.key where m.epoch = 1').fetchall()); print(int(d['entropy-min'] < d['source-only']))" "$tmp/nt.db")
check "diagnose: one cell, entropy-min against source-only ($row)" test "$(wc -l <<< "$rows")|$(cut -d, -f7 <<< "$row")" = "2|entropy-min"
check "diagnose: hurt as the store says ($hurt, recomputed $want)" test "$hurt" = "$want"
check "diagnose: the warning fires exactly at PAD >= 1.9 ($pad, $warned)" test "$(/usr/bin/python3 -c "print(int($pad >= 1.9))")" = "$warned"
said() { grep -q "$1" <<< "$text"; }
check "diagnose: the text names the distance" said 'proxy A-distance [0-9.]*, MMD [0-9.]*'
check "diagnose: ...the verdict" said "^$([ "$warned" = 1 ] && echo 'warning: transfer to mnist->optdigits is likely to hurt' || echo 'no warning')"
check "diagnose: ...and the counts" said "hits $((warned * hurt)), false alarms $((warned * (1 - hurt))), misses $(((1 - warned) * hurt)), correct silences $(((1 - warned) * (1 - hurt)))"
check "diagnose: a missing store is named" bash -c "! '$ferry' tasks 'mnist->optdigits' --diagnose --db '$tmp/none.db' > /dev/null 2>&1 && '$ferry' tasks 'mnist->optdigits' --diagnose --db '$tmp/none.db' 2>&1 | grep -q 'none.db'"
# ferry embed: two models' features of 50 + 50 images in the plane, one panel each
out=$("$ferry" embed --task 'mnist->optdigits' --models "untrained=lenet,pretrained=lenet=$tmp/pre.safetensors" --sample 50 \
      --device cpu --out "$tmp/emb" 2>&1)
check "embed: a line per model ($(head -n 1 <<< "$out"))" test "$(grep -c '^\(untrained\|pretrained\) (lenet.*768 features): PC1 [0-9.]*%, PC2 [0-9.]*% of the variance; proxy A-distance [0-9.]*, MMD [0-9.]*$' <<< "$out")" = 2
check "embed: the plot as SVG and PNG, a panel per model" bash -c "grep -q '<svg' '$tmp/emb.svg' && [ -s '$tmp/emb.png' ] && grep -c '^\$' '$tmp/emb.dat' | grep -qx 4 && [ \$(grep -c . '$tmp/emb.dat') -eq 200 ]"
check "embed: a model item without a name is refused" bash -c "'$ferry' embed --task 'mnist->optdigits' --models lenet 2>&1 | grep -q 'NAME=SPEC items'"
check "embed: a missing checkpoint is named" bash -c "! '$ferry' embed --task 'mnist->optdigits' --models a=lenet=$tmp/none.safetensors --sample 8 > /dev/null 2>&1 && '$ferry' embed --task 'mnist->optdigits' --models a=lenet=$tmp/none.safetensors --sample 8 2>&1 | grep -q 'none.safetensors'"
ft() { "$ferry" train --task 'mnist->optdigits' --method fine-tuning --init "$tmp/pre.safetensors" --target-labels 10 \
    --epochs 1 --batch 50 "$@" 2>&1 | grep '^epoch 1/1 '; }
out=$(ft)
check "fine-tuning: one pass over the labelled examples is 2 steps ($out)" grep -q ' 2 steps ' <<< "$out"
out=$(ft --source-epochs)
src=$("$ferry" tasks 'mnist->optdigits' | sed -n 's/^ *source-train *\([0-9]*\).*/\1/p')
check "fine-tuning --source-epochs: source-train / 50 steps ($out; source $src)" grep -q " $((src / 50)) steps " <<< "$out"
# augmented fine-tuning: the run says so, and the same seed gives the same result
aug() { ft --augment 'rot=10,crop=2,noise=0.05' --device cpu --seed 4 | sed 's/ *[0-9]* img\/s.*//'; }
a1=$(aug); a2=$(aug); plain=$(ft --device cpu --seed 4 | sed 's/ *[0-9]* img\/s.*//')
check "fine-tuning --augment: same seed, same bits ($a1)" test -n "$a1" -a "$a1" = "$a2"
check "fine-tuning --augment: augmentation changes the run ($plain)" test "$a1" != "$plain"
check "fine-tuning --augment: the run prints its augmentation" bash -c "'$ferry' train --task 'mnist->optdigits' --method fine-tuning --init '$tmp/pre.safetensors' --target-labels 10 --epochs 1 --batch 50 --augment 'noise=0.05,rot=10,crop=2' 2>&1 | grep -q '^augment: crop=2,rot=10,noise=0.05'"

echo "cli: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
