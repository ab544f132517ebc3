/* Information maximisation (Krause, Perona & Gomes, NIPS 2010; the IM loss of SHOT, Liang et al.,
 * ICML 2020): the target predictions should be individually confident and, over the batch, diverse
 * (every class used), i.e. high mutual information between input and predicted class:
 *
 *   loss = CE(logits_s, y_s) + trade_off · ( mean_i H(p_i) − diversity · H(p̄) ),
 *   p_i = softmax(logits_t_i),  p̄ = mean_i p_i,  H(p) = −Σ_k p_k log p_k
 *
 * Defaults from SHOT: both weights 1 (its ent_par = 1 and an unweighted diversity term). SHOT adapts
 * a source model without source data; here, as a DA baseline, the source cross-entropy stays in the
 * loss. H(p_i) is −Σ softmax·log_softmax (exact at p_k = 0); log p̄ is taken of p̄ clamped at 1e-30,
 * where SHOT adds 1e-5 inside the log (a class whose mean probability is below 1e-30 adds 0 either
 * way). diversity = 0 is entropy minimisation. The diversity term is a batch statistic: a batch of
 * one would cancel it exactly, so it is refused. */
#include "ferry/plugin.h"

#define MIN_MEAN_PROB 1e-30f

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const double diversity = h->hparam(run, "diversity");
    if (!FERRY_HOST_HAS(h, log_softmax)) { /* after clamp in the table */
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "im: this host has no log_softmax / clamp");
        return NULL;
    }
    if (diversity > 0 && t->batch < 2) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "im: the diversity term needs a target batch of at least 2 (got %d)", t->batch);
        return NULL;
    }
    const int64_t b = h->dim(t->logits_t, 0), k = h->dim(t->logits_t, 1);
    ferry_tensor_t *p = h->softmax(ctx, t->logits_t);
    ferry_tensor_t *ent = h->scale(ctx, h->sum(ctx, h->mul(ctx, p, h->log_softmax(ctx, t->logits_t))), -1.0f / (float)b);
    ferry_tensor_t *pbar = h->scale(ctx, h->sum_to(ctx, p, 2, (int64_t[]){1, k}), 1.0f / (float)b); /* [1, K] */
    ferry_tensor_t *log_pbar = h->log(ctx, h->clamp(ctx, pbar, MIN_MEAN_PROB, 1.0f));
    ferry_tensor_t *div = h->scale(ctx, h->sum(ctx, h->mul(ctx, pbar, log_pbar)), -1.0f); /* H(p̄) */
    ferry_tensor_t *im = h->sub(ctx, ent, h->scale(ctx, div, (float)diversity));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, im, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the IM term (SHOT's ent_par)"},
    {"diversity", FERRY_HP_FLOAT, 1.0, 0.0, 10.0, FERRY_SWEEP_FIXED,
     "weight of H(mean prediction) inside the IM term (0: entropy minimisation)"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "im",
    .summary = "information maximisation: confident and diverse target predictions (SHOT's IM loss)",
    .citation = "Liang et al., Do We Really Need to Access the Source Data? Source Hypothesis Transfer for UDA, ICML 2020",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
