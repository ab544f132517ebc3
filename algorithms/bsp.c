/* BSP: batch spectral penalization (Chen et al., ICML 2019), on DANN. Adversarial alignment tends to
 * let a few directions with the largest singular values dominate the features and hurt their
 * discriminability; BSP penalises the k largest singular values of each domain's batch feature matrix:
 *
 *   loss = CE(classifier(f_s), y_s) + BCE(D(GRL_λ([F_s; F_t])), [0…0; 1…1]) + β Σ_{i≤k} (σ_i(F_s)² + σ_i(F_t)²)
 *
 * with DANN's discriminator, λ(p) and lr schedule (discriminator.h). σ_i² comes from power iteration
 * on the batch's Gram matrix in the graph, deflated for k > 1 (spectral.h). Defaults from the paper:
 * k = 1, β = 1e-4 (hyperparameter `penalty`: `beta` is the lr
 * schedule's); the discriminator is DANN's (one hidden layer of 100). The paper's β suits its 256-d
 * bottleneck features; LeNet's 768 unnormalised features trained from scratch have Σσ₁² ≈ 6600 over
 * the two domains of a batch of 64 at the first step, so β = 1e-4 adds ≈ 0.66 and the features
 * collapse on mnist->optdigits (chance accuracy after 2 epochs), while β = 1e-6 trains. */
#include "discriminator.h"
#include "spectral.h"

#include <stdlib.h>

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    return discriminator_on_features(run, h, "bsp");
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct discriminator *s = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    const int k = (int)h->hparam(run, "k"), iterations = (int)h->hparam(run, "iterations");
    const int64_t rank = t->batch < h->dim(t->features_s, 1) ? t->batch : h->dim(t->features_s, 1);
    if (k > rank) {
        h->error(FERRY_PLUGIN_ERR_INVALID,
                 "bsp: k = %d singular values asked, but a batch of %d rows of %lld features has at most %lld", k,
                 t->batch, (long long)h->dim(t->features_s, 1), (long long)rank);
        return NULL;
    }
    ferry_tensor_t *adv = discriminator_bce(run, h, s, h->concat_batch(ctx, t->features_s, t->features_t), t->batch);
    ferry_tensor_t *pen = h->add(ctx, spectral_squared_singular_values(h, ctx, t->features_s, k, iterations, false),
                                 spectral_squared_singular_values(h, ctx, t->features_t, k, iterations, false));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, h->add(ctx, ce, adv), h->scale(ctx, pen, (float)h->hparam(run, "penalty")));
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p) { discriminator_schedule(run, h, h->state(run), p); }

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static const ferry_hparam hparams[] = {
    DISCRIMINATOR_HPARAMS(100, 1),
    {"penalty", FERRY_HP_FLOAT, 1e-4, 1e-6, 1.0, FERRY_SWEEP_LOG, "beta, the weight of the spectral penalty"},
    {"k", FERRY_HP_INT, 1, 1, 16, FERRY_SWEEP_FIXED, "singular values penalised per domain"},
    {"iterations", FERRY_HP_INT, 20, 1, 500, FERRY_SWEEP_FIXED, "power-iteration steps per singular value"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "bsp",
    .summary = "batch spectral penalization on DANN: the largest singular values of the batch features penalised",
    .citation = "Chen et al., Transferability vs. Discriminability: Batch Spectral Penalization for Adversarial "
                "Domain Adaptation, ICML 2019",
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
