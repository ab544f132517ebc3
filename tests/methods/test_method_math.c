/* The adaptation methods' arithmetic against values computed independently here, in double
 * precision: gradient reversal flips and scales the discriminator's gradient; DAN's quadratic and
 * linear MMD estimators equal their closed forms, and the linear one is unbiased; Deep CORAL's loss
 * equals a hand computation. Each method is loaded from its plugin and evaluated through
 * ferry_method_check_loss on the CPU backend. Logits are all zero, so the cross-entropy part is
 * exactly log K and is subtracted. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

#define K 10

static ferry_methods_t *reg;
static ferry_backend_t *be;

static void open_all(void)
{
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
}

static void close_all(void)
{
    ferry_methods_free(reg);
    ferry_backend_free(be);
}

TestSuite(method_math, .init = open_all, .fini = close_all);

static uint64_t lcg = 88172645463325252ull;
static double uniform(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(2 * M_PI * v);
}

/* loss − log K (and gradients) of method `name` on features fs, ft [b, d]. */
static double extra_loss(const char *name, const char *const *sets, int n_sets, int b, int d, const float *fs,
                         const float *ft, double p, float *grad_s)
{
    const ferry_method *m = ferry_methods_find(reg, name);
    cr_assert_not_null(m, "%s", ferry_last_error());
    float *zeros = calloc((size_t)b * K, sizeof(float));
    int32_t *labels = calloc((size_t)b, sizeof(int32_t));
    for (int i = 0; i < b; i++) labels[i] = i % K;
    ferry_loss_check c = {.method = m, .sets = sets, .n_sets = n_sets, .backend = be, .seed = 3, .batch = b,
                          .dim = d, .classes = K, .features_s = fs, .features_t = ft, .logits_s = zeros,
                          .logits_t = zeros, .labels_s = labels, .progress = p};
    float loss = 0;
    cr_assert_eq(ferry_method_check_loss(&c, &loss, grad_s, NULL), FERRY_OK, "%s", ferry_last_error());
    free(zeros);
    free(labels);
    return (double)loss - log((double)K);
}

static double sqdist(const float *a, const float *b, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++) s += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return s;
}

/* Σ_{j=-3..1} exp(−d / (2^j m)) */
static double mk(double dist, double m)
{
    double s = 0;
    for (int j = -3; j <= 1; j++) s += exp(-dist / (ldexp(1.0, j) * m));
    return s;
}

/* the mean squared distance over all ordered pairs of the joint sample */
static double mean_sqdist(const float *fs, const float *ft, int b, int d)
{
    double s = 0;
    for (int i = 0; i < 2 * b; i++)
        for (int j = 0; j < 2 * b; j++) {
            const float *x = i < b ? fs + i * d : ft + (i - b) * d, *y = j < b ? fs + j * d : ft + (j - b) * d;
            s += sqdist(x, y, d);
        }
    return s / (4.0 * b * b);
}

static void random_features(float *x, int n, double shift)
{
    for (int i = 0; i < n; i++) x[i] = (float)(gauss() + shift);
}

Test(method_math, dan_quadratic_equals_closed_form)
{
    enum { B = 8, D = 5 };
    float fs[B * D], ft[B * D];
    random_features(fs, B * D, 0.0);
    random_features(ft, B * D, 0.7);
    const double m = mean_sqdist(fs, ft, B, D);
    double ss = 0, tt = 0, st = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            if (i != j) {
                ss += mk(sqdist(fs + i * D, fs + j * D, D), m);
                tt += mk(sqdist(ft + i * D, ft + j * D, D), m);
            }
            st += mk(sqdist(fs + i * D, ft + j * D, D), m);
        }
    const double expect = (ss + tt) / (B * (B - 1.0)) - 2.0 * st / (B * B);
    const char *sets[] = {"dan.estimator=1"};
    double got = extra_loss("dan", sets, 1, B, D, fs, ft, 0.5, NULL);
    cr_assert(fabs(got - expect) < 1e-4 + 1e-3 * fabs(expect), "quadratic MMD %.8f, closed form %.8f", got, expect);
}

Test(method_math, dan_linear_equals_closed_form)
{
    enum { B = 10, D = 4 };
    float fs[B * D], ft[B * D];
    random_features(fs, B * D, 0.0);
    random_features(ft, B * D, -0.5);
    const double m = mean_sqdist(fs, ft, B, D);
    const int h = B / 2;
    double acc = 0;
    for (int i = 0; i < h; i++) {
        const float *s1 = fs + i * D, *s2 = fs + (i + h) * D, *t1 = ft + i * D, *t2 = ft + (i + h) * D;
        acc += mk(sqdist(s1, s2, D), m) + mk(sqdist(t1, t2, D), m) - mk(sqdist(s1, t2, D), m) -
               mk(sqdist(s2, t1, D), m);
    }
    const double expect = acc / h;
    double got = extra_loss("dan", NULL, 0, B, D, fs, ft, 0.5, NULL);
    cr_assert(fabs(got - expect) < 1e-4 + 1e-4 * fabs(expect), "linear MMD %.8f, closed form %.8f", got, expect);
}

