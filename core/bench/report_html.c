/* ferry results report's index.html: one self-contained page of a report. The markdown the other
 * outputs are made of is rendered by cmark-gfm (GitHub's tables extension); the plots are the SVGs
 * gnuplot wrote beside it, embedded as data URIs (base64 by OpenSSL), so the page needs no server and
 * no network. A script of a few lines marks on <body> how many of its images decoded (the page test
 * reads it in headless Chromium). */
#include "bench_internal.h"
#include "ferry/io.h"
#include "report_internal.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': ferry_report_put(b, "&amp;"); break;
        case '<': ferry_report_put(b, "&lt;"); break;
        case '>': ferry_report_put(b, "&gt;"); break;
        case '"': ferry_report_put(b, "&quot;"); break;
        default: ferry_report_put(b, "%c", *s);
        }
    }
}

/* markdown (with pipe tables) as HTML */
static ferry_status put_markdown(struct buf *b, const char *md, size_t n)
{
    cmark_gfm_core_extensions_ensure_registered();
    cmark_parser *p = cmark_parser_new(CMARK_OPT_DEFAULT);
    cmark_syntax_extension *table = cmark_find_syntax_extension("table");
    if (!p || !table || !cmark_parser_attach_syntax_extension(p, table)) {
        if (p) cmark_parser_free(p);
        return ferry_error(FERRY_ERR_UNSUPPORTED, "cmark-gfm has no table extension");
    }
    cmark_parser_feed(p, md, n);
    cmark_node *doc = cmark_parser_finish(p);
    char *html = doc ? cmark_render_html(doc, CMARK_OPT_DEFAULT, cmark_parser_get_syntax_extensions(p)) : NULL;
    if (html) ferry_report_put(b, "%s", html);
    free(html);
    if (doc) cmark_node_free(doc);
    cmark_parser_free(p);
    return html ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory rendering markdown");
}

/* an SVG file as an <img> with a data URI */
static ferry_status put_svg(struct buf *b, const char *path, const char *alt)
{
    void *data;
    size_t n;
    ferry_status s = ferry_read_file(path, &data, &n);
    if (s) return s;
    unsigned char *enc = malloc(4 * ((n + 2) / 3) + 1);
    if (!enc) {
        free(data);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory embedding it", path);
    }
    EVP_EncodeBlock(enc, data, (int)n);
    ferry_report_put(b, "<p><img alt=\"");
    put_escaped(b, alt);
    ferry_report_put(b, "\" src=\"data:image/svg+xml;base64,%s\"></p>\n", (const char *)enc);
    free(enc);
    free(data);
    return FERRY_OK;
}

static const char *style =
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
    "th{background:#eee}pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}img{max-width:100%}"
    "details summary{cursor:pointer}table.cm td,table.cm th{padding:1px 5px;text-align:right}";

/* the confusion matrix of a run's selected epoch as a table, with each class's accuracy */
static ferry_status put_confusion(struct buf *b, ferry_results_t *r, const ferry_run_row *w, ferry_select rule)
{
    int e = 0, k = 0;
    int32_t *cm = NULL;
    ferry_select_target_test(w, rule, &e);
    ferry_status s = e > 0 && r ? ferry_results_confusion(r, w->key, e, &cm, &k) : FERRY_OK;
    if (s || !k) {
        if (!s) ferry_report_put(b, "<p>No confusion matrix stored for this run.</p>");
        return s;
    }
    ferry_report_put(b, "<p>Target test at epoch %d (selected by %s): rows the true class, columns the predicted.</p>"
                        "<table class=\"cm\"><tr><th></th>", e, ferry_select_name(rule));
    for (int q = 0; q < k; q++) ferry_report_put(b, "<th>%d</th>", q);
    ferry_report_put(b, "<th>accuracy</th></tr>");
    for (int t = 0; t < k; t++) {
        long total = 0;
        ferry_report_put(b, "<tr><th>%d</th>", t);
        for (int q = 0; q < k; q++) {
            ferry_report_put(b, "<td>%d</td>", cm[t * k + q]);
            total += cm[t * k + q];
        }
        if (total) ferry_report_put(b, "<td>%.2f%%</td></tr>", 100.0 * cm[t * k + t] / (double)total);
        else ferry_report_put(b, "<td>–</td></tr>");
    }
    ferry_report_put(b, "</table>");
    free(cm);
    return FERRY_OK;
}

