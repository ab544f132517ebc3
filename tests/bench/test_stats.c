/* Model selection, statistics and reports of the benchmark harness against values computed
 * independently (by hand, with the t quantile and the df = 2 closed form written out here). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/bench.h"
#include "ferry/io.h"

Test(stats, mean_sd_and_t_interval)
{
    const double x[3] = {80.1, 82.3, 79.8};
    ferry_cell_stats c;
    ferry_stats_cell(x, NULL, 3, &c);
    const double mean = (80.1 + 82.3 + 79.8) / 3;
    const double sd = sqrt((pow(80.1 - mean, 2) + pow(82.3 - mean, 2) + pow(79.8 - mean, 2)) / 2);
    const double t975_df2 = 4.302652729749464; /* Student t, 97.5th percentile, 2 degrees of freedom */
    cr_assert_float_eq(c.mean, mean, 1e-12);
    cr_assert_float_eq(c.sd, sd, 1e-12);
    cr_assert_float_eq(c.ci95, t975_df2 * sd / sqrt(3.0), 1e-9);
    cr_assert_float_eq(c.ci95, 3.3910, 1e-3); /* by hand */
}

Test(stats, paired_t_test)
{
    const double x[3] = {85, 87, 86}, base[3] = {80, 83, 81}; /* differences 5, 4, 5 */
    ferry_cell_stats c;
    ferry_stats_cell(x, base, 3, &c);
    cr_assert_float_eq(c.diff_mean, 14.0 / 3, 1e-12);
    cr_assert_float_eq(c.t, 14.0, 1e-9); /* mean 14/3 over sd sqrt(1/3) / sqrt(3) */
    const double p = 1 - 14.0 / sqrt(2 + 14.0 * 14.0); /* two-sided, df = 2: 1 - |t| / sqrt(2 + t²) */
    cr_assert_float_eq(c.p, p, 1e-9);
    cr_assert_not(c.negative_transfer);
}

static void row(ferry_run_row *r, const char *task, const char *method, uint64_t seed, double acc)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "%s", task);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->seed = seed;
    r->n_epochs = 2;
    r->source_val[0] = 0.5;
    r->source_val[1] = 0.9;
    r->target_test[0] = 0.01;
    r->target_test[1] = acc / 100;
    r->target_val[0] = r->target_val[1] = 0.5;
}

/* source-only around 80, "worse" 5 points below on every seed, "better" 2 above, "same" within noise */
static int planted(ferry_run_row *rows)
{
    static const double base[5] = {80.0, 81.0, 79.0, 80.5, 80.2}, noise[5] = {0.3, -0.2, 0.1, -0.4, 0.2};
    int n = 0;
    for (int s = 0; s < 5; s++) {
        row(&rows[n++], "a->b", "source-only", (uint64_t)s + 1, base[s]);
        row(&rows[n++], "a->b", "worse", (uint64_t)s + 1, base[s] - 5 + noise[s]);
        row(&rows[n++], "a->b", "better", (uint64_t)s + 1, base[s] + 2 + noise[s]);
        row(&rows[n++], "a->b", "same", (uint64_t)s + 1, base[s] + noise[s] * 3);
    }
    return n;
}

Test(stats, planted_negative_transfer_is_flagged)
{
    ferry_run_row *rows = calloc(20, sizeof *rows);
    int n = planted(rows);
    ferry_table_t *t;
    cr_assert_eq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, "source-only", &t), FERRY_OK);
    const ferry_cell_stats *w = ferry_table_cell(t, "a->b", "worse"), *b = ferry_table_cell(t, "a->b", "better"),
                           *s = ferry_table_cell(t, "a->b", "same");
    cr_assert(w && b && s);
    cr_assert(w->negative_transfer, "p = %g", w->p);
    cr_assert_float_eq(w->diff_mean, -5.0, 1e-9);
    cr_assert_not(b->negative_transfer);
    cr_assert_not(s->negative_transfer, "p = %g", s->p);
    ferry_table_free(t);
    free(rows);
}

