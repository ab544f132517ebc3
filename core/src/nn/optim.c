/* Optimizers as graph ops, learning-rate schedules and parameter groups. */
#include "internal.h"
#include "ferry/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lr_rule {
    char prefix[128];
    float mult;
};

struct ferry_optim {
    ferry_optim_config c;
    ferry_store_t *st;
    struct lr_rule *rules;
    int n_rules;
    ferry_tensor_t *hyper; /* SGD: [lr]; Adam: [lr, 1-b1^t, 1-b2^t, 0] */
    int64_t t;             /* steps taken */
    double lr;
};

ferry_optim_config ferry_optim_defaults(ferry_optim_kind kind)
{
    return (ferry_optim_config){.kind = kind, .lr = kind == FERRY_SGD ? 0.01f : 0.001f,
                                .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                .schedule = FERRY_SCHED_CONSTANT, .step_gamma = 0.1f,
                                .step_every = 0.34f, .inv_alpha = 10.0f, .inv_beta = 0.75f,
                                .weight_decay = kind == FERRY_ADAMW ? 0.01f : 0.0f};
}

ferry_status ferry_optim_parse_kind(const char *s, ferry_optim_kind *out)
{
    static const char *const names[] = {"sgd", "adam", "adamw"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (ferry_optim_kind)i;
            return FERRY_OK;
        }
    return ferry_error(FERRY_ERR_INVALID, "unknown optimizer '%s' (sgd, adam, adamw)", s);
}

ferry_status ferry_schedule_parse(const char *s, ferry_schedule *out)
{
    static const char *const names[] = {"constant", "step", "cosine", "inv"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (ferry_schedule)i;
            return FERRY_OK;
        }
    return ferry_error(FERRY_ERR_INVALID, "unknown schedule '%s' (constant, step, cosine, inv)", s);
}

double ferry_schedule_lr(const ferry_optim_config *c, double p)
{
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    switch (c->schedule) {
    case FERRY_SCHED_STEP: return c->lr * pow(c->step_gamma, floor(p / c->step_every));
    case FERRY_SCHED_COSINE: return c->lr * 0.5 * (1.0 + cos(M_PI * p));
    case FERRY_SCHED_INV: return c->lr * pow(1.0 + c->inv_alpha * p, -c->inv_beta);
    default: return c->lr;
    }
}

ferry_status ferry_optim_init(const ferry_optim_config *c, ferry_store_t *st, ferry_optim_t **out)
{
    if (!(c->lr > 0) || c->momentum < 0 || c->momentum >= 1 || c->weight_decay < 0)
        return ferry_error(FERRY_ERR_INVALID, "optimizer: lr %g, momentum %g, weight decay %g invalid",
                           (double)c->lr, (double)c->momentum, (double)c->weight_decay);
    if (c->kind != FERRY_SGD && (c->beta1 < 0 || c->beta1 >= 1 || c->beta2 < 0 || c->beta2 >= 1))
        return ferry_error(FERRY_ERR_INVALID, "optimizer: betas (%g, %g) must lie in [0,1)",
                           (double)c->beta1, (double)c->beta2);
    ferry_optim_t *o = calloc(1, sizeof *o);
    if (!o) return ferry_error(FERRY_ERR_NOMEM, "out of memory creating an optimizer");
    o->c = *c;
    o->st = st;
    o->lr = c->lr;
    *out = o;
    return FERRY_OK;
}

void ferry_optim_free(ferry_optim_t *o)
{
    if (!o) return;
    free(o->rules);
    free(o);
}

ferry_status ferry_optim_set_lr_mult(ferry_optim_t *o, const char *prefix, float mult)
{
    if (!(mult >= 0)) return ferry_error(FERRY_ERR_INVALID, "lr multiplier %g invalid", (double)mult);
    struct lr_rule *r = realloc(o->rules, (size_t)(o->n_rules + 1) * sizeof *r);
    if (!r) return ferry_error(FERRY_ERR_NOMEM, "out of memory adding a parameter group");
    o->rules = r;
    snprintf(r[o->n_rules].prefix, sizeof r->prefix, "%s", prefix);
    r[o->n_rules++].mult = mult;
    return FERRY_OK;
}

static float lr_mult_of(const ferry_optim_t *o, const char *name)
{
    float m = 1.0f;
    for (int i = 0; i < o->n_rules; i++)
        if (strncmp(name, o->rules[i].prefix, strlen(o->rules[i].prefix)) == 0) m = o->rules[i].mult;
    return m;
}

/* Optimizer state "<param>#<what>", created zeroed on first use. */
static ferry_tensor_t *state(ferry_optim_t *o, ferry_ctx_t *ctx, ferry_tensor_t *p, const char *what)
{
    char name[192];
    int i = ferry_param_store_index(p);
    snprintf(name, sizeof name, "%s#%s", ferry_store_name(o->st, i), what);
    if (ferry_store_find(o->st, name) < 0 &&
        ferry_store_add(o->st, name, FERRY_F32, ferry_store_ndim(o->st, i), ferry_store_shape(o->st, i),
                        false))
        return NULL;
    return ferry_param(ctx, o->st, name);
}

ferry_status ferry_optim_record(ferry_optim_t *o, ferry_ctx_t *ctx)
{
    bool adam = o->c.kind != FERRY_SGD;
    o->hyper = adam ? ferry_input(ctx, "optim.hyper", FERRY_F32, 1, (int64_t[]){4})
                    : ferry_scalar_input(ctx, "optim.lr", o->c.lr);
    if (!o->hyper) return FERRY_ERR_NOMEM;
    for (int k = 0; k < ferry_ctx_param_count(ctx); k++) {
        ferry_tensor_t *p = ferry_ctx_param(ctx, k);
        const char *name = ferry_store_name(o->st, ferry_param_store_index(p));
        float mult = lr_mult_of(o, name);
        if (mult == 0.0f) continue; /* frozen group */
        ferry_tensor_t *g = ferry_grad(ctx, p), *u;
        if (adam)
            u = ferry_adam_update(ctx, p, g, state(o, ctx, p, "exp_avg"), state(o, ctx, p, "exp_avg_sq"),
                                  o->hyper, mult, o->c.beta1, o->c.beta2, o->c.eps,
                                  o->c.weight_decay, o->c.kind == FERRY_ADAMW);
        else
            u = ferry_sgd_update(ctx, p, g, state(o, ctx, p, "momentum"),
                                 o->hyper, mult, o->c.momentum, o->c.weight_decay, o->c.nesterov);
        if (!u) return FERRY_ERR_INVALID; /* message set by the failing call */
    }
    return FERRY_OK;
}

ferry_status ferry_optim_prepare_step(ferry_optim_t *o, ferry_graph_t *g, double p)
{
    if (!o->hyper) return ferry_error(FERRY_ERR_INVALID, "optimizer: record the update ops first");
    o->t++;
    o->lr = ferry_schedule_lr(&o->c, p);
    if (o->c.kind == FERRY_SGD) {
        float lr = (float)o->lr;
        return ferry_tensor_set(g, o->hyper, &lr, sizeof lr);
    }
    float h[4] = {(float)o->lr, (float)(1.0 - pow(o->c.beta1, (double)o->t)),
                  (float)(1.0 - pow(o->c.beta2, (double)o->t)), 0.0f};
    return ferry_tensor_set(g, o->hyper, h, sizeof h);
}

double ferry_optim_current_lr(const ferry_optim_t *o) { return o->lr; }
