/* Unsupervised validators (ferry/validators.h): plain double-precision arithmetic over the
 * predictions, GSL for the k × k eigenproblem behind BNM's nuclear norm. */
#include "ferry/validators.h"
#include "ferry/nn.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "domain_classifier.h"
#include "error.h"

static const char *const names[FERRY_VALIDATOR_COUNT] = {"source-acc", "source-loss", "entropy", "diversity",
                                                         "im", "bnm", "snd", "mano", "iwv", "dev", "class-ami",
                                                         "devn", "nearest-source", "reverse", "mixval"};

const char *ferry_validator_name(int v) { return v >= 0 && v < FERRY_VALIDATOR_COUNT ? names[v] : NULL; }

int ferry_validator_find(const char *name)
{
    for (int v = 0; name && v < FERRY_VALIDATOR_COUNT; v++)
        if (!strcmp(name, names[v])) return v;
    return -1;
}

#define SND_TEMPERATURE 0.05
/* SND's cost is queries × n × k: past this many target examples, every (n / SND_MAX_QUERIES)-th one
 * is a query (all stay neighbours). */
#define SND_MAX_QUERIES 8192
#define LOG_FLOOR 1e-30 /* the source cross-entropy's probability floor (a float softmax can reach 0) */

static double xlogx(double p) { return p > 0 ? p * log(p) : 0.0; }

static int argmax(const float *r, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (r[c] > r[best]) best = c;
    return best;
}

static ferry_status nuclear_norm(const float *p, int64_t n, int k, double *out)
{
    gsl_matrix *g = gsl_matrix_calloc((size_t)k, (size_t)k);
    gsl_vector *ev = gsl_vector_alloc((size_t)k);
    gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc((size_t)k);
    ferry_status s = g && ev && w ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "validators: out of memory");
    for (int64_t i = 0; i < n && !s; i++) /* P^T P */
        for (int a = 0; a < k; a++)
            for (int b = 0; b <= a; b++) {
                double v = gsl_matrix_get(g, (size_t)a, (size_t)b) + (double)p[i * k + a] * p[i * k + b];
                gsl_matrix_set(g, (size_t)a, (size_t)b, v);
                gsl_matrix_set(g, (size_t)b, (size_t)a, v);
            }
    if (!s && gsl_eigen_symm(g, ev, w)) s = ferry_error(FERRY_ERR_INVALID, "validators: the eigensolver failed");
    double sum = 0;
    for (int a = 0; a < k && !s; a++) sum += sqrt(fmax(gsl_vector_get(ev, (size_t)a), 0.0)); /* σ = √λ */
    *out = sum / (double)n;
    gsl_eigen_symm_free(w);
    gsl_vector_free(ev);
    gsl_matrix_free(g);
    return s;
}

static ferry_status snd(const float *p, int64_t n, int k, double *out)
{
    double *q = malloc((size_t)(n * k) * sizeof *q), *a = malloc((size_t)n * sizeof *a);
    if (!q || !a) {
        free(q);
        free(a);
        return ferry_error(FERRY_ERR_NOMEM, "validators: out of memory for SND (%lld examples)", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        double norm = 0;
        for (int c = 0; c < k; c++) norm += (double)p[i * k + c] * p[i * k + c];
        norm = norm > 0 ? sqrt(norm) : 1.0;
        for (int c = 0; c < k; c++) q[i * k + c] = p[i * k + c] / norm;
    }
    const int64_t stride = n > SND_MAX_QUERIES ? (n + SND_MAX_QUERIES - 1) / SND_MAX_QUERIES : 1;
    double total = 0;
    int64_t queries = 0;
    for (int64_t i = 0; i < n; i += stride, queries++) {
        double m = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            double d = 0;
            for (int c = 0; c < k; c++) d += q[i * k + c] * q[j * k + c];
            a[j] = d / SND_TEMPERATURE;
            if (j != i && a[j] > m) m = a[j];
        }
        double z = 0, wa = 0; /* H = log Σ e^(a-m) − Σ w (a-m) */
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            double e = exp(a[j] - m);
            z += e;
            wa += e * (a[j] - m);
        }
        total += log(z) - wa / z;
    }
    free(q);
    free(a);
    *out = total / (double)queries;
    return FERRY_OK;
}

