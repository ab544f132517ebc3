/* A plugin built for another ABI version: must be refused. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION + 41,
    .size = sizeof(ferry_method),
    .name = "from-the-future",
    .summary = "a method built against another ABI",
    .citation = "-",
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
