/* Prints every finished run of a results store with its metrics, one line each, in a canonical order
 * and without timestamps: two stores hold the same results iff their dumps are equal. */
#include "ferry/bench.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dbdump STORE.db\n");
        return 2;
    }
    ferry_results_t *r;
    ferry_run_row *rows;
    int n;
    if (ferry_results_open(argv[1], false, &r) || ferry_results_runs(r, NULL, &rows, &n)) {
        fprintf(stderr, "dbdump: %s\n", ferry_last_error());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const ferry_run_row *w = &rows[i];
        printf("%s %s %s %s %llu %s %s %s", w->key, w->suite, w->task, w->method, (unsigned long long)w->seed,
               w->hparams, w->config_hash, w->status);
        for (int e = 0; e < w->n_epochs; e++)
            printf(" | %d %.9g %.9g %.9g %.9g", e + 1, w->source_val[e], w->target_val[e], w->target_test[e], w->loss[e]);
        printf("\n");
    }
    printf("runs %d\n", n);
    free(rows);
    ferry_results_close(r);
    return 0;
}