double ferry_dev_risk(const double *weights, const double *losses, int64_t n)
{
    double mw = 0, ml = 0;
    for (int64_t i = 0; i < n; i++) {
        mw += weights[i] / (double)n;
        ml += weights[i] * losses[i] / (double)n;
    }
    double cov = 0, var = 0;
    for (int64_t i = 0; i < n; i++) {
        cov += (weights[i] * losses[i] - ml) * (weights[i] - mw);
        var += (weights[i] - mw) * (weights[i] - mw);
    }
    /* weights that vary by rounding only (var under 1e-12 of mean²) leave η undetermined: 0 */
    const double eta = var / (double)n > 1e-12 * mw * mw ? -cov / var : 0;
    return ml + eta * mw - eta;
}

double ferry_devn_risk(const double *weights, const double *losses, int64_t n)
{
    double *w = malloc((size_t)n * sizeof *w), max = 0, mean = 0;
    if (!w || n < 1) {
        free(w);
        return 0.0 / 0.0;
    }
    for (int64_t i = 0; i < n; i++) max = fmax(max, weights[i]);
    for (int64_t i = 0; i < n; i++) mean += (w[i] = weights[i] / max) / (double)n;
    for (int64_t i = 0; i < n; i++) w[i] += 1 - mean;
    const double r = ferry_dev_risk(w, losses, n);
    free(w);
    return r;
}

#define DOMAIN_MAX_ROWS 2000
#define LOGIT_CLIP 30.0 /* importance weights within e^±30 */

/* Rows of parity `fold` (or every row but them: other) among at most DOMAIN_MAX_ROWS evenly spaced
 * rows of n. */
static int64_t fold_rows(int64_t n, int fold, int other, int64_t *rows)
{
    const int64_t step = n > DOMAIN_MAX_ROWS ? (n + DOMAIN_MAX_ROWS - 1) / DOMAIN_MAX_ROWS : 1;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i += step)
        if (((i / step) % 2 == fold) != other) rows[m++] = i;
    return m;
}

/* IWV and DEV from the features: weights of every source example by the fold's classifier. */
static ferry_status importance(const float *p_src, const int32_t *y_src, int64_t n_src, int64_t n_tgt, int k,
                               const float *f_src, const float *f_tgt, int d, double *iwv, double *dev, double *devn)
{
    double *w = malloc((size_t)n_src * sizeof *w), *loss = malloc((size_t)n_src * sizeof *loss);
    int64_t *rs = malloc((size_t)n_src * sizeof *rs), *rt = malloc((size_t)n_tgt * sizeof *rt);
    ferry_status s = w && loss && rs && rt ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "validators: out of memory");
    for (int fold = 0; fold < 2 && !s; fold++) {
        /* fit on the other parity of both domains, weigh this parity's source examples */
        const int64_t ns = fold_rows(n_src, fold, 1, rs), nt = fold_rows(n_tgt, fold, 1, rt);
        ferry_domain_clf c;
        if ((s = ferry_domain_clf_fit(f_src, rs, ns, f_tgt, rt, nt, d, &c))) break;
        for (int64_t i = 0; i < n_src; i++) {
            const int64_t step = n_src > DOMAIN_MAX_ROWS ? (n_src + DOMAIN_MAX_ROWS - 1) / DOMAIN_MAX_ROWS : 1;
            if ((i / step) % 2 != fold) continue; /* every source example is weighed, by one fold */
            const double z = ferry_domain_clf_logit(&c, f_src + i * d);
            w[i] = exp(fmin(fmax(z, -LOGIT_CLIP), LOGIT_CLIP));
            loss[i] = -log(fmax((double)p_src[i * k + y_src[i]], LOG_FLOOR));
        }
        ferry_domain_clf_free(&c);
    }
    if (!s) {
        double sum = 0, wsum = 0; /* self-normalised: the weights' mean is 1 in expectation, not in a sample */
        for (int64_t i = 0; i < n_src; i++) sum += w[i] * loss[i], wsum += w[i];
        *iwv = -sum / wsum;
        *dev = -ferry_dev_risk(w, loss, n_src);
        *devn = -ferry_devn_risk(w, loss, n_src);
    }
    free(w);
    free(loss);
    free(rs);
    free(rt);
    return s;
}

