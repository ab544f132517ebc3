/* The non-GEMM Vulkan kernels (element-wise, row, loss, dropout, batch norm, pooling, shape,
 * reduction, metric and optimizer ops) against the CPU backend, forward and backward, through the
 * harness of vk_compare.h: on several shapes each, including 1 element and sizes that are not a
 * multiple of a workgroup (7, 257, 1031, ~77k), odd spatial sizes for pooling, 2-D and 4-D batch
 * norm (running statistics compared after the step), ties for the first-max rules. Tolerance:
 * normalised MSE 1e-7; bit-exact for dropout masks, metrics and the determinism check. Run with
 * FERRY_VK_VALIDATION=1: any validation message fails the case. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* ferry_hash3, for the dropout mask check */
#include "vk_compare.h"

#define TOL 1e-7
#define NSHAPES(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct shp {
    int ndim;
    int64_t s[4];
};

/* Cases with every parameter of the same shape. */
static void same_shape(const char *name, vkc_build_fn b, int np, const struct shp *sh, int nsh)
{
    for (int k = 0; k < nsh; k++) {
        struct vkc_case c = {.name = name, .build = b, .np = np, .seed = (uint32_t)k + 1, .tol = TOL};
        for (int i = 0; i < np; i++) {
            c.ndim[i] = sh[k].ndim;
            memcpy(c.shape[i], sh[k].s, sizeof sh[k].s);
        }
        vkc_compare(&c);
    }
}

static const struct shp EW[] = {
    {1, {1}}, {1, {7}}, {1, {257}}, {2, {37, 29}}, {1, {1031}}, {2, {300, 257}},
};

/* values rounded to halves: many exact ties (max pooling, arg-max) */
static void quantise(int i, float *v, int64_t n)
{
    (void)i;
    for (int64_t k = 0; k < n; k++) v[k] = roundf(v[k] * 2.0f) * 0.5f;
}

#define B(name) static ferry_tensor_t *name(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)

/* ---- element-wise ---------------------------------------------------------------------------- */

B(b_add) { (void)a; return ferry_add(x, ferry_sub(x, ferry_scale(x, p[0], 1.5f), p[1]), p[0]); }
B(b_mul) { (void)a; return ferry_mul(x, p[0], p[1]); }
B(b_scale) { (void)a; return ferry_scale(x, p[0], -2.25f); }
B(b_scale_by) { (void)a; return ferry_scale_by(x, p[0], p[1], -0.7f); }
B(b_bias) { (void)a; return ferry_add_bias(x, p[0], p[1]); }
B(b_relu) { (void)a; return ferry_relu(x, p[0]); }
B(b_leaky) { (void)a; return ferry_leaky_relu(x, p[0], 0.2f); }
B(b_sigmoid) { (void)a; return ferry_sigmoid(x, p[0]); }
B(b_tanh) { (void)a; return ferry_tanh(x, p[0]); }
B(b_exp) { (void)a; return ferry_exp(x, p[0]); }
B(b_recip) { (void)a; return ferry_reciprocal(x, p[0]); }
B(b_mse) { (void)a; return ferry_mse(x, p[0], p[1]); }
B(b_grl)
{
    a[0] = ferry_input(x, "lambda", FERRY_F32, 1, (int64_t[]){1});
    return ferry_tanh(x, ferry_grad_reverse(x, p[0], a[0]));
}

Test(vk_elem, add_sub_scale) { same_shape("add/sub/scale", b_add, 2, EW, NSHAPES(EW)); }
Test(vk_elem, mul) { same_shape("mul", b_mul, 2, EW, NSHAPES(EW)); }
Test(vk_elem, scale) { same_shape("scale", b_scale, 1, EW, NSHAPES(EW)); }
Test(vk_elem, mse) { same_shape("mse", b_mse, 2, EW, NSHAPES(EW)); }

Test(vk_elem, scale_by)
{
    for (int k = 0; k < NSHAPES(EW); k++) {
        struct vkc_case c = {.name = "scale_by", .build = b_scale_by, .np = 2, .ndim = {EW[k].ndim, 1},
                             .shape = {{0}, {1}}, .seed = (uint32_t)k, .tol = TOL};
        memcpy(c.shape[0], EW[k].s, sizeof EW[k].s);
        vkc_compare(&c);
    }
}

Test(vk_elem, grad_reverse) /* identity forward, scale_by(-lambda) backward, lambda an input */
{
    same_shape("grad_reverse", b_grl, 1, EW, NSHAPES(EW));
}

