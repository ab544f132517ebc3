/* Squared singular values of a batch's feature matrix, in the graph (BSP's largest, BSS's smallest).
 *
 * σ_i² of f [n, d] are the eigenvalues of the Gram matrix f fᵀ (n×n) or fᵀf (d×d), whichever is
 * smaller. With no host round trip: `iterations` power-iteration steps v ← A v / ‖A v‖ on a matrix A
 * built from the detached Gram matrix G, from the all-ones vector (never orthogonal to the top
 * eigenvector of the Gram matrix of non-negative, e.g. post-ReLU, features), then σ² = vᵀ (f fᵀ) v =
 * ‖fᵀ v‖² (or ‖f v‖²) with v constant: at convergence the exact gradient, dσ²/df = 2 v vᵀ f, by the
 * envelope theorem (dλ = vᵀ dG v for a unit eigenvector v).
 *   largest:  A = G; for i > 1, G deflated: G ← G − λ_i v_i v_iᵀ.
 *   smallest: A = c I − G with c = 1.001 · λ_max + 1e-6 (λ_max by 30 power steps): its top
 *             eigenvector is G's bottom one, and the gap ratio (c − λ_2) / (c − λ_1) is close to 1
 *             where the spectrum is wide, so instead of power steps s repeated squarings A^(2^s)
 *             (2^s power steps in s matrix products: s = 12 is A^4096), deflated likewise. */
#ifndef FERRY_ALGORITHMS_SPECTRAL_H
#define FERRY_ALGORITHMS_SPECTRAL_H

#include "ferry/plugin.h"

#define SPECTRAL_MAX_K 16

/* A v for the iteration's matrix: G v (largest) or c v − G v (smallest), minus the deflated
 * directions Σ_j μ_j v_j (v_jᵀ v). */
struct spectral_op {
    ferry_tensor_t *g, *c;                                    /* G [m, m]; c [1, 1] or NULL */
    ferry_tensor_t *v[SPECTRAL_MAX_K], *mu[SPECTRAL_MAX_K]; /* found so far, [m, 1] and [1, 1] */
    int n;
};

static inline ferry_tensor_t *spectral_apply(const ferry_host_api *h, ferry_ctx_t *ctx, const struct spectral_op *a,
                                             ferry_tensor_t *v)
{
    ferry_tensor_t *w = h->matmul(ctx, a->g, v, false, false);
    if (a->c) w = h->sub(ctx, h->mul(ctx, a->c, v), w);
    for (int j = 0; j < a->n; j++)
        w = h->sub(ctx, w, h->mul(ctx, h->mul(ctx, a->mu[j], a->v[j]), h->sum_to(ctx, h->mul(ctx, a->v[j], v), 2, (int64_t[]){1, 1})));
    return w;
}

/* `iterations` normalised power steps from the all-ones vector: v [m, 1], unit length. */
static inline ferry_tensor_t *spectral_power(const ferry_host_api *h, ferry_ctx_t *ctx, const struct spectral_op *a,
                                             int64_t m, int iterations)
{
    ferry_tensor_t *tiny = h->constant(ctx, 1e-30f, 2, (int64_t[]){1, 1});
    ferry_tensor_t *v = h->constant(ctx, 1.0f, 2, (int64_t[]){m, 1});
    for (int it = 0; it < iterations; it++) {
        ferry_tensor_t *w = spectral_apply(h, ctx, a, v);
        v = h->div(ctx, w, h->sqrt(ctx, h->add(ctx, h->sum_to(ctx, h->mul(ctx, w, w), 2, (int64_t[]){1, 1}), tiny)));
    }
    return v;
}

/* vᵀ A v, [1, 1] */
static inline ferry_tensor_t *spectral_rayleigh(const ferry_host_api *h, ferry_ctx_t *ctx, const struct spectral_op *a,
                                                ferry_tensor_t *v)
{
    return h->sum_to(ctx, h->mul(ctx, v, spectral_apply(h, ctx, a, v)), 2, (int64_t[]){1, 1});
}

/* the n × n identity from graph ops: rows [1, 0 … 0] of width n + 1, laid end to end, cut to n² and
 * folded */
static inline ferry_tensor_t *spectral_identity(const ferry_host_api *h, ferry_ctx_t *ctx, int64_t n)
{
    ferry_tensor_t *parts[2] = {h->constant(ctx, 1.0f, 2, (int64_t[]){n, 1}), h->constant(ctx, 0.0f, 2, (int64_t[]){n, n})};
    ferry_tensor_t *flat = h->reshape(ctx, h->concat(ctx, 1, 2, parts), 2, (int64_t[]){1, n * (n + 1)});
    return h->reshape(ctx, h->slice(ctx, flat, 1, 0, n * n), 2, (int64_t[]){n, n});
}

