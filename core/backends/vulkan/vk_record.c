/* Vulkan backend: graphs. Each node is planned into dispatches, bound to its tensors and recorded
 * once into a command buffer, with barriers only where accesses conflict; a step replays it. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- graphs ------------------------------------------------------------------------------------ */

struct access {
    VkBuffer buf;
    VkDeviceSize lo, hi;
    bool write;
};

struct hazards {
    struct access *a;
    int n, cap;
};

static bool overlaps(const struct access *x, const struct access *y)
{
    return x->buf == y->buf && x->lo < y->hi && y->lo < x->hi && (x->write || y->write);
}

static ferry_status hz_add(struct hazards *h, struct access a)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        struct access *na = realloc(h->a, (size_t)cap * sizeof *na);
        if (!na) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        h->a = na;
        h->cap = cap;
    }
    h->a[h->n++] = a;
    return FERRY_OK;
}

static size_t tensor_bytes(const struct ferry_tensor *t) { return (size_t)t->numel * 4; }

static ferry_status plan_node(struct vk *v, const struct ferry_tensor *t, struct ferry_vk_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    ferry_vk_plan_fn f = ferry_vk_plans[t->op];
    if (!f || !ferry_vk_supports(t->op)) return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: no kernel for op %s", ferry_op_name(t->op));
    ferry_status s = f(t, &v->caps, plan);
    if (s) return s;
    if (plan->n < 1 || plan->n > FERRY_VK_MAX_DISPATCH)
        return ferry_error(FERRY_ERR_INVALID, "vulkan: op %s planned %d dispatches", ferry_op_name(t->op),
                           plan->n);
    for (int k = 0; k < plan->n; k++) {
        const struct ferry_vk_dispatch *d = &plan->d[k];
        for (int j = 0; j < 3; j++)
            if (d->spec[j] < 1 || d->groups[j] < 1 || d->groups[j] > v->caps.max_group_count[j])
                return ferry_error(FERRY_ERR_INVALID,
                                   "vulkan: op %s dispatch %d has local size or group count 0 or "
                                   "past the device limit", ferry_op_name(t->op), k);
    }
    return FERRY_OK;
}

size_t ferry_vk_scratch_bytes(ferry_backend_t *be, const struct ferry_tensor *node)
{
    struct vk *v = be->impl;
    ferry_vk_scratch_fn f = ferry_vk_scratch[node->op];
    return f ? f(node, &v->caps) : 0;
}

/* Where binding b of node t points: buffer, tensor byte range, or nothing. */
struct binding {
    VkBuffer buf;
    VkDeviceSize lo, hi; /* the tensor's bytes */
};

static void node_bindings(const ferry_graph_t *g, const struct ferry_tensor *t, struct binding *bd)
{
    memset(bd, 0, FERRY_VK_BINDINGS * sizeof *bd);
    const struct ferry_tensor *ts[FERRY_VK_BINDINGS - 1] = {t};
    for (int j = 0; j < FERRY_MAX_SRC; j++) ts[1 + j] = t->src[j];
    for (int b = 0; b < FERRY_VK_BINDINGS - 1; b++) {
        if (!ts[b] || !ts[b]->buf) continue;
        bd[b].buf = ferry_vk_buf_of(ts[b]->buf);
        bd[b].lo = ferry_vk_off_of(ts[b]->buf) + ts[b]->offset;
        bd[b].hi = bd[b].lo + tensor_bytes(ts[b]);
    }
    if (g->scratch) {
        bd[FERRY_VK_B_SCRATCH].buf = ferry_vk_buf_of(g->scratch);
        bd[FERRY_VK_B_SCRATCH].lo = ferry_vk_off_of(g->scratch);
        bd[FERRY_VK_B_SCRATCH].hi = bd[FERRY_VK_B_SCRATCH].lo + g->scratch_size;
    }
}

