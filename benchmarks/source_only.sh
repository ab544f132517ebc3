#!/usr/bin/env bash
# Source-only baseline on every built-in task: LeNet trained on the source domain's training split,
# target-test accuracy reported per seed, then mean ± standard deviation over the seeds.
# usage: benchmarks/source_only.sh [BUILD_DIR] [EPOCHS] [SEEDS...]
set -euo pipefail
build=${1:-build}
epochs=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
ferry="$build/ferry"
printf '%-24s %s\n' "task" "source-val / target-test accuracy per seed; mean ± sd of target test"
"$ferry" tasks | awk '/^[a-z]/ { print $1 }' | while read -r task; do
    line=$(printf '%-24s' "$task")
    accs=()
    for s in "${seeds[@]}"; do
        out=$("$ferry" train --task "$task" --arch lenet --epochs "$epochs" --seed "$s" 2>/dev/null | tail -n 1)
        sv=$(sed -n 's/.*source val accuracy \([0-9.]*\)%.*/\1/p' <<< "$out")
        tt=$(sed -n 's/.*target test accuracy \([0-9.]*\)%.*/\1/p' <<< "$out")
        line+=$(printf ' %s/%s' "$sv" "$tt")
        accs+=("$tt")
    done
    stats=$(printf '%s\n' "${accs[@]}" | awk '{ s += $1; q += $1 * $1; n++ }
        END { m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; if (v < 0) v = 0;
              printf "%.2f ± %.2f", m, sqrt(v) }')
    printf '%s   %s\n' "$line" "$stats"
done
