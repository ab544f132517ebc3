/* Pooling family: the general 2-D pooling constructor (asymmetric padding, ceil mode, both
 * conventions of the average's divisor). The ops are FERRY_OP_MAX_POOL / FERRY_OP_AVG_POOL; see the
 * layout of ip[] and fp[] in ops.def. */
#include "ops_pool.h"

#include <string.h>

typedef struct ferry_tensor T;

/* Output size along one axis: n input elements, kernel k, stride s, padding lo/hi. PyTorch's rule
 * in ceil mode: the last window must start inside the input or the low padding. */
static int64_t pool_out(int64_t n, int k, int s, int lo, int hi, bool ceil_mode)
{
    const int64_t span = n + lo + hi - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= n + lo) o--;
    return o;
}

ferry_tensor_t *ferry_pool2d_ex(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_pool_kind kind,
                                const ferry_pool_params *p)
{
    if (!x) return NULL;
    const char *name = kind == FERRY_POOL_MAX ? "max_pool2d" : "avg_pool2d";
    if ((kind != FERRY_POOL_MAX && kind != FERRY_POOL_AVG) || !p) {
        ferry_error(FERRY_ERR_INVALID, "pool2d_ex: invalid kind %d or no parameters", (int)kind);
        return NULL;
    }
    char sx[64];
    ferry_shape_str(x, sx, sizeof sx);
    if (x->ndim != 4) {
        ferry_error(FERRY_ERR_SHAPE, "%s: expects x [N,C,H,W] (got %s)", name, sx);
        return NULL;
    }
    const int kh = p->kh, kw = p->kw, pt = p->pad_top, pb = p->pad_bottom, pl = p->pad_left,
              pr = p->pad_right;
    if (kh < 1 || kw < 1 || p->stride_h < 1 || p->stride_w < 1 || pt < 0 || pb < 0 || pl < 0 ||
        pr < 0 || 2 * pt > kh || 2 * pb > kh || 2 * pl > kw || 2 * pr > kw) {
        ferry_error(FERRY_ERR_INVALID,
                    "%s: kernel %dx%d, stride %dx%d, padding top %d bottom %d left %d right %d "
                    "invalid (each pad at most half the kernel)",
                    name, kh, kw, p->stride_h, p->stride_w, pt, pb, pl, pr);
        return NULL;
    }
    if (x->ne[2] + pt + pb < kh || x->ne[3] + pl + pr < kw) {
        ferry_error(FERRY_ERR_SHAPE, "%s: window %dx%d larger than the padded input (got %s)", name,
                    kh, kw, sx);
        return NULL;
    }
    const int64_t oh = pool_out(x->ne[2], kh, p->stride_h, pt, pb, p->ceil_mode);
    const int64_t ow = pool_out(x->ne[3], kw, p->stride_w, pl, pr, p->ceil_mode);
    const enum ferry_op op = kind == FERRY_POOL_MAX ? FERRY_OP_MAX_POOL : FERRY_OP_AVG_POOL;
    T *t = ferry_new_op(ctx, op, FERRY_F32, 4, (int64_t[]){x->ne[0], x->ne[1], oh, ow}, 1,
                        (T *const[]){x});
    if (!t) return NULL;
    /* Windows past the bottom/right padding (ceil mode) are clipped to it, as PyTorch does. */
    memcpy(t->ip, (int32_t[]){kh, kw, p->stride_h, p->stride_w, pt, pl, pb, pr},
           8 * sizeof(int32_t));
    t->fp[0] = kind == FERRY_POOL_AVG && !p->count_include_pad ? 1.0f : 0.0f;
    return t;
}

ferry_tensor_t *ferry_adaptive_avg_pool2d(ferry_ctx_t *ctx, ferry_tensor_t *x, int oh, int ow)
{
    if (!x) return NULL;
    char sx[64];
    ferry_shape_str(x, sx, sizeof sx);
    if (x->ndim != 4) {
        ferry_error(FERRY_ERR_SHAPE, "adaptive_avg_pool2d: expects x [N,C,H,W] (got %s)", sx);
        return NULL;
    }
    if (oh < 1 || ow < 1) {
        ferry_error(FERRY_ERR_INVALID, "adaptive_avg_pool2d: output size %dx%d invalid", oh, ow);
        return NULL;
    }
    return ferry_new_op(ctx, FERRY_OP_ADAPTIVE_AVG_POOL, FERRY_F32, 4,
                        (int64_t[]){x->ne[0], x->ne[1], oh, ow}, 1, (T *const[]){x});
}

void ferry_bw_adaptive_avg_pool(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    const T *x = node->src[0];
    gr[0] = ferry_new_op(ctx, FERRY_OP_ADAPTIVE_AVG_POOL_BWD, FERRY_F32, x->ndim, x->ne, 1,
                         (T *const[]){g});
}
