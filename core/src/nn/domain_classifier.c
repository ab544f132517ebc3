/* The linear domain classifier (domain_classifier.h). */
#include "domain_classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define CLF_EPOCHS 200
#define CLF_L2 1e-3
#define CLF_LR 1.0

void ferry_domain_clf_free(ferry_domain_clf *c)
{
    free(c->w);
    free(c->mean);
    free(c->inv);
    memset(c, 0, sizeof *c);
}

double ferry_domain_clf_logit(const ferry_domain_clf *c, const float *x)
{
    double z = c->w[c->d];
    for (int j = 0; j < c->d; j++) z += c->w[j] * ((double)x[j] - c->mean[j]) * c->inv[j];
    return z;
}

ferry_status ferry_domain_clf_fit(const float *fs, const int64_t *is, int64_t ns, const float *ft, const int64_t *it,
                                  int64_t nt, int d, ferry_domain_clf *out)
{
    memset(out, 0, sizeof *out);
    if (ns < 1 || nt < 1 || d < 1)
        return ferry_error(FERRY_ERR_INVALID, "domain classifier: %lld source and %lld target rows of %d features",
                           (long long)ns, (long long)nt, d);
    out->d = d;
    out->w = calloc((size_t)d + 1, sizeof *out->w);
    out->mean = calloc((size_t)d, sizeof *out->mean);
    out->inv = calloc((size_t)d, sizeof *out->inv);
    double *grad = malloc(((size_t)d + 1) * sizeof *grad), *var = calloc((size_t)d, sizeof *var);
    double *x = malloc((size_t)(ns + nt) * ((size_t)d + 1) * sizeof *x);
    if (!out->w || !out->mean || !out->inv || !grad || !var || !x) {
        free(grad), free(var), free(x);
        ferry_domain_clf_free(out);
        return ferry_error(FERRY_ERR_NOMEM, "domain classifier: out of memory for %lld rows of %d features",
                           (long long)(ns + nt), d);
    }
    const int64_t n = ns + nt;
    for (int64_t i = 0; i < n; i++) {
        const float *r = i < ns ? fs + is[i] * d : ft + it[i - ns] * d;
        for (int j = 0; j < d; j++) out->mean[j] += (double)r[j] / (double)n;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *r = i < ns ? fs + is[i] * d : ft + it[i - ns] * d;
        for (int j = 0; j < d; j++) var[j] += ((double)r[j] - out->mean[j]) * ((double)r[j] - out->mean[j]) / (double)n;
    }
    for (int j = 0; j < d; j++) out->inv[j] = var[j] > 0 ? 1 / sqrt(var[j]) : 0;
    for (int64_t i = 0; i < n; i++) { /* standardised rows with a bias column */
        const float *r = i < ns ? fs + is[i] * d : ft + it[i - ns] * d;
        for (int j = 0; j < d; j++) x[i * (d + 1) + j] = ((double)r[j] - out->mean[j]) * out->inv[j];
        x[i * (d + 1) + d] = 1;
    }
    for (int ep = 0; ep < CLF_EPOCHS; ep++) {
        memset(grad, 0, ((size_t)d + 1) * sizeof *grad);
        for (int64_t i = 0; i < n; i++) {
            const double *xi = x + i * (d + 1);
            double z = 0;
            for (int j = 0; j <= d; j++) z += out->w[j] * xi[j];
            const int target = i >= ns;
            const double e = (1 / (1 + exp(-z)) - target) / (2.0 * (double)(target ? nt : ns));
            for (int j = 0; j <= d; j++) grad[j] += e * xi[j];
        }
        for (int j = 0; j <= d; j++) out->w[j] -= CLF_LR * (grad[j] + (j < d ? CLF_L2 * out->w[j] : 0));
    }
    free(grad);
    free(var);
    free(x);
    return FERRY_OK;
}
