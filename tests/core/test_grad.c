/* Every op's gradient, as recorded by autodiff and run on the CPU backend, against central finite
 * differences of the same graph's forward pass.
 *
 * Each case builds loss = sum(op(params...) ⊙ R) with R fixed random weights; parameters are store
 * entries, so autodiff yields d loss / d param. Finite differences perturb one element at a time by
 * ±h (h = 1e-2, or 1e-3 for max pooling; float32 forward) for up to 24 sampled elements per parameter. Tolerance: normalised
 * error ‖fd − ad‖ / ‖fd‖ ≤ 2e-2 over the sampled elements, and no element off by more than
 * 2e-2 + 5e-2·|fd|. Inputs are kept away from kinks (relu at 0, ties in max pooling). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

/* Built twice: for the CPU backend, and with GRAD_VULKAN for the Vulkan backend (tests/vulkan). */
#ifdef GRAD_VULKAN
#include "../vulkan/vk_backend_util.h"
static ferry_backend_t *grad_backend(void) { return vk_test_backend(); }
#else
static ferry_backend_t *grad_backend(void)
{
    ferry_backend_t *be = NULL;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK); /* many tiny graphs: one thread */
    return be;
}
#endif

#define MAXP 4

typedef ferry_tensor_t *(*build_fn)(ferry_ctx_t *ctx, ferry_tensor_t **p, ferry_tensor_t **aux);

struct gcase {
    int np;
    int ndim[MAXP];
    int64_t shape[MAXP][4];
    build_fn build;
    /* gradient reversal: autodiff must equal -lambda × the forward's finite difference */
    float expect_factor;
    /* max pooling: values on a shuffled grid spaced wider than 2h, h = 1e-3, so no perturbation
     * changes which element is the maximum */
    bool distinct;
};

struct harness {
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    ferry_tensor_t *p[MAXP], *aux[4], *loss, *r;
    ferry_rng_t *rng;
};

static int64_t numel(const struct gcase *c, int i)
{
    int64_t n = 1;
    for (int d = 0; d < c->ndim[i]; d++) n *= c->shape[i][d];
    return n;
}

/* Values away from 0 (relu kink); with `distinct`, a shuffled grid in [-1, 1]. */
static void fill(ferry_rng_t *rng, float *v, int64_t n, bool distinct)
{
    for (int64_t k = 0; k < n; k++) {
        double u = ferry_rng_uniform(rng, 0.1, 1.0);
        v[k] = distinct ? (float)(-1.0 + 2.0 * (double)k / (double)n)
                        : (float)(ferry_rng_uniform(rng, 0, 1) < 0.5 ? -u : u);
    }
    for (int64_t k = n - 1; distinct && k > 0; k--) { /* Fisher-Yates */
        int64_t j = (int64_t)(ferry_rng_u32(rng) % (uint32_t)(k + 1));
        float t = v[k];
        v[k] = v[j];
        v[j] = t;
    }
}

static void setup_case(struct harness *h, const struct gcase *c)
{
    memset(h, 0, sizeof *h);
    h->be = grad_backend();
    cr_assert_eq(ferry_store_init(h->be, &h->st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(42, &h->rng), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&h->ctx), FERRY_OK);
    for (int i = 0; i < c->np; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        cr_assert_eq(ferry_store_add(h->st, name, FERRY_F32, c->ndim[i], c->shape[i], true), FERRY_OK);
        int64_t n = numel(c, i);
        float *v = malloc((size_t)n * sizeof *v);
        fill(h->rng, v, n, c->distinct);
        cr_assert_eq(ferry_store_set(h->st, i, v, (size_t)n * sizeof *v), FERRY_OK);
        free(v);
        h->p[i] = ferry_param(h->ctx, h->st, name);
    }
    ferry_tensor_t *out = c->build(h->ctx, h->p, h->aux);
    cr_assert_not_null(out, "build failed: %s", ferry_last_error());
    int64_t shape[4];
    for (int d = 0; d < ferry_tensor_ndim(out); d++) shape[d] = ferry_tensor_dim(out, d);
    h->r = ferry_input(h->ctx, "R", FERRY_F32, ferry_tensor_ndim(out), shape);
    h->loss = ferry_sum(h->ctx, ferry_mul(h->ctx, out, h->r));
    cr_assert_not_null(h->loss, "%s", ferry_last_error());
    ferry_tensor_set_output(h->loss);
    cr_assert_eq(ferry_backward(h->ctx, h->loss), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < c->np; i++) {
        ferry_tensor_t *g = ferry_grad(h->ctx, h->p[i]);
        cr_assert_not_null(g, "no gradient for parameter %d", i);
        ferry_tensor_set_output(g);
    }
    cr_assert_eq(ferry_graph_init(h->ctx, h->be, &h->g), FERRY_OK, "%s", ferry_last_error());
    int64_t rn = ferry_tensor_numel(h->r);
    float *rv = malloc((size_t)rn * sizeof *rv);
    for (int64_t k = 0; k < rn; k++) rv[k] = (float)ferry_rng_uniform(h->rng, -1, 1);
    cr_assert_eq(ferry_tensor_set(h->g, h->r, rv, (size_t)rn * sizeof *rv), FERRY_OK);
    free(rv);
}

static void teardown_case(struct harness *h)
{
#ifdef GRAD_VULKAN
    vk_test_no_validation_messages(h->be);
#endif
    ferry_graph_free(h->g);
    ferry_ctx_free(h->ctx);
    ferry_store_free(h->st);
    ferry_rng_free(h->rng);
    ferry_backend_free(h->be);
}

static double loss_at(struct harness *h)
{
    cr_assert_eq(ferry_graph_compute(h->g), FERRY_OK);
    return ferry_tensor_get_scalar(h->g, h->loss);
}

static void check_param(struct harness *h, const struct gcase *c, int i)
{
    const float step = c->distinct ? 1e-3f : 1e-2f;
    int64_t n = numel(c, i);
    float *v = malloc((size_t)n * sizeof *v), *ad = malloc((size_t)n * sizeof *ad);
    cr_assert_eq(ferry_store_get(h->st, i, v, (size_t)n * sizeof *v), FERRY_OK);
    loss_at(h);
    cr_assert_eq(ferry_tensor_get(h->g, ferry_grad(h->ctx, h->p[i]), ad, (size_t)n * sizeof *ad), FERRY_OK);
    double num = 0, den = 0;
    int samples = n < 24 ? (int)n : 24;
    for (int s = 0; s < samples; s++) {
        int64_t k = n <= 24 ? s : (int64_t)(ferry_rng_u32(h->rng) % (uint32_t)n);
        float keep = v[k];
        v[k] = keep + step;
        ferry_store_set(h->st, i, v, (size_t)n * sizeof *v);
        double lp = loss_at(h);
        v[k] = keep - step;
        ferry_store_set(h->st, i, v, (size_t)n * sizeof *v);
        double lm = loss_at(h);
        v[k] = keep;
        ferry_store_set(h->st, i, v, (size_t)n * sizeof *v);
        double fd = (lp - lm) / (2 * step) * (c->expect_factor ? c->expect_factor : 1.0);
        double diff = fd - ad[k];
        cr_expect(fabs(diff) <= 2e-2 + 5e-2 * fabs(fd), "param %d element %lld: autodiff %g, finite difference %g",
                  i, (long long)k, (double)ad[k], fd);
        num += diff * diff;
        den += fd * fd;
    }
    if (den > 1e-12)
        cr_expect(sqrt(num / den) <= 2e-2, "param %d: normalised gradient error %g", i, sqrt(num / den));
    free(v);
    free(ad);
}

