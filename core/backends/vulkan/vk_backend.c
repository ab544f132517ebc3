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
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "vk_ops.h"

#include "ferry/io.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VK_ALIGN 256                              /* >= every device's storage-buffer alignment */
#define VK_BLOCK_SIZE ((VkDeviceSize)64 << 20)    /* device-memory block */
#define VK_STAGING_SIZE ((VkDeviceSize)16 << 20)  /* upload staging */
#define VK_FENCE_TIMEOUT_NS (600ull * 1000000000ull)

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

#define DECLARE_FN(name) static PFN_##name name;
static PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
VK_GLOBAL_FNS(DECLARE_FN)
VK_INSTANCE_FNS(DECLARE_FN)
VK_DEBUG_FNS(DECLARE_FN)
VK_DEVICE_FNS(DECLARE_FN)

/* One process-wide instance, created on first use. */
static struct {
    pthread_mutex_t lock;
    bool tried;
    ferry_status status;
    char error[512];
    void *lib;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    bool validation;
    uint64_t messages; /* validation messages so far */
} g_vk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)type;
    (void)user;
    __atomic_add_fetch(&g_vk.messages, 1, __ATOMIC_RELAXED);
    fprintf(stderr, "vulkan validation (%s): %s\n",
            severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
            data && data->pMessage ? data->pMessage : "?");
    return VK_FALSE;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static const char *vk_result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
    }
}

/* A failed Vulkan call: device loss and memory exhaustion get their own wording. */
static ferry_status vk_fail(VkResult r, const char *what)
{
    if (r == VK_ERROR_DEVICE_LOST)
        return ferry_error(FERRY_ERR_DEVICE, "vulkan: device lost during %s", what);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of %s memory during %s",
                           r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host", what);
    return ferry_error(FERRY_ERR_DEVICE, "vulkan: %s failed (%s, %d)", what, vk_result_str(r), (int)r);
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static ferry_status instance_open_locked(void)
{
    const char *libname = getenv("FERRY_VULKAN_LOADER");
    if (!libname || !*libname) libname = "libvulkan.so.1";
    g_vk.lib = dlopen(libname, RTLD_NOW | RTLD_LOCAL);
    if (!g_vk.lib) {
        snprintf(g_vk.error, sizeof g_vk.error,
                 "vulkan: no Vulkan loader (%s); install libvulkan1 and a driver "
                 "(mesa-vulkan-drivers for a CPU one) or use --device cpu", dlerror());
        return FERRY_ERR_UNSUPPORTED;
    }
    vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(g_vk.lib, "vkGetInstanceProcAddr");
    if (!vkGetInstanceProcAddr) {
        snprintf(g_vk.error, sizeof g_vk.error, "vulkan: %s has no vkGetInstanceProcAddr", libname);
        return FERRY_ERR_UNSUPPORTED;
    }
#define LOAD_GLOBAL(name) name = (PFN_##name)vkGetInstanceProcAddr(NULL, #name);
    VK_GLOBAL_FNS(LOAD_GLOBAL)
    if (!vkCreateInstance || !vkEnumerateInstanceLayerProperties) {
        snprintf(g_vk.error, sizeof g_vk.error, "vulkan: the loader %s is incomplete", libname);
        return FERRY_ERR_UNSUPPORTED;
    }
    uint32_t api = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&api);
    if (api < VK_API_VERSION_1_1) {
        snprintf(g_vk.error, sizeof g_vk.error, "vulkan: the loader offers Vulkan %u.%u; Ferry needs 1.1",
                 VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
        return FERRY_ERR_UNSUPPORTED;
    }

    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    g_vk.validation = env_flag("FERRY_VK_VALIDATION");
    if (g_vk.validation && !has_layer(layer)) {
        snprintf(g_vk.error, sizeof g_vk.error,
                 "vulkan: FERRY_VK_VALIDATION is set but %s is not installed (vulkan-validationlayers)",
                 layer);
        return FERRY_ERR_UNSUPPORTED;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "ferry",
                             .pEngineName = "ferry",
                             .apiVersion = VK_API_VERSION_1_1};
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation_message};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = g_vk.validation ? &dbg : NULL,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = g_vk.validation ? 1 : 0,
                               .ppEnabledLayerNames = &layer,
                               .enabledExtensionCount = g_vk.validation ? 1 : 0,
                               .ppEnabledExtensionNames = &ext};
    VkResult r = vkCreateInstance(&ci, NULL, &g_vk.instance);
    if (r != VK_SUCCESS) {
        snprintf(g_vk.error, sizeof g_vk.error, "vulkan: cannot create an instance (%s)%s",
                 vk_result_str(r),
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? ": no Vulkan driver is installed" : "");
        return FERRY_ERR_UNSUPPORTED;
    }
