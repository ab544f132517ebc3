/* Transferability scores (ferry/transferability.h). Every score that needs a spectrum takes it from the
 * smaller of the two Gram matrices of its n × d feature matrix (n × n when n <= d, d × d otherwise),
 * in double precision through GSL, so that a 2048-wide backbone on a few hundred labelled examples
 * costs an n × n eigendecomposition. */
#include "ferry/transferability.h"
#include "ferry/nn.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "domain_classifier.h"
#include "error.h"

static const char *const names[FERRY_SCORE_COUNT] = {"logme", "leep", "nce", "h-score", "h-score-s",
                                                     "transrate", "pad", "mmd"};

const char *ferry_score_name(int score) { return score >= 0 && score < FERRY_SCORE_COUNT ? names[score] : NULL; }

int ferry_score_find(const char *name)
{
    for (int i = 0; name && i < FERRY_SCORE_COUNT; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

int ferry_score_higher_is_better(int score) { return score != FERRY_SCORE_PAD && score != FERRY_SCORE_MMD; }

static ferry_status check(const char *what, const int32_t *y, int64_t n, int d, int k)
{
    if (n < 2 || d < 1 || k < 1)
        return ferry_error(FERRY_ERR_INVALID, "%s: %lld examples of %d features in %d classes (needs 2, 1, 1)", what,
                           (long long)n, d, k);
    for (int64_t i = 0; y && i < n; i++)
        if (y[i] < 0 || y[i] >= k)
            return ferry_error(FERRY_ERR_INVALID, "%s: example %lld has label %d, outside [0, %d)", what, (long long)i,
                               y[i], k);
    return FERRY_OK;
}

/* The nonzero part of the thin SVD of the n × d row-major matrix a: *r singular values squared in
 * sigma (descending; those under 1e-12 of the largest are dropped) and the left singular vectors as
 * the columns of u (n × r, row-major with stride r). sigma and u hold room for min(n, d) columns. */
static ferry_status left_spectrum(const double *a, int64_t n, int d, double *sigma, double *u, int *r)
{
    const size_t m = (size_t)(n <= d ? n : d);
    gsl_matrix_const_view A = gsl_matrix_const_view_array(a, (size_t)n, (size_t)d);
    gsl_matrix *g = gsl_matrix_alloc(m, m), *v = gsl_matrix_alloc(m, m);
    gsl_vector *ev = gsl_vector_alloc(m);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(m);
    ferry_status s = g && v && ev && w ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory for a %zu-wide spectrum", m);
    /* the n × n Gram a a' or the d × d a' a (its lower triangle is what the eigensolver reads) */
    if (!s) gsl_blas_dsyrk(CblasLower, (size_t)n <= (size_t)d ? CblasNoTrans : CblasTrans, 1.0, &A.matrix, 0.0, g);
    if (!s && gsl_eigen_symmv(g, ev, v, w)) s = ferry_error(FERRY_ERR_INVALID, "the eigensolver failed");
    if (!s) gsl_eigen_symmv_sort(ev, v, GSL_EIGEN_SORT_VAL_DESC);
    *r = 0;
    const double top = s ? 0 : gsl_vector_get(ev, 0);
    for (size_t j = 0; !s && j < m; j++) {
        const double sj = gsl_vector_get(ev, j);
        if (!(sj > 1e-12 * top) || !(top > 0)) break;
        sigma[*r] = sj;
        if ((size_t)n <= (size_t)d) { /* eigenvectors of a a' are the left singular vectors */
            for (int64_t i = 0; i < n; i++) u[i * (int64_t)m + *r] = gsl_matrix_get(v, (size_t)i, j);
        } else { /* u_j = a v_j / s_j */
            const double inv = 1.0 / sqrt(sj);
            for (int64_t i = 0; i < n; i++) {
                double t = 0;
                for (int c = 0; c < d; c++) t += a[i * d + c] * gsl_matrix_get(v, (size_t)c, j);
                u[i * (int64_t)m + *r] = t * inv;
            }
        }
        (*r)++;
    }
    gsl_eigen_symmv_free(w);
    gsl_vector_free(ev);
    gsl_matrix_free(v);
    gsl_matrix_free(g);
    return s;
}

/* Only the squared singular values (for the coding rates). */
static ferry_status spectrum(const double *a, int64_t n, int d, double *sigma, int *r)
{
    const size_t m = (size_t)(n <= d ? n : d);
    gsl_matrix_const_view A = gsl_matrix_const_view_array(a, (size_t)n, (size_t)d);
    gsl_matrix *g = gsl_matrix_alloc(m, m);
    gsl_vector *ev = gsl_vector_alloc(m);
    gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc(m);
    ferry_status s = g && ev && w ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory for a %zu-wide spectrum", m);
    if (!s) gsl_blas_dsyrk(CblasLower, (size_t)n <= (size_t)d ? CblasNoTrans : CblasTrans, 1.0, &A.matrix, 0.0, g);
    if (!s && gsl_eigen_symm(g, ev, w)) s = ferry_error(FERRY_ERR_INVALID, "the eigensolver failed");
    *r = 0;
    for (size_t j = 0; !s && j < m; j++) sigma[(*r)++] = fmax(gsl_vector_get(ev, j), 0.0);
    gsl_eigen_symm_free(w);
    gsl_vector_free(ev);
    gsl_matrix_free(g);
    return s;
}

static double *to_double(const float *f, int64_t n, int d, int centre)
{
    double *a = malloc((size_t)n * (size_t)d * sizeof *a);
    if (!a) return NULL;
    for (int64_t i = 0; i < n * d; i++) a[i] = f[i];
    if (centre)
        for (int c = 0; c < d; c++) {
            double mean = 0;
            for (int64_t i = 0; i < n; i++) mean += a[i * d + c];
            mean /= (double)n;
            for (int64_t i = 0; i < n; i++) a[i * d + c] -= mean;
        }
    return a;
}

/* ---- LogME ---------------------------------------------------------------------------------------- */

/* The maximum evidence of one target column y (n) given the spectrum of F: sigma_j, c_j = u_j'y.
 * Written with ½ log|A| − D/2 log α = ½ Σ_j log(1 + βσ_j/α), which stays finite where the maximum
 * lies at α → ∞ (features that say nothing of y: the weights go to 0); α and β are kept in
 * [1e-150, 1e150]. */
static double evidence(const double *sigma, const double *c, int r, double yy, int64_t n)
{
    double alpha = 1.0, beta = 1.0, cc = 0, mm = 0, res = 0;
    for (int j = 0; j < r; j++) cc += c[j] * c[j];
    for (int it = 0; it <= 1000; it++) {
        double gamma = 0;
        mm = 0;
        res = fmax(yy - cc, 0.0); /* the part of y outside F's column space */
        for (int j = 0; j < r; j++) {
            const double den = alpha + beta * sigma[j];
            gamma += beta * sigma[j] / den;
            mm += beta * beta * sigma[j] * c[j] * c[j] / (den * den); /* |m|², m = β A⁻¹ F'y */
            res += c[j] * c[j] * (alpha / den) * (alpha / den);      /* |y − F m|² */
        }
        if (it == 1000) break; /* m and the residual are those of the final α, β */
        const double na = fmin(fmax(gamma / mm, 1e-150), 1e150), nb = fmin(fmax(((double)n - gamma) / res, 1e-150), 1e150);
        const double change = fabs(na / nb - alpha / beta) / (alpha / beta);
        alpha = isfinite(na) ? na : 1e150;
        beta = isfinite(nb) ? nb : 1e150;
        if (change < 1e-10) it = 999; /* one more pass computes m and the residual at the final α, β */
    }
    double logdet = 0; /* log|A| − D log α */
    for (int j = 0; j < r; j++) logdet += log1p(beta * sigma[j] / alpha);
    return 0.5 * ((double)n * log(beta) - logdet - beta * res - alpha * mm - (double)n * log(2 * M_PI));
}

ferry_status ferry_score_logme(const float *f, const int32_t *y, int64_t n, int d, int k, double *out)
{
    ferry_status s = check("logme", y, n, d, k);
    if (s) return s;
    const int64_t m = n <= d ? n : d;
    double *a = to_double(f, n, d, 0), *sigma = malloc((size_t)m * sizeof *sigma);
    double *u = malloc((size_t)(n * m) * sizeof *u), *c = malloc((size_t)m * sizeof *c);
    int r = 0;
    s = a && sigma && u && c ? left_spectrum(a, n, d, sigma, u, &r) : ferry_error(FERRY_ERR_NOMEM, "logme: out of memory");
    double total = 0;
    for (int cls = 0; cls < k && !s; cls++) {
        double yy = 0;
        for (int64_t i = 0; i < n; i++) yy += y[i] == cls;
        for (int j = 0; j < r; j++) {
            double t = 0;
            for (int64_t i = 0; i < n; i++)
                if (y[i] == cls) t += u[i * m + j];
            c[j] = t;
        }
        total += evidence(sigma, c, r, yy, n) / (double)n;
    }
    if (!s) *out = total / k;
    free(a);
    free(sigma);
    free(u);
    free(c);
    return s;
}

/* ---- LEEP and NCE --------------------------------------------------------------------------------- */

/* joint[y * z + zz] = P(y, zz) (hard: the arg-max of θ counted once). */
static ferry_status joint(const float *theta, int z, const int32_t *y, int64_t n, int k, int hard, double **out)
{
    ferry_status s = check(hard ? "nce" : "leep", y, n, 1, k);
    if (s) return s;
    if (z < 1) return ferry_error(FERRY_ERR_INVALID, "%s: a source head of %d classes", hard ? "nce" : "leep", z);
    double *p = calloc((size_t)k * (size_t)z, sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        const float *t = theta + i * z;
        if (hard) {
            int best = 0;
            for (int j = 1; j < z; j++)
                if (t[j] > t[best]) best = j;
            p[(int64_t)y[i] * z + best] += 1.0 / (double)n;
        } else {
            for (int j = 0; j < z; j++) p[(int64_t)y[i] * z + j] += t[j] / (double)n;
        }
    }
    *out = p;
    return FERRY_OK;
}

ferry_status ferry_score_leep(const float *theta, int z, const int32_t *y, int64_t n, int k, double *out)
{
    double *p = NULL, *pz = calloc((size_t)(z > 0 ? z : 1), sizeof *pz);
    ferry_status s = pz ? joint(theta, z, y, n, k, 0, &p) : ferry_error(FERRY_ERR_NOMEM, "out of memory");
    double sum = 0;
    for (int j = 0; !s && j < z; j++)
        for (int c = 0; c < k; c++) pz[j] += p[c * z + j];
    for (int64_t i = 0; i < n && !s; i++) {
        double e = 0;
        for (int j = 0; j < z; j++)
            if (pz[j] > 0) e += p[(int64_t)y[i] * z + j] / pz[j] * theta[i * z + j];
        sum += log(e);
    }
    if (!s) *out = sum / (double)n;
    free(p);
    free(pz);
    return s;
}

ferry_status ferry_score_nce(const float *theta, int z, const int32_t *y, int64_t n, int k, double *out)
{
    double *p = NULL;
    ferry_status s = joint(theta, z, y, n, k, 1, &p);
    double sum = 0;
    for (int j = 0; !s && j < z; j++) {
        double pz = 0;
        for (int c = 0; c < k; c++) pz += p[c * z + j];
        for (int c = 0; c < k; c++)
            if (p[c * z + j] > 0) sum += p[c * z + j] * log(p[c * z + j] / pz);
    }
    if (!s) *out = sum;
    free(p);
    return s;
}

/* ---- H-score -------------------------------------------------------------------------------------- */

ferry_status ferry_score_hscore(const float *f, const int32_t *y, int64_t n, int d, int k, int shrink, double *out)
{
    const char *what = shrink ? "h-score-s" : "h-score";
    ferry_status s = check(what, y, n, d, k);
    if (s) return s;
    const int64_t m = n <= d ? n : d;
    double *a = to_double(f, n, d, 1), *g = calloc((size_t)n * (size_t)d, sizeof *g), *cnt = calloc((size_t)k, sizeof *cnt);
    double *sigma = malloc((size_t)m * sizeof *sigma), *u = malloc((size_t)(n * m) * sizeof *u);
    double *w = malloc((size_t)d * sizeof *w), *mean = calloc((size_t)k * (size_t)d, sizeof *mean);
    int r = 0;
    s = a && g && cnt && sigma && u && w && mean ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", what);
    /* g: each row replaced by its class's mean (of the centred features, so g is centred too) */
    for (int64_t i = 0; !s && i < n; i++) {
        cnt[y[i]]++;
        for (int c = 0; c < d; c++) mean[(int64_t)y[i] * d + c] += a[i * d + c];
    }
    for (int64_t i = 0; !s && i < n; i++)
        for (int c = 0; c < d; c++) g[i * d + c] = mean[(int64_t)y[i] * d + c] / cnt[y[i]];
    if (!s) s = left_spectrum(a, n, d, sigma, u, &r);
    /* ‖g v_j‖², v_j = a' u_j / s_j: the class means' spread along each principal direction */
    double score = 0, a_shrink = 0, mu = 0;
    if (!s && shrink) { /* Ledoit–Wolf on the centred features (S = a'a / n) */
        double tr = 0, fro2 = 0, quart = 0;
        for (int j = 0; j < r; j++) {
            tr += sigma[j];
            fro2 += sigma[j] * sigma[j];
        }
        for (int64_t i = 0; i < n; i++) {
            double q = 0;
            for (int c = 0; c < d; c++) q += a[i * d + c] * a[i * d + c];
            quart += q * q;
        }
        const double nn = (double)n;
        mu = tr / nn / d;
        const double delta_ = fro2 / (nn * nn);
        double beta = (quart / nn - delta_) / (d * nn);
        const double delta = (delta_ - 2 * mu * (tr / nn) + d * mu * mu) / d;
        beta = fmin(beta, delta);
        a_shrink = beta > 0 ? beta / delta : 0;
    }
    for (int j = 0; !s && j < r; j++) {
        for (int c = 0; c < d; c++) {
            double t = 0;
            for (int64_t i = 0; i < n; i++) t += a[i * d + c] * u[i * m + j];
            w[c] = t;
        }
        double gv = 0; /* ‖g a' u_j‖² / σ_j */
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int c = 0; c < d; c++) t += g[i * d + c] * w[c];
            gv += t * t;
        }
        gv /= sigma[j];
        if (!shrink) score += gv / sigma[j]; /* (n − 1) cancels between the two covariances */
        else score += (1 - a_shrink) * gv / (double)(n - 1) / ((1 - a_shrink) * sigma[j] / (double)n + a_shrink * mu);
    }
    if (!s) *out = score;
    free(a);
    free(g);
    free(cnt);
    free(sigma);
    free(u);
    free(w);
    free(mean);
    return s;
}

