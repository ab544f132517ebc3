/* Reports of a results store: the tasks × methods table (markdown, LaTeX, CSV, JSON) and plots made
 * with gnuplot (accuracy with 95% intervals; learning curves). */
#include "bench_internal.h"
#include "ferry/io.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    int n_settings[MAXT][MAXM];
    int chosen[MAXT][MAXM];           /* index into settings */
    char cfg[MAXT][MAXM][65];         /* each cell's configuration hash */
    struct setting *settings;
    int n_set;
};

static int index_of(char list[][64], int *n, int cap, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], name)) return i;
    if (*n == cap) return -1;
    snprintf(list[*n], 64, "%s", name);
    return (*n)++;
}

/* The metric a selection rule reads, at the epoch it picks: how settings of a grid are compared. */
static double selection_score(const ferry_run_row *r, ferry_select rule)
{
    int e;
    ferry_select_target_test(r, rule, &e);
    if (e < 1) return 0.0 / 0.0;
    return rule == FERRY_SELECT_TARGET_VAL ? r->target_val[e - 1] : r->source_val[e - 1];
}

static ferry_status refuse_pooling(const ferry_run_row *r, ferry_table_t *t)
{
    free(t->settings);
    free(t);
    return ferry_error(FERRY_ERR_INVALID,
                       "suite '%s' holds two runs of %s %s seed %llu with different settings (hyperparameters %s, "
                       "config %.12s, and another): name each setting's suite differently (name=...) or keep them "
                       "in separate stores (--db)",
                       r->suite, r->task, r->method, (unsigned long long)r->seed, r->hparams, r->config_hash);
}

/* For a cell with several settings, the values that differ between them ("gamma=3, trade_off=1"). */
static void setting_labels(ferry_table_t *t, int a, int b)
{
    json_t **js = calloc((size_t)t->n_set + 1, sizeof *js);
    int *idx = calloc((size_t)t->n_set + 1, sizeof *idx), n = 0;
    if (!js || !idx) { /* no labels: the listing shows the settings unnamed */
        free(js);
        free(idx);
        return;
    }
    for (int g = 0; g < t->n_set; g++)
        if (t->settings[g].a == a && t->settings[g].b == b) {
            idx[n] = g;
            js[n++] = json_loads(t->settings[g].hparams, 0, NULL);
        }
    for (int k = 0; k < n; k++) {
        char *lab = t->settings[idx[k]].label;
        size_t cap = sizeof t->settings[idx[k]].label;
        lab[0] = '\0';
        const char *name;
        json_t *v;
        if (!json_is_object(js[k])) {
            snprintf(lab, cap, "%.200s", t->settings[idx[k]].hparams);
            continue;
        }
        json_object_foreach(js[k], name, v) {
            bool varies = false;
            for (int j = 0; j < n && !varies; j++)
                varies = !json_is_object(js[j]) || !json_equal(v, json_object_get(js[j], name));
            if (!varies) continue;
            size_t l = strlen(lab);
            if (json_is_integer(v)) snprintf(lab + l, cap - l, "%s%s=%lld", l ? ", " : "", name, (long long)json_integer_value(v));
            else snprintf(lab + l, cap - l, "%s%s=%g", l ? ", " : "", name, json_number_value(v));
        }
    }
    for (int k = 0; k < n; k++) json_decref(js[k]);
    free(js);
    free(idx);
}

