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
 * r_i + r_j − 2 x_i·x_j loses less to cancellation in single precision. The kernel helpers and the
 * estimators live in mmd.h, shared with JAN. */
#include "mmd.h"

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
