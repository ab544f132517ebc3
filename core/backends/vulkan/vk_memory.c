/* Vulkan backend: buffers and host areas, the submission helpers, and device memory (a few large
 * blocks sub-allocated first-fit) behind buffer alloc/free/upload/download. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_BLOCK_SIZE ((VkDeviceSize)64 << 20)    /* device-memory block */
#define VK_FENCE_TIMEOUT_NS (600ull * 1000000000ull)

/* ---- buffers and host areas ------------------------------------------------------------------ */

ferry_status ferry_vk_check(VkResult r, const char *what) { return r == VK_SUCCESS ? FERRY_OK : ferry_vk_fail(r, what); }

static int find_memory_type(const struct vk *v, uint32_t bits, VkMemoryPropertyFlags want,
                            VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < v->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = v->mem_props.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) return (int)i;
    }
    return -1;
}

/* A VkBuffer with its own memory. For host areas, `host` selects a mappable type. */
static ferry_status make_buffer(struct vk *v, VkDeviceSize size, bool host, bool readback,
                                VkBuffer *buf, VkDeviceMemory *mem, void **map, bool *coherent)
{
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    char what[96];
    snprintf(what, sizeof what, "allocating a %.1f MiB %s buffer", (double)size / (1 << 20),
             host ? "host-visible" : "device");
    ferry_status s = ferry_vk_check(vkCreateBuffer(v->dev, &bi, NULL, buf), what);
    if (s) return s;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(v->dev, *buf, &req);
    int mt = -1;
    if (!host) {
        mt = find_memory_type(v, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    } else if (readback) {
        mt = find_memory_type(v, req.memoryTypeBits,
                              VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    } else {
        mt = find_memory_type(v, req.memoryTypeBits,
                              VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                              VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    }
    if (mt < 0)
        mt = find_memory_type(v, req.memoryTypeBits, host ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT : 0, 0);
    if (mt < 0) {
        vkDestroyBuffer(v->dev, *buf, NULL);
        return ferry_error(FERRY_ERR_DEVICE, "vulkan: no suitable memory type for a %s buffer",
                           host ? "host-visible" : "device");
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)mt};
    VkResult r = vkAllocateMemory(v->dev, &ai, NULL, mem);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(v->dev, *buf, NULL);
        return ferry_vk_fail(r, what);
    }
    v->be->stats.device_allocs++;
    if ((s = ferry_vk_check(vkBindBufferMemory(v->dev, *buf, *mem, 0), "binding buffer memory"))) goto fail;
    if (host) {
        if ((s = ferry_vk_check(vkMapMemory(v->dev, *mem, 0, VK_WHOLE_SIZE, 0, map), "mapping memory")))
            goto fail;
        *coherent = v->mem_props.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    }
    return FERRY_OK;
fail:
    vkDestroyBuffer(v->dev, *buf, NULL);
    vkFreeMemory(v->dev, *mem, NULL);
    return s;
}

ferry_status ferry_vk_host_area_init(struct vk *v, struct host_area *h, VkDeviceSize size, bool readback)
{
    memset(h, 0, sizeof *h);
    h->size = size;
    return make_buffer(v, size, true, readback, &h->buf, &h->mem, &h->map, &h->coherent);
}

void ferry_vk_host_area_free(struct vk *v, struct host_area *h)
{
    if (h->buf) vkDestroyBuffer(v->dev, h->buf, NULL);
    if (h->mem) vkFreeMemory(v->dev, h->mem, NULL); /* unmaps */
    memset(h, 0, sizeof *h);
}

static void host_area_invalidate(struct vk *v, struct host_area *h)
{
    if (h->coherent || !h->mem) return;
    VkMappedMemoryRange r = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = h->mem,
                             .size = VK_WHOLE_SIZE};
    vkInvalidateMappedMemoryRanges(v->dev, 1, &r);
}

static void host_area_flush(struct vk *v, struct host_area *h)
{
    if (h->coherent || !h->mem) return;
    VkMappedMemoryRange r = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = h->mem,
                             .size = VK_WHOLE_SIZE};
    vkFlushMappedMemoryRanges(v->dev, 1, &r);
}

/* ---- submissions ------------------------------------------------------------------------------- */

void ferry_vk_barrier(VkCommandBuffer cb, VkPipelineStageFlags src, VkAccessFlags src_access,
                    VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(cb, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Records the pending fills and copies into cb, followed by a barrier before compute. */
void ferry_vk_record_pending(struct vk *v, VkCommandBuffer cb)
{
    bool any_fill = false;
    for (int i = 0; i < v->n_pending; i++)
        if (v->pending[i].kind == PENDING_FILL) {
            vkCmdFillBuffer(cb, v->pending[i].dst, v->pending[i].dst_off, v->pending[i].size, 0);
            any_fill = true;
        }
    if (any_fill)
        ferry_vk_barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
    for (int i = 0; i < v->n_pending; i++) {
        const struct pending *p = &v->pending[i];
        if (p->kind != PENDING_COPY) continue;
        VkBufferCopy c = {.srcOffset = p->src_off, .dstOffset = p->dst_off, .size = p->size};
        vkCmdCopyBuffer(cb, v->staging.buf, p->dst, 1, &c);
    }
    ferry_vk_barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);
}

ferry_status ferry_vk_begin(VkCommandBuffer cb, bool once)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = once ? VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT : 0};
    return ferry_vk_check(vkBeginCommandBuffer(cb, &bi), "recording commands");
}

