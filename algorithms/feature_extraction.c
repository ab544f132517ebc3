/* Feature extraction: a pretrained backbone, frozen, as a fixed feature extractor; only a new
 * classifier head is trained, on the labelled target examples the task grants. */
#include "ferry/plugin.h"

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    if (!h->has_checkpoint(run))
        return h->error(1, "feature-extraction starts from a pretrained checkpoint: give one with --init FILE "
                           "(made by ferry pretrain)");
    ferry_plugin_status s = h->freeze_backbone(run, -1);
    return s ? s : h->reset_classifier(run);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_t, t->labels_t, (float)h->hparam(run, "label_smoothing"));
}

static const ferry_hparam hparams[] = {
    {"label_smoothing", FERRY_HP_FLOAT, 0.0, 0.0, 0.5, FERRY_SWEEP_FIXED, "label smoothing of the cross-entropy"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "feature-extraction",
    .summary = "frozen pretrained backbone, new classifier head trained on the labelled target examples",
    .citation = "Donahue et al., DeCAF: A Deep Convolutional Activation Feature for Generic Visual Recognition, ICML 2014",
    .flags = FERRY_METHOD_NEEDS_TARGET_LABELS | FERRY_METHOD_USES_CHECKPOINT,
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .setup = setup,
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
