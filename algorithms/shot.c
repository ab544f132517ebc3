/* SHOT: source hypothesis transfer (Liang et al., ICML 2020). Source-free: it starts from a model
 * trained on the source (--init), never sees source data, keeps the source classifier (the
 * hypothesis) fixed and trains the backbone so the target's features fit it:
 *
 *   loss = mean_i H(p_i) − diversity · H(mean_i p_i) + cls · (1/B) Σ_i CE(logits_t_i, ŷ_i)
 *   p = softmax(logits_t); ŷ: self-supervised pseudo-labels, before each epoch, from the target's
 *   features f (with a 1 appended, L2-normalised, as the paper's code does) by two rounds of
 *   nearest-centroid labelling under cosine distance: centroids weighted by the softmax outputs,
 *   then by the labels the first round gave.
 *
 * Left out from the paper: its source training recipe (label smoothing, a bottleneck with batch norm
 * and a weight-normalised classifier); here the source model is whatever --init gives. Defaults: the
 * paper's cls_par 0.3 (0.1 for its digit runs), ent_par and diversity 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/plugin.h"

#define TABLE "shot.targets"

static ferry_tensor_t *entropy_rows_mean(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *lp)
{
    return h->scale(ctx, h->sum(ctx, h->mul(ctx, h->exp(ctx, lp), lp)), -1.0f / (float)h->dim(lp, 0));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET), K = h->classes(run), B = t->batch;
    ferry_tensor_t *lp = h->log_softmax(ctx, t->logits_t);
    ferry_tensor_t *ent = entropy_rows_mean(h, ctx, lp);
    /* H(mean p): the mean row of p as [1, K], its entropy (clamped away from log 0) */
    ferry_tensor_t *pm = h->scale(ctx, h->sum_to(ctx, h->exp(ctx, lp), 2, (int64_t[]){1, K}), 1.0f / (float)B);
    ferry_tensor_t *hm = h->scale(ctx, h->sum(ctx, h->mul(ctx, pm, h->log(ctx, h->clamp(ctx, pm, 1e-8f, 1.0f)))), -1.0f);
    ferry_tensor_t *q = h->gather_rows(ctx, h->table(run, TABLE, n, K), t->ids_t);
    ferry_tensor_t *ce = h->scale(ctx, h->sum(ctx, h->mul(ctx, q, lp)), -1.0f / (float)B);
    ferry_tensor_t *im = h->sub(ctx, h->scale(ctx, ent, (float)h->hparam(run, "ent")),
                                h->scale(ctx, hm, (float)h->hparam(run, "diversity")));
    return h->add(ctx, im, h->scale(ctx, ce, (float)h->hparam(run, "cls")));
}

/* One round: centroids c_k = Σ_i w_ik f_i / Σ_i w_ik, then each row's nearest by cosine (f unit rows). */
static void relabel(const float *f, const float *w, int64_t n, int64_t d, int k, double *c, int *label)
{
    memset(c, 0, (size_t)(k * d) * sizeof *c);
    for (int j = 0; j < k; j++) {
        double mass = 1e-8;
        for (int64_t i = 0; i < n; i++) {
            const double wi = w ? w[i * k + j] : label[i] == j;
            mass += wi;
            for (int64_t e = 0; e < d; e++) c[j * d + e] += wi * f[i * d + e];
        }
        double norm = 1e-12;
        for (int64_t e = 0; e < d; e++) {
            c[j * d + e] /= mass;
            norm += c[j * d + e] * c[j * d + e];
        }
        for (int64_t e = 0; e < d; e++) c[j * d + e] /= sqrt(norm);
    }
    for (int64_t i = 0; i < n; i++) {
        double best = -2;
        for (int j = 0; j < k; j++) {
            double dot = 0;
            for (int64_t e = 0; e < d; e++) dot += c[j * d + e] * f[i * d + e];
            if (dot > best) best = dot, label[i] = j;
        }
    }
}

static ferry_plugin_status epoch_begin(ferry_run_t *run, const ferry_host_api *h, int epoch)
{
    (void)epoch;
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET), d0 = h->feature_dim(run), d = d0 + 1;
    const int k = h->classes(run);
    float *p = malloc((size_t)(n * k) * sizeof *p), *f0 = malloc((size_t)(n * d0) * sizeof *f0);
    float *f = calloc((size_t)(n * d), sizeof *f);
    double *c = malloc((size_t)(k * d) * sizeof *c);
    int *label = malloc((size_t)n * sizeof *label);
    ferry_plugin_status s = p && f0 && f && c && label ? h->predict(run, FERRY_SPLIT_UNLABELLED_TARGET, p, f0)
                                                       : h->error(FERRY_PLUGIN_ERR_NOMEM, "shot: out of memory");
    for (int64_t i = 0; i < n && !s; i++) { /* [f, 1] / ‖[f, 1]‖ */
        double norm = 1;
        for (int64_t e = 0; e < d0; e++) norm += (double)f0[i * d0 + e] * f0[i * d0 + e];
        for (int64_t e = 0; e < d0; e++) f[i * d + e] = (float)(f0[i * d0 + e] / sqrt(norm));
        f[i * d + d0] = (float)(1 / sqrt(norm));
    }
    if (!s) {
        relabel(f, p, n, d, k, c, label);    /* centroids weighted by the predictions */
        relabel(f, NULL, n, d, k, c, label); /* then by the first round's labels */
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < k; j++) p[i * k + j] = label[i] == j ? 1.0f : 0.0f;
        s = h->table_set(run, TABLE, p);
    }
    free(p);
    free(f0);
    free(f);
    free(c);
    free(label);
    return s;
}

static const ferry_hparam hparams[] = {
    {"cls", FERRY_HP_FLOAT, 0.3, 0.0, 10.0, FERRY_SWEEP_UNIFORM, "weight of the pseudo-label cross-entropy (cls_par)"},
    {"ent", FERRY_HP_FLOAT, 1.0, 0.0, 10.0, FERRY_SWEEP_FIXED, "weight of the mean entropy (ent_par)"},
    {"diversity", FERRY_HP_FLOAT, 1.0, 0.0, 10.0, FERRY_SWEEP_FIXED, "weight of the entropy of the mean prediction"},
};

static const ferry_phase phases[] = {{.name = "backbone", .loss = loss, .updates = "backbone"}};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "shot",
    .summary = "source-free: the source classifier kept, the backbone fit to it (IM + centroid pseudo-labels)",
    .citation = "Liang et al., Do We Really Need to Access the Source Data? Source Hypothesis Transfer for "
                "Unsupervised Domain Adaptation, ICML 2020",
    .flags = FERRY_METHOD_SOURCE_FREE | FERRY_METHOD_USES_CHECKPOINT,
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
    .phases = phases,
    .n_phases = 1,
    .epoch_begin = epoch_begin,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
