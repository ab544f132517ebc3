#!/usr/bin/env bash
# Every architecture on the CPU: eval forward (batch 32) and a training step (batch 16) in Ferry and
# in PyTorch 1.13 / torchvision 0.14 with the same thread count, the two runs of each cell one after
# the other, and the ratio; peak RSS of each (one process per measurement).
# usage: benchmarks/models_compare.sh [BUILD_DIR] [THREADS] [SIZE] [ITERS] [ARCH ...]
#   SIZE: input side for every architecture (default 128; stated in the table)
set -euo pipefail
build=${1:-build}
threads=${2:-$(nproc)}
size=${3:-128}
iters=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(resnet18 resnet50 vgg19 vgg19_bn inception_v3 efficientnet_b0 mobilenet_v2 xception)
here=$(cd "$(dirname "$0")" && pwd)
torch=1
/usr/bin/python3 -c 'import torchvision' 2>/dev/null || { torch=0; echo "torchvision not installed: Ferry only" >&2; }
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<< "$2"; }
printf "| %-16s | %-7s | %5s | %12s | %12s | %6s | %9s | %9s |\n" arch mode batch "ferry img/s" "torch img/s" ratio "ferry MB" "torch MB"
printf "|%s|\n" "------------------|---------|-------|--------------|--------------|--------|-----------|-----------"
for a in "${archs[@]}"; do
    for mode in forward train; do
        b=32; [ "$mode" = train ] && b=16
        f=$("$build/benchmarks/models_bench" "$a" "$size" "$mode" "$b" "$iters" "$threads" 2>&1 | tail -n 1 || true)
        echo "$f" >&2
        t="images_per_s=0 peak_rss_mb=0"
        if [ $torch = 1 ]; then
            t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/models_torch.py" "$a" "$size" "$mode" "$b" "$iters" "$threads" 2>&1 | tail -n 1 || true)
            echo "$t" >&2
        fi
        fi_=$(val images_per_s "$f"); ti=$(val images_per_s "$t")
        fm=$(val peak_rss_mb "$f"); tm=$(val peak_rss_mb "$t")
        awk -v a="$a" -v m="$mode" -v b="$b" -v f="${fi_:-0}" -v t="${ti:-0}" -v fm="${fm:-0}" -v tm="${tm:-0}" \
            'BEGIN { printf "| %-16s | %-7s | %5d | %12.1f | %12.1f | %6s | %9d | %9d |\n", a, m, b, f, t, (t > 0 ? sprintf("%.2f", f / t) : "-"), fm, tm }'
    done
done
echo "input ${size}x${size}, $threads threads, $iters timed iterations after one warm-up"
