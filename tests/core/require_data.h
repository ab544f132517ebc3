/* Tests that need the fetched MNIST: skipped when it is not in the cache, failed when
 * FERRY_REQUIRE_DATA is set (as .ci/run sets it). */
#ifndef FERRY_TESTS_CORE_REQUIRE_DATA_H
#define FERRY_TESTS_CORE_REQUIRE_DATA_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "ferry/data.h"

static inline void require_mnist(void)
{
    ferry_dataset_t *ds;
    if (ferry_dataset_load("mnist", "test", &ds) == FERRY_OK) {
        ferry_dataset_free(ds);
        return;
    }
    if (getenv("FERRY_REQUIRE_DATA")) cr_assert_fail("MNIST not available: %s", ferry_last_error());
    cr_skip_test("MNIST not fetched (scripts/fetch-data.sh): %s", ferry_last_error());
}

#endif
