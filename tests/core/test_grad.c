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