double ferry_ami(const int32_t *u, int ku, const int32_t *v, int kv, int64_t n)
{
    double *a = calloc((size_t)ku, sizeof *a), *b = calloc((size_t)kv, sizeof *b);
    double *t = calloc((size_t)ku * (size_t)kv, sizeof *t);
    double ami = 0.0 / 0.0;
    if (!a || !b || !t || n < 1) goto done;
    for (int64_t i = 0; i < n; i++) {
        a[u[i]]++;
        b[v[i]]++;
        t[(int64_t)u[i] * kv + v[i]]++;
    }
    const double N = (double)n;
    double mi = 0, hu = 0, hv = 0, emi = 0;
    for (int i = 0; i < ku; i++) hu -= a[i] > 0 ? a[i] / N * log(a[i] / N) : 0;
    for (int j = 0; j < kv; j++) hv -= b[j] > 0 ? b[j] / N * log(b[j] / N) : 0;
    for (int i = 0; i < ku; i++)
        for (int j = 0; j < kv; j++) {
            const double nij = t[i * kv + j];
            if (nij > 0) mi += nij / N * log(N * nij / (a[i] * b[j]));
            if (a[i] == 0 || b[j] == 0) continue;
            /* E[MI]: the hypergeometric distribution of the cell count, in logs */
            const double base = lgamma(a[i] + 1) + lgamma(b[j] + 1) + lgamma(N - a[i] + 1) + lgamma(N - b[j] + 1) -
                                lgamma(N + 1);
            for (double k = fmax(1, a[i] + b[j] - N); k <= fmin(a[i], b[j]); k++)
                emi += k / N * log(N * k / (a[i] * b[j])) *
                       exp(base - lgamma(k + 1) - lgamma(a[i] - k + 1) - lgamma(b[j] - k + 1) -
                           lgamma(N - a[i] - b[j] + k + 1));
        }
    const double mean = 0.5 * (hu + hv), den = mean - emi;
    if (hu == 0 && hv == 0) ami = 1; /* one cluster each: the same partition */
    else ami = fabs(den) > 1e-15 ? (mi - emi) / den : 0;
done:
    free(a);
    free(b);
    free(t);
    return ami;
}

#define KMEANS_MAX_ITERS 100

/* k-means of m rows x (m × d, L2-normalised) into k clusters: assignment per row (k-means++ start
 * from a fixed seed, then Lloyd's iterations until no row moves). */
static ferry_status kmeans(const double *x, int64_t m, int d, int k, int32_t *assign)
{
    double *c = malloc((size_t)k * (size_t)d * sizeof *c), *dist = malloc((size_t)m * sizeof *dist);
    double *cnt = malloc((size_t)k * sizeof *cnt);
    if (!c || !dist || !cnt) {
        free(c), free(dist), free(cnt);
        return ferry_error(FERRY_ERR_NOMEM, "validators: out of memory for k-means");
    }
    ferry_rng_t *rng = NULL;
    if (ferry_rng_init(0x636c617373616d69ull, &rng)) {
        free(c), free(dist), free(cnt);
        return FERRY_ERR_NOMEM; /* the generator set the message */
    }
    memcpy(c, x + (int64_t)(ferry_rng_u32(rng) % (uint64_t)m) * d, (size_t)d * sizeof *c);
    for (int64_t i = 0; i < m; i++) dist[i] = INFINITY;
    for (int q = 1; q <= k; q++) { /* each row's squared distance to the nearest centre so far */
        double total = 0;
        for (int64_t i = 0; i < m; i++) {
            double e = 0;
            for (int j = 0; j < d; j++) e += (x[i * d + j] - c[(q - 1) * d + j]) * (x[i * d + j] - c[(q - 1) * d + j]);
            dist[i] = fmin(dist[i], e);
            total += dist[i];
        }
        if (q == k) break;
        double r = ferry_rng_uniform(rng, 0, total);
        int64_t pick = m - 1;
        for (int64_t i = 0; i < m; i++)
            if ((r -= dist[i]) < 0) {
                pick = i;
                break;
            }
        memcpy(c + q * d, x + pick * d, (size_t)d * sizeof *c);
    }
    for (int64_t i = 0; i < m; i++) assign[i] = -1;
    for (int it = 0; it < KMEANS_MAX_ITERS; it++) {
        int64_t moved = 0;
        for (int64_t i = 0; i < m; i++) {
            int best = 0;
            double bd = INFINITY;
            for (int q = 0; q < k; q++) {
                double e = 0;
                for (int j = 0; j < d; j++) e += (x[i * d + j] - c[q * d + j]) * (x[i * d + j] - c[q * d + j]);
                if (e < bd) bd = e, best = q;
            }
            moved += assign[i] != best;
            assign[i] = best;
        }
        if (!moved) break;
        memset(c, 0, (size_t)k * (size_t)d * sizeof *c);
        memset(cnt, 0, (size_t)k * sizeof *cnt);
        for (int64_t i = 0; i < m; i++) {
            cnt[assign[i]]++;
            for (int j = 0; j < d; j++) c[assign[i] * d + j] += x[i * d + j];
        }
        for (int q = 0; q < k; q++) /* an empty cluster keeps no centre: it stays empty */
            for (int j = 0; j < d; j++) c[q * d + j] = cnt[q] > 0 ? c[q * d + j] / cnt[q] : INFINITY;
    }
    ferry_rng_free(rng);
    free(c);
    free(dist);
    free(cnt);
    return FERRY_OK;
}

