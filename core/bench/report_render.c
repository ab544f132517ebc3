/* Reports of a results store: the table as markdown, LaTeX, CSV or JSON. */
#include "report_internal.h"
#include "ferry/io.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text outputs ------------------------------------------------------------------------------------ */

void ferry_report_put(struct buf *b, const char *fmt, ...)
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
    if ((int)rule >= FERRY_SELECT_VALIDATOR) return "the validator's value (no target label)";
    return rule == FERRY_SELECT_TARGET_VAL ? "target validation accuracy"
           : rule == FERRY_SELECT_LAST     ? "source validation accuracy at the last epoch"
                                           : "source validation accuracy";
}

static void footer(const ferry_table_t *t, struct buf *b, const char *bold, const char *mark, const char *up,
                   const char *dagger, const char *ddagger, const char *pre)
{
    ferry_report_put(b, "%sTarget-test accuracy (%%), mean ± 95%% t-interval over %d seed%s; the epoch of each run chosen by %s%s "
           "(the target test set selects nothing). %s: best mean per task. %s: significantly worse than %s "
           "(paired t-test over seeds, p < 0.05): negative transfer; %s: significantly better.\n",
        pre, t->max_seeds, t->max_seeds == 1 ? "" : "s", ferry_select_name(t->rule),
        t->rule == FERRY_SELECT_TARGET_VAL ? " (an oracle: labelled target validation)" : "", bold, mark, t->baseline, up);
    for (int m = 0; m < t->n_methods; m++)
        if (t->labels[m] && !t->semi[m]) {
            ferry_report_put(b, "%s%s: trained on %d labelled target examples per class (inductive transfer), which the "
                   "unsupervised methods never see.\n", pre, dagger, t->labels[m]);
            break;
        }
    for (int m = 0; m < t->n_methods; m++)
        if (t->semi[m]) {
            ferry_report_put(b, "%s%s: semi-supervised: %d labelled target examples per class beside the labelled source "
                   "and the unlabelled target.\n", pre, ddagger, t->labels[m]);
            break;
        }
    int marks = 0, hold = 0;
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++)
            if (t->n[a][m] && t->st[a][m].p < 0.05) {
                marks++;
                hold += t->st[a][m].p_holm < 0.05;
            }
    if (marks)
        ferry_report_put(b, "%sCorrected for the multiple comparisons of each task (Holm–Bonferroni): %d of the %d "
                         "marks hold at 0.05 (csv and json: p_holm and the paired effect size d_z).\n", pre, hold,
                         marks);
    bool grid = false;
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) grid |= t->n_settings[a][m] > 1;
    if (!grid) return;
    ferry_report_put(b, "%sHyperparameters searched over a grid, the setting of each cell chosen by mean %s over seeds:", pre,
        score_name(t->rule));
    const char *sep = " ";
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++)
            if (t->n_settings[a][m] > 1) {
                ferry_report_put(b, "%s%s %s: %s (of %d)", sep, t->tasks[a], t->methods[m], t->settings[t->chosen[a][m]].label,
                    t->n_settings[a][m]);
                sep = "; ";
            }
    ferry_report_put(b, ".\n");
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
                ferry_report_put(b, "\n| task | method | setting | seeds | %s (mean) | target test (mean) | chosen |\n"
                       "|---|---|---|---|---|---|---|\n", score_name(t->rule));
            any = true;
            for (int k = 0; k < n; k++)
                ferry_report_put(b, "| %s | %s | %s | %d | %.2f | %.2f | %s |\n", t->tasks[a], t->methods[m], cell[k]->label,
                    cell[k]->n, cell[k]->score, cell[k]->test, cell[k]->chosen ? "✓" : "");
        }
    free(cell);
}

void ferry_table_markdown(const ferry_table_t *t, struct buf *b)
{
    ferry_report_put(b, "| task |");
    for (int m = 0; m < t->n_methods; m++)
        ferry_report_put(b, " %s%s |", t->methods[m], t->semi[m] ? " ‡" : t->labels[m] ? " †" : "");
    ferry_report_put(b, "\n|---|");
    for (int m = 0; m < t->n_methods; m++) ferry_report_put(b, "---|");
    ferry_report_put(b, "\n");
    for (int a = 0; a < t->n_tasks; a++) {
        int best = best_method(t, a);
        ferry_report_put(b, "| %s |", t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            if (!t->n[a][m]) {
                ferry_report_put(b, " – |");
                continue;
            }
            char c[64];
            cell_text(&t->st[a][m], c, sizeof c);
            ferry_report_put(b, " %s%s%s%s |", m == best ? "**" : "", c, m == best ? "**" : "",
                t->st[a][m].negative_transfer ? " ↓" : significantly_better(&t->st[a][m]) ? " ↑" : "");
        }
        ferry_report_put(b, "\n");
    }
    ferry_report_put(b, "\n");
    footer(t, b, "**Bold**", "↓", "↑", "†", "‡", "");
    grid_markdown(t, b);
    for (int i = 0; i < t->n_unfinished; i++) {
        const ferry_run_problem *p = &t->unfinished[i];
        if (!i) ferry_report_put(b, "\nNot in the table: runs that did not finish (a sweep redoes them, except the "
                                    "diverged ones).\n\n");
        ferry_report_put(b, "- %s %s %s seed %llu: **%s**: %s\n", p->task, p->method, p->hparams,
                         (unsigned long long)p->seed, p->status, p->error[0] ? p->error : "(no message)");
    }
}

