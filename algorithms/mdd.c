/* MDD: margin disparity discrepancy (Zhang et al., ICML 2019). An adversarial classifier head f' on the
 * features, behind a gradient-reversal layer, measures how far it can disagree with the classifier f on
 * the target while agreeing with it on the source; the backbone learns features that shrink that gap.
 *
 *   loss = CE(f(s), y_s) + trade_off · [ γ · CE(f'(s), ŷ_s) + mean_t −log(1 − softmax(f'(t))[ŷ_t] + ε) ]
 *   ŷ = argmax f (no gradient),  f' = head(GRL_λ(features)),  λ(p) = grl_max · (2 / (1 + exp(−gamma p)) − 1)
 *
 * Sign convention (as in the paper's code, where transfer_loss = srcweight · CE_adv_src + nll(log(1 −
 * softmax_adv_tgt))): both bracketed terms are added. f' descends on them: it agrees with ŷ on the
 * source (weight γ) and puts little mass on ŷ_t on the target, i.e. it maximises the target disparity
 * against γ times the source one (the margin disparity); the reversed gradient makes the features
 * minimise it. (Writing the target term with a minus, γ·CE − [−log(1 − p')], would make f' agree on
 * the target and is not the method.) ε = 1e-6 keeps the log finite where p' → 1, as the reference code's
 * shifted log does. The head is `depth` hidden ReLU layers of `width` (modules mdd.head.0, .2, ...; the
 * reference's dropout is left out) ending in K logits; γ = 4 (the paper's Office-31 value), λ rises to
 * grl_max = 0.1 as the reference code's warm-start reversal layer, on training progress instead of a
 * fixed 1000 iterations; inv lr schedule as DANN's. The reported loss does not depend on λ. */
#include "discriminator.h"

#include <stdlib.h>

struct mdd {
    ferry_tensor_t *lambda;
    int depth;
};

#define EPS 1e-6f

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    if (h->classes(run) < 2)
        return h->error(FERRY_PLUGIN_ERR_INVALID, "mdd: the disparity needs at least 2 classes (got %d)", h->classes(run));
    struct mdd *s = calloc(1, sizeof *s);
    if (!s) return h->error(FERRY_PLUGIN_ERR_NOMEM, "mdd: out of memory");
    h->set_state(run, s);
    s->depth = (int)h->hparam(run, "depth");
    const int64_t width = (int64_t)h->hparam(run, "width"), in = h->feature_dim(run);
    char name[64];
    ferry_plugin_status st = 0;
    for (int i = 0; i <= s->depth && !st; i++) {
        snprintf(name, sizeof name, "mdd.head.%d", 2 * i);
        st = h->linear_init(run, name, i == 0 ? in : width, i == s->depth ? h->classes(run) : width);
    }
    if (!st) st = inv_lr_schedule(run, h);
    s->lambda = h->scalar(run, "mdd.lambda", 0.0f);
    return st ? st : (s->lambda ? 0 : h->error(FERRY_PLUGIN_ERR_INVALID, "mdd: cannot make the lambda input"));
}

/* The adversarial head's logits on GRL_λ(x). */
static ferry_tensor_t *head(ferry_run_t *run, const ferry_host_api *h, const struct mdd *s, ferry_tensor_t *x)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *z = h->grad_reverse(ctx, x, s->lambda);
    char name[64];
    for (int i = 0; i <= s->depth; i++) {
        snprintf(name, sizeof name, "mdd.head.%d", 2 * i);
        z = h->linear(run, name, z);
        if (i < s->depth) z = h->relu(ctx, z);
    }
    return z;
}

/* argmax of each row as I32 [B] (no gradient) */
static ferry_tensor_t *predictions(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *logits)
{
    return h->reshape(ctx, h->argmax_axis(ctx, logits, 1), 1, (int64_t[]){h->dim(logits, 0)});
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct mdd *s = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t b = t->batch, k = h->dim(t->logits_t, 1);
    ferry_tensor_t *adv = head(run, h, s, h->concat_batch(ctx, t->features_s, t->features_t));
    ferry_tensor_t *adv_s = h->slice_batch(ctx, adv, 0, b), *adv_t = h->slice_batch(ctx, adv, b, 2 * b);
    ferry_tensor_t *agree_s = h->cross_entropy(ctx, adv_s, predictions(h, ctx, t->logits_s), 0.0f);
    /* p'_t[ŷ_t] per row: the softmax masked by the one-hot prediction, summed over classes */
    ferry_tensor_t *hot = h->one_hot(ctx, predictions(h, ctx, t->logits_t), (int)k);
    ferry_tensor_t *p = h->sum_to(ctx, h->mul(ctx, h->softmax(ctx, adv_t), hot), 2, (int64_t[]){b, 1});
    ferry_tensor_t *one = h->constant(ctx, 1.0f + EPS, 2, (int64_t[]){1, 1});
    ferry_tensor_t *disagree_t = h->scale(ctx, h->mean(ctx, h->log(ctx, h->sub(ctx, one, p))), -1.0f);
    ferry_tensor_t *bracket = h->add(ctx, h->scale(ctx, agree_s, (float)h->hparam(run, "margin")), disagree_t);
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f),
                  h->scale(ctx, bracket, (float)h->hparam(run, "trade_off")));
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p)
{
    struct mdd *s = h->state(run);
    h->set_scalar(run, s->lambda, (float)grl_coefficient(p, h->hparam(run, "grl_max"), h->hparam(run, "gamma")));
}

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the disparity terms"},
    {"margin", FERRY_HP_FLOAT, 4.0, 1.0, 10.0, FERRY_SWEEP_LOG, "margin factor gamma (source agreement weight)"},
    {"grl_max", FERRY_HP_FLOAT, 0.1, 0.001, 10.0, FERRY_SWEEP_LOG, "the reversal coefficient's final value"},
    {"gamma", FERRY_HP_FLOAT, 10.0, 0.1, 100.0, FERRY_SWEEP_FIXED, "lambda(p) = grl_max (2/(1+exp(-gamma p)) - 1)"},
    {"alpha", FERRY_HP_FLOAT, 10.0, 0.0, 100.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},
    {"beta", FERRY_HP_FLOAT, 0.75, 0.0, 2.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},
    {"width", FERRY_HP_INT, 500, 8, 4096, FERRY_SWEEP_FIXED, "adversarial head hidden width"},
    {"depth", FERRY_HP_INT, 1, 0, 4, FERRY_SWEEP_FIXED, "adversarial head hidden layers (ReLU)"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "mdd",
    .summary = "margin disparity discrepancy: an adversarial head disagreeing with the classifier on the target",
    .citation = "Zhang et al., Bridging Theory and Algorithm for Domain Adaptation, ICML 2019",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .setup = setup,
    .loss = loss,
    .schedule = schedule,
    .teardown = teardown,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
