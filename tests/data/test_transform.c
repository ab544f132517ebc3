/* Geometry and variants: convert, rotate, colorize, subset. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(transform, .timeout = 60 * FERRY_TIMEOUT_SCALE);

static size_t pixels(const ferry_dataset_t *ds)
{
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    return (size_t)ferry_dataset_size(ds) * (size_t)c * (size_t)h * (size_t)w;
}

Test(transform, convert_grey_rgb_grey_is_identity)
{
    ferry_dataset_t *g = du_pattern("g", 9, 1, 7, 6, 3), *rgb, *back;
    cr_assert_eq(ferry_dataset_convert(g, 3, 7, 6, &rgb), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(rgb), "g@7x6x3");
    const float *x = ferry_dataset_images(g), *r = ferry_dataset_images(rgb);
    for (int i = 0; i < 9; i++)
        for (int k = 0; k < 3; k++)
            cr_assert(memcmp(r + (i * 3 + k) * 42, x + i * 42, 42 * sizeof(float)) == 0);
    cr_assert_eq(ferry_dataset_convert(rgb, 1, 7, 6, &back), FERRY_OK, "%s", ferry_last_error());
    cr_assert(memcmp(ferry_dataset_images(back), x, pixels(g) * sizeof(float)) == 0);
    cr_assert(memcmp(ferry_dataset_labels(back), ferry_dataset_labels(g), 9 * sizeof(int32_t)) == 0);
    cr_assert_eq(ferry_dataset_classes(back), 3);
    ferry_dataset_free(g);
    ferry_dataset_free(rgb);
    ferry_dataset_free(back);
}

Test(transform, convert_luminance_and_resize)
{
    /* One RGB image: red plane 1, green 0.5, blue 0 -> luminance 0.299 + 0.2935. */
    float px[3 * 4 * 4];
    for (int i = 0; i < 16; i++) px[i] = 1, px[16 + i] = 0.5f, px[32 + i] = 0;
    int32_t y = 0;
    ferry_dataset_t *ds, *small, *big;
    cr_assert_eq(ferry_dataset_from_arrays("c", 1, 3, 4, 4, 1, px, &y, &ds), FERRY_OK);
    cr_assert_eq(ferry_dataset_convert(ds, 1, 2, 3, &small), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_convert(ds, 3, 9, 11, &big), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < 6; i++) cr_assert_float_eq(ferry_dataset_images(small)[i], 0.5925f, 1e-5);
    for (int i = 0; i < 99; i++) {
        cr_assert_float_eq(ferry_dataset_images(big)[i], 1.0f, 1e-5);
        cr_assert_float_eq(ferry_dataset_images(big)[99 + i], 0.5f, 1e-5);
        cr_assert_float_eq(ferry_dataset_images(big)[198 + i], 0.0f, 1e-5);
    }
    /* A 1-D ramp upsampled bilinearly stays monotone and in range. */
    float ramp[4] = {0, 1.0f / 3, 2.0f / 3, 1};
    ferry_dataset_t *r, *r8;
    cr_assert_eq(ferry_dataset_from_arrays("r", 1, 1, 1, 4, 1, ramp, &y, &r), FERRY_OK);
    cr_assert_eq(ferry_dataset_convert(r, 1, 1, 8, &r8), FERRY_OK, "%s", ferry_last_error());
    const float *v = ferry_dataset_images(r8);
    for (int i = 0; i < 8; i++) {
        cr_assert(v[i] >= 0 && v[i] <= 1);
        if (i) cr_assert(v[i] >= v[i - 1], "not monotone at %d", i);
    }
    ferry_dataset_free(r8);
    cr_assert_eq(ferry_dataset_convert(ds, 2, 4, 4, &r8), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_dataset_convert(ds, 1, 0, 4, &r8), FERRY_ERR_INVALID);
    cr_assert_null(r8);
    ferry_dataset_free(ds);
    ferry_dataset_free(small);
    ferry_dataset_free(big);
    ferry_dataset_free(r);
}

static void check_rot90(int side)
{
    ferry_dataset_t *ds = du_pattern("sq", 3, 2, side, side, 2), *rot;
    cr_assert_eq(ferry_dataset_rotate(ds, 90, &rot), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(rot), "sq@rot90");
    const float *in = ferry_dataset_images(ds), *out = ferry_dataset_images(rot);
    size_t plane = (size_t)side * (size_t)side;
    /* Counter-clockwise: the top row becomes the left column, read bottom to top. */
    for (size_t p = 0; p < 6; p++)
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                cr_assert_eq(out[p * plane + (size_t)(y * side + x)],
                             in[p * plane + (size_t)(x * side + side - 1 - y)], "side %d plane %zu (%d, %d)",
                             side, p, y, x);
    ferry_dataset_free(ds);
    ferry_dataset_free(rot);
}