Test(vk_elem, add_bias_and_bias_grad)
{
    static const struct shp X[] = {
        {2, {1, 1}}, {2, {13, 7}}, {2, {257, 3}}, {2, {5, 1031}},
        {4, {3, 5, 7, 9}}, {4, {1, 1, 1, 1}}, {4, {2, 3, 17, 19}}, {4, {16, 6, 28, 28}},
    };
    for (int k = 0; k < NSHAPES(X); k++) {
        struct vkc_case c = {.name = "add_bias", .build = b_bias, .np = 2, .ndim = {X[k].ndim, 1},
                             .shape = {{0}, {X[k].s[1]}}, .seed = (uint32_t)k, .tol = TOL};
        memcpy(c.shape[0], X[k].s, sizeof X[k].s);
        vkc_compare(&c);
    }
}

Test(vk_elem, unary)
{
    static const struct {
        const char *name;
        vkc_build_fn b;
    } U[] = {{"relu", b_relu}, {"leaky_relu", b_leaky}, {"sigmoid", b_sigmoid},
             {"tanh", b_tanh}, {"exp", b_exp},          {"reciprocal", b_recip}};
    for (int u = 0; u < NSHAPES(U); u++) same_shape(U[u].name, U[u].b, 1, EW, NSHAPES(EW));
}

/* ---- rows and losses --------------------------------------------------------------------------- */

B(b_softmax) { (void)a; return ferry_softmax(x, p[0]); }
B(b_log_softmax) { (void)a; return ferry_log_softmax(x, p[0]); }
B(b_ce0)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_cross_entropy(x, p[0], a[0], 0.0f);
}
B(b_ce1)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_cross_entropy(x, ferry_scale(x, p[0], 4.0f), a[0], 0.1f);
}
B(b_bce)
{
    (void)a;
    return ferry_bce_with_logits(x, ferry_scale(x, p[0], 3.0f), p[1]); /* p1 frozen: targets in [0.1, 1] */
}
B(b_count)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_count_correct(x, p[0], a[0]);
}

static const struct shp ROWS[] = {
    {2, {1, 1}}, {2, {1, 7}}, {2, {17, 11}}, {2, {257, 10}}, {2, {3, 1000}}, {2, {1031, 2}},
};

Test(vk_elem, softmax) { same_shape("softmax", b_softmax, 1, ROWS, NSHAPES(ROWS)); }
Test(vk_elem, log_softmax) { same_shape("log_softmax", b_log_softmax, 1, ROWS, NSHAPES(ROWS)); }

Test(vk_elem, cross_entropy)
{
    for (int k = 0; k < NSHAPES(ROWS); k++) {
        for (int smooth = 0; smooth < 2; smooth++) {
            struct vkc_case c = {.name = smooth ? "cross_entropy (smoothing 0.1)" : "cross_entropy",
                                 .build = smooth ? b_ce1 : b_ce0, .np = 1, .ndim = {2},
                                 .seed = (uint32_t)k, .tol = TOL, .classes = (int)ROWS[k].s[1]};
            memcpy(c.shape[0], ROWS[k].s, sizeof ROWS[k].s);
            vkc_compare(&c);
        }
    }
}

Test(vk_elem, bce_with_logits)
{
    for (int k = 0; k < NSHAPES(EW); k++) {
        struct vkc_case c = {.name = "bce_with_logits", .build = b_bce, .np = 2, .ndim = {EW[k].ndim, EW[k].ndim},
                             .frozen = 1u << 1, .seed = (uint32_t)k, .tol = TOL};
        memcpy(c.shape[0], EW[k].s, sizeof EW[k].s);
        memcpy(c.shape[1], EW[k].s, sizeof EW[k].s);
        vkc_compare(&c);
    }
}

Test(vk_elem, count_correct) /* bit-exact, with ties: the first maximum wins */
{
    for (int k = 0; k < NSHAPES(ROWS); k++) {
        for (int q = 0; q < 2; q++) {
            struct vkc_case c = {.name = q ? "count_correct (ties)" : "count_correct", .build = b_count,
                                 .init = q ? quantise : NULL, .np = 1, .ndim = {2}, .seed = (uint32_t)k,
                                 .tol = 0, .no_grad = true, .classes = (int)ROWS[k].s[1]};
            memcpy(c.shape[0], ROWS[k].s, sizeof ROWS[k].s);
            vkc_compare(&c);
        }
    }
}

/* ---- dropout ------------------------------------------------------------------------------------ */

