/* Pseudo-labelling (Lee, ICML 2013 workshop on challenges in representation learning), as a domain
 * adaptation baseline: before each epoch the current model labels the unlabelled target set; the
 * examples it is confident about (max_k p_k ≥ threshold) are trained on with their predicted class:
 *
 *   loss = CE(classifier(f_s), y_s) + trade_off · (1/B) Σ_i m_i · CE(classifier(f_t_i), ŷ_i)
 *   ŷ_i = argmax_k p_k(x_t_i), m_i = [max_k p_k(x_t_i) ≥ threshold], p from the model at the epoch's start
 *
 * The labels live in a table of one-hot rows (zero rows for the unconfident), refreshed by the
 * epoch hook through host->predict and read in the step by the batch's example ids; the first
 * epoch's come from the initial model (near chance from scratch: few pass the threshold, so
 * `warmup` epochs of source-only training come first by default). Each epoch's share of
 * confident target examples is printed by the hook on stderr ("pseudo-label: ..."). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry/plugin.h"

#define TABLE "pseudo_label.targets"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    if (!t->ids_t) {
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "pseudo-label: the run has no unlabelled target batch");
        return NULL;
    }
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET);
    ferry_tensor_t *q = h->gather_rows(ctx, h->table(run, TABLE, n, h->classes(run)), t->ids_t); /* [B, K] */
    ferry_tensor_t *pl = h->sum(ctx, h->mul(ctx, q, h->log_softmax(ctx, t->logits_t)));
    ferry_tensor_t *w = h->scalar(run, "pseudo_label.on", 0.0f); /* 0 during the warm-up */
    return h->add(ctx, ce, h->scale_by(ctx, pl, w, -(float)h->hparam(run, "trade_off") / (float)t->batch));
}

static ferry_plugin_status epoch_begin(ferry_run_t *run, const ferry_host_api *h, int epoch)
{
    const int warmup = (int)h->hparam(run, "warmup");
    h->set_scalar(run, h->scalar(run, "pseudo_label.on", 0.0f), epoch >= warmup ? 1.0f : 0.0f);
    if (epoch < warmup) return FERRY_PLUGIN_OK;
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET);
    const int k = h->classes(run);
    float *p = malloc((size_t)(n * k) * sizeof *p);
    if (!p) return h->error(FERRY_PLUGIN_ERR_NOMEM, "pseudo-label: out of memory");
    ferry_plugin_status s = h->predict(run, FERRY_SPLIT_UNLABELLED_TARGET, p, NULL);
    const float threshold = (float)h->hparam(run, "threshold");
    int64_t kept = 0;
    for (int64_t i = 0; i < n && !s; i++) {
        float *row = p + i * k;
        int best = 0;
        for (int c = 1; c < k; c++)
            if (row[c] > row[best]) best = c;
        const bool keep = row[best] >= threshold;
        kept += keep;
        for (int c = 0; c < k; c++) row[c] = keep && c == best ? 1.0f : 0.0f;
    }
    if (!s) s = h->table_set(run, TABLE, p);
    if (!s) fprintf(stderr, "pseudo-label: epoch %d: %lld of %lld target examples at confidence >= %.2f\n",
                    epoch + 1, (long long)kept, (long long)n, (double)threshold);
    free(p);
    return s;
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the pseudo-labelled target loss"},
    {"threshold", FERRY_HP_FLOAT, 0.9, 0.0, 1.0, FERRY_SWEEP_UNIFORM, "confidence a target example needs"},
    {"warmup", FERRY_HP_INT, 1, 0, 100, FERRY_SWEEP_FIXED, "source-only epochs before the first labelling"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "pseudo-label",
    .summary = "confident target predictions, refreshed each epoch, as training labels",
    .citation = "Lee, Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep Neural "
                "Networks, ICML 2013 Workshop on Challenges in Representation Learning",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
    .epoch_begin = epoch_begin,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
