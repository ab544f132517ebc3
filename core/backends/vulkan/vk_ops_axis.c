/* Vulkan plans of the axis family: how each node maps onto shaders/axis/axis.comp (push constants
 * documented at the top of the shader). */
#include "vk_ops.h"
#include "ops_axis.h"

#include <stdint.h>

#define LOCAL 256

FERRY_VK_PLAN_FN(plan_axis)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s != FERRY_OK) return s;
    const int axis = t->ip[0];
    /* the node's shape around the axis; reductions are planned over their input's */
    const struct ferry_tensor *v = t->op == FERRY_OP_REDUCE_AXIS || t->op == FERRY_OP_ARGMAX_AXIS ? t->src[0] : t;
    int64_t outer, len, inner;
    ferry_axis_view(v, axis, &outer, &len, &inner);
    struct ferry_vk_dispatch *d;
    switch (t->op) {
    case FERRY_OP_AXIS_CONCAT:
        d = ferry_vk_add_grid(p, caps, "concat_axis", t->numel, LOCAL);
        for (int k = 0; k < FERRY_MAX_SRC; k++) d->pc.i[3 + k] = t->src[k] ? (int32_t)t->src[k]->ne[axis] : 0;
        break;
    case FERRY_OP_AXIS_SLICE:
    case FERRY_OP_AXIS_PAD:
        d = ferry_vk_add_grid(p, caps, t->op == FERRY_OP_AXIS_SLICE ? "slice_axis" : "pad_axis", t->numel, LOCAL);
        d->pc.i[3] = (int32_t)t->src[0]->ne[axis];
        d->pc.i[4] = t->ip[1];
        break;
    case FERRY_OP_REDUCE_AXIS:
        d = ferry_vk_add_grid(p, caps, "reduce_axis", outer * inner, LOCAL);
        break;
    case FERRY_OP_ARGMAX_AXIS:
        d = ferry_vk_add_grid(p, caps, "argmax_axis", outer * inner, LOCAL);
        break;
    case FERRY_OP_EXPAND_AXIS:
        d = ferry_vk_add_grid(p, caps, "expand_axis", t->numel, LOCAL);
        break;
    case FERRY_OP_REDUCE_AXIS_BWD:
        d = ferry_vk_add_grid(p, caps, "reduce_axis_arg_bwd", outer * inner, LOCAL);
        break;
    default:
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: op %s is not an axis op", ferry_op_name(t->op));
    }
    d->pc.i[1] = (int32_t)inner;
    d->pc.i[2] = (int32_t)len;
    if (t->op == FERRY_OP_REDUCE_AXIS || t->op == FERRY_OP_ARGMAX_AXIS || t->op == FERRY_OP_REDUCE_AXIS_BWD)
        d->pc.i[3] = t->op == FERRY_OP_ARGMAX_AXIS ? 1 : t->ip[1];
    d->pc.f[0] = t->fp[0];
    return FERRY_OK;
}

FERRY_VK_PLAN_FN(plan_transpose)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s != FERRY_OK) return s;
    const struct ferry_tensor *x = t->src[0];
    int64_t xs[4] = {0, 0, 0, 0}, acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        xs[d] = acc;
        acc *= x->ne[d];
    }
    int64_t st[4] = {xs[0], xs[1], xs[2], xs[3]};
    st[t->ip[0]] = xs[t->ip[1]];
    st[t->ip[1]] = xs[t->ip[0]];
    struct ferry_vk_dispatch *d = ferry_vk_add_grid(p, caps, "transpose", t->numel, LOCAL);
    for (int k = 0; k < 4; k++) {
        d->pc.i[1 + k] = k < t->ndim ? (int32_t)t->ne[k] : 1;
        d->pc.i[5 + k] = (int32_t)st[k];
    }
    return FERRY_OK;
}

FERRY_VK_PLAN_FN(plan_one_hot)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s != FERRY_OK) return s;
    ferry_vk_add_grid(p, caps, "one_hot", t->numel, LOCAL)->pc.i[1] = (int32_t)t->ne[1];
    return FERRY_OK;
}

FERRY_VK_PLAN_FN(plan_gather)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s != FERRY_OK) return s;
    const bool bwd = t->op == FERRY_OP_GATHER_ROWS_BWD;
    struct ferry_vk_dispatch *d = ferry_vk_add_grid(p, caps, bwd ? "gather_rows_bwd" : "gather_rows", t->numel, LOCAL);
    d->pc.i[1] = (int32_t)t->ne[1];
    d->pc.i[2] = (int32_t)(bwd ? t->src[1]->ne[0] : t->src[0]->ne[0]);
    return FERRY_OK;
}

FERRY_VK_PLAN_FN(plan_bmm)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s != FERRY_OK) return s;
    const struct ferry_tensor *a = t->src[0];
    struct ferry_vk_dispatch *d = ferry_vk_add_grid(p, caps, "batched_matmul", t->numel, LOCAL);
    d->pc.i[1] = (int32_t)t->ne[1];
    d->pc.i[2] = (int32_t)t->ne[2];
    d->pc.i[3] = (int32_t)(t->ip[0] ? a->ne[1] : a->ne[2]);
    d->pc.i[4] = t->ip[0];
    d->pc.i[5] = t->ip[1];
    return FERRY_OK;
}
