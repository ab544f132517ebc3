/* Vulkan backend: every op a compute shader, one queue submission per training step.
 *
 * - The loader (libvulkan.so.1) is opened with dlopen on first use; without it the rest of Ferry
 *   runs on the CPU backend.
 * - Memory: a few large blocks of device memory (one VkBuffer each) sub-allocated first-fit;
 *   host-visible staging for uploads and a host-visible readback area.
 * - Uploads are queued (staging copy + pending copy region) and run at the start of the next
 *   submission; a graph's outputs are copied to a per-graph readback mirror at the end of every
 *   step, so reading the loss costs no extra submission.
 * - A graph is recorded once into a command buffer at prepare time (one descriptor set per node,
 *   one pipeline layout, parameters as push constants, barriers only where a dispatch reads or
 *   writes memory an earlier dispatch wrote, or writes memory an earlier one read) and replayed:
 *   one vkQueueSubmit and one fence wait per step.
 * - Pipelines are compiled through a pipeline cache persisted under $XDG_CACHE_HOME/ferry/vulkan
 *   with a validated header. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_STAGING_SIZE ((VkDeviceSize)16 << 20)  /* upload staging */

/* ---- set-up ------------------------------------------------------------------------------------ */

static void vk_destroy(ferry_backend_t *be)
{
    struct vk *v = be->impl;
    if (v) {
        if (v->dev) {
            vkDeviceWaitIdle(v->dev);
            while (v->graphs) {
                struct vk_graph *vg = v->graphs;
                v->graphs = vg->next;
                ferry_vk_graph_destroy(v, vg);
            }
            if (v->dummy) {
                ferry_vk_block_give(((struct vk_alloc *)v->dummy->impl)->blk, ferry_vk_off_of(v->dummy), VK_ALIGN);
                free(v->dummy->impl);
                free(v->dummy);
            }
            ferry_vk_cache_save(v);
            for (int i = 0; i < v->n_pipes; i++) vkDestroyPipeline(v->dev, v->pipes[i].pipe, NULL);
            for (int i = 0; v->modules && i < ferry_vk_n_shaders; i++)
                if (v->modules[i]) vkDestroyShaderModule(v->dev, v->modules[i], NULL);
            if (v->cache) vkDestroyPipelineCache(v->dev, v->cache, NULL);
            if (v->layout) vkDestroyPipelineLayout(v->dev, v->layout, NULL);
            if (v->set_layout) vkDestroyDescriptorSetLayout(v->dev, v->set_layout, NULL);
            if (v->fence) vkDestroyFence(v->dev, v->fence, NULL);
            if (v->pool) vkDestroyCommandPool(v->dev, v->pool, NULL);
            ferry_vk_host_area_free(v, &v->staging);
            ferry_vk_host_area_free(v, &v->readback);
            while (v->blocks) {
                struct vk_block *b = v->blocks;
                v->blocks = b->next;
                vkDestroyBuffer(v->dev, b->buf, NULL);
                vkFreeMemory(v->dev, b->mem, NULL);
                free(b->free);
                free(b);
            }
            vkDestroyDevice(v->dev, NULL);
        }
        free(v->pipes);
        free(v->modules);
        free(v->pending);
        free(v);
    }
    free(be);
}

static ferry_status vk_describe(const ferry_backend_t *be, ferry_device_desc *d)
{
    const struct vk *v = be->impl;
    memset(d, 0, sizeof *d);
    snprintf(d->backend, sizeof d->backend, "%s", v->spec);
    snprintf(d->vendor, sizeof d->vendor, "%s", ferry_vk_vendor_name(v->props.p.vendorID));
    snprintf(d->name, sizeof d->name, "%s", v->props.p.deviceName);
    if (v->props.has_drv)
        snprintf(d->driver, sizeof d->driver, "%s %s", v->props.drv.driverName, v->props.drv.driverInfo);
    else
        snprintf(d->driver, sizeof d->driver, "driver 0x%08x", v->props.p.driverVersion);
    ferry_vk_version_str(v->props.p.apiVersion, d->api, sizeof d->api);
    return FERRY_OK;
}

