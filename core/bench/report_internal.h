/* Internals shared by the report files: the table model (report_table.c), which the renderers
 * (report_render.c) and the plots (report_plot.c) read, and the text buffer they write into. */
#ifndef FERRY_REPORT_INTERNAL_H
#define FERRY_REPORT_INTERNAL_H

#include "bench_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAXT 32
#define MAXM 32
#define MAXS 64

/* One hyperparameter setting of a (task, method) cell: in a grid there are several, and the table
 * reports the one its selection rule picks. */
struct setting {
    int a, b;
    char hparams[1024];            /* the resolved hyperparameters (JSON), as stored */
    char label[256];               /* the values that differ between the cell's settings */
    int n;                         /* seeds */
    double score, test;            /* means over seeds of the selection metric and of target test (%) */
    bool chosen;
};

struct ferry_table {
    int n_tasks, n_methods;
    char tasks[MAXT][64], methods[MAXM][64];
    int n[MAXT][MAXM];
    uint64_t seeds[MAXT][MAXM][MAXS];
    double value[MAXT][MAXM][MAXS]; /* target-test accuracy, % */
    int epoch[MAXT][MAXM][MAXS];
    ferry_cell_stats st[MAXT][MAXM];
    ferry_select rule;
    char baseline[64];
    int max_seeds;
    int labels[MAXM]; /* target labels per class a method trained on (0: unsupervised) */
    bool semi[MAXM];  /* ...beside the source and the unlabelled target (semi-supervised) */
    int n_settings[MAXT][MAXM];
    int chosen[MAXT][MAXM];           /* index into settings */
    char cfg[MAXT][MAXM][65];         /* each cell's configuration hash */
    struct setting *settings;
    int n_set;
    ferry_run_problem *unfinished; /* runs of the table's tasks and methods that did not finish */
    int n_unfinished;
};

struct buf {
    char *s;
    size_t n, cap;
};

/* The table as markdown, the runs that did not finish listed under it (report_render.c). */
void ferry_table_markdown(const ferry_table_t *t, struct buf *b);
/* The validators' correlations and selections in a format (md, csv, json) (report_validators.c). */
ferry_status ferry_validators_render(const ferry_run_row *rows, int n, const char *format, struct buf *b);

/* Appends printf-style text to b (report_render.c). */
void ferry_report_put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
