/* ferry_dataset_export_idx / ferry_dataset_load_idx: bit-identical round trips and rejections. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"
#include "ferry/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[TU_PATH];

static void setup(void) { tu_tmpdir(tmp); }
static void teardown(void) { tu_rmtree(tmp); }

TestSuite(idx_dataset, .init = setup, .fini = teardown, .timeout = 60 * FERRY_TIMEOUT_SCALE);

static void round_trip(int c, const char *images_file)
{
    ferry_dataset_t *ds = du_pattern("orig", 37, c, 5, 4, 10), *back;
    char dir[TU_PATH], im[TU_PATH], lb[TU_PATH];
    tu_join(dir, tmp, "out"); /* made by the export */
    cr_assert_eq(ferry_dataset_export_idx(ds, dir, "rt"), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(tu_count_entries(dir), 2); /* no temp files left */
    tu_join(im, dir, images_file);
    tu_join(lb, dir, "rt-labels-idx1-ubyte.gz");
    cr_assert_eq(ferry_dataset_load_idx(im, lb, &back), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(back), "rt");
    cr_assert_eq(ferry_dataset_size(back), 37);
    cr_assert_eq(ferry_dataset_classes(back), 10);
    int bc, bh, bw;
    ferry_dataset_geometry(back, &bc, &bh, &bw);
    cr_assert(bc == c && bh == 5 && bw == 4);
    cr_assert(memcmp(ferry_dataset_images(ds), ferry_dataset_images(back),
                     37 * (size_t)c * 20 * sizeof(float)) == 0,
              "images differ after the round trip");
    cr_assert(memcmp(ferry_dataset_labels(ds), ferry_dataset_labels(back), 37 * sizeof(int32_t)) == 0);
    ferry_dataset_free(ds);
    ferry_dataset_free(back);
}

Test(idx_dataset, round_trip_grey) { round_trip(1, "rt-images-idx3-ubyte.gz"); }
Test(idx_dataset, round_trip_rgb) { round_trip(3, "rt-images-idx4-ubyte.gz"); }

Test(idx_dataset, float_images_int_labels)
{
    float px[2 * 3 * 3];
    for (int i = 0; i < 18; i++) px[i] = (float)i / 17.0f;
    int32_t y[2] = {4, 1};
    ferry_idx im = {.type = FERRY_IDX_F32, .ndim = 3, .dims = {2, 3, 3}, .count = 18, .data = px};
    ferry_idx lb = {.type = FERRY_IDX_I32, .ndim = 1, .dims = {2}, .count = 2, .data = y};
    char ip[TU_PATH], lp[TU_PATH];
    tu_join(ip, tmp, "train-images-idx3-ubyte");
    tu_join(lp, tmp, "train-labels-idx1-ubyte");
    cr_assert_eq(ferry_idx_write(ip, &im), FERRY_OK);
    cr_assert_eq(ferry_idx_write(lp, &lb), FERRY_OK);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load_idx(ip, lp, &ds), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(ds), "train");
    cr_assert_eq(ferry_dataset_classes(ds), 5);
    cr_assert(memcmp(ferry_dataset_images(ds), px, sizeof px) == 0);
    cr_assert_eq(ferry_dataset_labels(ds)[0], 4);
    ferry_dataset_free(ds);
}

/* Writes images (u8 [n,3,3]) and labels (u8 [m]) and expects load_idx to fail naming bad. */
static void expect_reject(const ferry_idx *im, const ferry_idx *lb, bool bad_is_labels, const char *want)
{
    char ip[TU_PATH], lp[TU_PATH];
    tu_join(ip, tmp, "x-images-idx3-ubyte");
    tu_join(lp, tmp, "x-labels-idx1-ubyte");
    cr_assert_eq(ferry_idx_write(ip, im), FERRY_OK);
    cr_assert_eq(ferry_idx_write(lp, lb), FERRY_OK);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_idx(ip, lp, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert_null(ds);
    cr_assert(tu_msg_has(bad_is_labels ? lp : ip), "%s", ferry_last_error());
    cr_assert(tu_msg_has(want), "'%s' lacks '%s'", ferry_last_error(), want);
}

Test(idx_dataset, broken_inputs)
{
    uint8_t px[4 * 9] = {0}, y[4] = {0, 1, 2, 3};
    int32_t yi[4] = {0, -2, 1, 1};
    int16_t px16[4 * 9] = {0};
    float pf[4 * 9] = {0};
    pf[5] = 1.5f;
    ferry_idx im = {.type = FERRY_IDX_U8, .ndim = 3, .dims = {4, 3, 3}, .count = 36, .data = px};
    ferry_idx lb = {.type = FERRY_IDX_U8, .ndim = 1, .dims = {3}, .count = 3, .data = y};
    expect_reject(&im, &lb, true, "3 labels for 4 images");

    lb.dims[0] = 4, lb.count = 4;
    ferry_idx im16 = {.type = FERRY_IDX_I16, .ndim = 3, .dims = {4, 3, 3}, .count = 36, .data = px16};
    expect_reject(&im16, &lb, false, "element type 0x0b");
    ferry_idx imf = {.type = FERRY_IDX_F32, .ndim = 3, .dims = {4, 3, 3}, .count = 36, .data = pf};
    expect_reject(&imf, &lb, false, "outside [0, 1]");
    ferry_idx im2 = {.type = FERRY_IDX_U8, .ndim = 2, .dims = {4, 9}, .count = 36, .data = px};
    expect_reject(&im2, &lb, false, "2 dimensions");
    ferry_idx lbi = {.type = FERRY_IDX_I32, .ndim = 1, .dims = {4}, .count = 4, .data = yi};
    expect_reject(&im, &lbi, true, "label -2 of example 1");

    /* A truncated images file: the IDX reader's message, naming the file. */
    char ip[TU_PATH], lp[TU_PATH];
    tu_join(ip, tmp, "x-images-idx3-ubyte");
    tu_join(lp, tmp, "x-labels-idx1-ubyte");
    cr_assert_eq(ferry_idx_write(ip, &im), FERRY_OK);
    size_t n;
    void *bytes = tu_read(ip, &n);
    tu_write(ip, bytes, n - 5);
    free(bytes);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_idx(ip, lp, &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has(ip) && tu_msg_has("truncated"), "%s", ferry_last_error());

    tu_join(ip, tmp, "missing-images-idx3-ubyte");
    cr_assert_eq(ferry_dataset_load_idx(ip, lp, &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(ip), "%s", ferry_last_error());
}

Test(idx_dataset, export_rejections)
{
    int32_t y[2] = {0, 300};
    float x[2] = {0, 1};
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_from_arrays("big", 2, 1, 1, 1, 301, x, y, &ds), FERRY_OK);
    cr_assert_eq(ferry_dataset_export_idx(ds, tmp, "big"), FERRY_ERR_UNSUPPORTED);
    cr_assert(tu_msg_has("label 300"), "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_export_idx(ds, tmp, "a/b"), FERRY_ERR_INVALID);
    cr_assert_eq(tu_count_entries(tmp), 0);
    ferry_dataset_free(ds);
}
