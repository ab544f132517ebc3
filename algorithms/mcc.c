/* MCC: Minimum Class Confusion (Jin, Wang, Long & Wang, ECCV 2020). Penalises how much the classifier
 * spreads its target predictions over pairs of classes, with no domain alignment:
 *
 *   Ŷ = softmax(logits_t / T)                                   (temperature scaling, [B, K])
 *   H_i = −Σ_k Ŷ_ik log Ŷ_ik,   w_i = B (1 + e^{−H_i}) / Σ_j (1 + e^{−H_j})   (held constant)
 *   C = Ŷᵀ diag(w) Ŷ                                            (class correlation, [K, K])
 *   C̃_jj' = C_jj' / Σ_j'' C_j''j'                               (category normalisation)
 *   L_MCC = (1/K) Σ_j Σ_{j'≠j} C̃_jj' = (Σ_jj' C̃_jj' − Σ_j C̃_jj) / K
 *   loss  = CE(logits_s, y_s) + trade_off · L_MCC
 *
 * The category normalisation divides each entry by the sum of its column (the paper's Eq. for C̃,
 * Σ over the first index j''); C is symmetric, so its column sums are also its row sums and each
 * column of C̃ sums to 1: Σ_jj' C̃ = K and L_MCC = 1 − tr(C̃)/K, in [0, 1). Both sums are still built
 * from C̃ in the graph. The sample weights favour confident examples (low
 * entropy) and carry no gradient (detached, as in the authors' code). The paper's defaults: T = 2.5,
 * trade-off μ = 1. The diagonal C_jj = Σ_i w_i Ŷ_ij² is computed directly (no identity matrix); a
 * column sum is floored at 1e-30, so a class no row predicts (its column all 0 in float) adds 0, not
 * NaN. */
#include "ferry/plugin.h"

#define MIN_COLUMN 1e-30f
#define MAX_COLUMN 3e38f

static ferry_tensor_t *mcc_term(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *logits, float temperature)
{
    const int64_t b = h->dim(logits, 0), k = h->dim(logits, 1);
    ferry_tensor_t *z = h->scale(ctx, logits, 1.0f / temperature);
    ferry_tensor_t *y = h->softmax(ctx, z);                                         /* Ŷ [B, K] */
    ferry_tensor_t *neg_h = h->sum_to(ctx, h->mul(ctx, y, h->log_softmax(ctx, z)), 2, (int64_t[]){b, 1}); /* −H */
    ferry_tensor_t *u = h->detach(ctx, h->add(ctx, h->exp(ctx, neg_h), h->constant(ctx, 1.0f, 2, (int64_t[]){b, 1})));
    ferry_tensor_t *w = h->scale(ctx, h->div(ctx, u, h->sum(ctx, u)), (float)b); /* [B, 1], Σ w = B */
    ferry_tensor_t *wy = h->mul(ctx, y, w);                                         /* diag(w) Ŷ */
    ferry_tensor_t *c = h->matmul(ctx, wy, y, true, false);                         /* Ŷᵀ diag(w) Ŷ, [K, K] */
    ferry_tensor_t *col = h->clamp(ctx, h->sum_to(ctx, c, 2, (int64_t[]){1, k}), MIN_COLUMN, MAX_COLUMN); /* [1, K] */
    ferry_tensor_t *diag = h->sum_to(ctx, h->mul(ctx, wy, y), 2, (int64_t[]){1, k}); /* C_jj, [1, K] */
    ferry_tensor_t *all = h->sum(ctx, h->div(ctx, c, col));
    ferry_tensor_t *trace = h->sum(ctx, h->div(ctx, diag, col));
    return h->scale(ctx, h->sub(ctx, all, trace), 1.0f / (float)k);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    if (!FERRY_HOST_HAS(h, log_softmax)) { /* after clamp in the table */
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "mcc: this host has no log_softmax / clamp");
        return NULL;
    }
    if (t->batch < 2) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "mcc: class confusion is a batch statistic: it needs a target batch of at "
                                           "least 2 (got %d)", t->batch);
        return NULL;
    }
    ferry_tensor_t *term = mcc_term(h, ctx, t->logits_t, (float)h->hparam(run, "temperature"));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, term, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the class-confusion loss (the paper's mu)"},
    {"temperature", FERRY_HP_FLOAT, 2.5, 0.1, 10.0, FERRY_SWEEP_FIXED, "temperature T of the target softmax"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "mcc",
    .summary = "minimum class confusion: penalise the normalised cross-class correlation of target predictions",
    .citation = "Jin, Wang, Long & Wang, Minimum Class Confusion for Versatile Domain Adaptation, ECCV 2020",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
