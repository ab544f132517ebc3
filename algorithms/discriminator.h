/* The domain discriminator shared by the adversarial methods (DANN, CDAN, BSP): an MLP behind a
 * gradient-reversal layer, its coefficient schedule λ(p) and the "inv" learning-rate schedule.
 *
 *   z = MLP(GRL_λ(x)),  MLP: `depth` hidden layers of `width` units with ReLU (optional batch norm),
 *       linear layers PREFIX.0, .2, ... (PyTorch's Sequential numbering), ending in one logit
 *   λ(p) = scale · (2 / (1 + exp(−γ p)) − 1)            (p: training progress 0 → 1)
 *   lr(p) = lr0 / (1 + α p)^β
 *
 * The methods include this header; its functions are static inline so that a method that does not
 * use one of them compiles cleanly under -Werror. The hyperparameters it reads (trade_off, gamma,
 * alpha, beta, width, depth, bn) are declared in each method's table with DISCRIMINATOR_HPARAMS. */
#ifndef FERRY_ALGORITHMS_DISCRIMINATOR_H
#define FERRY_ALGORITHMS_DISCRIMINATOR_H

#include "ferry/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct discriminator {
    ferry_tensor_t *lambda; /* the reversal coefficient, set before every step */
    int depth, bn;
    const char *prefix;     /* "discriminator" */
};

/* The hyperparameter rows the discriminator reads; WIDTH and DEPTH are the hidden width's and the
 * number of hidden layers' defaults. */
#define DISCRIMINATOR_HPARAMS(WIDTH, DEPTH)                                                                                   \
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the adversarial loss (scales lambda)"},  \
    {"gamma", FERRY_HP_FLOAT, 10.0, 0.1, 100.0, FERRY_SWEEP_LOG, "lambda(p) = 2/(1+exp(-gamma p)) - 1"},               \
    {"alpha", FERRY_HP_FLOAT, 10.0, 0.0, 100.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},                \
    {"beta", FERRY_HP_FLOAT, 0.75, 0.0, 2.0, FERRY_SWEEP_FIXED, "lr(p) = lr0 / (1 + alpha p)^beta"},                   \
    {"width", FERRY_HP_INT, WIDTH, 8, 4096, FERRY_SWEEP_FIXED, "discriminator hidden width"},                          \
    {"depth", FERRY_HP_INT, DEPTH, 0, 4, FERRY_SWEEP_FIXED, "discriminator hidden layers (ReLU)"},                         \
    {"bn", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED, "1: batch norm after each hidden layer of the discriminator"}

/* λ(p) = scale · (2 / (1 + exp(−γ p)) − 1): 0 at p = 0, rising to about `scale`. */
static inline double grl_coefficient(double p, double scale, double gamma)
{
    return scale * (2.0 / (1.0 + exp(-gamma * p)) - 1.0);
}

/* The inv learning-rate schedule from the alpha and beta hyperparameters. */
static inline ferry_plugin_status inv_lr_schedule(ferry_run_t *run, const ferry_host_api *h)
{
    return h->set_schedule(run, "inv", (float)h->hparam(run, "alpha"), (float)h->hparam(run, "beta"));
}

/* Creates the discriminator's layers on `in` input units, the lr schedule and the λ input (named
 * lambda_name); method names the caller in messages. */
static inline ferry_plugin_status discriminator_setup(ferry_run_t *run, const ferry_host_api *h, struct discriminator *d,
                                                      int64_t in, const char *lambda_name, const char *method)
{
    d->prefix = "discriminator";
    d->depth = (int)h->hparam(run, "depth");
    d->bn = (int)h->hparam(run, "bn");
    const int64_t width = (int64_t)h->hparam(run, "width");
    char name[64];
    ferry_plugin_status st = 0;
    for (int i = 0; i < d->depth && !st; i++) { /* hidden layers: discriminator.0, .2, ... */
        snprintf(name, sizeof name, "%s.%d", d->prefix, 2 * i);
        st = h->linear_init(run, name, i == 0 ? in : width, width);
        snprintf(name, sizeof name, "%s.%d.bn", d->prefix, 2 * i);
        if (!st && d->bn) st = h->batch_norm_init(run, name, width);
    }
    snprintf(name, sizeof name, "%s.%d", d->prefix, 2 * d->depth);
    if (!st) st = h->linear_init(run, name, d->depth ? width : in, 1);
    if (!st) st = inv_lr_schedule(run, h);
    d->lambda = h->scalar(run, lambda_name, 0.0f);
    return st ? st : (d->lambda ? 0 : h->error(FERRY_PLUGIN_ERR_INVALID, "%s: cannot make the lambda input", method));
}

/* The common setup: a discriminator on the backbone's features as the method's state (freed by
 * teardown), its schedule scalar "NAME.lambda" (DANN, BSP). */
static inline ferry_plugin_status discriminator_on_features(ferry_run_t *run, const ferry_host_api *h, const char *name)
{
    struct discriminator *s = calloc(1, sizeof *s);
    if (!s) return h->error(FERRY_PLUGIN_ERR_NOMEM, "%s: out of memory", name);
    h->set_state(run, s);
    char lambda[64];
    snprintf(lambda, sizeof lambda, "%s.lambda", name);
    return discriminator_setup(run, h, s, h->feature_dim(run), lambda, name);
}

/* The discriminator's logits [N, 1] on GRL_λ(x), x [N, in]. */
static inline ferry_tensor_t *discriminator_logits(ferry_run_t *run, const ferry_host_api *h,
                                                   const struct discriminator *d, ferry_tensor_t *x)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *z = h->grad_reverse(ctx, x, d->lambda);
    char name[64];
    for (int i = 0; i < d->depth; i++) {
        snprintf(name, sizeof name, "%s.%d", d->prefix, 2 * i);
        z = h->linear(run, name, z);
        snprintf(name, sizeof name, "%s.%d.bn", d->prefix, 2 * i);
        if (d->bn) z = h->batch_norm(run, name, z);
        z = h->relu(ctx, z);
    }
    snprintf(name, sizeof name, "%s.%d", d->prefix, 2 * d->depth);
    return h->linear(run, name, z);
}

/* The domain labels of [source; target] rows: [2b, 1], 0 for source, 1 for target. */
static inline ferry_tensor_t *domain_labels(const ferry_host_api *h, ferry_ctx_t *ctx, int64_t b)
{
    return h->concat_batch(ctx, h->constant(ctx, 0.0f, 2, (int64_t[]){b, 1}), h->constant(ctx, 1.0f, 2, (int64_t[]){b, 1}));
}

/* DANN's adversarial loss on [x_s; x_t] (2b rows): the mean BCE of the discriminator's logits. */
static inline ferry_tensor_t *discriminator_bce(ferry_run_t *run, const ferry_host_api *h, const struct discriminator *d,
                                                ferry_tensor_t *x, int64_t b)
{
    ferry_tensor_t *z = discriminator_logits(run, h, d, x);
    return h->bce_with_logits(h->ctx(run), z, domain_labels(h, h->ctx(run), b));
}

/* Sets λ(p) from the trade_off and gamma hyperparameters (the schedule hook's work). */
static inline void discriminator_schedule(ferry_run_t *run, const ferry_host_api *h, const struct discriminator *d, double p)
{
    h->set_scalar(run, d->lambda, (float)grl_coefficient(p, h->hparam(run, "trade_off"), h->hparam(run, "gamma")));
}

#endif
