/* Every op, forward and backward, on the Vulkan backend against the CPU backend, on several shapes
 * (odd sizes, sizes that are not multiples of a workgroup or a GEMM tile).
 *
 * Each case builds out = op(params...) and loss = sum(out ⊙ R) on both backends with the same
 * values, runs the step once, and compares out and every parameter gradient by normalised MSE,
 * ‖vk − cpu‖² / ‖cpu‖²: at most 1e-7 for element-wise ops, 5e-4 for GEMM and convolution. The
 * optimizer updates are compared after three steps of SGD (Nesterov), Adam and AdamW. The Vulkan
 * validation layer is on (tests/vulkan/meson.build): any message fails the case. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_compare.h"

#define ELEM 1e-7
#define GEMM 5e-4

/* A case on both backends through the shared harness (vk_compare.h). */
struct vcase {
    int np;
    int ndim[4];
    int64_t shape[4][4];
    vkc_build_fn build;
    double tol;
    bool no_grad; /* e.g. count_correct: forward only */
};

static void run_case_named(const char *name, const struct vcase *v)
{
    struct vkc_case c = {.name = name, .build = v->build, .np = v->np, .seed = 17, .tol = v->tol,
                         .no_grad = v->no_grad};
    for (int i = 0; i < v->np; i++) {
        c.ndim[i] = v->ndim[i];
        memcpy(c.shape[i], v->shape[i], sizeof c.shape[i]);
    }
    vkc_compare(&c);
}
#define run_case(c) run_case_named(__func__, c)

/* ---- builders ------------------------------------------------------------------------------------ */

#define B(name) static ferry_tensor_t *name(ferry_ctx_t *x, ferry_tensor_t **p, ferry_tensor_t **a)
B(b_add) { (void)a; return ferry_sub(x, ferry_scale(x, p[0], 1.5f), p[1]); }
B(b_mul) { (void)a; return ferry_mul(x, p[0], p[1]); }
B(b_scale_by) { (void)a; return ferry_scale_by(x, p[0], p[1], -0.7f); }
B(b_bias) { (void)a; return ferry_add_bias(x, p[0], p[1]); }
B(b_relu) { (void)a; return ferry_relu(x, p[0]); }
B(b_leaky) { (void)a; return ferry_leaky_relu(x, p[0], 0.2f); }
B(b_sigmoid) { (void)a; return ferry_sigmoid(x, p[0]); }
B(b_tanh) { (void)a; return ferry_tanh(x, p[0]); }
B(b_exp) { (void)a; return ferry_exp(x, p[0]); }
B(b_recip) { (void)a; return ferry_reciprocal(x, p[0]); }
B(b_softmax) { (void)a; return ferry_softmax(x, p[0]); }
B(b_log_softmax) { (void)a; return ferry_log_softmax(x, p[0]); }
B(b_ce)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_cross_entropy(x, p[0], a[0], 0.1f);
}
B(b_bce)
{
    (void)a;
    int64_t n = ferry_tensor_dim(p[0], 0);
    return ferry_bce_with_logits(x, p[0], ferry_concat_batch(x, ferry_constant(x, 0.2f, 2, (int64_t[]){n / 2, 1}),
                                                             ferry_constant(x, 0.9f, 2, (int64_t[]){n - n / 2, 1})));
}
B(b_dropout)
{
    a[0] = ferry_input(x, "seed", FERRY_I32, 1, (int64_t[]){1});
    return ferry_dropout(x, p[0], a[0], 0.3f, 5);
}
B(b_bn)
{
    (void)a;
    int64_t c = ferry_tensor_dim(p[0], 1);
    ferry_tensor_t *rm = ferry_constant(x, 0.1f, 1, &c), *rv = ferry_constant(x, 2.0f, 1, &c);
    return ferry_batch_norm(x, p[0], p[1], p[2], rm, rv, true, 0.1f, 1e-5f);
}
B(b_bn_eval)
{
    (void)a;
    int64_t c = ferry_tensor_dim(p[0], 1);
    ferry_tensor_t *rm = ferry_constant(x, 0.1f, 1, &c), *rv = ferry_constant(x, 2.0f, 1, &c);
    return ferry_batch_norm(x, p[0], p[1], p[2], rm, rv, false, 0.1f, 1e-5f);
}
B(b_concat_slice)
{
    (void)a;
    ferry_tensor_t *c = ferry_concat_batch(x, p[0], p[1]);
    return ferry_tanh(x, ferry_slice_batch(x, c, 1, ferry_tensor_dim(c, 0) - 1));
}
B(b_sum) { (void)a; return ferry_scale_by(x, p[1], ferry_mean(x, ferry_mul(x, p[0], p[0])), 1.0f); }
B(b_maxpool) { (void)a; return ferry_max_pool2d(x, p[0], 2, 2, 0); }
B(b_maxpool_ovl) { (void)a; return ferry_max_pool2d(x, p[0], 3, 2, 1); }
B(b_avgpool) { (void)a; return ferry_avg_pool2d(x, p[0], 3, 2, 1); }
B(b_gap) { (void)a; return ferry_global_avg_pool(x, p[0]); }
B(b_count)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_count_correct(x, p[0], a[0]);
}
B(b_mm_nn) { (void)a; return ferry_matmul(x, p[0], p[1], false, false); }
B(b_mm_nt) { (void)a; return ferry_matmul(x, p[0], p[1], false, true); }
B(b_mm_tn) { (void)a; return ferry_matmul(x, p[0], p[1], true, false); }
B(b_mm_tt) { (void)a; return ferry_matmul(x, p[0], p[1], true, true); }
B(b_conv) { (void)a; return ferry_conv2d(x, p[0], p[1], 1, 0); }
B(b_conv_s2p1) { (void)a; return ferry_conv2d(x, p[0], p[1], 2, 1); }
B(b_conv_p2) { (void)a; return ferry_conv2d(x, p[0], p[1], 1, 2); }

