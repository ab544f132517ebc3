/* The convolution family: its constructors live in ops_conv.c; the geometry stored in a node's ip[]
 * (layout documented at CONV2D in ops.def) is read back by the backends through ferry_conv_get. */
#ifndef FERRY_OPS_CONV_H
#define FERRY_OPS_CONV_H

#include "internal.h"

/* The geometry of a convolution node (CONV2D and its two backward ops), every field explicit. */
struct ferry_conv_geom {
    int sh, sw;         /* strides, >= 1 */
    int pt, pb, pl, pr; /* padding top, bottom, left, right, >= 0 */
    int dh, dw;         /* dilations, >= 1 */
    int groups;         /* >= 1; C and O are multiples of it */
};

static inline struct ferry_conv_geom ferry_conv_get(const struct ferry_tensor *t)
{
    const int32_t *ip = t->ip;
    return (struct ferry_conv_geom){.sh = ip[0], .sw = ip[1], .pt = ip[2], .pb = ip[3],
                                    .pl = ip[4], .pr = ip[5], .dh = ip[6] & 0xffff,
                                    .dw = (ip[6] >> 16) & 0xffff, .groups = ip[7]};
}

static inline void ferry_conv_set(struct ferry_tensor *t, const struct ferry_conv_geom *g)
{
    int32_t *ip = t->ip;
    ip[0] = g->sh;
    ip[1] = g->sw;
    ip[2] = g->pt;
    ip[3] = g->pb;
    ip[4] = g->pl;
    ip[5] = g->pr;
    ip[6] = (int32_t)((uint32_t)g->dh | (uint32_t)g->dw << 16);
    ip[7] = g->groups;
}

/* Backward builder of CONV2D (ops.def). */
void ferry_bw_conv(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                   struct ferry_tensor **gr);

#endif
