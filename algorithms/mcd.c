/* MCD: maximum classifier discrepancy (Saito et al., CVPR 2018). Two classifiers F1, F2 on the
 * backbone's features G(x) learn the source; then, in turn, the classifiers maximise their
 * disagreement on target features (with the backbone fixed) and the backbone minimises it (with the
 * classifiers fixed), so target features move inside the source's decision regions:
 *
 *   step A (all parameters):      CE(F1(G(x_s)), y_s) + CE(F2(G(x_s)), y_s)
 *   step B (F1, F2):              CE(F1(G(x_s)), y_s) + CE(F2(G(x_s)), y_s) − trade_off · d(x_t)
 *   step C (G), num_k times:      trade_off · d(x_t)
 *   d(x_t) = mean over the batch and the K classes of |softmax(F1(G(x_t))) − softmax(F2(G(x_t)))|
 *
 * F1 is the model's classifier (what evaluation uses); F2 is the method's own head on the features:
 * `depth` hidden layers of `width` ReLU units and a linear layer to the K classes, drawn from the
 * run's seed. Each step is a phase of the method protocol: its own graph, updating only its
 * parameters, step C run num_k times per iteration (the paper's n; 4 for its digit experiments). */
#include <stdio.h>

#include "ferry/plugin.h"

#define MAX_DEPTH 4

/* F2(f): the method's head, prefix "mcd.f2.<layer>". */
static ferry_tensor_t *second_head(ferry_run_t *run, const ferry_host_api *h, ferry_tensor_t *f)
{
    const int depth = (int)h->hparam(run, "depth");
    char name[32];
    for (int i = 0; i <= depth; i++) {
        snprintf(name, sizeof name, "mcd.f2.%d", i);
        f = h->linear(run, name, f);
        if (i < depth) f = h->relu(h->ctx(run), f);
    }
    return f;
}

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    const int depth = (int)h->hparam(run, "depth"), width = (int)h->hparam(run, "width");
    int64_t in = h->feature_dim(run);
    char name[32];
    for (int i = 0; i <= depth; i++) {
        const int64_t out = i < depth ? width : h->classes(run);
        snprintf(name, sizeof name, "mcd.f2.%d", i);
        ferry_plugin_status s = h->linear_init(run, name, in, out);
        if (s) return s;
        in = out;
    }
    return FERRY_PLUGIN_OK;
}

/* CE of both classifiers on the labelled source */
static ferry_tensor_t *source_ce(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f),
                  h->cross_entropy(ctx, second_head(run, h, t->features_s), t->labels_s, 0.0f));
}

/* trade_off · d(x_t) */
static ferry_tensor_t *discrepancy(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *p1 = h->softmax(ctx, t->logits_t), *p2 = h->softmax(ctx, second_head(run, h, t->features_t));
    return h->scale(ctx, h->mean(ctx, h->abs(ctx, h->sub(ctx, p1, p2))), (float)h->hparam(run, "trade_off"));
}

static ferry_tensor_t *step_b(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->sub(h->ctx(run), source_ce(run, h, t), discrepancy(run, h, t));
}

/* step C, reporting the discrepancy it minimises (before its update) as a metric */
static ferry_tensor_t *step_c(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_tensor_t *d = discrepancy(run, h, t);
    return h->metric(run, "discrepancy", d) ? NULL : d;
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the discrepancy in steps B and C"},
    {"num_k", FERRY_HP_INT, 4, 1, 8, FERRY_SWEEP_FIXED, "step C (the backbone) per iteration (the paper's n)"},
    {"depth", FERRY_HP_INT, 1, 0, MAX_DEPTH, FERRY_SWEEP_FIXED, "hidden layers of the second classifier"},
    {"width", FERRY_HP_INT, 100, 8, 4096, FERRY_SWEEP_FIXED, "hidden width of the second classifier"},
};

static const ferry_phase phases[] = {
    {.name = "a_source", .loss = source_ce, .updates = "all"},
    {.name = "b_classifiers", .loss = step_b, .updates = "classifier,mcd.f2."},
    {.name = "c_backbone", .loss = step_c, .updates = "backbone", .repeat = "num_k"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "mcd",
    .summary = "two classifiers maximise, the backbone minimises, their disagreement on the target (3 phases)",
    .citation = "Saito et al., Maximum Classifier Discrepancy for Unsupervised Domain Adaptation, CVPR 2018",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .setup = setup,
    .loss = source_ce,
    .phases = phases,
    .n_phases = sizeof phases / sizeof phases[0],
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
