/* Transferability scores against independent computations on small fixed features:
 *  - LogME against its definition: the maximum over α, β of log N(y | 0, FF'/α + I/β) found by a
 *    grid and pattern search in (log α, log β) with the density through a Cholesky factorisation here, per class,
 *    averaged; both the n > d (d × d spectrum) and the n <= d (n × n) paths;
 *  - H-score against tr(cov(f)⁻¹ cov(g)) with an explicit inverse, and unchanged by an invertible
 *    linear map of the features and by zero feature columns (the n <= d path);
 *    and k − 1 exactly for n <= d features in general position;
 *  - the shrinkage H-score against Ledoit–Wolf written out on the d × d covariance (sklearn's form);
 *  - TransRate against log-determinants by elimination, and unchanged by zero columns;
 *  - LEEP and NCE on cases with closed forms (a head that is the labels, a head that knows nothing,
 *    a half-informative one) and against a second computation;
 *  - PAD: 2 for separable domains, near 0 for one sample split in two;
 *  - MMD against the estimate written out for four points in one dimension;
 *  - LogME stays finite where the features say nothing of the labels (all zero, or one row repeated);
 *  - bad input: a label out of range names the example. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/base.h"
#include "ferry/transferability.h"

/* deterministic features: a fixed pseudo-random stream */
static double lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 - 0.5;
}

static void features(float *f, int32_t *y, int n, int d, int k, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        y[i] = i % k;
        for (int c = 0; c < d; c++) f[i * d + c] = (float)(lcg(&s) + 0.8 * (c == y[i] % d) + 0.3 * (c * y[i] % 3));
    }
}

/* log N(y | 0, C) through a Cholesky factorisation of C (n × n, overwritten); −∞ where it breaks down */
static double log_normal(double *C, const double *y, int n)
{
    for (int j = 0; j < n; j++) {
        double s = C[j * n + j];
        for (int q = 0; q < j; q++) s -= C[j * n + q] * C[j * n + q];
        if (!(s > 1e-300)) return -INFINITY; /* numerically singular: far from the maximum */
        C[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = C[i * n + j];
            for (int q = 0; q < j; q++) t -= C[i * n + q] * C[j * n + q];
            C[i * n + j] = t / C[j * n + j];
        }
    }
    double z[64], logdet = 0, quad = 0;
    for (int i = 0; i < n; i++) { /* L z = y */
        double t = y[i];
        for (int q = 0; q < i; q++) t -= C[i * n + q] * z[q];
        z[i] = t / C[i * n + i];
        quad += z[i] * z[i];
        logdet += 2 * log(C[i * n + i]);
    }
    return -0.5 * (quad + logdet + n * log(2 * M_PI));
}

static double evidence_at(const float *f, const double *y, int n, int d, double la, double lb)
{
    double C[64 * 64];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double t = 0;
            for (int c = 0; c < d; c++) t += (double)f[i * d + c] * f[j * d + c];
            C[i * n + j] = t * exp(-la) + (i == j) * exp(-lb);
        }
    return log_normal(C, y, n);
}

/* the maximum evidence of one column: a grid over log α in [−15, 15] and log β in [−15, 25], then a
 * pattern search from its best point */
static double max_evidence(const float *f, const double *y, int n, int d)
{
    double la = 0, lb = 0, best = -INFINITY;
    for (double a = -15; a <= 15; a += 0.5)
        for (double b = -15; b <= 25; b += 0.5) {
            const double v = evidence_at(f, y, n, d, a, b);
            if (v > best) best = v, la = a, lb = b;
        }
    for (double step = 0.25; step > 1e-9; step /= 2) {
        for (int moved = 1; moved;) {
            moved = 0;
            const double tries[4][2] = {{step, 0}, {-step, 0}, {0, step}, {0, -step}};
            for (int t = 0; t < 4; t++) {
                const double v = evidence_at(f, y, n, d, la + tries[t][0], lb + tries[t][1]);
                if (v > best) {
                    best = v;
                    la += tries[t][0];
                    lb += tries[t][1];
                    moved = 1;
                }
            }
        }
    }
    return best;
}

static double logme_by_definition(const float *f, const int32_t *y, int n, int d, int k)
{
    double total = 0, col[64];
    for (int c = 0; c < k; c++) {
        for (int i = 0; i < n; i++) col[i] = y[i] == c;
        total += max_evidence(f, col, n, d) / n;
    }
    return total / k;
}

