/* A descriptor whose hyperparameter default lies outside its own range: must be refused. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

static const ferry_hparam hparams[] = {
    {"weight", FERRY_HP_FLOAT, 5.0, 0.0, 1.0, FERRY_SWEEP_FIXED, "default outside [0, 1]"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "bogus",
    .summary = "a broken descriptor",
    .citation = "-",
    .hparams = hparams,
    .n_hparams = 1,
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
