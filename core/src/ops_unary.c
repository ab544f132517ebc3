/* Constructors of the unary kinds log, sqrt, square, pow, abs, clamp, silu, gelu, hard_sigmoid and
 * softplus (FERRY_OP_UNARY; their backward is ops.c's bw_unary). */
#include "internal.h"
#include "ops_unary.h"

#include <math.h>

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
ferry_tensor_t *ferry_relu6(ferry_ctx_t *ctx, T *x) { return ferry_clamp(ctx, x, 0.0f, 6.0f); }
ferry_tensor_t *ferry_silu(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SILU, 0, 0); }
ferry_tensor_t *ferry_gelu(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_GELU, 0, 0); }
ferry_tensor_t *ferry_hard_sigmoid(ferry_ctx_t *ctx, T *x)
{
    return unary_kind(ctx, x, FERRY_UNARY_HARD_SIGMOID, 0, 0);
}
ferry_tensor_t *ferry_softplus(ferry_ctx_t *ctx, T *x) { return unary_kind(ctx, x, FERRY_UNARY_SOFTPLUS, 0, 0); }
