/* Graph building errors, the memory planner, stores and optimizer behaviour. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"

static ferry_ctx_t *ctx;

static void setup(void) { cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK); }
static void teardown(void) { ferry_ctx_free(ctx); }

static ferry_tensor_t *in2(const char *name, int64_t a, int64_t b)
{
    return ferry_input(ctx, name, FERRY_F32, 2, (int64_t[]){a, b});
}

static ferry_tensor_t *in4(const char *name, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return ferry_input(ctx, name, FERRY_F32, 4, (int64_t[]){a, b, c, d});
}

#define EXPECT_SHAPE_ERROR(expr, needle)                                                        \
    do {                                                                                        \
        cr_assert_null(expr);                                                                   \
        cr_assert(strstr(ferry_last_error(), needle), "message '%s' lacks '%s'",               \
                  ferry_last_error(), needle);                                                  \
    } while (0)

TestSuite(shapes, .init = setup, .fini = teardown);

Test(shapes, matmul_inner_dimensions)
{
    EXPECT_SHAPE_ERROR(ferry_matmul(ctx, in2("a", 3, 4), in2("b", 5, 6), false, false), "matmul");
    cr_assert(strstr(ferry_last_error(), "[3, 4]") && strstr(ferry_last_error(), "[5, 6]"),
              "%s", ferry_last_error());
}

Test(shapes, elementwise_mismatch)
{
    EXPECT_SHAPE_ERROR(ferry_add(ctx, in2("a", 3, 4), in2("b", 4, 3)), "add");
    EXPECT_SHAPE_ERROR(ferry_mul(ctx, in2("a", 3, 4), in2("b", 3, 5)), "mul");
    EXPECT_SHAPE_ERROR(ferry_mse(ctx, in2("a", 3, 4), in2("b", 3, 5)), "mse");
}

Test(shapes, conv_channels_and_kernel)
{
    EXPECT_SHAPE_ERROR(ferry_conv2d(ctx, in4("x", 1, 3, 8, 8), in4("w", 4, 2, 3, 3), 1, 0), "channels");
    EXPECT_SHAPE_ERROR(ferry_conv2d(ctx, in4("x", 1, 3, 2, 2), in4("w", 4, 3, 5, 5), 1, 0), "kernel");
    EXPECT_SHAPE_ERROR(ferry_conv2d(ctx, in2("x", 1, 3), in4("w", 4, 3, 5, 5), 1, 0), "conv2d");
    cr_assert_null(ferry_conv2d(ctx, in4("x", 1, 3, 8, 8), in4("w", 4, 3, 3, 3), 0, 0));
}

Test(shapes, pooling_and_bias)
{
    EXPECT_SHAPE_ERROR(ferry_max_pool2d(ctx, in2("x", 2, 3), 2, 2, 0), "max_pool2d");
    EXPECT_SHAPE_ERROR(ferry_max_pool2d(ctx, in4("x", 1, 1, 1, 1), 2, 2, 0), "window");
    EXPECT_SHAPE_ERROR(ferry_add_bias(ctx, in2("x", 2, 3), ferry_input(ctx, "b", FERRY_F32, 1, (int64_t[]){4})),
                       "add_bias");
}

Test(shapes, losses)
{
    ferry_tensor_t *f32_labels = ferry_input(ctx, "y", FERRY_F32, 1, (int64_t[]){4});
    EXPECT_SHAPE_ERROR(ferry_cross_entropy(ctx, in2("l", 4, 10), f32_labels, 0), "I32");
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){5});
    EXPECT_SHAPE_ERROR(ferry_cross_entropy(ctx, in2("l", 4, 10), y, 0), "cross_entropy");
    cr_assert_null(ferry_cross_entropy(ctx, in2("l", 5, 10), y, 1.5f));
    EXPECT_SHAPE_ERROR(ferry_bce_with_logits(ctx, in2("l", 4, 1), in2("t", 5, 1)), "bce");
}

Test(shapes, views_and_batch_ops)
{
    EXPECT_SHAPE_ERROR(ferry_reshape(ctx, in2("x", 3, 4), 2, (int64_t[]){5, 2}), "reshape");
    EXPECT_SHAPE_ERROR(ferry_slice_batch(ctx, in2("x", 3, 4), 2, 5), "slice");
    EXPECT_SHAPE_ERROR(ferry_concat_batch(ctx, in2("a", 3, 4), in2("b", 3, 5)), "concat");
    EXPECT_SHAPE_ERROR(ferry_grad_reverse(ctx, in2("a", 3, 4), in2("l", 1, 2)), "lambda");
}

Test(shapes, null_propagates_and_backward_refuses)
{
    ferry_tensor_t *bad = ferry_matmul(ctx, in2("a", 3, 4), in2("b", 5, 6), false, false);
    cr_assert_null(ferry_relu(ctx, bad));
    cr_assert_null(ferry_sum(ctx, ferry_relu(ctx, bad)));
    cr_assert_neq(ferry_backward(ctx, NULL), FERRY_OK);
    /* a loss that depends on no parameter */
    cr_assert_eq(ferry_backward(ctx, ferry_sum(ctx, in2("a", 2, 2))), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "trainable"));
    cr_assert_eq(ferry_backward(ctx, in2("v", 2, 2)), FERRY_ERR_SHAPE); /* not a scalar */
}