static const struct ferry_backend_iface vk_iface = {
    .name = "vulkan",
    .alignment = VK_ALIGN,
    .buffer_alloc = ferry_vk_buffer_alloc,
    .buffer_free = ferry_vk_buffer_free,
    .upload = ferry_vk_upload,
    .download = ferry_vk_download,
    .scratch_bytes = ferry_vk_scratch_bytes,
    .graph_prepare = ferry_vk_graph_prepare,
    .graph_release = ferry_vk_graph_release,
    .graph_compute = ferry_vk_graph_compute,
    .destroy = vk_destroy,
    .describe = vk_describe,
};

static ferry_status device_init(struct vk *v)
{
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(v->pd, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    vkGetPhysicalDeviceQueueFamilyProperties(v->pd, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++) /* a compute-only queue first, else any compute */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            fam = (int)i;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    free(qf);
    if (fam < 0) return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s has no compute queue", v->spec);
    v->queue_family = (uint32_t)fam;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = v->queue_family, .queueCount = 1,
                                  .pQueuePriorities = &prio};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    ferry_status s = ferry_vk_check(vkCreateDevice(v->pd, &di, NULL, &v->dev), "creating the device");
    if (s) return s;
    vkGetDeviceQueue(v->dev, v->queue_family, 0, &v->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = v->queue_family};
    if ((s = ferry_vk_check(vkCreateCommandPool(v->dev, &pci, NULL, &v->pool), "creating a command pool"))) return s;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = v->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((s = ferry_vk_check(vkAllocateCommandBuffers(v->dev, &cai, &v->xfer), "allocating a command buffer")))
        return s;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((s = ferry_vk_check(vkCreateFence(v->dev, &fci, NULL, &v->fence), "creating a fence"))) return s;

    VkDescriptorSetLayoutBinding lb[FERRY_VK_BINDINGS];
    for (uint32_t b = 0; b < FERRY_VK_BINDINGS; b++)
        lb[b] = (VkDescriptorSetLayoutBinding){.binding = b,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = FERRY_VK_BINDINGS, .pBindings = lb};
    if ((s = ferry_vk_check(vkCreateDescriptorSetLayout(v->dev, &lci, NULL, &v->set_layout), "creating a layout")))
        return s;
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                              .size = sizeof(struct ferry_vk_push)};
    VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                       .setLayoutCount = 1, .pSetLayouts = &v->set_layout,
                                       .pushConstantRangeCount = 1, .pPushConstantRanges = &pr};
    if ((s = ferry_vk_check(vkCreatePipelineLayout(v->dev, &plci, NULL, &v->layout), "creating a pipeline layout")))
        return s;
    if ((s = ferry_vk_cache_open(v))) return s;
    v->modules = calloc((size_t)ferry_vk_n_shaders + 1, sizeof *v->modules);
    if (!v->modules) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    if ((s = ferry_vk_host_area_init(v, &v->staging, VK_STAGING_SIZE, false))) return s;
    if ((s = ferry_vk_host_area_init(v, &v->readback, VK_STAGING_SIZE, true))) return s;
    return ferry_vk_buffer_alloc(v->be, VK_ALIGN, &v->dummy);
}

/* The storage-buffer range bindings may span: the device's, or less under FERRY_VK_MAX_BINDING=BYTES
 * (tests of the split of large operands; clamped to [4 alignments, the device's range]). Plans get
 * it less one alignment: a binding starts at its tensor's offset rounded down to the alignment. */