#define LOAD_INSTANCE(name) name = (PFN_##name)vkGetInstanceProcAddr(g_vk.instance, #name);
    VK_INSTANCE_FNS(LOAD_INSTANCE)
    VK_DEVICE_FNS(LOAD_INSTANCE)
    if (g_vk.validation) {
        VK_DEBUG_FNS(LOAD_INSTANCE)
        if (vkCreateDebugUtilsMessengerEXT)
            vkCreateDebugUtilsMessengerEXT(g_vk.instance, &dbg, NULL, &g_vk.messenger);
    }
    return FERRY_OK;
}

static void instance_close(void)
{
    if (g_vk.messenger && vkDestroyDebugUtilsMessengerEXT)
        vkDestroyDebugUtilsMessengerEXT(g_vk.instance, g_vk.messenger, NULL);
    if (g_vk.instance) vkDestroyInstance(g_vk.instance, NULL);
    g_vk.instance = VK_NULL_HANDLE;
}

/* The instance, opened once; the instance lives until the process exits. */
static ferry_status instance_get(void)
{
    pthread_mutex_lock(&g_vk.lock);
    if (!g_vk.tried) {
        g_vk.tried = true;
        g_vk.status = instance_open_locked();
        if (g_vk.status == FERRY_OK) atexit(instance_close);
    }
    ferry_status s = g_vk.status;
    pthread_mutex_unlock(&g_vk.lock);
    return s ? ferry_error(s, "%s", g_vk.error) : FERRY_OK;
}

static ferry_status physical_devices(VkPhysicalDevice **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    ferry_status s = instance_get();
    if (s) return s;
    VkResult r = vkEnumeratePhysicalDevices(g_vk.instance, n, NULL);
    if (r != VK_SUCCESS) return vk_fail(r, "listing devices");
    if (*n == 0) return FERRY_OK;
    *out = calloc(*n, sizeof **out);
    if (!*out) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    r = vkEnumeratePhysicalDevices(g_vk.instance, n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return vk_fail(r, "listing devices");
    }
    return FERRY_OK;
}

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x1002: return "AMD";
    case 0x10DE: return "NVIDIA";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1010: return "Imagination";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    case 0x1AE0: return "Google";
    default: return "unknown vendor";
    }
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU (software)";
    default: return "other";
    }
}

struct dev_props {
    VkPhysicalDeviceProperties p;
    VkPhysicalDeviceSubgroupProperties sub;
    VkPhysicalDeviceDriverProperties drv; /* Vulkan 1.2 / VK_KHR_driver_properties */
    bool has_drv;
};

static void get_props(VkPhysicalDevice pd, struct dev_props *d)
{
    memset(d, 0, sizeof *d);
    vkGetPhysicalDeviceProperties(pd, &d->p);
    d->sub.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    d->drv.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    d->has_drv = d->p.apiVersion >= VK_API_VERSION_1_2;
    if (d->has_drv) d->sub.pNext = &d->drv;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &d->sub};
    if (vkGetPhysicalDeviceProperties2) vkGetPhysicalDeviceProperties2(pd, &p2);
}

static void version_str(uint32_t v, char *buf, size_t n)
{
    snprintf(buf, n, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
             VK_API_VERSION_PATCH(v));
}

/* The device a default request picks: the first discrete GPU, else the first integrated GPU (or a
 * virtual one). Software drivers only when named. */
static int pick_default(VkPhysicalDevice *pds, uint32_t n)
{
    static const VkPhysicalDeviceType order[] = {VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            if (p.deviceType == order[k]) return (int)i;
        }
    return -1;
}

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

static ferry_status check(VkResult r, const char *what) { return r == VK_SUCCESS ? FERRY_OK : vk_fail(r, what); }

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
    ferry_status s = check(vkCreateBuffer(v->dev, &bi, NULL, buf), what);
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
        return vk_fail(r, what);
    }
    v->be->stats.device_allocs++;
    if ((s = check(vkBindBufferMemory(v->dev, *buf, *mem, 0), "binding buffer memory"))) goto fail;
    if (host) {
        if ((s = check(vkMapMemory(v->dev, *mem, 0, VK_WHOLE_SIZE, 0, map), "mapping memory")))
            goto fail;
        *coherent = v->mem_props.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    }
    return FERRY_OK;
fail:
    vkDestroyBuffer(v->dev, *buf, NULL);
    vkFreeMemory(v->dev, *mem, NULL);
    return s;
}