/* E exp(−‖z‖²/c) for z ~ N(δ, 2I) in d dimensions */
static double expected_kernel(double c, double delta2, int d)
{
    return pow(1.0 + 4.0 / c, -0.5 * d) * exp(-delta2 / (c + 4.0));
}

Test(method_math, dan_linear_estimator_is_unbiased)
{
    enum { B = 16, D = 3, R = 1000 };
    const double mu = 1.0, m = 4.0; /* target mean shifted by mu in every coordinate; fixed bandwidth */
    double pop = 0;
    for (int j = -3; j <= 1; j++) {
        double c = ldexp(1.0, j) * m;
        pop += 2 * expected_kernel(c, 0, D) - 2 * expected_kernel(c, D * mu * mu, D);
    }
    const char *sets[] = {"dan.bandwidth=4"};
    double sum = 0, sum2 = 0;
    float fs[B * D], ft[B * D];
    for (int r = 0; r < R; r++) {
        random_features(fs, B * D, 0.0);
        random_features(ft, B * D, mu);
        double e = extra_loss("dan", sets, 1, B, D, fs, ft, 0.5, NULL);
        sum += e;
        sum2 += e * e;
    }
    const double mean = sum / R, se = sqrt((sum2 / R - mean * mean) / R);
    cr_assert(fabs(mean - pop) < 4 * se, "mean of %d linear estimates %.5f, population MMD² %.5f (standard error %.5f)",
              R, mean, pop, se);
    cr_assert(pop > 10 * se, "the check has no power: population %.5f vs standard error %.5f", pop, se);
}

static void covariance(const float *x, int n, int d, double *c)
{
    double mean[16] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) mean[k] += x[i * d + k] / n;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]);
            c[a * d + b] = s / (n - 1);
        }
}

Test(method_math, coral_equals_hand_computation)
{
    enum { B = 7, D = 4 };
    float fs[B * D], ft[B * D];
    random_features(fs, B * D, 0.0);
    for (int i = 0; i < B * D; i++) ft[i] = (float)(1.5 * gauss() + 0.3);
    double cs[D * D], ct[D * D], f = 0;
    covariance(fs, B, D, cs);
    covariance(ft, B, D, ct);
    for (int i = 0; i < D * D; i++) f += (cs[i] - ct[i]) * (cs[i] - ct[i]);
    const double expect = 2.5 * f / (4.0 * D * D);
    const char *sets[] = {"coral.trade_off=2.5"};
    double got = extra_loss("coral", sets, 1, B, D, fs, ft, 0.5, NULL);
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "CORAL %.8f, by hand %.8f", got, expect);
}

/* Autodiff's gradient of DANN's loss w.r.t. the source features is −λ(p) times the finite difference
 * of the same loss (whose value does not depend on λ): reversed and scaled. A linear discriminator
 * (depth 0) keeps the loss smooth for the finite differences. */
Test(method_math, gradient_reversal_flips_and_scales)
{
    enum { B = 6, D = 8 };
    float fs[B * D], ft[B * D], g1[B * D], g2[B * D];
    random_features(fs, B * D, 0.0);
    random_features(ft, B * D, 1.0);
    const double p1 = 0.3, p2 = 0.8, gamma = 10;
    const double l1 = 2.0 / (1.0 + exp(-gamma * p1)) - 1.0, l2 = 2.0 / (1.0 + exp(-gamma * p2)) - 1.0;
    const char *sets[] = {"dann.depth=0"};
    extra_loss("dann", sets, 1, B, D, fs, ft, p1, g1);
    extra_loss("dann", sets, 1, B, D, fs, ft, p2, g2);
    double num = 0, den = 0;
    for (int k = 0; k < B * D; k += 5) {
        const float keep = fs[k], h = 1e-2f;
        fs[k] = keep + h;
        double lp = extra_loss("dann", sets, 1, B, D, fs, ft, p1, NULL);
        fs[k] = keep - h;
        double lm = extra_loss("dann", sets, 1, B, D, fs, ft, p1, NULL);
        fs[k] = keep;
        double fd = (lp - lm) / (2 * h);
        num += (g1[k] + l1 * fd) * (g1[k] + l1 * fd);
        den += l1 * fd * l1 * fd;
        /* the same gradient at another progress differs exactly by the ratio of the lambdas */
        cr_assert(fabs(g2[k] * l1 - g1[k] * l2) <= 1e-5 * (fabs(g1[k]) + 1e-6), "element %d: %g at p=%.1f, %g at p=%.1f",
                  k, (double)g1[k], p1, (double)g2[k], p2);
    }
    cr_assert_gt(den, 1e-12, "the discriminator's gradient vanished");
    cr_assert_lt(sqrt(num / den), 2e-2, "autodiff differs from -lambda x finite difference: %g", sqrt(num / den));
}
