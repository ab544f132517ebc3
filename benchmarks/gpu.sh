#!/usr/bin/env bash
# One run on a machine with a GPU gives the whole table. It builds Ferry (release, its own build
# directory, every core), lists the devices (`ferry devices`), runs the Vulkan op suites on each GPU,
# then measures on the CPU and on each Vulkan device: the DANN-LeNet step and GEMM up to 4096² (perf),
# and an eval forward (batch 32) and a training step (batch 16) of the big networks (models_bench).
# Every stage has a time limit, so the summary at the end comes within about 10 minutes even when a
# stage hangs; a stage that failed or ran out of time says so in the summary.
#
# usage: benchmarks/gpu.sh [BUILD_DIR]          (default build-gpu)
# environment:
#   GPU_DEVICES="vulkan:0 ..."  the Vulkan devices to test and measure (default: every device that
#                               `ferry devices` does not call a CPU; lavapipe only if there is no other)
#   PEAK_GFLOPS=N               the GPU's FP32 peak from its vendor, to print GEMM as a share of it
#   MODELS="resnet18 ..."       the architectures (default resnet18 mobilenet_v2 resnet50 inception_v3)
#   SIZE=N                      their input side (default 128, as benchmarks/models_compare.sh)
#   SKIP_BUILD=1                use BUILD_DIR as it is
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
size=${SIZE:-128}
models=(${MODELS:-resnet18 mobilenet_v2 resnet50 inception_v3})
cores=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
t_start=$(date +%s)
declare -a stages=()
stage() { # name limit_s command...: runs one stage with a time limit, its output in $out/name.log
    local name=$1 limit=$2
    shift 2
    local t0 rc
    t0=$(date +%s)
    echo "== $name (limit ${limit} s)"
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
    rc=$?
    tail -n 40 "$out/$name.log"
    local what="ok"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="ran out of time"
    [ $rc -ne 0 ] && [ "$what" = ok ] && what="failed (exit $rc)"
    stages+=("$(printf '%-38s %-16s %4d s' "$name" "$what" $(( $(date +%s) - t0 )))")
    return $rc
}

