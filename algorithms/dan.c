/* DAN: deep adaptation networks (Long et al., ICML 2015). Aligns source and target feature
 * distributions by minimising a multi-kernel maximum mean discrepancy (MK-MMD):
 *
 *   loss = CE(classifier(f_s), y_s) + trade_off · MMD²_k(f_s, f_t)
 *   k(x, y) = Σ_{j=-3..1} exp(−‖x − y‖² / (2^j · m)),  m = mean squared distance of the joint sample
 *
 * The bandwidths follow TLlib's MK-MMD (5 Gaussian kernels at 2^j times the mean squared distance over
 * all ordered pairs of [f_s; f_t], diagonal included), written here as exp(−d / σ²) with σ² = 2^j·m;
 * TLlib writes exp(−d / (2σ²)), the same family one octave wider. m is computed on the batch and held
 * constant for the gradient (detached), as in the reference code; `bandwidth` > 0 fixes m instead
 * (for checks of the estimators against closed forms).
 *
 * estimator = 0: the linear-time unbiased estimator (Gretton et al. 2012, §6), pairing row i with row
 *   i + B/2 within each domain: mean_i k(s_i, s_i') + k(t_i, t_i') − k(s_i, t_i') − k(s_i', t_i).
 * estimator = 1: the quadratic-time unbiased estimator over all pairs, the diagonals of k(s, s) and
 *   k(t, t) (each exactly one per kernel) left out.
 * layers = 2 also aligns the softmax outputs of the classifier, as DAN adapts several layers (the
 * softmax rather than the logits, so the scale of that term is bounded; JAN does the same).
 *
 * Row sums are sum_to [n, 1]; outer sums broadcast ([n, 1] + [1, m]). The joint sample is centred
 * (by its detached mean row) before any distance is taken: distances do not change, but
 * r_i + r_j − 2 x_i·x_j loses less to cancellation in single precision. */
#include "ferry/plugin.h"

#define KERNELS 5          /* bandwidth multipliers 2^-3 .. 2^1 */
#define MIN_BANDWIDTH 1e-12f /* m when every feature row is the same (all distances 0) */

/* Row sums of a [n, d] matrix as [n, 1]. */
static ferry_tensor_t *row_sums(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    return h->sum_to(ctx, x, 2, (int64_t[]){h->dim(x, 0), 1});
}

/* The mean row of [a; b], without gradient: [1, d] (subtracted from every row by broadcasting). */
static ferry_tensor_t *joint_mean(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *x = h->detach(ctx, h->concat_batch(ctx, a, b));
    const int64_t n = h->dim(x, 0);
    return h->scale(ctx, h->sum_to(ctx, x, 2, (int64_t[]){1, h->dim(x, 1)}), 1.0f / (float)n);
}

/* 1 / m, m = mean of ‖x_i − x_j‖² over all N² ordered pairs of the centred joint sample x = [a; b],
 * without gradient: Σ_ij ‖x_i − x_j‖² = 2N Σ_i ‖x_i‖² when Σ_i x_i = 0, so m = 2 Σ_i ‖x_i‖² / N.
 * m is floored at MIN_BANDWIDTH: max(m, ε) = relu(m − ε) + ε. */
static ferry_tensor_t *inv_bandwidth(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *x = h->detach(ctx, h->concat_batch(ctx, a, b));
    ferry_tensor_t *m = h->scale(ctx, h->sum(ctx, h->mul(ctx, x, x)), 2.0f / (float)h->dim(x, 0));
    ferry_tensor_t *eps = h->constant(ctx, MIN_BANDWIDTH, 1, (int64_t[]){1});
    return h->reciprocal(ctx, h->add(ctx, h->relu(ctx, h->sub(ctx, m, eps)), eps));
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

/* All squared distances ‖a_i − b_j‖², [n, m] = r_a + r_bᵀ − 2·a·bᵀ (r: row sums of squares, [n, 1]
 * and [1, m] broadcast), clamped at 0 against rounding. */
static ferry_tensor_t *pairwise(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    const int64_t m = h->dim(b, 0);
    ferry_tensor_t *ra = row_sums(h, ctx, h->mul(ctx, a, a));
    ferry_tensor_t *rb = h->reshape(ctx, row_sums(h, ctx, h->mul(ctx, b, b)), 2, (int64_t[]){1, m});
    ferry_tensor_t *d = h->add(ctx, ra, rb);
    return h->relu(ctx, h->sub(ctx, d, h->scale(ctx, h->matmul(ctx, a, b, false, true), 2.0f)));
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
    /* the diagonals of k(s, s) and k(t, t) are exactly KERNELS each (distance 0): taken out of the sums */
    ferry_tensor_t *ss = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, s), inv_m));
    ferry_tensor_t *tt = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, t, t), inv_m));
    ferry_tensor_t *st = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, t), inv_m));
    ferry_tensor_t *diag = h->constant(ctx, 2.0f * n * KERNELS, 1, (int64_t[]){1});
    ferry_tensor_t *within = h->sub(ctx, h->add(ctx, ss, tt), diag);
    return h->sub(ctx, h->scale(ctx, within, 1.0f / (n * (n - 1.0f))), h->scale(ctx, st, 2.0f / (n * n)));
}

static ferry_tensor_t *mmd(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t, bool quadratic,
                           double bandwidth)
{
    ferry_tensor_t *mean = joint_mean(h, ctx, s, t);
    s = h->sub(ctx, s, mean);
    t = h->sub(ctx, t, mean);
    ferry_tensor_t *inv_m = bandwidth > 0 ? h->constant(ctx, (float)(1.0 / bandwidth), 1, (int64_t[]){1})
                                          : inv_bandwidth(h, ctx, s, t);
    return quadratic ? mmd_quadratic(h, ctx, s, t, inv_m) : mmd_linear(h, ctx, s, t, inv_m);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const bool quadratic = h->hparam(run, "estimator") != 0;
    if (quadratic ? t->batch < 2 : t->batch < 2 || t->batch % 2) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "dan: the %s estimator needs an %sbatch of at least 2 (got %d)",
                 quadratic ? "quadratic" : "linear", quadratic ? "" : "even ", t->batch);
        return NULL;
    }
    const double bw = h->hparam(run, "bandwidth");
    ferry_tensor_t *d = mmd(h, ctx, t->features_s, t->features_t, quadratic, bw);
    if (h->hparam(run, "layers") >= 2)
        d = h->add(ctx, d, mmd(h, ctx, h->softmax(ctx, t->logits_s), h->softmax(ctx, t->logits_t), quadratic, bw));
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f),
                  h->scale(ctx, d, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the MMD term"},
    {"estimator", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED,
     "0: linear-time unbiased (even batch), 1: quadratic unbiased"},
    {"layers", FERRY_HP_INT, 1, 1, 2, FERRY_SWEEP_FIXED, "1: features; 2: features and softmax outputs"},
    {"bandwidth", FERRY_HP_FLOAT, 0, 0, 1e6, FERRY_SWEEP_FIXED,
     "base bandwidth m, the same for every layer (0: the batch's mean squared distance)"},
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
