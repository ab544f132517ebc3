/* Reports of a results store: the tasks × methods table model, built from the stored runs (cells,
 * grid settings and the one a selection rule picks, statistics against the baseline). */
#include "report_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return ferry_select_score(r, rule == FERRY_SELECT_LAST ? FERRY_SELECT_SOURCE_VAL : rule, e);
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
        int e0 = 1;
        if ((int)rule >= FERRY_SELECT_VALIDATOR) ferry_select_target_test(&rows[i], rule, &e0);
        if (e0 < 1) continue; /* a run without the validator the rule selects by */
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
        t->semi[b] |= rows[i].semi_supervised;
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
                t->st[a][b].effect_dz = paired.effect_dz;
            }
        }
    for (int a = 0; a < t->n_tasks; a++) { /* Holm–Bonferroni over each task's comparisons */
        double p[MAXM], adj[MAXM];
        for (int b = 0; b < t->n_methods; b++) p[b] = t->n[a][b] ? t->st[a][b].p : 0.0 / 0.0;
        ferry_holm(p, t->n_methods, adj);
        for (int b = 0; b < t->n_methods; b++) t->st[a][b].p_holm = adj[b];
    }
    *out = t;
    return FERRY_OK;
}

void ferry_table_free(ferry_table_t *t)
{
    if (t) {
        free(t->settings);
        free(t->unfinished);
    }
    free(t);
}

ferry_status ferry_table_add_unfinished(ferry_table_t *t, const ferry_run_problem *p, int n)
{
    for (int i = 0; i < n; i++) {
        ferry_run_problem *u = realloc(t->unfinished, (size_t)(t->n_unfinished + 1) * sizeof *u);
        if (!u) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
        t->unfinished = u;
        u[t->n_unfinished++] = p[i];
    }
    return FERRY_OK;
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
