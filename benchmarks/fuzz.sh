#!/usr/bin/env bash
# Fuzzing the loaders with libFuzzer (tests/fuzz).
#
#   benchmarks/fuzz.sh NAME SECONDS   one harness for SECONDS (a fresh working copy of its corpus)
#   benchmarks/fuzz.sh all SECONDS    every harness in turn, SECONDS each
#   benchmarks/fuzz.sh smoke [NAME]   every harness (or one) over its seed corpus and saved
#                                     regressions once, no fuzzing: a quick check that nothing fails
#
# Harnesses: safetensors idx tfjs csv folder config task store plugin. The first call configures a
# clang build in build-fuzz (FERRY_FUZZ_BUILD overrides the place): -Dfuzz=enabled, AddressSanitizer
# and UndefinedBehaviorSanitizer (every report fatal), the library instrumented for libFuzzer's
# coverage. A run is one fuzzing process (one job) with -timeout=10 -rss_limit_mb=2048; its working
# corpus and any artifacts are under build-fuzz/fuzz-work/NAME. The last line of a run:
#   fuzz NAME: N executions, C coverage (cov), F features, S seconds, K crashes
# and the exit status is non-zero when a crash, leak, timeout or out-of-memory artifact was written.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FERRY_FUZZ_BUILD:-$root/build-fuzz}
fuzz_src=$root/tests/fuzz
all_names=(safetensors idx tfjs csv folder config task store plugin)
# the dictionary each harness uses (text formats)
declare -A dict=([safetensors]=json [tfjs]=json [csv]=csv [config]=yaml [task]=task)

usage() {
    echo "usage: $0 NAME SECONDS | all SECONDS | smoke [NAME]   (NAME: ${all_names[*]})" >&2
    exit 2
}

known() {
    local n
    for n in "${all_names[@]}"; do [[ $n == "$1" ]] && return 0; done
    return 1
}

configure() {
    if [[ ! -f $build/build.ninja ]]; then
        mkdir -p "$build"
        CC=clang meson setup "$build" "$root" -Dfuzz=enabled -Dtests=enabled -Dbuildtype=debugoptimized \
            -Db_ndebug=false -Db_sanitize=address,undefined -Db_lundef=false \
            -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >"$build/fuzz-setup.log" 2>&1 || {
            cat "$build/fuzz-setup.log" >&2
            echo "fuzz: configuring $build failed (log above)" >&2
            exit 1
        }
    fi
}

build_harness() { # NAME...
    local targets=() n
    for n in "$@"; do targets+=("tests/fuzz/fuzz_$n"); done
    ninja -C "$build" -j1 "${targets[@]}" >"$build/fuzz-build.log" 2>&1 || {
        tail -n 60 "$build/fuzz-build.log" >&2
        echo "fuzz: building ${targets[*]} failed (log: $build/fuzz-build.log)" >&2
        exit 1
    }
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Each file of the corpus and of the regressions run once (libFuzzer's file arguments: no fuzzing).
smoke() { # NAME
    local name=$1 exe=$build/tests/fuzz/fuzz_$1 files=()
    local tmp
    tmp=$(mktemp -d)
    mapfile -t files < <(find "$fuzz_src/corpus/$name" "$fuzz_src/regress/$name" -type f 2>/dev/null | sort)
    if ((${#files[@]} == 0)); then
        echo "fuzz smoke $name: no corpus files" >&2
        return 1
    fi
    if TMPDIR=$tmp "$exe" "${files[@]}" >"$tmp/log" 2>&1; then
        echo "fuzz smoke $name: ${#files[@]} files, ok"
        rm -rf "$tmp"
    else
        cat "$tmp/log" >&2
        echo "fuzz smoke $name: FAILED (log above)" >&2
        rm -rf "$tmp"
        return 1
    fi
}

run() { # NAME SECONDS
    local name=$1 secs=$2 exe=$build/tests/fuzz/fuzz_$1
    local work=$build/fuzz-work/$name
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
    cp "$fuzz_src/corpus/$name"/* "$work/corpus/"
    if [[ -d $fuzz_src/regress/$name ]]; then cp "$fuzz_src/regress/$name"/* "$work/corpus/" 2>/dev/null || true; fi
    local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                -artifact_prefix="$work/artifacts/")
    if [[ -n ${dict[$name]:-} ]]; then args+=(-dict="$fuzz_src/dict/${dict[$name]}.dict"); fi
    local t0 t1 rc=0
    t0=$(date +%s)
    TMPDIR=$work/tmp "$exe" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?
    t1=$(date +%s)
    rm -rf "$work/tmp"
    local execs cov ft crashes
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1 | awk '{print $2}')
    ft=$(grep -o 'ft: [0-9]*' "$work/log" | tail -n 1 | awk '{print $2}')
    crashes=$(find "$work/artifacts" -type f | wc -l)
    if ((crashes > 0)) || { ((rc != 0)) && [[ -z $execs ]]; }; then
        grep -E -A 30 '^==[0-9]+==|runtime error|deadly signal|ERROR: libFuzzer' "$work/log" | head -n 80 >&2 || true
        find "$work/artifacts" -type f | sed 's/^/fuzz: artifact /' >&2
    fi
    echo "fuzz $name: ${execs:-0} executions, ${cov:-0} coverage (cov), ${ft:-0} features, $((t1 - t0)) seconds, $crashes crashes"
    ((crashes == 0)) && { ((rc == 0)) || [[ -n $execs ]]; }
}

(($# >= 1)) || usage
case $1 in
smoke)
    names=("${all_names[@]}")
    if (($# == 2)); then known "$2" || usage; names=("$2"); fi
    configure
    build_harness "${names[@]}"
    status=0
    for n in "${names[@]}"; do smoke "$n" || status=1; done
    exit $status
    ;;
all)
    (($# == 2)) && [[ $2 =~ ^[0-9]+$ ]] || usage
    configure
    build_harness "${all_names[@]}"
    status=0
    for n in "${all_names[@]}"; do run "$n" "$2" || status=1; done
    exit $status
    ;;
*)
    (($# == 2)) && [[ $2 =~ ^[0-9]+$ ]] && known "$1" || usage
    configure
    build_harness "$1"
    run "$1" "$2"
    ;;
esac