Test(stats, selection_rules_never_use_the_test_set)
{
    ferry_run_row r;
    memset(&r, 0, sizeof r);
    r.n_epochs = 4;
    const double sv[4] = {0.5, 0.9, 0.9, 0.8}, tv[4] = {0.6, 0.7, 0.65, 0.95}, tt[4] = {0.99, 0.2, 0.3, 0.4};
    memcpy(r.source_val, sv, sizeof sv);
    memcpy(r.target_val, tv, sizeof tv);
    memcpy(r.target_test, tt, sizeof tt);
    int e;
    cr_assert_float_eq(ferry_select_target_test(&r, FERRY_SELECT_SOURCE_VAL, &e), 0.2, 1e-12);
    cr_assert_eq(e, 2, "ties go to the earliest epoch");
    cr_assert_float_eq(ferry_select_target_test(&r, FERRY_SELECT_TARGET_VAL, &e), 0.4, 1e-12);
    cr_assert_eq(e, 4);
    cr_assert_float_eq(ferry_select_target_test(&r, FERRY_SELECT_LAST, &e), 0.4, 1e-12);
    ferry_select s;
    cr_assert_eq(ferry_select_parse("target-val", &s), FERRY_OK);
    cr_assert_eq(s, FERRY_SELECT_TARGET_VAL);
    cr_assert_neq(ferry_select_parse("test", &s), FERRY_OK);
}

Test(stats, a_validator_selects_its_best_epoch_and_a_run_without_it_nothing)
{
    ferry_run_row r;
    memset(&r, 0, sizeof r);
    r.n_epochs = 3;
    const double sv[3] = {0.9, 0.5, 0.5}, tt[3] = {0.1, 0.2, 0.3};
    memcpy(r.source_val, sv, sizeof sv);
    memcpy(r.target_test, tt, sizeof tt);
    for (int e = 0; e < 3; e++)
        for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++) r.validators[e][v] = 0.0 / 0.0;
    r.validators[0][FERRY_VALIDATOR_SND] = 1.0; /* epoch 2 has none: never chosen */
    r.validators[2][FERRY_VALIDATOR_SND] = 2.0;
    ferry_select s;
    cr_assert_eq(ferry_select_parse("snd", &s), FERRY_OK);
    cr_assert_eq((int)s, FERRY_SELECT_VALIDATOR + FERRY_VALIDATOR_SND);
    cr_assert_str_eq(ferry_select_name(s), "snd");
    int e;
    cr_assert_float_eq(ferry_select_target_test(&r, s, &e), 0.3, 1e-12);
    cr_assert_eq(e, 3);
    cr_assert_float_eq(ferry_select_score(&r, s, 3), 2.0, 1e-12);
    cr_assert_eq(ferry_select_parse("im", &s), FERRY_OK);
    double x = ferry_select_target_test(&r, s, &e);
    cr_assert(x != x && e == 0, "a run without the validator selected epoch %d (%g)", e, x);
}

Test(stats, holm_and_effect_size)
{
    const double p[] = {0.01, 0.04, 0.03, 0.0 / 0.0};
    double adj[4];
    ferry_holm(p, 4, adj); /* 0.01·3, then max(0.03·2, 0.04·1) for both */
    cr_assert_float_eq(adj[0], 0.03, 1e-12);
    cr_assert_float_eq(adj[1], 0.06, 1e-12);
    cr_assert_float_eq(adj[2], 0.06, 1e-12);
    cr_assert(adj[3] != adj[3]);
    const double big[] = {0.5, 0.6};
    ferry_holm(big, 2, adj);
    cr_assert_float_eq(adj[0], 1.0, 1e-12, "adjusted p is at most 1");
    const double x[] = {3, 5, 7}, base[] = {1, 2, 3}; /* differences 2, 3, 4: mean 3, sd 1 */
    ferry_cell_stats c;
    ferry_stats_cell(x, base, 3, &c);
    cr_assert_float_eq(c.effect_dz, 3.0, 1e-12);
}

Test(stats, spearman_with_ties)
{
    const double x[] = {1, 2, 2, 3}, y[] = {1, 3, 2, 4}, up[] = {10, 20, 30, 40}, down[] = {4, 3, 2, 1};
    /* ranks 1, 2.5, 2.5, 4 against 1, 3, 2, 4: 4.5 / sqrt(4.5 * 5) */
    cr_assert_float_eq(ferry_spearman(x, y, 4), 4.5 / sqrt(22.5), 1e-12);
    cr_assert_float_eq(ferry_spearman(up, up, 4), 1.0, 1e-12);
    cr_assert_float_eq(ferry_spearman(up, down, 4), -1.0, 1e-12);
    double r = ferry_spearman(x, y, 2);
    cr_assert(r != r, "two pairs have no rank correlation");
}

