/* Ops whose operands exceed the device's storage-buffer range, split into dispatches that each bind
 * a part. FERRY_VK_MAX_BINDING lowers the range for the test (64 KiB), so that a linear layer of
 * 96 x 700 weights (269 KB) and element-wise ops on 150 000 elements (600 KB) must be split: the
 * forward matmul (x·Wᵀ, parts along W's rows), both backward matmuls (dX = dY·W along K, dW = dYᵀ·X
 * along its rows), the bias, ReLU and the SGD and Adam updates of W and its state; a convolution, its
 * input gradient and max pooling over a batch, in parts of whole images and planes.
 *
 * Each case runs three times: on the CPU backend, on Vulkan with the device's own range (no split)
 * and on Vulkan with the lowered range. The split run must record more dispatches than the unsplit
 * one (it did split; a binding past the lowered range fails the run), give bit for bit the values of
 * the unsplit run (each element's sum in the same order), and agree with the CPU backend. The
 * validation layer is on: any message fails. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_compare.h"

#define LIMIT "65536"

enum { IN = 700, HID = 96, OUT = 7, N = 5, STEPS = 3 };

struct run {
    float *v;      /* every store entry after the steps, concatenated */
    int64_t n;
    int dispatches;
};

/* Trains fc1 (IN -> HID, 269 KB of weights), ReLU, fc2 (HID -> OUT) with cross entropy for STEPS
 * steps on one backend: "cpu", "vk" (device range) or "vk-split" (the lowered range). */
static struct run train(const ferry_optim_config *oc, const char *where)
{
    const bool vulkan = strcmp(where, "cpu") != 0, split = strcmp(where, "vk-split") == 0;
    ferry_backend_t *be = NULL;
    if (split) setenv("FERRY_VK_MAX_BINDING", LIMIT, 1);
    else unsetenv("FERRY_VK_MAX_BINDING");
    if (vulkan) be = vkc_vulkan_backend();
    else cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    unsetenv("FERRY_VK_MAX_BINDING");
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_rng_t *rng;
    ferry_optim_t *opt;
    ferry_graph_t *g;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(9, &rng), FERRY_OK);
    cr_assert_eq(ferry_nn_linear_init(st, "fc1", IN, HID, true, rng), FERRY_OK);
    cr_assert_eq(ferry_nn_linear_init(st, "fc2", HID, OUT, true, rng), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 2, (int64_t[]){N, IN});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){N});
    ferry_tensor_t *h = ferry_relu(ctx, ferry_nn_linear(ctx, st, "fc1", x));
    ferry_tensor_t *loss = ferry_cross_entropy(ctx, ferry_nn_linear(ctx, st, "fc2", h), y, 0.0f);
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(loss);
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_init(oc, st, &opt), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_record(opt, ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s: %s", where, ferry_last_error());
    static float xv[N * IN];
    int32_t yv[N];
    for (int s = 0; s < STEPS; s++) {
        vkc_fill(xv, N * IN, 70u + (uint32_t)s);
        for (int i = 0; i < N; i++) yv[i] = (i + 2 * s) % OUT;
        cr_assert_eq(ferry_tensor_set(g, x, xv, sizeof xv), FERRY_OK);
        cr_assert_eq(ferry_tensor_set(g, y, yv, sizeof yv), FERRY_OK);
        cr_assert_eq(ferry_optim_prepare_step(opt, g, (double)s / STEPS), FERRY_OK);
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s: %s", where, ferry_last_error());
    }
    struct run r = {0};
    for (int i = 0; i < ferry_store_count(st); i++) r.n += ferry_store_numel(st, i);
    r.v = calloc((size_t)r.n, sizeof *r.v);
    cr_assert_not_null(r.v);
    for (int64_t i = 0, at = 0; i < ferry_store_count(st); i++) {
        const int64_t k = ferry_store_numel(st, (int)i);
        cr_assert_eq(ferry_store_get(st, (int)i, r.v + at, (size_t)k * sizeof(float)), FERRY_OK);
        at += k;
    }
    ferry_graph_info gi;
    ferry_graph_get_info(g, &gi);
    r.dispatches = gi.n_dispatches;
    if (vulkan) vkc_assert_no_validation(be);
    ferry_graph_free(g);
    ferry_optim_free(opt);
    ferry_ctx_free(ctx);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
    return r;
}