Test(transferability, logme_is_the_maximum_evidence)
{
    float f[40 * 8];
    int32_t y[40];
    const int shapes[2][2] = {{40, 3}, {6, 8}}; /* n > d, then n <= d */
    for (int t = 0; t < 2; t++) {
        const int n = shapes[t][0], d = shapes[t][1], k = 3;
        features(f, y, n, d, k, 7 + t);
        double got;
        cr_assert_eq(ferry_score_logme(f, y, n, d, k, &got), FERRY_OK, "%s", ferry_last_error());
        const double want = logme_by_definition(f, y, n, d, k);
        cr_assert(fabs(got - want) < 1e-7 * fmax(1, fabs(want)), "n %d d %d: LogME %.12f, the definition's maximum %.12f",
                  n, d, got, want);
    }
}

/* a small d × d inverse by Gauss–Jordan */
static void invert(double *a, double *inv, int d)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) inv[i * d + j] = i == j;
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(a[r * d + c]) > fabs(a[p * d + c])) p = r;
        for (int j = 0; j < d; j++) {
            double t = a[c * d + j];
            a[c * d + j] = a[p * d + j];
            a[p * d + j] = t;
            t = inv[c * d + j];
            inv[c * d + j] = inv[p * d + j];
            inv[p * d + j] = t;
        }
        const double piv = a[c * d + c];
        cr_assert(fabs(piv) > 1e-12);
        for (int j = 0; j < d; j++) {
            a[c * d + j] /= piv;
            inv[c * d + j] /= piv;
        }
        for (int r = 0; r < d; r++)
            if (r != c) {
                const double m = a[r * d + c];
                for (int j = 0; j < d; j++) {
                    a[r * d + j] -= m * a[c * d + j];
                    inv[r * d + j] -= m * inv[c * d + j];
                }
            }
    }
}

/* covariances of f and of its class means, ddof 1 (or 0 with ml) */
static void covariances(const float *f, const int32_t *y, int n, int d, int k, int ml, double *cf, double *cg)
{
    double mean[8] = {0}, cm[8][8] = {{0}}, cnt[8] = {0};
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) mean[c] += f[i * d + c] / (double)n;
    for (int i = 0; i < n; i++) {
        cnt[y[i]]++;
        for (int c = 0; c < d; c++) cm[y[i]][c] += f[i * d + c] - mean[c];
    }
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double sf = 0, sg = 0;
            for (int i = 0; i < n; i++) {
                sf += (f[i * d + a] - mean[a]) * (f[i * d + b] - mean[b]);
                sg += cm[y[i]][a] / cnt[y[i]] * cm[y[i]][b] / cnt[y[i]];
            }
            cf[a * d + b] = sf / (ml ? n : n - 1);
            cg[a * d + b] = sg / (n - 1);
        }
    (void)k;
}

Test(transferability, h_score_is_the_trace_of_the_covariances)
{
    enum { n = 30, d = 4, k = 3 };
    float f[n * d], g[n * d], wide[n * 40];
    int32_t y[n];
    features(f, y, n, d, k, 11);
    double cf[d * d], cg[d * d], inv[d * d], want = 0, got;
    covariances(f, y, n, d, k, 0, cf, cg);
    invert(cf, inv, d);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) want += inv[a * d + b] * cg[b * d + a];
    cr_assert_eq(ferry_score_hscore(f, y, n, d, k, 0, &got), FERRY_OK, "%s", ferry_last_error());
    cr_assert(fabs(got - want) < 1e-9 * want, "H-score %.12f, tr(cov_f⁻¹ cov_g) %.12f", got, want);
    /* an invertible linear map of the features leaves it as it is */
    const double m[d][d] = {{2, 1, 0, 0}, {0, 1, -1, 0}, {0.5, 0, 3, 1}, {0, 0, 0, -1}};
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++) {
            double t = 0;
            for (int b = 0; b < d; b++) t += m[a][b] * f[i * d + b];
            g[i * d + a] = (float)t;
        }
    double mapped;
    cr_assert_eq(ferry_score_hscore(g, y, n, d, k, 0, &mapped), FERRY_OK);
    cr_assert(fabs(mapped - want) < 1e-5 * want, "mapped features: %.9f, not %.9f", mapped, want);
    /* zero columns (40 wide: the n × n path) change nothing */
    memset(wide, 0, sizeof wide);
    for (int i = 0; i < n; i++) memcpy(wide + i * 40 + 5, f + i * d, d * sizeof(float));
    double w;
    cr_assert_eq(ferry_score_hscore(wide, y, n, 40, k, 0, &w), FERRY_OK);
    cr_assert(fabs(w - want) < 1e-9 * want, "with zero columns: %.12f, not %.12f", w, want);
    /* 10 examples of 40 features in general position: k − 1 */
    features(wide, y, 10, 40, k, 21);
    cr_assert_eq(ferry_score_hscore(wide, y, 10, 40, k, 0, &w), FERRY_OK);
    cr_assert(fabs(w - (k - 1)) < 1e-9, "n <= d: H-score %.12f, not k − 1 = %d", w, k - 1);
}