ferry_status ferry_table_build(const ferry_run_row *rows, int n, ferry_select rule, const char *baseline,
                               ferry_table_t **out)
{
    *out = NULL;
    ferry_table_t *t = calloc(1, sizeof *t);
    int *of = calloc((size_t)n + 1, sizeof *of); /* each row's setting (-1: outside the table's capacity) */
    if (!t || !of || !(t->settings = calloc((size_t)n + 1, sizeof *t->settings))) {
        if (t) free(t->settings);
        free(t);
        free(of);
        return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    }
    t->rule = rule;
    snprintf(t->baseline, sizeof t->baseline, "%s", baseline ? baseline : "source-only");
    bool has_base = false;
    for (int i = 0; i < n; i++) has_base |= !strcmp(rows[i].method, t->baseline);
    if (has_base) index_of(t->methods, &t->n_methods, MAXM, t->baseline); /* the baseline first */
    /* the settings of each cell; one configuration per cell, one run per (setting, seed) */
    for (int i = 0; i < n; i++) {
        of[i] = -1;
        int a = index_of(t->tasks, &t->n_tasks, MAXT, rows[i].task);
        int b = index_of(t->methods, &t->n_methods, MAXM, rows[i].method);
        if (a < 0 || b < 0) continue;
        if (!t->n_settings[a][b]) snprintf(t->cfg[a][b], sizeof t->cfg[a][b], "%s", rows[i].config_hash);
        else if (strcmp(t->cfg[a][b], rows[i].config_hash)) {
            free(of);
            return refuse_pooling(&rows[i], t);
        }
        int g = 0;
        while (g < t->n_set && !(t->settings[g].a == a && t->settings[g].b == b && !strcmp(t->settings[g].hparams, rows[i].hparams)))
            g++;
        if (g == t->n_set) {
            t->settings[g] = (struct setting){.a = a, .b = b};
            snprintf(t->settings[g].hparams, sizeof t->settings[g].hparams, "%s", rows[i].hparams);
            t->n_set++;
            t->n_settings[a][b]++;
        }
        for (int j = 0; j < i; j++)
            if (of[j] == g && rows[j].seed == rows[i].seed) {
                free(of);
                return refuse_pooling(&rows[i], t);
            }
        of[i] = g;
        struct setting *st = &t->settings[g];
        st->n++;
        st->score += 100.0 * selection_score(&rows[i], rule);
        st->test += 100.0 * ferry_select_target_test(&rows[i], rule, NULL);
    }
    /* each cell's setting: the best mean selection metric among those with the most seeds (the test set
     * never chooses); ties to the first in the order of the stored hyperparameters */
    for (int g = 0; g < t->n_set; g++) {
        t->settings[g].score /= t->settings[g].n;
        t->settings[g].test /= t->settings[g].n;
    }
    for (int a = 0; a < t->n_tasks; a++)
        for (int b = 0; b < t->n_methods; b++) {
            int best = -1, most = 0;
            for (int g = 0; g < t->n_set; g++)
                if (t->settings[g].a == a && t->settings[g].b == b && t->settings[g].n > most) most = t->settings[g].n;
            for (int g = 0; g < t->n_set; g++) {
                const struct setting *st = &t->settings[g];
                if (st->a != a || st->b != b || st->n < most) continue;
                if (best < 0 || st->score > t->settings[best].score || /* a NaN score never wins */
                    (isnan(t->settings[best].score) && !isnan(st->score)) ||
                    (st->score == t->settings[best].score && strcmp(st->hparams, t->settings[best].hparams) < 0))
                    best = g;
            }
            t->chosen[a][b] = best;
            if (best >= 0) t->settings[best].chosen = true;
            if (t->n_settings[a][b] > 1) setting_labels(t, a, b);
        }
    for (int i = 0; i < n; i++) {
        if (of[i] < 0 || !t->settings[of[i]].chosen) continue;
        int a = t->settings[of[i]].a, b = t->settings[of[i]].b;
        if (t->n[a][b] == MAXS) continue;
        if (rows[i].target_labels > t->labels[b]) t->labels[b] = rows[i].target_labels;
        int k = t->n[a][b]++;
        t->seeds[a][b][k] = rows[i].seed;
        t->value[a][b][k] = 100.0 * ferry_select_target_test(&rows[i], rule, &t->epoch[a][b][k]);
        if (t->n[a][b] > t->max_seeds) t->max_seeds = t->n[a][b];
    }
    free(of);
    int base = has_base ? 0 : -1;
    for (int a = 0; a < t->n_tasks; a++)
        for (int b = 0; b < t->n_methods; b++) {
            /* paired on the seeds both have */
            double x[MAXS], y[MAXS];
            int m = 0;
            for (int k = 0; k < t->n[a][b] && base >= 0 && b != base; k++)
                for (int j = 0; j < t->n[a][base]; j++)
                    if (t->seeds[a][base][j] == t->seeds[a][b][k]) {
                        x[m] = t->value[a][b][k];
                        y[m++] = t->value[a][base][j];
                    }
            ferry_stats_cell(t->value[a][b], NULL, t->n[a][b], &t->st[a][b]);
            if (m > 0) {
                ferry_cell_stats paired;
                ferry_stats_cell(x, y, m, &paired);
                t->st[a][b].diff_mean = paired.diff_mean;
                t->st[a][b].t = paired.t;
                t->st[a][b].p = paired.p;
                t->st[a][b].negative_transfer = paired.negative_transfer;
            }
        }
    *out = t;
    return FERRY_OK;
}