/* The unit top eigenvector of a symmetric positive semi-definite a [m, m] by repeated squaring:
 * a^(2^s) applied to the all-ones vector (each square rescaled by its Frobenius norm), then two
 * power steps on a. s squarings do the work of 2^s power steps in s matrix products. */
static inline ferry_tensor_t *spectral_top_by_squaring(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a,
                                                       int64_t m, int squarings)
{
    ferry_tensor_t *tiny = h->constant(ctx, 1e-30f, 2, (int64_t[]){1, 1});
    ferry_tensor_t *p = a;
    for (int i = 0; i < squarings; i++) {
        p = h->matmul(ctx, p, p, false, false);
        p = h->div(ctx, p, h->sqrt(ctx, h->add(ctx, h->sum_to(ctx, h->mul(ctx, p, p), 2, (int64_t[]){1, 1}), tiny)));
    }
    ferry_tensor_t *v = h->matmul(ctx, p, h->constant(ctx, 1.0f, 2, (int64_t[]){m, 1}), false, false);
    for (int i = 0; i < 3; i++) {
        v = h->div(ctx, v, h->sqrt(ctx, h->add(ctx, h->sum_to(ctx, h->mul(ctx, v, v), 2, (int64_t[]){1, 1}), tiny)));
        if (i < 2) v = h->matmul(ctx, a, v, false, false);
    }
    return v;
}

/* The sum of the k (<= SPECTRAL_MAX_K) largest squared singular values of f [n, d] (power iteration,
 * `steps` steps per value), or the k smallest (of the min(n, d) there are: repeated squaring of
 * c I − G, `steps` squarings per value), a scalar. */
static inline ferry_tensor_t *spectral_squared_singular_values(const ferry_host_api *h, ferry_ctx_t *ctx,
                                                               ferry_tensor_t *f, int k, int steps, bool smallest)
{
    const bool rows = h->dim(f, 0) <= h->dim(f, 1); /* the Gram matrix over rows (n×n) or columns (d×d) */
    const int64_t m = rows ? h->dim(f, 0) : h->dim(f, 1);
    ferry_tensor_t *fd = h->detach(ctx, f);
    struct spectral_op a = {.g = rows ? h->matmul(ctx, fd, fd, false, true) : h->matmul(ctx, fd, fd, true, false)};
    ferry_tensor_t *shifted = NULL; /* smallest: c I − G, c just above G's largest eigenvalue */
    if (smallest) {
        ferry_tensor_t *top = spectral_rayleigh(h, ctx, &a, spectral_power(h, ctx, &a, m, 30));
        ferry_tensor_t *c = h->add(ctx, h->scale(ctx, top, 1.001f), h->constant(ctx, 1e-6f, 2, (int64_t[]){1, 1}));
        shifted = h->sub(ctx, h->mul(ctx, c, spectral_identity(h, ctx, m)), a.g);
    }
    ferry_tensor_t *total = NULL;
    for (int i = 0; i < k && i < SPECTRAL_MAX_K; i++) {
        ferry_tensor_t *v = smallest ? spectral_top_by_squaring(h, ctx, shifted, m, steps) : spectral_power(h, ctx, &a, m, steps);
        /* σ² = ‖fᵀ v‖² (rows) or ‖f v‖² (columns), v a constant */
        ferry_tensor_t *u = rows ? h->matmul(ctx, f, v, true, false) : h->matmul(ctx, f, v, false, false);
        ferry_tensor_t *s2 = h->sum(ctx, h->mul(ctx, u, u));
        total = total ? h->add(ctx, total, s2) : s2;
        if (i + 1 < k) { /* deflate the direction found */
            if (smallest) {
                ferry_tensor_t *mu = h->sum_to(ctx, h->mul(ctx, v, h->matmul(ctx, shifted, v, false, false)), 2, (int64_t[]){1, 1});
                shifted = h->sub(ctx, shifted, h->mul(ctx, mu, h->matmul(ctx, v, v, false, true)));
            } else {
                a.mu[a.n] = spectral_rayleigh(h, ctx, &a, v);
                a.v[a.n++] = v;
            }
        }
    }
    return total;
}

#endif
