#!/usr/bin/env bash
# Reproduces Ganin et al. 2016, MNIST -> MNIST-M (Table 2): source-only and DANN over 3 seeds into
# papers/ganin2016/results.db, report in papers/ganin2016/report/ (table, plots). About 4 minutes
# on 2 CPU cores. usage: papers/ganin2016/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
"$build/ferry" bench "$here/config.yaml" --db "$here/results.db" --report "$here/report"
