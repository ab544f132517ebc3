/* ferry results validators: how well each unsupervised validator would choose. For every task, over
 * all its checkpoints in the store (every epoch of every run, all methods and settings pooled), the
 * Spearman rank correlation of the validator's value with target-test accuracy (plain, and weighted
 * as Musgrave et al. 2022 weigh it), and the target-test
 * accuracy of the one checkpoint it scores highest, beside the best any rule could reach, the
 * labelled target-validation oracle and source-validation accuracy. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "ferry/io.h"
#include "report_internal.h"

/* the columns: the references, then every validator */
enum { COL_BEST, COL_ORACLE, COL_SOURCE_VAL, COL_VALIDATOR };
#define NCOL (COL_VALIDATOR + FERRY_VALIDATOR_COUNT)
#define MAXTASKS 64

static const char *col_name(int c)
{
    return c == COL_BEST ? "best" : c == COL_ORACLE ? "oracle (target-val)" : c == COL_SOURCE_VAL ? "source-val"
                                                                          : ferry_validator_name(c - COL_VALIDATOR);
}

struct cell {
    int n;           /* checkpoints with a value */
    double rho;      /* Spearman correlation with target-test accuracy (NaN below 3 checkpoints) */
    double wrho;     /* Musgrave et al.'s weighted Spearman correlation */
    double selected; /* target-test accuracy (%) of the checkpoint with the highest value */
};

static double score(const ferry_run_row *r, int e, int c)
{
    return c == COL_BEST ? r->target_test[e] : c == COL_ORACLE ? r->target_val[e] : c == COL_SOURCE_VAL
                                                                  ? r->source_val[e]
                                                                  : r->validators[e][c - COL_VALIDATOR];
}

/* average ranks (ties share theirs) of x[0..n) into rk */
static void ranks(const double *x, int n, double *rk, int *idx)
{
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: a task has thousands of checkpoints at most */
        for (int j = i; j > 0 && x[idx[j - 1]] > x[idx[j]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) j++;
        for (int k = i; k <= j; k++) rk[idx[k]] = 0.5 * (i + j) + 1;
        i = j + 1;
    }
}

double ferry_spearman(const double *x, const double *y, int n)
{
    if (n < 3) return 0.0 / 0.0;
    double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
    int *idx = malloc((size_t)n * sizeof *idx);
    double rho = 0.0 / 0.0;
    if (rx && ry && idx) {
        ranks(x, n, rx, idx);
        ranks(y, n, ry, idx);
        double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) mx += rx[i] / n, my += ry[i] / n;
        for (int i = 0; i < n; i++) {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        rho = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0 / 0.0;
    }
    free(rx);
    free(ry);
    free(idx);
    return rho;
}

/* weighted ranks of x under weights w (see ferry_weighted_spearman); idx: scratch */
static void weighted_ranks(const double *x, const double *w, int n, double *rk, int *idx)
{
    ranks(x, n, rk, idx); /* idx: x's order, ascending */
    double below = 0;
    for (int i = 0; i < n;) {
        int j = i;
        double a = 0;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) j++;
        for (int k = i; k <= j; k++) a += w[idx[k]];
        const double c = j - i + 1;
        for (int k = i; k <= j; k++) rk[idx[k]] = below + (c + 1) / 2 * (a / c);
        below += a;
        i = j + 1;
    }
}

double ferry_weighted_spearman(const double *x, const double *y, int n)
{
    if (n < 3) return 0.0 / 0.0;
    double *w = malloc((size_t)n * sizeof *w), *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
    int *idx = malloc((size_t)n * sizeof *idx);
    double rho = 0.0 / 0.0;
    if (w && rx && ry && idx) {
        ranks(x, n, rx, idx); /* the dense ranks of x */
        int dense = 0;
        for (int i = 0; i < n; i++) {
            if (i == 0 || x[idx[i]] != x[idx[i - 1]]) dense++;
            w[idx[i]] = dense;
        }
        for (int i = 0; i < n; i++) w[i] = (w[i] / dense) * (w[i] / dense);
        weighted_ranks(x, w, n, rx, idx);
        weighted_ranks(y, w, n, ry, idx);
        double sw = 0, mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) sw += w[i], mx += w[i] * rx[i], my += w[i] * ry[i];
        mx /= sw, my /= sw;
        for (int i = 0; i < n; i++) {
            sxy += w[i] * (rx[i] - mx) * (ry[i] - my);
            sxx += w[i] * (rx[i] - mx) * (rx[i] - mx);
            syy += w[i] * (ry[i] - my) * (ry[i] - my);
        }
        rho = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0 / 0.0;
    }
    free(w);
    free(rx);
    free(ry);
    free(idx);
    return rho;
}