B(b_dropout3)
{
    a[0] = ferry_input(x, "seed", FERRY_I32, 1, (int64_t[]){1});
    return ferry_dropout(x, p[0], a[0], 0.3f, 5);
}
B(b_dropout_half_twice)
{
    a[0] = ferry_input(x, "seed", FERRY_I32, 1, (int64_t[]){1});
    return ferry_dropout(x, ferry_dropout(x, p[0], a[0], 0.5f, 1), a[0], 0.1f, 2);
}

Test(vk_elem, dropout_bit_exact)
{
    const int32_t seeds[] = {12345, -7, 1};
    for (int k = 0; k < NSHAPES(EW); k++) {
        for (int s = 0; s < 3; s++) {
            struct vkc_case c = {.name = s == 2 ? "dropout twice" : "dropout",
                                 .build = s == 2 ? b_dropout_half_twice : b_dropout3, .np = 1,
                                 .ndim = {EW[k].ndim}, .seed = (uint32_t)k, .tol = 0, .seed_value = seeds[s]};
            memcpy(c.shape[0], EW[k].s, sizeof EW[k].s);
            vkc_compare(&c);
        }
    }
}

/* The Vulkan mask against the hash computed here: element i kept iff ferry_hash3(seed, salt, i) >=
 * p·2^32, kept values scaled by 1/(1-p). */
Test(vk_elem, dropout_mask_matches_hash)
{
    const int64_t n = 5003;
    struct vkc_case c = {.name = "dropout mask", .build = b_dropout3, .np = 1, .ndim = {1}, .shape = {{n}},
                         .seed = 3, .no_grad = true, .seed_value = -123456789};
    struct vkc_result r;
    vkc_run(&c, true, 1, &r);
    float *x = malloc((size_t)n * sizeof *x);
    cr_assert_not_null(x);
    vkc_fill(x, n, c.seed * 31u + 17u);
    const float scale = 1.0f / (1.0f - 0.3f);
    int64_t kept = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const bool keep = (double)ferry_hash3((uint32_t)c.seed_value, 5u, (uint32_t)i) >= 0.3 * 4294967296.0;
        const float want = keep ? x[i] * scale : 0.0f;
        kept += keep;
        if (memcmp(&want, &r.out[i], sizeof want) != 0 && bad++ < 5)
            cr_log_error("element %lld: %.9g, expected %.9g", (long long)i, (double)r.out[i], (double)want);
    }
    cr_expect_eq(bad, 0, "dropout mask: %lld of %lld elements differ from the hash", (long long)bad, (long long)n);
    cr_expect(kept > n * 6 / 10 && kept < n * 8 / 10, "kept %lld of %lld at p = 0.3", (long long)kept, (long long)n);
    free(x);
    vkc_result_free(&r);
}

/* ---- batch norm --------------------------------------------------------------------------------- */

/* p0 = x, p1 = gamma, p2 = beta, p3 = running mean, p4 = running var (frozen: compared after the
 * step, which updates them in place with the unbiased batch variance) */
B(b_bn_train) { (void)a; return ferry_batch_norm(x, p[0], p[1], p[2], p[3], p[4], true, 0.1f, 1e-5f); }
B(b_bn_eval) { (void)a; return ferry_batch_norm(x, p[0], p[1], p[2], p[3], p[4], false, 0.1f, 1e-5f); }
B(b_bn_train_relu)
{
    (void)a;
    return ferry_relu(x, ferry_batch_norm(x, ferry_scale(x, p[0], 3.0f), p[1], p[2], p[3], p[4], true, 0.3f, 1e-3f));
}

static const struct shp BN[] = {
    /* (two values per channel would make dx exactly 0 in theory: rounding noise only) */
    {2, {3, 1}}, {2, {19, 5}}, {2, {257, 3}}, {2, {7, 300}},
    {4, {3, 1, 1, 1}}, {4, {6, 3, 7, 5}}, {4, {1, 4, 9, 11}}, {4, {16, 6, 28, 28}},
};

static void bn_cases(const char *name, vkc_build_fn b, bool no_grad)
{
    for (int k = 0; k < NSHAPES(BN); k++) {
        const int64_t ch = BN[k].s[1];
        struct vkc_case c = {.name = name, .build = b, .np = 5, .ndim = {BN[k].ndim, 1, 1, 1, 1},
                             .shape = {{0}, {ch}, {ch}, {ch}, {ch}}, .frozen = (1u << 3) | (1u << 4),
                             .seed = (uint32_t)k, .tol = TOL, .no_grad = no_grad};
        memcpy(c.shape[0], BN[k].s, sizeof BN[k].s);
        vkc_compare(&c);
    }
}

