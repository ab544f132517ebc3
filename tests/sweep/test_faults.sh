#!/usr/bin/env bash
# Faults a sweep must outlive (tests/plugins/faulty_method.c fails on purpose, MNIST->Optdigits, a few
# steps per run):
#  - a method that crashes (SIGSEGV, abort), exits or hangs fails its own run, recorded 'failed' with
#    the reason and its last output; the sweep goes on and the table lists the run as failed;
#  - a NaN loss, or NaN parameters behind a finite loss, are recorded 'diverged' with the step and the
#    value, never as an accuracy; ferry train exits non-zero with that message;
#  - a resumed sweep redoes the failed runs, not the diverged ones;
#  - SIGTERM marks the current run 'interrupted' and closes the store; the same command resumes;
#  - two processes writing one store at once lose and duplicate no row;
#  - an empty, truncated or corrupted store is refused, naming it, and left as it was;
#  - a full disk (RLIMIT_FSIZE) while writing a checkpoint, the store or a report: a clear error and the
#    previous file intact; a process killed in the middle of writing a checkpoint (SIGXFSZ, which
#    kills like SIGKILL at the moment the write passes the limit) leaves the previous checkpoint;
#  - out of memory (RLIMIT_AS) building a large model's graph: the error names what and how much.
# usage: test_faults.sh FERRY DBDUMP PLUGIN_DIR
set -uo pipefail
ferry=$(realpath "$1")
dump=$(realpath "$2")
export FERRY_PLUGIN_PATH=$(realpath "$3")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# Under AddressSanitizer (scripts/sanitize.sh) no process runs under an address-space limit (its
# shadow memory is reserved up front), and ASan would catch the faulty method's deliberate SIGSEGVs
# and turn each into a report and exit status 1: every process here runs with handle_segv=0, so that
# the signal itself kills the run and what the store records is what it records without sanitizers.
asan=0
ldd "$ferry" | grep -q libasan && asan=1
[ $asan -eq 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
segv='killed by signal 11 (Segmentation fault)'
fails=0
pass=0
check() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
has() { grep -q -- "$2" "$1"; }        # file, pattern
count() { grep -c -- "$2" "$1"; }      # file, pattern

cat > faults.yaml <<'YAML'
name: faults
tasks: [mnist->optdigits]
methods: [source-only, faulty-test]
seeds: [1]
epochs: 1
iters_per_epoch: 5
batch: 32
threads: 1
hparams:
  faulty-test:
    fault: [0, 1, 3, 4, 5, 6]   # none, SIGSEGV, abort, exit(7), NaN loss, NaN gradient
    after: 5                    # the last step: fault 6's NaN parameters come with a finite loss
YAML

# ---- crashing, exiting and diverging methods fail their own runs ----
"$ferry" bench faults.yaml --db s.db --report rep > out1.txt 2> err1.txt
rc=$?
"$dump" --all s.db > dump1.txt
check "the sweep with crashing runs completes (exit 0)" test $rc -eq 0
check "the runs that did not fail are done" test "$(grep -c ' done' dump1.txt)" -eq 2
check "SIGSEGV fails its run, with the signal and the last output" \
    has dump1.txt "\"fault\":1} 1 failed: $segv; last output: .*faulty-test: fault 1 at step 5"
check "abort() fails its run" has dump1.txt '"fault":3} 1 failed: killed by signal 6 (Aborted)'
check "exit(7) fails its run" has dump1.txt '"fault":4} 1 failed: its process exited with status 7'
check "a NaN loss is recorded diverged, with the step and the value" \
    has dump1.txt '"fault":5} 1 diverged: .*diverged at epoch 1 step 5 (loss nan)'
check "NaN parameters behind a finite loss are recorded diverged, naming the parameter" \
    has dump1.txt '"fault":6} 1 diverged: .*by the end of epoch 1 (its step 5): parameter .* is NaN'
check "the sweep's summary counts them" has err1.txt '7 runs .* 3 failed, 2 diverged'
check "the table lists the runs that did not finish" test "$(count rep/table.md '^- mnist->optdigits faulty-test')" -eq 5
check "...with their status" has rep/table.md "\"fault\":1} seed 1: \*\*failed\*\*: $segv"
check "...also on stdout" has out1.txt '"fault":5} seed 1: \*\*diverged\*\*'
check "...and in the JSON" test "$(grep -c '"status": "\(failed\|diverged\)"' rep/table.json)" -eq 5

# ---- a resumed sweep redoes the failed runs, not the finished or diverged ones ----
"$ferry" bench faults.yaml --db s.db --no-table > /dev/null 2> err2.txt
check "resuming: 4 runs kept (2 done, 2 diverged), the 3 failed redone" has err2.txt '4 already done, 3 failed, 0 diverged'

# ---- a hanging method is killed at the time limit ----
start=$(date +%s)
"$ferry" bench faults.yaml --db hang.db --run-timeout 15 methods=faulty-test faulty-test.fault=2 --no-table \
    > /dev/null 2> err3.txt
rc=$?
took=$(( $(date +%s) - start ))
"$dump" --all hang.db > dump3.txt
check "a hanging run does not stop the sweep (exit 0)" test $rc -eq 0
check "a hanging run is killed at the limit and recorded failed" \
    has dump3.txt 'failed: timed out after 15 s (the per-run time limit) and was killed; last output: faulty-test: fault 2'
check "...at the limit ($took s)" test "$took" -ge 15 -a "$took" -lt 90

# ---- ferry train exits non-zero on divergence ----
"$ferry" train --task 'mnist->optdigits' --method faulty-test --set faulty-test.fault=5 --set faulty-test.after=2 \
    --epochs 1 --iters-per-epoch 4 --batch 32 --threads 1 > /dev/null 2> err4.txt
rc=$?
check "ferry train --method: a NaN loss exits non-zero with the step ($rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'diverged at epoch 1 step 2 (loss nan)' err4.txt"
"$ferry" train --task 'mnist->optdigits' --lr 100 --schedule constant --epochs 1 --iters-per-epoch 20 --batch 32 \
    --threads 1 > /dev/null 2> err5.txt
rc=$?
check "ferry train: a diverging run exits non-zero, naming the step ($rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'training diverged \(at epoch 1 step [0-9]* (loss\|by the end of epoch 1\)' err5.txt"

# ---- SIGTERM: the current run marked, the store closed, the next invocation resumes ----
cat > term.yaml <<'YAML'
name: term
tasks: [mnist->optdigits]
methods: [source-only]
seeds: [1, 2]
epochs: 1
iters_per_epoch: 800   # several seconds: long enough to be interrupted
batch: 32
threads: 1
validators: false
YAML
"$ferry" bench term.yaml --db term.db --no-table > /dev/null 2> err6.txt &
pid=$!
for _ in $(seq 600); do # until the first run has begun (60 s at most)
    "$dump" --all term.db 2> /dev/null | grep -q ' running:' && break
    sleep 0.1
done
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
"$dump" --all term.db > dump6.txt
check "SIGTERM: ferry bench exits non-zero ($rc), saying how to resume" \
    bash -c "[ $rc -ne 0 ] && grep -q 'interrupted by Terminated.*the same command resumes' err6.txt"
check "SIGTERM: the run is marked interrupted in a store that still opens" \
    has dump6.txt "^unfinished mnist->optdigits source-only .* 1 interrupted: interrupted by Terminated"
check "SIGTERM: the sweep stops there (no run done, none left running)" \
    bash -c "grep -q '^runs 0$' dump6.txt && ! grep -q ' running:' dump6.txt"
"$ferry" bench term.yaml --db term.db --no-table > /dev/null 2> err7.txt
rc=$?
"$dump" --all term.db > dump7.txt
check "the next invocation resumes: the interrupted run redone, the sweep finished ($rc)" \
    bash -c "[ $rc -eq 0 ] && grep -q '^runs 2$' dump7.txt && ! grep -q '^unfinished' dump7.txt"

# ---- two writers on one store ----
cat > two.yaml <<'YAML'
name: two
tasks: [mnist->optdigits]
methods: [source-only]
seeds: [1, 2, 3, 4]
epochs: 1
iters_per_epoch: 5
batch: 32
threads: 1
YAML
"$ferry" bench two.yaml --db both.db --shard 0/2 --no-table --quiet &
p0=$!
"$ferry" bench two.yaml --db both.db --shard 1/2 --no-table --quiet &
p1=$!
wait $p0
r0=$?
wait $p1
r1=$?
"$ferry" bench two.yaml --db one.db --no-table --quiet
"$dump" both.db > both.txt
"$dump" one.db > one.txt
check "two concurrent writers both finish ($r0, $r1)" test $r0 -eq 0 -a $r1 -eq 0
check "two concurrent writers: every run once" grep -q '^runs 4$' both.txt
check "two concurrent writers: the same rows as one writer" cmp -s both.txt one.txt

# ---- a damaged store is refused, named, and left as it was ----
refused() { # description, store file, expected text
    local what=$1 db=$2 text=$3
    cp "$db" before.bin
    local out rc1 rc2
    out=$("$ferry" bench two.yaml --db "$db" --no-table 2>&1)
    rc1=$?
    out+=$'\n'$("$ferry" results table --db "$db" 2>&1)
    rc2=$?
    if [ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ "$(grep -c -- "$db: $text" <<< "$out")" -eq 2 ] && cmp -s "$db" before.bin &&
        [ ! -s "$db-wal" ]; then pass=$((pass + 1)); else
        echo "FAIL: $what ($rc1, $rc2): $out"; fails=$((fails + 1)); fi
}
: > empty.db
refused "an empty store" empty.db "the file is empty"
head -c 20000 /dev/urandom > noise.db
refused "a file that is not a store" noise.db "not a Ferry results database"
size=$(stat -c %s one.db)
head -c $((size / 2)) one.db > half.db
refused "a truncated store" half.db "the results database is damaged"
cp one.db flipped.db
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of=flipped.db bs=1 seek=4096 conv=notrunc status=none # page 2's header
refused "a store with a corrupted page" flipped.db "the results database is damaged"

# ---- a full disk ----
"$ferry" train --epochs 1 --iters-per-epoch 3 --batch 32 --threads 1 --save ck.safetensors > /dev/null 2>&1
sha=$(sha256sum < ck.safetensors)
(ulimit -f 16; trap '' XFSZ; exec "$ferry" train --epochs 1 --iters-per-epoch 3 --batch 32 --threads 1 --seed 2 \
    --save ck.safetensors) > /dev/null 2> err8.txt
rc=$?
check "disk full writing a checkpoint: a clear error naming it ($rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'ck.safetensors.tmp.[0-9]*: write failed: File too large' err8.txt"
check "disk full writing a checkpoint: the previous one intact" test "$(sha256sum < ck.safetensors)" = "$sha"
check "disk full writing a checkpoint: no temporary file left" bash -c "! ls ck.safetensors.tmp.* 2> /dev/null"
(ulimit -f 16; exec "$ferry" train --epochs 1 --iters-per-epoch 3 --batch 32 --threads 1 --seed 2 \
    --save ck.safetensors) > /dev/null 2>&1
rc=$?
check "killed mid-checkpoint (SIGXFSZ: $rc)" test $rc -eq $((128 + 25))
check "killed mid-checkpoint: the previous checkpoint intact" test "$(sha256sum < ck.safetensors)" = "$sha"
rm -f ck.safetensors.tmp.*

# The store and the report, with another process reading the store meanwhile (SQLite's shared-memory
# index is then set up already, so a process under a tiny file-size limit can still open the store).
hold() { # keeps a connection to $1 open until killed
    rm -f hold.txt
    /usr/bin/python3 -c "import sqlite3, time; c = sqlite3.connect('$1'); c.execute('SELECT count(*) FROM runs').fetchall(); print('open', flush=True); time.sleep(600)" > hold.txt &
    holder=$!
    for _ in $(seq 100); do grep -q open hold.txt 2> /dev/null && break; sleep 0.1; done
}
"$dump" one.db > before.txt
hold one.db
wal=$(stat -c %s one.db-wal)
(ulimit -f $(( (wal + 6000) / 1024 )); trap '' XFSZ; exec "$ferry" bench two.yaml --db one.db seeds=5,6,7,8,9 --no-table) \
    > /dev/null 2> err9.txt
rc=$?
kill $holder
wait $holder 2> /dev/null
check "disk full writing the store: a clear error naming it ($rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'one.db: cannot .*: \(disk I/O error\|database or disk is full\)' err9.txt"
"$dump" one.db | head -4 > after.txt
check "disk full writing the store: it still opens, every earlier run there" cmp -s <(head -4 before.txt) after.txt
"$ferry" bench two.yaml --db one.db seeds=5,6,7,8,9 --no-table --quiet
rc=$?
check "disk full writing the store: the next sweep resumes ($rc)" \
    bash -c "[ $rc -eq 0 ] && '$dump' one.db | grep -q '^runs 9$'"

"$ferry" results report --db one.db --out rep2 > /dev/null 2>&1
cp rep2/table.md table-before.md
hold one.db
# (its messages through a pipe: a file-size limit of 0 holds for a redirected stderr too)
(ulimit -f 0; trap '' XFSZ; exec "$ferry" results report --db one.db --out rep2 --tasks 'mnist->optdigits') \
    2>&1 > /dev/null | cat > err10.txt
rc=${PIPESTATUS[0]}
kill $holder
wait $holder 2> /dev/null
check "disk full writing a report: a clear error naming the file ($rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'rep2/table.md.tmp.[0-9]*: write failed: File too large' err10.txt"
check "disk full writing a report: the previous table intact" cmp -s rep2/table.md table-before.md

# ---- out of memory building a large model's graph ----
if [ $asan -eq 1 ]; then
    echo "out of memory: not checked under AddressSanitizer (no address-space limit)"
else
    (ulimit -v 1500000; exec "$ferry" train --arch resnet50 --input-size 224 --task 'mnist->optdigits' --epochs 1 \
        --iters-per-epoch 1 --batch 64 --threads 1) > /dev/null 2> err11.txt
    rc=$?
    check "out of memory: a clear error naming what and how much ($rc)" \
        bash -c "[ $rc -ne 0 ] && grep -q 'out of memory' err11.txt && grep -q \"the graph's intermediate tensors (.* GiB at their peak\|parameter '.*' (.* bytes)\" err11.txt"
fi

echo "faults: $pass passed, $fails failed"
[ $fails -eq 0 ]