#define S(...) {__VA_ARGS__}
#define T1(name, builder, tl, nd, s0) \
    Test(vk_ops, name) { struct vcase c = {.np = 1, .ndim = {nd}, .shape = {s0}, .build = builder, .tol = tl}; run_case(&c); }
#define T2(name, builder, tl, nd0, s0, nd1, s1) \
    Test(vk_ops, name) { struct vcase c = {.np = 2, .ndim = {nd0, nd1}, .shape = {s0, s1}, .build = builder, .tol = tl}; run_case(&c); }
#define T3(name, builder, tl, nd0, s0, nd1, s1, nd2, s2) \
    Test(vk_ops, name) { struct vcase c = {.np = 3, .ndim = {nd0, nd1, nd2}, .shape = {s0, s1, s2}, .build = builder, .tol = tl}; run_case(&c); }

/* element-wise (1 element, odd sizes, past one grid of workgroups) */
T2(add_sub_scale_1, b_add, ELEM, 1, S(1), 1, S(1))
T2(add_sub_scale_odd, b_add, ELEM, 2, S(37, 29), 2, S(37, 29))
T2(mul_large, b_mul, ELEM, 2, S(1000, 77), 2, S(1000, 77))
T2(scale_by, b_scale_by, ELEM, 2, S(13, 7), 1, S(1))
T2(add_bias_2d, b_bias, ELEM, 2, S(13, 7), 1, S(7))
T2(add_bias_4d, b_bias, ELEM, 4, S(3, 5, 7, 9), 1, S(5))
T1(relu, b_relu, ELEM, 2, S(37, 29))
T1(leaky_relu, b_leaky, ELEM, 2, S(37, 29))
T1(sigmoid, b_sigmoid, ELEM, 2, S(37, 29))
T1(tanh, b_tanh, ELEM, 3, S(5, 7, 11))
T1(exp, b_exp, ELEM, 2, S(37, 29))
T1(reciprocal, b_recip, ELEM, 2, S(37, 29))
T1(softmax, b_softmax, ELEM, 2, S(17, 11))
T1(softmax_wide, b_softmax, ELEM, 2, S(3, 1000))
T1(log_softmax, b_log_softmax, ELEM, 2, S(33, 10))
T1(cross_entropy, b_ce, ELEM, 2, S(33, 10))
T1(cross_entropy_many_rows, b_ce, ELEM, 2, S(700, 10))
T1(bce_with_logits, b_bce, ELEM, 2, S(45, 1))
T1(dropout, b_dropout, ELEM, 2, S(50, 41))
T3(batch_norm_2d, b_bn, ELEM, 2, S(19, 5), 1, S(5), 1, S(5))
T3(batch_norm_4d, b_bn, ELEM, 4, S(6, 3, 7, 5), 1, S(3), 1, S(3))
Test(vk_ops, batch_norm_4d_eval) /* forward only (its backward: batch_norm_eval_*_backward below) */
{
    struct vcase c = {.np = 3, .ndim = {4, 1, 1}, .shape = {S(6, 3, 7, 5), S(3), S(3)}, .build = b_bn_eval,
                      .tol = ELEM, .no_grad = true};
    run_case(&c);
}
T2(concat_slice_pad, b_concat_slice, ELEM, 2, S(3, 9), 2, S(4, 9))
T2(sum_mean_broadcast, b_sum, ELEM, 2, S(301, 7), 2, S(5, 3))
T1(max_pool_2x2_odd, b_maxpool, ELEM, 4, S(2, 3, 9, 11))
T1(max_pool_overlapping, b_maxpool_ovl, ELEM, 4, S(2, 2, 13, 10))
T1(avg_pool_overlapping, b_avgpool, ELEM, 4, S(2, 3, 9, 7))
T1(global_avg_pool, b_gap, ELEM, 4, S(3, 4, 5, 6))
Test(vk_ops, count_correct)
{
    struct vcase c = {.np = 1, .ndim = {2}, .shape = {S(77, 10)}, .build = b_count, .tol = 0, .no_grad = true};
    run_case(&c);
}