void ferry_table_free(ferry_table_t *t)
{
    if (t) free(t->settings);
    free(t);
}

const char *ferry_table_setting(const ferry_table_t *t, const char *task, const char *method, int *n_settings)
{
    for (int a = 0; a < t->n_tasks; a++)
        for (int b = 0; b < t->n_methods; b++)
            if (!strcmp(t->tasks[a], task) && !strcmp(t->methods[b], method) && t->chosen[a][b] >= 0 &&
                t->n_settings[a][b]) {
                if (n_settings) *n_settings = t->n_settings[a][b];
                return t->settings[t->chosen[a][b]].hparams;
            }
    if (n_settings) *n_settings = 0;
    return NULL;
}

const ferry_cell_stats *ferry_table_cell(const ferry_table_t *t, const char *task, const char *method)
{
    for (int a = 0; a < t->n_tasks; a++)
        for (int b = 0; b < t->n_methods; b++)
            if (!strcmp(t->tasks[a], task) && !strcmp(t->methods[b], method) && t->n[a][b]) return &t->st[a][b];
    return NULL;
}

/* ---- text outputs ------------------------------------------------------------------------------------ */

struct buf {
    char *s;
    size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)need;
        char *ns = realloc(b->s, cap);
        if (!ns) return;
        b->s = ns;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static int best_method(const ferry_table_t *t, int a)
{
    int best = -1;
    for (int b = 0; b < t->n_methods; b++)
        if (t->n[a][b] && (best < 0 || t->st[a][b].mean > t->st[a][best].mean)) best = b;
    return best;
}

/* the mirror of the negative-transfer flag: better than the baseline, paired t-test p < 0.05 */
static bool significantly_better(const ferry_cell_stats *c) { return c->p == c->p && c->p < 0.05 && c->diff_mean > 0; }

static void cell_text(const ferry_cell_stats *c, char *out, size_t n)
{
    if (c->ci95 == c->ci95) snprintf(out, n, "%.2f ± %.2f", c->mean, c->ci95);
    else snprintf(out, n, "%.2f", c->mean);
}

static const char *score_name(ferry_select rule)
{
    return rule == FERRY_SELECT_TARGET_VAL ? "target validation accuracy"
           : rule == FERRY_SELECT_LAST     ? "source validation accuracy at the last epoch"
                                           : "source validation accuracy";
}

static void footer(const ferry_table_t *t, struct buf *b, const char *bold, const char *mark, const char *up,
                   const char *dagger, const char *pre)
{
    put(b, "%sTarget-test accuracy (%%), mean ± 95%% t-interval over %d seed%s; the epoch of each run chosen by %s%s "
           "(the target test set selects nothing). %s: best mean per task. %s: significantly worse than %s "
           "(paired t-test over seeds, p < 0.05): negative transfer; %s: significantly better.\n",
        pre, t->max_seeds, t->max_seeds == 1 ? "" : "s", ferry_select_name(t->rule),
        t->rule == FERRY_SELECT_TARGET_VAL ? " (an oracle: labelled target validation)" : "", bold, mark, t->baseline, up);
    for (int m = 0; m < t->n_methods; m++)
        if (t->labels[m]) {
            put(b, "%s%s: trained on %d labelled target examples per class (inductive transfer), which the "
                   "unsupervised methods never see.\n", pre, dagger, t->labels[m]);
            break;
        }
    bool grid = false;
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) grid |= t->n_settings[a][m] > 1;
    if (!grid) return;
    put(b, "%sHyperparameters searched over a grid, the setting of each cell chosen by mean %s over seeds:", pre,
        score_name(t->rule));
    const char *sep = " ";
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++)
            if (t->n_settings[a][m] > 1) {
                put(b, "%s%s %s: %s (of %d)", sep, t->tasks[a], t->methods[m], t->settings[t->chosen[a][m]].label,
                    t->n_settings[a][m]);
                sep = "; ";
            }
    put(b, ".\n");
}

static int label_cmp(const void *px, const void *py)
{
    const struct setting *x = *(const struct setting *const *)px, *y = *(const struct setting *const *)py;
    int c = strcmp(x->label, y->label);
    return c ? c : strcmp(x->hparams, y->hparams);
}

/* Every setting of the cells searched over a grid, and which one each reports: cell by cell in the
 * table's order, a cell's settings in the order of their labels. */