static void latex_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (s[0] == '-' && s[1] == '>') {
            ferry_report_put(b, "$\\rightarrow$");
            s++;
        } else if (*s == '_' || *s == '%' || *s == '&' || *s == '#' || *s == '$') {
            ferry_report_put(b, "\\%c", *s);
        } else {
            ferry_report_put(b, "%c", *s);
        }
    }
}

static void latex(const ferry_table_t *t, struct buf *b)
{
    ferry_report_put(b, "\\begin{tabular}{l");
    for (int m = 0; m < t->n_methods; m++) ferry_report_put(b, "c");
    ferry_report_put(b, "}\n\\toprule\nTask");
    for (int m = 0; m < t->n_methods; m++) {
        ferry_report_put(b, " & ");
        latex_escape(b, t->methods[m]);
        if (t->semi[m]) ferry_report_put(b, "$^\\ddagger$");
        else if (t->labels[m]) ferry_report_put(b, "$^\\dagger$");
    }
    ferry_report_put(b, " \\\\\n\\midrule\n");
    for (int a = 0; a < t->n_tasks; a++) {
        int best = best_method(t, a);
        latex_escape(b, t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            const ferry_cell_stats *c = &t->st[a][m];
            if (!t->n[a][m]) {
                ferry_report_put(b, " & --");
                continue;
            }
            ferry_report_put(b, " & %s%.2f", m == best ? "\\textbf{" : "", c->mean);
            if (c->ci95 == c->ci95) ferry_report_put(b, " $\\pm$ %.2f", c->ci95);
            ferry_report_put(b, "%s%s", m == best ? "}" : "",
                c->negative_transfer ? "$^\\downarrow$" : significantly_better(c) ? "$^\\uparrow$" : "");
        }
        ferry_report_put(b, " \\\\\n");
    }
    ferry_report_put(b, "\\bottomrule\n\\end{tabular}\n");
    footer(t, b, "Bold", "$\\downarrow$", "$\\uparrow$", "$\\dagger$", "$\\ddagger$", "% ");
}

static void csv(const ferry_table_t *t, struct buf *b)
{
    ferry_report_put(b, "task,method,n,mean,sd,ci95,diff_vs_baseline,t,p,negative_transfer,selection,baseline,target_labels,"
           "setting,settings_tried,p_holm,effect_dz\n");
    for (int a = 0; a < t->n_tasks; a++)
        for (int m = 0; m < t->n_methods; m++) {
            if (!t->n[a][m]) continue;
            const ferry_cell_stats *c = &t->st[a][m];
            ferry_report_put(b, "%s,%s,%d", t->tasks[a], t->methods[m], c->n);
            const double v[] = {c->mean, c->sd, c->ci95, c->diff_mean, c->t, c->p};
            for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) /* undefined (one seed; the baseline itself): empty */
                if (isfinite(v[k])) ferry_report_put(b, ",%.6g", v[k]);
                else ferry_report_put(b, ",");
            ferry_report_put(b, ",%d,%s,%s,%d,", c->negative_transfer, ferry_select_name(t->rule), t->baseline, t->labels[m]);
            if (t->n_settings[a][m] > 1) ferry_report_put(b, "\"%s\"", t->settings[t->chosen[a][m]].label); /* "x=1, y=2" */
            ferry_report_put(b, ",%d,", t->n_settings[a][m]);
            if (isfinite(c->p_holm)) ferry_report_put(b, "%.6g", c->p_holm);
            ferry_report_put(b, ",");
            if (c->effect_dz == c->effect_dz) ferry_report_put(b, "%.6g", c->effect_dz);
            ferry_report_put(b, "\n");
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
            json_t *cell = json_array_get(cells, json_array_size(cells) - 1);
            json_object_set_new(cell, "semi_supervised", json_boolean(t->semi[m]));
            json_object_set_new(cell, "p_holm", num(c->p_holm));
            json_object_set_new(cell, "effect_dz", num(c->effect_dz));
        }
    json_object_set_new(root, "cells", cells);
    json_t *unfinished = json_array();
    for (int i = 0; i < t->n_unfinished; i++) {
        const ferry_run_problem *p = &t->unfinished[i];
        json_t *hp = json_loads(p->hparams, 0, NULL);
        json_array_append_new(unfinished, json_pack("{s:s, s:s, s:o, s:I, s:s, s:s}", "task", p->task, "method",
                                                    p->method, "hparams", hp ? hp : json_string(p->hparams), "seed",
                                                    (json_int_t)p->seed, "status", p->status, "error", p->error));
    }
    json_object_set_new(root, "unfinished", unfinished);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s) ferry_report_put(b, "%s\n", s);
    free(s);
    json_decref(root);
}

ferry_status ferry_table_write(const ferry_table_t *t, const char *format, const char *path)
{
    struct buf b = {0};
    if (!strcmp(format, "md") || !strcmp(format, "markdown")) ferry_table_markdown(t, &b);
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