/* GEMM and convolution */
T2(matmul_1x1x1, b_mm_nn, GEMM, 2, S(1, 1), 2, S(1, 1))
T2(matmul_nn_odd, b_mm_nn, GEMM, 2, S(7, 13), 2, S(13, 5))
T2(matmul_nt_odd, b_mm_nt, GEMM, 2, S(65, 33), 2, S(129, 33))
T2(matmul_tn_odd, b_mm_tn, GEMM, 2, S(33, 65), 2, S(33, 129))
T2(matmul_tt_odd, b_mm_tt, GEMM, 2, S(13, 7), 2, S(5, 13))
T2(matmul_256, b_mm_nn, GEMM, 2, S(256, 256), 2, S(256, 256))
T2(conv_odd, b_conv, GEMM, 4, S(2, 3, 9, 11), 4, S(5, 3, 3, 3))
T2(conv_stride2_pad1, b_conv_s2p1, GEMM, 4, S(3, 4, 13, 10), 4, S(6, 4, 3, 3))
T2(conv_pad2_5x5, b_conv_p2, GEMM, 4, S(2, 3, 8, 8), 4, S(4, 3, 5, 5))
T2(conv_lenet_1, b_conv, GEMM, 4, S(64, 1, 28, 28), 4, S(32, 1, 5, 5))
T2(conv_lenet_2, b_conv, GEMM, 4, S(64, 32, 12, 12), 4, S(48, 32, 5, 5))

/* ---- optimizer updates: three steps on both backends ---------------------------------------------- */

static void compare_optim(const char *name, ferry_optim_kind kind, bool nesterov)
{
    ferry_optim_config oc = ferry_optim_defaults(kind);
    oc.weight_decay = 0.01f;
    oc.nesterov = nesterov;
    vkc_compare_optim(name, &oc, 3, ELEM);
}

Test(vk_ops, sgd_nesterov_update) { compare_optim("sgd-nesterov", FERRY_SGD, true); }
Test(vk_ops, adam_update) { compare_optim("adam", FERRY_ADAM, false); }
Test(vk_ops, adamw_update) { compare_optim("adamw", FERRY_ADAMW, false); }