static void run_case(const struct gcase *c)
{
    struct harness h;
    setup_case(&h, c);
    for (int i = 0; i < c->np; i++) check_param(&h, c, i);
    teardown_case(&h);
}

/* ---- cases -------------------------------------------------------------------------------------- */

#define S2(a, b) {a, b}
#define S4(a, b, c, d) {a, b, c, d}

static ferry_tensor_t *b_add(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_add(x, p[0], p[1]); }
static ferry_tensor_t *b_sub(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_sub(x, p[0], p[1]); }
static ferry_tensor_t *b_mul(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mul(x, p[0], p[1]); }
static ferry_tensor_t *b_square(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mul(x, p[0], p[0]); }
static ferry_tensor_t *b_scale(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_scale(x, p[0], -1.7f); }
static ferry_tensor_t *b_scale_by(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_scale_by(x, p[0], p[1], 0.6f); }
static ferry_tensor_t *b_bias(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_add_bias(x, p[0], p[1]); }
static ferry_tensor_t *b_relu(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_relu(x, p[0]); }
static ferry_tensor_t *b_leaky(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_leaky_relu(x, p[0], 0.1f); }
static ferry_tensor_t *b_sigmoid(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_sigmoid(x, p[0]); }
static ferry_tensor_t *b_tanh(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_tanh(x, p[0]); }
static ferry_tensor_t *b_exp(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_exp(x, p[0]); }
/* 1/(x² + 0.5): keeps away from the pole at 0 */
static ferry_tensor_t *b_recip(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *d = ferry_add(x, ferry_mul(x, p[0], p[0]), ferry_constant(x, 0.5f, 2, (int64_t[]){4, 5}));
    return ferry_reciprocal(x, d);
}
/* detach: x·detach(x) has gradient detach(x) = x, not 2x */
static ferry_tensor_t *b_detach(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mul(x, p[0], ferry_detach(x, p[0])); }
static ferry_tensor_t *b_softmax(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_softmax(x, p[0]); }
static ferry_tensor_t *b_log_softmax(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_log_softmax(x, p[0]); }
static ferry_tensor_t *b_mm_nn(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_matmul(x, p[0], p[1], false, false); }
static ferry_tensor_t *b_mm_nt(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_matmul(x, p[0], p[1], false, true); }
static ferry_tensor_t *b_mm_tn(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_matmul(x, p[0], p[1], true, false); }
static ferry_tensor_t *b_mm_tt(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_matmul(x, p[0], p[1], true, true); }
static ferry_tensor_t *b_conv(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_conv2d(x, p[0], p[1], 1, 0); }
static ferry_tensor_t *b_conv_s2p1(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_conv2d(x, p[0], p[1], 2, 1); }
static ferry_tensor_t *b_maxpool(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_max_pool2d(x, p[0], 2, 2, 0); }
static ferry_tensor_t *b_maxpool_ovl(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_max_pool2d(x, p[0], 3, 2, 1); }
static ferry_tensor_t *b_avgpool(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_avg_pool2d(x, p[0], 3, 2, 1); }
static ferry_tensor_t *b_gap(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_global_avg_pool(x, p[0]); }
static ferry_tensor_t *b_flatten(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_tanh(x, ferry_flatten(x, p[0])); }
static ferry_tensor_t *b_slice(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_tanh(x, ferry_slice_batch(x, p[0], 1, 3)); }
static ferry_tensor_t *b_concat(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_concat_batch(x, p[0], p[1]); }
static ferry_tensor_t *b_sum(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_sum(x, ferry_mul(x, p[0], p[0])); }
static ferry_tensor_t *b_mean(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mean(x, ferry_mul(x, p[0], p[0])); }
static ferry_tensor_t *b_mse(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mse(x, p[0], p[1]); }

static ferry_tensor_t *labels_input(ferry_ctx_t *x, ferry_tensor_t **a, int n, int k)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){n});
    (void)k;
    return a[0];
}
/* labels are set to zero-initialised inputs (class 0) unless a case sets them; use smoothing to
 * exercise every class */
static ferry_tensor_t *b_ce(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { return ferry_cross_entropy(x, p[0], labels_input(x, a, 5, 7), 0.0f); }
static ferry_tensor_t *b_ce_smooth(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { return ferry_cross_entropy(x, p[0], labels_input(x, a, 5, 7), 0.1f); }
static ferry_tensor_t *b_bce(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    a[1] = ferry_constant(x, 0.3f, 2, (int64_t[]){6, 1});
    return ferry_bce_with_logits(x, p[0], a[1]);
}
static ferry_tensor_t *b_dropout(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    a[2] = ferry_input(x, "seed", FERRY_I32, 1, (int64_t[]){1});
    return ferry_dropout(x, p[0], a[2], 0.4f, 7);
}
static ferry_tensor_t *bn_common(ferry_ctx_t *x, ferry_tensor_t **p, int64_t c)
{
    ferry_tensor_t *rm = ferry_constant(x, 0.0f, 1, &c), *rv = ferry_constant(x, 1.0f, 1, &c);
    /* running stats as constants: the op updates them in place, which the gradient ignores */
    return ferry_batch_norm(x, p[0], p[1], p[2], rm, rv, true, 0.1f, 1e-5f);
}
static ferry_tensor_t *b_bn2(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return bn_common(x, p, 3); }
static ferry_tensor_t *b_bn4(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return bn_common(x, p, 2); }
static ferry_tensor_t *b_grl(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    a[0] = ferry_scalar_input(x, "lambda", 0.7f);
    return ferry_grad_reverse(x, p[0], a[0]);
}
/* A small composite: the pieces of the DANN step together. */
static ferry_tensor_t *b_composite(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *h = ferry_relu(x, ferry_conv2d(x, p[0], p[1], 1, 1));
    h = ferry_max_pool2d(x, h, 2, 2, 0);
    h = ferry_matmul(x, ferry_flatten(x, h), p[2], false, true);
    return ferry_log_softmax(x, ferry_add_bias(x, h, p[3]));
}

#define CASE1(name, builder, nd, ...) \
    Test(grad, name) { struct gcase c = {.np = 1, .ndim = {nd}, .shape = {__VA_ARGS__}, .build = builder}; run_case(&c); }
#define CASE2(name, builder, nd0, nd1, s0, s1) \
    Test(grad, name) { struct gcase c = {.np = 2, .ndim = {nd0, nd1}, .shape = {s0, s1}, .build = builder}; run_case(&c); }

CASE2(add, b_add, 2, 2, S2(3, 5), S2(3, 5))
CASE2(sub, b_sub, 2, 2, S2(3, 5), S2(3, 5))
CASE2(mul, b_mul, 4, 4, S4(2, 3, 2, 2), S4(2, 3, 2, 2))
CASE1(mul_same_input, b_square, 2, S2(4, 3))
CASE1(scale, b_scale, 2, S2(3, 4))
CASE2(scale_by, b_scale_by, 2, 1, S2(3, 4), {1})
CASE2(add_bias_2d, b_bias, 2, 1, S2(4, 3), {3})
CASE2(add_bias_4d, b_bias, 4, 1, S4(2, 3, 2, 3), {3})
CASE1(relu, b_relu, 2, S2(5, 6))
CASE1(leaky_relu, b_leaky, 2, S2(5, 6))
CASE1(sigmoid, b_sigmoid, 2, S2(5, 6))
CASE1(tanh, b_tanh, 4, S4(2, 2, 3, 3))
CASE1(exp, b_exp, 2, S2(5, 6))
CASE1(reciprocal, b_recip, 2, S2(4, 5))
CASE1(softmax, b_softmax, 2, S2(4, 7))
CASE1(log_softmax, b_log_softmax, 2, S2(4, 7))
CASE2(matmul_nn, b_mm_nn, 2, 2, S2(3, 5), S2(5, 4))
CASE2(matmul_nt, b_mm_nt, 2, 2, S2(3, 5), S2(4, 5))
CASE2(matmul_tn, b_mm_tn, 2, 2, S2(5, 3), S2(5, 4))
CASE2(matmul_tt, b_mm_tt, 2, 2, S2(5, 3), S2(4, 5))
CASE2(conv2d, b_conv, 4, 4, S4(2, 3, 7, 6), S4(4, 3, 3, 3))
CASE2(conv2d_stride2_pad1, b_conv_s2p1, 4, 4, S4(2, 2, 7, 7), S4(3, 2, 3, 3))
Test(grad, max_pool2d)
{
    struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(2, 3, 6, 6)}, .build = b_maxpool, .distinct = true};
    run_case(&c);
}