static ferry_status runs_table(struct buf *b, const ferry_run_row *rows, int n, ferry_results_t *r, ferry_select rule)
{
    ferry_report_put(b, "<h2 id=\"runs\">Runs</h2>\n<p>Every finished run in the table above: its settings and "
                        "provenance; under each key, the run's full settings and its target-test confusion "
                        "matrix.</p>\n<table><thead><tr><th>task</th><th>method</th><th>hyperparameters</th>"
                        "<th>seed</th><th>epochs</th><th>target test, last epoch (%%)</th><th>device</th>"
                        "<th>commit</th><th>started – finished (UTC)</th><th>settings</th></tr></thead><tbody>\n");
    for (int i = 0; i < n; i++) {
        const ferry_run_row *w = &rows[i];
        const char *cells[] = {w->task, w->method, w->hparams};
        ferry_report_put(b, "<tr>");
        for (int c = 0; c < 3; c++) {
            ferry_report_put(b, "<td>");
            put_escaped(b, cells[c]);
            ferry_report_put(b, "</td>");
        }
        ferry_report_put(b, "<td>%llu</td><td>%d</td><td>", (unsigned long long)w->seed, w->n_epochs);
        if (w->n_epochs) ferry_report_put(b, "%.2f", 100 * w->target_test[w->n_epochs - 1]);
        ferry_report_put(b, "</td><td>");
        put_escaped(b, w->device);
        ferry_report_put(b, "</td><td>");
        put_escaped(b, w->commit);
        ferry_report_put(b, "</td><td>%s – %s</td><td><details><summary>%.12s</summary><pre>", w->started, w->finished,
                         w->key);
        put_escaped(b, w->config);
        ferry_report_put(b, "</pre>");
        ferry_status s = put_confusion(b, r, w, rule);
        if (s) return s;
        ferry_report_put(b, "</details></td></tr>\n");
    }
    ferry_report_put(b, "</tbody></table>\n");
    return FERRY_OK;
}

ferry_status ferry_report_html(const ferry_table_t *t, const ferry_run_row *rows, int n, const char *store,
                               const char *dir)
{
    ferry_results_t *r = NULL; /* for the confusion matrices */
    ferry_status s = ferry_results_open(store, false, &r);
    if (s) return s;
    struct buf b = {0}, md = {0};
    char path[4096], when[32];
    ferry_bench_now_iso(when, sizeof when);
    ferry_report_put(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ferry report: ");
    put_escaped(&b, store);
    ferry_report_put(&b, "</title><style>%s</style></head>\n<body>\n<h1>Ferry report</h1>\n<p>Results store <code>", style);
    put_escaped(&b, store);
    ferry_report_put(&b, "</code>: %d finished runs, %d tasks, %d methods. Written %s by Ferry %s.</p>\n", n, t->n_tasks,
                     t->n_methods, when, FERRY_VERSION_STRING);
    ferry_report_put(&b, "<p><a href=\"#table\">table</a> · <a href=\"#curves\">learning curves</a> · "
                         "<a href=\"#validators\">validators</a> · <a href=\"#runs\">runs</a></p>\n");
    ferry_report_put(&b, "<h2 id=\"table\">Target-test accuracy</h2>\n");
    ferry_table_markdown(t, &md);
    s = md.s ? put_markdown(&b, md.s, md.n) : ferry_error(FERRY_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/accuracy.svg", dir);
    if (!s) s = put_svg(&b, path, "target-test accuracy per task and method");
    if (!s) ferry_report_put(&b, "<h2 id=\"curves\">Learning curves</h2>\n");
    for (int a = 0; a < t->n_tasks && !s; a++) {
        char safe[256];
        ferry_bench_file_safe(t->tasks[a], safe, sizeof safe);
        ferry_report_put(&b, "<h3>");
        put_escaped(&b, t->tasks[a]);
        ferry_report_put(&b, "</h3>\n");
        snprintf(path, sizeof path, "%s/curves-%s.svg", dir, safe);
        s = put_svg(&b, path, t->tasks[a]);
    }
    bool validators = false;
    for (int i = 0; i < n && !validators; i++)
        for (int e = 0; e < rows[i].n_epochs && !validators; e++)
            for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++) validators |= rows[i].validators[e][v] == rows[i].validators[e][v];
    if (!s) {
        ferry_report_put(&b, "<h2 id=\"validators\">Choosing without target labels</h2>\n");
        if (validators) {
            md.n = 0;
            s = ferry_validators_render(rows, n, "md", &md);
            if (!s) s = put_markdown(&b, md.s, md.n);
        } else {
            ferry_report_put(&b, "<p>None of these runs stored the unsupervised validators.</p>\n");
        }
    }
    if (!s) s = runs_table(&b, rows, n, r, t->rule);
    if (!s) {
        ferry_report_put(&b, "<script>window.addEventListener('load', function () {\n"
                             "  var im = document.images, ok = 0;\n"
                             "  for (var i = 0; i < im.length; i++) if (im[i].complete && im[i].naturalWidth > 0) ok++;\n"
                             "  document.body.setAttribute('data-images', im.length);\n"
                             "  document.body.setAttribute('data-images-loaded', ok);\n"
                             "});</script>\n</body></html>\n");
    }
    if (!s && !b.s) s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/index.html", dir);
    if (!s) s = ferry_write_file_atomic(path, b.s, b.n);
    free(b.s);
    free(md.s);
    ferry_results_close(r);
    return s;
}
