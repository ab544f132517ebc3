/* The backends this build of Ferry has. A backend registers itself by one line here; the core finds
 * every backend through this list (core/src/device.c) and names none. */
#include "internal.h"

extern const struct ferry_backend_reg ferry_backend_reg_cpu;
extern const struct ferry_backend_reg ferry_backend_reg_vulkan;

const struct ferry_backend_reg *const ferry_backend_registry[] = {
    &ferry_backend_reg_cpu,
    &ferry_backend_reg_vulkan,
    NULL,
};
