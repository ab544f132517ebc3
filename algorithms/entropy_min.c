/* Entropy minimisation (Grandvalet & Bengio, NIPS 2004), as a domain-adaptation baseline: the
 * labelled source trains the classifier and the unlabelled target is pushed towards confident
 * predictions (low-density decision boundaries):
 *
 *   loss = CE(logits_s, y_s) + trade_off · mean_i H(p_i),   p_i = softmax(logits_t_i),
 *   H(p) = −Σ_k p_k log p_k
 *
 * H is written as −Σ_k softmax·log_softmax, so a class with p_k = 0 in float adds exactly 0 (no
 * 0 · log 0). The default weight 0.1 is a common one for a target-entropy term added to a DA loss
 * (e.g. λ = 0.1 for the entropy term of Saito et al.'s MME, ICCV 2019); the paper itself chooses its
 * weight on validation data, so it is swept log-uniformly over [0.01, 10]. */
#include "ferry/plugin.h"

/* mean over the rows of [N, K] logits of the entropy of their softmax, a scalar */
static ferry_tensor_t *mean_entropy(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *logits)
{
    ferry_tensor_t *plogp = h->mul(ctx, h->softmax(ctx, logits), h->log_softmax(ctx, logits));
    return h->scale(ctx, h->sum(ctx, plogp), -1.0f / (float)h->dim(logits, 0));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    if (!FERRY_HOST_HAS(h, log_softmax)) {
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "entropy-min: this host has no log_softmax");
        return NULL;
    }
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, mean_entropy(h, ctx, t->logits_t), (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 0.1, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the mean target entropy"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "entropy-min",
    .summary = "minimise the entropy of the target predictions (a DA baseline)",
    .citation = "Grandvalet & Bengio, Semi-supervised Learning by Entropy Minimization, NIPS 2004",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
