#!/usr/bin/env bash
# A Vulkan test binary without a Vulkan loader reports every test skipped with the reason and exits
# 0; with FERRY_REQUIRE_VULKAN=1 the same run fails. usage: test_skip.sh PATH/TO/test_vk_errors
set -uo pipefail
bin=$1
fails=0
pass=0
out=$(env -u FERRY_REQUIRE_VULKAN FERRY_VULKAN_LOADER=libnothere.so.1 "$bin" --verbose 2>&1)
rc=$?
if [ $rc -eq 0 ]; then pass=$((pass + 1)); else echo "FAIL: exit $rc without a loader"; fails=$((fails + 1)); fi
if grep -q '\[SKIP\].*no Vulkan loader' <<< "$out"; then pass=$((pass + 1)); else
    echo "FAIL: no skip with the reason:"; echo "$out"; fails=$((fails + 1)); fi
if FERRY_REQUIRE_VULKAN=1 FERRY_VULKAN_LOADER=libnothere.so.1 "$bin" >/dev/null 2>&1; then
    echo "FAIL: FERRY_REQUIRE_VULKAN=1 did not fail"; fails=$((fails + 1)); else pass=$((pass + 1)); fi
echo "vk_skip: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
