#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer (gcc), in ./build-sanitize:
# any sanitizer report fails the test that made it. Extra arguments go to meson test (a suite name, say).
# Leak reports from the Vulkan loader and Mesa's lavapipe (allocations they keep for the process's
# life) are suppressed by tests/sanitize/lsan.supp; Ferry's own are not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
bash scripts/setup.sh
if [ ! -f build-sanitize/build.ninja ]; then
    # b_lundef=false: the plugins (shared modules) take the sanitizer runtime from the executable
    meson setup build-sanitize --buildtype=debugoptimized -Dwerror=true -Dtests=enabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=undefined
fi
ninja -C build-sanitize
# The fast (frame-pointer) unwinder stops at lavapipe's JIT code, so some of its leaks have two frames
# ("unknown module") that no suppression can name: they are counted apart below. The slow unwinder
# (fast_unwind_on_malloc=0) would name them but deadlocks: LLVM registers its JIT code's EH frames, and
# libgcc's _Unwind_Find_FDE then calls malloc under its own lock, which ASan's malloc unwinds through
# again (seen in conv_ref's Vulkan test, which hung).
# Every process writes its reports to a file of its own (log_path), not to its standard error: the
# tests run ferry many times with its output thrown away or searched for a message, and a report there
# would be lost. The exit status still tells (1 for ASan and UBSan, 23 for a leak).
logs=$PWD/build-sanitize/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$logs/asan
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan
export FERRY_REQUIRE_DATA=1 FERRY_REQUIRE_VULKAN=1
start=$(date +%s)
status=0
meson test -C build-sanitize --num-processes 1 --timeout-multiplier 6 --print-errorlogs "$@" || status=$?
echo "sanitize: the suite under ASan+UBSan took $(( $(date +%s) - start )) s (exit $status)"
shopt -s nullglob
reports=("$logs"/*)
echo "sanitize: ${#reports[@]} processes left a report in $logs"
n=$(cat "${reports[@]}" /dev/null | grep -c "ERROR: AddressSanitizer\|runtime error:" || true)
echo "sanitize: ASan and UBSan reports: $n"
[ "$n" -eq 0 ] || status=1
# each leak's allocation stack: Ferry's if a frame is symbolized to a ferry_ function or a file of this
# tree (Ferry is built with debug information, so its own frames always are), else unattributable: a
# JIT frame, or an address outside every module's code that ASan names by the module mapped below it
# (seen in an Open MPI rank: "ferry+0x14de48d", past the end of ferry's segments)
awk '
    /^(Direct|Indirect) leak of/ { if (inleak) tally(); inleak = 1; ours = 0; next }
    inleak && /^ *#[0-9]+ / { stack = stack "\n" $0; if ($0 ~ / in ferry_|\.\.\/(core|plugins|algorithms|tests)\//) ours = 1; next }
    inleak { tally(); inleak = 0 }
    function tally() { if (ours) { n_ours++; print "sanitize: a leak of Ferry'"'"'s, in " FILENAME ":" stack } else n_other++; stack = "" }
    END { if (inleak) tally(); printf "sanitize: leaks with a Ferry frame: %d; without one (JIT stacks, unattributable): %d\n", n_ours, n_other
          exit n_ours > 0 }' "${reports[@]}" /dev/null || status=1
exit $status