void ferry_vk_graph_destroy(struct vk *v, struct vk_graph *vg)
{
    if (!vg) return;
    if (vg->cmd) vkFreeCommandBuffers(v->dev, v->pool, 1, &vg->cmd);
    if (vg->dpool) vkDestroyDescriptorPool(v->dev, vg->dpool, NULL);
    ferry_vk_host_area_free(v, &vg->out);
    free(vg->mirrors);
    free(vg);
}

/* Output roots of g (tensors the host may read after a step) that live in the graph's memory. */
static ferry_status collect_mirrors(struct vk *v, ferry_graph_t *g, struct vk_graph *vg,
                                    VkDeviceSize *total)
{
    (void)v;
    ferry_ctx_t *ctx = g->ctx;
    vg->mirrors = calloc((size_t)g->n_nodes + 1, sizeof *vg->mirrors);
    if (!vg->mirrors) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    *total = 0;
    for (int i = 0; i < ctx->n; i++) {
        struct ferry_tensor *t = ctx->tensors[i];
        if (!(t->flags & FERRY_FLAG_OUTPUT) || !t->buf || t->op == FERRY_OP_LEAF) continue;
        struct ferry_tensor *r = ferry_root(t);
        if (r->op == FERRY_OP_LEAF || r->buf != g->transient) continue; /* parameters: on demand */
        VkDeviceSize lo = ferry_vk_off_of(r->buf) + r->offset, size = ferry_vk_round_up(tensor_bytes(r), 4);
        bool dup = false;
        for (int k = 0; k < vg->n_mirrors && !dup; k++) dup = vg->mirrors[k].off == lo;
        if (dup || vg->n_mirrors > g->n_nodes) continue;
        vg->mirrors[vg->n_mirrors++] = (struct mirror){ferry_vk_buf_of(r->buf), lo, size, *total};
        *total = ferry_vk_round_up(*total + size, 16);
    }
    return FERRY_OK;
}

/* The descriptor of binding b for dispatch d: the whole tensor, or the dispatch's view of it. off gets
 * the element offset the shader adds to its indices, acc the bytes the dispatch may touch. */
static ferry_status bind_one(struct vk *v, const struct ferry_tensor *t, const struct binding *bd,
                             const struct ferry_vk_dispatch *d, int b, VkDescriptorBufferInfo *info,
                             uint32_t *off, struct access *acc)
{
    *acc = (struct access){0};
    if (!bd->buf) {
        *info = (VkDescriptorBufferInfo){ferry_vk_buf_of(v->dummy), ferry_vk_off_of(v->dummy), VK_ALIGN};
        *off = 0;
        return FERRY_OK;
    }
    VkDeviceSize align = v->props.p.limits.minStorageBufferOffsetAlignment;
    if (align < 4) align = 4;
    VkDeviceSize lo = bd->lo, hi = bd->hi;
    const struct ferry_vk_view *w = &d->view[b];
    if (w->count) {
        if ((VkDeviceSize)w->first + w->count > (hi - lo) / 4)
            return ferry_error(FERRY_ERR_INVALID, "vulkan: op %s views elements past its binding %d",
                               ferry_op_name(t->op), b);
        lo += 4 * (VkDeviceSize)w->first;
        hi = lo + 4 * (VkDeviceSize)w->count;
    }
    VkDeviceSize base = lo / align * align;
    *off = (uint32_t)((lo - base) / 4);
    *info = (VkDescriptorBufferInfo){bd->buf, base, ferry_vk_round_up(hi, 4) - base};
    *acc = (struct access){bd->buf, lo, hi, (d->writes & FERRY_VK_BIT(b)) != 0};
    if (info->range > v->max_range)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vulkan: op %s binds %llu bytes, past the storage-buffer range of %llu "
                           "(an operand it cannot split)", ferry_op_name(t->op),
                           (unsigned long long)info->range, (unsigned long long)v->max_range);
    return FERRY_OK;
}

