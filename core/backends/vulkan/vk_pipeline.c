/* Vulkan backend: compute pipelines and the pipeline cache persisted under
 * $XDG_CACHE_HOME/ferry/vulkan. */
#include "vk_internal.h"

#include "ferry/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- pipelines --------------------------------------------------------------------------------- */

static int shader_index(const char *name)
{
    for (int i = 0; i < ferry_vk_n_shaders; i++)
        if (strcmp(ferry_vk_shaders[i].name, name) == 0) return i;
    return -1;
}

ferry_status ferry_vk_get_pipeline(struct vk *v, const struct ferry_vk_dispatch *d, VkPipeline *out)
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
        ferry_status s = ferry_vk_check(vkCreateShaderModule(v->dev, &mi, NULL, &v->modules[si]),
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
    ferry_status s = ferry_vk_check(vkCreateComputePipelines(v->dev, v->cache, 1, &ci, NULL, &p),
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
    if (ferry_vk_env_flag("FERRY_VK_NO_PIPELINE_CACHE")) return;
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

ferry_status ferry_vk_cache_open(struct vk *v)
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
    ferry_status s = ferry_vk_check(vkCreatePipelineCache(v->dev, &ci, NULL, &v->cache), "creating a pipeline cache");
    free(data);
    return s;
}

void ferry_vk_cache_save(struct vk *v)
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
