/* Opening the Vulkan backend in tests: the first device (lavapipe in CI), or device N when
 * FERRY_VK_DEVICE=N (benchmarks/gpu.sh runs the suites on each GPU). Without a Vulkan driver the test
 * reports itself skipped with the reason, unless FERRY_REQUIRE_VULKAN=1 makes that a failure. */
#ifndef FERRY_TEST_VK_BACKEND_UTIL_H
#define FERRY_TEST_VK_BACKEND_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

static inline ferry_backend_t *vk_test_backend(void)
{
    ferry_backend_t *be = NULL;
    const char *dev = getenv("FERRY_VK_DEVICE");
    ferry_status s = ferry_backend_vulkan_init(dev ? atoi(dev) : 0, &be);
    if (s == FERRY_OK) return be;
    const char *req = getenv("FERRY_REQUIRE_VULKAN");
    if (s == FERRY_ERR_UNSUPPORTED && !(req && strcmp(req, "1") == 0))
        cr_skip_test("no Vulkan: %s", ferry_last_error());
    cr_assert_fail("Vulkan backend: %s", ferry_last_error());
    return NULL;
}

/* Fails the test if the validation layer said anything so far. */
static inline void vk_test_no_validation_messages(const ferry_backend_t *be)
{
    ferry_backend_stats st;
    ferry_backend_get_stats(be, &st);
    cr_assert_eq(st.validation_messages, 0, "%llu Vulkan validation message(s) (printed above)",
                 (unsigned long long)st.validation_messages);
}

#endif