Test(grad, max_pool2d_overlapping)
{
    struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(2, 2, 7, 7)}, .build = b_maxpool_ovl, .distinct = true};
    run_case(&c);
}
CASE1(avg_pool2d, b_avgpool, 4, S4(2, 2, 7, 5))
CASE1(global_avg_pool, b_gap, 4, S4(2, 3, 4, 5))
CASE1(flatten, b_flatten, 4, S4(2, 3, 2, 2))
CASE1(slice_batch, b_slice, 2, S2(4, 3))
CASE2(concat_batch, b_concat, 2, 2, S2(2, 3), S2(3, 3))
CASE1(sum, b_sum, 2, S2(3, 3))
CASE1(mean, b_mean, 2, S2(3, 3))
CASE2(mse, b_mse, 2, 2, S2(3, 4), S2(3, 4))
CASE1(cross_entropy, b_ce, 2, S2(5, 7))
CASE1(cross_entropy_smoothing, b_ce_smooth, 2, S2(5, 7))
CASE1(bce_with_logits, b_bce, 2, S2(6, 1))
CASE1(dropout, b_dropout, 2, S2(8, 8))

Test(grad, batch_norm_2d)
{
    struct gcase c = {.np = 3, .ndim = {2, 1, 1}, .shape = {S2(6, 3), {3}, {3}}, .build = b_bn2};
    run_case(&c);
}

Test(grad, batch_norm_4d)
{
    struct gcase c = {.np = 3, .ndim = {4, 1, 1}, .shape = {S4(3, 2, 3, 3), {2}, {2}}, .build = b_bn4};
    run_case(&c);
}

/* x·detach(x): the finite difference sees d(x²)/dx = 2x, autodiff only the first factor, x */
Test(grad, detach_blocks_the_gradient)
{
    struct gcase c = {.np = 1, .ndim = {2}, .shape = {S2(4, 5)}, .build = b_detach, .expect_factor = 0.5f};
    run_case(&c);
}

Test(grad, gradient_reversal)
{
    /* forward is the identity; the gradient must be -0.7 times the forward's */
    struct gcase c = {.np = 1, .ndim = {2}, .shape = {S2(3, 4)}, .build = b_grl, .expect_factor = -0.7f};
    run_case(&c);
}

Test(grad, composite_conv_pool_linear)
{
    struct gcase c = {.np = 4, .ndim = {4, 4, 2, 1},
                      .shape = {S4(2, 2, 6, 6), S4(3, 2, 3, 3), S2(5, 27), {5}},
                      .build = b_composite};
    run_case(&c);
}

/* ---- broadcasting binary ops: the gradient of a broadcast source is summed over the broadcast
 * dimensions (sum_to) ---- */
static ferry_tensor_t *b_bc_add(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_add(x, p[0], p[1]); }
static ferry_tensor_t *b_bc_sub(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_sub(x, p[0], p[1]); }
static ferry_tensor_t *b_bc_mul(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_mul(x, p[0], p[1]); }
/* a / (b² + 0.5): away from the pole */
static ferry_tensor_t *b_bc_div(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *d = ferry_add(x, ferry_mul(x, p[1], p[1]), ferry_constant(x, 0.5f, 1, (int64_t[]){1}));
    return ferry_div(x, p[0], d);
}
/* Both parameters are filled from the same grid (`distinct`): b is shifted by 0.013, far more than the
 * finite-difference step, so that no perturbation crosses a tie of a and b. */
static ferry_tensor_t *shifted(ferry_ctx_t *x, ferry_tensor_t *b)
{
    return ferry_add(x, b, ferry_constant(x, 0.013f, 1, (int64_t[]){1}));
}
static ferry_tensor_t *b_bc_max(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_maximum(x, p[0], shifted(x, p[1])); }
static ferry_tensor_t *b_bc_min(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_minimum(x, p[0], shifted(x, p[1])); }
/* where(a > b, a·2, b·3): the mask routes each element to one side */
static ferry_tensor_t *b_where(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *b = shifted(x, p[1]);
    ferry_tensor_t *m = ferry_compare(x, p[0], FERRY_CMP_GT, b);
    return ferry_where(x, m, ferry_scale(x, p[0], 2.0f), ferry_scale(x, b, 3.0f));
}
static ferry_tensor_t *b_sum_to(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    return ferry_sum_to(x, ferry_mul(x, p[0], p[0]), 3, (int64_t[]){1, 3, 1});
}