/* One vkQueueSubmit of n command buffers and one fence wait. */
ferry_status ferry_vk_submit_wait(struct vk *v, const VkCommandBuffer *cbs, uint32_t n)
{
    host_area_flush(v, &v->staging);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = n,
                       .pCommandBuffers = cbs};
    VkResult r = vkQueueSubmit(v->queue, 1, &si, v->fence);
    v->be->stats.queue_submits++;
    if (r != VK_SUCCESS) return ferry_vk_fail(r, "submitting work");
    r = vkWaitForFences(v->dev, 1, &v->fence, VK_TRUE, VK_FENCE_TIMEOUT_NS);
    if (r == VK_TIMEOUT)
        return ferry_error(FERRY_ERR_DEVICE, "vulkan: the device did not finish within %llu s",
                           (unsigned long long)(VK_FENCE_TIMEOUT_NS / 1000000000ull));
    if (r != VK_SUCCESS) return ferry_vk_fail(r, "waiting for the device");
    vkResetFences(v->dev, 1, &v->fence);
    v->n_pending = 0;
    v->staging_used = 0;
    return FERRY_OK;
}

/* Runs the pending uploads now (outside a step), optionally followed by one copy to readback. */
static ferry_status flush_with(struct vk *v, const VkBufferCopy *read, VkBuffer read_src)
{
    if (v->n_pending == 0 && !read) return FERRY_OK;
    ferry_status s;
    vkResetCommandBuffer(v->xfer, 0);
    if ((s = ferry_vk_begin(v->xfer, true))) return s;
    if (v->n_pending) ferry_vk_record_pending(v, v->xfer);
    if (read) {
        ferry_vk_barrier(v->xfer, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
        vkCmdCopyBuffer(v->xfer, read_src, v->readback.buf, 1, read);
        ferry_vk_barrier(v->xfer, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    }
    if ((s = ferry_vk_check(vkEndCommandBuffer(v->xfer), "recording commands"))) return s;
    return ferry_vk_submit_wait(v, &v->xfer, 1);
}

static ferry_status push_pending(struct vk *v, struct pending p)
{
    if (v->n_pending == v->cap_pending) {
        int cap = v->cap_pending ? 2 * v->cap_pending : 64;
        struct pending *np = realloc(v->pending, (size_t)cap * sizeof *np);
        if (!np) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        v->pending = np;
        v->cap_pending = cap;
    }
    v->pending[v->n_pending++] = p;
    return FERRY_OK;
}

/* ---- memory ------------------------------------------------------------------------------------ */

VkDeviceSize ferry_vk_round_up(VkDeviceSize n, VkDeviceSize a) { return (n + a - 1) / a * a; }

static bool block_take(struct vk_block *b, VkDeviceSize size, VkDeviceSize *off)
{
    for (int i = 0; i < b->n_free; i++) {
        if (b->free[i].size < size) continue;
        *off = b->free[i].off;
        b->free[i].off += size;
        b->free[i].size -= size;
        if (b->free[i].size == 0) {
            memmove(&b->free[i], &b->free[i + 1], (size_t)(b->n_free - i - 1) * sizeof *b->free);
            b->n_free--;
        }
        return true;
    }
    return false;
}

ferry_status ferry_vk_block_give(struct vk_block *b, VkDeviceSize off, VkDeviceSize size)
{
    int i = 0;
    while (i < b->n_free && b->free[i].off < off) i++;
    bool join_prev = i > 0 && b->free[i - 1].off + b->free[i - 1].size == off;
    bool join_next = i < b->n_free && off + size == b->free[i].off;
    if (join_prev && join_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (size_t)(b->n_free - i - 1) * sizeof *b->free);
        b->n_free--;
    } else if (join_prev) {
        b->free[i - 1].size += size;
    } else if (join_next) {
        b->free[i].off = off;
        b->free[i].size += size;
    } else {
        if (b->n_free == b->cap_free) {
            int cap = b->cap_free ? 2 * b->cap_free : 16;
            struct range *nf = realloc(b->free, (size_t)cap * sizeof *nf);
            if (!nf) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
            b->free = nf;
            b->cap_free = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (size_t)(b->n_free - i) * sizeof *b->free);
        b->free[i] = (struct range){off, size};
        b->n_free++;
    }
    return FERRY_OK;
}

ferry_status ferry_vk_buffer_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out)
{
    struct vk *v = be->impl;
    VkDeviceSize need = ferry_vk_round_up(size ? size : 1, VK_ALIGN), off = 0;
    struct vk_block *b = v->blocks;
    for (; b; b = b->next)
        if (block_take(b, need, &off)) break;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        b->size = need > VK_BLOCK_SIZE ? need : VK_BLOCK_SIZE;
        void *map = NULL;
        bool coh = false;
        ferry_status s = make_buffer(v, b->size, false, false, &b->buf, &b->mem, &map, &coh);
        if (!s) s = ferry_vk_block_give(b, 0, b->size);
        if (s) {
            free(b->free);
            free(b);
            return s;
        }
        b->next = v->blocks;
        v->blocks = b;
        block_take(b, need, &off);
    }
    struct vk_alloc *a = calloc(1, sizeof *a);
    ferry_buffer *fb = calloc(1, sizeof *fb);
    if (!a || !fb) {
        free(a);
        free(fb);
        ferry_vk_block_give(b, off, need);
        return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    }
    a->blk = b;
    a->off = off;
    fb->size = size;
    fb->impl = a;
    /* zeroed like the CPU backend's buffers, at the next submission */
    ferry_status s = push_pending(v, (struct pending){PENDING_FILL, b->buf, off, 0, need});
    if (s) {
        ferry_vk_block_give(b, off, need);
        free(a);
        free(fb);
        return s;
    }
    *out = fb;
    return FERRY_OK;
}