Test(transferability, logme_where_the_features_say_nothing)
{
    enum { n = 20, d = 5, k = 2 };
    float f[n * d];
    int32_t y[n];
    for (int i = 0; i < n; i++) y[i] = i % 3 == 0;
    memset(f, 0, sizeof f);
    double v;
    cr_assert_eq(ferry_score_logme(f, y, n, d, k, &v), FERRY_OK, "%s", ferry_last_error());
    /* no features: the evidence of y under noise alone, β = n / |y|² */
    double want = 0;
    for (int c = 0; c < k; c++) {
        double yy = 0;
        for (int i = 0; i < n; i++) yy += y[i] == c;
        want += 0.5 * (n * log(n / yy) - n - n * log(2 * M_PI)) / n / k;
    }
    cr_assert(fabs(v - want) < 1e-9, "zero features: LogME %.12f, noise alone %.12f", v, want);
    for (int i = 0; i < n * d; i++) f[i] = (float)(1 + i % d); /* one row repeated */
    cr_assert_eq(ferry_score_logme(f, y, n, d, k, &v), FERRY_OK);
    cr_assert(isfinite(v), "one row repeated: LogME %g", v);
}

Test(transferability, shrinkage_h_score_is_ledoit_wolf)
{
    enum { n = 25, d = 5, k = 3 };
    float f[n * d];
    int32_t y[n];
    features(f, y, n, d, k, 5);
    double S[d * d], cg[d * d], inv[d * d], P[d * d];
    covariances(f, y, n, d, k, 1, S, cg);
    /* Ledoit–Wolf as sklearn writes it, on the centred data */
    double mean[d] = {0}, x[n][d], mu = 0, delta_ = 0, beta_ = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) mean[c] += f[i * d + c] / (double)n;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) x[i][c] = f[i * d + c] - mean[c];
    for (int c = 0; c < d; c++) mu += S[c * d + c] / d;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double xtx = 0, x2tx2 = 0;
            for (int i = 0; i < n; i++) {
                xtx += x[i][a] * x[i][b];
                x2tx2 += x[i][a] * x[i][a] * x[i][b] * x[i][b];
            }
            delta_ += xtx * xtx / ((double)n * n);
            beta_ += x2tx2;
        }
    double beta = (beta_ / n - delta_) / ((double)d * n), delta = (delta_ - 2 * mu * mu * d + d * mu * mu) / d;
    beta = fmin(beta, delta);
    const double alpha = beta / delta;
    cr_assert(alpha > 0 && alpha < 1, "shrinkage %g", alpha);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) P[a * d + b] = (1 - alpha) * S[a * d + b] + (a == b) * alpha * mu;
    invert(P, inv, d);
    double want = 0, got;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) want += inv[a * d + b] * (1 - alpha) * cg[b * d + a];
    cr_assert_eq(ferry_score_hscore(f, y, n, d, k, 1, &got), FERRY_OK, "%s", ferry_last_error());
    cr_assert(fabs(got - want) < 1e-9 * want, "shrinkage H-score %.12f, Ledoit–Wolf written out %.12f", got, want);
}

/* ½ log det(I + Z'Z / (m ε)) by elimination (d × d) */
static double rate(const double *z, int m, int d)
{
    double a[8 * 8], logdet = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double t = 0;
            for (int r = 0; r < m; r++) t += z[r * d + i] * z[r * d + j];
            a[i * d + j] = (i == j) + t / (m * 1e-4);
        }
    for (int c = 0; c < d; c++) {
        logdet += log(a[c * d + c]);
        for (int r = c + 1; r < d; r++) {
            const double q = a[r * d + c] / a[c * d + c];
            for (int j = c; j < d; j++) a[r * d + j] -= q * a[c * d + j];
        }
    }
    return 0.5 * logdet;
}

