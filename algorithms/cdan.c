/* CDAN: conditional adversarial domain adaptation (Long et al., NeurIPS 2018). DANN's discriminator
 * (discriminator.h: gradient reversal, λ(p), inv lr schedule) sees the features conditioned on the
 * classifier's predictions through a multilinear map instead of the features alone:
 *
 *   loss = CE(classifier(f_s), y_s) + BCE_w(D(GRL_λ(T(f, g))), [0…0; 1…1]),  g = softmax(logits), no gradient
 *   T(f, g) = g ⊗ f flattened, row r: T[k·D + d] = g_k f_d            (map 1: D·K inputs)
 *   T(f, g) = (R_f f) ⊙ (R_g g) / sqrt(d_r)                           (map 2: d_r = random_dim inputs)
 *
 * map 0 picks the multilinear map when D·K ≤ 4096 and the randomised one otherwise (the paper's rule
 * of thumb; LeNet's 768 features × 10 classes take the randomised map). R_f [d_r, D] and R_g [d_r, K]
 * are drawn once (linear modules "cdan.random_f" / "cdan.random_g", their bias cancelled by subtracting
 * the module's output at 0, the weights rescaled by sqrt(3·in) to unit variance: i.i.d. zero-mean unit-
 * variance entries as the paper's Gaussian ones) and never trained: lr multiplier 0, so the optimizer
 * records no update for them, weight decay included. g is detached as in the paper's code: the
 * adversarial gradient reaches the features through f only.
 *
 * entropy = 1 (CDAN+E): each row's BCE is weighted by w = 1 + exp(−H(g)), H the prediction's entropy
 * (no gradient), normalised to sum 1 within each domain; BCE_w = ½ Σ_i w_i ℓ_i (uniform weights give
 * DANN's mean over the 2B rows). The paper uses a 1024-1024 discriminator; for digits the default
 * here is two hidden layers of 500 (the width of the paper's code for digits). trade_off scales λ as in
 * dann.c: the reported loss does not depend on it. */
#include "discriminator.h"

#include <stdlib.h>

#define MULTILINEAR_MAX 4096    /* map 0: multilinear up to this many inputs */
#define MULTILINEAR_LIMIT 65536 /* map 1 refuses more */

struct cdan {
    struct discriminator d;
    int randomized;
};

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    struct cdan *s = calloc(1, sizeof *s);
    if (!s) return h->error(FERRY_PLUGIN_ERR_NOMEM, "cdan: out of memory");
    h->set_state(run, s);
    const int64_t dim = h->feature_dim(run), k = h->classes(run), dr = (int64_t)h->hparam(run, "random_dim");
    const int map = (int)h->hparam(run, "map");
    if (map == 1 && dim * k > MULTILINEAR_LIMIT)
        return h->error(FERRY_PLUGIN_ERR_INVALID,
                        "cdan: the multilinear map would have %lld inputs (%lld features x %lld classes, at most %d); "
                        "use cdan.map=2 (randomised) or cdan.map=0",
                        (long long)(dim * k), (long long)dim, (long long)k, MULTILINEAR_LIMIT);
    s->randomized = map == 2 || (map == 0 && dim * k > MULTILINEAR_MAX);
    ferry_plugin_status st = discriminator_setup(run, h, &s->d, s->randomized ? dr : dim * k, "cdan.lambda", "cdan");
    if (!st && s->randomized) st = h->linear_init(run, "cdan.random_f", dim, dr);
    if (!st && s->randomized) st = h->linear_init(run, "cdan.random_g", k, dr);
    if (!st && s->randomized) st = h->set_lr_mult(run, "cdan.random", 0.0f);
    return st;
}

/* x R^T · sqrt(3·in), R the module's weight (its bias removed): unit-variance random features. */
static ferry_tensor_t *project(ferry_run_t *run, const ferry_host_api *h, const char *prefix, ferry_tensor_t *x)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t in = h->dim(x, 1);
    ferry_tensor_t *at0 = h->linear(run, prefix, h->constant(ctx, 0.0f, 2, (int64_t[]){1, in}));
    return h->scale(ctx, h->sub(ctx, h->linear(run, prefix, x), at0), sqrtf(3.0f * (float)in));
}

