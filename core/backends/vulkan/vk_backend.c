/* Vulkan backend (being written). */
#include "vk_ops.h"

ferry_status ferry_backend_vulkan_init(int index, ferry_backend_t **out)
{
    (void)index;
    *out = NULL;
    return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: backend not built yet");
}