Test(transferability, transrate_is_the_coding_rate_gap)
{
    enum { n = 24, d = 3, k = 4 };
    float f[n * d], wide[n * 30];
    int32_t y[n];
    features(f, y, n, d, k, 3);
    double z[n * d], rows[n * d], mean[d] = {0};
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) mean[c] += f[i * d + c] / (double)n;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) z[i * d + c] = f[i * d + c] - mean[c];
    double want = rate(z, n, d);
    for (int c = 0; c < k; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (y[i] == c) memcpy(rows + m++ * d, z + i * d, d * sizeof(double));
        want -= rate(rows, m, d) / k;
    }
    double got;
    cr_assert_eq(ferry_score_transrate(f, y, n, d, k, &got), FERRY_OK, "%s", ferry_last_error());
    cr_assert(fabs(got - want) < 1e-8 * fabs(want), "TransRate %.12f, by elimination %.12f", got, want);
    memset(wide, 0, sizeof wide);
    for (int i = 0; i < n; i++) memcpy(wide + i * 30 + 2, f + i * d, d * sizeof(float));
    double w;
    cr_assert_eq(ferry_score_transrate(wide, y, n, 30, k, &w), FERRY_OK);
    cr_assert(fabs(w - want) < 1e-8 * fabs(want), "with zero columns: %.12f, not %.12f", w, want);
}

Test(transferability, leep_and_nce_closed_forms)
{
    enum { n = 8, k = 2 };
    const int32_t y[n] = {0, 1, 0, 1, 0, 0, 1, 0}; /* P(y = 0) = 5/8 */
    float exact[n * 2], flat[n * 3], half[n * 2];
    for (int i = 0; i < n; i++) {
        exact[i * 2] = y[i] == 0;
        exact[i * 2 + 1] = y[i] == 1;
        for (int j = 0; j < 3; j++) flat[i * 3 + j] = 1.0f / 3;
        half[i * 2] = i < 4; /* z = [i >= 4]: y = 0, 1, 0, 1 | 0, 0, 1, 0 */
        half[i * 2 + 1] = i >= 4;
    }
    double v;
    cr_assert_eq(ferry_score_leep(exact, 2, y, n, k, &v), FERRY_OK, "%s", ferry_last_error());
    cr_assert(fabs(v) < 1e-12, "a head that is the labels: LEEP %g, not 0", v);
    cr_assert_eq(ferry_score_nce(exact, 2, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v) < 1e-12, "NCE %g, not 0", v);
    const double hy = 5.0 / 8 * log(5.0 / 8) + 3.0 / 8 * log(3.0 / 8); /* −H(Y) */
    cr_assert_eq(ferry_score_leep(flat, 3, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v - hy) < 1e-7, "a head that knows nothing: LEEP %.12f, not −H(Y) %.12f", v, hy); /* θ = 1/3 in float */
    cr_assert_eq(ferry_score_nce(flat, 3, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v - hy) < 1e-12, "NCE %.12f, not %.12f", v, hy);
    /* z = 0: y half and half; z = 1: y = 0 three times in four */
    const double nce = 0.5 * (2 * 0.5 * log(0.5)) + 0.5 * (0.75 * log(0.75) + 0.25 * log(0.25));
    cr_assert_eq(ferry_score_nce(half, 2, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v - nce) < 1e-12, "NCE %.12f, not %.12f", v, nce);
    /* with one-hot θ LEEP is NCE */
    cr_assert_eq(ferry_score_leep(half, 2, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v - nce) < 1e-12, "one-hot LEEP %.12f, not NCE %.12f", v, nce);
    /* soft θ: the definition, summed per source class */
    float soft[n * 2];
    for (int i = 0; i < n; i++) {
        soft[i * 2] = 0.2f + 0.1f * (float)i;
        soft[i * 2 + 1] = 1 - soft[i * 2];
    }
    double pyz[2][2] = {{0}}, pz[2] = {0}, want = 0;
    for (int i = 0; i < n; i++)
        for (int z = 0; z < 2; z++) {
            pyz[y[i]][z] += soft[i * 2 + z] / n;
            pz[z] += soft[i * 2 + z] / n;
        }
    for (int i = 0; i < n; i++)
        want += log(pyz[y[i]][0] / pz[0] * soft[i * 2] + pyz[y[i]][1] / pz[1] * soft[i * 2 + 1]) / n;
    cr_assert_eq(ferry_score_leep(soft, 2, y, n, k, &v), FERRY_OK);
    cr_assert(fabs(v - want) < 1e-12, "soft LEEP %.12f, not %.12f", v, want);
}

