/* Shared by the method tests: load plugins from the build tree (PLUGIN_DIR), fixed random draws,
 * and a method's loss and gradients on chosen tensors through ferry_method_check_loss (CPU, one
 * thread), with the source cross-entropy computed here and subtracted, and central finite
 * differences of that loss. Include it in one test file per binary (its functions are static). */
#ifndef FERRY_TESTS_METHOD_CHECK_H
#define FERRY_TESTS_METHOD_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"
#include "ferry/method.h"

#define K 10      /* classes */
#define MAX_N 512 /* elements of the largest feature matrix the tests use */

static ferry_methods_t *reg;
static ferry_backend_t *be;

/* Loads the named plugin files (e.g. "dan.so") from PLUGIN_DIR and starts a one-thread CPU backend. */
static inline void method_check_open(const char *const *files, int n)
{
    cr_assert_eq(ferry_methods_init(&reg), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", PLUGIN_DIR, files[i]);
        cr_assert_eq(ferry_methods_add_file(reg, path), FERRY_OK, "%s", ferry_last_error());
    }
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK, "%s", ferry_last_error());
}

static inline void method_check_close(void)
{
    ferry_methods_free(reg);
    ferry_backend_free(be);
}

/* ---- random numbers (a fixed LCG: the same draws on every platform) ------------------------------ */

static uint64_t lcg = 88172645463325252ull;
static inline double uniform(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}
static inline double gauss(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(2 * M_PI * v);
}
static inline void random_matrix(float *x, int n, double scale, double shift)
{
    for (int i = 0; i < n; i++) x[i] = (float)(scale * gauss() + shift);
}
static inline void to_double(const float *x, int n, double *y)
{
    for (int i = 0; i < n; i++) y[i] = x[i];
}

/* ---- DAN's multi-kernel rule in double (DAN and JAN's known answers) ------------------------------ */

static inline double sqdist(const double *a, const double *b, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
    return s;
}

/* Σ_{j=-3..1} exp(−dist / (2^j m)) */
static inline double mk(double dist, double m)
{
    double s = 0;
    for (int j = -3; j <= 1; j++) s += exp(-dist / (ldexp(1.0, j) * m));
    return s;
}

/* the mean squared distance over all ordered pairs of the joint sample [s; t] (diagonal included) */
static inline double mean_sqdist(const double *s, const double *t, int b, int d)
{
    double acc = 0;
    for (int i = 0; i < 2 * b; i++)
        for (int j = 0; j < 2 * b; j++)
            acc += sqdist(i < b ? s + i * d : t + (i - b) * d, j < b ? s + j * d : t + (j - b) * d, d);
    return acc / (4.0 * b * b);
}

/* ---- running a method through ferry_method_check_loss ------------------------------------------- */

struct check {
    const char *method;
    const char *const *sets;
    int n_sets;
    int b, d;
    const float *fs, *ft;
    const float *ls, *lt; /* [b, K]; NULL: all zero */
    double p;
    float *gs, *gt;       /* d loss / d features, or NULL */
    float *gls, *glt;     /* d loss / d logits, or NULL (the source cross-entropy's share included) */
};

static inline int32_t label(int i) { return (int32_t)((7 * i + 3) % K); }

/* mean over rows of log Σ exp(l) − l[y] */
static inline double cross_entropy(const float *logits, int b)
{
    double s = 0;
    for (int i = 0; i < b; i++) {
        const float *l = logits + i * K;
        double mx = l[0], z = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, l[k]);
        for (int k = 0; k < K; k++) z += exp(l[k] - mx);
        s += mx + log(z) - l[label(i)];
    }
    return s / b;
}

/* The status of the check; *extra = the loss minus the source cross-entropy. */
static inline ferry_status try_check(const struct check *k, double *extra)
{
    const ferry_method *m = ferry_methods_find(reg, k->method);
    cr_assert_not_null(m, "%s", ferry_last_error());
    float *zeros = calloc((size_t)k->b * K, sizeof(float));
    int32_t *labels = calloc((size_t)k->b, sizeof(int32_t));
    for (int i = 0; i < k->b; i++) labels[i] = label(i);
    const float *ls = k->ls ? k->ls : zeros;
    ferry_loss_check c = {.method = m, .sets = k->sets, .n_sets = k->n_sets, .backend = be, .seed = 3,
                          .batch = k->b, .dim = k->d, .classes = K, .features_s = k->fs, .features_t = k->ft,
                          .logits_s = ls, .logits_t = k->lt ? k->lt : zeros, .labels_s = labels, .progress = k->p,
                          .grad_logits_s = k->gls, .grad_logits_t = k->glt};
    float loss = NAN;
    ferry_status s = ferry_method_check_loss(&c, &loss, k->gs, k->gt);
    *extra = (double)loss - cross_entropy(ls, k->b);
    free(zeros);
    free(labels);
    return s;
}

static inline double extra_loss(const struct check *k)
{
    double e;
    cr_assert_eq(try_check(k, &e), FERRY_OK, "%s: %s", k->method, ferry_last_error());
    cr_assert(isfinite(e), "%s: loss %g", k->method, e);
    return e;
}

/* Central finite differences of the method's loss (cross-entropy included) in each element of x,
 * one of k's input arrays (fs, ft, ls or lt; n elements, perturbed in place and restored) with step
 * h, against the analytic gradient g (n elements, computed by the caller with the same k):
 * max |fd − g| ≤ tol · max(1, max |g|), else the test fails naming the element. */
static inline void check_finite_differences(const struct check *k, float *x, int n, const float *g, float h, double tol)
{
    double gmax = 1;
    for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    struct check q = *k;
    q.gs = q.gt = q.gls = q.glt = NULL;
    for (int i = 0; i < n; i++) {
        const float x0 = x[i];
        x[i] = x0 + h;
        double up = extra_loss(&q) + cross_entropy(q.ls ? q.ls : (const float[MAX_N]){0}, q.b);
        x[i] = x0 - h;
        double down = extra_loss(&q) + cross_entropy(q.ls ? q.ls : (const float[MAX_N]){0}, q.b);
        x[i] = x0;
        double fd = (up - down) / (2.0 * h);
        cr_assert(fabs(fd - g[i]) <= tol * gmax, "%s: element %d: finite difference %.6g, gradient %.6g", k->method,
                  i, fd, (double)g[i]);
    }
}

#endif
