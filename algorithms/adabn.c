/* AdaBN: adaptive batch normalisation (Li et al., Pattern Recognition 2018; arXiv 2016). Training is
 * source-only; for the target, every batch-norm layer normalises with statistics estimated on the
 * target's own (unlabelled) images instead of the source's:
 *
 *   loss = CE(classifier(f_s), y_s)
 *   at evaluation on the target: μ_j, σ²_j of each BN layer j ← statistics of that layer's inputs
 *   over the target training images; source validation keeps the source's statistics.
 *
 * The host re-estimates (FERRY_METHOD_TARGET_BN): before each evaluation of the target splits it runs
 * the unlabelled target images through the backbone in training mode (at least 100 batches, cycling;
 * the layers' own momentum, so with PyTorch's 0.1 the source's statistics keep under 3e-5 of their
 * weight; the paper averages over the whole target set), evaluates, and puts the source's back. It
 * needs an architecture with batch norm (`--arch resnet`; LeNet has none and is refused). */
#include "ferry/plugin.h"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    return h->cross_entropy(h->ctx(run), t->logits_s, t->labels_s, 0.0f);
}

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "adabn",
    .summary = "source-only training; target batch-norm statistics at evaluation",
    .citation = "Li et al., Adaptive Batch Normalization for Practical Domain Adaptation, Pattern Recognition 2018",
    .flags = FERRY_METHOD_TARGET_BN,
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