Test(vk_elem, batch_norm_train) { bn_cases("batch_norm (train)", b_bn_train, false); }
Test(vk_elem, batch_norm_train_relu) { bn_cases("batch_norm (train) + relu", b_bn_train_relu, false); }
Test(vk_elem, batch_norm_eval) { bn_cases("batch_norm (eval)", b_bn_eval, true); }

/* ---- shapes and reductions ---------------------------------------------------------------------- */

B(b_concat_slice)
{
    (void)a;
    ferry_tensor_t *c = ferry_concat_batch(x, p[0], p[1]);
    int64_t n = ferry_tensor_dim(c, 0);
    return ferry_tanh(x, ferry_slice_batch(x, c, n > 2 ? 1 : 0, n > 2 ? n - 1 : n));
}
B(b_slice_first) { (void)a; return ferry_sigmoid(x, ferry_slice_batch(x, p[0], 0, 1)); }
B(b_sum) { (void)a; return ferry_scale_by(x, p[1], ferry_sum(x, ferry_mul(x, p[0], p[0])), 1.0f); }
B(b_mean) { (void)a; return ferry_scale_by(x, p[1], ferry_mean(x, ferry_tanh(x, p[0])), 2.0f); }

Test(vk_elem, concat_slice_pad)
{
    static const struct shp A[] = {{2, {1, 1}}, {2, {3, 9}}, {4, {2, 3, 5, 7}}, {2, {257, 5}}};
    static const int64_t nb[] = {2, 4, 1, 300};
    for (int k = 0; k < NSHAPES(A); k++) {
        struct vkc_case c = {.name = "concat/slice/pad", .build = b_concat_slice, .np = 2,
                             .ndim = {A[k].ndim, A[k].ndim}, .seed = (uint32_t)k, .tol = TOL};
        memcpy(c.shape[0], A[k].s, sizeof A[k].s);
        memcpy(c.shape[1], A[k].s, sizeof A[k].s);
        c.shape[1][0] = nb[k];
        vkc_compare(&c);
        c.name = "slice (first row)";
        c.build = b_slice_first;
        c.np = 1;
        vkc_compare(&c);
    }
}

Test(vk_elem, sum_mean_broadcast)
{
    static const struct shp A[] = {{1, {1}}, {1, {7}}, {1, {257}}, {2, {301, 7}}, {1, {100003}}, {2, {700, 1000}}};
    for (int k = 0; k < NSHAPES(A); k++) {
        for (int m = 0; m < 2; m++) {
            struct vkc_case c = {.name = m ? "mean/broadcast" : "sum/broadcast", .build = m ? b_mean : b_sum,
                                 .np = 2, .ndim = {A[k].ndim, 2}, .shape = {{0}, {5, 3}}, .seed = (uint32_t)k,
                                 .tol = TOL};
            memcpy(c.shape[0], A[k].s, sizeof A[k].s);
            vkc_compare(&c);
        }
    }
}

/* ---- pooling ------------------------------------------------------------------------------------ */

struct pool_case {
    struct shp x;
    int k, stride, pad;
};
static const struct pool_case POOLS[] = {
    {{4, {1, 1, 1, 1}}, 1, 1, 0}, {{4, {2, 3, 9, 11}}, 2, 2, 0},  {{4, {2, 2, 13, 10}}, 3, 2, 1},
    {{4, {1, 3, 7, 7}}, 3, 1, 1}, {{4, {3, 1, 5, 9}}, 3, 3, 0},   {{4, {2, 4, 6, 8}}, 4, 2, 2},
    {{4, {8, 6, 24, 24}}, 2, 2, 0}, {{4, {2, 1, 1, 3}}, 1, 1, 0}, {{4, {2, 5, 15, 17}}, 5, 2, 2},
};
static int pool_k, pool_s, pool_p;

B(b_maxpool) { (void)a; return ferry_max_pool2d(x, p[0], pool_k, pool_s, pool_p); }
B(b_avgpool) { (void)a; return ferry_avg_pool2d(x, p[0], pool_k, pool_s, pool_p); }
B(b_gap) { (void)a; return ferry_global_avg_pool(x, p[0]); }

static void pool_cases(const char *name, vkc_build_fn b, vkc_init_fn init)
{
    for (int k = 0; k < NSHAPES(POOLS); k++) {
        pool_k = POOLS[k].k;
        pool_s = POOLS[k].stride;
        pool_p = POOLS[k].pad;
        struct vkc_case c = {.name = name, .build = b, .init = init, .np = 1, .ndim = {4}, .seed = (uint32_t)k,
                             .tol = TOL};
        memcpy(c.shape[0], POOLS[k].x.s, sizeof POOLS[k].x.s);
        char buf[96];
        snprintf(buf, sizeof buf, "%s k%d s%d p%d", name, pool_k, pool_s, pool_p);
        c.name = buf;
        vkc_compare(&c);
    }
}

