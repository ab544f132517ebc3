/* The CPU backend's fusion pass (cpu_backend.c): each graph is prepared twice, with the pass
 * (default) and without it (FERRY_CPU_FUSE=0), and every output and gradient must agree bit for
 * bit; the number of folded ops must be the one the patterns give, so a pass that silently stops
 * fusing fails here too. Covers the convolution paths the epilogue runs on (several images per
 * product, one image per product, 1x1 direct, depthwise), the relu-masked pooling backward in place
 * and not, and the cases where a fold must be refused or must keep an intermediate. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

struct fcase {
    const char *name;
    int64_t n, c, h, w;         /* input */
    int o, k, stride, pad, groups; /* convolution */
    int act;                    /* 0 none, 1 relu, 2 relu6 */
    int pool_k, pool_s, pool_p; /* 0: no pooling */
    bool train;
    bool observe_z;             /* the add_bias result is an output too */
    int expect_fused;
    bool bn;                    /* an eval-mode batch norm (random statistics) instead of the bias */
};

#define MAXOUT 6

struct run {
    float *out[MAXOUT];
    size_t bytes[MAXOUT];
    int nout;
    int fused;
};

static void fill(float *v, size_t n, ferry_rng_t *rng)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)ferry_rng_uniform(rng, -1, 1);
}

static void save(ferry_graph_t *g, ferry_tensor_t *t, size_t numel, struct run *r)
{
    cr_assert_lt(r->nout, MAXOUT);
    r->bytes[r->nout] = numel * sizeof(float);
    r->out[r->nout] = malloc(r->bytes[r->nout]);
    cr_assert_eq(ferry_tensor_get(g, t, r->out[r->nout], r->bytes[r->nout]), FERRY_OK, "%s", ferry_last_error());
    r->nout++;
}

static struct run run_case(const struct fcase *fc, bool fuse)
{
    if (fuse)
        unsetenv("FERRY_CPU_FUSE");
    else
        setenv("FERRY_CPU_FUSE", "0", 1);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_rng_t *rng;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(7, &rng), FERRY_OK);
    const int64_t cg = fc->c / fc->groups, nw = fc->o * cg * fc->k * fc->k;
    cr_assert_eq(ferry_store_add(st, "w", FERRY_F32, 4, (int64_t[]){fc->o, cg, fc->k, fc->k}, true), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "b", FERRY_F32, 1, (int64_t[]){fc->o}, true), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "x", FERRY_F32, 4, (int64_t[]){fc->n, fc->c, fc->h, fc->w}, true), FERRY_OK);
    const size_t nx = (size_t)(fc->n * fc->c * fc->h * fc->w);
    float *wv = malloc((size_t)nw * sizeof *wv), bv[64], *xv = malloc(nx * sizeof *xv);
    fill(wv, (size_t)nw, rng);
    fill(bv, (size_t)fc->o, rng);
    fill(xv, nx, rng);
    cr_assert_eq(ferry_store_set(st, 0, wv, (size_t)nw * sizeof *wv), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 1, bv, (size_t)fc->o * sizeof *bv), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 2, xv, nx * sizeof *xv), FERRY_OK);

    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *x = ferry_param(ctx, st, "x"), *w = ferry_param(ctx, st, "w"), *b = ferry_param(ctx, st, "b");
    ferry_conv_params cp = {.stride_h = fc->stride, .stride_w = fc->stride, .pad_top = fc->pad,
                            .pad_bottom = fc->pad, .pad_left = fc->pad, .pad_right = fc->pad,
                            .dilation_h = 1, .dilation_w = 1, .groups = fc->groups};
    ferry_tensor_t *y = ferry_conv2d_ex(ctx, x, w, &cp), *z;
    if (fc->bn) {
        cr_assert_eq(ferry_nn_batch_norm_init(st, "bn", fc->o), FERRY_OK);
        const char *names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
        for (int i = 0; i < 4; i++) {
            float v[64];
            fill(v, (size_t)fc->o, rng);
            if (i == 3)
                for (int j = 0; j < fc->o; j++) v[j] = 0.5f + v[j] * v[j];
            const int e = ferry_store_find(st, names[i]);
            cr_assert_geq(e, 0, "%s", names[i]);
            cr_assert_eq(ferry_store_set(st, e, v, (size_t)fc->o * sizeof *v), FERRY_OK);
        }
        z = ferry_nn_batch_norm(ctx, st, "bn", y, false);
    } else {
        z = ferry_add_bias(ctx, y, b);
    }
    ferry_tensor_t *h = fc->act == 1 ? ferry_relu(ctx, z) : fc->act == 2 ? ferry_relu6(ctx, z) : z;
    if (fc->pool_k) h = ferry_max_pool2d(ctx, h, fc->pool_k, fc->pool_s, fc->pool_p);
    cr_assert_not_null(h, "%s", ferry_last_error());
    if (fc->observe_z) ferry_tensor_set_output(z);
    ferry_tensor_t *loss = NULL, *rw = NULL;
    if (fc->train) {
        int64_t shape[4];
        for (int d = 0; d < 4; d++) shape[d] = ferry_tensor_dim(h, d);
        rw = ferry_input(ctx, "r", FERRY_F32, 4, shape);
        loss = ferry_sum(ctx, ferry_mul(ctx, h, rw));
        ferry_tensor_set_output(loss);
        cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
        ferry_tensor_set_output(ferry_grad(ctx, w));
        if (!fc->bn) ferry_tensor_set_output(ferry_grad(ctx, b));
        ferry_tensor_set_output(ferry_grad(ctx, x));
    } else {
        ferry_tensor_set_output(h);
    }
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    const size_t nh = (size_t)ferry_tensor_numel(h);
    float *rv = NULL;
    if (rw) {
        rv = malloc(nh * sizeof *rv);
        fill(rv, nh, rng);
        cr_assert_eq(ferry_tensor_set(g, rw, rv, nh * sizeof *rv), FERRY_OK);
    }
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error()); /* a second run */
    struct run r = {0};
    ferry_graph_info info;
    ferry_graph_get_info(g, &info);
    r.fused = info.n_fused;
    if (fc->train) {
        save(g, loss, 1, &r);
        save(g, ferry_grad(ctx, w), (size_t)nw, &r);
        if (!fc->bn) save(g, ferry_grad(ctx, b), (size_t)fc->o, &r);
        save(g, ferry_grad(ctx, x), nx, &r);
    } else {
        save(g, h, nh, &r);
    }
    if (fc->observe_z) save(g, z, (size_t)ferry_tensor_numel(z), &r);
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    free(wv);
    free(xv);
    free(rv);
    unsetenv("FERRY_CPU_FUSE");
    return r;
}