Test(shapes, bad_dimensions)
{
    cr_assert_null(ferry_input(ctx, "x", FERRY_F32, 5, (int64_t[]){1, 1, 1, 1, 1}));
    cr_assert_null(ferry_input(ctx, "x", FERRY_F32, 2, (int64_t[]){0, 3}));
}

/* ---- graphs ------------------------------------------------------------------------------------- */

struct small {
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_graph_t *g;
    ferry_tensor_t *x, *y, *loss;
};

static void small_graph(struct small *s)
{
    cr_assert_eq(ferry_backend_cpu_init(1, &s->be), FERRY_OK);
    cr_assert_eq(ferry_store_init(s->be, &s->st), FERRY_OK);
    ferry_rng_t *rng;
    ferry_rng_init(3, &rng);
    cr_assert_eq(ferry_nn_linear_init(s->st, "fc", 4, 3, true, rng), FERRY_OK);
    ferry_rng_free(rng);
    s->x = in2("x", 2, 4);
    s->y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){2});
    s->loss = ferry_cross_entropy(ctx, ferry_nn_linear(ctx, s->st, "fc", s->x), s->y, 0);
    ferry_tensor_set_output(s->loss);
    cr_assert_eq(ferry_graph_init(ctx, s->be, &s->g), FERRY_OK, "%s", ferry_last_error());
}

static void small_free(struct small *s)
{
    ferry_graph_free(s->g);
    ferry_store_free(s->st);
    ferry_backend_free(s->be);
}