/* ClassAMI of the target predictions p_tgt and features f_tgt. */
static ferry_status class_ami(const float *p_tgt, int64_t n_tgt, int k, const float *f_tgt, int d, double *out)
{
    const int64_t step = n_tgt > DOMAIN_MAX_ROWS ? (n_tgt + DOMAIN_MAX_ROWS - 1) / DOMAIN_MAX_ROWS : 1;
    const int64_t m = (n_tgt + step - 1) / step;
    double *x = malloc((size_t)m * (size_t)d * sizeof *x);
    int32_t *cl = malloc((size_t)m * sizeof *cl), *pred = malloc((size_t)m * sizeof *pred);
    ferry_status s = x && cl && pred ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "validators: out of memory for ClassAMI");
    for (int64_t r = 0; r < m && !s; r++) {
        const int64_t i = r * step;
        double norm = 0;
        for (int j = 0; j < d; j++) norm += (double)f_tgt[i * d + j] * f_tgt[i * d + j];
        norm = norm > 0 ? 1 / sqrt(norm) : 0;
        for (int j = 0; j < d; j++) x[r * d + j] = f_tgt[i * d + j] * norm;
        pred[r] = argmax(p_tgt + i * k, k);
    }
    if (!s) s = kmeans(x, m, d, k < m ? k : (int)m, cl);
    if (!s) *out = ferry_ami(cl, k, pred, k, m);
    free(x);
    free(cl);
    free(pred);
    return s;
}

static double cosine(const float *x, const float *y, int d)
{
    double xy = 0, xx = 0, yy = 0;
    for (int j = 0; j < d; j++) xy += (double)x[j] * y[j], xx += (double)x[j] * x[j], yy += (double)y[j] * y[j];
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}

/* NearestSource: the source-validation example nearest (cosine of the predictions) to each target
 * row is classified right, over at most DOMAIN_MAX_ROWS target rows evenly spaced. */
static double nearest_source(const float *p_src, const int32_t *y_src, int64_t n_src, const float *p_tgt,
                             int64_t n_tgt, int k)
{
    const int64_t step = n_tgt > DOMAIN_MAX_ROWS ? (n_tgt + DOMAIN_MAX_ROWS - 1) / DOMAIN_MAX_ROWS : 1;
    double right = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < n_tgt; i += step, m++) {
        int64_t near = 0;
        double best = -INFINITY;
        for (int64_t j = 0; j < n_src; j++) {
            const double c = cosine(p_tgt + i * k, p_src + j * k, k);
            if (c > best) best = c, near = j; /* ties: the first */
        }
        right += best > 0 && argmax(p_src + near * k, k) == y_src[near];
    }
    return right / (double)m;
}