Test(transform, rotate_90_is_transpose_flip)
{
    check_rot90(7);
    check_rot90(8);
}

Test(transform, rotate_full_turns_are_identity)
{
    ferry_dataset_t *ds = du_pattern("sq", 4, 1, 9, 6, 2), *rot, *a, *b;
    const double turns[] = {360, -360, 720, 0};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ferry_dataset_rotate(ds, turns[i], &rot), FERRY_OK, "%s", ferry_last_error());
        cr_assert(memcmp(ferry_dataset_images(rot), ferry_dataset_images(ds), pixels(ds) * sizeof(float)) ==
                      0,
                  "rotation by %g", turns[i]);
        ferry_dataset_free(rot);
    }
    /* 180 twice, and an arbitrary angle and back, are close to the identity in the middle. */
    cr_assert_eq(ferry_dataset_rotate(ds, 180, &a), FERRY_OK);
    cr_assert_eq(ferry_dataset_rotate(a, 180, &b), FERRY_OK);
    cr_assert(memcmp(ferry_dataset_images(b), ferry_dataset_images(ds), pixels(ds) * sizeof(float)) == 0);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
    cr_assert_eq(ferry_dataset_rotate(ds, NAN, &a), FERRY_ERR_INVALID);
    ferry_dataset_free(ds);
}

Test(transform, rotate_45_zero_fill)
{
    float one[15 * 15];
    for (int i = 0; i < 225; i++) one[i] = 1;
    int32_t y = 0;
    ferry_dataset_t *ds, *rot;
    cr_assert_eq(ferry_dataset_from_arrays("ones", 1, 1, 15, 15, 1, one, &y, &ds), FERRY_OK);
    cr_assert_eq(ferry_dataset_rotate(ds, 45, &rot), FERRY_OK);
    cr_assert_str_eq(ferry_dataset_name(rot), "ones@rot45");
    const float *v = ferry_dataset_images(rot);
    cr_assert_float_eq(v[7 * 15 + 7], 1.0f, 1e-6); /* centre */
    cr_assert_float_eq(v[0], 0.0f, 1e-6); /* corners come from outside */
    cr_assert_float_eq(v[15 * 15 - 1], 0.0f, 1e-6);
    cr_assert_float_eq(v[0 * 15 + 7], 1.0f, 1e-6); /* edge midpoints stay inside */
    for (int i = 0; i < 225; i++) cr_assert(v[i] >= 0 && v[i] <= 1.0f + 1e-6f);
    ferry_dataset_free(ds);
    ferry_dataset_free(rot);
}

/* 0: red, 1: green, from which channel holds the image. */
static int colour_of(const float *img, size_t hw)
{
    float r = 0, g = 0, b = 0;
    for (size_t i = 0; i < hw; i++) r += img[i], g += img[hw + i], b += img[2 * hw + i];
    cr_assert_eq(b, 0.0f);
    cr_assert((r > 0) != (g > 0));
    return g > 0;
}