static void grid_markdown(const ferry_table_t *t, struct buf *b)
{
    const struct setting **cell = malloc((size_t)(t->n_set + 1) * sizeof *cell);
    if (!cell) return;
    bool any = false;
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) {
            if (t->n_settings[a][m] < 2) continue;
            int n = 0;
            for (int g = 0; g < t->n_set; g++)
                if (t->settings[g].a == a && t->settings[g].b == m) cell[n++] = &t->settings[g];
            qsort(cell, (size_t)n, sizeof *cell, label_cmp);
            if (!any)
                put(b, "\n| task | method | setting | seeds | %s (mean) | target test (mean) | chosen |\n"
                       "|---|---|---|---|---|---|---|\n", score_name(t->rule));
            any = true;
            for (int k = 0; k < n; k++)
                put(b, "| %s | %s | %s | %d | %.2f | %.2f | %s |\n", t->tasks[a], t->methods[m], cell[k]->label,
                    cell[k]->n, cell[k]->score, cell[k]->test, cell[k]->chosen ? "✓" : "");
        }
    free(cell);
}

static void markdown(const ferry_table_t *t, struct buf *b)
{
    put(b, "| task |");
    for (int m = 0; m < t->n_methods; m++) put(b, " %s%s |", t->methods[m], t->labels[m] ? " †" : "");
    put(b, "\n|---|");
    for (int m = 0; m < t->n_methods; m++) put(b, "---|");
    put(b, "\n");
    for (int a = 0; a < t->n_tasks; a++) {
        int best = best_method(t, a);
        put(b, "| %s |", t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            if (!t->n[a][m]) {
                put(b, " – |");
                continue;
            }
            char c[64];
            cell_text(&t->st[a][m], c, sizeof c);
            put(b, " %s%s%s%s |", m == best ? "**" : "", c, m == best ? "**" : "",
                t->st[a][m].negative_transfer ? " ↓" : significantly_better(&t->st[a][m]) ? " ↑" : "");
        }
        put(b, "\n");
    }
    put(b, "\n");
    footer(t, b, "**Bold**", "↓", "↑", "†", "");
    grid_markdown(t, b);
}

static void latex_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (s[0] == '-' && s[1] == '>') {
            put(b, "$\\rightarrow$");
            s++;
        } else if (*s == '_' || *s == '%' || *s == '&' || *s == '#' || *s == '$') {
            put(b, "\\%c", *s);
        } else {
            put(b, "%c", *s);
        }
    }
}

static void latex(const ferry_table_t *t, struct buf *b)
{
    put(b, "\\begin{tabular}{l");
    for (int m = 0; m < t->n_methods; m++) put(b, "c");
    put(b, "}\n\\toprule\nTask");
    for (int m = 0; m < t->n_methods; m++) {
        put(b, " & ");
        latex_escape(b, t->methods[m]);
        if (t->labels[m]) put(b, "$^\\dagger$");
    }
    put(b, " \\\\\n\\midrule\n");
    for (int a = 0; a < t->n_tasks; a++) {
        int best = best_method(t, a);
        latex_escape(b, t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            const ferry_cell_stats *c = &t->st[a][m];
            if (!t->n[a][m]) {
                put(b, " & --");
                continue;
            }
            put(b, " & %s%.2f", m == best ? "\\textbf{" : "", c->mean);
            if (c->ci95 == c->ci95) put(b, " $\\pm$ %.2f", c->ci95);
            put(b, "%s%s", m == best ? "}" : "",
                c->negative_transfer ? "$^\\downarrow$" : significantly_better(c) ? "$^\\uparrow$" : "");
        }
        put(b, " \\\\\n");
    }
    put(b, "\\bottomrule\n\\end{tabular}\n");
    footer(t, b, "Bold", "$\\downarrow$", "$\\uparrow$", "$\\dagger$", "% ");
}

static void csv(const ferry_table_t *t, struct buf *b)
{
    put(b, "task,method,n,mean,sd,ci95,diff_vs_baseline,t,p,negative_transfer,selection,baseline,target_labels,"
           "setting,settings_tried\n");
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) {
            if (!t->n[a][m]) continue;
            const ferry_cell_stats *c = &t->st[a][m];
            put(b, "%s,%s,%d", t->tasks[a], t->methods[m], c->n);
            const double v[] = {c->mean, c->sd, c->ci95, c->diff_mean, c->t, c->p};
            for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) /* undefined (one seed; the baseline itself): empty */
                if (isfinite(v[k])) put(b, ",%.6g", v[k]);
                else put(b, ",");
            put(b, ",%d,%s,%s,%d,", c->negative_transfer, ferry_select_name(t->rule), t->baseline, t->labels[m]);
            if (t->n_settings[a][m] > 1) put(b, "\"%s\"", t->settings[t->chosen[a][m]].label); /* "x=1, y=2" */
            put(b, ",%d\n", t->n_settings[a][m]);
        }
}