static void storage_range(struct vk *v)
{
    const VkPhysicalDeviceLimits *lim = &v->props.p.limits;
    VkDeviceSize align = lim->minStorageBufferOffsetAlignment < 4 ? 4 : lim->minStorageBufferOffsetAlignment;
    VkDeviceSize range = lim->maxStorageBufferRange;
    const char *e = getenv("FERRY_VK_MAX_BINDING");
    if (e && *e) {
        char *end = NULL;
        unsigned long long want = strtoull(e, &end, 10);
        if (end && *end == '\0' && want > 0) {
            if (want < 4 * align) want = 4 * align;
            if (want < range) range = want & ~(VkDeviceSize)3;
        } else {
            fprintf(stderr, "ferry: ignoring FERRY_VK_MAX_BINDING=%s (not a byte count)\n", e);
        }
    }
    v->max_range = range;
    v->caps.max_binding = (range - align + 4) & ~(uint64_t)3;
}

ferry_status ferry_backend_vulkan_init(int index, ferry_backend_t **out)
{
    *out = NULL;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    ferry_status s = ferry_vk_physical_devices(&pds, &n);
    if (s) return s;
    if (n == 0) {
        free(pds);
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: the driver reports no device");
    }
    if (index < 0) {
        index = ferry_vk_pick_default(pds, n);
        if (index < 0) {
            free(pds);
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "vulkan: no GPU found (only a software driver; ask for it with "
                               "--device vulkan:N, see `ferry devices`)");
        }
    } else if ((uint32_t)index >= n) {
        free(pds);
        return ferry_error(FERRY_ERR_NOT_FOUND, "vulkan: no device vulkan:%d (%u device%s; see `ferry devices`)",
                           index, n, n == 1 ? "" : "s");
    }
    ferry_backend_t *be = calloc(1, sizeof *be);
    struct vk *v = calloc(1, sizeof *v);
    if (!be || !v) {
        free(pds);
        free(be);
        free(v);
        return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    }
    be->iface = &vk_iface;
    be->threads = 1;
    be->impl = v;
    v->be = be;
    v->index = index;
    v->pd = pds[index];
    free(pds);
    snprintf(v->spec, sizeof v->spec, "vulkan:%d", index);
    ferry_vk_get_props(v->pd, &v->props);
    vkGetPhysicalDeviceMemoryProperties(v->pd, &v->mem_props);
    const VkPhysicalDeviceLimits *lim = &v->props.p.limits;
    v->caps = (struct ferry_vk_caps){
        .vendor_id = v->props.p.vendorID,
        .subgroup_size = v->props.sub.subgroupSize ? v->props.sub.subgroupSize : 32,
        .max_shared_bytes = lim->maxComputeSharedMemorySize,
        .max_invocations = lim->maxComputeWorkGroupInvocations,
        .max_group_count = {lim->maxComputeWorkGroupCount[0], lim->maxComputeWorkGroupCount[1],
                            lim->maxComputeWorkGroupCount[2]},
        .max_group_size = {lim->maxComputeWorkGroupSize[0], lim->maxComputeWorkGroupSize[1],
                           lim->maxComputeWorkGroupSize[2]},
        .is_cpu = v->props.p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU};
    storage_range(v);
    if ((s = device_init(v))) {
        vk_destroy(be);
        return s;
    }
    *out = be;
    return FERRY_OK;
}

/* ---- registration --------------------------------------------------------------------------------- */

static ferry_status vk_reg_init(const char *arg, int threads, ferry_backend_t **out)
{
    (void)threads;
    if (!arg) return ferry_backend_vulkan_init(-1, out);
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 0 || v > 1000)
        return ferry_error(FERRY_ERR_INVALID, "device: '%s' is not a device index", arg);
    return ferry_backend_vulkan_init((int)v, out);
}

const struct ferry_backend_reg ferry_backend_reg_vulkan = {
    .name = "vulkan",
    .auto_priority = 10, /* a GPU first, when there is one */
    .init = vk_reg_init,
    .list = ferry_vk_list_devices,
    .supports = ferry_vk_supports,
    .validation_messages = ferry_vk_validation_messages,
};
