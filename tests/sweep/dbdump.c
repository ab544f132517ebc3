/* Prints every finished run of a results store with its metrics, one line each, in a canonical order
 * and without timestamps: two stores hold the same results iff their dumps are equal. With --all, then
 * every run that did not finish: "unfinished TASK METHOD HPARAMS SEED STATUS: ERROR". */
#include "ferry/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    bool all = argc == 3 && !strcmp(argv[1], "--all");
    if (argc != 2 && !all) {
        fprintf(stderr, "usage: dbdump [--all] STORE.db\n");
        return 2;
    }
    ferry_results_t *r;
    ferry_run_row *rows;
    ferry_run_problem *probs = NULL;
    int n, n_probs = 0;
    if (ferry_results_open(argv[argc - 1], false, &r) || ferry_results_runs(r, NULL, &rows, &n) ||
        (all && ferry_results_problems(r, NULL, &probs, &n_probs))) {
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
    for (int i = 0; i < n_probs; i++)
        printf("unfinished %s %s %s %llu %s: %s\n", probs[i].task, probs[i].method, probs[i].hparams,
               (unsigned long long)probs[i].seed, probs[i].status, probs[i].error);
    free(rows);
    free(probs);
    ferry_results_close(r);
    return 0;
}