Test(transferability, pad_tells_separable_domains_from_one)
{
    enum { n = 200, d = 6 };
    static float a[n * d], b[n * d], c[n * d];
    uint64_t s = 99;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            a[i * d + j] = (float)(lcg(&s) + (j == 0 ? 2.0 : 0.0));
            b[i * d + j] = (float)(lcg(&s) - (j == 0 ? 2.0 : 0.0));
            c[i * d + j] = (float)(lcg(&s) + (j == 0 ? 2.0 : 0.0));
        }
    double sep, same;
    cr_assert_eq(ferry_score_pad(a, n, b, n, d, 1, &sep), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(sep, 2.0, "separable domains: PAD %g, not 2", sep);
    cr_assert_eq(ferry_score_pad(a, n, c, n, d, 1, &same), FERRY_OK);
    cr_assert(fabs(same) < 0.5, "one distribution: PAD %g, not near 0", same);
    double again;
    cr_assert_eq(ferry_score_pad(a, n, c, n, d, 1, &again), FERRY_OK);
    cr_assert_eq(again, same, "the same seed gave %g, then %g", same, again);
}

Test(transferability, mmd_written_out)
{
    const float s[2] = {0, 1}, t[2] = {2, 3};
    /* pooled squared distances 1, 4, 9, 1, 4, 1: median 2.5, so k(a, b) = exp(−|a − b|² / 5) */
    const double e1 = exp(-1 / 5.0), e4 = exp(-4 / 5.0), e9 = exp(-9 / 5.0);
    const double want = (2 * e1) / 2 + (2 * e1) / 2 - 2 * (e4 + e9 + e1 + e4) / 4;
    double got;
    cr_assert_eq(ferry_score_mmd(s, 2, t, 2, 1, &got), FERRY_OK, "%s", ferry_last_error());
    cr_assert(fabs(got - want) < 1e-12, "MMD² %.12f, written out %.12f", got, want);
}

Test(transferability, names_and_bad_input)
{
    for (int i = 0; i < FERRY_SCORE_COUNT; i++) cr_assert_eq(ferry_score_find(ferry_score_name(i)), i);
    cr_assert_eq(ferry_score_find("accuracy"), -1);
    cr_assert(!ferry_score_higher_is_better(FERRY_SCORE_PAD) && ferry_score_higher_is_better(FERRY_SCORE_LOGME));
    float f[6] = {0, 1, 2, 3, 4, 5};
    int32_t y[3] = {0, 1, 7};
    double v;
    cr_assert_neq(ferry_score_logme(f, y, 3, 2, 2, &v), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "example 2 has label 7"), "%s", ferry_last_error());
    cr_assert_neq(ferry_score_hscore(f, y, 1, 2, 2, 0, &v), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "1 examples"), "%s", ferry_last_error());
}

Test(transferability, pca_by_hand)
{
    /* four points on the axes: covariance diag(2/3, 1/6), so the first component is x (4/5 of the
     * variance), the second y */
    const float x[] = {1, 0, -1, 0, 0, 0.5f, 0, -0.5f};
    float out[8];
    double ex[2];
    cr_assert_eq(ferry_pca(x, 4, 2, 2, out, ex), FERRY_OK, "%s", ferry_last_error());
    const float want[] = {1, 0, -1, 0, 0, 0.5f, 0, -0.5f};
    for (int i = 0; i < 8; i++) cr_assert_float_eq(out[i], want[i], 1e-6, "projection %d: %g", i, out[i]);
    cr_assert_float_eq(ex[0], 0.8, 1e-12);
    cr_assert_float_eq(ex[1], 0.2, 1e-12);
    /* points along (1, 2, 2)/3 around (5, 5, 5), one coordinate of noise across it: the first
     * component is the position along the line (its sign: the largest entry, 2/3, positive) */
    enum { N = 9 };
    float y[N * 3], p[N];
    double e1;
    for (int i = 0; i < N; i++) {
        const float t = (float)i - 4, n = 0.01f * (float)((i * 5) % 3 - 1);
        y[i * 3] = 5 + t / 3 + n * 2 / 3;
        y[i * 3 + 1] = 5 + 2 * t / 3 - n * 2 / 3; /* (2, −2, 1)/3 is orthogonal to (1, 2, 2)/3 */
        y[i * 3 + 2] = 5 + 2 * t / 3 + n / 3;
    }
    cr_assert_eq(ferry_pca(y, N, 3, 1, p, &e1), FERRY_OK);
    for (int i = 0; i < N; i++) cr_assert_float_eq(p[i], (float)i - 4, 1e-4, "row %d: %g", i, p[i]);
    cr_assert(e1 > 0.999 && e1 < 1, "explained %g", e1);
    cr_assert_eq(ferry_pca(y, 1, 3, 1, p, NULL), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_pca(y, N, 3, 4, p, NULL), FERRY_ERR_INVALID);
}