static ferry_status host_area_init(struct vk *v, struct host_area *h, VkDeviceSize size, bool readback)
{
    memset(h, 0, sizeof *h);
    h->size = size;
    return make_buffer(v, size, true, readback, &h->buf, &h->mem, &h->map, &h->coherent);
}

static void host_area_free(struct vk *v, struct host_area *h)
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

static void barrier(VkCommandBuffer cb, VkPipelineStageFlags src, VkAccessFlags src_access,
                    VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(cb, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Records the pending fills and copies into cb, followed by a barrier before compute. */
static void record_pending(struct vk *v, VkCommandBuffer cb)
{
    bool any_fill = false;
    for (int i = 0; i < v->n_pending; i++)
        if (v->pending[i].kind == PENDING_FILL) {
            vkCmdFillBuffer(cb, v->pending[i].dst, v->pending[i].dst_off, v->pending[i].size, 0);
            any_fill = true;
        }
    if (any_fill)
        barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
    for (int i = 0; i < v->n_pending; i++) {
        const struct pending *p = &v->pending[i];
        if (p->kind != PENDING_COPY) continue;
        VkBufferCopy c = {.srcOffset = p->src_off, .dstOffset = p->dst_off, .size = p->size};
        vkCmdCopyBuffer(cb, v->staging.buf, p->dst, 1, &c);
    }
    barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);
}

static ferry_status begin(VkCommandBuffer cb, bool once)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = once ? VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT : 0};
    return check(vkBeginCommandBuffer(cb, &bi), "recording commands");
}

/* One vkQueueSubmit of n command buffers and one fence wait. */
static ferry_status submit_wait(struct vk *v, const VkCommandBuffer *cbs, uint32_t n)
{
    host_area_flush(v, &v->staging);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = n,
                       .pCommandBuffers = cbs};
    VkResult r = vkQueueSubmit(v->queue, 1, &si, v->fence);
    v->be->stats.queue_submits++;
    if (r != VK_SUCCESS) return vk_fail(r, "submitting work");
    r = vkWaitForFences(v->dev, 1, &v->fence, VK_TRUE, VK_FENCE_TIMEOUT_NS);
    if (r == VK_TIMEOUT)
        return ferry_error(FERRY_ERR_DEVICE, "vulkan: the device did not finish within %llu s",
                           (unsigned long long)(VK_FENCE_TIMEOUT_NS / 1000000000ull));
    if (r != VK_SUCCESS) return vk_fail(r, "waiting for the device");
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
    if ((s = begin(v->xfer, true))) return s;
    if (v->n_pending) record_pending(v, v->xfer);
    if (read) {
        barrier(v->xfer, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
        vkCmdCopyBuffer(v->xfer, read_src, v->readback.buf, 1, read);
        barrier(v->xfer, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    }
    if ((s = check(vkEndCommandBuffer(v->xfer), "recording commands"))) return s;
    return submit_wait(v, &v->xfer, 1);
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

static VkDeviceSize round_up(VkDeviceSize n, VkDeviceSize a) { return (n + a - 1) / a * a; }

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

static ferry_status block_give(struct vk_block *b, VkDeviceSize off, VkDeviceSize size)
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

static ferry_status vk_buffer_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out)
{
    struct vk *v = be->impl;
    VkDeviceSize need = round_up(size ? size : 1, VK_ALIGN), off = 0;
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
        if (!s) s = block_give(b, 0, b->size);
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
        block_give(b, off, need);
        return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    }
    a->blk = b;
    a->off = off;
    fb->size = size;
    fb->impl = a;
    /* zeroed like the CPU backend's buffers, at the next submission */
    ferry_status s = push_pending(v, (struct pending){PENDING_FILL, b->buf, off, 0, need});
    if (s) {
        block_give(b, off, need);
        free(a);
        free(fb);
        return s;
    }
    *out = fb;
    return FERRY_OK;
}

static void vk_buffer_free(ferry_backend_t *be, ferry_buffer *fb)
{
    struct vk *v = be->impl;
    struct vk_alloc *a = fb->impl;
    /* queued work may still target this range: run it before the range is reused */
    if (v->n_pending) flush_with(v, NULL, VK_NULL_HANDLE);
    block_give(a->blk, a->off, round_up(fb->size ? fb->size : 1, VK_ALIGN));
    free(a);
    free(fb);
}

static VkBuffer buf_of(const ferry_buffer *fb) { return ((struct vk_alloc *)fb->impl)->blk->buf; }
static VkDeviceSize off_of(const ferry_buffer *fb) { return ((struct vk_alloc *)fb->impl)->off; }

