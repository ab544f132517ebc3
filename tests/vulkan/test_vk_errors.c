/* Failures on the Vulkan backend end in a clear error, never a crash: memory the device cannot
 * give, a device index that does not exist. */
#include <criterion/criterion.h>
#include <string.h>

#include "vk_backend_util.h"

Test(vk_errors, out_of_device_memory_is_a_clear_error)
{
    ferry_backend_t *be = vk_test_backend();
    ferry_store_t *st;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    int64_t sh[2] = {1 << 16, 1 << 18}; /* 64 GiB of float32 */
    ferry_status s = ferry_store_add(st, "huge", FERRY_F32, 2, sh, true);
    cr_assert_eq(s, FERRY_ERR_NOMEM, "status %d: %s", s, ferry_last_error());
    cr_assert(strstr(ferry_last_error(), "out of") != NULL, "%s", ferry_last_error());
    /* the backend still works afterwards */
    int64_t small[1] = {5};
    cr_assert_eq(ferry_store_add(st, "w", FERRY_F32, 1, small, true), FERRY_OK, "%s", ferry_last_error());
    float v[5] = {1, 2, 3, 4, 5}, back[5];
    cr_assert_eq(ferry_store_set(st, 0, v, sizeof v), FERRY_OK);
    cr_assert_eq(ferry_store_get(st, 0, back, sizeof back), FERRY_OK);
    cr_assert_eq(memcmp(v, back, sizeof v), 0);
    vk_test_no_validation_messages(be);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(vk_errors, missing_device_index_is_not_found)
{
    ferry_backend_t *be = vk_test_backend(); /* skips without Vulkan */
    ferry_backend_free(be);
    ferry_backend_t *none = NULL;
    cr_assert_eq(ferry_backend_vulkan_init(999, &none), FERRY_ERR_NOT_FOUND);
    cr_assert_null(none);
    cr_assert(strstr(ferry_last_error(), "vulkan:999") != NULL, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_init_device("vulkan:x", 1, &none), FERRY_ERR_INVALID);
}
