/* DAN: deep adaptation networks (Long et al., ICML 2015). Aligns source and target feature
 * distributions by minimising a multi-kernel maximum mean discrepancy (MK-MMD):
 *
 *   loss = CE(classifier(f_s), y_s) + trade_off · MMD²_k(f_s, f_t)
 *   k(x, y) = Σ_{j=-3..1} exp(−‖x − y‖² / (2^j · m)),  m = mean squared distance of the joint sample
 *
 * m is computed on the batch and held constant for the gradient (as in the reference code).
 * estimator = 0: the linear-time unbiased estimator over pairs (i, i + B/2) within each domain;
 * estimator = 1: the quadratic-time unbiased estimator over all pairs. layers = 2 also aligns the
 * softmax outputs (the classifier's last layer), as DAN adapts several layers. bandwidth > 0 fixes m
 * (for checks of the estimator against closed forms). */
#include "ferry/plugin.h"

#define KERNELS 5 /* bandwidth multipliers 2^-3 .. 2^1 */

static ferry_tensor_t *ones(const ferry_host_api *h, ferry_ctx_t *ctx, int64_t r, int64_t c)
{
    return h->constant(ctx, 1.0f, 2, (int64_t[]){r, c});
}

/* Row sums of a [n, d] matrix as [n, 1]. */
static ferry_tensor_t *row_sums(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    return h->matmul(ctx, x, ones(h, ctx, h->dim(x, 1), 1), false, false);
}

/* 1 / m, m = mean of ‖x_i − x_j‖² over all n² ordered pairs of x = [a; b], without gradient:
 * Σ_ij ‖x_i − x_j‖² = 2n Σ_i ‖x_i‖² − 2 ‖Σ_i x_i‖². */
static ferry_tensor_t *inv_bandwidth(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *x = h->detach(ctx, h->concat_batch(ctx, a, b));
    const int64_t n = h->dim(x, 0);
    ferry_tensor_t *sq = h->sum(ctx, h->mul(ctx, x, x));
    ferry_tensor_t *cs = h->matmul(ctx, ones(h, ctx, 1, n), x, false, false);
    ferry_tensor_t *total = h->sub(ctx, h->scale(ctx, sq, 2.0f * (float)n), h->scale(ctx, h->sum(ctx, h->mul(ctx, cs, cs)), 2.0f));
    return h->reciprocal(ctx, h->scale(ctx, total, 1.0f / ((float)n * (float)n)));
}

/* Σ_j exp(−d / (2^j m)) elementwise, d squared distances. */
static ferry_tensor_t *multi_kernel(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *d, ferry_tensor_t *inv_m)
{
    ferry_tensor_t *k = NULL;
    for (int j = -3; j <= 1; j++) {
        float mult = j < 0 ? (float)(1 << -j) : 1.0f / (float)(1 << j); /* 1 / 2^j */
        ferry_tensor_t *e = h->exp(ctx, h->scale_by(ctx, d, inv_m, -mult));
        k = k ? h->add(ctx, k, e) : e;
    }
    return k;
}

/* Squared distances between paired rows: ‖a_i − b_i‖², [n, 1]. */
static ferry_tensor_t *paired(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *diff = h->sub(ctx, a, b);
    return row_sums(h, ctx, h->mul(ctx, diff, diff));
}

/* All squared distances ‖a_i − b_j‖², [n, m] = r_a·1ᵀ + 1·r_bᵀ − 2·a·bᵀ. */
static ferry_tensor_t *pairwise(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    const int64_t n = h->dim(a, 0), m = h->dim(b, 0);
    ferry_tensor_t *ra = row_sums(h, ctx, h->mul(ctx, a, a)), *rb = row_sums(h, ctx, h->mul(ctx, b, b));
    ferry_tensor_t *d = h->add(ctx, h->matmul(ctx, ra, ones(h, ctx, 1, m), false, false),
                               h->matmul(ctx, ones(h, ctx, n, 1), rb, false, true));
    return h->sub(ctx, d, h->scale(ctx, h->matmul(ctx, a, b, false, true), 2.0f));
}

static ferry_tensor_t *mmd_linear(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t,
                                  ferry_tensor_t *inv_m)
{
    const int64_t half = h->dim(s, 0) / 2;
    ferry_tensor_t *s1 = h->slice_batch(ctx, s, 0, half), *s2 = h->slice_batch(ctx, s, half, 2 * half);
    ferry_tensor_t *t1 = h->slice_batch(ctx, t, 0, half), *t2 = h->slice_batch(ctx, t, half, 2 * half);
    ferry_tensor_t *same = h->add(ctx, multi_kernel(h, ctx, paired(h, ctx, s1, s2), inv_m),
                                  multi_kernel(h, ctx, paired(h, ctx, t1, t2), inv_m));
    ferry_tensor_t *cross = h->add(ctx, multi_kernel(h, ctx, paired(h, ctx, s1, t2), inv_m),
                                   multi_kernel(h, ctx, paired(h, ctx, s2, t1), inv_m));
    return h->mean(ctx, h->sub(ctx, same, cross));
}

static ferry_tensor_t *mmd_quadratic(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t,
                                     ferry_tensor_t *inv_m)
{
    const float n = (float)h->dim(s, 0);
    /* the diagonal of k(s, s) and k(t, t) is exactly KERNELS (distance 0): left out of the unbiased sums */
    ferry_tensor_t *ss = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, s), inv_m));
    ferry_tensor_t *tt = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, t, t), inv_m));
    ferry_tensor_t *st = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, t), inv_m));
    ferry_tensor_t *within = h->sub(ctx, h->add(ctx, ss, tt), h->constant(ctx, 2.0f * n * KERNELS, 1, (int64_t[]){1}));
    return h->sub(ctx, h->scale(ctx, within, 1.0f / (n * (n - 1.0f))), h->scale(ctx, st, 2.0f / (n * n)));
}

static ferry_tensor_t *mmd(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t, bool quadratic,
                           double bandwidth)
{
    ferry_tensor_t *inv_m = bandwidth > 0 ? h->constant(ctx, (float)(1.0 / bandwidth), 1, (int64_t[]){1})
                                          : inv_bandwidth(h, ctx, s, t);
    return quadratic ? mmd_quadratic(h, ctx, s, t, inv_m) : mmd_linear(h, ctx, s, t, inv_m);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    if (t->batch < 4 || t->batch % 2) {
        h->error(1, "dan: the batch must be even and at least 4 (got %d)", t->batch);
        return NULL;
    }
    const bool quadratic = h->hparam(run, "estimator") != 0;
    const double bw = h->hparam(run, "bandwidth");
    ferry_tensor_t *d = mmd(h, ctx, t->features_s, t->features_t, quadratic, bw);
    if (h->hparam(run, "layers") >= 2)
        d = h->add(ctx, d, mmd(h, ctx, h->softmax(ctx, t->logits_s), h->softmax(ctx, t->logits_t), quadratic, bw));
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f),
                  h->scale(ctx, d, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the MMD term"},
    {"estimator", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED, "0: linear-time unbiased, 1: quadratic unbiased"},
    {"layers", FERRY_HP_INT, 1, 1, 2, FERRY_SWEEP_FIXED, "1: features; 2: features and softmax outputs"},
    {"bandwidth", FERRY_HP_FLOAT, 0, 0, 1e6, FERRY_SWEEP_FIXED, "base bandwidth m (0: the batch's mean squared distance)"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "dan",
    .summary = "multi-kernel MMD between source and target features (deep adaptation networks)",
    .citation = "Long et al., Learning Transferable Features with Deep Adaptation Networks, ICML 2015",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