Test(stats, weighted_spearman_known_answers)
{
    /* Expected values from the definition evaluated independently (numpy, WeightedCorr's weighted
     * ranks and weighted Pearson, weights (dense rank / max)², as powerful-benchmarker calls it). */
    const double x[] = {1, 2, 3, 4}, y[] = {1, 3, 2, 4};
    cr_assert_float_eq(ferry_weighted_spearman(x, y, 4), 0.9241929189152004, 1e-12);
    const double xt[] = {0.5, 0.1, 0.5, 0.9, 0.3, 0.9}, yt[] = {70, 20, 60, 90, 40, 50}; /* ties in x */
    cr_assert_float_eq(ferry_weighted_spearman(xt, yt, 6), 0.4155062133983081, 1e-12);
    const double up[] = {1, 2, 3, 4, 5}, down[] = {5, 4, 3, 2, 1};
    /* reversed is not −1: the weighted ranks of the two orders are not affine images of each other */
    cr_assert_float_eq(ferry_weighted_spearman(up, down, 5), -0.9982439258734128, 1e-12);
    cr_assert_float_eq(ferry_weighted_spearman(up, up, 5), 1.0, 1e-12);
    double r = ferry_weighted_spearman(x, y, 2);
    cr_assert(r != r, "two pairs: NaN");
}

static char *slurp(const char *path)
{
    void *d;
    size_t n;
    cr_assert_eq(ferry_read_file(path, &d, &n), FERRY_OK, "%s", ferry_last_error());
    char *s = realloc(d, n + 1);
    s[n] = '\0';
    return s;
}

Test(report, tables_in_every_format)
{
    ferry_run_row *rows = calloc(20, sizeof *rows);
    int n = planted(rows);
    ferry_table_t *t;
    cr_assert_eq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK);
    char dir[] = "/tmp/ferry-report-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.md", dir);
    cr_assert_eq(ferry_table_write(t, "md", path), FERRY_OK);
    char *md = slurp(path);
    cr_assert(strstr(md, "| task | source-only |") != NULL, "%s", md); /* the baseline first */
    cr_assert(strstr(md, "**82.") != NULL, "the best method in bold: %s", md);
    cr_assert(strstr(md, "↓") != NULL && strstr(md, "source-val") != NULL && strstr(md, "selects nothing") != NULL);
    /* "better" (+2 on every seed) is flagged as significantly better, "same" is flagged neither way */
    cr_assert(strstr(md, "± ") && strstr(md, " ↑ |") && strstr(md, "↑: significantly better"), "%s", md);
    cr_assert_eq(strstr(strstr(md, " ↑ |") + 1, " ↑ |"), NULL, "one method only is better: %s", md);
    snprintf(path, sizeof path, "%s/t.tex", dir);
    cr_assert_eq(ferry_table_write(t, "latex", path), FERRY_OK);
    char *tex = slurp(path);
    cr_assert(strstr(tex, "\\textbf{") && strstr(tex, "a$\\rightarrow$b") && strstr(tex, "$^\\downarrow$"), "%s", tex);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    cr_assert_eq(ferry_table_write(t, "csv", path), FERRY_OK);
    char *csv = slurp(path);
    cr_assert(strstr(csv, "task,method,n,mean,sd,ci95") == csv && strstr(csv, "a->b,worse,5,") != NULL, "%s", csv);
    snprintf(path, sizeof path, "%s/t.json", dir);
    cr_assert_eq(ferry_table_write(t, "json", path), FERRY_OK);
    char *js = slurp(path);
    cr_assert(strstr(js, "\"negative_transfer\": true") != NULL && strstr(js, "\"selection\": \"source-val\"") != NULL,
              "%s", js);
    cr_assert_neq(ferry_table_write(t, "xlsx", path), FERRY_OK);
    free(md);
    free(tex);
    free(csv);
    free(js);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
    ferry_table_free(t);
    free(rows);
}

Test(report, plots_with_gnuplot)
{
    if (system("command -v gnuplot > /dev/null 2>&1") != 0) {
        const char *req = getenv("FERRY_REQUIRE_GNUPLOT");
        if (!req || strcmp(req, "1")) cr_skip_test("gnuplot is not installed (gnuplot-nox)");
        cr_assert_fail("gnuplot is not installed");
    }
    ferry_run_row *rows = calloc(20, sizeof *rows);
    int n = planted(rows);
    char dir[] = "/tmp/ferry-plot-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ferry_results_plot(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, dir), FERRY_OK, "%s", ferry_last_error());
    const char *files[] = {"accuracy.png", "accuracy.svg", "curves-a-to-b.png", "curves-a-to-b.svg"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        char *s = slurp(path);
        if (strstr(files[i], ".png")) cr_assert(memcmp(s, "\x89PNG", 4) == 0, "%s is not a PNG", path);
        else cr_assert(strstr(s, "<svg") != NULL, "%s is not an SVG", path);
        free(s);
    }
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
    free(rows);
}

