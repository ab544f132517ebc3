/* The axis family: constructors (shape checks) and backward builders of concatenation, slicing,
 * transposes, reductions, arg-max, one-hot, row gathers and batched matmul along one axis. */
#include "internal.h"
#include "ops_axis.h"

#include <stdio.h>
#include <string.h>

typedef struct ferry_tensor T;

#define SRCS(...) ((T *const[]){__VA_ARGS__})

static bool bad_axis(const char *op, const T *x, int axis)
{
    if (axis >= 0 && axis < x->ndim) return false;
    char s[64];
    ferry_shape_str(x, s, sizeof s);
    ferry_error(FERRY_ERR_INVALID, "%s: axis %d out of range for a %d-D tensor %s", op, axis, x->ndim,
                s);
    return true;
}

/* ---- concat, slice ---------------------------------------------------------------------------- */

ferry_tensor_t *ferry_concat(ferry_ctx_t *ctx, int axis, int n, T *const *ts)
{
    if (n < 1 || n > FERRY_MAX_SRC || !ts) {
        ferry_error(FERRY_ERR_INVALID, "concat: %d tensors (1 to %d)", n, FERRY_MAX_SRC);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!ts[k]) return NULL;
    const T *a = ts[0];
    if (bad_axis("concat", a, axis)) return NULL;
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, a->ne, sizeof shape);
    for (int k = 1; k < n; k++) {
        const T *b = ts[k];
        bool ok = b->ndim == a->ndim && b->dtype == a->dtype;
        for (int d = 0; ok && d < a->ndim; d++) ok = d == axis || a->ne[d] == b->ne[d];
        if (!ok)
            return ferry_shape_error("concat", "dtypes and all dimensions but the axis must match", a, b);
        shape[axis] += b->ne[axis];
    }
    if (n == 1) return ts[0];
    T *t = ferry_new_op(ctx, FERRY_OP_AXIS_CONCAT, a->dtype, a->ndim, shape, n, ts);
    if (t) t->ip[0] = axis;
    return t;
}

ferry_tensor_t *ferry_slice(ferry_ctx_t *ctx, T *x, int axis, int64_t begin, int64_t end)
{
    if (!x || bad_axis("slice", x, axis)) return NULL;
    if (begin < 0 || end > x->ne[axis] || begin >= end) {
        ferry_error(FERRY_ERR_SHAPE, "slice: [%lld, %lld) of axis %d of length %lld", (long long)begin,
                    (long long)end, axis, (long long)x->ne[axis]);
        return NULL;
    }
    if (axis == 0) return ferry_slice_batch(ctx, x, begin, end);
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, x->ne, sizeof shape);
    shape[axis] = end - begin;
    T *t = ferry_new_op(ctx, FERRY_OP_AXIS_SLICE, x->dtype, x->ndim, shape, 1, SRCS(x));
    if (t) {
        t->ip[0] = axis;
        t->ip[1] = (int32_t)begin;
    }
    return t;
}

void ferry_bw_concat_axis(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    const int axis = node->ip[0];
    int64_t off = 0;
    for (int k = 0; k < FERRY_MAX_SRC && node->src[k]; k++) {
        const int64_t len = node->src[k]->ne[axis];
        if (node->src[k]->flags & FERRY_FLAG_REQUIRES_GRAD)
            gr[k] = ferry_slice(ctx, g, axis, off, off + len);
        off += len;
    }
}

void ferry_bw_slice_axis(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    const T *x = node->src[0];
    T *t = ferry_new_op(ctx, FERRY_OP_AXIS_PAD, FERRY_F32, x->ndim, x->ne, 1, SRCS(g));
    if (t) {
        t->ip[0] = node->ip[0];
        t->ip[1] = node->ip[1];
    }
    gr[0] = t;
}

/* ---- transpose -------------------------------------------------------------------------------- */

ferry_tensor_t *ferry_transpose(ferry_ctx_t *ctx, T *x, int axis0, int axis1)
{
    if (!x || bad_axis("transpose", x, axis0) || bad_axis("transpose", x, axis1)) return NULL;
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, x->ne, sizeof shape);
    shape[axis0] = x->ne[axis1];
    shape[axis1] = x->ne[axis0];
    T *t = ferry_new_op(ctx, FERRY_OP_TRANSPOSE, x->dtype, x->ndim, shape, 1, SRCS(x));
    if (t) {
        t->ip[0] = axis0;
        t->ip[1] = axis1;
    }
    return t;
}

void ferry_bw_transpose(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    gr[0] = ferry_transpose(ctx, g, node->ip[0], node->ip[1]);
}

/* ---- reductions along an axis ----------------------------------------------------------------- */

static T *reduce_axis(ferry_ctx_t *ctx, T *x, int axis, int kind, bool mean, const char *name)
{
    if (!x || bad_axis(name, x, axis)) return NULL;
    if (x->dtype != FERRY_F32) return ferry_shape_error(name, "expects an F32 tensor", x, NULL);
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, x->ne, sizeof shape);
    shape[axis] = 1;
    T *t = ferry_new_op(ctx, FERRY_OP_REDUCE_AXIS, FERRY_F32, x->ndim, shape, 1, SRCS(x));
    if (t) {
        t->ip[0] = axis;
        t->ip[1] = kind;
        t->fp[0] = mean ? (float)(1.0 / (double)x->ne[axis]) : 1.0f;
    }
    return t;
}