static ferry_status vk_upload(ferry_backend_t *be, ferry_buffer *fb, size_t off, const void *src,
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
        ferry_status s = push_pending(v, (struct pending){PENDING_COPY, buf_of(fb), off_of(fb) + off,
                                                          v->staging_used, chunk});
        if (s) return s;
        v->staging_used = round_up(v->staging_used + chunk, 16);
        if (v->staging_used > v->staging.size) v->staging_used = v->staging.size;
        p += chunk;
        off += chunk;
        n -= chunk;
    }
    return FERRY_OK;
}

static ferry_status vk_download(ferry_backend_t *be, ferry_buffer *fb, size_t off, void *dst, size_t n)
{
    struct vk *v = be->impl;
    if (off + n > fb->size) return ferry_error(FERRY_ERR_INVALID, "vulkan: download past the buffer end");
    VkBuffer b = buf_of(fb);
    VkDeviceSize at = off_of(fb) + off;
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

/* ---- pipelines --------------------------------------------------------------------------------- */

static int shader_index(const char *name)
{
    for (int i = 0; i < ferry_vk_n_shaders; i++)
        if (strcmp(ferry_vk_shaders[i].name, name) == 0) return i;
    return -1;
}

static ferry_status get_pipeline(struct vk *v, const struct ferry_vk_dispatch *d, VkPipeline *out)
{
    for (int i = 0; i < v->n_pipes; i++)
        if (strcmp(v->pipes[i].shader, d->shader) == 0 &&
            memcmp(v->pipes[i].spec, d->spec, sizeof d->spec) == 0) {
            *out = v->pipes[i].pipe;
            return FERRY_OK;
        }
    int si = shader_index(d->shader);
    if (si < 0) return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: no shader named '%s'", d->shader);
    if (!v->modules[si]) {
        VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                       .codeSize = ferry_vk_shaders[si].size,
                                       .pCode = ferry_vk_shaders[si].code};
        ferry_status s = check(vkCreateShaderModule(v->dev, &mi, NULL, &v->modules[si]),
                               "creating a shader module");
        if (s) return s;
    }
    VkSpecializationMapEntry me[FERRY_VK_MAX_SPEC];
    for (uint32_t k = 0; k < FERRY_VK_MAX_SPEC; k++)
        me[k] = (VkSpecializationMapEntry){.constantID = k, .offset = 4 * k, .size = 4};
    VkSpecializationInfo spec = {.mapEntryCount = FERRY_VK_MAX_SPEC, .pMapEntries = me,
                                 .dataSize = sizeof d->spec, .pData = d->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = v->modules[si],
                  .pName = "main",
                  .pSpecializationInfo = &spec},
        .layout = v->layout};
    VkPipeline p;
    ferry_status s = check(vkCreateComputePipelines(v->dev, v->cache, 1, &ci, NULL, &p),
                           "creating a compute pipeline");
    if (s) return s;
    if (v->n_pipes == v->cap_pipes) {
        int cap = v->cap_pipes ? 2 * v->cap_pipes : 32;
        struct pipeline *np = realloc(v->pipes, (size_t)cap * sizeof *np);
        if (!np) {
            vkDestroyPipeline(v->dev, p, NULL);
            return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        }
        v->pipes = np;
        v->cap_pipes = cap;
    }
    struct pipeline *e = &v->pipes[v->n_pipes++];
    e->shader = ferry_vk_shaders[si].name;
    memcpy(e->spec, d->spec, sizeof d->spec);
    e->pipe = p;
    *out = p;
    return FERRY_OK;
}

/* Pipeline cache file: "FERRYPC1", payload length (u64), SHA-256 of the payload (hex, 64 bytes),
 * then the payload: Vulkan's own cache data, whose header names vendor, device and cache UUID. */
#define PC_MAGIC "FERRYPC1"
#define PC_HEAD (8 + 8 + 64)

static void cache_path(struct vk *v)
{
    const char *base = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    v->cache_path[0] = '\0';
    if (env_flag("FERRY_VK_NO_PIPELINE_CACHE")) return;
    if (base && *base)
        snprintf(v->cache_path, sizeof v->cache_path, "%s/ferry/vulkan", base);
    else if (home && *home)
        snprintf(v->cache_path, sizeof v->cache_path, "%s/.cache/ferry/vulkan", home);
    else
        return;
    size_t n = strlen(v->cache_path);
    snprintf(v->cache_path + n, sizeof v->cache_path - n, "/pipelines-%04x-%04x-%08x.bin",
             v->props.p.vendorID, v->props.p.deviceID, v->props.p.driverVersion);
}

