/* A method as round 1's header declared it: the descriptor ends after teardown (no phases), as a
 * plugin built then would report its size. It must still load and train. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

/* the size says where round 1's descriptor ended; what lies beyond it here is garbage a host must
 * not read (a round-1 plugin has other data there) */
static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = offsetof(ferry_method, teardown) + sizeof(void *),
    .name = "round1-test",
    .summary = "source cross-entropy, with a round-1 descriptor",
    .citation = "-",
    .loss = loss,
    .phases = (const ferry_phase *)&method,
    .n_phases = 7,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