void ferry_vk_buffer_free(ferry_backend_t *be, ferry_buffer *fb)
{
    struct vk *v = be->impl;
    struct vk_alloc *a = fb->impl;
    /* queued work may still target this range: run it before the range is reused */
    if (v->n_pending) flush_with(v, NULL, VK_NULL_HANDLE);
    ferry_vk_block_give(a->blk, a->off, ferry_vk_round_up(fb->size ? fb->size : 1, VK_ALIGN));
    free(a);
    free(fb);
}

VkBuffer ferry_vk_buf_of(const ferry_buffer *fb) { return ((struct vk_alloc *)fb->impl)->blk->buf; }
VkDeviceSize ferry_vk_off_of(const ferry_buffer *fb) { return ((struct vk_alloc *)fb->impl)->off; }

ferry_status ferry_vk_upload(ferry_backend_t *be, ferry_buffer *fb, size_t off, const void *src,
                              size_t n)
{
    struct vk *v = be->impl;
    if (off + n > fb->size) return ferry_error(FERRY_ERR_INVALID, "vulkan: upload past the buffer end");
    const char *p = src;
    while (n > 0) {
        VkDeviceSize room = v->staging.size - v->staging_used;
        if (room < 4) {
            ferry_status s = flush_with(v, NULL, VK_NULL_HANDLE);
            if (s) return s;
            continue;
        }
        size_t chunk = n < room ? n : (size_t)(room & ~(VkDeviceSize)3);
        memcpy((char *)v->staging.map + v->staging_used, p, chunk);
        ferry_status s = push_pending(v, (struct pending){PENDING_COPY, ferry_vk_buf_of(fb), ferry_vk_off_of(fb) + off,
                                                          v->staging_used, chunk});
        if (s) return s;
        v->staging_used = ferry_vk_round_up(v->staging_used + chunk, 16);
        if (v->staging_used > v->staging.size) v->staging_used = v->staging.size;
        p += chunk;
        off += chunk;
        n -= chunk;
    }
    return FERRY_OK;
}

ferry_status ferry_vk_download(ferry_backend_t *be, ferry_buffer *fb, size_t off, void *dst, size_t n)
{
    struct vk *v = be->impl;
    if (off + n > fb->size) return ferry_error(FERRY_ERR_INVALID, "vulkan: download past the buffer end");
    VkBuffer b = ferry_vk_buf_of(fb);
    VkDeviceSize at = ferry_vk_off_of(fb) + off;
    /* a graph output: copied to its mirror by the step that computed it */
    if (v->n_pending == 0)
        for (struct vk_graph *vg = v->graphs; vg; vg = vg->next) {
            if (!vg->computed) continue;
            for (int i = 0; i < vg->n_mirrors; i++) {
                const struct mirror *m = &vg->mirrors[i];
                if (m->buf == b && at >= m->off && at + n <= m->off + m->size) {
                    host_area_invalidate(v, &vg->out);
                    memcpy(dst, (char *)vg->out.map + m->at + (at - m->off), n);
                    return FERRY_OK;
                }
            }
        }
    char *d = dst;
    while (n > 0) {
        size_t chunk = n < v->readback.size ? n : (size_t)v->readback.size;
        VkBufferCopy c = {.srcOffset = at, .dstOffset = 0, .size = chunk};
        ferry_status s = flush_with(v, &c, b);
        if (s) return s;
        host_area_invalidate(v, &v->readback);
        memcpy(d, v->readback.map, chunk);
        d += chunk;
        at += chunk;
        n -= chunk;
    }
    return FERRY_OK;
}
