/* FixMatch (Sohn et al., NeurIPS 2020) for domain adaptation: the labelled source and, on the
 * unlabelled target, pseudo-labels from a weakly augmented view trained on a strongly augmented view
 * of the same images (FERRY_METHOD_TWO_VIEWS):
 *
 *   loss = CE(f(x_s), y_s) + λ_u · (1/B) Σ_i m_i · CE(f(A(x_t_i)), ŷ_i)
 *   ŷ_i = argmax_k p(α(x_t_i))_k,   m_i = [max_k p(α(x_t_i))_k ≥ τ]   (p constant)
 *
 * α the weak view (translation; --augment-target replaces it), A the strong one. Defaults from the
 * paper: τ = 0.95, λ_u = 1. The paper's strong augmentation is RandAugment with Cutout; Ferry's
 * augmenter has no Cutout or posterisation, and the strong view here is the strongest of what it
 * has for digits (translation, rotation, scale, colour jitter, noise). The share of target examples
 * past τ is the metric `mask_rate`. With K labelled target examples per class (--target-labels K;
 * bench: semi_supervised) it is semi-supervised domain adaptation, as the paper's setting: half of
 * the labelled batch the CE term reads is those examples (the host's SSDA mode; nothing here
 * changes). */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int k = h->classes(run);
    ferry_tensor_t *pw = h->detach(ctx, h->softmax(ctx, t->logits_t)); /* the weak view's [B, K] */
    ferry_tensor_t *tau = h->constant(ctx, (float)h->hparam(run, "threshold"), 2, (int64_t[]){1, 1});
    ferry_tensor_t *mask = h->compare(ctx, h->max_axis(ctx, pw, 1), FERRY_HOST_CMP_GE, tau); /* [B, 1] */
    ferry_tensor_t *yhat = h->reshape(ctx, h->argmax_axis(ctx, pw, 1), 1, (int64_t[]){t->batch});
    ferry_tensor_t *q = h->mul(ctx, h->one_hot(ctx, yhat, k), mask); /* masked one-hot targets */
    ferry_tensor_t *u = h->sum(ctx, h->mul(ctx, q, h->log_softmax(ctx, t->logits_t2)));
    if (h->metric(run, "mask_rate", h->mean(ctx, mask))) return NULL;
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, u, -(float)h->hparam(run, "lambda_u") / (float)t->batch));
}

static const ferry_hparam hparams[] = {
    {"lambda_u", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the unlabelled-target loss"},
    {"threshold", FERRY_HP_FLOAT, 0.95, 0.0, 1.0, FERRY_SWEEP_UNIFORM, "confidence τ a pseudo-label needs"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "fixmatch",
    .summary = "confident pseudo-labels of a weak view trained on a strong view of the same target images",
    .citation = "Sohn et al., FixMatch: simplifying semi-supervised learning with consistency and confidence, "
                "NeurIPS 2020",
    .flags = FERRY_METHOD_TWO_VIEWS,
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
    .view_weak = "crop=3",
    .view_strong = "crop=3,rot=25,scale=0.8:1.2,jitter=0.5,noise=0.15",
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