/* Whether dispatch q of plan needs a descriptor set other than dispatch q - 1's. */
static bool fresh_set(const struct ferry_vk_plan *plan, int q)
{
    return q == 0 || memcmp(plan->d[q].view, plan->d[q - 1].view, sizeof plan->d[q].view) != 0;
}

static ferry_status record_graph(struct vk *v, ferry_graph_t *g, struct vk_graph *vg)
{
    ferry_status s = FERRY_OK;
    struct hazards hz = {0};
    VkDescriptorSet *sets = NULL;
    VkDescriptorSetLayout *layouts = NULL;
    struct ferry_vk_plan *plan = malloc(sizeof *plan);
    if (!plan) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    /* one descriptor set per node, and one more per change of views within a node */
    uint32_t n_sets = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        if ((s = plan_node(v, g->nodes[k], plan))) goto done;
        for (int q = 0; q < plan->n; q++) n_sets += fresh_set(plan, q);
    }
    sets = calloc(n_sets ? n_sets : 1, sizeof *sets);
    layouts = calloc(n_sets ? n_sets : 1, sizeof *layouts);
    if (!sets || !layouts) {
        s = ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        goto done;
    }
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = (n_sets ? n_sets : 1) * FERRY_VK_BINDINGS};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = n_sets ? n_sets : 1, .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
    if ((s = ferry_vk_check(vkCreateDescriptorPool(v->dev, &pi, NULL, &vg->dpool), "creating a descriptor pool")))
        goto done;
    for (uint32_t k = 0; k < n_sets; k++) layouts[k] = v->set_layout;
    if (n_sets) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = vg->dpool,
                                          .descriptorSetCount = n_sets,
                                          .pSetLayouts = layouts};
        if ((s = ferry_vk_check(vkAllocateDescriptorSets(v->dev, &ai, sets), "allocating descriptor sets")))
            goto done;
    }

    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = v->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((s = ferry_vk_check(vkAllocateCommandBuffers(v->dev, &cai, &vg->cmd), "allocating a command buffer")))
        goto done;
    if ((s = ferry_vk_begin(vg->cmd, false))) goto done;
    /* the previous step's writes (parameters, optimizer state) before this step's reads */
    ferry_vk_barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);

    VkPipeline bound = VK_NULL_HANDLE;
    uint32_t next_set = 0;
    for (int k = 0; k < g->n_nodes; k++) {
        const struct ferry_tensor *t = g->nodes[k];
        if ((s = plan_node(v, t, plan))) goto done;
        struct binding bd[FERRY_VK_BINDINGS];
        node_bindings(g, t, bd);
        uint32_t off[FERRY_VK_BINDINGS] = {0};
        struct access acc[FERRY_VK_BINDINGS] = {{0}};
        for (int q = 0; q < plan->n; q++) {
            struct ferry_vk_dispatch *d = &plan->d[q];
            if (fresh_set(plan, q)) {
                VkDescriptorBufferInfo info[FERRY_VK_BINDINGS];
                VkWriteDescriptorSet w[FERRY_VK_BINDINGS];
                if (next_set >= n_sets) {
                    s = ferry_error(FERRY_ERR_INVALID, "vulkan: op %s planned differently twice",
                                    ferry_op_name(t->op));
                    goto done;
                }
                VkDescriptorSet set = sets[next_set++];
                for (int b = 0; b < FERRY_VK_BINDINGS; b++) {
                    if ((s = bind_one(v, t, &bd[b], d, b, &info[b], &off[b], &acc[b]))) goto done;
                    w[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                                  .dstSet = set, .dstBinding = (uint32_t)b,
                                                  .descriptorCount = 1,
                                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                  .pBufferInfo = &info[b]};
                }
                vkUpdateDescriptorSets(v->dev, FERRY_VK_BINDINGS, w, 0, NULL);
                vkCmdBindDescriptorSets(vg->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, v->layout, 0, 1, &set, 0,
                                        NULL);
            }
            VkPipeline p = VK_NULL_HANDLE;
            if ((s = ferry_vk_get_pipeline(v, d, &p))) goto done;
            /* this dispatch's accesses; a barrier if any conflicts with one since the last */
            struct access mine[FERRY_VK_BINDINGS];
            int nm = 0;
            for (int b = 0; b < FERRY_VK_BINDINGS; b++)
                if (acc[b].buf) {
                    mine[nm] = acc[b];
                    mine[nm++].write = (d->writes & FERRY_VK_BIT(b)) != 0;
                }
            bool hazard = false;
            for (int i = 0; i < nm && !hazard; i++)
                for (int j = 0; j < hz.n && !hazard; j++) hazard = overlaps(&mine[i], &hz.a[j]);
            if (hazard) {
                ferry_vk_barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
                hz.n = 0;
                g->info.n_barriers++;
            }
            for (int i = 0; i < nm; i++)
                if ((s = hz_add(&hz, mine[i]))) goto done;
            if (p != bound) {
                vkCmdBindPipeline(vg->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p);
                bound = p;
            }
            memcpy(d->pc.off, off, sizeof off);
            vkCmdPushConstants(vg->cmd, v->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof d->pc, &d->pc);
            vkCmdDispatch(vg->cmd, d->groups[0], d->groups[1], d->groups[2]);
            g->info.n_dispatches++;
        }
    }
    /* outputs to the readback mirror */
    if (vg->n_mirrors) {
        ferry_vk_barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
        for (int i = 0; i < vg->n_mirrors; i++) {
            VkBufferCopy c = {.srcOffset = vg->mirrors[i].off, .dstOffset = vg->mirrors[i].at,
                              .size = vg->mirrors[i].size};
            vkCmdCopyBuffer(vg->cmd, vg->mirrors[i].buf, vg->out.buf, 1, &c);
        }
        ferry_vk_barrier(vg->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    }
    s = ferry_vk_check(vkEndCommandBuffer(vg->cmd), "recording the graph");
done:
    free(hz.a);
    free(sets);
    free(layouts);
    free(plan);
    return s;
}