/* Reverse validation with a nearest-class-mean reverse classifier: centroids of the L2-normalised
 * target features per predicted class, the source-validation examples classified by the centroid of
 * highest cosine similarity, their accuracy. */
static ferry_status reverse(const int32_t *y_src, int64_t n_src, const float *p_tgt, int64_t n_tgt, int k,
                            const float *f_src, const float *f_tgt, int d, double *out)
{
    double *c = calloc((size_t)k * (size_t)d, sizeof *c);
    int64_t *cnt = calloc((size_t)k, sizeof *cnt);
    if (!c || !cnt) {
        free(c), free(cnt);
        return ferry_error(FERRY_ERR_NOMEM, "validators: out of memory for reverse validation");
    }
    for (int64_t i = 0; i < n_tgt; i++) {
        const float *f = f_tgt + i * d;
        double norm = 0;
        for (int j = 0; j < d; j++) norm += (double)f[j] * f[j];
        norm = norm > 0 ? 1 / sqrt(norm) : 0;
        const int q = argmax(p_tgt + i * k, k);
        cnt[q]++;
        for (int j = 0; j < d; j++) c[q * d + j] += f[j] * norm;
    }
    double right = 0;
    for (int64_t i = 0; i < n_src; i++) {
        const float *f = f_src + i * d;
        double ff = 0;
        for (int j = 0; j < d; j++) ff += (double)f[j] * f[j];
        int best = -1;
        double bs = -INFINITY;
        for (int q = 0; q < k; q++) { /* a class the model never predicts has no centroid */
            if (!cnt[q]) continue;
            double fc = 0, cc = 0;
            for (int j = 0; j < d; j++) fc += f[j] * c[q * d + j], cc += c[q * d + j] * c[q * d + j];
            const double s = ff > 0 && cc > 0 ? fc / sqrt(ff * cc) : 0;
            if (s > bs) bs = s, best = q;
        }
        right += best == y_src[i];
    }
    *out = right / (double)n_src;
    free(c);
    free(cnt);
    return FERRY_OK;
}

int64_t ferry_mixval_pairs(const float *p, int64_t n, int k, int64_t max_rows, int64_t *a, int64_t *b,
                           uint8_t *intra)
{
    if (!p || n < 1 || k < 1 || max_rows < 1) return 0;
    const int64_t step = n > max_rows ? (n + max_rows - 1) / max_rows : 1, m = (n + step - 1) / step;
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    int32_t *pl = malloc((size_t)m * sizeof *pl);
    int64_t np = 0;
    if (rows && pl) {
        for (int64_t r = 0; r < m; r++) pl[r] = argmax(p + r * step * k, k);
        for (int64_t r = 0; r < m; r++) /* inter-class: row r with row m−1−r where predicted apart */
            if (pl[r] != pl[m - 1 - r]) a[np] = r * step, b[np] = (m - 1 - r) * step, intra[np++] = 0;
        for (int q = 0; q < k; q++) { /* intra-class: the same pairing inside each predicted class */
            int64_t g = 0;
            for (int64_t r = 0; r < m; r++)
                if (pl[r] == q) rows[g++] = r * step;
            for (int64_t j = 0; j < g; j++)
                if (j != g - 1 - j) a[np] = rows[j], b[np] = rows[g - 1 - j], intra[np++] = 1;
        }
    }
    free(rows);
    free(pl);
    return np;
}

double ferry_mixval_score(const float *p, int k, const int64_t *a, const uint8_t *intra, int64_t n_pairs,
                          const float *p_mix)
{
    double right[2] = {0, 0}, total[2] = {0, 0};
    for (int64_t j = 0; j < n_pairs; j++) {
        total[intra[j]]++;
        right[intra[j]] += argmax(p_mix + j * k, k) == argmax(p + a[j] * k, k);
    }
    if (!total[0] && !total[1]) return 0.0 / 0.0;
    if (!total[0] || !total[1]) return total[0] ? right[0] / total[0] : right[1] / total[1];
    return 0.5 * (right[0] / total[0] + right[1] / total[1]);
}