static json_t *num(double v) { return v == v && isfinite(v) ? json_real(v) : json_null(); }

static void json_out(const ferry_table_t *t, struct buf *b)
{
    json_t *root = json_object(), *cells = json_array();
    json_object_set_new(root, "selection", json_string(ferry_select_name(t->rule)));
    json_object_set_new(root, "baseline", json_string(t->baseline));
    json_object_set_new(root, "metric", json_string("target-test accuracy (%)"));
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) {
            if (!t->n[a][m]) continue;
            const ferry_cell_stats *c = &t->st[a][m];
            json_t *runs = json_array();
            for (int k = 0; k < t->n[a][m]; k++)
                json_array_append_new(runs, json_pack("{s:I, s:o, s:i}", "seed", (json_int_t)t->seeds[a][m][k],
                                                      "target_test", num(t->value[a][m][k]), "epoch",
                                                      t->epoch[a][m][k]));
            json_t *settings = json_array();
            for (int g = 0; g < t->n_set; g++) {
                const struct setting *st = &t->settings[g];
                if (st->a != a || st->b != m) continue;
                json_t *hp = json_loads(st->hparams, 0, NULL);
                json_array_append_new(settings, json_pack("{s:o, s:i, s:o, s:o, s:b}", "hparams",
                                                          hp ? hp : json_string(st->hparams), "n", st->n,
                                                          "selection_score", num(st->score), "target_test_mean",
                                                          num(st->test), "chosen", st->chosen));
            }
            json_array_append_new(cells, json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:i, s:o, s:o}",
                                                   "task", t->tasks[a], "method", t->methods[m], "n", c->n, "mean",
                                                   num(c->mean), "sd", num(c->sd), "ci95", num(c->ci95), "diff",
                                                   num(c->diff_mean), "t", num(c->t), "p", num(c->p),
                                                   "negative_transfer", c->negative_transfer, "target_labels",
                                                   t->labels[m], "runs", runs, "settings", settings));
        }
    json_object_set_new(root, "cells", cells);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s) put(b, "%s\n", s);
    free(s);
    json_decref(root);
}

ferry_status ferry_table_write(const ferry_table_t *t, const char *format, const char *path)
{
    struct buf b = {0};
    if (!strcmp(format, "md") || !strcmp(format, "markdown")) markdown(t, &b);
    else if (!strcmp(format, "latex") || !strcmp(format, "tex")) latex(t, &b);
    else if (!strcmp(format, "csv")) csv(t, &b);
    else if (!strcmp(format, "json")) json_out(t, &b);
    else return ferry_error(FERRY_ERR_INVALID, "unknown format '%s' (md, latex, csv, json)", format);
    ferry_status s = FERRY_OK;
    if (!b.s) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    if (path) s = ferry_write_file_atomic(path, b.s, b.n);
    else fwrite(b.s, 1, b.n, stdout);
    free(b.s);
    return s;
}

/* ---- plots ---------------------------------------------------------------------------------------------- */

static ferry_status run_gnuplot(const char *script_path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script_path);
    FILE *p = popen(cmd, "r");
    if (!p) return ferry_error(FERRY_ERR_IO, "cannot run gnuplot");
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc == 127 * 256 || strstr(out, "not found"))
        return ferry_error(FERRY_ERR_UNSUPPORTED, "gnuplot is not installed (Debian package gnuplot-nox)");
    if (rc != 0) return ferry_error(FERRY_ERR_IO, "gnuplot failed on %s: %s", script_path, out);
    return FERRY_OK;
}

static ferry_status write_text(const char *path, const struct buf *b)
{
    return ferry_write_file_atomic(path, b->s ? b->s : "", b->n);
}

