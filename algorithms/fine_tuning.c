/* Fine-tuning: every layer trains on the labelled target examples, the pretrained backbone with a
 * smaller learning rate (backbone_lr_mult), optionally with its first k blocks frozen and with L2-SP
 * regularisation toward the pretrained weights (Li et al., ICML 2018):
 *
 *   loss = CE(classifier(f_t), y_t) + l2sp/2 · Σ_backbone ‖w − w0‖²
 *
 * Without a checkpoint it trains the same network from scratch (learning-rate multiplier 1): the
 * baseline that transfer must beat on the same labels. */
#include "finetune.h"

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    ferry_plugin_status s = finetune_start(run, h, h->hparam(run, "new_head") != 0);
    int k = (int)h->hparam(run, "freeze_blocks");
    if (!s && k > 0 && h->has_checkpoint(run)) s = h->freeze_backbone(run, k);
    return s;
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *l = h->cross_entropy(ctx, t->logits_t, t->labels_t, 0.0f);
    const double alpha = h->hparam(run, "l2sp");
    if (alpha > 0 && h->has_checkpoint(run)) {
        ferry_tensor_t *reg = NULL;
        for (int i = 0; i < h->backbone_param_count(run); i++) {
            ferry_tensor_t *w, *w0;
            if (h->backbone_param_and_start(run, i, &w, &w0)) return NULL;
            ferry_tensor_t *d = h->sub(ctx, w, w0);
            ferry_tensor_t *sq = h->sum(ctx, h->mul(ctx, d, d));
            reg = reg ? h->add(ctx, reg, sq) : sq;
        }
        if (reg) l = h->add(ctx, l, h->scale(ctx, reg, (float)(alpha / 2)));
    }
    return l;
}

static const ferry_hparam hparams[] = {
    FINETUNE_LR_HPARAM,
    {"freeze_blocks", FERRY_HP_INT, 0, 0, 16, FERRY_SWEEP_FIXED, "freeze the first k backbone blocks"},
    {"l2sp", FERRY_HP_FLOAT, 0.0, 0.0, 10.0, FERRY_SWEEP_FIXED, "L2-SP weight toward the pretrained backbone (0: off)"},
    {"new_head", FERRY_HP_BOOL, 1, 0, 1, FERRY_SWEEP_FIXED, "draw a new classifier head"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "fine-tuning",
    .summary = "all layers on the labelled target examples, backbone at a lower rate; from scratch without --init",
    .citation = "Yosinski et al., How transferable are features in deep neural networks?, NeurIPS 2014; "
                "L2-SP: Li et al., ICML 2018",
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
