/* Vulkan kernels of the norm family (shaders/unary/ln.comp): layer norm's statistics and data
 * gradient take one invocation per row, its apply one per element, its parameter gradients one per
 * column; each sums in index order, as the CPU kernels do. */
#include "vk_ops.h"

#include <stdint.h>

#define LOCAL 64

ferry_status ferry_vk_plan_layer_norm(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                      struct ferry_vk_plan *p)
{
    const struct ferry_tensor *x = t->op == FERRY_OP_LN_STATS || t->op == FERRY_OP_LAYER_NORM ? t->src[0] : t->src[1];
    const int64_t n = x->ne[0], dim = x->ne[1];
    if (x->numel > INT32_MAX)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s on %lld elements (at most 2^31 - 1)",
                           ferry_op_name(t->op), (long long)x->numel);
    struct ferry_vk_dispatch *d = &p->d[p->n++];
    int64_t items;
    switch (t->op) {
    case FERRY_OP_LN_STATS: d->shader = "ln_stats"; items = n; break;
    case FERRY_OP_LAYER_NORM: d->shader = "layer_norm"; items = n * dim; break;
    case FERRY_OP_LN_BWD_DATA: d->shader = "ln_bwd_data"; items = n; break;
    default: d->shader = "ln_bwd_params"; items = dim; break;
    }
    ferry_vk_grid1(d, caps, items, LOCAL);
    d->pc.i[0] = (int32_t)items;
    d->pc.i[1] = (int32_t)n;
    d->pc.i[2] = (int32_t)dim;
    d->pc.f[0] = t->fp[0];
    d->writes = FERRY_VK_BIT(FERRY_VK_B_DST);
    return FERRY_OK;
}
