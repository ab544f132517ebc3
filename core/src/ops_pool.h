/* Pooling family: backward builders. */
#pragma once

#include "internal.h"

/* Adaptive average pooling: dx = ADAPTIVE_AVG_POOL_BWD(g), the shape of x. */
void ferry_bw_adaptive_avg_pool(ferry_ctx_t *ctx, struct ferry_tensor *node, struct ferry_tensor *g,
                                struct ferry_tensor **gr);