Test(graph, io_errors_name_the_tensor, .init = setup, .fini = teardown)
{
    struct small s;
    small_graph(&s);
    float buf[8] = {0};
    cr_assert_eq(ferry_tensor_set(s.g, s.x, buf, 7 * sizeof(float)), FERRY_ERR_SHAPE);
    cr_assert(strstr(ferry_last_error(), "'x'"), "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_set(s.g, s.loss, buf, sizeof(float)), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_tensor_set(s.g, s.x, buf, sizeof buf), FERRY_OK);
    int32_t y[2] = {0, 2};
    cr_assert_eq(ferry_tensor_set(s.g, s.y, y, sizeof y), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(s.g), FERRY_OK);
    float l = ferry_tensor_get_scalar(s.g, s.loss);
    cr_assert(l > 0 && isfinite(l));
    small_free(&s);
}

Test(graph, planner_reuses_memory, .init = setup, .fini = teardown)
{
    /* a chain of 12 activations: each dies after the next is made, so the packed arena holds two */
    ferry_backend_t *be;
    ferry_store_t *st;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    ferry_tensor_t *x = in2("x", 64, 64), *h = x;
    for (int i = 0; i < 12; i++) h = ferry_tanh(ctx, h);
    ferry_tensor_t *out = ferry_sum(ctx, h);
    ferry_tensor_set_output(out);
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK);
    ferry_graph_info info;
    ferry_graph_get_info(g, &info);
    size_t act = 64 * 64 * sizeof(float);
    cr_assert_eq(info.n_nodes, 13);
    cr_assert_geq(info.unpacked_bytes, 12 * act);
    cr_assert_leq(info.transient_bytes, 2 * act + 64, "arena %zu bytes", info.transient_bytes);
    /* and the result is right: tanh applied 12 times to 0.5 */
    float *v = malloc(act);
    for (int i = 0; i < 64 * 64; i++) v[i] = 0.5f;
    ferry_tensor_set(g, x, v, act);
    ferry_graph_compute(g);
    double e = 0.5;
    for (int i = 0; i < 12; i++) e = tanh(e);
    cr_assert_float_eq(ferry_tensor_get_scalar(g, out), 64 * 64 * e, 1e-2);
    free(v);
    ferry_graph_free(g);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(graph, intermediates_are_not_readable, .init = setup, .fini = teardown)
{
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_tensor_t *x = in2("x", 2, 2), *h = ferry_tanh(ctx, x);
    ferry_tensor_set_name(h, "hidden");
    ferry_tensor_t *out = ferry_sum(ctx, ferry_tanh(ctx, h));
    ferry_tensor_set_output(out);
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK);
    float v[4];
    cr_assert_eq(ferry_tensor_get(g, h, v, sizeof v), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "hidden"));
    ferry_graph_free(g);
    ferry_backend_free(be);
}

/* ---- stores and checkpoints ------------------------------------------------------------------- */

Test(store, save_load_round_trip_and_mismatch)
{
    char dir[] = "/tmp/ferry-store-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    ferry_backend_t *be;
    ferry_store_t *a, *b, *c;
    ferry_rng_t *rng;
    ferry_model_t *ma, *mb, *mc;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_rng_init(5, &rng);
    ferry_store_init(be, &a);
    ferry_store_init(be, &b);
    ferry_store_init(be, &c);
    cr_assert_eq(ferry_model_init("lenet", 1, 28, 28, 10, a, rng, &ma), FERRY_OK);
    cr_assert_eq(ferry_model_init("lenet", 1, 28, 28, 10, b, rng, &mb), FERRY_OK);
    cr_assert_eq(ferry_model_init("lenet", 1, 28, 28, 7, c, rng, &mc), FERRY_OK);
    cr_assert_eq(ferry_store_find(a, "features.0.weight"), 0);
    cr_assert_geq(ferry_store_find(a, "classifier.4.bias"), 0);
    cr_assert_eq(ferry_store_save(a, path, false), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_load(b, path, false, false), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < ferry_store_count(a); i++) {
        size_t n = (size_t)ferry_store_numel(a, i) * sizeof(float);
        float *va = malloc(n), *vb = malloc(n);
        ferry_store_get(a, i, va, n);
        ferry_store_get(b, i, vb, n);
        cr_assert(memcmp(va, vb, n) == 0, "entry %s differs", ferry_store_name(a, i));
        free(va);
        free(vb);
    }
    /* 7 classes instead of 10: shape mismatch, and the store is left as it was */
    float before;
    int i = ferry_store_find(c, "classifier.4.bias");
    float buf7[7];
    ferry_store_get(c, i, buf7, sizeof buf7);
    before = buf7[0];
    cr_assert_eq(ferry_store_load(c, path, false, false), FERRY_ERR_SHAPE);
    cr_assert(strstr(ferry_last_error(), path) && strstr(ferry_last_error(), "classifier.4"),
              "%s", ferry_last_error());
    ferry_store_get(c, i, buf7, sizeof buf7);
    cr_assert_eq(buf7[0], before);
    ferry_model_free(ma);
    ferry_model_free(mb);
    ferry_model_free(mc);
    ferry_store_free(a);
    ferry_store_free(b);
    ferry_store_free(c);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    unlink(path);
    rmdir(dir);
}