ferry_status ferry_validators_compute(const float *p_src, const int32_t *y_src, int64_t n_src, const float *p_tgt,
                                      int64_t n_tgt, int k, double out[FERRY_VALIDATOR_COUNT])
{
    return ferry_validators_compute_features(p_src, y_src, n_src, p_tgt, n_tgt, k, NULL, NULL, 0, out);
}

ferry_status ferry_validators_compute_features(const float *p_src, const int32_t *y_src, int64_t n_src,
                                               const float *p_tgt, int64_t n_tgt, int k, const float *f_src,
                                               const float *f_tgt, int d, double out[FERRY_VALIDATOR_COUNT])
{
    if (!p_src || !y_src || !p_tgt || !out || n_src < 2 || n_tgt < 2 || k < 1)
        return ferry_error(FERRY_ERR_INVALID, "validators: need predictions of at least 2 source and 2 target examples "
                           "(%lld, %lld) over k >= 1 classes", (long long)n_src, (long long)n_tgt);
    double correct = 0, ce = 0;
    for (int64_t i = 0; i < n_src; i++) {
        const float *r = p_src + i * k;
        if (y_src[i] < 0 || y_src[i] >= k)
            return ferry_error(FERRY_ERR_INVALID, "validators: source label %d of example %lld is outside [0, %d)",
                               y_src[i], (long long)i, k);
        correct += argmax(r, k) == y_src[i];
        ce -= log(fmax((double)r[y_src[i]], LOG_FLOOR));
    }
    out[FERRY_VALIDATOR_SOURCE_ACC] = correct / (double)n_src;
    out[FERRY_VALIDATOR_SOURCE_LOSS] = -ce / (double)n_src;
    double h = 0, *mean = calloc((size_t)k, sizeof *mean);
    if (!mean) return ferry_error(FERRY_ERR_NOMEM, "validators: out of memory");
    double mano = 0; /* Σ p^4 */
    for (int64_t i = 0; i < n_tgt; i++)
        for (int c = 0; c < k; c++) {
            double p = p_tgt[i * k + c], p2 = p * p;
            h -= xlogx(p);
            mean[c] += p;
            mano += p2 * p2;
        }
    double div = 0;
    for (int c = 0; c < k; c++) div -= xlogx(mean[c] / (double)n_tgt);
    out[FERRY_VALIDATOR_MANO] = sqrt(sqrt(mano / ((double)n_tgt * k))); /* MaNo's order p = 4 */
    free(mean);
    out[FERRY_VALIDATOR_ENTROPY] = -h / (double)n_tgt;
    out[FERRY_VALIDATOR_DIVERSITY] = div;
    out[FERRY_VALIDATOR_IM] = div - h / (double)n_tgt;
    ferry_status s = nuclear_norm(p_tgt, n_tgt, k, &out[FERRY_VALIDATOR_BNM]);
    if (!s) s = snd(p_tgt, n_tgt, k, &out[FERRY_VALIDATOR_SND]);
    out[FERRY_VALIDATOR_IWV] = out[FERRY_VALIDATOR_DEV] = out[FERRY_VALIDATOR_CLASS_AMI] = 0.0 / 0.0;
    out[FERRY_VALIDATOR_DEVN] = out[FERRY_VALIDATOR_REVERSE] = out[FERRY_VALIDATOR_MIXVAL] = 0.0 / 0.0;
    if (!s) out[FERRY_VALIDATOR_NEAREST_SOURCE] = nearest_source(p_src, y_src, n_src, p_tgt, n_tgt, k);
    if (!s && f_src && f_tgt && d > 0)
        s = importance(p_src, y_src, n_src, n_tgt, k, f_src, f_tgt, d, &out[FERRY_VALIDATOR_IWV],
                       &out[FERRY_VALIDATOR_DEV], &out[FERRY_VALIDATOR_DEVN]);
    if (!s && f_tgt && d > 0) s = class_ami(p_tgt, n_tgt, k, f_tgt, d, &out[FERRY_VALIDATOR_CLASS_AMI]);
    if (!s && f_src && f_tgt && d > 0)
        s = reverse(y_src, n_src, p_tgt, n_tgt, k, f_src, f_tgt, d, &out[FERRY_VALIDATOR_REVERSE]);
    return s;
}