# ---- build ---------------------------------------------------------------------------------------
if [ -z "${SKIP_BUILD:-}" ]; then
    for tool in meson ninja glslangValidator pkg-config cc; do
        command -v "$tool" >/dev/null || {
            echo "gpu.sh: $tool is missing; run scripts/setup.sh first (it installs the Debian packages)" >&2
            exit 1
        }
    done
    [ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release -Dtests=enabled > "$out/setup.log" 2>&1 ||
        { cat "$out/setup.log"; echo "gpu.sh: meson setup failed" >&2; exit 1; }
    stage build 300 ninja -C "$build" -j "$cores" || { printf '%s\n' "${stages[@]}"; exit 1; }
fi
ferry=$build/ferry

# ---- devices -------------------------------------------------------------------------------------
stage devices 60 "$ferry" devices
if [ -n "${GPU_DEVICES:-}" ]; then
    gpus=($GPU_DEVICES)
else
    # a device block starts with its name at the line start; lavapipe and other CPU drivers say
    # "CPU (software)" in their vendor line
    mapfile -t gpus < <(awk '/^vulkan:[0-9]+/ { dev = $1 } dev && /CPU \(software\)/ { cpu[dev] = 1 }
                               /^vulkan:[0-9]+/ { order[n++] = $1 }
                               END { for (i = 0; i < n; i++) if (!cpu[order[i]]) print order[i] }' "$out/devices.log")
    [ ${#gpus[@]} -gt 0 ] || mapfile -t gpus < <(awk '/^vulkan:[0-9]+/ { print $1 }' "$out/devices.log")
fi
echo "gpu.sh: devices to test and measure: ${gpus[*]:-none}"

# ---- the Vulkan op suites on each device ---------------------------------------------------------
suites=(vk_grad vk_ops vk_elem vk_step vk_cache vk_errors vk_split vk_skip conv_ref arch_backends)
for d in "${gpus[@]}"; do
    stage "suites-$d" 150 env FERRY_VK_DEVICE="${d#vulkan:}" FERRY_REQUIRE_VULKAN=1 \
        meson test -C "$build" --no-rebuild --num-processes "$cores" "${suites[@]}"
done

# ---- perf: DANN step and GEMM --------------------------------------------------------------------
stage perf-cpu 60 "$build/benchmarks/perf" cpu --threads "$cores" --steps 30
for d in "${gpus[@]}"; do
    stage "perf-$d" 90 "$build/benchmarks/perf" "$d" --steps 100 --gemm-max 4096
done

# ---- the big networks ----------------------------------------------------------------------------
for a in "${models[@]}"; do
    for mode in forward train; do
        b=32
        [ $mode = train ] && b=16
        for d in cpu "${gpus[@]}"; do
            stage "model-$a-$mode-$d" 60 "$build/benchmarks/models_bench" "$a" "$size" "$mode" "$b" 3 "$cores" "$d"
        done
    done
done

# ---- summary -------------------------------------------------------------------------------------
echo
echo "================ gpu.sh summary ($(( $(date +%s) - t_start )) s, $cores CPU threads) ================"
grep -h "^cpu \|^vulkan:[0-9]" "$out/devices.log" | sed 's/^/device  /'
grep -h "perf .* device " "$out"/perf-*.log 2>/dev/null
echo
echo "Vulkan op suites:"
for d in "${gpus[@]}"; do
    f=$out/suites-$d.log
    printf '  %-10s %s\n' "$d" "$(grep -E '^(Ok|Fail|Timeout|Skipped):' "$f" 2>/dev/null | tr -s ' ' | paste -sd ' ' -)"
done
echo
echo "DANN-LeNet step (64 + 64 images) and GEMM:"
printf '  %-10s %14s %10s' device "step img/s" "ms/step"
for n in 256 512 1024 2048 4096; do printf ' %9s' "gemm$n"; done
echo "   (GFLOP/s)"
for d in cpu "${gpus[@]}"; do
    f=$out/perf-$d.log
    [ -f "$f" ] || continue
    awk -v d="$d" -v peak="${PEAK_GFLOPS:-0}" '
        / dann_lenet_step / { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        / gemm n=/ { split($4, nn, "="); split($5, gg, "="); gf[nn[2]] = gg[2]; if (gg[2] + 0 > best) best = gg[2] + 0 }
        END {
            printf "  %-10s %14s %10s", d, v["images_per_s"] ? v["images_per_s"] : "-", v["ms_per_step"] ? v["ms_per_step"] : "-"
            for (n = 256; n <= 4096; n *= 2) printf " %9s", (n in gf) ? gf[n] : "-"
            if (peak > 0 && d != "cpu") printf "   best %.1f%% of %s", 100 * best / peak, peak
            printf "\n"
        }' "$f"
done
echo
echo "Networks (input ${size}x${size}; forward batch 32 eval, train batch 16 SGD step), images/s:"
printf '  %-16s %-8s' arch mode
for d in cpu "${gpus[@]}"; do printf ' %12s' "$d"; done
[ ${#gpus[@]} -gt 0 ] && printf ' %14s' "${gpus[0]}/cpu"
echo
for a in "${models[@]}"; do
    for mode in forward train; do
        printf '  %-16s %-8s' "$a" "$mode"
        first="" cpu_v=""
        for d in cpu "${gpus[@]}"; do
            v=$(sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p' "$out/model-$a-$mode-$d.log" 2>/dev/null | tail -n 1)
            printf ' %12s' "${v:-failed}"
            [ "$d" = cpu ] && cpu_v=$v
            [ "$d" != cpu ] && [ -z "$first" ] && first=${v:-0}
        done
        if [ ${#gpus[@]} -gt 0 ]; then
            awk -v g="${first:-0}" -v c="${cpu_v:-0}" 'BEGIN { if (g > 0 && c > 0) printf " %14.2f", g / c; else printf " %14s", "-" }'
        fi
        echo
    done
done
echo
echo "Stages:"
printf '  %s\n' "${stages[@]}"
