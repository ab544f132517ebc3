/* Reports of a results store: plots made with gnuplot (accuracy with 95% intervals; learning
 * curves). */
#include "report_internal.h"
#include "ferry/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    ferry_report_put(&d, "task");
    for (int m = 0; m < t->n_methods; m++) ferry_report_put(&d, " \"%s\" ci", t->methods[m]);
    ferry_report_put(&d, "\n");
    for (int a = 0; a < t->n_tasks; a++) {
        ferry_report_put(&d, "\"%s\"", t->tasks[a]);
        for (int m = 0; m < t->n_methods; m++) {
            const ferry_cell_stats *c = &t->st[a][m];
            ferry_report_put(&d, " %.4f %.4f", t->n[a][m] ? c->mean : 0.0, c->ci95 == c->ci95 ? c->ci95 : 0.0);
        }
        ferry_report_put(&d, "\n");
    }
    snprintf(path, sizeof path, "%s/accuracy.dat", dir);
    if ((s = write_text(path, &d))) goto done;
    for (int fmt = 0; fmt < 2 && !s; fmt++) {
        g.n = 0;
        ferry_report_put(&g, "set terminal %s size %s\nset output '%s/accuracy.%s'\n", fmt ? "svg" : "pngcairo",
            fmt ? "900,500" : "1200,650", dir, fmt ? "svg" : "png");
        ferry_report_put(&g, "set title 'Target-test accuracy (mean and 95%% interval over seeds; selection: %s)'\n",
            ferry_select_name(rule));
        ferry_report_put(&g, "set style data histogram\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.6 border -1\n"
                "set ylabel 'accuracy (%%)'\nset yrange [0:100]\nset key outside right top\nset grid ytics\n"
                "set xtics noenhanced\nset key noenhanced\n");
        ferry_report_put(&g, "plot ");
        for (int m = 0; m < t->n_methods; m++)
            ferry_report_put(&g, "%s'%s/accuracy.dat' using %d:%d%s title columnheader(%d)", m ? ", " : "", dir, 2 + 2 * m, 3 + 2 * m,
                m ? "" : ":xtic(1)", 2 + 2 * m);
        ferry_report_put(&g, "\n");
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
        ferry_report_put(&d, "epoch");
        for (int m = 0; m < t->n_methods; m++) ferry_report_put(&d, " \"%s\"", t->methods[m]);
        ferry_report_put(&d, "\n");
        for (int e = 0; e < max_e; e++) {
            ferry_report_put(&d, "%d", e + 1);
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
                if (cnt) ferry_report_put(&d, " %.4f", sum / cnt);
                else ferry_report_put(&d, " NaN");
            }
            ferry_report_put(&d, "\n");
        }
        snprintf(path, sizeof path, "%s/curves-%s.dat", dir, safe);
        if ((s = write_text(path, &d))) break;
        for (int fmt = 0; fmt < 2 && !s; fmt++) {
            g.n = 0;
            ferry_report_put(&g, "set terminal %s size %s\nset output '%s/curves-%s.%s'\n", fmt ? "svg" : "pngcairo",
                fmt ? "800,500" : "1000,600", dir, safe, fmt ? "svg" : "png");
            ferry_report_put(&g, "set title '%s: target-test accuracy per epoch (mean over seeds)' noenhanced\n", t->tasks[a]);
            ferry_report_put(&g, "set xlabel 'epoch'\nset ylabel 'accuracy (%%)'\nset key outside right top noenhanced\nset grid\n");
            ferry_report_put(&g, "plot for [i=2:%d] '%s' using 1:i with linespoints title columnheader(i)\n", 1 + t->n_methods, path);
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

ferry_status ferry_plot_embedding(const char *prefix, int models, const char *const *names, const float *const *xy,
                                  int64_t n_src, int64_t n_tgt, const double (*explained)[2])
{
    struct buf d = {0}, g = {0};
    char path[4096], script[4096];
    for (int m = 0; m < models; m++) { /* one block per model, the domain in the third column */
        for (int64_t i = 0; i < n_src + n_tgt; i++)
            ferry_report_put(&d, "%.6g %.6g %d\n", (double)xy[m][2 * i], (double)xy[m][2 * i + 1], i >= n_src);
        ferry_report_put(&d, "\n\n");
    }
    snprintf(path, sizeof path, "%s.dat", prefix);
    ferry_status s = d.s || !models ? write_text(path, &d) : ferry_error(FERRY_ERR_NOMEM, "out of memory");
    for (int fmt = 0; fmt < 2 && !s; fmt++) {
        g.n = 0;
        ferry_report_put(&g, "set terminal %s size %d,%d\nset output '%s.%s'\n", fmt ? "svg" : "pngcairo",
                         (fmt ? 420 : 520) * models, fmt ? 460 : 560, prefix, fmt ? "svg" : "png");
        ferry_report_put(&g, "set multiplot layout 1,%d title 'Source and target features, first two principal "
                             "components (%lld + %lld images)'\nset key top right\nset grid\n",
                         models, (long long)n_src, (long long)n_tgt);
        for (int m = 0; m < models; m++) {
            ferry_report_put(&g, "set title '%s' noenhanced\nset xlabel 'PC1 (%.0f%%)'\nset ylabel 'PC2 (%.0f%%)'\n",
                             names[m], 100 * explained[m][0], 100 * explained[m][1]);
            ferry_report_put(&g, "plot '%s' index %d using 1:($3 == 0 ? $2 : 1/0) with points pt 7 ps 0.4 lc rgb "
                                 "'#1f77b4' title 'source', '' index %d using 1:($3 == 1 ? $2 : 1/0) with points pt 7 "
                                 "ps 0.4 lc rgb '#d62728' title 'target'\n",
                             path, m, m);
        }
        ferry_report_put(&g, "unset multiplot\n");
        snprintf(script, sizeof script, "%s-%s.gp", prefix, fmt ? "svg" : "png");
        if (!(s = g.s ? write_text(script, &g) : ferry_error(FERRY_ERR_NOMEM, "out of memory"))) s = run_gnuplot(script);
    }
    free(d.s);
    free(g.s);
    return s;
}