/* ---- TransRate ------------------------------------------------------------------------------------ */

#define TRANSRATE_EPS 1e-4

static ferry_status coding_rate(const double *z, int64_t n, int d, double *sigma, double *out)
{
    int r = 0;
    ferry_status s = spectrum(z, n, d, sigma, &r);
    double rate = 0;
    for (int j = 0; j < r; j++) rate += log1p(sigma[j] / ((double)n * TRANSRATE_EPS));
    *out = 0.5 * rate;
    return s;
}

ferry_status ferry_score_transrate(const float *f, const int32_t *y, int64_t n, int d, int k, double *out)
{
    ferry_status s = check("transrate", y, n, d, k);
    if (s) return s;
    double *a = to_double(f, n, d, 1), *rows = malloc((size_t)n * (size_t)d * sizeof *rows);
    double *sigma = malloc((size_t)(n <= d ? n : d) * sizeof *sigma), rz = 0, rzy = 0;
    s = a && rows && sigma ? coding_rate(a, n, d, sigma, &rz) : ferry_error(FERRY_ERR_NOMEM, "transrate: out of memory");
    for (int c = 0; c < k && !s; c++) {
        int64_t nc = 0;
        for (int64_t i = 0; i < n; i++)
            if (y[i] == c) memcpy(rows + nc++ * d, a + i * d, (size_t)d * sizeof *rows);
        double rc = 0;
        if (nc && !(s = coding_rate(rows, nc, d, sigma, &rc))) rzy += rc;
    }
    if (!s) *out = rz - rzy / k;
    free(a);
    free(rows);
    free(sigma);
    return s;
}