/* Accepts a cache file only if it is intact and made by this very device and driver. */
static bool cache_valid(const struct vk *v, const unsigned char *d, size_t n, const char **why)
{
    if (n < 8 || memcmp(d, PC_MAGIC, 8) != 0) return *why = "not a Ferry pipeline cache", false;
    if (n < PC_HEAD + 32) return *why = "truncated", false;
    uint64_t len;
    memcpy(&len, d + 8, 8);
    if (len != n - PC_HEAD) return *why = "truncated", false;
    char hex[65];
    ferry_sha256_mem(d + PC_HEAD, (size_t)len, hex);
    if (memcmp(hex, d + 16, 64) != 0) return *why = "checksum mismatch", false;
    const unsigned char *h = d + PC_HEAD;
    uint32_t hsize, hver, vendor, device;
    memcpy(&hsize, h, 4);
    memcpy(&hver, h + 4, 4);
    memcpy(&vendor, h + 8, 4);
    memcpy(&device, h + 12, 4);
    if (hsize < 32 || hver != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || vendor != v->props.p.vendorID ||
        device != v->props.p.deviceID || memcmp(h + 16, v->props.p.pipelineCacheUUID, VK_UUID_SIZE) != 0)
        return *why = "made by another device or driver", false;
    return true;
}

static ferry_status cache_open(struct vk *v)
{
    cache_path(v);
    void *data = NULL;
    size_t n = 0;
    const char *why = NULL;
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (v->cache_path[0] && access(v->cache_path, R_OK) == 0) {
        if (ferry_read_file(v->cache_path, &data, &n) == FERRY_OK) {
            if (cache_valid(v, data, n, &why)) {
                ci.initialDataSize = n - PC_HEAD;
                ci.pInitialData = (char *)data + PC_HEAD;
            } else {
                fprintf(stderr, "ferry: ignoring pipeline cache %s: %s\n", v->cache_path, why);
            }
        }
    }
    ferry_status s = check(vkCreatePipelineCache(v->dev, &ci, NULL, &v->cache), "creating a pipeline cache");
    free(data);
    return s;
}

static void cache_save(struct vk *v)
{
    if (!v->cache || !v->cache_path[0]) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(v->dev, v->cache, &n, NULL) != VK_SUCCESS || n == 0) return;
    unsigned char *d = malloc(PC_HEAD + n);
    if (!d) return;
    if (vkGetPipelineCacheData(v->dev, v->cache, &n, d + PC_HEAD) == VK_SUCCESS) {
        uint64_t len = n;
        memcpy(d, PC_MAGIC, 8);
        memcpy(d + 8, &len, 8);
        char hex[65];
        ferry_sha256_mem(d + PC_HEAD, n, hex);
        memcpy(d + 16, hex, 64);
        ferry_mkdir_parents(v->cache_path);
        ferry_write_file_atomic(v->cache_path, d, PC_HEAD + n); /* best effort: a cache */
    }
    free(d);
}

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

static size_t vk_scratch_bytes(ferry_backend_t *be, const struct ferry_tensor *node)
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
        bd[b].buf = buf_of(ts[b]->buf);
        bd[b].lo = off_of(ts[b]->buf) + ts[b]->offset;
        bd[b].hi = bd[b].lo + tensor_bytes(ts[b]);
    }
    if (g->scratch) {
        bd[FERRY_VK_B_SCRATCH].buf = buf_of(g->scratch);
        bd[FERRY_VK_B_SCRATCH].lo = off_of(g->scratch);
        bd[FERRY_VK_B_SCRATCH].hi = bd[FERRY_VK_B_SCRATCH].lo + g->scratch_size;
    }
}

static void graph_destroy(struct vk *v, struct vk_graph *vg)
{
    if (!vg) return;
    if (vg->cmd) vkFreeCommandBuffers(v->dev, v->pool, 1, &vg->cmd);
    if (vg->dpool) vkDestroyDescriptorPool(v->dev, vg->dpool, NULL);
    host_area_free(v, &vg->out);
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
        VkDeviceSize lo = off_of(r->buf) + r->offset, size = round_up(tensor_bytes(r), 4);
        bool dup = false;
        for (int k = 0; k < vg->n_mirrors && !dup; k++) dup = vg->mirrors[k].off == lo;
        if (dup || vg->n_mirrors > g->n_nodes) continue;
        vg->mirrors[vg->n_mirrors++] = (struct mirror){buf_of(r->buf), lo, size, *total};
        *total = round_up(*total + size, 16);
    }
    return FERRY_OK;
}

