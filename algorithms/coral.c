/* Deep CORAL (Sun & Saenko, ECCV 2016 workshops): align the second-order statistics of source and
 * target features by penalising the distance between their covariance matrices.
 *
 *   loss = CE(classifier(f_s), y_s) + trade_off · ‖C_s − C_t‖²_F / (4 d²)
 *   C = (XᵀX − (1ᵀX)ᵀ(1ᵀX) / n) / (n − 1)      for a batch X of n feature rows of width d
 *
 * This file is the worked example of plugins/GUIDE.md: one loss hook, one hyperparameter. */
#include "ferry/plugin.h"

/* The covariance of the rows of x [n, d], as [d, d]. */
static ferry_tensor_t *covariance(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    const int64_t n = h->dim(x, 0);
    ferry_tensor_t *col_sums = h->sum_to(ctx, x, 2, (int64_t[]){1, h->dim(x, 1)}); /* [1, d] */
    ferry_tensor_t *xtx = h->matmul(ctx, x, x, true, false);                    /* XᵀX, [d, d] */
    ferry_tensor_t *outer = h->matmul(ctx, col_sums, col_sums, true, false);    /* (1ᵀX)ᵀ(1ᵀX) */
    ferry_tensor_t *centred = h->sub(ctx, xtx, h->scale(ctx, outer, 1.0f / (float)n));
    return h->scale(ctx, centred, 1.0f / (float)(n - 1));
}

/* The step's loss: the source cross-entropy plus the weighted CORAL distance. */
static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const float d = (float)h->dim(t->features_s, 1);
    ferry_tensor_t *diff = h->sub(ctx, covariance(h, ctx, t->features_s), covariance(h, ctx, t->features_t));
    ferry_tensor_t *coral = h->scale(ctx, h->sum(ctx, h->mul(ctx, diff, diff)), 1.0f / (4.0f * d * d)); /* ‖·‖²_F/4d² */
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, coral, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 100.0, FERRY_SWEEP_LOG, "weight of the CORAL term"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "coral",
    .summary = "Deep CORAL: match the covariances of source and target features",
    .citation = "Sun & Saenko, Deep CORAL: Correlation Alignment for Deep Domain Adaptation, ECCV Workshops 2016",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
