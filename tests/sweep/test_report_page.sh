#!/usr/bin/env bash
# ferry results report's index.html, rendered by headless Chromium (Debian's): it loads without a
# script error, every embedded plot decodes, it shows the table (every task and method), the runs
# with their provenance and the runs that did not finish, and it reaches for nothing outside itself.
# And ferry results show: one run with its confusion matrix.
# usage: test_report_page.sh FERRY PLUGIN_DIR DBDUMP
set -uo pipefail
ferry=$(realpath "$1")
export FERRY_PLUGIN_PATH=$(realpath "$2")
dump=$(realpath "$3")
chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
    echo "chromium is not installed (scripts/test.sh installs it)"
    [ -n "${FERRY_REQUIRE_DATA:-}" ] && exit 1
    exit 77
fi
# The faulty method's deliberate SIGSEGVs kill its runs; under AddressSanitizer (scripts/sanitize.sh)
# handle_segv=0 keeps ASan from reporting them as errors (as in test_faults.sh).
ldd "$ferry" | grep -q libasan && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fails=0
pass=0
check() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
cat > page.yaml <<'YAML'
name: page
tasks: [mnist->optdigits, synthdigits->mnist]
methods: [source-only, dann, faulty-test]
seeds: [1, 2]
epochs: 2
iters_per_epoch: 5
batch: 32
threads: 1
hparams:
  faulty-test: {fault: 1, after: 2}   # crashes: a run that did not finish
YAML
"$ferry" bench page.yaml --db page.db --report rep > out.txt 2>&1
check "the sweep and its report (exit $?)" test -s rep/index.html
check "ferry bench names the page" grep -q 'page: *rep/index.html' out.txt
# the DOM after the load event, and the browser's log (script errors show there as console messages)
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --virtual-time-budget=10000 --enable-logging=stderr \
    --v=0 --dump-dom "file://$tmp/rep/index.html" > dom.html 2> chromium.log
rc=$?
check "chromium renders the page (exit $rc)" test $rc -eq 0 -a -s dom.html
check "no script error" bash -c "! grep -q 'Uncaught\|CONSOLE.*rror' chromium.log"
images=$(grep -o 'data-images="[0-9]*"' dom.html | grep -o '[0-9]*')
loaded=$(grep -o 'data-images-loaded="[0-9]*"' dom.html | grep -o '[0-9]*')
check "the load script ran" test -n "$images" -a -n "$loaded"
check "every plot decodes: the accuracy plot and both tasks' curves ($loaded of $images)" \
    test "${images:-0}" -eq 3 -a "${loaded:-0}" -eq 3
for name in 'mnist-&gt;optdigits' 'synthdigits-&gt;mnist' source-only dann; do
    check "the table shows $name" grep -q "<t[hd]>\(<strong>\)\?$name" dom.html
done
check "the runs: 8 finished, each with its settings" test "$(grep -c '<details><summary>' dom.html)" -eq 8
check "the runs' provenance: the commit and the device" grep -q '<td>cpu, ' dom.html
check "the runs that did not finish are listed" \
    test "$(grep -c 'faulty-test .*<strong>failed</strong>: \(killed by signal 11\|its process exited with status 1\)' dom.html)" -eq 4
check "the validators' section" grep -q 'id="validators"' dom.html
check "a confusion matrix under every run" test "$(grep -c '<table class="cm">' dom.html)" -eq 8

# ferry results show: the run, its epochs, and the selected epoch's confusion matrix, whose counts add up
# to the target test set and whose diagonal is the accuracy the table reports
key=$("$dump" page.db | awk 'NR == 1 { print $1 }')
"$ferry" results show "${key:0:10}" --db page.db > show.txt 2>&1
check "results show finds the run by the start of its key" grep -q "^run $key" show.txt
check "results show: every epoch" test "$(grep -c '^ *[0-9]  ' show.txt)" -eq 2
acc=$(sed -n 's/^selected by source-val: epoch [0-9]*, target test \([0-9.]*\)%$/\1/p' show.txt)
read -r total diag < <(awk '/^ *[0-9]+ \|/ { for (i = 3; i < NF - 1; i++) { t += $i; if (i - 3 == $1) d += $i } }
                           END { print t, d }' show.txt)
check "results show: the matrix holds the target test set (${total:-?} images)" test "${total:-0}" -gt 100
check "results show: its diagonal is the selected accuracy ($diag / $total vs $acc %)" \
    awk -v d="$diag" -v t="$total" -v a="$acc" 'BEGIN { exit !(t > 0 && a != "" && (100 * d / t - a) ^ 2 < 1e-4) }'
"$ferry" results show ffffffffff --db page.db > /dev/null 2> none.txt
check "results show: an unknown key is refused" grep -q "no finished run in page.db has a key starting 'ffffffffff'" none.txt
check "nothing outside the page (no http, no file reference)" \
    bash -c "! grep -q 'src=\"[^d]\|href=\"[^#]' rep/index.html"
echo "report_page: $pass passed, $fails failed"
[ $fails -eq 0 ]