CASE2(broadcast_add_row, b_bc_add, 2, 1, S2(3, 5), {5})
CASE2(broadcast_add_outer, b_bc_add, 2, 2, S2(4, 1), S2(1, 6))
CASE2(broadcast_sub_channels, b_bc_sub, 4, 4, S4(2, 3, 2, 2), S4(1, 3, 1, 1))
#define S3(a, b, c) {a, b, c}
CASE2(broadcast_mul_both_sides, b_bc_mul, 4, 3, S4(2, 1, 3, 1), S3(3, 1, 4))
CASE2(broadcast_div, b_bc_div, 2, 2, S2(3, 4), S2(3, 1))
Test(grad, broadcast_maximum)
{
    struct gcase c = {.np = 2, .ndim = {2, 1}, .shape = {S2(4, 5), {5}}, .build = b_bc_max, .distinct = true};
    run_case(&c);
}
Test(grad, broadcast_minimum)
{
    struct gcase c = {.np = 2, .ndim = {3, 3}, .shape = {{2, 3, 1}, {1, 3, 4}}, .build = b_bc_min, .distinct = true};
    run_case(&c);
}
Test(grad, compare_and_where)
{
    struct gcase c = {.np = 2, .ndim = {2, 2}, .shape = {S2(3, 4), S2(1, 4)}, .build = b_where, .distinct = true};
    run_case(&c);
}
CASE1(sum_to, b_sum_to, 4, S4(2, 2, 3, 5))
/* ---- axis family: concat / slice / transpose / reductions / gather / batched matmul ------------- */

#define AXB(name, expr) \
    static ferry_tensor_t *name(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return expr; }
#define CAT3(ax) ferry_concat(x, ax, 3, (ferry_tensor_t *[]){p[0], p[1], p[2]})
AXB(b_cat0, CAT3(0))
AXB(b_cat1, CAT3(1))
AXB(b_cat2, CAT3(2))
AXB(b_cat3, CAT3(3))
#define CASE3(name, builder, s0, s1, s2) \
    Test(grad, name) { struct gcase c = {.np = 3, .ndim = {4, 4, 4}, .shape = {s0, s1, s2}, .build = builder}; run_case(&c); }
CASE3(concat_axis0, b_cat0, S4(2, 3, 2, 3), S4(1, 3, 2, 3), S4(3, 3, 2, 3))
CASE3(concat_axis1, b_cat1, S4(2, 3, 2, 3), S4(2, 1, 2, 3), S4(2, 2, 2, 3))
CASE3(concat_axis2, b_cat2, S4(2, 3, 2, 3), S4(2, 3, 3, 3), S4(2, 3, 1, 3))
CASE3(concat_axis3, b_cat3, S4(2, 3, 2, 3), S4(2, 3, 2, 1), S4(2, 3, 2, 4))
/* two operands of a 2-D concat along the columns, as Inception's channel concat in miniature */
AXB(b_cat2d, ferry_concat(x, 1, 2, (ferry_tensor_t *[]){p[0], p[1]}))
CASE2(concat_2d_axis1, b_cat2d, 2, 2, S2(3, 2), S2(3, 5))

AXB(b_sl0, ferry_tanh(x, ferry_slice(x, p[0], 0, 1, 3)))
AXB(b_sl1, ferry_tanh(x, ferry_slice(x, p[0], 1, 1, 3)))
AXB(b_sl2, ferry_tanh(x, ferry_slice(x, p[0], 2, 0, 2)))
AXB(b_sl3, ferry_tanh(x, ferry_slice(x, p[0], 3, 2, 4)))
CASE1(slice_axis0, b_sl0, 4, S4(3, 4, 3, 4))
CASE1(slice_axis1, b_sl1, 4, S4(3, 4, 3, 4))
CASE1(slice_axis2, b_sl2, 4, S4(3, 4, 3, 4))
CASE1(slice_axis3, b_sl3, 4, S4(3, 4, 3, 4))

AXB(b_tr03, ferry_tanh(x, ferry_transpose(x, p[0], 0, 3)))
AXB(b_tr12, ferry_tanh(x, ferry_transpose(x, p[0], 1, 2)))
AXB(b_tr13, ferry_transpose(x, p[0], 3, 1))
AXB(b_tr2d, ferry_transpose(x, p[0], 0, 1))
AXB(b_tr3d, ferry_matmul(x, ferry_reshape(x, ferry_transpose(x, p[0], 0, 2), 2, (int64_t[]){4, 6}), p[1], false, false))
CASE1(transpose_0_3, b_tr03, 4, S4(2, 3, 4, 5))
CASE1(transpose_1_2, b_tr12, 4, S4(2, 3, 4, 5))
CASE1(transpose_3_1, b_tr13, 4, S4(2, 3, 4, 5))
CASE1(transpose_2d, b_tr2d, 2, S2(3, 5))
Test(grad, transpose_3d_then_matmul)
{
    struct gcase c = {.np = 2, .ndim = {3, 2}, .shape = {{2, 3, 4}, S2(6, 3)}, .build = b_tr3d};
    run_case(&c);
}

