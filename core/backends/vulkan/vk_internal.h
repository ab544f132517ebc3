/* Internals shared by the files of the Vulkan backend: the loader's function pointers, the
 * backend's structs, and the functions one file offers the others. */
#ifndef FERRY_VK_INTERNAL_H
#define FERRY_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "vk_ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VK_ALIGN 256                              /* >= every device's storage-buffer alignment */

/* ---- the loader ------------------------------------------------------------------------------- */

#define VK_GLOBAL_FNS(X)                                                                           \
    X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties) X(vkEnumerateInstanceVersion)
#define VK_INSTANCE_FNS(X)                                                                         \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)           \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceMemoryProperties)                       \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkCreateDevice)
#define VK_DEBUG_FNS(X) X(vkCreateDebugUtilsMessengerEXT) X(vkDestroyDebugUtilsMessengerEXT)
#define VK_DEVICE_FNS(X)                                                                           \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkAllocateMemory) X(vkFreeMemory) X(vkMapMemory)     \
    X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkBindBufferMemory)    \
    X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreatePipelineCache)                      \
    X(vkDestroyPipelineCache) X(vkGetPipelineCacheData) X(vkCreateComputePipelines)                \
    X(vkDestroyPipeline) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)                      \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreateDescriptorPool)       \
    X(vkDestroyDescriptorPool) X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets)              \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)                     \
    X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)                          \
    X(vkResetCommandBuffer) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets)                        \
    X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer)              \
    X(vkCmdFillBuffer) X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) X(vkWaitForFences)      \
    X(vkQueueSubmit) X(vkDeviceWaitIdle) X(vkInvalidateMappedMemoryRanges)                         \
    X(vkFlushMappedMemoryRanges)

/* Defined in vk_instance.c, loaded when the instance is opened. Hidden: not part of libferry's
 * symbols, and never bound to the loader's own functions of the same names. */
#define DECLARE_FN(name) extern __attribute__((visibility("hidden"))) PFN_##name name;
VK_GLOBAL_FNS(DECLARE_FN)
VK_INSTANCE_FNS(DECLARE_FN)
VK_DEBUG_FNS(DECLARE_FN)
VK_DEVICE_FNS(DECLARE_FN)
#undef DECLARE_FN

struct dev_props {
    VkPhysicalDeviceProperties p;
    VkPhysicalDeviceSubgroupProperties sub;
    VkPhysicalDeviceDriverProperties drv; /* Vulkan 1.2 / VK_KHR_driver_properties */
    bool has_drv;
};

/* ---- the backend ------------------------------------------------------------------------------ */

struct range {
    VkDeviceSize off, size;
};

struct vk_block {
    VkDeviceMemory mem;
    VkBuffer buf;
    VkDeviceSize size;
    struct range *free; /* sorted by offset, coalesced */
    int n_free, cap_free;
    struct vk_block *next;
};

struct vk_alloc {          /* ferry_buffer.impl */
    struct vk_block *blk;
    VkDeviceSize off;
};

struct host_area {         /* host-visible buffer, persistently mapped */
    VkDeviceMemory mem;
    VkBuffer buf;
    VkDeviceSize size;
    void *map;
    bool coherent;
};

enum pending_kind { PENDING_COPY, PENDING_FILL };
struct pending {
    enum pending_kind kind;
    VkBuffer dst;
    VkDeviceSize dst_off, src_off, size;
};

struct pipeline {
    const char *shader;
    uint32_t spec[FERRY_VK_MAX_SPEC];
    VkPipeline pipe;
};

struct mirror {            /* an output copied to the readback area after every step */
    VkBuffer buf;
    VkDeviceSize off, size, at;
};

struct vk_graph;

struct vk {
    char spec[32];                 /* "vulkan:N" */
    int index;
    VkPhysicalDevice pd;
    struct dev_props props;
    VkPhysicalDeviceMemoryProperties mem_props;
    struct ferry_vk_caps caps;
    VkDeviceSize max_range;        /* storage-buffer range a binding may span (FERRY_VK_MAX_BINDING) */
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool pool;
    VkCommandBuffer xfer;          /* uploads and one-off copies */
    VkFence fence;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    char cache_path[1024];
    struct pipeline *pipes;
    int n_pipes, cap_pipes;
    VkShaderModule *modules;       /* per registry entry, created on first use */