static void check_training(const char *name, const ferry_optim_config *oc)
{
    struct run cpu = train(oc, "cpu"), whole = train(oc, "vk"), split = train(oc, "vk-split");
    cr_assert_eq(cpu.n, split.n);
    cr_assert_eq(whole.n, split.n);
    cr_expect_gt(split.dispatches, whole.dispatches + 10, "%s: %d dispatches split, %d unsplit: nothing was split",
                 name, split.dispatches, whole.dispatches);
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < split.n; i++)
        if (memcmp(&split.v[i], &whole.v[i], sizeof(float)) != 0 && differ++ == 0) first = i;
    cr_expect_eq(differ, 0, "%s: %lld of %lld values differ between the split and the unsplit run (first %lld: "
                 "%.9g vs %.9g)", name, (long long)differ, (long long)split.n, (long long)first,
                 first >= 0 ? (double)split.v[first] : 0.0, first >= 0 ? (double)whole.v[first] : 0.0);
    const double e = vkc_nmse(split.v, cpu.v, cpu.n);
    cr_expect_leq(e, 1e-7, "%s: split Vulkan vs CPU, normalised MSE %.3g", name, e);
    fprintf(stderr, "%s: %lld values, %d dispatches split vs %d unsplit, nmse vs cpu %.3g, %lld differ from unsplit\n",
            name, (long long)split.n, split.dispatches, whole.dispatches, e, (long long)differ);
    free(cpu.v);
    free(whole.v);
    free(split.v);
}

Test(vk_split, linear_sgd_momentum_split_matches_unsplit_bits_and_cpu)
{
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    oc.weight_decay = 0.01f;
    check_training("sgd", &oc);
}

Test(vk_split, linear_adam_split_matches_unsplit_bits_and_cpu)
{
    ferry_optim_config oc = ferry_optim_defaults(FERRY_ADAM);
    oc.weight_decay = 0.01f;
    check_training("adam", &oc);
}

/* Element-wise ops on 300 x 500 (600 KB): scale, mul, add, ReLU and their backward passes. The
 * harness's loss sums the output, and a sum over one tensor past the range is not split: the output
 * is p2 [1,300] · (the element-wise result), a product split along N. */
static ferry_tensor_t *b_elem(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *e = ferry_add(x, ferry_mul(x, ferry_relu(x, p[0]), p[1]), ferry_scale(x, p[0], 0.25f));
    return ferry_matmul(x, p[2], e, false, false);
}

Test(vk_split, elementwise_split_matches_unsplit_bits_and_cpu)
{
    struct vkc_case c = {.name = "elementwise 300x500", .build = b_elem, .np = 3, .ndim = {2, 2, 2},
                         .shape = {{300, 500}, {300, 500}, {1, 300}}, .seed = 23, .tol = 1e-7};
    struct vkc_result cpu, whole, split;
    unsetenv("FERRY_VK_MAX_BINDING");
    vkc_run(&c, false, 1, &cpu);
    vkc_run(&c, true, 1, &whole);
    setenv("FERRY_VK_MAX_BINDING", LIMIT, 1);
    vkc_run(&c, true, 1, &split);
    unsetenv("FERRY_VK_MAX_BINDING");
    cr_assert_eq(split.out_n, cpu.out_n);
    cr_expect_eq(memcmp(split.out, whole.out, (size_t)split.out_n * sizeof(float)), 0,
                 "forward output differs between the split and the unsplit run");
    cr_expect_leq(vkc_nmse(split.out, cpu.out, cpu.out_n), 5e-4);
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(split.grad[i]);
        cr_expect_eq(memcmp(split.grad[i], whole.grad[i], (size_t)split.pn[i] * sizeof(float)), 0,
                     "gradient of p%d differs between the split and the unsplit run", i);
        const double e = vkc_nmse(split.grad[i], cpu.grad[i], cpu.pn[i]);
        cr_expect_leq(e, 5e-4, "gradient of p%d: normalised MSE %.3g vs CPU", i, e);
    }
    vkc_result_free(&cpu);
    vkc_result_free(&whole);
    vkc_result_free(&split);
}

/* x [1, 20000] · W [20000, 3] (80 KB and 240 KB): the forward product splits along K (x's columns
 * of its one row are contiguous), dX = dY·Wᵀ along N, dW = xᵀ·dY along M. */
static ferry_tensor_t *b_dot(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    return ferry_matmul(x, p[0], p[1], false, false);
}

Test(vk_split, long_dot_product_split_along_k_matches_unsplit_bits)
{
    struct vkc_case c = {.name = "dot 1x20000 . 20000x3", .build = b_dot, .np = 2, .ndim = {2, 2},
                         .shape = {{1, 20000}, {20000, 3}}, .seed = 29, .tol = 5e-4};
    struct vkc_result cpu, whole, split;
    unsetenv("FERRY_VK_MAX_BINDING");
    vkc_run(&c, false, 1, &cpu);
    vkc_run(&c, true, 1, &whole);
    setenv("FERRY_VK_MAX_BINDING", LIMIT, 1);
    vkc_run(&c, true, 1, &split);
    unsetenv("FERRY_VK_MAX_BINDING");
    cr_expect_eq(memcmp(split.out, whole.out, (size_t)split.out_n * sizeof(float)), 0,
                 "forward output differs between the split and the unsplit run");
    cr_expect_leq(vkc_nmse(split.out, cpu.out, cpu.out_n), 5e-4);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(memcmp(split.grad[i], whole.grad[i], (size_t)split.pn[i] * sizeof(float)), 0,
                     "gradient of p%d differs between the split and the unsplit run", i);
        cr_expect_leq(vkc_nmse(split.grad[i], cpu.grad[i], cpu.pn[i]), 5e-4, "gradient of p%d vs CPU", i);
    }
    vkc_result_free(&cpu);
    vkc_result_free(&whole);
    vkc_result_free(&split);
}