#define RED_CASES(fn, tag, dist)                                                                       \
    AXB(b_##tag##0, fn(x, p[0], 0)) AXB(b_##tag##1, fn(x, p[0], 1)) AXB(b_##tag##2, fn(x, p[0], 2))  \
    AXB(b_##tag##3, fn(x, p[0], 3))                                                                  \
    Test(grad, tag##_axis0) { struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(3, 4, 2, 5)}, .build = b_##tag##0, .distinct = dist}; run_case(&c); } \
    Test(grad, tag##_axis1) { struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(3, 4, 2, 5)}, .build = b_##tag##1, .distinct = dist}; run_case(&c); } \
    Test(grad, tag##_axis2) { struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(3, 4, 2, 5)}, .build = b_##tag##2, .distinct = dist}; run_case(&c); } \
    Test(grad, tag##_axis3) { struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(3, 4, 2, 5)}, .build = b_##tag##3, .distinct = dist}; run_case(&c); }
RED_CASES(ferry_sum_axis, sum, false)
RED_CASES(ferry_mean_axis, mean, false)
RED_CASES(ferry_max_axis, max, true)
RED_CASES(ferry_min_axis, min, true)

/* gather rows of x [5,4] by idx = argmax of x along axis 1 (values in [0,4): repeated rows and
 * rows never gathered, so the scatter-add sums several rows and leaves others zero); distinct
 * values keep the arg-max fixed under the finite difference */
AXB(b_gather, ferry_gather_rows(x, p[0], ferry_reshape(x, ferry_argmax_axis(x, p[0], 1), 1, (int64_t[]){5})))
Test(grad, gather_rows_scatter_add)
{
    struct gcase c = {.np = 1, .ndim = {2}, .shape = {S2(5, 4)}, .build = b_gather, .distinct = true};
    run_case(&c);
}

AXB(b_bmm_nn, ferry_batched_matmul(x, p[0], p[1], false, false))
AXB(b_bmm_nt, ferry_batched_matmul(x, p[0], p[1], false, true))
AXB(b_bmm_tn, ferry_batched_matmul(x, p[0], p[1], true, false))
AXB(b_bmm_tt, ferry_batched_matmul(x, p[0], p[1], true, true))
#define S3(a, b, c) {a, b, c}
#define CASE2_3D(name, builder, s0, s1) \
    Test(grad, name) { struct gcase c = {.np = 2, .ndim = {3, 3}, .shape = {s0, s1}, .build = builder}; run_case(&c); }
CASE2_3D(batched_matmul_nn, b_bmm_nn, S3(3, 2, 4), S3(3, 4, 5))
CASE2_3D(batched_matmul_nt, b_bmm_nt, S3(3, 2, 4), S3(3, 5, 4))
CASE2_3D(batched_matmul_tn, b_bmm_tn, S3(3, 4, 2), S3(3, 4, 5))
CASE2_3D(batched_matmul_tt, b_bmm_tt, S3(3, 4, 2), S3(3, 5, 4))
/* CDAN's per-sample outer product f [B,D,1] · g [B,1,K] */
CASE2_3D(batched_matmul_outer, b_bmm_nn, S3(4, 3, 1), S3(4, 1, 5))

/* ---- axis family: exact values and refusals, on this file's backend ---------------------------- */

/* Runs out = build() on this backend with x set to xv; copies out (F32, or I32 as float) to ov. */
static void axis_eval(ferry_tensor_t *(*build)(ferry_ctx_t *, ferry_tensor_t *), int ndim,
                      const int64_t *shape, const float *xv, float *ov, int64_t on)
{
    ferry_backend_t *be = grad_backend();
    ferry_ctx_t *ctx;
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *xt = ferry_input(ctx, "x", FERRY_F32, ndim, shape);
    ferry_tensor_t *out = build(ctx, xt);
    cr_assert_not_null(out, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_numel(out), on);
    ferry_tensor_set_output(out);
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_set(g, xt, xv, (size_t)ferry_tensor_numel(xt) * sizeof *xv), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    if (ferry_tensor_dtype(out) == FERRY_I32) {
        int32_t iv[64];
        cr_assert(on <= 64);
        cr_assert_eq(ferry_tensor_get(g, out, iv, (size_t)on * sizeof *iv), FERRY_OK);
        for (int64_t k = 0; k < on; k++) ov[k] = (float)iv[k];
    } else {
        cr_assert_eq(ferry_tensor_get(g, out, ov, (size_t)on * sizeof *ov), FERRY_OK);
    }
#ifdef GRAD_VULKAN
    vk_test_no_validation_messages(be);
#endif
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_backend_free(be);
}

/* x [2,3] = {{1, 5, 5}, {7, -2, 7}}: ties resolve to the first index */
static const float axis_x[6] = {1, 5, 5, 7, -2, 7};
static ferry_tensor_t *e_argmax1(ferry_ctx_t *c, ferry_tensor_t *x) { return ferry_argmax_axis(c, x, 1); }
static ferry_tensor_t *e_argmax0(ferry_ctx_t *c, ferry_tensor_t *x) { return ferry_argmax_axis(c, x, 0); }
static ferry_tensor_t *e_onehot(ferry_ctx_t *c, ferry_tensor_t *x)
{
    return ferry_one_hot(c, ferry_reshape(c, ferry_argmax_axis(c, x, 1), 1, (int64_t[]){2}), 4);
}
static ferry_tensor_t *e_min0(ferry_ctx_t *c, ferry_tensor_t *x) { return ferry_min_axis(c, x, 0); }
static ferry_tensor_t *e_mean1(ferry_ctx_t *c, ferry_tensor_t *x) { return ferry_mean_axis(c, x, 1); }
static ferry_tensor_t *e_tr(ferry_ctx_t *c, ferry_tensor_t *x) { return ferry_transpose(c, x, 0, 1); }
static ferry_tensor_t *e_cat(ferry_ctx_t *c, ferry_tensor_t *x)
{
    return ferry_concat(c, 1, 2, (ferry_tensor_t *[]){ferry_slice(c, x, 1, 2, 3), x});
}
static ferry_tensor_t *e_gather(ferry_ctx_t *c, ferry_tensor_t *x)
{
    /* idx = argmax along 1 = {1, 0}: rows x[1], x[0] of x viewed [2,3] */
    return ferry_gather_rows(c, x, ferry_reshape(c, ferry_argmax_axis(c, x, 1), 1, (int64_t[]){2}));
}

Test(grad, axis_values)
{
    const int64_t s[2] = {2, 3};
    float o[12];
    axis_eval(e_argmax1, 2, s, axis_x, o, 2);
    cr_expect(o[0] == 1 && o[1] == 0, "argmax_axis 1: %g %g", o[0], o[1]);
    axis_eval(e_argmax0, 2, s, axis_x, o, 3);
    cr_expect(o[0] == 1 && o[1] == 0 && o[2] == 1, "argmax_axis 0: %g %g %g", o[0], o[1], o[2]);
    axis_eval(e_onehot, 2, s, axis_x, o, 8);
    const float oh[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    for (int k = 0; k < 8; k++) cr_expect(o[k] == oh[k], "one_hot[%d] = %g", k, o[k]);
    axis_eval(e_min0, 2, s, axis_x, o, 3);
    cr_expect(o[0] == 1 && o[1] == -2 && o[2] == 5, "min_axis 0: %g %g %g", o[0], o[1], o[2]);
    axis_eval(e_mean1, 2, s, axis_x, o, 2);
    cr_expect(fabsf(o[0] - 11.0f / 3) < 1e-6f && fabsf(o[1] - 4) < 1e-6f, "mean_axis 1: %g %g", o[0], o[1]);
    axis_eval(e_tr, 2, s, axis_x, o, 6);
    const float tr[6] = {1, 7, 5, -2, 5, 7};
    for (int k = 0; k < 6; k++) cr_expect(o[k] == tr[k], "transpose[%d] = %g", k, o[k]);
    axis_eval(e_cat, 2, s, axis_x, o, 8);
    const float ct[8] = {5, 1, 5, 5, 7, 7, -2, 7};
    for (int k = 0; k < 8; k++) cr_expect(o[k] == ct[k], "concat[%d] = %g", k, o[k]);
    axis_eval(e_gather, 2, s, axis_x, o, 6);
    cr_expect(o[0] == 7 && o[1] == -2 && o[2] == 7 && o[3] == 1 && o[4] == 5 && o[5] == 5,
              "gather_rows: %g %g %g %g %g %g", o[0], o[1], o[2], o[3], o[4], o[5]);
}

/* A tie in max_axis: the whole gradient goes to the first maximum. */
Test(grad, max_axis_tie_gradient_to_first)
{
    ferry_backend_t *be = grad_backend();
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "x", FERRY_F32, 2, (int64_t[]){2, 3}, true), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 0, axis_x, sizeof axis_x), FERRY_OK);
    ferry_tensor_t *x = ferry_param(ctx, st, "x");
    ferry_tensor_t *loss = ferry_sum(ctx, ferry_max_axis(ctx, x, 1));
    ferry_tensor_set_output(loss);
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    ferry_tensor_t *gx = ferry_grad(ctx, x);
    ferry_tensor_set_output(gx);
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    float v[6];
    cr_assert_eq(ferry_tensor_get(g, gx, v, sizeof v), FERRY_OK);
    const float want[6] = {0, 1, 0, 1, 0, 0};
    for (int k = 0; k < 6; k++) cr_expect(v[k] == want[k], "dx[%d] = %g", k, v[k]);
    cr_expect(ferry_tensor_get_scalar(g, loss) == 12.0f);
#ifdef GRAD_VULKAN
    vk_test_no_validation_messages(be);
#endif
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_store_free(st);
    ferry_backend_free(be);
}

/* Refusals: NULL and an error naming the op. */
static void expect_refused(ferry_tensor_t *t, const char *what)
{
    cr_expect_null(t, "%s was accepted", what);
    cr_expect(strstr(ferry_last_error(), what) != NULL, "error \"%s\" does not contain \"%s\"",
              ferry_last_error(), what);
}

Test(grad, axis_refusals)
{
    ferry_ctx_t *c;
    cr_assert_eq(ferry_ctx_init(&c), FERRY_OK);
    ferry_tensor_t *a = ferry_input(c, "a", FERRY_F32, 4, (int64_t[]){2, 3, 4, 5});
    ferry_tensor_t *b = ferry_input(c, "b", FERRY_F32, 4, (int64_t[]){2, 3, 4, 6});
    ferry_tensor_t *l = ferry_input(c, "l", FERRY_I32, 1, (int64_t[]){4});
    ferry_tensor_t *m = ferry_input(c, "m", FERRY_F32, 2, (int64_t[]){4, 3});
    expect_refused(ferry_concat(c, 4, 2, (ferry_tensor_t *[]){a, a}), "concat: axis 4 out of range");
    expect_refused(ferry_concat(c, -1, 2, (ferry_tensor_t *[]){a, a}), "concat: axis -1 out of range");
    expect_refused(ferry_concat(c, 1, 2, (ferry_tensor_t *[]){a, b}), "concat: dtypes and all dimensions but the axis must match");
    cr_expect_not_null(ferry_concat(c, 3, 2, (ferry_tensor_t *[]){a, b}));
    expect_refused(ferry_concat(c, 0, 7, (ferry_tensor_t *[]){a, a, a, a, a, a, a}), "concat: 7 tensors");
    expect_refused(ferry_slice(c, a, 4, 0, 1), "slice: axis 4 out of range for a 4-D tensor");
    expect_refused(ferry_slice(c, a, 2, 3, 5), "slice: [3, 5) of axis 2 of length 4");
    expect_refused(ferry_slice(c, a, 1, 2, 2), "slice: [2, 2) of axis 1");
    expect_refused(ferry_transpose(c, a, 0, 4), "transpose: axis 4 out of range");
    expect_refused(ferry_sum_axis(c, a, 4), "sum_axis: axis 4 out of range");
    expect_refused(ferry_mean_axis(c, a, -1), "mean_axis: axis -1 out of range");
    expect_refused(ferry_max_axis(c, m, 2), "max_axis: axis 2 out of range for a 2-D tensor");
    expect_refused(ferry_min_axis(c, l, 0), "min_axis: expects an F32 tensor");
    expect_refused(ferry_argmax_axis(c, a, 5), "argmax_axis: axis 5 out of range");
    expect_refused(ferry_one_hot(c, m, 3), "one_hot: expects I32 labels [N]");
    expect_refused(ferry_one_hot(c, l, 0), "one_hot: 0 classes");
    expect_refused(ferry_gather_rows(c, m, m), "gather_rows: expects F32 x [R,D] and I32 indices [M]");
    expect_refused(ferry_gather_rows(c, a, l), "gather_rows: expects F32 x [R,D]");
    ferry_tensor_t *p = ferry_input(c, "p", FERRY_F32, 3, (int64_t[]){2, 3, 4});
    ferry_tensor_t *q = ferry_input(c, "q", FERRY_F32, 3, (int64_t[]){2, 5, 4});
    ferry_tensor_t *r = ferry_input(c, "r", FERRY_F32, 3, (int64_t[]){3, 4, 4});
    expect_refused(ferry_batched_matmul(c, p, q, false, false), "batched_matmul: inner dimensions differ");
    cr_expect_not_null(ferry_batched_matmul(c, p, q, false, true));
    expect_refused(ferry_batched_matmul(c, p, r, false, false), "batched_matmul: batch sizes differ");
    expect_refused(ferry_batched_matmul(c, m, m, false, false), "batched_matmul: expects F32 tensors [B,M,K] and [B,K,N]");
    ferry_ctx_free(c);
}
/* ---- conv family: general 2-D convolution (ferry_conv2d_ex) ---- */
#define CONV_EX(fn, ...)                                                                           \
    static ferry_tensor_t *fn(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)              \
    {                                                                                              \
        (void)a;                                                                                   \
        return ferry_conv2d_ex(x, p[0], p[1], &(ferry_conv_params){__VA_ARGS__});                  \
    }
CONV_EX(b_conv_1x7, .pad_left = 3, .pad_right = 3)
CONV_EX(b_conv_7x1, .pad_top = 3, .pad_bottom = 3)
CONV_EX(b_conv_dilated, .dilation_h = 2, .dilation_w = 3, .pad_top = 2, .pad_bottom = 1,
        .pad_left = 3, .pad_right = 2)
CONV_EX(b_conv_stride21, .stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_bottom = 1,
        .pad_left = 1, .pad_right = 1)
CONV_EX(b_conv_asym, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1)
CONV_EX(b_conv_asym_s1, .pad_bottom = 1, .pad_right = 1)
CASE2(conv2d_1x7, b_conv_1x7, 4, 4, S4(2, 3, 5, 9), S4(4, 3, 1, 7))
CASE2(conv2d_7x1, b_conv_7x1, 4, 4, S4(2, 3, 9, 5), S4(4, 3, 7, 1))
CASE2(conv2d_dilated, b_conv_dilated, 4, 4, S4(2, 2, 8, 9), S4(3, 2, 3, 3))
CASE2(conv2d_stride2_1, b_conv_stride21, 4, 4, S4(2, 2, 7, 6), S4(3, 2, 3, 3))
CASE2(conv2d_pad_asym_s2, b_conv_asym, 4, 4, S4(2, 2, 8, 7), S4(3, 2, 3, 3))
CASE2(conv2d_pad_asym_even_kernel, b_conv_asym_s1, 4, 4, S4(2, 2, 6, 5), S4(3, 2, 2, 2))
CONV_EX(b_conv_grouped, .groups = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1)
CONV_EX(b_conv_depthwise, .groups = 4, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1)
CONV_EX(b_conv_depthwise_mult, .groups = 3, .dilation_h = 2, .dilation_w = 2, .pad_top = 2,
        .pad_bottom = 2, .pad_left = 2, .pad_right = 2)
CASE2(conv2d_grouped, b_conv_grouped, 4, 4, S4(2, 6, 6, 5), S4(9, 2, 3, 3))
CASE2(conv2d_depthwise, b_conv_depthwise, 4, 4, S4(2, 4, 8, 7), S4(4, 1, 3, 3))
CASE2(conv2d_depthwise_multiplier_dilated, b_conv_depthwise_mult, 4, 4, S4(2, 3, 7, 6), S4(6, 1, 3, 3))
/* ---- pool family: general pooling (asymmetric padding, ceil mode, both average divisors) ---- */
static ferry_tensor_t *pool_ex(ferry_ctx_t *x, ferry_tensor_t *in, ferry_pool_kind kind, int k, int s, int pt, int pb, int pl, int pr, bool ceil_mode, bool cip)
{
    ferry_pool_params p = {.kh = k, .kw = k, .stride_h = s, .stride_w = s, .pad_top = pt, .pad_bottom = pb,
                           .pad_left = pl, .pad_right = pr, .ceil_mode = ceil_mode, .count_include_pad = cip};
    return ferry_pool2d_ex(x, in, kind, &p);
}
static ferry_tensor_t *b_avg_excl(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 1, 1, false, false); }
static ferry_tensor_t *b_avg_same(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 0, 1, 0, 1, false, false); }
static ferry_tensor_t *b_avg_asym_incl(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 0, 0, 1, false, true); }
static ferry_tensor_t *b_avg_ceil(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 0, 0, true, true); }
static ferry_tensor_t *b_avg_ceil_excl(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 1, 1, true, false); }
static ferry_tensor_t *b_max_asym(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 3, 2, 0, 1, 1, 0, false, true); }
static ferry_tensor_t *b_max_ceil(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 3, 2, 1, 1, 1, 1, true, true); }
static ferry_tensor_t *b_max_ceil_2x2(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 2, 2, 0, 0, 0, 0, true, true); }
CASE1(avg_pool2d_exclude_pad, b_avg_excl, 4, S4(2, 2, 7, 6))
CASE1(avg_pool2d_same_even, b_avg_same, 4, S4(1, 3, 6, 8))
CASE1(avg_pool2d_asym_include_pad, b_avg_asym_incl, 4, S4(2, 2, 7, 5))
CASE1(avg_pool2d_ceil, b_avg_ceil, 4, S4(2, 2, 6, 6))
CASE1(avg_pool2d_ceil_exclude_pad, b_avg_ceil_excl, 4, S4(1, 3, 8, 7))
Test(grad, max_pool2d_asym_pad)
{
    struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(2, 2, 7, 6)}, .build = b_max_asym, .distinct = true};
    run_case(&c);
}
Test(grad, max_pool2d_ceil)
{
    struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(2, 2, 8, 7)}, .build = b_max_ceil, .distinct = true};
    run_case(&c);
}
Test(grad, max_pool2d_ceil_2x2_odd)
{
    struct gcase c = {.np = 1, .ndim = {4}, .shape = {S4(1, 3, 7, 5)}, .build = b_max_ceil_2x2, .distinct = true};
    run_case(&c);
}
static ferry_tensor_t *b_adaptive(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_adaptive_avg_pool2d(x, p[0], 3, 4); }
static ferry_tensor_t *b_adaptive_up(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_adaptive_avg_pool2d(x, p[0], 5, 2); }
CASE1(adaptive_avg_pool2d, b_adaptive, 4, S4(2, 2, 7, 10))
CASE1(adaptive_avg_pool2d_larger_out, b_adaptive_up, 4, S4(1, 3, 3, 5))

