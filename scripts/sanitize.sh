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
# fast_unwind_on_malloc=0: whole allocation stacks, so that the suppressions can see a leak's library
# (the fast unwinder stops at lavapipe's JIT code: two frames, "unknown module")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export FERRY_REQUIRE_DATA=1 FERRY_REQUIRE_VULKAN=1
start=$(date +%s)
status=0
meson test -C build-sanitize --num-processes 1 --timeout-multiplier 6 --print-errorlogs "$@" || status=$?
echo "sanitize: the suite under ASan+UBSan took $(( $(date +%s) - start )) s (exit $status)"
grep -c "ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer" build-sanitize/meson-logs/testlog.txt \
    | sed 's/^/sanitize: sanitizer reports in the log: /' || true
exit $status
