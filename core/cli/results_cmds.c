/* ferry results: tables, plots, exports and merges of a results store. */
#include "ferry/bench.h"
#include "ferry/ferry.h"
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int usage(FILE *f)
{
    fprintf(f, "usage: ferry results table  [--db PATH] [--suite NAME] [--select RULE] [--baseline M]\n"
               "                            [--format md|latex|csv|json] [--out FILE]\n"
               "       ferry results plot   [--db PATH] [--suite NAME] [--select RULE] --out DIR\n"
               "       ferry results export --format csv|json --out FILE [--db PATH] [--suite NAME]\n"
               "       ferry results report [--db PATH] [--suite NAME] [--select RULE] --out DIR\n"
               "       ferry results validators [--db PATH] [--suite NAME] [--format md|csv|json] [--out FILE]\n"
               "       ferry results merge  DST.db SRC.db [SRC.db ...]\n"
               "       ferry results show RUN [--db PATH] [--select RULE]   (RUN: a key or its first characters)\n"
               "\n"
               "Common options: --tasks A,B and --methods M,N keep only those, in that order.\n"
               "RULE: source-val (default: the epoch with the best source-validation accuracy),\n"
               "target-val (an oracle: labelled target validation), last, or an unsupervised validator\n"
               "(source-acc, source-loss, entropy, diversity, im, bnm, snd, mano: the epoch it scores highest,\n"
               "from the store's validators table; runs without it are left out). Where a suite searched a\n"
               "method's hyperparameters over a grid, the same metric (mean over seeds) picks the grid\n"
               "point, and the markdown lists every point. The target test set never selects\n"
               "anything. Default store: results/ferry.db. 'report' writes the table in every\n"
               "format (DIR/table.md, .tex, .csv, .json) and the plots, and prints the markdown table.\n");
    return f == stdout ? 0 : 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "ferry results %s: %s\n", what, ferry_last_error());
    return 1;
}

/* Position of name in a comma-separated list, or -1. */
static int list_index(const char *list, const char *name)
{
    size_t len = strlen(name);
    int i = 0;
    for (const char *p = list; *p; i++) {
        size_t k = strcspn(p, ",");
        if (k == len && !strncmp(p, name, len)) return i;
        p += k + (p[k] == ',');
    }
    return -1;
}

static const char *pick_tasks, *pick_methods;

static int by_lists(const void *pa, const void *pb)
{
    const ferry_run_row *a = pa, *b = pb;
    int d = 0;
    if (pick_tasks) d = list_index(pick_tasks, a->task) - list_index(pick_tasks, b->task);
    if (!d && pick_methods) d = list_index(pick_methods, a->method) - list_index(pick_methods, b->method);
    if (!d) d = strcmp(a->task, b->task);
    if (!d) d = strcmp(a->method, b->method);
    return d ? d : (a->seed > b->seed) - (a->seed < b->seed);
}

/* --tasks / --methods: keep only the listed ones, in the listed order (columns and rows follow it). */
static int pick(ferry_run_row *rows, int n, const char *tasks, const char *methods)
{
    if (!tasks && !methods) return n;
    int k = 0;
    for (int i = 0; i < n; i++)
        if ((!tasks || list_index(tasks, rows[i].task) >= 0) && (!methods || list_index(methods, rows[i].method) >= 0))
            memmove(&rows[k++], &rows[i], sizeof *rows);
    pick_tasks = tasks;
    pick_methods = methods;
    qsort(rows, (size_t)k, sizeof *rows, by_lists);
    return k;
}

/* Every table format and the plots into dir, then the markdown table on stdout. */
static ferry_status report(const ferry_run_row *rows, int n, ferry_select rule, const char *baseline, const char *dir,
                           const ferry_run_problem *probs, int n_probs, const char *db)
{
    ferry_table_t *t = NULL;
    ferry_status s = ferry_table_build(rows, n, rule, baseline, &t);
    if (!s) s = ferry_table_add_unfinished(t, probs, n_probs);
    if (s) {
        ferry_table_free(t);
        return s;
    }
    static const char *const formats[][2] = {{"md", "md"}, {"latex", "tex"}, {"csv", "csv"}, {"json", "json"}};
    if ((s = ferry_mkdir_p(dir))) {
        ferry_table_free(t);
        return s;
    }
    char path[4096];
    for (size_t i = 0; i < 4 && !s; i++) {
        snprintf(path, sizeof path, "%s/table.%s", dir, formats[i][1]);
        s = ferry_table_write(t, formats[i][0], path);
    }
    if (!s) s = ferry_results_plot(rows, n, rule, baseline, dir);
    if (!s) s = ferry_report_html(t, rows, n, db, dir);
    if (!s) s = ferry_table_write(t, "md", NULL);
    ferry_table_free(t);
    if (!s)
        printf("\ntable:    %s/table.md (also .tex, .csv, .json)\nplot:     %s/accuracy.png (and .svg; learning curves "
               "%s/curves-*.png)\npage:     %s/index.html (all of it, self-contained)\n",
               dir, dir, dir, dir);
    return s;
}