/* ---- unary kinds: log, sqrt, square, pow, abs, clamp, relu6, silu, gelu, hard_sigmoid, softplus.
 * Inputs are ±[0.1, 1]: away from abs's kink at 0; log, sqrt and pow of a non-integer exponent see
 * x² + 0.5; the clamp and hard-sigmoid edges are kept at least 0.05 from every input. */
static ferry_tensor_t *sq_plus_half(ferry_ctx_t *x, ferry_tensor_t *p)
{
    int64_t shape[4];
    for (int d = 0; d < ferry_tensor_ndim(p); d++) shape[d] = ferry_tensor_dim(p, d);
    return ferry_add(x, ferry_mul(x, p, p), ferry_constant(x, 0.5f, ferry_tensor_ndim(p), shape));
}
static ferry_tensor_t *b_u_log(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_log(x, sq_plus_half(x, p[0])); }
static ferry_tensor_t *b_u_sqrt(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_sqrt(x, sq_plus_half(x, p[0])); }
static ferry_tensor_t *b_u_square(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_square(x, p[0]); }
static ferry_tensor_t *b_u_pow_frac(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_pow(x, sq_plus_half(x, p[0]), -1.7f); }
static ferry_tensor_t *b_u_pow_int(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_pow(x, p[0], 3.0f); }
static ferry_tensor_t *b_u_abs(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_abs(x, p[0]); }
/* negatives pass, positives are clamped to 0.05 (gradient 0) */
static ferry_tensor_t *b_u_clamp(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_clamp(x, p[0], -2.0f, 0.05f); }
/* 5.5x in ±[0.55, 5.5]: negatives clamped to 0, positives pass (the upper edge: unary_clamp) */
static ferry_tensor_t *b_u_relu6(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_relu6(x, ferry_scale(x, p[0], 5.5f)); }
static ferry_tensor_t *b_u_silu(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_silu(x, ferry_scale(x, p[0], 3.0f)); }
static ferry_tensor_t *b_u_gelu(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_gelu(x, ferry_scale(x, p[0], 3.0f)); }
/* 2.5x in ±[0.25, 2.5]: inside (-3, 3) */
static ferry_tensor_t *b_u_hsig_in(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_hard_sigmoid(x, ferry_scale(x, p[0], 2.5f)); }
/* 4x + 3 in [-1, 2.6] ∪ [3.4, 7]: both sides of the upper edge 3 */
static ferry_tensor_t *b_u_hsig_edge(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    ferry_tensor_t *s = ferry_scale(x, p[0], 4.0f);
    int64_t shape[2] = {ferry_tensor_dim(p[0], 0), ferry_tensor_dim(p[0], 1)};
    return ferry_hard_sigmoid(x, ferry_add(x, s, ferry_constant(x, 3.0f, 2, shape)));
}
static ferry_tensor_t *b_u_softplus(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_softplus(x, ferry_scale(x, p[0], 4.0f)); }

