/* Error messages (core/src/error.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "internal.h"

/* A message that wraps the previous one (as model creation does with a layer's error) keeps it whole. */
Test(error, message_quoting_the_previous_one)
{
    ferry_error(FERRY_ERR_SHAPE, "layer '%s': %d channels", "Mixed_6e", 768);
    cr_assert_eq(ferry_error(FERRY_ERR_INVALID, "model: cannot build: %s", ferry_last_error()), FERRY_ERR_INVALID);
    cr_expect_str_eq(ferry_last_error(), "model: cannot build: layer 'Mixed_6e': 768 channels");
}