Test(vk_elem, max_pool) { pool_cases("max_pool", b_maxpool, NULL); }
Test(vk_elem, max_pool_ties) { pool_cases("max_pool (ties)", b_maxpool, quantise); }
Test(vk_elem, avg_pool) { pool_cases("avg_pool", b_avgpool, NULL); }
Test(vk_elem, global_avg_pool)
{
    for (int k = 0; k < NSHAPES(POOLS); k++) {
        struct vkc_case c = {.name = "global_avg_pool", .build = b_gap, .np = 1, .ndim = {4}, .seed = (uint32_t)k,
                             .tol = TOL};
        memcpy(c.shape[0], POOLS[k].x.s, sizeof POOLS[k].x.s);
        vkc_compare(&c);
    }
}

/* ---- optimizer updates -------------------------------------------------------------------------- */

Test(vk_elem, sgd_update)
{
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    oc.momentum = 0.0f;
    oc.weight_decay = 0.0f;
    vkc_compare_optim("sgd (plain)", &oc, 4, TOL);
    oc.momentum = 0.9f;
    oc.weight_decay = 0.01f;
    oc.nesterov = false;
    vkc_compare_optim("sgd (momentum, weight decay)", &oc, 4, TOL);
    oc.nesterov = true;
    vkc_compare_optim("sgd (nesterov)", &oc, 4, TOL);
}

Test(vk_elem, adam_update)
{
    ferry_optim_config oc = ferry_optim_defaults(FERRY_ADAM);
    vkc_compare_optim("adam", &oc, 5, TOL);
    oc.weight_decay = 0.01f;
    vkc_compare_optim("adam (L2)", &oc, 5, TOL);
    oc = ferry_optim_defaults(FERRY_ADAMW);
    oc.weight_decay = 0.05f;
    vkc_compare_optim("adamw", &oc, 5, TOL);
}

/* ---- determinism -------------------------------------------------------------------------------- */

/* Most reductions in one graph: batch norm, pooling, dropout, bias, softmax cross entropy, sum. */
B(b_mix)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    a[1] = ferry_input(x, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_tensor_t *h = ferry_batch_norm(x, p[0], p[1], p[2], p[3], p[4], true, 0.1f, 1e-5f);
    h = ferry_max_pool2d(x, ferry_relu(x, h), 3, 2, 1);
    h = ferry_avg_pool2d(x, ferry_dropout(x, h, a[1], 0.2f, 3), 2, 2, 0);
    h = ferry_add_bias(x, ferry_flatten(x, h), p[5]);
    ferry_tensor_t *ce = ferry_cross_entropy(x, h, a[0], 0.05f);
    return ferry_add(x, ferry_scale_by(x, ferry_log_softmax(x, h), ce, 1.0f), ferry_softmax(x, h));
}

Test(vk_elem, deterministic_twice)
{
    /* x [16,3,21,21] -> pool -> [16,3,11,11] -> [16,3,5,5] -> flatten [16,75] */
    struct vkc_case c = {.name = "mix", .build = b_mix, .np = 6, .ndim = {4, 1, 1, 1, 1, 1},
                         .shape = {{16, 3, 21, 21}, {3}, {3}, {3}, {3}, {75}}, .frozen = (1u << 3) | (1u << 4),
                         .seed = 9, .tol = TOL, .classes = 75};
    vkc_compare(&c);
    struct vkc_result r1, r2;
    vkc_run(&c, true, 2, &r1);
    vkc_run(&c, true, 2, &r2);
    cr_assert_eq(r1.out_n, r2.out_n);
    cr_expect_eq(memcmp(r1.out, r2.out, (size_t)r1.out_n * sizeof(float)), 0, "mix: output differs between runs");
    for (int i = 0; i < c.np; i++) {
        if (r1.grad[i])
            cr_expect_eq(memcmp(r1.grad[i], r2.grad[i], (size_t)r1.pn[i] * sizeof(float)), 0,
                         "mix: gradient of p%d differs between runs", i);
        cr_expect_eq(memcmp(r1.after[i], r2.after[i], (size_t)r1.pn[i] * sizeof(float)), 0,
                     "mix: p%d after two steps differs between runs", i);
    }
    vkc_result_free(&r1);
    vkc_result_free(&r2);
}