/* ---- broadcasting binary ops and sum_to, on shapes past a workgroup and with odd sizes ---- */
B(b_bc_add) { (void)a; return ferry_sub(x, ferry_scale(x, p[0], 1.5f), p[1]); }
B(b_bc_mul) { (void)a; return ferry_mul(x, p[0], p[1]); }
B(b_bc_div)
{
    (void)a;
    return ferry_div(x, p[0], ferry_add(x, ferry_mul(x, p[1], p[1]), ferry_constant(x, 0.5f, 1, (int64_t[]){1})));
}
B(b_bc_max) { (void)a; return ferry_maximum(x, p[0], p[1]); }
B(b_bc_min) { (void)a; return ferry_minimum(x, p[0], p[1]); }
B(b_bc_where)
{
    (void)a;
    ferry_tensor_t *m = ferry_compare(x, p[0], FERRY_CMP_LE, p[1]);
    return ferry_where(x, m, p[0], ferry_scale(x, p[1], -2.0f));
}
B(b_bc_sum_to)
{
    (void)a;
    return ferry_sum_to(x, ferry_tanh(x, p[0]), 3, (int64_t[]){ferry_tensor_dim(p[0], 1), 1, ferry_tensor_dim(p[0], 3)});
}
T2(broadcast_add_rows, b_bc_add, ELEM, 2, S(33, 257), 1, S(257))
T2(broadcast_add_outer, b_bc_add, ELEM, 2, S(67, 1), 2, S(1, 129))
T2(broadcast_mul_4d, b_bc_mul, ELEM, 4, S(5, 1, 7, 1), 3, S(3, 1, 9))
T2(broadcast_mul_channels, b_bc_mul, ELEM, 4, S(3, 17, 13, 11), 4, S(1, 17, 1, 1))
T2(broadcast_div, b_bc_div, ELEM, 2, S(19, 300), 2, S(19, 1))
T2(broadcast_maximum, b_bc_max, ELEM, 3, S(7, 1, 301), 2, S(5, 301))
T2(broadcast_minimum, b_bc_min, ELEM, 2, S(1, 1), 2, S(29, 31))
T2(compare_where, b_bc_where, ELEM, 2, S(41, 77), 1, S(77))
T1(sum_to_4d, b_bc_sum_to, ELEM, 4, S(6, 5, 33, 7))
/* ---- axis family ----------------------------------------------------------------------------------- */