/* ferry results show RUN: one run's settings, provenance and epochs, and at the epoch the rule selects
 * its target-test confusion matrix and per-class accuracy. */
static int show(int argc, char **argv)
{
    const char *db = "results/ferry.db", *want = argc > 2 ? argv[2] : NULL;
    ferry_select rule = FERRY_SELECT_SOURCE_VAL;
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "ferry results show: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--db")) db = argv[i + 1];
        else if (!strcmp(argv[i], "--select")) {
            if (ferry_select_parse(argv[i + 1], &rule)) return fail("show");
        } else {
            fprintf(stderr, "ferry results show: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!want || !*want || want[0] == '-') return usage(stderr);
    ferry_results_t *r;
    ferry_run_row *rows = NULL;
    int n = 0, at = -1, matches = 0;
    if (ferry_results_open(db, false, &r)) return fail("show");
    ferry_status s = ferry_results_runs(r, NULL, &rows, &n);
    for (int i = 0; i < n && !s; i++)
        if (!strncmp(rows[i].key, want, strlen(want))) at = i, matches++;
    if (!s && matches != 1) {
        fprintf(stderr, "ferry results show: %s finished run in %s has a key starting '%s'%s\n",
                matches ? "more than one" : "no", db, want, matches ? " (give more of it)" : "");
        free(rows);
        ferry_results_close(r);
        return 1;
    }
    int32_t *cm = NULL;
    int k = 0, e = 0;
    const ferry_run_row *w = s ? NULL : &rows[at];
    double acc = w ? ferry_select_target_test(w, rule, &e) : 0;
    if (w && e > 0) s = ferry_results_confusion(r, w->key, e, &cm, &k);
    ferry_results_close(r);
    if (s) {
        free(rows);
        return fail("show");
    }
    printf("run %s\n  suite %s, task %s, method %s %s, seed %llu\n  device %s\n  Ferry commit %s, %s – %s\n"
           "  settings %s\n\n", w->key, w->suite, w->task, w->method, w->hparams, (unsigned long long)w->seed,
           w->device, w->commit, w->started, w->finished, w->config);
    printf("epoch  source-val  target-val  target-test    loss\n");
    for (int i = 0; i < w->n_epochs; i++)
        printf("%5d  %9.2f%%  %9.2f%%  %10.2f%%  %7.4f%s\n", i + 1, 100 * w->source_val[i], 100 * w->target_val[i],
               100 * w->target_test[i], w->loss[i], i + 1 == e ? "  <- selected" : "");
    if (e <= 0) {
        printf("\nthe rule %s selects no epoch of this run\n", ferry_select_name(rule));
    } else if (!k) {
        printf("\nselected by %s: epoch %d, target test %.2f%%; no confusion matrix stored (a task of over 128 classes, "
               "or from before they were stored)\n", ferry_select_name(rule), e, 100 * acc);
    } else {
        printf("\nselected by %s: epoch %d, target test %.2f%%\ntarget-test confusion matrix (rows: true class, "
               "columns: predicted) and per-class accuracy:\n\n  true |", ferry_select_name(rule), e, 100 * acc);
        for (int q = 0; q < k; q++) printf(" %6d", q);
        printf(" | accuracy\n");
        for (int t = 0; t < k; t++) {
            long total = 0;
            printf(" %5d |", t);
            for (int q = 0; q < k; q++) {
                printf(" %6d", cm[t * k + q]);
                total += cm[t * k + q];
            }
            if (total) printf(" | %7.2f%%\n", 100.0 * cm[t * k + t] / (double)total);
            else printf(" |       –\n");
        }
    }
    free(cm);
    free(rows);
    return 0;
}

int ferry_cli_results(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) return usage(argc < 2 ? stderr : stdout);
    const char *sub = argv[1];
    if (!strcmp(sub, "merge")) {
        if (argc < 4) return usage(stderr);
        ferry_results_t *dst;
        if (ferry_results_open(argv[2], true, &dst)) return fail("merge");
        for (int i = 3; i < argc; i++)
            if (ferry_results_merge(dst, argv[i])) {
                ferry_results_close(dst);
                return fail("merge");
            }
        ferry_results_close(dst);
        printf("merged %d store%s into %s\n", argc - 3, argc == 4 ? "" : "s", argv[2]);
        return 0;
    }
    if (!strcmp(sub, "show")) return show(argc, argv);
    if (strcmp(sub, "table") && strcmp(sub, "plot") && strcmp(sub, "export") && strcmp(sub, "report") &&
        strcmp(sub, "validators")) {
        fprintf(stderr, "ferry results: unknown subcommand '%s'\n", sub);
        return usage(stderr);
    }
    const char *db = "results/ferry.db", *suite = NULL, *format = !strcmp(sub, "export") ? NULL : "md",
               *out = NULL, *baseline = "source-only", *methods = NULL, *tasks = NULL;
    ferry_select rule = FERRY_SELECT_SOURCE_VAL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "ferry results %s: %s needs a value\n", sub, a);
            return 2;
        }
        if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "--suite")) suite = v;
        else if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--baseline")) baseline = v;
        else if (!strcmp(a, "--methods")) methods = v;
        else if (!strcmp(a, "--tasks")) tasks = v;
        else if (!strcmp(a, "--select")) {
            if (ferry_select_parse(v, &rule)) return fail(sub);
        } else {
            fprintf(stderr, "ferry results %s: unknown option '%s'\n", sub, a);
            return usage(stderr);
        }
        i++;
    }
    if ((!strcmp(sub, "plot") || !strcmp(sub, "report")) && !out) {
        fprintf(stderr, "ferry results %s: --out DIR is required\n", sub);
        return 2;
    }
    if (!strcmp(sub, "export") && (!format || !out)) {
        fprintf(stderr, "ferry results export: --format csv|json and --out FILE are required\n");
        return 2;
    }
    ferry_results_t *r;
    ferry_run_row *rows = NULL;
    int n = 0;
    ferry_run_problem *probs = NULL;
    int n_probs = 0;
    if (ferry_results_open(db, false, &r)) return fail(sub);
    ferry_status s = ferry_results_runs(r, suite, &rows, &n);
    if (!s) s = ferry_results_problems(r, suite, &probs, &n_probs);
    ferry_results_close(r);
    if (s) {
        free(rows);
        return fail(sub);
    }
    n = pick(rows, n, tasks, methods);
    int kept = 0; /* the unfinished runs of the picked tasks and methods */
    for (int i = 0; i < n_probs; i++)
        if ((!tasks || list_index(tasks, probs[i].task) >= 0) && (!methods || list_index(methods, probs[i].method) >= 0))
            probs[kept++] = probs[i];
    n_probs = kept;
    if (n == 0) {
        fprintf(stderr, "ferry results %s: no finished runs in %s%s%s\n", sub, db, suite ? " for suite " : "",
                suite ? suite : "");
        for (int i = 0; i < n_probs; i++)
            fprintf(stderr, "  did not finish: %s %s seed %llu: %s: %s\n", probs[i].task, probs[i].method,
                    (unsigned long long)probs[i].seed, probs[i].status, probs[i].error);
        free(rows);
        free(probs);
        return 1;
    }
    if ((int)rule >= FERRY_SELECT_VALIDATOR && strcmp(sub, "export")) {
        int with = 0, e;
        for (int i = 0; i < n; i++) {
            ferry_select_target_test(&rows[i], rule, &e);
            with += e > 0;
        }
        if (!with) {
            fprintf(stderr, "ferry results %s: no run in %s has the validator '%s' (runs made before validators were "
                    "stored, with validators: false, or of methods that evaluate through their own head)\n", sub, db,
                    ferry_select_name(rule));
            free(rows);
            free(probs);
            return 1;
        }
        if (with < n)
            fprintf(stderr, "ferry results %s: %d of %d runs have no '%s' and are left out\n", sub, n - with, n,
                    ferry_select_name(rule));
    }
    if (!strcmp(sub, "report")) {
        s = report(rows, n, rule, baseline, out, probs, n_probs, db);
    } else if (!strcmp(sub, "plot")) {
        s = ferry_results_plot(rows, n, rule, baseline, out);
        if (!s) printf("wrote %s/accuracy.png, %s/accuracy.svg and the learning curves %s/curves-*.{png,svg}\n", out, out, out);
    } else if (!strcmp(sub, "validators")) {
        s = ferry_validators_table(rows, n, format, out);
        if (!s && out) printf("wrote %s\n", out);
    } else {
        ferry_table_t *t = NULL;
        s = ferry_table_build(rows, n, rule, baseline, &t);
        if (!s) s = ferry_table_add_unfinished(t, probs, n_probs);
        if (!s) s = ferry_table_write(t, format, out);
        if (!s && out) printf("wrote %s\n", out);
        ferry_table_free(t);
    }
    free(rows);
    free(probs);
    return s ? fail(sub) : 0;
}
