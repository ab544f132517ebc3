/* Model selection and statistics over seeds (GSL's t distribution). */
#include "error.h"
#include "ferry/bench.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const select_names[] = {"source-val", "target-val", "last"};

const char *ferry_select_name(ferry_select s)
{
    if ((unsigned)s < 3) return select_names[s];
    const char *v = ferry_validator_name((int)s - FERRY_SELECT_VALIDATOR);
    return v ? v : "?";
}

ferry_status ferry_select_parse(const char *s, ferry_select *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, select_names[i])) {
            *out = (ferry_select)i;
            return FERRY_OK;
        }
    int v = ferry_validator_find(s);
    if (v >= 0) {
        *out = (ferry_select)(FERRY_SELECT_VALIDATOR + v);
        return FERRY_OK;
    }
    char list[256] = "";
    for (int i = 0; i < FERRY_VALIDATOR_COUNT; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ferry_validator_name(i));
    return ferry_error(FERRY_ERR_INVALID, "unknown selection rule '%s' (source-val, target-val, last, or a validator: %s)",
                       s, list);
}

double ferry_select_score(const ferry_run_row *run, ferry_select rule, int e)
{
    if (e < 1 || e > run->n_epochs) return 0.0 / 0.0;
    if (rule == FERRY_SELECT_TARGET_VAL) return run->target_val[e - 1];
    if ((int)rule >= FERRY_SELECT_VALIDATOR && (int)rule < FERRY_SELECT_VALIDATOR + FERRY_VALIDATOR_COUNT)
        return run->validators[e - 1][rule - FERRY_SELECT_VALIDATOR];
    return run->source_val[e - 1];
}

double ferry_select_target_test(const ferry_run_row *run, ferry_select rule, int *epoch)
{
    int best = run->n_epochs - 1;
    if (rule != FERRY_SELECT_LAST && run->n_epochs > 0) {
        best = -1;
        for (int e = 0; e < run->n_epochs; e++) { /* ties: the earliest epoch; NaN never chosen */
            double x = ferry_select_score(run, rule, e + 1);
            if (x == x && (best < 0 || x > ferry_select_score(run, rule, best + 1))) best = e;
        }
    }
    if (epoch) *epoch = best + 1; /* 0: nothing to select by */
    return best >= 0 ? run->target_test[best] : 0.0 / 0.0;
}

void ferry_holm(const double *p, int m, double *adj)
{
    int idx[256];
    if (m > 256) m = 256;
    int k = 0;
    for (int i = 0; i < m; i++) {
        adj[i] = 0.0 / 0.0;
        if (p[i] == p[i]) idx[k++] = i;
    }
    for (int i = 1; i < k; i++) /* ascending p; ties keep their order */
        for (int j = i; j > 0 && p[idx[j - 1]] > p[idx[j]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    double run = 0;
    for (int r = 0; r < k; r++) { /* step-down: p_(r) · (k − r), non-decreasing, at most 1 */
        double v = p[idx[r]] * (double)(k - r);
        run = v > run ? v : run;
        adj[idx[r]] = run < 1 ? run : 1;
    }
}

void ferry_stats_cell(const double *x, const double *base, int n, ferry_cell_stats *out)
{
    const double nan = 0.0 / 0.0;
    *out = (ferry_cell_stats){.n = n, .mean = nan, .sd = nan, .ci95 = nan, .diff_mean = nan, .t = nan, .p = nan,
                              .effect_dz = nan, .p_holm = nan};
    if (n < 1) return;
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    out->mean = s / n;
    if (n > 1) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (x[i] - out->mean) * (x[i] - out->mean);
        out->sd = sqrt(ss / (n - 1));
        out->ci95 = gsl_cdf_tdist_Pinv(0.975, n - 1) * out->sd / sqrt((double)n);
    }
    if (!base) return;
    double ds = 0;
    for (int i = 0; i < n; i++) ds += x[i] - base[i];
    out->diff_mean = ds / n;
    if (n < 2) return;
    double dss = 0;
    for (int i = 0; i < n; i++) {
        double d = x[i] - base[i] - out->diff_mean;
        dss += d * d;
    }
    const double sd = sqrt(dss / (n - 1));
    if (sd == 0) { /* identical differences on every seed */
        out->t = out->diff_mean == 0 ? 0 : copysign(1.0 / 0.0, out->diff_mean);
        out->p = out->diff_mean == 0 ? 1.0 : 0.0;
        out->effect_dz = out->t;
    } else {
        out->t = out->diff_mean / (sd / sqrt((double)n));
        out->p = 2.0 * gsl_cdf_tdist_Q(fabs(out->t), n - 1);
        out->effect_dz = out->diff_mean / sd;
    }
    out->negative_transfer = out->diff_mean < 0 && out->p < 0.05;
}