#define CAT3V(ax) ferry_concat(x, ax, 3, (ferry_tensor_t *[]){p[0], p[1], p[2]})
B(b_cat0) { (void)a; return CAT3V(0); }
B(b_cat1) { (void)a; return CAT3V(1); }
B(b_cat2) { (void)a; return CAT3V(2); }
B(b_cat3) { (void)a; return CAT3V(3); }
T3(concat_axis0, b_cat0, ELEM, 4, S(3, 5, 7, 9), 4, S(2, 5, 7, 9), 4, S(1, 5, 7, 9))
T3(concat_axis1_channels, b_cat1, ELEM, 4, S(3, 5, 7, 9), 4, S(3, 1, 7, 9), 4, S(3, 11, 7, 9))
T3(concat_axis2, b_cat2, ELEM, 4, S(3, 5, 7, 9), 4, S(3, 5, 2, 9), 4, S(3, 5, 13, 9))
T3(concat_axis3, b_cat3, ELEM, 4, S(3, 5, 7, 9), 4, S(3, 5, 7, 1), 4, S(3, 5, 7, 30))
B(b_cat6)
{
    (void)a;
    return ferry_concat(x, 1, 6, (ferry_tensor_t *[]){p[0], p[1], p[0], p[1], p[1], p[0]});
}
T2(concat_six_2d, b_cat6, ELEM, 2, S(37, 29), 2, S(37, 3))
B(b_sl0) { (void)a; return ferry_tanh(x, ferry_slice(x, p[0], 0, 1, 4)); }
B(b_sl1) { (void)a; return ferry_tanh(x, ferry_slice(x, p[0], 1, 2, 5)); }
B(b_sl2) { (void)a; return ferry_tanh(x, ferry_slice(x, p[0], 2, 0, 6)); }
B(b_sl3) { (void)a; return ferry_tanh(x, ferry_slice(x, p[0], 3, 3, 9)); }
T1(slice_axis0, b_sl0, ELEM, 4, S(5, 5, 7, 9))
T1(slice_axis1, b_sl1, ELEM, 4, S(5, 5, 7, 9))
T1(slice_axis2, b_sl2, ELEM, 4, S(5, 5, 7, 9))
T1(slice_axis3, b_sl3, ELEM, 4, S(5, 5, 7, 9))
B(b_tr03) { (void)a; return ferry_tanh(x, ferry_transpose(x, p[0], 0, 3)); }
B(b_tr12) { (void)a; return ferry_tanh(x, ferry_transpose(x, p[0], 1, 2)); }
B(b_tr23) { (void)a; return ferry_tanh(x, ferry_transpose(x, p[0], 3, 2)); }
B(b_tr2d) { (void)a; return ferry_tanh(x, ferry_transpose(x, p[0], 0, 1)); }
T1(transpose_0_3, b_tr03, ELEM, 4, S(3, 5, 7, 9))
T1(transpose_1_2, b_tr12, ELEM, 4, S(3, 5, 7, 9))
T1(transpose_3_2, b_tr23, ELEM, 4, S(3, 5, 7, 9))
T1(transpose_2d_odd, b_tr2d, ELEM, 2, S(301, 37))
#define RED_V(fn, tag)                                                                               \
    B(b_##tag##0) { (void)a; return fn(x, p[0], 0); }                                                \
    B(b_##tag##1) { (void)a; return fn(x, p[0], 1); }                                                \
    B(b_##tag##2) { (void)a; return fn(x, p[0], 2); }                                                \
    B(b_##tag##3) { (void)a; return fn(x, p[0], 3); }                                                \
    T1(tag##_axis0, b_##tag##0, ELEM, 4, S(3, 5, 7, 9))                                              \
    T1(tag##_axis1, b_##tag##1, ELEM, 4, S(3, 5, 7, 9))                                              \
    T1(tag##_axis2, b_##tag##2, ELEM, 4, S(3, 5, 7, 9))                                              \
    T1(tag##_axis3, b_##tag##3, ELEM, 4, S(3, 5, 7, 9))
RED_V(ferry_sum_axis, sum)
RED_V(ferry_mean_axis, mean)
RED_V(ferry_max_axis, max)
RED_V(ferry_min_axis, min)
B(b_sum_long) { (void)a; return ferry_sum_axis(x, p[0], 0); }
T1(sum_axis_long, b_sum_long, ELEM, 2, S(1000, 37))
B(b_argmax1) { (void)a; return ferry_argmax_axis(x, p[0], 1); }
B(b_argmax3) { (void)a; return ferry_argmax_axis(x, p[0], 3); }
Test(vk_ops, argmax_axis1)
{
    struct vcase c = {.np = 1, .ndim = {4}, .shape = {S(3, 5, 7, 9)}, .build = b_argmax1, .tol = 0, .no_grad = true};
    run_case(&c);
}
Test(vk_ops, argmax_axis3)
{
    struct vcase c = {.np = 1, .ndim = {4}, .shape = {S(3, 5, 7, 9)}, .build = b_argmax3, .tol = 0, .no_grad = true};
    run_case(&c);
}
/* one_hot(labels) ⊙ p: labels (7k) mod 13 over 11 classes, so some rows are all zero */
B(b_onehot)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){ferry_tensor_dim(p[0], 0)});
    return ferry_mul(x, ferry_one_hot(x, a[0], 11), p[0]);
}
/* gather rows of p [37, 29] by labels (7m) mod 40 over 300 rows: repeated rows, rows never
 * gathered, and indices past the end (zero rows) */
B(b_gather)
{
    a[0] = ferry_input(x, "labels", FERRY_I32, 1, (int64_t[]){300});
    return ferry_gather_rows(x, p[0], a[0]);
}
static void run_labels_case(const char *name, vkc_build_fn build, int64_t r, int64_t d, int classes)
{
    struct vkc_case c = {.name = name, .build = build, .np = 1, .ndim = {2}, .shape = {{r, d}},
                         .seed = 17, .tol = ELEM, .classes = classes};
    vkc_compare(&c);
}
Test(vk_ops, one_hot) { run_labels_case("one_hot", b_onehot, 77, 11, 13); }
Test(vk_ops, gather_rows_scatter_add) { run_labels_case("gather_rows", b_gather, 37, 29, 40); }
B(b_bmm_nn) { (void)a; return ferry_batched_matmul(x, p[0], p[1], false, false); }
B(b_bmm_nt) { (void)a; return ferry_batched_matmul(x, p[0], p[1], false, true); }
B(b_bmm_tn) { (void)a; return ferry_batched_matmul(x, p[0], p[1], true, false); }
B(b_bmm_tt) { (void)a; return ferry_batched_matmul(x, p[0], p[1], true, true); }
T2(batched_matmul_nn_odd, b_bmm_nn, GEMM, 3, S(3, 7, 13), 3, S(3, 13, 5))
T2(batched_matmul_nt_odd, b_bmm_nt, GEMM, 3, S(2, 65, 33), 3, S(2, 17, 33))
T2(batched_matmul_tn_odd, b_bmm_tn, GEMM, 3, S(5, 33, 17), 3, S(5, 33, 19))
T2(batched_matmul_tt_odd, b_bmm_tt, GEMM, 3, S(4, 13, 7), 3, S(4, 5, 13))
/* CDAN's per-sample outer products f [B,D,1] · g [B,1,K] */
T2(batched_matmul_outer, b_bmm_nn, GEMM, 3, S(33, 65, 1), 3, S(33, 1, 10))
/* ---- conv family: general 2-D convolution (ferry_conv2d_ex), odd and tile-crossing shapes ---- */
#define CONV_EX(fn, ...) \
    B(fn) { (void)a; return ferry_conv2d_ex(x, p[0], p[1], &(ferry_conv_params){__VA_ARGS__}); }
CONV_EX(b_conv_1x7, .pad_left = 3, .pad_right = 3)
CONV_EX(b_conv_7x1, .pad_top = 3, .pad_bottom = 3)
CONV_EX(b_conv_dilated, .dilation_h = 2, .dilation_w = 3, .pad_top = 2, .pad_bottom = 1, .pad_left = 3,
        .pad_right = 2)
CONV_EX(b_conv_stride21, .stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
        .pad_right = 1)
CONV_EX(b_conv_same_s2, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1)
T2(conv_ex_1x7, b_conv_1x7, GEMM, 4, S(2, 33, 17, 13), 4, S(65, 33, 1, 7))
T2(conv_ex_7x1, b_conv_7x1, GEMM, 4, S(2, 33, 17, 13), 4, S(65, 33, 7, 1))
T2(conv_ex_dilated, b_conv_dilated, GEMM, 4, S(3, 33, 17, 13), 4, S(17, 33, 3, 3))
T2(conv_ex_stride2_1, b_conv_stride21, GEMM, 4, S(3, 33, 17, 13), 4, S(40, 33, 3, 3))
T2(conv_ex_same_s2, b_conv_same_s2, GEMM, 4, S(3, 33, 17, 13), 4, S(40, 33, 3, 3))
T2(conv_ex_dilated_splitk, b_conv_dilated, GEMM, 4, S(16, 5, 17, 13), 4, S(7, 5, 3, 3))
CONV_EX(b_conv_grouped, .groups = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1)
CONV_EX(b_conv_dw_s2, .groups = 33, .stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1)
CONV_EX(b_conv_dw_40, .groups = 40, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1)
CONV_EX(b_conv_dw_5x5_dil, .groups = 35, .dilation_h = 2, .dilation_w = 2, .pad_top = 4, .pad_bottom = 4,
        .pad_left = 4, .pad_right = 4)
T2(conv_ex_grouped, b_conv_grouped, GEMM, 4, S(2, 33, 17, 13), 4, S(99, 11, 3, 3))
T2(conv_ex_depthwise_s2, b_conv_dw_s2, GEMM, 4, S(3, 33, 17, 13), 4, S(33, 1, 3, 3))
T2(conv_ex_depthwise_40_splitk, b_conv_dw_40, GEMM, 4, S(16, 40, 17, 13), 4, S(40, 1, 3, 3))
T2(conv_ex_depthwise_5x5_dilated, b_conv_dw_5x5_dil, GEMM, 4, S(2, 35, 17, 13), 4, S(70, 1, 5, 5))
/* ---- pool family: general pooling (asymmetric padding, ceil mode, both average divisors) ---- */
static ferry_tensor_t *pool_ex(ferry_ctx_t *x, ferry_tensor_t *in, ferry_pool_kind kind, int k, int s, int pt, int pb, int pl, int pr, bool ceil_mode, bool cip)
{
    ferry_pool_params p = {.kh = k, .kw = k, .stride_h = s, .stride_w = s, .pad_top = pt, .pad_bottom = pb,
                           .pad_left = pl, .pad_right = pr, .ceil_mode = ceil_mode, .count_include_pad = cip};
    return ferry_pool2d_ex(x, in, kind, &p);
}
B(b_pool_avg_excl) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 1, 1, false, false); }
B(b_pool_avg_same) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 0, 1, 0, 1, false, false); }
B(b_pool_avg_asym_incl) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 0, 0, 1, false, true); }
B(b_pool_avg_ceil) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 0, 0, true, true); }
B(b_pool_avg_ceil_excl) { (void)a; return pool_ex(x, p[0], FERRY_POOL_AVG, 3, 2, 1, 1, 1, 1, true, false); }
B(b_pool_max_asym) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 3, 2, 0, 1, 1, 0, false, true); }
B(b_pool_max_ceil) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 3, 2, 1, 1, 1, 1, true, true); }
B(b_pool_max_ceil_2x2) { (void)a; return pool_ex(x, p[0], FERRY_POOL_MAX, 2, 2, 0, 0, 0, 0, true, true); }
T1(pool_avg_exclude_pad, b_pool_avg_excl, ELEM, 4, S(2, 3, 17, 13))
T1(pool_avg_same_even, b_pool_avg_same, ELEM, 4, S(1, 3, 16, 12))
T1(pool_avg_asym_include_pad, b_pool_avg_asym_incl, ELEM, 4, S(2, 3, 17, 13))
T1(pool_avg_ceil, b_pool_avg_ceil, ELEM, 4, S(2, 3, 17, 13))
T1(pool_avg_ceil_exclude_pad, b_pool_avg_ceil_excl, ELEM, 4, S(2, 3, 16, 13))
T1(pool_max_asym_pad, b_pool_max_asym, ELEM, 4, S(2, 3, 17, 13))
T1(pool_max_ceil, b_pool_max_ceil, ELEM, 4, S(2, 3, 16, 13))
T1(pool_max_ceil_2x2_odd, b_pool_max_ceil_2x2, ELEM, 4, S(2, 3, 17, 13))
B(b_pool_adaptive) { (void)a; return ferry_adaptive_avg_pool2d(x, p[0], 5, 4); }
B(b_pool_adaptive_up) { (void)a; return ferry_adaptive_avg_pool2d(x, p[0], 7, 3); }
T1(pool_adaptive_avg, b_pool_adaptive, ELEM, 4, S(2, 3, 17, 13))
T1(pool_adaptive_avg_larger_out, b_pool_adaptive_up, ELEM, 4, S(2, 3, 4, 2))

