/* DANN: domain-adversarial training (Ganin et al., JMLR 2016). A domain discriminator learns to tell
 * source features from target features; a gradient-reversal layer between it and the backbone makes
 * the backbone learn features the discriminator cannot separate, while the classifier keeps them
 * discriminative for the labelled source.
 *
 *   loss = CE(classifier(f_s), y_s) + BCE(discriminator(GRL_λ([f_s; f_t])), [0…0; 1…1])
 *   λ(p) = trade_off · (2 / (1 + exp(−γ p)) − 1),  lr(p) = lr0 / (1 + α p)^β   (p: progress 0→1)
 *
 * The discriminator is an MLP of `depth` hidden layers of `width` units with ReLU (linear layers
 * "discriminator.0", ".2", ...; depth 0 makes it linear) ending in one logit; source is domain 0,
 * target domain 1, and the BCE is the mean over the 2B rows. It trains at the base learning rate (lr
 * multiplier 1, as in the paper's digit experiments; TLlib's lower rate for a pretrained backbone
 * does not apply to a LeNet trained from scratch). The reported loss does not depend on λ: λ only
 * scales the reversed gradient that reaches the features. The discriminator, λ(p) and the lr schedule
 * live in discriminator.h, shared with CDAN and BSP. */
#include "discriminator.h"

#include <stdlib.h>

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    return discriminator_on_features(run, h, "dann");
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct discriminator *s = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *adv = discriminator_bce(run, h, s, h->concat_batch(ctx, t->features_s, t->features_t), t->batch);
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f), adv);
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p) { discriminator_schedule(run, h, h->state(run), p); }

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static const ferry_hparam hparams[] = {
    DISCRIMINATOR_HPARAMS(100, 1),
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "dann",
    .summary = "domain-adversarial training: gradient reversal against a domain discriminator",
    .citation = "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 17(59), 2016",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .setup = setup,
    .loss = loss,
    .schedule = schedule,
    .teardown = teardown,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
