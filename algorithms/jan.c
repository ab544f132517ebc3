/* JAN: joint adaptation networks (Long et al., ICML 2017). Aligns the joint distribution of the
 * features and the classifier's softmax outputs with the joint MMD, whose kernel is the product of
 * the layers' kernels:
 *
 *   loss = CE(classifier(f_s), y_s) + trade_off · JMMD²(f, g),  g = softmax(logits)
 *   k((f, g), (f', g')) = k_f(‖f − f'‖²) · k_g(‖g − g'‖²),  k_l(d) = Σ_{j=-3..1} exp(−d / (2^j m_l))
 *
 * Each layer's kernel is DAN's Gaussian multi-kernel (mmd.h) with its own bandwidth m_l, the mean
 * squared distance of that layer's joint sample (detached), or `bandwidth` > 0 for both (TLlib gives
 * the softmax layer a single fixed Gaussian instead; here both layers follow DAN's rule).
 *
 * estimator = 0: the paper's linear-time unbiased estimator, row i paired with row i + B/2 in each
 *   domain: mean_i k(s_i, s_i') + k(t_i, t_i') − k(s_i, t_i') − k(s_i', t_i), k the product kernel.
 * estimator = 1: the quadratic-time unbiased estimator over all pairs (each within-domain diagonal is
 *   exactly KERNELS² per row, taken out of the sums).
 * Gradients flow into both the features and the logits (through the softmax); the bandwidths are
 * constants for the gradient as in DAN. The product of two 5-kernel sums reaches 25 per pair (DAN's
 * single layer 5), so trade_off weighs 5x more than in DAN: on mnist->optdigits (LeNet from scratch,
 * 2 epochs) trade_off 1 collapses the features to chance accuracy, trade_off 0.2 trains well. */
#include "mmd.h"

#define LAYERS 2

/* the product over layers of k_l(d_l) */
static ferry_tensor_t *joint_kernel(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *const *d,
                                    ferry_tensor_t *const *inv_m)
{
    ferry_tensor_t *k = multi_kernel(h, ctx, d[0], inv_m[0]);
    for (int l = 1; l < LAYERS; l++) k = h->mul(ctx, k, multi_kernel(h, ctx, d[l], inv_m[l]));
    return k;
}

static ferry_tensor_t *jmmd(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t **s, ferry_tensor_t **t,
                            bool quadratic, double bandwidth)
{
    ferry_tensor_t *inv_m[LAYERS];
    for (int l = 0; l < LAYERS; l++) { /* centred by the detached joint mean row, as DAN */
        ferry_tensor_t *mean = joint_mean(h, ctx, s[l], t[l]);
        s[l] = h->sub(ctx, s[l], mean);
        t[l] = h->sub(ctx, t[l], mean);
        inv_m[l] = bandwidth > 0 ? h->constant(ctx, (float)(1.0 / bandwidth), 1, (int64_t[]){1})
                                 : inv_bandwidth(h, ctx, s[l], t[l]);
    }
    ferry_tensor_t *ss[LAYERS], *tt[LAYERS], *st[LAYERS], *ts[LAYERS];
    if (quadratic) {
        const float n = (float)h->dim(s[0], 0);
        for (int l = 0; l < LAYERS; l++) {
            ss[l] = pairwise(h, ctx, s[l], s[l]);
            tt[l] = pairwise(h, ctx, t[l], t[l]);
            st[l] = pairwise(h, ctx, s[l], t[l]);
        }
        ferry_tensor_t *within = h->add(ctx, h->sum(ctx, joint_kernel(h, ctx, ss, inv_m)),
                                        h->sum(ctx, joint_kernel(h, ctx, tt, inv_m)));
        float diag = 2.0f * n;
        for (int l = 0; l < LAYERS; l++) diag *= KERNELS;
        within = h->sub(ctx, within, h->constant(ctx, diag, 1, (int64_t[]){1}));
        return h->sub(ctx, h->scale(ctx, within, 1.0f / (n * (n - 1.0f))),
                      h->scale(ctx, h->sum(ctx, joint_kernel(h, ctx, st, inv_m)), 2.0f / (n * n)));
    }
    const int64_t half = h->dim(s[0], 0) / 2;
    for (int l = 0; l < LAYERS; l++) {
        ferry_tensor_t *s1 = h->slice_batch(ctx, s[l], 0, half), *s2 = h->slice_batch(ctx, s[l], half, 2 * half);
        ferry_tensor_t *t1 = h->slice_batch(ctx, t[l], 0, half), *t2 = h->slice_batch(ctx, t[l], half, 2 * half);
        ss[l] = paired(h, ctx, s1, s2);
        tt[l] = paired(h, ctx, t1, t2);
        st[l] = paired(h, ctx, s1, t2);
        ts[l] = paired(h, ctx, s2, t1);
    }
    ferry_tensor_t *same = h->add(ctx, joint_kernel(h, ctx, ss, inv_m), joint_kernel(h, ctx, tt, inv_m));
    ferry_tensor_t *cross = h->add(ctx, joint_kernel(h, ctx, st, inv_m), joint_kernel(h, ctx, ts, inv_m));
    return h->mean(ctx, h->sub(ctx, same, cross));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const bool quadratic = h->hparam(run, "estimator") != 0;
    if (quadratic ? t->batch < 2 : t->batch < 2 || t->batch % 2) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "jan: the %s estimator needs an %sbatch of at least 2 (got %d)",
                 quadratic ? "quadratic" : "linear", quadratic ? "" : "even ", t->batch);
        return NULL;
    }
    ferry_tensor_t *s[LAYERS] = {t->features_s, h->softmax(ctx, t->logits_s)};
    ferry_tensor_t *u[LAYERS] = {t->features_t, h->softmax(ctx, t->logits_t)};
    ferry_tensor_t *d = jmmd(h, ctx, s, u, quadratic, h->hparam(run, "bandwidth"));
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f),
                  h->scale(ctx, d, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the joint MMD term"},
    {"estimator", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED,
     "0: linear-time unbiased (even batch), 1: quadratic unbiased"},
    {"bandwidth", FERRY_HP_FLOAT, 0, 0, 1e6, FERRY_SWEEP_FIXED,
     "base bandwidth m, the same for both layers (0: each layer's mean squared distance)"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "jan",
    .summary = "joint MMD of features and softmax outputs with a product of multi-kernels (joint adaptation networks)",
    .citation = "Long et al., Deep Transfer Learning with Joint Adaptation Networks, ICML 2017",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