/* ---- unary kinds (inputs ±[0.1, 1], scaled to reach the interesting ranges) ---------------------- */
static ferry_tensor_t *vk_sq_plus_half(ferry_ctx_t *x, ferry_tensor_t *p)
{
    int64_t shape[4];
    for (int d = 0; d < ferry_tensor_ndim(p); d++) shape[d] = ferry_tensor_dim(p, d);
    return ferry_add(x, ferry_mul(x, p, p), ferry_constant(x, 0.5f, ferry_tensor_ndim(p), shape));
}
B(b_u_log) { (void)a; return ferry_log(x, vk_sq_plus_half(x, p[0])); }
B(b_u_sqrt) { (void)a; return ferry_sqrt(x, vk_sq_plus_half(x, p[0])); }
B(b_u_square) { (void)a; return ferry_square(x, p[0]); }
B(b_u_pow_frac) { (void)a; return ferry_pow(x, vk_sq_plus_half(x, p[0]), 2.3f); }
B(b_u_pow_int) { (void)a; return ferry_pow(x, ferry_scale(x, p[0], 2.0f), -3.0f); }
B(b_u_pow_even) { (void)a; return ferry_pow(x, p[0], 2.0f); }
B(b_u_abs) { (void)a; return ferry_abs(x, p[0]); }
B(b_u_clamp) { (void)a; return ferry_clamp(x, ferry_scale(x, p[0], 2.0f), -0.7f, 1.3f); }
B(b_u_relu6) { (void)a; return ferry_relu6(x, ferry_scale(x, p[0], 9.0f)); }
B(b_u_silu) { (void)a; return ferry_silu(x, ferry_scale(x, p[0], 8.0f)); }
B(b_u_gelu) { (void)a; return ferry_gelu(x, ferry_scale(x, p[0], 6.0f)); }
B(b_u_hsig) { (void)a; return ferry_hard_sigmoid(x, ferry_scale(x, p[0], 5.0f)); }
B(b_u_softplus) { (void)a; return ferry_softplus(x, ferry_scale(x, p[0], 30.0f)); }

