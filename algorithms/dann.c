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
 * scales the reversed gradient that reaches the features. */
#include "ferry/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct dann {
    ferry_tensor_t *lambda;
    int depth, bn;
};

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    struct dann *s = calloc(1, sizeof *s);
    if (!s) return h->error(FERRY_PLUGIN_ERR_NOMEM, "dann: out of memory");
    h->set_state(run, s);
    s->depth = (int)h->hparam(run, "depth");
    s->bn = (int)h->hparam(run, "bn");
    int64_t width = (int64_t)h->hparam(run, "width"), in = h->feature_dim(run);
    char name[64];
    ferry_plugin_status st = 0;
    for (int i = 0; i < s->depth && !st; i++) { /* hidden layers: discriminator.0, .2, ... */
        snprintf(name, sizeof name, "discriminator.%d", 2 * i);
        st = h->linear_init(run, name, i == 0 ? in : width, width);
        snprintf(name, sizeof name, "discriminator.%d.bn", 2 * i);
        if (!st && s->bn) st = h->batch_norm_init(run, name, width);
    }
    snprintf(name, sizeof name, "discriminator.%d", 2 * s->depth);
    if (!st) st = h->linear_init(run, name, s->depth ? width : in, 1);
    if (!st) st = h->set_schedule(run, "inv", (float)h->hparam(run, "alpha"), (float)h->hparam(run, "beta"));
    s->lambda = h->scalar(run, "dann.lambda", 0.0f);
    return st ? st : (s->lambda ? 0 : h->error(FERRY_PLUGIN_ERR_INVALID, "dann: cannot make the lambda input"));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct dann *s = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t b = t->batch;
    ferry_tensor_t *z = h->grad_reverse(ctx, h->concat_batch(ctx, t->features_s, t->features_t), s->lambda);
    char name[64];
    for (int i = 0; i < s->depth; i++) {
        snprintf(name, sizeof name, "discriminator.%d", 2 * i);
        z = h->linear(run, name, z);
        snprintf(name, sizeof name, "discriminator.%d.bn", 2 * i);
        if (s->bn) z = h->batch_norm(run, name, z);
        z = h->relu(ctx, z);
    }
    snprintf(name, sizeof name, "discriminator.%d", 2 * s->depth);
    z = h->linear(run, name, z);
    ferry_tensor_t *domain = h->concat_batch(ctx, h->constant(ctx, 0.0f, 2, (int64_t[]){b, 1}),
                                             h->constant(ctx, 1.0f, 2, (int64_t[]){b, 1}));
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f), h->bce_with_logits(ctx, z, domain));
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p)
{
    struct dann *s = h->state(run);
    double gamma = h->hparam(run, "gamma");
    h->set_scalar(run, s->lambda, (float)(h->hparam(run, "trade_off") * (2.0 / (1.0 + exp(-gamma * p)) - 1.0)));
}

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the adversarial loss (scales lambda)"},
    {"gamma", FERRY_HP_FLOAT, 10.0, 0.1, 100.0, FERRY_SWEEP_LOG, "lambda(p) = 2/(1+exp(-gamma p)) - 1"},
    {"alpha", FERRY_HP_FLOAT, 10.0, 0.0, 100.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},
    {"beta", FERRY_HP_FLOAT, 0.75, 0.0, 2.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},
    {"width", FERRY_HP_INT, 100, 8, 4096, FERRY_SWEEP_FIXED, "discriminator hidden width"},
    {"depth", FERRY_HP_INT, 1, 0, 4, FERRY_SWEEP_FIXED, "discriminator hidden layers (ReLU)"},
    {"bn", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED, "1: batch norm after each hidden layer of the discriminator"},
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
