/* Copies, taps, two views and the evaluation hook, for the hook tests. Trains on the source labels;
 * reports as metrics:
 *   tap_gap   Σ |flatten(tap "features.5") − features_t|: 0 when the tap is LeNet's last feature map;
 *   copy_gap  Σ |the frozen copy's features_t − features_t|: 0 at the first step (LeNet has neither
 *             batch norm nor dropout), then > 0 as the model moves and the copy does not;
 *   view_gap  Σ |logits_t − logits_t2| (copy_probe.views=1: FERRY_METHOD_TWO_VIEWS, both views a
 *             deterministic mirror by default).
 * With copy_probe.eval_zero=1 the evaluation head is 0 · logits: every prediction is class 0. With
 * copy_probe.trainable=1 the copy ("enc") is FERRY_COPY_TRAINABLE and twice its source cross-entropy
 * is added to the loss: it trains apart from the model. */
#include "ferry/plugin.h"

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    if (h->hparam(run, "trainable") != 0) return h->model_copy(run, "enc", FERRY_COPY_TRAINABLE, NULL);
    return h->model_copy(run, "start", FERRY_COPY_FROZEN, NULL);
}

static ferry_tensor_t *gap(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    return h->sum(ctx, h->abs(ctx, h->sub(ctx, a, b)));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *fm = h->tap(run, NULL, "features.5", FERRY_TAP_TARGET);
    if (!fm) return NULL;
    ferry_tensor_t *flat = h->reshape(ctx, fm, 2, (int64_t[]){t->batch, h->feature_dim(run)});
    ferry_step_tensors c;
    const bool trainable = h->hparam(run, "trainable") != 0;
    if (h->copy_forward(run, trainable ? "enc" : "start", false, &c)) return NULL;
    if (h->metric(run, "tap_gap", gap(h, ctx, flat, t->features_t)) ||
        h->metric(run, "copy_gap", gap(h, ctx, c.features_t, t->features_t)))
        return NULL;
    if (t->logits_t2 && h->metric(run, "view_gap", gap(h, ctx, t->logits_t, t->logits_t2))) return NULL;
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    /* twice the model's loss: the copy's step differs from the model's */
    return trainable ? h->add(ctx, ce, h->scale(ctx, h->cross_entropy(ctx, c.logits_s, t->labels_s, 0.0f), 2.0f)) : ce;
}

static ferry_tensor_t *eval_logits(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    return h->scale(ctx, t->logits_t, h->hparam(run, "eval_zero") != 0 ? 0.0f : 1.0f);
}

static const ferry_hparam hparams[] = {
    {"eval_zero", FERRY_HP_BOOL, 0, 0, 1, FERRY_SWEEP_FIXED, "evaluate with 0 · logits"},
    {"trainable", FERRY_HP_BOOL, 0, 0, 1, FERRY_SWEEP_FIXED, "a trainable copy instead of a frozen one"},
};

#ifdef TWO_VIEWS
#define NAME "views-probe"
#define FLAGS FERRY_METHOD_TWO_VIEWS
#else
#define NAME "copy-probe"
#define FLAGS 0
#endif

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = NAME,
    .summary = "copies, taps, views and the evaluation hook, for the tests",
    .citation = "-",
    .flags = FLAGS,
    .hparams = hparams,
    .n_hparams = 2,
    .setup = setup,
    .loss = loss,
    .eval_logits = eval_logits,
    .view_weak = "flip=1",
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
