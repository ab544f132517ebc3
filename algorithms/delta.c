/* DELTA (Li et al., ICLR 2019), for fine-tuning: keep the outer-layer feature maps of the network
 * being fine-tuned close to those of the starting network on the same target images, and the new
 * head small:
 *
 *   loss = CE(classifier(f_t), y_t) + α Σ_l ½ ‖FM_l(x_t; w) − FM_l(x_t; w⁰)‖² / B  (+ β ½ ‖w_head‖²)
 *
 * FM_l the outputs of the backbone's blocks (host->tap): the last `layers` of those Ferry's
 * architectures mark ("layer1".."layer4" of the ResNets, LeNet's pooled stages "features.2" and
 * "features.5"), w⁰ a frozen copy of the starting network (host->model_copy, FERRY_COPY_FROZEN,
 * evaluation mode). The paper weights each channel by a supervised attention, each channel's effect
 * on the starting network's loss when it is removed; Ferry weights the channels uniformly (the
 * paper's "feature map" variant, TLlib's BehavioralRegularization). The head's L2 (β) is the
 * optimizer's weight decay, which every parameter has (--weight-decay, 5e-4 by default). Defaults:
 * α = 0.01 (TLlib's), 1 layer. The feature-map distance ½ Σ_l ‖·‖² / B is the metric
 * `feature_map_distance`. */
#include <string.h>

#include "finetune.h"

static const char *const blocks[] = {"features.2", "features.5", "layer1", "layer2", "layer3", "layer4"};
#define N_BLOCKS (int)(sizeof blocks / sizeof blocks[0])

static bool is_block(const char *name)
{
    for (int i = 0; i < N_BLOCKS; i++)
        if (!strcmp(name, blocks[i])) return true;
    return false;
}

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    ferry_plugin_status s = finetune_start(run, h, true);
    return s ? s : h->model_copy(run, "start", FERRY_COPY_FROZEN, NULL);
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_step_tensors start;
    if (h->copy_forward(run, "start", false, &start)) return NULL;
    /* the marked blocks, in forward order; the last `layers` of them */
    const char *found[N_BLOCKS];
    int n = 0;
    for (int i = 0; h->tap_name(run, NULL, i); i++)
        if (is_block(h->tap_name(run, NULL, i)) && n < N_BLOCKS) found[n++] = h->tap_name(run, NULL, i);
    const int layers = (int)h->hparam(run, "layers");
    if (n < layers) {
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "delta: %d block outputs asked, the architecture marks %d", layers, n);
        return NULL;
    }
    ferry_tensor_t *reg = NULL;
    for (int i = n - layers; i < n; i++) {
        ferry_tensor_t *d = h->sub(ctx, h->tap(run, NULL, found[i], FERRY_TAP_TARGET),
                                   h->detach(ctx, h->tap(run, "start", found[i], FERRY_TAP_TARGET)));
        ferry_tensor_t *sq = h->sum(ctx, h->mul(ctx, d, d));
        reg = reg ? h->add(ctx, reg, sq) : sq;
    }
    if (h->metric(run, "feature_map_distance", h->scale(ctx, reg, 0.5f / (float)t->batch))) return NULL;
    return h->add(ctx, h->cross_entropy(ctx, t->logits_t, t->labels_t, 0.0f),
                  h->scale(ctx, reg, (float)h->hparam(run, "alpha") * 0.5f / (float)t->batch));
}

static const ferry_hparam hparams[] = {
    {"alpha", FERRY_HP_FLOAT, 0.01, 1e-4, 10.0, FERRY_SWEEP_LOG, "weight of the feature-map distance"},
    {"layers", FERRY_HP_INT, 1, 1, 4, FERRY_SWEEP_FIXED, "block outputs regularised, from the last"},
    FINETUNE_LR_HPARAM,
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "delta",
    .summary = "fine-tuning with the outer feature maps held near the starting network's",
    .citation = "Li et al., DELTA: deep learning transfer using feature map with attention for convolutional "
                "networks, ICLR 2019",
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