Test(store, pytorch_default_init_bounds)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_backend_cpu_init(1, &be);
    ferry_store_init(be, &st);
    ferry_rng_init(9, &rng);
    cr_assert_eq(ferry_nn_conv2d_init(st, "c", 32, 48, 5, true, rng), FERRY_OK);
    int i = ferry_store_find(st, "c.weight");
    int64_t n = ferry_store_numel(st, i);
    cr_assert_eq(n, 48 * 32 * 25);
    float *w = malloc((size_t)n * sizeof *w);
    ferry_store_get(st, i, w, (size_t)n * sizeof *w);
    double bound = 1.0 / sqrt(32 * 25), mx = 0, mean = 0;
    for (int64_t k = 0; k < n; k++) {
        mx = fmax(mx, fabs(w[k]));
        mean += w[k];
    }
    cr_assert_leq(mx, bound);
    cr_assert_geq(mx, 0.99 * bound); /* uniform: the extremes are reached */
    cr_assert_leq(fabs(mean / (double)n), 0.02 * bound);
    free(w);
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
}

/* ---- schedules ------------------------------------------------------------------------------------ */

Test(optim, schedules)
{
    ferry_optim_config c = ferry_optim_defaults(FERRY_SGD);
    c.lr = 0.1f;
    cr_assert_float_eq(ferry_schedule_lr(&c, 0.7), 0.1, 1e-7);
    c.schedule = FERRY_SCHED_COSINE;
    cr_assert_float_eq(ferry_schedule_lr(&c, 0.5), 0.05, 1e-7);
    cr_assert_float_eq(ferry_schedule_lr(&c, 1.0), 0.0, 1e-7);
    c.schedule = FERRY_SCHED_INV;
    cr_assert_float_eq(ferry_schedule_lr(&c, 1.0), 0.1 * pow(11.0, -0.75), 1e-7);
    c.schedule = FERRY_SCHED_STEP;
    c.step_every = 0.25f;
    cr_assert_float_eq(ferry_schedule_lr(&c, 0.6), 0.1 * 0.01, 1e-7);
    ferry_schedule s;
    cr_assert_eq(ferry_schedule_parse("cosine", &s), FERRY_OK);
    cr_assert_eq(ferry_schedule_parse("warp", &s), FERRY_ERR_INVALID);
}

/* One SGD-momentum step on a one-parameter quadratic, through the whole graph machinery:
 * loss = sum(w*w)/2 → grad = w. With lr 0.1, momentum 0.9, wd 0: buf = w; w1 = w - 0.1 w.
 * A second step: g = w1; buf = 0.9 w + w1; w2 = w1 - 0.1 buf. Parameter groups: lr × 0.5 on "b". */
