/* The DANN-LeNet training step as one static graph, shared by the step benchmark and the tests that
 * check the execution design (allocations per step, determinism).
 *
 * LeNet features shared by the label classifier (768-100-100-10) and a 768-100-1 domain
 * discriminator behind a gradient-reversal layer; `bs` labelled source + `bs` target images;
 * loss = cross-entropy(source) + BCE-with-logits(domain); SGD with momentum 0.9. */
#ifndef FERRY_BENCH_DANN_LENET_H
#define FERRY_BENCH_DANN_LENET_H

#include "ferry/ferry.h"

#include <stdlib.h>

struct dann_lenet {
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    ferry_ctx_t *ctx;
    ferry_optim_t *opt;
    ferry_graph_t *g;
    ferry_tensor_t *xs, *xt, *ys, *dom, *lambda, *loss;
    int bs;
};

static inline ferry_status dann_lenet_init(struct dann_lenet *d, ferry_backend_t *be, int bs,
                                           uint64_t seed)
{
    ferry_rng_t *rng;
    ferry_status s;
    d->be = be;
    d->bs = bs;
    if ((s = ferry_store_init(be, &d->st)) || (s = ferry_rng_init(seed, &rng))) return s;
    s = ferry_model_init("lenet", 1, 28, 28, 10, d->st, rng, &d->m);
    if (!s) s = ferry_nn_linear_init(d->st, "discriminator.0", 768, 100, true, rng);
    if (!s) s = ferry_nn_linear_init(d->st, "discriminator.2", 100, 1, true, rng);
    ferry_rng_free(rng);
    if (s || (s = ferry_ctx_init(&d->ctx))) return s;
    ferry_ctx_t *ctx = d->ctx;
    d->xs = ferry_input(ctx, "xs", FERRY_F32, 4, (int64_t[]){bs, 1, 28, 28});
    d->xt = ferry_input(ctx, "xt", FERRY_F32, 4, (int64_t[]){bs, 1, 28, 28});
    d->ys = ferry_input(ctx, "ys", FERRY_I32, 1, (int64_t[]){bs});
    d->dom = ferry_input(ctx, "domain", FERRY_F32, 2, (int64_t[]){2 * bs, 1});
    d->lambda = ferry_scalar_input(ctx, "lambda", 0.5f);
    ferry_forward_opts fo = {.train = true};
    ferry_tensor_t *f = ferry_model_features(d->m, ctx, ferry_concat_batch(ctx, d->xs, d->xt), &fo);
    ferry_tensor_t *logits = ferry_model_classifier(d->m, ctx, ferry_slice_batch(ctx, f, 0, bs), &fo);
    ferry_tensor_t *h = ferry_grad_reverse(ctx, f, d->lambda);
    h = ferry_relu(ctx, ferry_nn_linear(ctx, d->st, "discriminator.0", h));
    h = ferry_nn_linear(ctx, d->st, "discriminator.2", h);
    d->loss = ferry_add(ctx, ferry_cross_entropy(ctx, logits, d->ys, 0.0f),
                        ferry_bce_with_logits(ctx, h, d->dom));
    if (!d->loss) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(d->loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    if ((s = ferry_backward(ctx, d->loss)) || (s = ferry_optim_init(&oc, d->st, &d->opt)) ||
        (s = ferry_optim_record(d->opt, ctx)))
        return s;
    return ferry_graph_init(ctx, be, &d->g);
}

/* A batch of uniform random pixels (throughput does not depend on image content) and labels i mod 10. */
static inline void dann_lenet_random_batch(int bs, uint64_t seed, float *xs, float *xt, int32_t *ys)
{
    ferry_rng_t *rng;
    ferry_rng_init(seed, &rng);
    for (int i = 0; i < bs * 784; i++) {
        xs[i] = (float)ferry_rng_uniform(rng, 0, 1);
        xt[i] = (float)ferry_rng_uniform(rng, 0, 1);
    }
    for (int i = 0; i < bs; i++) ys[i] = i % 10;
    ferry_rng_free(rng);
}

/* Uploads a batch (xs, xt: bs×784 floats; ys: bs labels) and the domain labels. */
static inline ferry_status dann_lenet_set_batch(struct dann_lenet *d, const float *xs, const float *xt,
                                                const int32_t *ys)
{
    size_t xn = (size_t)d->bs * 784 * sizeof(float);
    float dom[2 * 1024];
    for (int i = 0; i < 2 * d->bs && i < 2 * 1024; i++) dom[i] = i < d->bs ? 0.0f : 1.0f;
    ferry_status s;
    if ((s = ferry_tensor_set(d->g, d->xs, xs, xn)) || (s = ferry_tensor_set(d->g, d->xt, xt, xn)) ||
        (s = ferry_tensor_set(d->g, d->ys, ys, (size_t)d->bs * sizeof(int32_t))))
        return s;
    return ferry_tensor_set(d->g, d->dom, dom, (size_t)2 * d->bs * sizeof(float));
}

static inline ferry_status dann_lenet_step(struct dann_lenet *d, double progress, float *loss)
{
    ferry_status s;
    if ((s = ferry_optim_prepare_step(d->opt, d->g, progress)) || (s = ferry_graph_compute(d->g)))
        return s;
    *loss = ferry_tensor_get_scalar(d->g, d->loss);
    return FERRY_OK;
}

static inline void dann_lenet_free(struct dann_lenet *d)
{
    ferry_graph_free(d->g);
    ferry_optim_free(d->opt);
    ferry_ctx_free(d->ctx);
    ferry_model_free(d->m);
    ferry_store_free(d->st);
}

#endif