/* The table written in one format into dir, read back. */
static char *table_text(const ferry_table_t *t, const char *dir, const char *format)
{
    char path[256];
    snprintf(path, sizeof path, "%s/table.%s", dir, format);
    cr_assert_eq(ferry_table_write(t, format, path), FERRY_OK, "%s", ferry_last_error());
    return slurp(path);
}

static void remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(report, inductive_methods_are_marked_and_undefined_numbers_left_empty)
{
    ferry_run_row *rows = calloc(20, sizeof *rows);
    int n = planted(rows);
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].method, "better")) rows[i].target_labels = 10;
    ferry_table_t *t;
    cr_assert_eq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK);
    char dir[] = "/tmp/ferry-report-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *md = table_text(t, dir, "md"), *csv = table_text(t, dir, "csv");
    cr_assert(strstr(md, " better † |") && strstr(md, "10 labelled target examples per class"), "%s", md);
    cr_assert(strstr(md, " worse † |") == NULL, "%s", md);
    /* the baseline against itself has no difference, t or p: empty fields, never "nan" */
    cr_assert(strstr(csv, "nan") == NULL, "%s", csv);
    cr_assert(strstr(csv, ",,,,0,source-val,source-only,0,,1,,\n") != NULL, "%s", csv);
    cr_assert(strstr(csv, "a->b,better,5,") && strstr(csv, ",source-val,source-only,10,,1,"), "%s", csv);
    free(md);
    free(csv);
    remove_dir(dir);
    ferry_table_free(t);
    free(rows);
}

Test(report, two_settings_of_one_run_are_never_pooled)
{
    ferry_run_row *rows = calloc(21, sizeof *rows);
    int n = planted(rows);
    rows[n] = rows[0]; /* source-only seed 1 again, under other settings */
    snprintf(rows[n].config_hash, sizeof rows[n].config_hash, "%s", "ab12");
    snprintf(rows[n].suite, sizeof rows[n].suite, "%s", "digits");
    n++;
    ferry_table_t *t = (ferry_table_t *)rows; /* must be reset to NULL on failure */
    cr_assert_neq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK);
    cr_assert_null(t);
    cr_assert(strstr(ferry_last_error(), "different settings") && strstr(ferry_last_error(), "seed 1") &&
                  strstr(ferry_last_error(), "digits"),
              "%s", ferry_last_error());
    free(rows);
}

/* A grid: three settings of one method. "x=1" has the best source validation, "x=2" the best target
 * validation and the best test accuracy, "x=3" the best source validation of all but on two seeds
 * only (an unfinished setting is never compared with finished ones). */
static void grid_row(ferry_run_row *r, uint64_t seed, int x, double sv, double tv, double acc)
{
    row(r, "a->b", "m", seed, acc);
    snprintf(r->hparams, sizeof r->hparams, "{\"trade_off\":1.0,\"x\":%d}", x);
    r->source_val[1] = sv;
    r->target_val[1] = tv;
}