/* A convolution, ReLU and max pooling on 8 images whose activations pass the range: x [8,4,24,24]
 * (74 KB) -> conv 3x3 pad 1 -> [8,8,24,24] (147 KB) -> ReLU -> 2x2 max pool -> [8,8,12,12]. The
 * convolution and its input gradient split into parts of whole images, the pools into parts of whole
 * planes. The weights are frozen: the weight gradient (a sum over every image) is not split. */
static ferry_tensor_t *b_conv_pool(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    return ferry_max_pool2d(x, ferry_relu(x, ferry_conv2d(x, p[0], p[1], 1, 1)), 2, 2, 0);
}

Test(vk_split, conv_relu_pool_split_by_images_matches_unsplit_bits)
{
    struct vkc_case c = {.name = "conv+relu+pool 8x4x24x24", .build = b_conv_pool, .np = 2, .ndim = {4, 4},
                         .shape = {{8, 4, 24, 24}, {8, 4, 3, 3}}, .frozen = 2u, .seed = 31, .tol = 5e-4};
    struct vkc_result cpu, whole, split;
    unsetenv("FERRY_VK_MAX_BINDING");
    vkc_run(&c, false, 1, &cpu);
    vkc_run(&c, true, 1, &whole);
    setenv("FERRY_VK_MAX_BINDING", LIMIT, 1);
    vkc_run(&c, true, 1, &split);
    unsetenv("FERRY_VK_MAX_BINDING");
    cr_assert_eq(split.out_n, cpu.out_n);
    cr_expect_eq(memcmp(split.out, whole.out, (size_t)split.out_n * sizeof(float)), 0,
                 "forward output differs between the split and the unsplit run");
    cr_expect_leq(vkc_nmse(split.out, cpu.out, cpu.out_n), 5e-4);
    cr_assert_not_null(split.grad[0]);
    cr_expect_eq(memcmp(split.grad[0], whole.grad[0], (size_t)split.pn[0] * sizeof(float)), 0,
                 "input gradient differs between the split and the unsplit run");
    const double e = vkc_nmse(split.grad[0], cpu.grad[0], cpu.pn[0]);
    cr_expect_leq(e, 5e-4, "input gradient: normalised MSE %.3g vs CPU", e);
    vkc_result_free(&cpu);
    vkc_result_free(&whole);
    vkc_result_free(&split);
}

/* What is not split fails when the graph is prepared, naming the op and the range: here a sum over
 * one tensor of 120 KB under the 64 KiB range. */
Test(vk_split, unsplit_op_past_the_range_fails_naming_it)
{
    setenv("FERRY_VK_MAX_BINDING", LIMIT, 1);
    ferry_backend_t *be = vkc_vulkan_backend();
    unsetenv("FERRY_VK_MAX_BINDING");
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_graph_t *g = NULL;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "p", FERRY_F32, 1, (int64_t[]){30000}, true), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *s = ferry_sum(ctx, ferry_param(ctx, st, "p"));
    cr_assert_not_null(s);
    ferry_tensor_set_output(s);
    cr_expect_eq(ferry_graph_init(ctx, be, &g), FERRY_ERR_UNSUPPORTED);
    cr_expect(strstr(ferry_last_error(), "sum") && strstr(ferry_last_error(), "65536"), "%s", ferry_last_error());
    vkc_assert_no_validation(be);
    if (g) ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_store_free(st);
    ferry_backend_free(be);
}

/* A long sum (K = 20480, the range untouched): lavapipe's products with 8x8 blocking per invocation
 * went wrong from K of about 20 000 (1 % off); the tiles for such K must give the CPU's values. */
static ferry_tensor_t *b_xwt(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    return ferry_matmul(x, p[0], p[1], false, true);
}

Test(vk_split, long_k_product_agrees_with_cpu)
{
    unsetenv("FERRY_VK_MAX_BINDING");
    struct vkc_case c = {.name = "x [2,20480] . W [64,20480]^T", .build = b_xwt, .np = 2, .ndim = {2, 2},
                         .shape = {{2, 20480}, {64, 20480}}, .seed = 37, .tol = 1e-9};
    vkc_compare(&c);
}
