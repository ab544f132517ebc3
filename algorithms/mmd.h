/* Kernel two-sample helpers shared by DAN (dan.c) and JAN (jan.c): the Gaussian multi-kernel
 * Σ_{j=-3..1} exp(−d / (2^j m)), m the mean squared distance of the joint sample (detached) or a fixed
 * bandwidth, squared distances between paired rows or all pairs, and the linear-time and quadratic-time
 * unbiased MMD² estimators (see dan.c for the formulas). Static inline: a method that does not use one
 * compiles cleanly under -Werror. */
#ifndef FERRY_ALGORITHMS_MMD_H
#define FERRY_ALGORITHMS_MMD_H

#include "ferry/plugin.h"

#include <stdbool.h>

#define KERNELS 5          /* bandwidth multipliers 2^-3 .. 2^1 */
#define MIN_BANDWIDTH 1e-12f /* m when every feature row is the same (all distances 0) */

/* Row sums of a [n, d] matrix as [n, 1]. */
static inline ferry_tensor_t *row_sums(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    return h->sum_to(ctx, x, 2, (int64_t[]){h->dim(x, 0), 1});
}

/* The mean row of [a; b], without gradient: [1, d] (subtracted from every row by broadcasting). */
static inline ferry_tensor_t *joint_mean(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *x = h->detach(ctx, h->concat_batch(ctx, a, b));
    const int64_t n = h->dim(x, 0);
    return h->scale(ctx, h->sum_to(ctx, x, 2, (int64_t[]){1, h->dim(x, 1)}), 1.0f / (float)n);
}

/* 1 / m, m = mean of ‖x_i − x_j‖² over all N² ordered pairs of the centred joint sample x = [a; b],
 * without gradient: Σ_ij ‖x_i − x_j‖² = 2N Σ_i ‖x_i‖² when Σ_i x_i = 0, so m = 2 Σ_i ‖x_i‖² / N.
 * m is floored at MIN_BANDWIDTH: max(m, ε) = relu(m − ε) + ε. */
static inline ferry_tensor_t *inv_bandwidth(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *x = h->detach(ctx, h->concat_batch(ctx, a, b));
    ferry_tensor_t *m = h->scale(ctx, h->sum(ctx, h->mul(ctx, x, x)), 2.0f / (float)h->dim(x, 0));
    ferry_tensor_t *eps = h->constant(ctx, MIN_BANDWIDTH, 1, (int64_t[]){1});
    return h->reciprocal(ctx, h->add(ctx, h->relu(ctx, h->sub(ctx, m, eps)), eps));
}

/* Σ_j exp(−d / (2^j m)) elementwise, d squared distances. */
static inline ferry_tensor_t *multi_kernel(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *d, ferry_tensor_t *inv_m)
{
    ferry_tensor_t *k = NULL;
    for (int j = -3; j <= 1; j++) {
        float mult = j < 0 ? (float)(1 << -j) : 1.0f / (float)(1 << j); /* 1 / 2^j */
        ferry_tensor_t *e = h->exp(ctx, h->scale_by(ctx, d, inv_m, -mult));
        k = k ? h->add(ctx, k, e) : e;
    }
    return k;
}

/* Squared distances between paired rows: ‖a_i − b_i‖², [n, 1]. */
static inline ferry_tensor_t *paired(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    ferry_tensor_t *diff = h->sub(ctx, a, b);
    return row_sums(h, ctx, h->mul(ctx, diff, diff));
}

/* All squared distances ‖a_i − b_j‖², [n, m] = r_a + r_bᵀ − 2·a·bᵀ (r: row sums of squares, [n, 1]
 * and [1, m] broadcast), clamped at 0 against rounding. */
static inline ferry_tensor_t *pairwise(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b)
{
    const int64_t m = h->dim(b, 0);
    ferry_tensor_t *ra = row_sums(h, ctx, h->mul(ctx, a, a));
    ferry_tensor_t *rb = h->reshape(ctx, row_sums(h, ctx, h->mul(ctx, b, b)), 2, (int64_t[]){1, m});
    ferry_tensor_t *d = h->add(ctx, ra, rb);
    return h->relu(ctx, h->sub(ctx, d, h->scale(ctx, h->matmul(ctx, a, b, false, true), 2.0f)));
}

static inline ferry_tensor_t *mmd_linear(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t,
                                  ferry_tensor_t *inv_m)
{
    const int64_t half = h->dim(s, 0) / 2;
    ferry_tensor_t *s1 = h->slice_batch(ctx, s, 0, half), *s2 = h->slice_batch(ctx, s, half, 2 * half);
    ferry_tensor_t *t1 = h->slice_batch(ctx, t, 0, half), *t2 = h->slice_batch(ctx, t, half, 2 * half);
    ferry_tensor_t *same = h->add(ctx, multi_kernel(h, ctx, paired(h, ctx, s1, s2), inv_m),
                                  multi_kernel(h, ctx, paired(h, ctx, t1, t2), inv_m));
    ferry_tensor_t *cross = h->add(ctx, multi_kernel(h, ctx, paired(h, ctx, s1, t2), inv_m),
                                   multi_kernel(h, ctx, paired(h, ctx, s2, t1), inv_m));
    return h->mean(ctx, h->sub(ctx, same, cross));
}

static inline ferry_tensor_t *mmd_quadratic(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t,
                                     ferry_tensor_t *inv_m)
{
    const float n = (float)h->dim(s, 0);
    /* the diagonals of k(s, s) and k(t, t) are exactly KERNELS each (distance 0): taken out of the sums */
    ferry_tensor_t *ss = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, s), inv_m));
    ferry_tensor_t *tt = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, t, t), inv_m));
    ferry_tensor_t *st = h->sum(ctx, multi_kernel(h, ctx, pairwise(h, ctx, s, t), inv_m));
    ferry_tensor_t *diag = h->constant(ctx, 2.0f * n * KERNELS, 1, (int64_t[]){1});
    ferry_tensor_t *within = h->sub(ctx, h->add(ctx, ss, tt), diag);
    return h->sub(ctx, h->scale(ctx, within, 1.0f / (n * (n - 1.0f))), h->scale(ctx, st, 2.0f / (n * n)));
}

static inline ferry_tensor_t *mmd(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *s, ferry_tensor_t *t, bool quadratic,
                           double bandwidth)
{
    ferry_tensor_t *mean = joint_mean(h, ctx, s, t);
    s = h->sub(ctx, s, mean);
    t = h->sub(ctx, t, mean);
    ferry_tensor_t *inv_m = bandwidth > 0 ? h->constant(ctx, (float)(1.0 / bandwidth), 1, (int64_t[]){1})
                                          : inv_bandwidth(h, ctx, s, t);
    return quadratic ? mmd_quadratic(h, ctx, s, t, inv_m) : mmd_linear(h, ctx, s, t, inv_m);
}

#endif