T1(unary_log, b_u_log, ELEM, 2, S(37, 29))
T1(unary_sqrt, b_u_sqrt, ELEM, 2, S(37, 29))
T1(unary_square, b_u_square, ELEM, 3, S(5, 7, 11))
T1(unary_pow_fractional, b_u_pow_frac, ELEM, 2, S(37, 29))
T1(unary_pow_negative_integer, b_u_pow_int, ELEM, 2, S(37, 29))
T1(unary_pow_even_negative_base, b_u_pow_even, ELEM, 1, S(1))
T1(unary_abs, b_u_abs, ELEM, 2, S(37, 29))
T1(unary_clamp, b_u_clamp, ELEM, 2, S(1000, 77))
T1(unary_relu6, b_u_relu6, ELEM, 2, S(37, 29))
T1(unary_silu, b_u_silu, ELEM, 2, S(37, 29))
T1(unary_gelu, b_u_gelu, ELEM, 2, S(1000, 77))
T1(unary_hard_sigmoid, b_u_hsig, ELEM, 4, S(3, 5, 7, 9))
T1(unary_softplus, b_u_softplus, ELEM, 2, S(37, 29))

/* ---- batch norm: eval mode with its backward, and without a scale (gamma NULL) ----------------- */
B(b_bn_eval_grad)
{
    (void)a;
    int64_t c = ferry_tensor_dim(p[0], 1);
    ferry_tensor_t *rm = ferry_constant(x, 0.1f, 1, &c), *rv = ferry_constant(x, 2.0f, 1, &c);
    return ferry_batch_norm(x, p[0], p[1], p[2], rm, rv, false, 0.1f, 1e-5f);
}
B(b_bn_noscale_eval)
{
    (void)a;
    int64_t c = ferry_tensor_dim(p[0], 1);
    ferry_tensor_t *rm = ferry_constant(x, -0.3f, 1, &c), *rv = ferry_constant(x, 0.5f, 1, &c);
    return ferry_batch_norm(x, p[0], NULL, p[1], rm, rv, false, 0.1f, 1e-3f);
}
B(b_bn_noscale_train)
{
    (void)a;
    int64_t c = ferry_tensor_dim(p[0], 1);
    ferry_tensor_t *rm = ferry_constant(x, 0.1f, 1, &c), *rv = ferry_constant(x, 2.0f, 1, &c);
    return ferry_batch_norm(x, p[0], NULL, p[1], rm, rv, true, 0.1f, 1e-5f);
}
T3(batch_norm_eval_2d_backward, b_bn_eval_grad, ELEM, 2, S(19, 5), 1, S(5), 1, S(5))
T3(batch_norm_eval_4d_backward, b_bn_eval_grad, ELEM, 4, S(6, 3, 7, 5), 1, S(3), 1, S(3))
T2(batch_norm_no_scale_eval, b_bn_noscale_eval, ELEM, 4, S(6, 3, 7, 5), 1, S(3))
T2(batch_norm_no_scale_train, b_bn_noscale_train, ELEM, 2, S(19, 5), 1, S(5))

/* ---- layer norm over the last dimension ----------------------------------------------------------- */
B(b_layer_norm) { (void)a; return ferry_layer_norm(x, p[0], p[1], p[2], 1e-5f); }
T3(layer_norm_odd, b_layer_norm, ELEM, 2, S(37, 29), 1, S(29), 1, S(29))
T3(layer_norm_one_column, b_layer_norm, ELEM, 2, S(5, 1), 1, S(1), 1, S(1))
T3(layer_norm_many_rows, b_layer_norm, ELEM, 2, S(1000, 3), 1, S(3), 1, S(3))
T3(layer_norm_wide, b_layer_norm, ELEM, 2, S(3, 777), 1, S(777), 1, S(777))