Test(transform, colorize_agreement_and_determinism)
{
    const int64_t n = 10000;
    ferry_dataset_t *ds = du_pattern("d", n, 1, 2, 2, 10), *a, *b, *c;
    /* du_pattern can make an all-zero image; give every image some ink. */
    float *x = (float *)ferry_dataset_images(ds);
    for (int64_t i = 0; i < n; i++) x[i * 4] = 0.5f;
    cr_assert_eq(ferry_dataset_colorize(ds, 0.9, 42, &a), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(a), "d@color0.9");
    int c3, h, w;
    ferry_dataset_geometry(a, &c3, &h, &w);
    cr_assert(c3 == 3 && h == 2 && w == 2);
    const float *ax = ferry_dataset_images(a);
    const int32_t *y = ferry_dataset_labels(a);
    int64_t agree = 0;
    for (int64_t i = 0; i < n; i++) {
        int col = colour_of(ax + i * 12, 4);
        agree += col == (y[i] & 1);
        cr_assert_eq(ax[i * 12 + col * 4], 0.5f); /* the grey value, moved into its channel */
        cr_assert_eq(y[i], ferry_dataset_labels(ds)[i]);
    }
    double rate = (double)agree / (double)n; /* sd 0.003 */
    cr_assert(fabs(rate - 0.9) < 0.015, "agreement %g, expected 0.9", rate);

    cr_assert_eq(ferry_dataset_colorize(ds, 0.9, 42, &b), FERRY_OK);
    cr_assert(memcmp(ax, ferry_dataset_images(b), pixels(a) * sizeof(float)) == 0,
              "same seed, other colours");
    ferry_dataset_free(b);
    cr_assert_eq(ferry_dataset_colorize(ds, 0.9, 43, &b), FERRY_OK);
    cr_assert(memcmp(ax, ferry_dataset_images(b), pixels(a) * sizeof(float)) != 0, "seed ignored");
    ferry_dataset_free(b);

    /* p = 1 and p = 0: always / never agreeing; from RGB input too. */
    cr_assert_eq(ferry_dataset_colorize(ds, 1.0, 7, &b), FERRY_OK);
    cr_assert_eq(ferry_dataset_colorize(a, 0.0, 7, &c), FERRY_OK);
    for (int64_t i = 0; i < n; i++) {
        cr_assert_eq(colour_of(ferry_dataset_images(b) + i * 12, 4), y[i] & 1);
        cr_assert_eq(colour_of(ferry_dataset_images(c) + i * 12, 4), !(y[i] & 1));
    }
    ferry_dataset_free(c);
    cr_assert_eq(ferry_dataset_colorize(ds, 1.5, 7, &c), FERRY_ERR_INVALID);
    cr_assert_null(c);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
    ferry_dataset_free(ds);
}

Test(transform, subset)
{
    ferry_dataset_t *ds = du_pattern("s", 6, 1, 3, 2, 4), *sub;
    const int64_t idx[] = {5, 0, 5};
    cr_assert_eq(ferry_dataset_subset(ds, idx, 3, NULL, &sub), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(sub), "s@subset3");
    cr_assert_eq(ferry_dataset_size(sub), 3);
    cr_assert_eq(ferry_dataset_classes(sub), 4);
    for (int i = 0; i < 3; i++) {
        cr_assert(memcmp(ferry_dataset_images(sub) + i * 6, ferry_dataset_images(ds) + idx[i] * 6,
                         6 * sizeof(float)) == 0);
        cr_assert_eq(ferry_dataset_labels(sub)[i], ferry_dataset_labels(ds)[idx[i]]);
    }
    ferry_dataset_free(sub);
    cr_assert_eq(ferry_dataset_subset(ds, idx, 2, "named", &sub), FERRY_OK);
    cr_assert_str_eq(ferry_dataset_name(sub), "named");
    ferry_dataset_free(sub);
    const int64_t bad[] = {1, 6};
    cr_assert_eq(ferry_dataset_subset(ds, bad, 2, NULL, &sub), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "index 6") != NULL, "%s", ferry_last_error());
    cr_assert_null(sub);
    cr_assert_eq(ferry_dataset_subset(ds, idx, 0, NULL, &sub), FERRY_ERR_INVALID);
    ferry_dataset_free(ds);
}

Test(transform, concat)
{
    ferry_dataset_t *a = du_pattern("a", 5, 1, 3, 2, 4), *b = du_pattern("b", 3, 1, 3, 2, 4), *j;
    cr_assert_eq(ferry_dataset_concat(a, b, NULL, &j), FERRY_OK, "%s", ferry_last_error());
    cr_assert_str_eq(ferry_dataset_name(j), "a+b");
    cr_assert_eq(ferry_dataset_size(j), 8);
    cr_assert_eq(ferry_dataset_classes(j), 4);
    for (int i = 0; i < 8; i++) {
        const ferry_dataset_t *from = i < 5 ? a : b;
        const int k = i < 5 ? i : i - 5;
        cr_assert(memcmp(ferry_dataset_images(j) + i * 6, ferry_dataset_images(from) + k * 6, 6 * sizeof(float)) == 0,
                  "row %d", i);
        cr_assert_eq(ferry_dataset_labels(j)[i], ferry_dataset_labels(from)[k], "row %d", i);
    }
    ferry_dataset_free(j);
    ferry_dataset_t *other = du_pattern("c", 2, 1, 2, 3, 4), *classes = du_pattern("d", 2, 1, 3, 2, 5);
    cr_assert_eq(ferry_dataset_concat(a, other, "x", &j), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "'a'") && strstr(ferry_last_error(), "'c'") &&
                  strstr(ferry_last_error(), "geometry"), "%s", ferry_last_error());
    cr_assert_null(j);
    cr_assert_eq(ferry_dataset_concat(a, classes, "x", &j), FERRY_ERR_INVALID);
    ferry_dataset_free(other);
    ferry_dataset_free(classes);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
}