Test(optim, sgd_momentum_through_graph_and_groups)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_ctx_t *c;
    ferry_backend_cpu_init(1, &be);
    ferry_store_init(be, &st);
    ferry_ctx_init(&c);
    int64_t one = 1;
    ferry_store_add(st, "a.w", FERRY_F32, 1, &one, true);
    ferry_store_add(st, "b.w", FERRY_F32, 1, &one, true);
    float w0 = 2.0f;
    ferry_store_set(st, 0, &w0, sizeof w0);
    ferry_store_set(st, 1, &w0, sizeof w0);
    ferry_tensor_t *a = ferry_param(c, st, "a.w"), *b = ferry_param(c, st, "b.w");
    ferry_tensor_t *loss = ferry_scale(c, ferry_add(c, ferry_sum(c, ferry_mul(c, a, a)),
                                                    ferry_sum(c, ferry_mul(c, b, b))), 0.5f);
    ferry_tensor_set_output(loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    oc.lr = 0.1f;
    ferry_optim_t *o;
    ferry_graph_t *g;
    cr_assert_eq(ferry_backward(c, loss), FERRY_OK);
    cr_assert_eq(ferry_optim_init(&oc, st, &o), FERRY_OK);
    cr_assert_eq(ferry_optim_set_lr_mult(o, "b.", 0.5f), FERRY_OK);
    cr_assert_eq(ferry_optim_record(o, c), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(c, be, &g), FERRY_OK, "%s", ferry_last_error());
    for (int s = 0; s < 2; s++) {
        ferry_optim_prepare_step(o, g, 0);
        ferry_graph_compute(g);
    }
    double w1 = 2.0 - 0.1 * 2.0, buf = 0.9 * 2.0 + w1, w2 = w1 - 0.1 * buf;
    double v1 = 2.0 - 0.05 * 2.0, vbuf = 0.9 * 2.0 + v1, v2 = v1 - 0.05 * vbuf;
    float got;
    ferry_store_get(st, 0, &got, sizeof got);
    cr_assert_float_eq(got, w2, 1e-6);
    ferry_store_get(st, 1, &got, sizeof got);
    cr_assert_float_eq(got, v2, 1e-6);
    cr_assert_geq(ferry_store_find(st, "a.w#momentum"), 0);
    ferry_graph_free(g);
    ferry_optim_free(o);
    ferry_ctx_free(c);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(store, add_with_a_shape_from_the_same_store)
{
    /* ferry_store_shape points into the store; adding entries may move them */
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_backend_cpu_init(1, &be);
    ferry_store_init(be, &st);
    cr_assert_eq(ferry_store_add(st, "w", FERRY_F32, 2, (int64_t[]){3, 5}, true), FERRY_OK);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "w#%d", i);
        cr_assert_eq(ferry_store_add(st, name, FERRY_F32, 2, ferry_store_shape(st, i), false), FERRY_OK,
                     "%s", ferry_last_error());
        cr_assert_eq(ferry_store_numel(st, i + 1), 15);
    }
    ferry_store_free(st);
    ferry_backend_free(be);
}

/* Broadcasting: shapes that do not broadcast are refused by name and shape; so is a sum_to target
 * that is not a broadcast source of x. */
Test(graph, broadcasting_refusals)
{
    ferry_ctx_t *bx = NULL;
    cr_assert_eq(ferry_ctx_init(&bx), FERRY_OK);
    ferry_tensor_t *a = ferry_input(bx, "a", FERRY_F32, 2, (int64_t[]){3, 4});
    ferry_tensor_t *b = ferry_input(bx, "b", FERRY_F32, 1, (int64_t[]){3});
    cr_expect_null(ferry_add(bx, a, b));
    cr_expect(strstr(ferry_last_error(), "add: shapes do not broadcast (got [3, 4] and [3])"), "%s", ferry_last_error());
    ferry_tensor_t *ok = ferry_mul(bx, a, ferry_input(bx, "d", FERRY_F32, 3, (int64_t[]){2, 1, 4}));
    cr_assert_not_null(ok, "%s", ferry_last_error());
    cr_expect_eq(ferry_tensor_ndim(ok), 3);
    cr_expect_eq(ferry_tensor_dim(ok, 0), 2);
    cr_expect_eq(ferry_tensor_dim(ok, 1), 3);
    cr_expect_null(ferry_sum_to(bx, a, 2, (int64_t[]){2, 4}));
    cr_expect(strstr(ferry_last_error(), "sum_to:"), "%s", ferry_last_error());
    cr_expect_not_null(ferry_sum_to(bx, a, 1, (int64_t[]){4}));
    ferry_tensor_t *m = ferry_compare(bx, a, FERRY_CMP_GT, ferry_constant(bx, 0.0f, 1, (int64_t[]){1}));
    cr_expect_null(ferry_where(bx, ferry_input(bx, "m", FERRY_F32, 1, (int64_t[]){5}), a, a));
    cr_expect(strstr(ferry_last_error(), "where: the condition does not broadcast"), "%s", ferry_last_error());
    cr_expect_not_null(ferry_where(bx, m, a, ferry_constant(bx, 1.0f, 1, (int64_t[]){1})));
    cr_expect_null(ferry_compare(bx, a, (ferry_cmp)9, a));
    ferry_ctx_free(bx);
}

