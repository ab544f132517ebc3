#!/usr/bin/env bash
# Reproduces Saito et al. 2018 (MCD), Table 1's digits claims on MNIST -> MNIST-M: source-only, DANN
# and MCD with n = 2, 3, 4 generator updates, 3 seeds, into papers/saito2018/results.db; the harness's
# report (table, plots) and report.py's per-n table and verdicts in papers/saito2018/report/. 15 runs
# at one thread each (MCD's are 2-4x a baseline's); measured: 52 run-minutes in all, made in two
# shards while another two-shard benchmark shared the same 2 cores (25 minutes of wall time).
# usage: papers/saito2018/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
"$build/ferry" bench "$here/config.yaml" --db "$here/results.db" --report "$here/report"
python3 "$here/report.py" "$here/results.db" "$here/report"