ferry_status ferry_results_plot(const ferry_run_row *rows, int n, ferry_select rule, const char *baseline,
                                const char *dir)
{
    ferry_table_t *t;
    ferry_status s = ferry_table_build(rows, n, rule, baseline, &t);
    if (s) return s;
    if ((s = ferry_mkdir_p(dir))) {
        ferry_table_free(t);
        return s;
    }
    char path[4096], script[4096];
    /* (a) accuracy per task and method with 95% intervals */
    struct buf d = {0}, g = {0};
    put(&d, "task");
    for (int m = 0; m < t->n_methods; m++) put(&d, " \"%s\" ci", t->methods[m]);
    put(&d, "\n");
    for (int a = 0; a < t->n_tasks; a++) {
        put(&d, "\"%s\"", t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            const ferry_cell_stats *c = &t->st[a][m];
            put(&d, " %.4f %.4f", t->n[a][m] ? c->mean : 0.0, c->ci95 == c->ci95 ? c->ci95 : 0.0);
        }
        put(&d, "\n");
    }
    snprintf(path, sizeof path, "%s/accuracy.dat", dir);
    if ((s = write_text(path, &d))) goto done;
    for (int fmt = 0; fmt < 2 && !s; fmt++) {
        g.n = 0;
        put(&g, "set terminal %s size %s\nset output '%s/accuracy.%s'\n", fmt ? "svg" : "pngcairo",
            fmt ? "900,500" : "1200,650", dir, fmt ? "svg" : "png");
        put(&g, "set title 'Target-test accuracy (mean and 95%% interval over seeds; selection: %s)'\n",
            ferry_select_name(rule));
        put(&g, "set style data histogram\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.6 border -1\n"
                "set ylabel 'accuracy (%%)'\nset yrange [0:100]\nset key outside right top\nset grid ytics\n"
                "set xtics noenhanced\nset key noenhanced\n");
        put(&g, "plot ");
        for (int m = 0; m < t->n_methods; m++)
            put(&g, "%s'%s/accuracy.dat' using %d:%d%s title columnheader(%d)", m ? ", " : "", dir, 2 + 2 * m, 3 + 2 * m,
                m ? "" : ":xtic(1)", 2 + 2 * m);
        put(&g, "\n");
        snprintf(script, sizeof script, "%s/accuracy-%s.gp", dir, fmt ? "svg" : "png");
        if (!(s = write_text(script, &g))) s = run_gnuplot(script);
    }
    /* (b) learning curves: mean target-test accuracy per epoch, one file per task */
    for (int a = 0; a < t->n_tasks && !s; a++) {
        char safe[128];
        ferry_bench_file_safe(t->tasks[a], safe, sizeof safe);
        int max_e = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(rows[i].task, t->tasks[a]) && rows[i].n_epochs > max_e) max_e = rows[i].n_epochs;
        d.n = 0;
        put(&d, "epoch");
        for (int m = 0; m < t->n_methods; m++) put(&d, " \"%s\"", t->methods[m]);
        put(&d, "\n");
        for (int e = 0; e < max_e; e++) {
            put(&d, "%d", e + 1);
            for (int m = 0; m < t->n_methods; m++) {
                double sum = 0;
                int cnt = 0;
                for (int i = 0; i < n; i++)
                    if (!strcmp(rows[i].task, t->tasks[a]) && !strcmp(rows[i].method, t->methods[m]) &&
                        e < rows[i].n_epochs && t->chosen[a][m] >= 0 && /* a grid: the chosen setting's runs */
                        !strcmp(rows[i].hparams, t->settings[t->chosen[a][m]].hparams)) {
                        sum += 100 * rows[i].target_test[e];
                        cnt++;
                    }
                if (cnt) put(&d, " %.4f", sum / cnt);
                else put(&d, " NaN");
            }
            put(&d, "\n");
        }
        snprintf(path, sizeof path, "%s/curves-%s.dat", dir, safe);
        if ((s = write_text(path, &d))) break;
        for (int fmt = 0; fmt < 2 && !s; fmt++) {
            g.n = 0;
            put(&g, "set terminal %s size %s\nset output '%s/curves-%s.%s'\n", fmt ? "svg" : "pngcairo",
                fmt ? "800,500" : "1000,600", dir, safe, fmt ? "svg" : "png");
            put(&g, "set title '%s: target-test accuracy per epoch (mean over seeds)' noenhanced\n", t->tasks[a]);
            put(&g, "set xlabel 'epoch'\nset ylabel 'accuracy (%%)'\nset key outside right top noenhanced\nset grid\n");
            put(&g, "plot for [i=2:%d] '%s' using 1:i with linespoints title columnheader(i)\n", 1 + t->n_methods, path);
            snprintf(script, sizeof script, "%s/curves-%s-%s.gp", dir, safe, fmt ? "svg" : "png");
            if (!(s = write_text(script, &g))) s = run_gnuplot(script);
        }
    }
done:
    free(d.s);
    free(g.s);
    ferry_table_free(t);
    return s;
}
