/* source-only: train on the labelled source domain alone, apply to the target. The baseline every
 * transfer method is compared against. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, (float)h->hparam(run, "label_smoothing"));
}

static const ferry_hparam hparams[] = {
    {"label_smoothing", FERRY_HP_FLOAT, 0.0, 0.0, 0.5, FERRY_SWEEP_FIXED,
     "label smoothing of the source cross-entropy"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "source-only",
    .summary = "cross-entropy on the labelled source only; the baseline of every comparison",
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