static ferry_tensor_t *conditioning(ferry_run_t *run, const ferry_host_api *h, ferry_tensor_t *f, ferry_tensor_t *g)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t n = h->dim(f, 0), d = h->dim(f, 1), k = h->dim(g, 1);
    struct cdan *s = h->state(run);
    if (s->randomized) {
        const float dr = (float)h->hparam(run, "random_dim");
        ferry_tensor_t *pf = project(run, h, "cdan.random_f", f), *pg = project(run, h, "cdan.random_g", g);
        return h->scale(ctx, h->mul(ctx, pf, pg), 1.0f / sqrtf(dr));
    }
    ferry_tensor_t *outer = h->batched_matmul(ctx, h->reshape(ctx, g, 3, (int64_t[]){n, k, 1}),
                                              h->reshape(ctx, f, 3, (int64_t[]){n, 1, d}), false, false);
    return h->reshape(ctx, outer, 2, (int64_t[]){n, k * d});
}

/* Rows' weights 1 + exp(−H(g)) normalised within [0, b) and [b, 2b): [2b, 1], no gradient. */
static ferry_tensor_t *entropy_weights(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *logits, int64_t b)
{
    ferry_tensor_t *l = h->detach(ctx, logits);
    ferry_tensor_t *plogp = h->mul(ctx, h->softmax(ctx, l), h->log_softmax(ctx, l));
    ferry_tensor_t *u = h->add(ctx, h->exp(ctx, h->sum_to(ctx, plogp, 2, (int64_t[]){2 * b, 1})),
                               h->constant(ctx, 1.0f, 2, (int64_t[]){1, 1})); /* exp(−H) = exp(Σ p log p) */
    ferry_tensor_t *us = h->slice_batch(ctx, u, 0, b), *ut = h->slice_batch(ctx, u, b, 2 * b);
    return h->concat_batch(ctx, h->div(ctx, us, h->sum_to(ctx, us, 2, (int64_t[]){1, 1})),
                           h->div(ctx, ut, h->sum_to(ctx, ut, 2, (int64_t[]){1, 1})));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct cdan *s = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t b = t->batch;
    ferry_tensor_t *f = h->concat_batch(ctx, t->features_s, t->features_t);
    ferry_tensor_t *logits = h->concat_batch(ctx, t->logits_s, t->logits_t);
    ferry_tensor_t *g = h->detach(ctx, h->softmax(ctx, logits));
    ferry_tensor_t *adv;
    if (h->hparam(run, "entropy") != 0) {
        /* per-row BCE: softplus(z) for source (label 0), softplus(−z) for target (label 1) */
        ferry_tensor_t *z = discriminator_logits(run, h, &s->d, conditioning(run, h, f, g));
        ferry_tensor_t *sign = h->concat_batch(ctx, h->constant(ctx, 1.0f, 2, (int64_t[]){b, 1}),
                                               h->constant(ctx, -1.0f, 2, (int64_t[]){b, 1}));
        ferry_tensor_t *rows = h->softplus(ctx, h->mul(ctx, z, sign));
        adv = h->scale(ctx, h->sum(ctx, h->mul(ctx, rows, entropy_weights(h, ctx, logits, b))), 0.5f);
    } else {
        adv = discriminator_bce(run, h, &s->d, conditioning(run, h, f, g), b);
    }
    return h->add(ctx, h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f), adv);
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p)
{
    struct cdan *s = h->state(run);
    discriminator_schedule(run, h, &s->d, p);
}

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static const ferry_hparam hparams[] = {
    DISCRIMINATOR_HPARAMS(500, 2),
    {"entropy", FERRY_HP_INT, 0, 0, 1, FERRY_SWEEP_FIXED, "1: CDAN+E, rows weighted by 1 + exp(-entropy)"},
    {"map", FERRY_HP_INT, 0, 0, 2, FERRY_SWEEP_FIXED,
     "0: multilinear if features x classes <= 4096, else randomised; 1: multilinear; 2: randomised"},
    {"random_dim", FERRY_HP_INT, 1024, 8, 8192, FERRY_SWEEP_FIXED, "d_r, the randomised map's dimension"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "cdan",
    .summary = "conditional adversarial adaptation: a discriminator on features x predictions (CDAN, CDAN+E)",
    .citation = "Long et al., Conditional Adversarial Domain Adaptation, NeurIPS 2018",
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
