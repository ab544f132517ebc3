#!/usr/bin/env bash
# The main job: set up, build, and run the default benchmark (ferry bench --suite digits) on the CPU:
# every method of the digits suite on its tasks over 3 seeds, into results/ferry.db, then the table
# (printed, and in results/digits/table.{md,tex,csv,json}) and the plots (results/digits/*.png, .svg).
# Finished runs are kept: a second call (or one after an interruption) redoes only what is missing.
# Extra arguments go to 'ferry bench' (e.g. seeds=1 epochs=2, or a CONFIG.yaml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/setup.sh"
bash "$here/build.sh"
cd "$here/.."
start=$(date +%s)
build/ferry bench "$@"
echo "wall time: $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