/* τ_w with the ranking `rank` (0 = top): pairs weighted 1/(r_i + 1) + 1/(r_j + 1), τ_b's tie terms. */
static double tau_ranked(const double *x, const double *y, int n, const int *rank)
{
    double all = 0, tx = 0, ty = 0, num = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const double w = 1.0 / (rank[i] + 1) + 1.0 / (rank[j] + 1);
            const int sx = (x[i] > x[j]) - (x[i] < x[j]), sy = (y[i] > y[j]) - (y[i] < y[j]);
            all += w;
            tx += sx == 0 ? w : 0;
            ty += sy == 0 ? w : 0;
            num += w * sx * sy;
        }
    return all > tx && all > ty ? num / sqrt((all - tx) * (all - ty)) : 0.0 / 0.0;
}

/* rank[i]: i's place when sorted by (a, then b) decreasing */
static void lex_rank(const double *a, const double *b, int n, int *rank)
{
    for (int i = 0; i < n; i++) {
        int above = 0;
        for (int j = 0; j < n; j++)
            above += a[j] > a[i] || (a[j] == a[i] && (b[j] > b[i] || (b[j] == b[i] && j < i)));
        rank[i] = above;
    }
}

double ferry_weighted_tau(const double *x, const double *y, int n)
{
    int *rank = n >= 2 ? malloc((size_t)n * sizeof *rank) : NULL;
    if (!rank) return 0.0 / 0.0;
    lex_rank(x, y, n, rank);
    const double a = tau_ranked(x, y, n, rank);
    lex_rank(y, x, n, rank);
    const double b = tau_ranked(x, y, n, rank);
    free(rank);
    return 0.5 * (a + b);
}

static ferry_status task_cells(const ferry_run_row *rows, int n, const char *task, struct cell *cells)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].task, task)) total += rows[i].n_epochs;
    double *x = malloc((size_t)(total + 1) * sizeof *x), *y = malloc((size_t)(total + 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    }
    for (int c = 0; c < NCOL; c++) {
        int k = 0;
        double best = -INFINITY;
        cells[c] = (struct cell){.rho = 0.0 / 0.0, .wrho = 0.0 / 0.0, .selected = 0.0 / 0.0};
        for (int i = 0; i < n; i++) {
            if (strcmp(rows[i].task, task)) continue;
            for (int e = 0; e < rows[i].n_epochs; e++) {
                double v = score(&rows[i], e, c), a = rows[i].target_test[e];
                if (v != v || a != a) continue;
                x[k] = v;
                y[k++] = a;
                if (v > best) { /* ties: the first in the store's order */
                    best = v;
                    cells[c].selected = 100.0 * a;
                }
            }
        }
        cells[c].n = k;
        cells[c].rho = ferry_spearman(x, y, k);
        cells[c].wrho = ferry_weighted_spearman(x, y, k);
    }
    free(x);
    free(y);
    return FERRY_OK;
}

static void fmt(char *out, size_t n, double v, const char *f)
{
    if (v == v) snprintf(out, n, f, v);
    else snprintf(out, n, "—");
}