static ferry_status record_graph(struct vk *v, ferry_graph_t *g, struct vk_graph *vg)
{
    ferry_status s = FERRY_OK;
    struct hazards hz = {0};
    VkDescriptorSet *sets = calloc((size_t)g->n_nodes, sizeof *sets);
    VkDescriptorSetLayout *layouts = calloc((size_t)g->n_nodes, sizeof *layouts);
    if (!sets || !layouts) {
        s = ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
        goto done;
    }
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = (uint32_t)g->n_nodes * FERRY_VK_BINDINGS};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = (uint32_t)g->n_nodes, .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
    if ((s = check(vkCreateDescriptorPool(v->dev, &pi, NULL, &vg->dpool), "creating a descriptor pool")))
        goto done;
    for (int k = 0; k < g->n_nodes; k++) layouts[k] = v->set_layout;
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = vg->dpool,
                                      .descriptorSetCount = (uint32_t)g->n_nodes,
                                      .pSetLayouts = layouts};
    if ((s = check(vkAllocateDescriptorSets(v->dev, &ai, sets), "allocating descriptor sets"))) goto done;

    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = v->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((s = check(vkAllocateCommandBuffers(v->dev, &cai, &vg->cmd), "allocating a command buffer")))
        goto done;
    if ((s = begin(vg->cmd, false))) goto done;
    /* the previous step's writes (parameters, optimizer state) before this step's reads */
    barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);

    VkDeviceSize align = v->props.p.limits.minStorageBufferOffsetAlignment;
    if (align < 4) align = 4;
    VkPipeline bound = VK_NULL_HANDLE;
    for (int k = 0; k < g->n_nodes; k++) {
        const struct ferry_tensor *t = g->nodes[k];
        struct ferry_vk_plan plan;
        if ((s = plan_node(v, t, &plan))) goto done;
        struct binding bd[FERRY_VK_BINDINGS];
        node_bindings(g, t, bd);
        VkDescriptorBufferInfo info[FERRY_VK_BINDINGS];
        VkWriteDescriptorSet w[FERRY_VK_BINDINGS];
        uint32_t off[FERRY_VK_BINDINGS] = {0};
        for (int b = 0; b < FERRY_VK_BINDINGS; b++) {
            if (bd[b].buf) {
                VkDeviceSize base = bd[b].lo / align * align;
                off[b] = (uint32_t)((bd[b].lo - base) / 4);
                info[b] = (VkDescriptorBufferInfo){bd[b].buf, base, round_up(bd[b].hi, 4) - base};
                if (info[b].range > v->props.p.limits.maxStorageBufferRange) {
                    s = ferry_error(FERRY_ERR_UNSUPPORTED,
                                    "vulkan: op %s binds %llu bytes, past the device's storage-buffer "
                                    "range of %u", ferry_op_name(t->op),
                                    (unsigned long long)info[b].range,
                                    v->props.p.limits.maxStorageBufferRange);
                    goto done;
                }
            } else {
                info[b] = (VkDescriptorBufferInfo){buf_of(v->dummy), off_of(v->dummy), VK_ALIGN};
            }
            w[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                          .dstSet = sets[k], .dstBinding = (uint32_t)b,
                                          .descriptorCount = 1,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .pBufferInfo = &info[b]};
        }
        vkUpdateDescriptorSets(v->dev, FERRY_VK_BINDINGS, w, 0, NULL);
        vkCmdBindDescriptorSets(vg->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, v->layout, 0, 1, &sets[k], 0,
                                NULL);
        for (int q = 0; q < plan.n; q++) {
            struct ferry_vk_dispatch *d = &plan.d[q];
            VkPipeline p = VK_NULL_HANDLE;
            if ((s = get_pipeline(v, d, &p))) goto done;
            /* this dispatch's accesses; a barrier if any conflicts with one since the last */
            struct access mine[FERRY_VK_BINDINGS];
            int nm = 0;
            for (int b = 0; b < FERRY_VK_BINDINGS; b++)
                if (bd[b].buf)
                    mine[nm++] = (struct access){bd[b].buf, bd[b].lo, bd[b].hi,
                                                 (d->writes & FERRY_VK_BIT(b)) != 0};
            bool hazard = false;
            for (int i = 0; i < nm && !hazard; i++)
                for (int j = 0; j < hz.n && !hazard; j++) hazard = overlaps(&mine[i], &hz.a[j]);
            if (hazard) {
                barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
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
        barrier(vg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
        for (int i = 0; i < vg->n_mirrors; i++) {
            VkBufferCopy c = {.srcOffset = vg->mirrors[i].off, .dstOffset = vg->mirrors[i].at,
                              .size = vg->mirrors[i].size};
            vkCmdCopyBuffer(vg->cmd, vg->mirrors[i].buf, vg->out.buf, 1, &c);
        }
        barrier(vg->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    }
    s = check(vkEndCommandBuffer(vg->cmd), "recording the graph");
done:
    free(hz.a);
    free(sets);
    free(layouts);
    return s;
}

static ferry_status vk_graph_prepare(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = calloc(1, sizeof *vg);
    if (!vg) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    VkDeviceSize out_bytes = 0;
    ferry_status s = collect_mirrors(v, g, vg, &out_bytes);
    if (!s && out_bytes) s = host_area_init(v, &vg->out, out_bytes, true);
    if (!s) s = record_graph(v, g, vg);
    if (s) {
        graph_destroy(v, vg);
        return s;
    }
    vg->next = v->graphs;
    v->graphs = vg;
    g->backend_data = vg;
    return FERRY_OK;
}

static void vk_graph_release(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = g->backend_data;
    for (struct vk_graph **p = &v->graphs; *p; p = &(*p)->next)
        if (*p == vg) {
            *p = vg->next;
            break;
        }
    graph_destroy(v, vg);
    g->backend_data = NULL;
}

static ferry_status vk_graph_compute(ferry_backend_t *be, ferry_graph_t *g)
{
    struct vk *v = be->impl;
    struct vk_graph *vg = g->backend_data;
    VkCommandBuffer cbs[2];
    uint32_t n = 0;
    ferry_status s;
    if (v->n_pending) { /* this step's batch and scalars */
        vkResetCommandBuffer(v->xfer, 0);
        if ((s = begin(v->xfer, true))) return s;
        record_pending(v, v->xfer);
        if ((s = check(vkEndCommandBuffer(v->xfer), "recording uploads"))) return s;
        cbs[n++] = v->xfer;
    }
    cbs[n++] = vg->cmd;
    vg->computed = false;
    if ((s = submit_wait(v, cbs, n))) return s;
    vg->computed = true;
    return FERRY_OK;
}

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
                graph_destroy(v, vg);
            }
            if (v->dummy) {
                block_give(((struct vk_alloc *)v->dummy->impl)->blk, off_of(v->dummy), VK_ALIGN);
                free(v->dummy->impl);
                free(v->dummy);
            }
            cache_save(v);
            for (int i = 0; i < v->n_pipes; i++) vkDestroyPipeline(v->dev, v->pipes[i].pipe, NULL);
            for (int i = 0; v->modules && i < ferry_vk_n_shaders; i++)
                if (v->modules[i]) vkDestroyShaderModule(v->dev, v->modules[i], NULL);
            if (v->cache) vkDestroyPipelineCache(v->dev, v->cache, NULL);
            if (v->layout) vkDestroyPipelineLayout(v->dev, v->layout, NULL);
            if (v->set_layout) vkDestroyDescriptorSetLayout(v->dev, v->set_layout, NULL);
            if (v->fence) vkDestroyFence(v->dev, v->fence, NULL);
            if (v->pool) vkDestroyCommandPool(v->dev, v->pool, NULL);
            host_area_free(v, &v->staging);
            host_area_free(v, &v->readback);
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
    snprintf(d->vendor, sizeof d->vendor, "%s", vendor_name(v->props.p.vendorID));
    snprintf(d->name, sizeof d->name, "%s", v->props.p.deviceName);
    if (v->props.has_drv)
        snprintf(d->driver, sizeof d->driver, "%s %s", v->props.drv.driverName, v->props.drv.driverInfo);
    else
        snprintf(d->driver, sizeof d->driver, "driver 0x%08x", v->props.p.driverVersion);
    version_str(v->props.p.apiVersion, d->api, sizeof d->api);
    return FERRY_OK;
}

static const struct ferry_backend_iface vk_iface = {
    .name = "vulkan",
    .alignment = VK_ALIGN,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .upload = vk_upload,
    .download = vk_download,
    .scratch_bytes = vk_scratch_bytes,
    .graph_prepare = vk_graph_prepare,
    .graph_release = vk_graph_release,
    .graph_compute = vk_graph_compute,
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
    ferry_status s = check(vkCreateDevice(v->pd, &di, NULL, &v->dev), "creating the device");
    if (s) return s;
    vkGetDeviceQueue(v->dev, v->queue_family, 0, &v->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = v->queue_family};
    if ((s = check(vkCreateCommandPool(v->dev, &pci, NULL, &v->pool), "creating a command pool"))) return s;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = v->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((s = check(vkAllocateCommandBuffers(v->dev, &cai, &v->xfer), "allocating a command buffer")))
        return s;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((s = check(vkCreateFence(v->dev, &fci, NULL, &v->fence), "creating a fence"))) return s;

    VkDescriptorSetLayoutBinding lb[FERRY_VK_BINDINGS];
    for (uint32_t b = 0; b < FERRY_VK_BINDINGS; b++)
        lb[b] = (VkDescriptorSetLayoutBinding){.binding = b,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = FERRY_VK_BINDINGS, .pBindings = lb};
    if ((s = check(vkCreateDescriptorSetLayout(v->dev, &lci, NULL, &v->set_layout), "creating a layout")))
        return s;
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                              .size = sizeof(struct ferry_vk_push)};
    VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                       .setLayoutCount = 1, .pSetLayouts = &v->set_layout,
                                       .pushConstantRangeCount = 1, .pPushConstantRanges = &pr};
    if ((s = check(vkCreatePipelineLayout(v->dev, &plci, NULL, &v->layout), "creating a pipeline layout")))
        return s;
    if ((s = cache_open(v))) return s;
    v->modules = calloc((size_t)ferry_vk_n_shaders + 1, sizeof *v->modules);
    if (!v->modules) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    if ((s = host_area_init(v, &v->staging, VK_STAGING_SIZE, false))) return s;
    if ((s = host_area_init(v, &v->readback, VK_STAGING_SIZE, true))) return s;
    return vk_buffer_alloc(v->be, VK_ALIGN, &v->dummy);
}

