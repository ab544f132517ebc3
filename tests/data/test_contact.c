/* ferry_dataset_contact_sheet: a decodable PNG of the documented size and layout. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"

#include <stb_image.h>

#include <stdlib.h>

static char tmp[TU_PATH];

static void setup(void) { tu_tmpdir(tmp); }
static void teardown(void) { tu_rmtree(tmp); }

TestSuite(contact, .init = setup, .fini = teardown, .timeout = 60 * FERRY_TIMEOUT_SCALE);

Test(contact, grey_sheet)
{
    ferry_dataset_t *ds = du_pattern("g", 5, 1, 28, 28, 10);
    char path[TU_PATH];
    tu_join(path, tmp, "sheet.png");
    cr_assert_eq(ferry_dataset_contact_sheet(ds, 2, 3, path), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(tu_count_entries(tmp), 1);
    int w, h, comp;
    unsigned char *px = stbi_load(path, &w, &h, &comp, 0);
    cr_assert_not_null(px, "%s: %s", path, stbi_failure_reason());
    /* Scale 2 (56 px cells), 2 px gaps around and between. */
    cr_assert_eq(w, 3 * 56 + 4 * 2);
    cr_assert_eq(h, 2 * 56 + 3 * 2);
    cr_assert_eq(comp, 1);
    const float *x = ferry_dataset_images(ds);
    /* Image 4 (row 1, column 1), its pixel (3, 5), drawn as a 2×2 block. */
    int x0 = 2 + 1 * 58, y0 = 2 + 1 * 58;
    unsigned char want = (unsigned char)(x[4 * 784 + 3 * 28 + 5] * 255.0f + 0.5f);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) cr_assert_eq(px[(y0 + 6 + dy) * w + x0 + 10 + dx], want);
    cr_assert_eq(px[0], 128); /* border */
    cr_assert_eq(px[(y0 - 1) * w + x0 + 3], 128); /* gap */
    cr_assert_eq(px[(y0 + 20) * w + 2 + 2 * 58 + 20], 128); /* the sixth cell has no image */
    stbi_image_free(px);
    ferry_dataset_free(ds);
}

Test(contact, rgb_sheet_small_images)
{
    ferry_dataset_t *ds = du_pattern("c", 3, 3, 8, 8, 2);
    char path[TU_PATH];
    tu_join(path, tmp, "rgb.png");
    cr_assert_eq(ferry_dataset_contact_sheet(ds, 1, 3, path), FERRY_OK, "%s", ferry_last_error());
    int w, h, comp;
    unsigned char *px = stbi_load(path, &w, &h, &comp, 0);
    cr_assert_not_null(px);
    cr_assert_eq(w, 3 * 56 + 4 * 2); /* 8 px scaled by 7 */
    cr_assert_eq(h, 56 + 2 * 2);
    cr_assert_eq(comp, 3);
    const float *x = ferry_dataset_images(ds);
    for (int k = 0; k < 3; k++) /* image 2, pixel (7, 7) = sheet's bottom-right cell corner */
        cr_assert_eq(px[((2 + 55) * w + 2 + 2 * 58 + 55) * 3 + k],
                     (unsigned char)(x[2 * 192 + k * 64 + 63] * 255.0f + 0.5f));
    stbi_image_free(px);
    ferry_dataset_free(ds);
}

Test(contact, rejections)
{
    ferry_dataset_t *ds = du_pattern("g", 2, 1, 4, 4, 2);
    char path[TU_PATH];
    tu_join(path, tmp, "no/such/dir/sheet.png");
    cr_assert_neq(ferry_dataset_contact_sheet(ds, 1, 1, path), FERRY_OK);
    cr_assert(tu_msg_has(path) || tu_msg_has("no/such/dir"), "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_contact_sheet(ds, 0, 1, path), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_dataset_contact_sheet(ds, 100000, 100000, path), FERRY_ERR_INVALID);
    ferry_dataset_free(ds);
}
