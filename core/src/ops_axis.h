/* Backward builders of the axis family (ops_axis.c), named by the registry (ops.def). */
#ifndef FERRY_OPS_AXIS_H
#define FERRY_OPS_AXIS_H

#include "internal.h"

void ferry_bw_concat_axis(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                          struct ferry_tensor **grads);
void ferry_bw_slice_axis(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                         struct ferry_tensor **grads);
void ferry_bw_transpose(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                        struct ferry_tensor **grads);
void ferry_bw_reduce_axis(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                          struct ferry_tensor **grads);
void ferry_bw_gather_rows(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                          struct ferry_tensor **grads);
void ferry_bw_bmm(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                  struct ferry_tensor **grads);

/* The [outer, ne[axis], inner] view of t around axis. */
static inline void ferry_axis_view(const struct ferry_tensor *t, int axis, int64_t *outer,
                                   int64_t *len, int64_t *inner)
{
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++) o *= t->ne[d];
    for (int d = axis + 1; d < t->ndim; d++) i *= t->ne[d];
    *outer = o;
    *len = t->ne[axis];
    *inner = i;
}

#endif
