/* A method with two update phases, for the phase tests: "head" trains the model's classifier on the
 * source cross-entropy, "body" the backbone on the same loss scaled by body_weight, body_repeat
 * times per iteration. With body_weight = 0 (and no weight decay) only the classifier may change. */
#include "ferry/plugin.h"

static ferry_tensor_t *ce(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

static ferry_tensor_t *body(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    /* a scalar per phase, set from the schedule hook: the weight of the backbone's loss */
    ferry_tensor_t *w = h->scalar(run, "body_weight", 1.0f);
    return h->scale_by(h->ctx(run), ce(run, h, t), w, 1.0f);
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p)
{
    (void)p;
    h->set_scalar(run, h->scalar(run, "body_weight", 1.0f), (float)h->hparam(run, "body_weight"));
}

static const ferry_hparam hparams[] = {
    {"body_weight", FERRY_HP_FLOAT, 1.0, 0.0, 1.0, FERRY_SWEEP_FIXED, "weight of the backbone phase's loss"},
    {"body_repeat", FERRY_HP_INT, 1, 1, 4, FERRY_SWEEP_FIXED, "runs of the backbone phase per iteration"},
};

static const ferry_phase phases[] = {
    {.name = "head", .loss = ce, .updates = "classifier"},
    {.name = "body", .loss = body, .updates = "backbone", .repeat = "body_repeat"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "phase-probe",
    .summary = "two update phases (classifier, then backbone), for the tests",
    .citation = "-",
    .hparams = hparams,
    .n_hparams = 2,
    .loss = ce,
    .schedule = schedule,
    .phases = phases,
    .n_phases = 2,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
