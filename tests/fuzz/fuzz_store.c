/* Reading a results store (SQLite): the input is the database file, opened read-only
 * (ferry_results_open(path, false, ...)) and every done run read (ferry_results_runs), all suites and
 * then the suite "digits". Any -wal / -shm / -journal file a previous input left is removed first,
 * so each input is the whole database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ferry/bench.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH], side[3][FUZZ_PATH + 16];
    static const char *const suffix[3] = {"-wal", "-shm", "-journal"};
    if (!path[0]) {
        fuzz_path(path, "results.db");
        for (int i = 0; i < 3; i++) snprintf(side[i], sizeof side[i], "%s%s", path, suffix[i]);
    }
    for (int i = 0; i < 3; i++) fuzz_unlink(side[i]);
    fuzz_write(path, data, size);
    ferry_results_t *r = NULL;
    ferry_status s = ferry_results_open(path, false, &r);
    if (s != FERRY_OK) {
        fuzz_check_refusal(s, path);
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        ferry_run_row *rows = NULL;
        int n = 0;
        s = ferry_results_runs(r, pass ? "digits" : NULL, &rows, &n);
        if (s == FERRY_OK) {
            if (n < 0 || (n > 0 && !rows)) __builtin_trap();
            for (int i = 0; i < n; i++) {
                const ferry_run_row *row = &rows[i];
                if (row->n_epochs < 0 || row->n_epochs > 256) __builtin_trap();
                fuzz_touch(row->key, strlen(row->key));
                fuzz_touch(row->hparams, strlen(row->hparams));
                fuzz_touch(row->device, strlen(row->device));
            }
        } else {
            fuzz_check_refusal(s, path);
        }
        free(rows);
    }
    ferry_results_close(r);
    return 0;
}
