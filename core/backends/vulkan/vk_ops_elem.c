/* Vulkan kernels of the element-wise, row, loss, normalisation, pooling, reduction and optimizer
 * ops: how each node maps onto the shaders of shaders/elementwise/. */
#include "vk_ops.h"

#define LOCAL 256

static ferry_status plan_add(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                             struct ferry_vk_plan *p)
{
    struct ferry_vk_dispatch *d = &p->d[p->n++];
    d->shader = "add";
    ferry_vk_grid1(d, caps, t->numel, LOCAL);
    d->pc.i[0] = (int32_t)t->numel;
    d->pc.f[0] = t->fp[0];
    d->pc.f[1] = t->fp[1];
    d->writes = FERRY_VK_BIT(FERRY_VK_B_DST);
    return FERRY_OK;
}

const ferry_vk_plan_fn ferry_vk_plans_elem[FERRY_OP_COUNT] = {
    [FERRY_OP_ADD] = plan_add,
};

const ferry_vk_scratch_fn ferry_vk_scratch_elem[FERRY_OP_COUNT] = {0};