CASE1(unary_log, b_u_log, 2, S2(4, 5))
CASE1(unary_sqrt, b_u_sqrt, 2, S2(4, 5))
CASE1(unary_square, b_u_square, 4, S4(2, 3, 2, 2))
CASE1(unary_pow_fractional, b_u_pow_frac, 2, S2(4, 5))
CASE1(unary_pow_integer_negative_base, b_u_pow_int, 2, S2(4, 5))
CASE1(unary_abs, b_u_abs, 2, S2(5, 6))
CASE1(unary_clamp, b_u_clamp, 2, S2(5, 6))
CASE1(unary_relu6, b_u_relu6, 2, S2(5, 6))
CASE1(unary_silu, b_u_silu, 2, S2(5, 6))
CASE1(unary_gelu, b_u_gelu, 2, S2(5, 6))
CASE1(unary_hard_sigmoid, b_u_hsig_in, 2, S2(5, 6))
CASE1(unary_hard_sigmoid_edges, b_u_hsig_edge, 2, S2(5, 6))
CASE1(unary_softplus, b_u_softplus, 2, S2(5, 6))

/* ---- batch norm: eval mode (fixed running statistics) and no scale (gamma NULL) ---------------- */
static ferry_tensor_t *bn_eval_common(ferry_ctx_t *x, ferry_tensor_t **p, int64_t c, bool scale)
{
    ferry_tensor_t *rm = ferry_constant(x, 0.2f, 1, &c), *rv = ferry_constant(x, 1.7f, 1, &c);
    return ferry_batch_norm(x, p[0], scale ? p[1] : NULL, scale ? p[2] : p[1], rm, rv, false, 0.1f, 1e-3f);
}
static ferry_tensor_t *b_bn_eval2(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return bn_eval_common(x, p, 3, true); }
static ferry_tensor_t *b_bn_eval4(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return bn_eval_common(x, p, 2, true); }
static ferry_tensor_t *b_bn_eval4_noscale(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return bn_eval_common(x, p, 2, false); }
static ferry_tensor_t *b_bn_train4_noscale(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
{
    (void)a;
    int64_t c = 2;
    ferry_tensor_t *rm = ferry_constant(x, 0.0f, 1, &c), *rv = ferry_constant(x, 1.0f, 1, &c);
    return ferry_batch_norm(x, p[0], NULL, p[1], rm, rv, true, 0.1f, 1e-5f);
}

Test(grad, batch_norm_eval_2d)
{
    struct gcase c = {.np = 3, .ndim = {2, 1, 1}, .shape = {S2(6, 3), {3}, {3}}, .build = b_bn_eval2};
    run_case(&c);
}

Test(grad, batch_norm_eval_4d)
{
    struct gcase c = {.np = 3, .ndim = {4, 1, 1}, .shape = {S4(3, 2, 3, 3), {2}, {2}}, .build = b_bn_eval4};
    run_case(&c);
}

Test(grad, batch_norm_eval_no_scale)
{
    struct gcase c = {.np = 2, .ndim = {4, 1}, .shape = {S4(3, 2, 3, 3), {2}}, .build = b_bn_eval4_noscale};
    run_case(&c);
}

Test(grad, batch_norm_train_no_scale)
{
    struct gcase c = {.np = 2, .ndim = {4, 1}, .shape = {S4(3, 2, 3, 3), {2}}, .build = b_bn_train4_noscale};
    run_case(&c);
}

/* ---- layer norm over the last dimension ----------------------------------------------------------- */
static ferry_tensor_t *b_layer_norm(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a) { (void)a; return ferry_layer_norm(x, p[0], p[1], p[2], 1e-5f); }

Test(grad, layer_norm)
{
    struct gcase c = {.np = 3, .ndim = {2, 1, 1}, .shape = {S2(4, 7), {7}, {7}}, .build = b_layer_norm};
    run_case(&c);
}

Test(grad, layer_norm_one_row)
{
    struct gcase c = {.np = 3, .ndim = {2, 1, 1}, .shape = {S2(1, 5), {5}, {5}}, .build = b_layer_norm};
    run_case(&c);
}

/* Layer norm against torch.nn.functional.layer_norm (values from tests/ops/layer_norm_reference.py,
 * computed in double): out, and the gradients of sum(out ⊙ R). The second row has a variance of
 * 0.005, where eps = 1e-5 counts. */
static const float ln_ref_out[15] = {0.147453852f, -0.632661328f, -2.49475057f, 1.05570099f, 0.852546148f, 8.8817842e-16f, -0.606400733f, -2.3192022f, 1.71280147f, 0.823399817f, -1.27420474f, 0.542732155f, 0.415505679f, -0.952608049f, 1.35634539f};
static const float ln_ref_dx[15] = {0.582272614f, -0.53905054f, -0.767142454f, 0.749044398f, -0.0251240182f, -9.74833012f, 2.2026731f, 5.49709489f, -2.3022178f, 4.35077993f, -0.44063642f, -0.139089505f, 0.0773614513f, 0.547170145f, -0.0448056717f};
static const float ln_ref_dgamma[5] = {-0.529155977f, 0.222318194f, 2.36428715f, -0.923234987f, -0.613641732f};
static const float ln_ref_dbeta[5] = {-0.25f, -0.05f, 0.55f, 1.05f, 0.35f};

static void expect_near(const char *what, const float *got, const float *want, int n)
{
    for (int k = 0; k < n; k++)
        cr_expect(fabsf(got[k] - want[k]) <= 5e-5f + 1e-4f * fabsf(want[k]), "%s[%d]: got %.9g, want %.9g", what,
                  k, (double)got[k], (double)want[k]);
}

Test(grad, layer_norm_matches_torch)
{
    static const float xv[15] = {0.5f, -1.25f, 2.0f, 0.75f, -0.3f, 1.5f, 1.4f, 1.6f, 1.55f, 1.45f,
                                 -2.0f, 3.0f, 0.0f, -0.5f, 4.25f};
    static const float gv[5] = {1.0f, 0.5f, -1.5f, 2.0f, 0.25f}, bv[5] = {0.0f, 0.1f, -0.2f, 0.3f, 1.0f};
    static const float rv[15] = {0.3f, -0.7f, 1.1f, 0.2f, -0.4f, -1.0f, 0.6f, 0.25f, -0.35f, 0.9f,
                                 0.45f, 0.05f, -0.8f, 1.2f, -0.15f};
    ferry_backend_t *be = grad_backend();
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "x", FERRY_F32, 2, (int64_t[]){3, 5}, true), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "gamma", FERRY_F32, 1, (int64_t[]){5}, true), FERRY_OK);
    cr_assert_eq(ferry_store_add(st, "beta", FERRY_F32, 1, (int64_t[]){5}, true), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 0, xv, sizeof xv), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 1, gv, sizeof gv), FERRY_OK);
    cr_assert_eq(ferry_store_set(st, 2, bv, sizeof bv), FERRY_OK);
    ferry_tensor_t *p[3] = {ferry_param(ctx, st, "x"), ferry_param(ctx, st, "gamma"), ferry_param(ctx, st, "beta")};
    ferry_tensor_t *out = ferry_layer_norm(ctx, p[0], p[1], p[2], 1e-5f);
    ferry_tensor_t *r = ferry_input(ctx, "R", FERRY_F32, 2, (int64_t[]){3, 5});
    ferry_tensor_t *loss = ferry_sum(ctx, ferry_mul(ctx, out, r));
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(out);
    ferry_tensor_set_output(loss);
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < 3; i++) ferry_tensor_set_output(ferry_grad(ctx, p[i]));
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_set(g, r, rv, sizeof rv), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    float got[15];
    cr_assert_eq(ferry_tensor_get(g, out, got, sizeof got), FERRY_OK);
    expect_near("out", got, ln_ref_out, 15);
    cr_assert_eq(ferry_tensor_get(g, ferry_grad(ctx, p[0]), got, sizeof got), FERRY_OK);
    expect_near("dx", got, ln_ref_dx, 15);
    cr_assert_eq(ferry_tensor_get(g, ferry_grad(ctx, p[1]), got, 5 * sizeof *got), FERRY_OK);
    expect_near("dgamma", got, ln_ref_dgamma, 5);
    cr_assert_eq(ferry_tensor_get(g, ferry_grad(ctx, p[2]), got, 5 * sizeof *got), FERRY_OK);
    expect_near("dbeta", got, ln_ref_dbeta, 5);
#ifdef GRAD_VULKAN
    vk_test_no_validation_messages(be);
#endif
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_store_free(st);
    ferry_backend_free(be);
}
