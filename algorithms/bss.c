/* BSS: batch spectral shrinkage (Chen et al., NeurIPS 2019), for fine-tuning. Fine-tuning on few
 * target labels lets the features' small singular values, the directions the source knowledge cannot
 * transfer through, grow into negative transfer; BSS shrinks the k smallest singular values of the
 * batch's feature matrix F [B, D]:
 *
 *   loss = CE(classifier(f_t), y_t) + η Σ_{i≤k} σ_{−i}(F)²
 *
 * σ_{−i}² from the batch's Gram matrix in the graph: the top eigenvector of c I − G by 12 repeated
 * squarings (as 4096 power steps; spectral.h). Defaults from the paper: k = 1, η = 0.001. The rest
 * as fine-tuning (the backbone at backbone_lr_mult, a new head): BSS is a regulariser on top of it.
 * The penalty is the metric `shrunk_sigma2`. */
#include "finetune.h"
#include "spectral.h"

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    return finetune_start(run, h, true); /* from scratch: the regulariser alone */
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int k = (int)h->hparam(run, "k");
    const int64_t rank = t->batch < h->dim(t->features_t, 1) ? t->batch : h->dim(t->features_t, 1);
    if (k > rank) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "bss: k = %d singular values asked of a batch of rank at most %lld", k,
                 (long long)rank);
        return NULL;
    }
    ferry_tensor_t *pen = spectral_squared_singular_values(h, ctx, t->features_t, k, (int)h->hparam(run, "squarings"), true);
    if (h->metric(run, "shrunk_sigma2", pen)) return NULL;
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_t, t->labels_t, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, pen, (float)h->hparam(run, "eta")));
}

static const ferry_hparam hparams[] = {
    {"eta", FERRY_HP_FLOAT, 0.001, 1e-5, 1.0, FERRY_SWEEP_LOG, "weight of the spectral shrinkage"},
    {"k", FERRY_HP_INT, 1, 1, 16, FERRY_SWEEP_FIXED, "smallest singular values shrunk"},
    {"squarings", FERRY_HP_INT, 12, 1, 24, FERRY_SWEEP_FIXED, "repeated squarings per singular value (2^s power steps)"},
    FINETUNE_LR_HPARAM,
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "bss",
    .summary = "fine-tuning with the batch features' smallest singular values shrunk",
    .citation = "Chen et al., Catastrophic forgetting meets negative transfer: batch spectral shrinkage for "
                "safe transfer learning, NeurIPS 2019",
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