    uint32_t mt_device, mt_upload, mt_readback;
    struct vk_block *blocks;
    ferry_buffer *dummy;

    struct host_area staging;      /* uploads waiting for the next submission */
    VkDeviceSize staging_used;
    struct host_area readback;     /* one-off downloads */
    struct pending *pending;
    int n_pending, cap_pending;

    struct vk_graph *graphs;       /* prepared graphs (for their output mirrors) */
    ferry_backend_t *be;
};

struct vk_graph {
    VkDescriptorPool dpool;
    VkCommandBuffer cmd;
    struct host_area out;          /* output mirrors */
    struct mirror *mirrors;
    int n_mirrors;
    bool computed;
    struct vk_graph *next;
};

/* vk_instance.c */
bool ferry_vk_env_flag(const char *name);
ferry_status ferry_vk_fail(VkResult r, const char *what);
ferry_status ferry_vk_physical_devices(VkPhysicalDevice **out, uint32_t *n);
const char *ferry_vk_vendor_name(uint32_t id);
void ferry_vk_get_props(VkPhysicalDevice pd, struct dev_props *d);
void ferry_vk_version_str(uint32_t v, char *buf, size_t n);
int ferry_vk_pick_default(VkPhysicalDevice *pds, uint32_t n);
uint64_t ferry_vk_validation_messages(void);
ferry_status ferry_vk_list_devices(void *file);

/* vk_memory.c */
ferry_status ferry_vk_check(VkResult r, const char *what);
ferry_status ferry_vk_host_area_init(struct vk *v, struct host_area *h, VkDeviceSize size, bool readback);
void ferry_vk_host_area_free(struct vk *v, struct host_area *h);
void ferry_vk_barrier(VkCommandBuffer cb, VkPipelineStageFlags src, VkAccessFlags src_access,
                      VkPipelineStageFlags dst, VkAccessFlags dst_access);
void ferry_vk_record_pending(struct vk *v, VkCommandBuffer cb);
ferry_status ferry_vk_begin(VkCommandBuffer cb, bool once);
ferry_status ferry_vk_submit_wait(struct vk *v, const VkCommandBuffer *cbs, uint32_t n);
VkDeviceSize ferry_vk_round_up(VkDeviceSize n, VkDeviceSize a);
ferry_status ferry_vk_block_give(struct vk_block *b, VkDeviceSize off, VkDeviceSize size);
ferry_status ferry_vk_buffer_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out);
void ferry_vk_buffer_free(ferry_backend_t *be, ferry_buffer *fb);
VkBuffer ferry_vk_buf_of(const ferry_buffer *fb);
VkDeviceSize ferry_vk_off_of(const ferry_buffer *fb);
ferry_status ferry_vk_upload(ferry_backend_t *be, ferry_buffer *fb, size_t off, const void *src, size_t n);
ferry_status ferry_vk_download(ferry_backend_t *be, ferry_buffer *fb, size_t off, void *dst, size_t n);

/* vk_pipeline.c */
ferry_status ferry_vk_get_pipeline(struct vk *v, const struct ferry_vk_dispatch *d, VkPipeline *out);
ferry_status ferry_vk_cache_open(struct vk *v);
void ferry_vk_cache_save(struct vk *v);

/* vk_record.c */
size_t ferry_vk_scratch_bytes(ferry_backend_t *be, const struct ferry_tensor *node);
void ferry_vk_graph_destroy(struct vk *v, struct vk_graph *vg);
ferry_status ferry_vk_graph_prepare(ferry_backend_t *be, ferry_graph_t *g);
void ferry_vk_graph_release(ferry_backend_t *be, ferry_graph_t *g);
ferry_status ferry_vk_graph_compute(ferry_backend_t *be, ferry_graph_t *g);

#endif