ferry_status ferry_backend_vulkan_init(int index, ferry_backend_t **out)
{
    *out = NULL;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    ferry_status s = physical_devices(&pds, &n);
    if (s) return s;
    if (n == 0) {
        free(pds);
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: the driver reports no device");
    }
    if (index < 0) {
        index = pick_default(pds, n);
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
    get_props(v->pd, &v->props);
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
    if ((s = device_init(v))) {
        vk_destroy(be);
        return s;
    }
    *out = be;
    return FERRY_OK;
}

static uint64_t vk_validation_messages(void) { return __atomic_load_n(&g_vk.messages, __ATOMIC_RELAXED); }

/* ---- listing ----------------------------------------------------------------------------------- */

static ferry_status vk_list_devices(void *file)
{
    FILE *f = file;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    ferry_status s = physical_devices(&pds, &n);
    if (s) return s;
    int def = pick_default(pds, n);
    for (uint32_t i = 0; i < n; i++) {
        struct dev_props d;
        get_props(pds[i], &d);
        VkPhysicalDeviceMemoryProperties mp;
        vkGetPhysicalDeviceMemoryProperties(pds[i], &mp);
        char api[16], drv[16];
        version_str(d.p.apiVersion, api, sizeof api);
        version_str(d.p.driverVersion, drv, sizeof drv);
        const VkPhysicalDeviceLimits *l = &d.p.limits;
        fprintf(f, "vulkan:%u  %s%s\n", i, d.p.deviceName, (int)i == def ? "  (default)" : "");
        fprintf(f, "    vendor      %s (0x%04x), device 0x%04x, %s\n", vendor_name(d.p.vendorID),
                d.p.vendorID, d.p.deviceID, type_name(d.p.deviceType));
        if (d.has_drv)
            fprintf(f, "    driver      %s, %s (version %s)\n", d.drv.driverName, d.drv.driverInfo, drv);
        else
            fprintf(f, "    driver      version %s\n", drv);
        fprintf(f, "    api         Vulkan %s\n", api);
        for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
            fprintf(f, "    heap %u      %.1f GiB%s\n", h, (double)mp.memoryHeaps[h].size / (1 << 30),
                    mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT ? ", device-local" : "");
        fprintf(f, "    subgroup    %u\n", d.sub.subgroupSize);
        fprintf(f, "    limits      shared memory %u B, workgroup %u invocations (%u,%u,%u), "
                   "groups (%u,%u,%u), storage buffer %u B, push constants %u B\n",
                l->maxComputeSharedMemorySize, l->maxComputeWorkGroupInvocations,
                l->maxComputeWorkGroupSize[0], l->maxComputeWorkGroupSize[1],
                l->maxComputeWorkGroupSize[2], l->maxComputeWorkGroupCount[0],
                l->maxComputeWorkGroupCount[1], l->maxComputeWorkGroupCount[2],
                l->maxStorageBufferRange, l->maxPushConstantsSize);
    }
    if (n == 0) fprintf(f, "(no Vulkan device)\n");
    free(pds);
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
    .list = vk_list_devices,
    .supports = ferry_vk_supports,
    .validation_messages = vk_validation_messages,
};
