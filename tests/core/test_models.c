/* Built-in models: torchvision-style names and shapes, and a few training steps that must fit a
 * fixed batch (exercising batch norm's training path, residual additions and global pooling). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ferry/ferry.h"

static void expect_entry(ferry_store_t *st, const char *name, int ndim, const int64_t *shape)
{
    int i = ferry_store_find(st, name);
    cr_assert_geq(i, 0, "no parameter '%s'", name);
    cr_assert_eq(ferry_store_ndim(st, i), ndim, "%s", name);
    for (int d = 0; d < ndim; d++)
        cr_assert_eq(ferry_store_shape(st, i)[d], shape[d], "%s dim %d", name, d);
}

/* Trains `arch` on one fixed batch of 8 images for 30 steps; returns first and last loss. */
static void overfit(const char *arch, float *first, float *last)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_ctx_t *ctx;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(11, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init(arch, 1, 28, 28, 10, st, rng, &m), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){8, 1, 28, 28});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){8});
    ferry_tensor_t *seed = ferry_input(ctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = true, .seed = seed};
    ferry_tensor_t *logits = ferry_model_classifier(m, ctx, ferry_model_features(m, ctx, x, &fo), &fo);
    ferry_tensor_t *loss = ferry_cross_entropy(ctx, logits, y, 0.0f);
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_ADAM);
    ferry_optim_t *opt;
    ferry_graph_t *g;
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_init(&oc, st, &opt), FERRY_OK);
    cr_assert_eq(ferry_optim_record(opt, ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    static float xv[8 * 784];
    int32_t yv[8];
    for (int i = 0; i < 8 * 784; i++) xv[i] = (float)ferry_rng_uniform(rng, -1, 1);
    for (int i = 0; i < 8; i++) yv[i] = i;
    ferry_tensor_set(g, x, xv, sizeof xv);
    ferry_tensor_set(g, y, yv, sizeof yv);
    for (int s = 0; s < 30; s++) {
        int32_t sd = s;
        if (ferry_graph_uses(g, seed)) ferry_tensor_set(g, seed, &sd, sizeof sd);
        cr_assert_eq(ferry_optim_prepare_step(opt, g, s / 30.0), FERRY_OK);
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
        float l = ferry_tensor_get_scalar(g, loss);
        cr_assert(isfinite(l), "%s: loss %g at step %d", arch, (double)l, s);
        if (s == 0) *first = l;
        *last = l;
    }
    if (strcmp(arch, "resnet") == 0) {
        /* training moved the running statistics away from their initial (0, 1) */
        float rm[32];
        ferry_store_get(st, ferry_store_find(st, "bn1.running_mean"), rm, sizeof rm);
        double moved = 0;
        for (int i = 0; i < 32; i++) moved += fabs(rm[i]);
        cr_assert_gt(moved, 1e-3);
    }
    ferry_graph_free(g);
    ferry_optim_free(opt);
    ferry_ctx_free(ctx);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(models, lenet_names_and_shapes)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_backend_cpu_init(1, &be);
    ferry_store_init(be, &st);
    ferry_rng_init(1, &rng);
    cr_assert_eq(ferry_model_init("lenet", 1, 28, 28, 10, st, rng, &m), FERRY_OK);
    expect_entry(st, "features.0.weight", 4, (int64_t[]){32, 1, 5, 5});
    expect_entry(st, "features.3.weight", 4, (int64_t[]){48, 32, 5, 5});
    expect_entry(st, "classifier.0.weight", 2, (int64_t[]){100, 768});
    expect_entry(st, "classifier.4.bias", 1, (int64_t[]){10});
    cr_assert_eq(ferry_model_feature_dim(m), 768);
    /* 32·25+32 + 48·800+48 + 768·100+100 + 100·100+100 + 100·10+10 */
    cr_assert_eq(ferry_model_param_count(m), 832 + 38448 + 76900 + 10100 + 1010);
    cr_assert(ferry_model_is_backbone(m, "features.3.bias"));
    cr_assert(!ferry_model_is_backbone(m, "classifier.0.weight"));
    ferry_model_t *bad;
    cr_assert_eq(ferry_model_init("lenet", 1, 8, 8, 10, st, rng, &bad), FERRY_ERR_SHAPE);
    cr_assert_eq(ferry_model_init("vgg", 1, 28, 28, 10, st, rng, &bad), FERRY_ERR_NOT_FOUND);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(models, resnet_names_and_shapes)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_backend_cpu_init(1, &be);
    ferry_store_init(be, &st);
    ferry_rng_init(1, &rng);
    cr_assert_eq(ferry_model_init("resnet", 3, 32, 32, 10, st, rng, &m), FERRY_OK);
    expect_entry(st, "conv1.weight", 4, (int64_t[]){32, 3, 3, 3});
    expect_entry(st, "bn1.running_var", 1, (int64_t[]){32});
    expect_entry(st, "layer1.0.conv2.weight", 4, (int64_t[]){32, 32, 3, 3});
    expect_entry(st, "layer2.0.downsample.0.weight", 4, (int64_t[]){64, 32, 1, 1});
    expect_entry(st, "layer3.0.bn2.bias", 1, (int64_t[]){128});
    expect_entry(st, "fc.weight", 2, (int64_t[]){10, 128});
    cr_assert_lt(ferry_store_find(st, "layer1.0.downsample.0.weight"), 0);
    cr_assert(!ferry_store_trainable(st, ferry_store_find(st, "bn1.running_mean")));
    ferry_model_freeze_backbone(m, true);
    cr_assert(!ferry_store_trainable(st, ferry_store_find(st, "layer2.0.conv1.weight")));
    cr_assert(ferry_store_trainable(st, ferry_store_find(st, "fc.weight")));
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(models, lenet_fits_a_batch)
{
    float first, last;
    overfit("lenet", &first, &last);
    cr_assert_lt(last, 0.2f * first, "loss %g -> %g", (double)first, (double)last);
}

Test(models, resnet_fits_a_batch)
{
    float first, last;
    overfit("resnet", &first, &last);
    cr_assert_lt(last, 0.2f * first, "loss %g -> %g", (double)first, (double)last);
}