ferry_status ferry_validators_render(const ferry_run_row *rows, int n, const char *format, struct buf *out)
{
    char tasks[MAXTASKS][64];
    int nt = 0;
    for (int i = 0; i < n; i++) {
        int t = 0;
        while (t < nt && strcmp(tasks[t], rows[i].task)) t++;
        if (t == nt && nt < MAXTASKS) snprintf(tasks[nt++], sizeof tasks[0], "%s", rows[i].task);
    }
    struct cell(*cells)[NCOL] = calloc((size_t)(nt + 1), sizeof *cells);
    if (!cells) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_status s = FERRY_OK;
    for (int t = 0; t < nt && !s; t++) s = task_cells(rows, n, tasks[t], cells[t]);
    for (int c = 0; c < NCOL && !s; c++) { /* the mean over tasks */
        double r = 0, w = 0, a = 0;
        int nr = 0, nw = 0, na = 0;
        for (int t = 0; t < nt; t++) {
            if (cells[t][c].rho == cells[t][c].rho) r += cells[t][c].rho, nr++;
            if (cells[t][c].wrho == cells[t][c].wrho) w += cells[t][c].wrho, nw++;
            if (cells[t][c].selected == cells[t][c].selected) a += cells[t][c].selected, na++;
            cells[nt][c].n += cells[t][c].n;
        }
        cells[nt][c].rho = nr ? r / nr : 0.0 / 0.0;
        cells[nt][c].wrho = nw ? w / nw : 0.0 / 0.0;
        cells[nt][c].selected = na ? a / na : 0.0 / 0.0;
    }
    struct buf b = *out;
    if (s) {
    } else if (!strcmp(format, "md") || !strcmp(format, "markdown")) {
        for (int part = 0; part < 3; part++) { /* Spearman, weighted Spearman, the selected accuracy */
            const int first = part == 2 ? 0 : 1; /* "best" has an accuracy, not a correlation */
            ferry_report_put(&b, "%s| task | checkpoints |", part ? "\n" : "");
            for (int c = first; c < NCOL; c++) ferry_report_put(&b, " %s |", col_name(c));
            ferry_report_put(&b, "\n|---|---|");
            for (int c = first; c < NCOL; c++) ferry_report_put(&b, "---|");
            ferry_report_put(&b, "\n");
            for (int t = 0; t <= nt; t++) {
                ferry_report_put(&b, "| %s | %d |", t < nt ? tasks[t] : "mean over tasks", cells[t][COL_BEST].n);
                for (int c = first; c < NCOL; c++) {
                    char v[32];
                    fmt(v, sizeof v, part == 2 ? cells[t][c].selected : part ? cells[t][c].wrho : cells[t][c].rho,
                        part == 2 ? "%.2f" : "%+.3f");
                    ferry_report_put(&b, " %s |", v);
                }
                ferry_report_put(&b, "\n");
            }
            ferry_report_put(&b, part == 1 ? "\nWeighted Spearman correlation (Musgrave et al. 2022): each "
                                             "checkpoint weighs (its dense rank under the rule / the highest)², so "
                                             "that the checkpoints a rule would pick count most.\n"
                                 : part ? "\nTarget-test accuracy (%%) of the checkpoint each rule scores highest among "
                                        "all of a task's checkpoints (every epoch of every run); best: the highest "
                                        "any rule could reach.\n"
                                      : "\nSpearman rank correlation of each rule's value with target-test accuracy "
                                        "over all of a task's checkpoints (every epoch of every run, methods and "
                                        "settings pooled); the oracle reads target labels, the others do not.\n");
        }
    } else if (!strcmp(format, "csv")) {
        ferry_report_put(&b, "task,rule,checkpoints,spearman,weighted_spearman,selected_accuracy\n");
        for (int t = 0; t < nt; t++)
            for (int c = 0; c < NCOL; c++) {
                char r[32] = "", w[32] = "", a[32] = ""; /* undefined: empty */
                if (cells[t][c].rho == cells[t][c].rho) snprintf(r, sizeof r, "%.6g", cells[t][c].rho);
                if (cells[t][c].wrho == cells[t][c].wrho) snprintf(w, sizeof w, "%.6g", cells[t][c].wrho);
                if (cells[t][c].selected == cells[t][c].selected) snprintf(a, sizeof a, "%.6g", cells[t][c].selected);
                ferry_report_put(&b, "%s,%s,%d,%s,%s,%s\n", tasks[t], col_name(c), cells[t][c].n, r, w, a);
            }
    } else if (!strcmp(format, "json")) {
        json_t *root = json_array();
        for (int t = 0; t < nt; t++)
            for (int c = 0; c < NCOL; c++) {
                const struct cell *x = &cells[t][c];
                json_array_append_new(root, json_pack("{s:s, s:s, s:i, s:o, s:o, s:o}", "task", tasks[t], "rule",
                                                      col_name(c), "checkpoints", x->n, "spearman",
                                                      x->rho == x->rho ? json_real(x->rho) : json_null(),
                                                      "weighted_spearman",
                                                      x->wrho == x->wrho ? json_real(x->wrho) : json_null(),
                                                      "selected_accuracy",
                                                      x->selected == x->selected ? json_real(x->selected)
                                                                                 : json_null()));
            }
        char *j = json_dumps(root, JSON_INDENT(2));
        if (j) ferry_report_put(&b, "%s\n", j);
        free(j);
        json_decref(root);
    } else {
        s = ferry_error(FERRY_ERR_INVALID, "unknown format '%s' (md, csv, json)", format);
    }
    free(cells);
    *out = b;
    if (!s && !b.s) s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
    return s;
}

ferry_status ferry_validators_table(const ferry_run_row *rows, int n, const char *format, const char *path)
{
    struct buf b = {0};
    ferry_status s = ferry_validators_render(rows, n, format, &b);
    if (!s && path) s = ferry_write_file_atomic(path, b.s, b.n);
    else if (!s) fwrite(b.s, 1, b.n, stdout);
    free(b.s);
    return s;
}