/* ---- domain distances ----------------------------------------------------------------------------- */

ferry_status ferry_score_pad(const float *fs, int64_t ns, const float *ft, int64_t nt, int d, uint64_t seed,
                             double *out)
{
    if (ns < 4 || nt < 4 || d < 1)
        return ferry_error(FERRY_ERR_INVALID, "pad: %lld source and %lld target examples of %d features (needs 4, 4, 1)",
                           (long long)ns, (long long)nt, d);
    int64_t *ps = malloc((size_t)ns * sizeof *ps), *pt = malloc((size_t)nt * sizeof *pt);
    if (!ps || !pt) {
        free(ps), free(pt);
        return ferry_error(FERRY_ERR_NOMEM, "pad: out of memory");
    }
    /* a seeded shuffle of each domain (Ferry's generator): its first half trains the classifier, the
     * rest tests it */
    ferry_rng_t *rng = NULL;
    ferry_status s = ferry_rng_init(seed, &rng);
    for (int part = 0; part < 2 && !s; part++) {
        int64_t *p = part ? pt : ps, len = part ? nt : ns;
        for (int64_t i = 0; i < len; i++) p[i] = i;
        for (int64_t i = len - 1; i > 0; i--) {
            const int64_t j = (int64_t)(ferry_rng_u32(rng) % (uint64_t)(i + 1)), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
    ferry_rng_free(rng);
    const int64_t hs = ns / 2, ht = nt / 2;
    ferry_domain_clf c = {0};
    if (!s) s = ferry_domain_clf_fit(fs, ps, hs, ft, pt, ht, d, &c);
    double err = 0; /* the balanced error on the held-out halves */
    for (int part = 0; part < 2 && !s; part++) {
        const int64_t *p = part ? pt : ps, len = part ? nt : ns, h = part ? ht : hs;
        int64_t wrong = 0;
        for (int64_t q = h; q < len; q++)
            wrong += (ferry_domain_clf_logit(&c, (part ? ft : fs) + p[q] * d) > 0) != part;
        err += 0.5 * (double)wrong / (double)(len - h);
    }
    if (!s) *out = 2 * (1 - 2 * err);
    ferry_domain_clf_free(&c);
    free(ps);
    free(pt);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double dist2(const float *a, const float *b, int d)
{
    double t = 0;
    for (int c = 0; c < d; c++) t += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
    return t;
}

ferry_status ferry_score_mmd(const float *fs, int64_t ns, const float *ft, int64_t nt, int d, double *out)
{
    if (ns < 2 || nt < 2 || d < 1)
        return ferry_error(FERRY_ERR_INVALID, "mmd: %lld source and %lld target examples of %d features (needs 2, 2, 1)",
                           (long long)ns, (long long)nt, d);
    const int64_t n = ns + nt, pairs = n * (n - 1) / 2;
    double *all = malloc((size_t)pairs * sizeof *all);
    if (!all) return ferry_error(FERRY_ERR_NOMEM, "mmd: out of memory for %lld distances", (long long)pairs);
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++)
            all[q++] = dist2(i < ns ? fs + i * d : ft + (i - ns) * d, j < ns ? fs + j * d : ft + (j - ns) * d, d);
    qsort(all, (size_t)pairs, sizeof *all, cmp_double);
    /* the median distance (pairs of the pooled sample) as the bandwidth: k(a, b) = exp(−|a − b|² / 2h²) */
    const double med2 = pairs % 2 ? all[pairs / 2] : 0.5 * (all[pairs / 2 - 1] + all[pairs / 2]);
    free(all);
    const double h2 = med2 > 0 ? med2 : 1.0;
    double kss = 0, ktt = 0, kst = 0;
    for (int64_t i = 0; i < ns; i++)
        for (int64_t j = 0; j < ns; j++)
            if (i != j) kss += exp(-dist2(fs + i * d, fs + j * d, d) / (2 * h2));
    for (int64_t i = 0; i < nt; i++)
        for (int64_t j = 0; j < nt; j++)
            if (i != j) ktt += exp(-dist2(ft + i * d, ft + j * d, d) / (2 * h2));
    for (int64_t i = 0; i < ns; i++)
        for (int64_t j = 0; j < nt; j++) kst += exp(-dist2(fs + i * d, ft + j * d, d) / (2 * h2));
    *out = kss / (double)(ns * (ns - 1)) + ktt / (double)(nt * (nt - 1)) - 2 * kst / (double)(ns * nt);
    return FERRY_OK;
}

ferry_status ferry_pca(const float *x, int64_t n, int d, int k, float *out, double *explained)
{
    if (!x || !out || n < 2 || d < 1 || k < 1 || k > d)
        return ferry_error(FERRY_ERR_INVALID, "pca: need n >= 2 rows of d >= 1 values and 1 <= k <= d (n %lld, d %d, "
                           "k %d)", (long long)n, d, k);
    double *mean = calloc((size_t)d, sizeof *mean);
    gsl_matrix *c = gsl_matrix_calloc((size_t)d, (size_t)d), *v = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_matrix *z = gsl_matrix_alloc((size_t)n, (size_t)d);
    gsl_vector *ev = gsl_vector_alloc((size_t)d);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc((size_t)d);
    ferry_status s = mean && c && v && z && ev && w ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "pca: out of memory");
    for (int64_t i = 0; i < n && !s; i++)
        for (int j = 0; j < d; j++) mean[j] += x[i * d + j] / (double)n;
    for (int64_t i = 0; i < n && !s; i++)
        for (int j = 0; j < d; j++) gsl_matrix_set(z, (size_t)i, (size_t)j, x[i * d + j] - mean[j]);
    if (!s) gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0 / (double)(n - 1), z, 0.0, c); /* ZᵀZ / (n − 1) */
    for (int a = 0; a < d && !s; a++)
        for (int b = 0; b < a; b++) gsl_matrix_set(c, (size_t)b, (size_t)a, gsl_matrix_get(c, (size_t)a, (size_t)b));
    if (!s && gsl_eigen_symmv(c, ev, v, w)) s = ferry_error(FERRY_ERR_INVALID, "pca: the eigensolver failed");
    if (!s) gsl_eigen_symmv_sort(ev, v, GSL_EIGEN_SORT_VAL_DESC);
    double total = 0;
    for (int j = 0; j < d && !s; j++) total += fmax(gsl_vector_get(ev, (size_t)j), 0.0);
    for (int q = 0; q < k && !s; q++) {
        int big = 0; /* the sign: the largest-magnitude entry positive */
        for (int j = 1; j < d; j++)
            if (fabs(gsl_matrix_get(v, (size_t)j, (size_t)q)) > fabs(gsl_matrix_get(v, (size_t)big, (size_t)q))) big = j;
        const double sign = gsl_matrix_get(v, (size_t)big, (size_t)q) < 0 ? -1 : 1;
        for (int64_t i = 0; i < n; i++) {
            double p = 0;
            for (int j = 0; j < d; j++) p += gsl_matrix_get(z, (size_t)i, (size_t)j) * gsl_matrix_get(v, (size_t)j, (size_t)q);
            out[i * k + q] = (float)(sign * p);
        }
        if (explained) explained[q] = total > 0 ? fmax(gsl_vector_get(ev, (size_t)q), 0.0) / total : 0;
    }
    gsl_eigen_symmv_free(w);
    gsl_vector_free(ev);
    gsl_matrix_free(z);
    gsl_matrix_free(v);
    gsl_matrix_free(c);
    free(mean);
    return s;
}