Test(report, a_grid_reports_the_setting_its_rule_selects)
{
    ferry_run_row *rows = calloc(16, sizeof *rows);
    int n = 0;
    for (uint64_t s = 1; s <= 3; s++) {
        row(&rows[n], "a->b", "source-only", s, 60.0 + (double)s);
        rows[n++].target_val[1] = 0.6;
        grid_row(&rows[n++], s, 2, 0.80, 0.70 + 0.01 * (double)s, 90.0 + (double)s);
        grid_row(&rows[n++], s, 1, 0.90 + 0.01 * (double)s, 0.50, 70.0 + (double)s);
        if (s < 3) grid_row(&rows[n++], s, 3, 0.99, 0.99, 99.0);
    }
    char dir[] = "/tmp/ferry-grid-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    ferry_table_t *t;
    int settings;
    cr_assert_eq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_table_setting(t, "a->b", "m", &settings), "{\"trade_off\":1.0,\"x\":1}");
    cr_assert_eq(settings, 3);
    cr_assert_float_eq(ferry_table_cell(t, "a->b", "m")->mean, 72.0, 1e-9);
    cr_assert_eq(ferry_table_cell(t, "a->b", "m")->n, 3);
    char *md = table_text(t, dir, "md"), *csv = table_text(t, dir, "csv"), *js = table_text(t, dir, "json");
    /* every setting listed with its means; the label shows only what varies */
    cr_assert(strstr(md, "| a->b | m | x=1 | 3 | 92.00 | 72.00 | ✓ |") && strstr(md, "| a->b | m | x=2 | 3 | 80.00 | 92.00 |  |") &&
                  strstr(md, "| a->b | m | x=3 | 2 | 99.00 | 99.00 |  |") && strstr(md, "a->b m: x=1 (of 3)"),
              "%s", md);
    cr_assert(strstr(csv, ",\"x=1\",3,") && strstr(csv, "source-only,3,") , "%s", csv);
    cr_assert(strstr(js, "\"selection_score\": 92") && strstr(js, "\"chosen\": true"), "%s", js);
    free(md);
    free(csv);
    free(js);
    ferry_table_free(t);
    /* the oracle rule (labelled target validation) picks the other setting; the test set picks neither */
    cr_assert_eq(ferry_table_build(rows, n, FERRY_SELECT_TARGET_VAL, NULL, &t), FERRY_OK);
    cr_assert_str_eq(ferry_table_setting(t, "a->b", "m", NULL), "{\"trade_off\":1.0,\"x\":2}");
    cr_assert_float_eq(ferry_table_cell(t, "a->b", "m")->mean, 92.0, 1e-9);
    cr_assert_float_eq(ferry_table_cell(t, "a->b", "m")->diff_mean, 30.0, 1e-9);
    ferry_table_free(t);
    /* a setting's runs under another configuration are still never pooled */
    snprintf(rows[1].config_hash, sizeof rows[1].config_hash, "%s", "ab12");
    cr_assert_neq(ferry_table_build(rows, n, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "different settings"), "%s", ferry_last_error());
    remove_dir(dir);
    free(rows);
}

/* A setting whose runs have no selection metric (a NaN source validation at every epoch) never wins,
 * even when it is the first the table meets. */
Test(report, a_setting_without_a_score_is_never_chosen)
{
    ferry_run_row rows[4];
    for (uint64_t s = 1; s <= 2; s++) {
        grid_row(&rows[2 * (s - 1)], s, 9, 0.0 / 0.0, 0.5, 99.0);
        rows[2 * (s - 1)].source_val[0] = 0.0 / 0.0;
        grid_row(&rows[2 * (s - 1) + 1], s, 1, 0.9, 0.5, 70.0);
    }
    ferry_table_t *t;
    cr_assert_eq(ferry_table_build(rows, 4, FERRY_SELECT_SOURCE_VAL, NULL, &t), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_table_setting(t, "a->b", "m", NULL), "{\"trade_off\":1.0,\"x\":1}");
    ferry_table_free(t);
}

Test(stats, weighted_tau_by_hand)
{
    /* ranked by x: elements 2, 1, 0 weigh 1, 1/2, 1/3; pairs (0,1) + 5/6, (0,2) + 4/3, (1,2) − 3/2:
     * (2/3) / (11/3); ranked by y the weights move but the sum is the same */
    const double x[3] = {1, 2, 3}, y[3] = {1, 3, 2}, down[3] = {3, 2, 1};
    cr_assert_float_eq(ferry_weighted_tau(x, y, 3), 2.0 / 11, 1e-12);
    cr_assert_float_eq(ferry_weighted_tau(x, x, 3), 1.0, 1e-12);
    cr_assert_float_eq(ferry_weighted_tau(x, down, 3), -1.0, 1e-12);
    /* a swap at the top costs more than one at the bottom */
    const double r[5] = {5, 4, 3, 2, 1}, top[5] = {4, 5, 3, 2, 1}, bottom[5] = {5, 4, 3, 1, 2};
    cr_assert(ferry_weighted_tau(r, top, 5) < ferry_weighted_tau(r, bottom, 5), "top %g, bottom %g",
              ferry_weighted_tau(r, top, 5), ferry_weighted_tau(r, bottom, 5));
    /* a tie in x: pairs tied in x leave the x normaliser (τ_b) */
    const double tx[3] = {1, 1, 2}, ty[3] = {1, 2, 3};
    /* by (x, y): 2, 1, 0 → w 1, 1/2, 1/3; (0,1) tied x, w 5/6; (0,2) + 4/3; (1,2) + 3/2
     * τ = (17/6) / sqrt((11/3 − 5/6)(11/3)); by (y, x) the same ranking */
    cr_assert_float_eq(ferry_weighted_tau(tx, ty, 3), (17.0 / 6) / sqrt((11.0 / 3 - 5.0 / 6) * (11.0 / 3)), 1e-12);
    cr_assert(isnan(ferry_weighted_tau(x, x, 1)));
}
