/* Vulkan backend: the loader, the process-wide instance, physical devices and their properties,
 * and the device listing. */
#include "vk_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loader ------------------------------------------------------------------------------- */

#define DEFINE_FN(name) PFN_##name name;
static PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
VK_GLOBAL_FNS(DEFINE_FN)
VK_INSTANCE_FNS(DEFINE_FN)
VK_DEBUG_FNS(DEFINE_FN)
VK_DEVICE_FNS(DEFINE_FN)

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

bool ferry_vk_env_flag(const char *name)
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
ferry_status ferry_vk_fail(VkResult r, const char *what)
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
    g_vk.validation = ferry_vk_env_flag("FERRY_VK_VALIDATION");
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

ferry_status ferry_vk_physical_devices(VkPhysicalDevice **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    ferry_status s = instance_get();
    if (s) return s;
    VkResult r = vkEnumeratePhysicalDevices(g_vk.instance, n, NULL);
    if (r != VK_SUCCESS) return ferry_vk_fail(r, "listing devices");
    if (*n == 0) return FERRY_OK;
    *out = calloc(*n, sizeof **out);
    if (!*out) return ferry_error(FERRY_ERR_NOMEM, "vulkan: out of memory");
    r = vkEnumeratePhysicalDevices(g_vk.instance, n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return ferry_vk_fail(r, "listing devices");
    }
    return FERRY_OK;
}

const char *ferry_vk_vendor_name(uint32_t id)
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


void ferry_vk_get_props(VkPhysicalDevice pd, struct dev_props *d)
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

void ferry_vk_version_str(uint32_t v, char *buf, size_t n)
{
    snprintf(buf, n, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
             VK_API_VERSION_PATCH(v));
}

/* The device a default request picks: the first discrete GPU, else the first integrated GPU (or a
 * virtual one). Software drivers only when named. */
int ferry_vk_pick_default(VkPhysicalDevice *pds, uint32_t n)
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

uint64_t ferry_vk_validation_messages(void) { return __atomic_load_n(&g_vk.messages, __ATOMIC_RELAXED); }

/* ---- listing ----------------------------------------------------------------------------------- */

ferry_status ferry_vk_list_devices(void *file)
{
    FILE *f = file;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    ferry_status s = ferry_vk_physical_devices(&pds, &n);
    if (s) return s;
    int def = ferry_vk_pick_default(pds, n);
    for (uint32_t i = 0; i < n; i++) {
        struct dev_props d;
        ferry_vk_get_props(pds[i], &d);
        VkPhysicalDeviceMemoryProperties mp;
        vkGetPhysicalDeviceMemoryProperties(pds[i], &mp);
        char api[16], drv[16];
        ferry_vk_version_str(d.p.apiVersion, api, sizeof api);
        ferry_vk_version_str(d.p.driverVersion, drv, sizeof drv);
        const VkPhysicalDeviceLimits *l = &d.p.limits;
        fprintf(f, "vulkan:%u  %s%s\n", i, d.p.deviceName, (int)i == def ? "  (default)" : "");
        fprintf(f, "    vendor      %s (0x%04x), device 0x%04x, %s\n", ferry_vk_vendor_name(d.p.vendorID),
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
