/* A phase repeated by a FLOAT hyperparameter: the loader must refuse it. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

static const ferry_hparam hparams[] = {
    {"times", FERRY_HP_FLOAT, 1.0, 1.0, 4.0, FERRY_SWEEP_FIXED, "not a count"},
};

static const ferry_phase phases[] = {{.name = "only", .loss = loss, .repeat = "times"}};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "broken-phases",
    .summary = "a phase repeated by a float",
    .citation = "-",
    .hparams = hparams,
    .n_hparams = 1,
    .loss = loss,
    .phases = phases,
    .n_phases = 1,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
