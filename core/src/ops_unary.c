/* Constructors of the unary kinds log, sqrt, square, pow, abs, clamp, silu, gelu, hard_sigmoid and
 * softplus (FERRY_OP_UNARY; their backward is ops.c's bw_unary), and the normalisation family's
 * backward builders. */
#include "internal.h"
#include "ops_unary.h"

#include <math.h>
#include <stdio.h>

typedef struct ferry_tensor T;

/* One FERRY_OP_UNARY node of kind `kind` with parameters fp0, fp1. */
static T *unary_kind(ferry_ctx_t *ctx, T *x, enum ferry_unary kind, float fp0, float fp1)
{
    if (!x) return NULL;
    T *t = ferry_new_op(ctx, FERRY_OP_UNARY, FERRY_F32, x->ndim, x->ne, 1, (T *const[]){x});
    if (t) {
        t->ip[0] = (int32_t)kind;
        t->fp[0] = fp0;
        t->fp[1] = fp1;
    }
    return t;
}

ferry_tensor_t *ferry_log(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_LOG, 0, 0); }
ferry_tensor_t *ferry_sqrt(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SQRT, 0, 0); }
ferry_tensor_t *ferry_square(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SQUARE, 0, 0); }
ferry_tensor_t *ferry_pow(ferry_ctx_t *ctx, T *x, float exponent)
{
    if (!isfinite(exponent)) {
        ferry_error(FERRY_ERR_INVALID, "pow: the exponent must be finite (got %g)", (double)exponent);
        return NULL;
    }
    return unary_kind(ctx, x, FERRY_UNARY_POW, exponent, 0);
}
ferry_tensor_t *ferry_abs(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_ABS, 0, 0); }
ferry_tensor_t *ferry_clamp(ferry_ctx_t *ctx, T *x, float lo, float hi)
{
    if (isnan(lo) || isnan(hi) || lo > hi) {
        ferry_error(FERRY_ERR_INVALID, "clamp: needs lo <= hi (got lo %g, hi %g)", (double)lo, (double)hi);
        return NULL;
    }
    return unary_kind(ctx, x, FERRY_UNARY_CLAMP, lo, hi);
}
ferry_tensor_t *ferry_relu6(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_RELU6, 0, 0); }
ferry_tensor_t *ferry_silu(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SILU, 0, 0); }
ferry_tensor_t *ferry_gelu(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_GELU, 0, 0); }
ferry_tensor_t *ferry_hard_sigmoid(ferry_ctx_t *ctx, T *x)
{
    return unary_kind(ctx, x, FERRY_UNARY_HARD_SIGMOID, 0, 0);
}
ferry_tensor_t *ferry_softplus(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SOFTPLUS, 0, 0); }

/* ---- batch norm, eval mode ---- */

#define NEED(i) (node->src[i] && (node->src[i]->flags & FERRY_FLAG_REQUIRES_GRAD))

/* The sum over N (and H, W) per channel of t [N,C] or [N,C,H,W]: dst [C]. */
static T *channel_sum(ferry_ctx_t *ctx, T *t, int64_t c)
{
    return ferry_new_op(ctx, FERRY_OP_BIAS_GRAD, FERRY_F32, 1, &c, 1, (T *const[]){t});
}

/* BN_APPLY eval: src0 = x, src1 = running mean, src2 = gamma, src3 = beta, src4 = running var.
 * Both dx and xhat come from BN_APPLY eval itself, so invstd is the forward's to the bit:
 * dx = bn_eval(g; mean 0, gamma, beta 0), xhat = bn_eval(x; mean, gamma 1, beta 0). The running
 * statistics get no gradient. */
void ferry_bw_bn_eval(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0], *rmean = node->src[1], *gamma = node->src[2], *rvar = node->src[4];
    const float eps = node->fp[1];
    int64_t c = x->ne[1];
    if (NEED(0)) {
        T *zero = ferry_constant(ctx, 0.0f, 1, &c);
        gr[0] = ferry_batch_norm(ctx, g, gamma, zero, zero, rvar, false, 0.0f, eps);
    }
    if (NEED(2)) {
        T *xhat = ferry_batch_norm(ctx, x, ferry_constant(ctx, 1.0f, 1, &c), ferry_constant(ctx, 0.0f, 1, &c),
                                   rmean, rvar, false, 0.0f, eps);
        gr[2] = xhat ? channel_sum(ctx, ferry_mul(ctx, g, xhat), c) : NULL;
    }
    if (NEED(3)) gr[3] = channel_sum(ctx, g, c);
}

/* ---- layer norm ---- */

static T *ln_error(const char *what, const T *a, const T *b)
{
    char sa[64], sb[64] = "";
    ferry_shape_str(a, sa, sizeof sa);
    if (b) ferry_shape_str(b, sb, sizeof sb);
    ferry_error(FERRY_ERR_SHAPE, "layer_norm: %s (got %s%s%s)", what, sa, b ? " and " : "", sb);
    return NULL;
}

ferry_tensor_t *ferry_layer_norm(ferry_ctx_t *ctx, T *x, T *gamma, T *beta, float eps)
{
    if (!x || !gamma || !beta) return NULL;
    if (x->ndim != 2 || x->dtype != FERRY_F32) return ln_error("expects x F32 [N,D]", x, NULL);
    if (gamma->ndim != 1 || gamma->ne[0] != x->ne[1]) return ln_error("gamma must be [D]", x, gamma);
    if (beta->ndim != 1 || beta->ne[0] != x->ne[1]) return ln_error("beta must be [D]", x, beta);
    if (!(eps >= 0) || !isfinite(eps)) {
        ferry_error(FERRY_ERR_INVALID, "layer_norm: eps must be finite and >= 0 (got %g)", (double)eps);
        return NULL;
    }
    T *stats = ferry_new_op(ctx, FERRY_OP_LN_STATS, FERRY_F32, 2, (int64_t[]){x->ne[0], 2}, 1, (T *const[]){x});
    if (!stats) return NULL;
    stats->fp[0] = eps;
    T *t = ferry_new_op(ctx, FERRY_OP_LAYER_NORM, FERRY_F32, 2, x->ne, 4, (T *const[]){x, stats, gamma, beta});
    if (t) t->fp[0] = eps;
    return t;
}

void ferry_bw_layer_norm(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0], *stats = node->src[1], *gamma = node->src[2];
    if (NEED(0))
        gr[0] = ferry_new_op(ctx, FERRY_OP_LN_BWD_DATA, FERRY_F32, 2, x->ne, 4, (T *const[]){g, x, stats, gamma});
    if (NEED(2) || NEED(3)) {
        T *dp = ferry_new_op(ctx, FERRY_OP_LN_BWD_PARAMS, FERRY_F32, 2, (int64_t[]){2, x->ne[1]}, 3,
                             (T *const[]){g, x, stats});
        if (NEED(2)) gr[2] = ferry_reshape(ctx, ferry_slice_batch(ctx, dp, 0, 1), 1, gamma->ne);
        if (NEED(3)) gr[3] = ferry_reshape(ctx, ferry_slice_batch(ctx, dp, 1, 2), 1, gamma->ne);
    }
}