/* Updates are scheduled right after the last node that reads what they touch (graph.c), not all
 * at the end: in a two-layer network, fc2's update runs before fc1's gradient is computed. The
 * parameters after one step (lr 0.5, no momentum) must still be w - lr·g with every gradient taken
 * at the old weights, here from a separate graph that only computes the gradients. */
static ferry_tensor_t *two_layer_loss(ferry_ctx_t *c, ferry_store_t *st, ferry_tensor_t **x, ferry_tensor_t **y)
{
    *x = ferry_input(c, "x", FERRY_F32, 2, (int64_t[]){5, 4});
    *y = ferry_input(c, "y", FERRY_I32, 1, (int64_t[]){5});
    ferry_tensor_t *h = ferry_relu(c, ferry_nn_linear(c, st, "fc1", *x));
    ferry_tensor_t *loss = ferry_cross_entropy(c, ferry_nn_linear(c, st, "fc2", h), *y, 0);
    ferry_tensor_set_output(loss);
    return loss;
}

Test(optim, updates_run_after_the_last_reader)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    ferry_rng_init(5, &rng);
    cr_assert_eq(ferry_nn_linear_init(st, "fc1", 4, 6, true, rng), FERRY_OK);
    cr_assert_eq(ferry_nn_linear_init(st, "fc2", 6, 3, true, rng), FERRY_OK);
    float xv[20];
    for (int i = 0; i < 20; i++) xv[i] = (float)ferry_rng_uniform(rng, -2, 2);
    ferry_rng_free(rng);
    const int32_t yv[5] = {0, 2, 1, 2, 0};
    const int np = ferry_store_count(st);
    float before[4][64], grads[4][64], after[4][64];
    for (int i = 0; i < np; i++) ferry_store_get(st, i, before[i], (size_t)ferry_store_numel(st, i) * sizeof(float));

    /* the gradients alone */
    ferry_ctx_t *c;
    ferry_tensor_t *x, *y;
    ferry_ctx_init(&c);
    ferry_tensor_t *loss = two_layer_loss(c, st, &x, &y);
    cr_assert_eq(ferry_backward(c, loss), FERRY_OK);
    ferry_tensor_t *gp[4] = {0};
    cr_assert_eq(ferry_ctx_param_count(c), np);
    for (int k = 0; k < np; k++) {
        ferry_tensor_t *p = ferry_ctx_param(c, k);
        const int i = ferry_param_store_index(p);
        gp[i] = ferry_grad(c, p);
        cr_assert_not_null(gp[i]);
        ferry_tensor_set_output(gp[i]);
    }
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(c, be, &g), FERRY_OK, "%s", ferry_last_error());
    ferry_tensor_set(g, x, xv, sizeof xv);
    ferry_tensor_set(g, y, yv, sizeof yv);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    for (int i = 0; i < np; i++)
        ferry_tensor_get(g, gp[i], grads[i], (size_t)ferry_store_numel(st, i) * sizeof(float));
    ferry_graph_free(g);
    ferry_ctx_free(c);

    /* the training step */
    ferry_ctx_init(&c);
    loss = two_layer_loss(c, st, &x, &y);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    oc.lr = 0.5f;
    oc.momentum = 0.0f;
    ferry_optim_t *o;
    cr_assert_eq(ferry_backward(c, loss), FERRY_OK);
    /* fc2's weight read after its gradient, before the updates are recorded: the old weight; and
     * read after they are: the new one */
    const int iw = ferry_store_find(st, "fc2.weight");
    cr_assert_geq(iw, 0);
    ferry_tensor_t *w2 = ferry_param(c, st, "fc2.weight");
    ferry_tensor_t *sq_before = ferry_sum(c, ferry_mul(c, w2, w2));
    ferry_tensor_set_output(sq_before);
    cr_assert_eq(ferry_optim_init(&oc, st, &o), FERRY_OK);
    cr_assert_eq(ferry_optim_record(o, c), FERRY_OK, "%s", ferry_last_error());
    ferry_tensor_t *sq_after = ferry_sum(c, ferry_mul(c, w2, w2));
    ferry_tensor_set_output(sq_after);
    cr_assert_eq(ferry_graph_init(c, be, &g), FERRY_OK, "%s", ferry_last_error());
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ferry_graph_print(g, f);
    fclose(f);
    const char *first_update = strstr(text, "sgd_update");
    cr_assert_not_null(first_update);
    cr_assert_not_null(strstr(first_update, "matmul"), "every update still at the end:\n%s", text);
    free(text);
    ferry_tensor_set(g, x, xv, sizeof xv);
    ferry_tensor_set(g, y, yv, sizeof yv);
    cr_assert_eq(ferry_optim_prepare_step(o, g, 0), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    for (int i = 0; i < np; i++) {
        const int64_t n = ferry_store_numel(st, i);
        ferry_store_get(st, i, after[i], (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            cr_assert_float_eq(after[i][j], before[i][j] - 0.5f * grads[i][j], 1e-6, "%s[%lld]",
                               ferry_store_name(st, i), (long long)j);
    }
    double want_before = 0, want_after = 0;
    for (int64_t j = 0; j < ferry_store_numel(st, iw); j++) {
        want_before += (double)before[iw][j] * before[iw][j];
        want_after += (double)after[iw][j] * after[iw][j];
    }
    float got_before, got_after;
    ferry_tensor_get(g, sq_before, &got_before, sizeof got_before);
    ferry_tensor_get(g, sq_after, &got_after, sizeof got_after);
    cr_assert_float_eq(got_before, want_before, 1e-5, "a read recorded before the update saw %g", (double)got_before);
    cr_assert_float_eq(got_after, want_after, 1e-5, "a read recorded after the update saw %g", (double)got_after);
    cr_assert(fabs(want_before - want_after) > 1e-3); /* the step changed the weight */
    ferry_graph_free(g);
    ferry_optim_free(o);
    ferry_ctx_free(c);
    ferry_store_free(st);
    ferry_backend_free(be);
}

/* A training batch norm followed by a relu or ReLU6: the backward pass reads a recomputed copy of
 * the activation (autodiff.c), so the forward one dies early. Every gradient must be the same bit
 * for bit as with the forward tensors kept (FERRY_RECOMPUTE=0), the graph must hold two more nodes
 * per such layer, and its intermediates must take less memory. */
struct bn_run {
    float grads[32][2048]; /* by store index */
    int n_nodes;
    size_t transient;
};

static void bn_relu_run(ferry_store_t *st, ferry_backend_t *be, const float *xv, bool recompute,
                        struct bn_run *out)
{
    if (recompute)
        unsetenv("FERRY_RECOMPUTE");
    else
        setenv("FERRY_RECOMPUTE", "0", 1);
    ferry_ctx_t *c;
    cr_assert_eq(ferry_ctx_init(&c), FERRY_OK);
    ferry_tensor_t *x = ferry_input(c, "x", FERRY_F32, 4, (int64_t[]){4, 3, 16, 16}), *h = x;
    for (int l = 0; l < 4; l++) { /* conv, batch norm, relu (ReLU6 in the third) */
        char cn[8], bn[8];
        snprintf(cn, sizeof cn, "c%d", l);
        snprintf(bn, sizeof bn, "bn%d", l);
        h = ferry_nn_conv2d(c, st, cn, h, 1, 1);
        if (l == 1) { /* no scale (Keras' scale=False): the copy keeps gamma absent */
            char bb[16], rm[24], rv[24];
            snprintf(bb, sizeof bb, "%s.bias", bn);
            snprintf(rm, sizeof rm, "%s.running_mean", bn);
            snprintf(rv, sizeof rv, "%s.running_var", bn);
            h = ferry_batch_norm(c, h, NULL, ferry_param(c, st, bb), ferry_param(c, st, rm),
                                 ferry_param(c, st, rv), true, 0.1f, 1e-5f);
        } else
            h = ferry_nn_batch_norm(c, st, bn, h, true);
        h = l == 2 ? ferry_relu6(c, h) : ferry_relu(c, h);
    }
    h = ferry_max_pool2d(c, h, 2, 2, 0);
    ferry_tensor_t *loss = ferry_mean(c, ferry_mul(c, h, h));
    cr_assert_eq(ferry_backward(c, loss), FERRY_OK, "%s", ferry_last_error());
    unsetenv("FERRY_RECOMPUTE");
    const int np = ferry_ctx_param_count(c);
    cr_assert_leq(np, 16);
    ferry_tensor_t *gp[16];
    for (int k = 0; k < np; k++) {
        gp[k] = ferry_grad(c, ferry_ctx_param(c, k));
        ferry_tensor_set_output(gp[k]);
    }
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(c, be, &g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_set(g, x, xv, 4 * 3 * 16 * 16 * sizeof(float)), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
    for (int k = 0; k < np; k++) {
        const int i = ferry_param_store_index(ferry_ctx_param(c, k));
        const size_t n = (size_t)ferry_store_numel(st, i);
        cr_assert(i < 32 && n <= 2048);
        cr_assert_eq(ferry_tensor_get(g, gp[k], out->grads[i], n * sizeof(float)), FERRY_OK);
    }
    ferry_graph_info gi;
    ferry_graph_get_info(g, &gi);
    out->n_nodes = gi.n_nodes;
    out->transient = gi.transient_bytes;
    ferry_graph_free(g);
    ferry_ctx_free(c);
}

Test(graph, batch_norm_relu_recomputed_for_backward)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    ferry_rng_init(11, &rng);
    for (int l = 0; l < 4; l++) {
        char cn[8], bn[8];
        snprintf(cn, sizeof cn, "c%d", l);
        snprintf(bn, sizeof bn, "bn%d", l);
        cr_assert_eq(ferry_nn_conv2d_init(st, cn, l ? 8 : 3, 8, 3, false, rng), FERRY_OK);
        cr_assert_eq(ferry_nn_batch_norm_init(st, bn, 8), FERRY_OK);
    }
    float xv[4 * 3 * 16 * 16];
    for (size_t i = 0; i < sizeof xv / sizeof xv[0]; i++) xv[i] = (float)ferry_rng_uniform(rng, -2, 2);
    ferry_rng_free(rng);
    static struct bn_run kept, again;
    bn_relu_run(st, be, xv, false, &kept);
    bn_relu_run(st, be, xv, true, &again);
    cr_assert_eq(again.n_nodes, kept.n_nodes + 8, "%d nodes, %d without recomputation", again.n_nodes,
                 kept.n_nodes);
    cr_assert_lt(again.transient, kept.transient, "%zu bytes of intermediates, %zu without",
                 again.transient, kept.transient);
    const int np = ferry_store_count(st);
    cr_assert_leq(np, 32);
    int compared = 0;
    for (int i = 0; i < np; i++) {
        if (strstr(ferry_store_name(st, i), "running") || strstr(ferry_store_name(st, i), "num_batches") ||
            !strcmp(ferry_store_name(st, i), "bn1.weight")) /* unused */
            continue;
        const size_t n = (size_t)ferry_store_numel(st, i);
        cr_assert_eq(memcmp(kept.grads[i], again.grads[i], n * sizeof(float)), 0, "%s's gradient differs",
                     ferry_store_name(st, i));
        compared++;
    }
    cr_assert_eq(compared, 11); /* four convolution weights, four betas, three gammas */
    ferry_store_free(st);
    ferry_backend_free(be);
}
