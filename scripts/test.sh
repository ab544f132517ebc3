#!/usr/bin/env bash
# Set up, build, and run every test (Criterion suites through meson).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/setup.sh"
# The references some tests compare with: PyTorch and torchvision (Debian's), used by
# tests/models/*_ref.py and tests/ops/*_ref.py through /usr/bin/python3.
ref=()
# And Debian's Chromium, which renders the report's page headless (tests/sweep/test_report_page.sh).
for p in python3-torch python3-torchvision chromium; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || ref+=("$p")
done
if [ ${#ref[@]} -gt 0 ]; then
    echo "test: installing ${ref[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${ref[@]}"
fi
bash "$here/build.sh"
cd "$here/.."
status=0
# One suite at a time: the suites use every core themselves (OpenMP).
meson test -C build --num-processes 1 --print-errorlogs "$@" || status=$?
# Sum the test counts of every suite (Criterion's and the command-line checks') into one line.
awk '/^[a-z_]+: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
     /^\[SKIP\] / { s += 1 }
     /Synthesis: Tested:/ {
        for (i = 1; i <= NF; i++) {
            if ($i == "Passing:") p += $(i + 1)
            if ($i == "Failing:") f += $(i + 1)
            if ($i == "Crashing:") f += $(i + 1)
            if ($i == "Skipped:") s += $(i + 1)
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' build/meson-logs/testlog.txt
# The loaders' fuzzing harnesses (clang, ASan+UBSan, in build-fuzz), unless a suite was named: each
# replays its seed corpus and saved regressions, then fuzzes for FERRY_FUZZ_SMOKE_S seconds (10).
if [ $# -eq 0 ]; then
    bash benchmarks/fuzz.sh smoke || status=1
    bash benchmarks/fuzz.sh all "${FERRY_FUZZ_SMOKE_S:-10}" || status=1
fi
exit $status