ferry_status ferry_vk_graph_prepare(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = calloc(1, sizeof *vg);
    if (!vg) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    VkDeviceSize out_bytes = 0;
    ferry_status s = collect_mirrors(v, g, vg, &out_bytes);
    if (!s && out_bytes) s = ferry_vk_host_area_init(v, &vg->out, out_bytes, true);
    if (!s) s = record_graph(v, g, vg);
    if (s) {
        ferry_vk_graph_destroy(v, vg);
        return s;
    }
    vg->next = v->graphs;
    v->graphs = vg;
    g->backend_data = vg;
    return FERRY_OK;
}

void ferry_vk_graph_release(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = g->backend_data;
    for (struct vk_graph **p = &v->graphs; *p; p = &(*p)->next)
        if (*p == vg) {
            *p = vg->next;
            break;
        }
    ferry_vk_graph_destroy(v, vg);
    g->backend_data = NULL;
}

ferry_status ferry_vk_graph_compute(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = g->backend_data;
    VkCommandBuffer cbs[2];
    uint32_t n = 0;
    ferry_status s;
    if (v->n_pending) { /* this step's batch and scalars */
        vkResetCommandBuffer(v->xfer, 0);
        if ((s = ferry_vk_begin(v->xfer, true))) return s;
        ferry_vk_record_pending(v, v->xfer);
        if ((s = ferry_vk_check(vkEndCommandBuffer(v->xfer), "recording uploads"))) return s;
        cbs[n++] = v->xfer;
    }
    cbs[n++] = vg->cmd;
    vg->computed = false;
    if ((s = ferry_vk_submit_wait(v, cbs, n))) return s;
    vg->computed = true;
    return FERRY_OK;
}
