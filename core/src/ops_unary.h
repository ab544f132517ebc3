/* The unary and normalisation family: backward builders referenced by ops.def (ops_unary.c). */
#ifndef FERRY_OPS_UNARY_H
#define FERRY_OPS_UNARY_H

#include "internal.h"

/* Batch norm in eval mode (node: BN_APPLY with ip0 = 1): with the running statistics fixed the op
 * is an affine map per channel, so dx = g·gamma·invstd, dgamma = sum g·xhat, dbeta = sum g. */
void ferry_bw_bn_eval(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                      struct ferry_tensor **gr);
/* LAYER_NORM: dx by LN_BWD_DATA, dgamma and dbeta by LN_BWD_PARAMS. */
void ferry_bw_layer_norm(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                         struct ferry_tensor **gr);

#endif