static void check_case(const struct fcase *fc)
{
    struct run plain = run_case(fc, false), fused = run_case(fc, true);
    cr_assert_eq(plain.fused, 0, "%s: FERRY_CPU_FUSE=0 still fused %d ops", fc->name, plain.fused);
    cr_assert_eq(fused.fused, fc->expect_fused, "%s: %d ops folded, expected %d", fc->name,
                 fused.fused, fc->expect_fused);
    cr_assert_eq(plain.nout, fused.nout);
    for (int i = 0; i < plain.nout; i++) {
        cr_assert(memcmp(plain.out[i], fused.out[i], plain.bytes[i]) == 0,
                  "%s: output %d differs with fusion", fc->name, i);
        free(plain.out[i]);
        free(fused.out[i]);
    }
}

/* Fields: name, n c h w, o k stride pad groups, act, pool k s p, train, observe_z, expected folds,
 * bn. conv + bias + relu fold 2 ops; the pooling backward folds the relu's backward (1). */
Test(cpu_fusion, lenet_like) /* small images: several images per product; 2x2 pooling in place */
{
    check_case(&(struct fcase){"lenet_like", 6, 3, 12, 12, 8, 5, 1, 0, 1, 1, 2, 2, 0, true, false, 3, false});
}

Test(cpu_fusion, large_image) /* one image per product */
{
    check_case(&(struct fcase){"large_image", 2, 3, 40, 40, 4, 3, 1, 1, 1, 1, 2, 2, 0, true, false, 3, false});
}

/* Direct depthwise loops; 3x3/2 pooling, whose backward accumulates over overlapping windows (it
 * is folded only where the planner gave the relu's gradient memory of its own, as here: the relu's
 * backward reads its output, which the pooling's backward reads last). */
Test(cpu_fusion, depthwise_overlapping_pool)
{
    check_case(&(struct fcase){"depthwise", 2, 8, 17, 16, 8, 3, 1, 1, 8, 1, 3, 2, 1, true, false, 3, false});
}

Test(cpu_fusion, direct_1x1_inference)
{
    check_case(&(struct fcase){"1x1", 3, 8, 9, 9, 6, 1, 1, 0, 1, 1, 0, 0, 0, false, false, 2, false});
}

Test(cpu_fusion, bias_without_relu) /* the pooling reads the bias result: only the bias folds */
{
    check_case(&(struct fcase){"no_relu", 4, 2, 10, 10, 3, 3, 1, 1, 1, 0, 2, 2, 0, true, false, 1, false});
}

Test(cpu_fusion, observed_intermediate) /* z is an output: still written, still right */
{
    check_case(&(struct fcase){"observed", 4, 2, 10, 10, 3, 3, 1, 1, 1, 1, 2, 2, 0, true, true, 3, false});
    check_case(&(struct fcase){"observed_inference", 4, 2, 10, 10, 3, 3, 1, 1, 1, 1, 2, 2, 0, false, true, 2, false});
}

Test(cpu_fusion, strided_conv)
{
    check_case(&(struct fcase){"strided", 3, 4, 15, 13, 5, 3, 2, 1, 1, 1, 2, 2, 0, true, false, 3, false});
}

Test(cpu_fusion, eval_batch_norm) /* conv + eval batch norm + relu / relu6 / nothing, as in ResNet and MobileNet */
{
    check_case(&(struct fcase){"bn_relu", 2, 4, 20, 18, 6, 3, 1, 1, 1, 1, 0, 0, 0, false, false, 2, true});
    check_case(&(struct fcase){"bn_relu6_depthwise", 2, 6, 19, 21, 6, 3, 2, 1, 6, 2, 0, 0, 0, false, false, 2, true});
    check_case(&(struct fcase){"bn_1x1", 3, 8, 7, 7, 5, 1, 1, 0, 1, 0, 0, 0, 0, false, false, 1, true});
    /* training through an eval-mode batch norm (frozen statistics): forward folds, gradients agree */
    check_case(&(struct fcase){"bn_frozen_train", 2, 4, 12, 12, 6, 3, 1, 1, 1, 1, 2, 2, 0, true, false, 3, true});
}