ferry_tensor_t *ferry_sum_axis(ferry_ctx_t *ctx, T *x, int axis)
{
    return reduce_axis(ctx, x, axis, 0, false, "sum_axis");
}
ferry_tensor_t *ferry_mean_axis(ferry_ctx_t *ctx, T *x, int axis)
{
    return reduce_axis(ctx, x, axis, 0, true, "mean_axis");
}
ferry_tensor_t *ferry_max_axis(ferry_ctx_t *ctx, T *x, int axis)
{
    return reduce_axis(ctx, x, axis, 1, false, "max_axis");
}
ferry_tensor_t *ferry_min_axis(ferry_ctx_t *ctx, T *x, int axis)
{
    return reduce_axis(ctx, x, axis, 2, false, "min_axis");
}

void ferry_bw_reduce_axis(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0];
    T *t = node->ip[1] == 0
               ? ferry_new_op(ctx, FERRY_OP_EXPAND_AXIS, FERRY_F32, x->ndim, x->ne, 1, SRCS(g))
               : ferry_new_op(ctx, FERRY_OP_REDUCE_AXIS_BWD, FERRY_F32, x->ndim, x->ne, 2, SRCS(g, x));
    if (t) {
        t->ip[0] = node->ip[0];
        t->ip[1] = node->ip[1];
        t->fp[0] = node->fp[0];
    }
    gr[0] = t;
}

ferry_tensor_t *ferry_argmax_axis(ferry_ctx_t *ctx, T *x, int axis)
{
    if (!x || bad_axis("argmax_axis", x, axis)) return NULL;
    if (x->dtype != FERRY_F32) return ferry_shape_error("argmax_axis", "expects an F32 tensor", x, NULL);
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, x->ne, sizeof shape);
    shape[axis] = 1;
    T *t = ferry_new_op(ctx, FERRY_OP_ARGMAX_AXIS, FERRY_I32, x->ndim, shape, 1, SRCS(x));
    if (t) {
        t->ip[0] = axis;
        t->flags &= ~FERRY_FLAG_REQUIRES_GRAD;
    }
    return t;
}

/* ---- one-hot, gather -------------------------------------------------------------------------- */

ferry_tensor_t *ferry_one_hot(ferry_ctx_t *ctx, T *labels, int k)
{
    if (!labels) return NULL;
    if (labels->ndim != 1 || labels->dtype != FERRY_I32)
        return ferry_shape_error("one_hot", "expects I32 labels [N]", labels, NULL);
    if (k < 1) {
        ferry_error(FERRY_ERR_INVALID, "one_hot: %d classes (at least 1)", k);
        return NULL;
    }
    T *t = ferry_new_op(ctx, FERRY_OP_ONE_HOT, FERRY_F32, 2, (int64_t[]){labels->ne[0], k}, 1,
                        SRCS(labels));
    if (t) {
        t->ip[0] = k;
        t->flags &= ~FERRY_FLAG_REQUIRES_GRAD;
    }
    return t;
}

ferry_tensor_t *ferry_gather_rows(ferry_ctx_t *ctx, T *x, T *idx)
{
    if (!x || !idx) return NULL;
    if (x->ndim != 2 || x->dtype != FERRY_F32 || idx->ndim != 1 || idx->dtype != FERRY_I32)
        return ferry_shape_error("gather_rows", "expects F32 x [R,D] and I32 indices [M]", x, idx);
    return ferry_new_op(ctx, FERRY_OP_GATHER_ROWS, FERRY_F32, 2, (int64_t[]){idx->ne[0], x->ne[1]}, 2,
                        SRCS(x, idx));
}

void ferry_bw_gather_rows(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0];
    if (x->flags & FERRY_FLAG_REQUIRES_GRAD)
        gr[0] = ferry_new_op(ctx, FERRY_OP_GATHER_ROWS_BWD, FERRY_F32, 2, x->ne, 2, SRCS(g, node->src[1]));
}

/* ---- batched matmul --------------------------------------------------------------------------- */

ferry_tensor_t *ferry_batched_matmul(ferry_ctx_t *ctx, T *a, T *b, bool ta, bool tb)
{
    if (!a || !b) return NULL;
    if (a->ndim != 3 || b->ndim != 3 || a->dtype != FERRY_F32 || b->dtype != FERRY_F32)
        return ferry_shape_error("batched_matmul", "expects F32 tensors [B,M,K] and [B,K,N]", a, b);
    if (a->ne[0] != b->ne[0]) return ferry_shape_error("batched_matmul", "batch sizes differ", a, b);
    int64_t m = ta ? a->ne[2] : a->ne[1], ka = ta ? a->ne[1] : a->ne[2];
    int64_t kb = tb ? b->ne[2] : b->ne[1], n = tb ? b->ne[1] : b->ne[2];
    if (ka != kb) return ferry_shape_error("batched_matmul", "inner dimensions differ", a, b);
    T *t = ferry_new_op(ctx, FERRY_OP_BMM, FERRY_F32, 3, (int64_t[]){a->ne[0], m, n}, 2, SRCS(a, b));
    if (t) {
        t->ip[0] = ta;
        t->ip[1] = tb;
    }
    return t;
}

void ferry_bw_bmm(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *a = node->src[0], *b = node->src[1];
    bool ta = node->ip[0], tb = node->ip[1];
    if (a->flags & FERRY_FLAG_REQUIRES_GRAD)
        gr[0] = ta ? ferry_batched_matmul(ctx, b, g, tb, true) : ferry_batched_matmul(ctx, g, b, false, !tb);
    if (b->flags & FERRY_FLAG_REQUIRES_GRAD)
        gr[1] = tb ? ferry_batched_matmul(ctx, g, a, true, ta) : ferry_batched_matmul(ctx, a, g, !ta, false);
}
