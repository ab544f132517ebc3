/* The convolution family: the constructors of 2-D convolution (per-axis stride, explicit padding on
 * each side, dilation, groups) and its backward builder. Nothing here computes. */
#include "ops_conv.h"

#include <stdio.h>
#include <string.h>

typedef struct ferry_tensor T;

/* Refuses with a message naming the op and both shapes. */
static T *conv_refuse(ferry_status code, const T *x, const T *w, const char *what)
{
    char sx[64], sw[64];
    ferry_shape_str(x, sx, sizeof sx);
    ferry_shape_str(w, sw, sizeof sw);
    ferry_error(code, "conv2d: %s (x %s, weight %s)", what, sx, sw);
    return NULL;
}

static T *conv_make(ferry_ctx_t *ctx, T *x, T *w, const struct ferry_conv_geom *g)
{
    char why[192];
    if (!x || !w) return NULL;
    if (x->ndim != 4 || w->ndim != 4)
        return conv_refuse(FERRY_ERR_SHAPE, x, w, "expects x [N,C,H,W] and weight [O,C/groups,KH,KW]");
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->dh > 0xffff || g->dw > 0xffff ||
        g->pt < 0 || g->pb < 0 || g->pl < 0 || g->pr < 0 || g->groups < 1) {
        snprintf(why, sizeof why,
                 "stride (%d,%d), padding (top %d, bottom %d, left %d, right %d), dilation (%d,%d) "
                 "or groups %d invalid",
                 g->sh, g->sw, g->pt, g->pb, g->pl, g->pr, g->dh, g->dw, g->groups);
        return conv_refuse(FERRY_ERR_INVALID, x, w, why);
    }
    const int64_t c = x->ne[1], o = w->ne[0];
    if (c % g->groups || o % g->groups) {
        snprintf(why, sizeof why, "%lld input and %lld output channels are not multiples of groups %d",
                 (long long)c, (long long)o, g->groups);
        return conv_refuse(FERRY_ERR_SHAPE, x, w, why);
    }
    if (w->ne[1] * g->groups != c) {
        snprintf(why, sizeof why, "weight has %lld input channels per group, x %lld / groups %d",
                 (long long)w->ne[1], (long long)c, g->groups);
        return conv_refuse(FERRY_ERR_SHAPE, x, w, why);
    }
    /* the dilated kernel's extent must fit the padded input */
    const int64_t eh = (int64_t)g->dh * (w->ne[2] - 1) + 1, ew = (int64_t)g->dw * (w->ne[3] - 1) + 1;
    const int64_t ph = x->ne[2] + g->pt + g->pb, pw = x->ne[3] + g->pl + g->pr;
    if (w->ne[2] < 1 || w->ne[3] < 1 || ph < eh || pw < ew) {
        snprintf(why, sizeof why, "kernel extent %lldx%lld (dilation %d,%d) larger than the padded "
                 "input %lldx%lld", (long long)eh, (long long)ew, g->dh, g->dw, (long long)ph,
                 (long long)pw);
        return conv_refuse(FERRY_ERR_SHAPE, x, w, why);
    }
    const int64_t oh = (ph - eh) / g->sh + 1, ow = (pw - ew) / g->sw + 1;
    T *t = ferry_new_op(ctx, FERRY_OP_CONV2D, FERRY_F32, 4, (int64_t[]){x->ne[0], o, oh, ow}, 2,
                        (T *const[]){x, w});
    if (t) ferry_conv_set(t, g);
    return t;
}

ferry_tensor_t *ferry_conv2d(ferry_ctx_t *ctx, T *x, T *w, int stride, int pad)
{
    if (x && w && (stride < 1 || pad < 0)) {
        ferry_error(FERRY_ERR_INVALID, "conv2d: stride %d / padding %d invalid", stride, pad);
        return NULL;
    }
    const struct ferry_conv_geom g = {.sh = stride, .sw = stride, .pt = pad, .pb = pad, .pl = pad,
                                      .pr = pad, .dh = 1, .dw = 1, .groups = 1};
    return conv_make(ctx, x, w, &g);
}

static int or_one(int v) { return v == 0 ? 1 : v; }

ferry_tensor_t *ferry_conv2d_ex(ferry_ctx_t *ctx, T *x, T *w, const ferry_conv_params *p)
{
    const ferry_conv_params none = {0};
    if (!p) p = &none;
    const struct ferry_conv_geom g = {
        .sh = or_one(p->stride_h), .sw = or_one(p->stride_w), .pt = p->pad_top,
        .pb = p->pad_bottom, .pl = p->pad_left, .pr = p->pad_right, .dh = or_one(p->dilation_h),
        .dw = or_one(p->dilation_w), .groups = or_one(p->groups)};
    return conv_make(ctx, x, w, &g);
}

void ferry_bw_conv(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    for (int i = 0; i < 2; i++) {
        T *s = node->src[i];
        if (!s || !(s->flags & FERRY_FLAG_REQUIRES_GRAD)) continue;
        enum ferry_op op = i == 0 ? FERRY_OP_CONV2D_BWD_DATA : FERRY_OP_CONV2D_BWD_WEIGHT;
        T *t = ferry_new_op(ctx, op, FERRY_F32, s->ndim, s->ne, 2, (T *const[]){g, node->src[1 - i]});
        if (t) memcpy(t->ip, node->ip, sizeof t->ip);
        gr[i] = t;
    }
}
