/* AFN: Adaptive Feature Norm (Xu, Li, Yang & Lin, "Larger Norm More Transferable", ICCV 2019). Target
 * features with small norms are the ones the classifier gets wrong; AFN enlarges the feature norms of
 * both domains.
 *
 * SAFN (stepwise, the default): each step asks every row for a norm Δr larger than it has now,
 *   term = mean over the 2B rows h_i of [f_s; f_t] of (‖h_i‖.detach() + Δr − ‖h_i‖)²
 *   loss = CE(logits_s, y_s) + trade_off · term
 * The value of the term is always Δr² (the detached norm cancels the live one); its gradient,
 * −2Δr/(2B) · h_i/‖h_i‖, pushes every row outward by the same step. Without the detach the term would
 * be the constant Δr² and do nothing.
 * HAFN (hard, `radius` R > 0): the mean norm of each domain is pulled to R,
 *   term = (mean_i ‖h_s,i‖ − R)² + (mean_i ‖h_t,i‖ − R)².
 *
 * Defaults from the paper: Δr = 1, λ = 0.05 (also used here for HAFN), R = 25 for HAFN. The mean is
 * over source and target rows together, as the paper writes the loss (λ / (n_s + n_t) Σ over both
 * domains); the authors' code adds the two per-domain means instead, twice this term for equal
 * batches. ‖h‖ is √(Σ h² + 1e-12), so a row of zeros (dead ReLUs) gets a zero gradient, not NaN. The
 * paper applies AFN to a bottleneck layer with L2-preserving dropout; here it acts on the backbone's
 * features as they are.
 * Measured on mnist->optdigits (LeNet from scratch, its 768 conv features, SGD lr 0.01, 2 epochs): at
 * the paper's λ = 0.05 both SAFN and HAFN (R = 25) blow the feature norms up in the first epoch (loss
 * > 5, then dead ReLUs and chance accuracy), SAFN still does at λ = 0.005; at λ = 0.001 both train
 * (target test 54.6% SAFN, 59.6% HAFN; source-only 57.9%). The paper's defaults are for a pretrained
 * ResNet-50 with a bottleneck; on other backbones sweep λ from its low end. */
#include "ferry/plugin.h"

#define NORM_EPS 1e-12f

/* ‖x_i‖ per row of [n, d], as [n, 1] */
static ferry_tensor_t *row_norms(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    const int64_t n = h->dim(x, 0);
    ferry_tensor_t *sq = h->sum_to(ctx, h->mul(ctx, x, x), 2, (int64_t[]){n, 1});
    return h->sqrt(ctx, h->add(ctx, sq, h->constant(ctx, NORM_EPS, 2, (int64_t[]){n, 1})));
}

static ferry_tensor_t *stepwise(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *fs, ferry_tensor_t *ft, float delta_r)
{
    ferry_tensor_t *norm = row_norms(h, ctx, h->concat_batch(ctx, fs, ft));
    const int64_t n = h->dim(norm, 0);
    ferry_tensor_t *goal = h->add(ctx, h->detach(ctx, norm), h->constant(ctx, delta_r, 2, (int64_t[]){n, 1}));
    ferry_tensor_t *d = h->sub(ctx, goal, norm);
    return h->mean(ctx, h->mul(ctx, d, d));
}

static ferry_tensor_t *hard(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *f, float radius)
{
    ferry_tensor_t *d = h->sub(ctx, h->mean(ctx, row_norms(h, ctx, f)), h->constant(ctx, radius, 1, (int64_t[]){1}));
    return h->mul(ctx, d, d);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    if (!FERRY_HOST_HAS(h, sqrt)) {
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "afn: this host has no sqrt");
        return NULL;
    }
    const double radius = h->hparam(run, "radius");
    ferry_tensor_t *term = radius > 0 ? h->add(ctx, hard(h, ctx, t->features_s, (float)radius),
                                               hard(h, ctx, t->features_t, (float)radius))
                                      : stepwise(h, ctx, t->features_s, t->features_t, (float)h->hparam(run, "delta_r"));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, term, (float)h->hparam(run, "trade_off")));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 0.05, 0.001, 1.0, FERRY_SWEEP_LOG, "weight of the feature-norm term (the paper's lambda)"},
    {"delta_r", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_FIXED, "SAFN: the norm increment asked of every row per step"},
    {"radius", FERRY_HP_FLOAT, 0.0, 0.0, 1000.0, FERRY_SWEEP_FIXED,
     "0: SAFN (stepwise); > 0: HAFN, the mean norm of each domain pulled to this R (the paper's 25)"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "afn",
    .summary = "adaptive feature norm: enlarge the feature norms of both domains (stepwise SAFN, or HAFN to a radius)",
    .citation = "Xu, Li, Yang & Lin, Larger Norm More Transferable: An Adaptive Feature Norm Approach for UDA, ICCV 2019",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
