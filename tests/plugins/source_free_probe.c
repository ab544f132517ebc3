/* A source-free method, for the hook tests: it fails its step when the host hands it any source
 * tensor; its loss is the target's mean entropy. */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    if (t->features_s || t->logits_s || t->labels_s || t->ids_s) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "source-free-probe: the host gave a source tensor");
        return NULL;
    }
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *lp = h->log_softmax(ctx, t->logits_t);
    return h->scale(ctx, h->sum(ctx, h->mul(ctx, h->exp(ctx, lp), lp)), -1.0f / (float)t->batch);
}

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "source-free-probe",
    .summary = "target entropy with no source batch, for the tests",
    .citation = "-",
    .flags = FERRY_METHOD_SOURCE_FREE | FERRY_METHOD_USES_CHECKPOINT,
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
