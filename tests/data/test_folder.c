/* ferry_dataset_load_folder: class folders of PNG/JPEG/BMP files, and its rejections. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[TU_PATH];

static void setup(void) { tu_tmpdir(tmp); }
static void teardown(void) { tu_rmtree(tmp); }

TestSuite(folder, .init = setup, .fini = teardown, .timeout = 60 * FERRY_TIMEOUT_SCALE);

/* Three classes: grey and RGBA PNGs of other sizes, an exact-size RGB BMP, a JPEG, a grey+alpha
 * PNG; plus hidden entries and a stray file that must be skipped. */
static void make_good(char root[TU_PATH])
{
    char cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "digits");
    du_mkdir(cls, root, "a-zero");
    tu_join(path, cls, "1.png");
    du_write_flat(path, 20, 20, 1, (const unsigned char[]){200});
    tu_join(path, cls, "2.png");
    du_write_flat(path, 10, 12, 4, (const unsigned char[]){255, 0, 0, 17});
    tu_join(path, cls, ".DS_Store");
    tu_write(path, "junk", 4);

    du_mkdir(cls, root, "b-one");
    unsigned char grad[16 * 16 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            unsigned char *p = grad + (y * 16 + x) * 3;
            p[0] = (unsigned char)(x * 16), p[1] = (unsigned char)(y * 16), p[2] = 100;
        }
    tu_join(path, cls, "a.bmp");
    du_write_image(path, 16, 16, 3, grad);
    tu_join(path, cls, "b.jpg");
    du_write_flat(path, 32, 24, 3, (const unsigned char[]){128, 128, 128});

    du_mkdir(cls, root, "c-two");
    tu_join(path, cls, "x.png");
    du_write_flat(path, 8, 8, 2, (const unsigned char[]){51, 255});

    du_mkdir(cls, root, ".hidden");
    tu_join(path, root, "README.txt");
    tu_write(path, "not a class", 11);
}

static void expect_flat(const float *img, size_t n, float v, float tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(img[i] - v) <= tol, "%s: pixel %zu is %g, expected %g", what, i, (double)img[i],
                  (double)v);
}

Test(folder, good_rgb)
{
    char root[TU_PATH];
    make_good(root);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load_folder(root, 3, 16, 16, &ds), FERRY_OK, "%s", ferry_last_error());
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert_eq(c, 3);
    cr_assert_eq(h, 16);
    cr_assert_eq(w, 16);
    cr_assert_eq(ferry_dataset_size(ds), 5);
    cr_assert_eq(ferry_dataset_classes(ds), 3);
    cr_assert_str_eq(ferry_dataset_name(ds), "digits");
    const int32_t *y = ferry_dataset_labels(ds);
    const int32_t want[] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++) cr_assert_eq(y[i], want[i], "label %d", i);

    const float *x = ferry_dataset_images(ds);
    const size_t hw = 256, per = 3 * hw;
    /* 1.png: grey 200 replicated. */
    expect_flat(x, per, 200 / 255.0f, 1e-5f, "grey png");
    /* 2.png: red, alpha dropped. */
    expect_flat(x + per, hw, 1.0f, 1e-5f, "rgba png red");
    expect_flat(x + per + hw, 2 * hw, 0.0f, 1e-5f, "rgba png green+blue");
    /* a.bmp: already 16x16, so exact. */
    const float *b = x + 2 * per;
    for (int yy = 0; yy < 16; yy++)
        for (int xx = 0; xx < 16; xx++) {
            cr_assert_eq(b[yy * 16 + xx], (float)(xx * 16) / 255.0f);
            cr_assert_eq(b[hw + yy * 16 + xx], (float)(yy * 16) / 255.0f);
            cr_assert_eq(b[2 * hw + yy * 16 + xx], 100 / 255.0f);
        }
    /* b.jpg: lossy, but a flat grey stays close. */
    expect_flat(x + 3 * per, per, 128 / 255.0f, 3 / 255.0f, "jpeg");
    /* x.png: grey + alpha, upsampled 8 -> 16. */
    expect_flat(x + 4 * per, per, 51 / 255.0f, 1e-5f, "grey+alpha png");
    ferry_dataset_free(ds);
}

Test(folder, good_grey_and_deterministic)
{
    char root[TU_PATH];
    make_good(root);
    ferry_dataset_t *a, *b;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 12, 10, &a), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 12, 10, &b), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(a), 5);
    const float *x = ferry_dataset_images(a);
    expect_flat(x, 120, 200 / 255.0f, 1e-5f, "grey png");
    expect_flat(x + 120, 120, 0.299f, 1e-5f, "red -> luminance");
    cr_assert(memcmp(x, ferry_dataset_images(b), 5 * 120 * sizeof(float)) == 0);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
}

Test(folder, truncated_image)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "set");
    du_mkdir(cls, root, "k");
    unsigned char noise[32 * 32 * 3];
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)((i * 2654435761u) >> 13);
    tu_join(path, cls, "ok.png");
    du_write_image(path, 32, 32, 3, noise);
    size_t n;
    void *bytes = tu_read(path, &n);
    tu_join(path, cls, "cut.png");
    tu_write(path, bytes, n / 2);
    free(bytes);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 3, 8, 8, &ds), FERRY_ERR_FORMAT);
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert(tu_msg_has("corrupt or truncated image"), "%s", ferry_last_error());
}

Test(folder, non_image_file)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "set");
    du_mkdir(cls, root, "k");
    tu_join(path, cls, "a.png");
    du_write_flat(path, 4, 4, 1, (const unsigned char[]){9});
    tu_join(path, cls, "notes.txt");
    tu_write(path, "hello, this is text\n", 20);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT);
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert(tu_msg_has("not an image"), "%s", ferry_last_error());
}

Test(folder, empty_class_folder)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "set");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "a.png");
    du_write_flat(path, 4, 4, 1, (const unsigned char[]){9});
    du_mkdir(cls, root, "b");
    tu_join(path, cls, ".keep");
    tu_write(path, "", 0);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has(cls), "%s", ferry_last_error());
    cr_assert(tu_msg_has("empty class folder"), "%s", ferry_last_error());
}

Test(folder, no_classes)
{
    char root[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "set");
    tu_join(path, root, "loose.png");
    du_write_flat(path, 4, 4, 1, (const unsigned char[]){9});
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has(root), "%s", ferry_last_error());
    cr_assert(tu_msg_has("no class sub-folders"), "%s", ferry_last_error());

    tu_join(path, tmp, "missing");
    cr_assert_eq(ferry_dataset_load_folder(path, 1, 4, 4, &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_load_folder(root, 2, 4, 4, &ds), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 0, 4, &ds), FERRY_ERR_INVALID);
}

/* A white image shrunk from 3x35 to 8x8: the resize filters' weights add up to 1 only to rounding,
 * and a pixel came out 1 + 1 ulp; every pixel stays in [0, 1] (found by fuzzing). */
Test(folder, resized_pixels_stay_in_unit_range)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "white");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "w.pgm");
    unsigned char pgm[128];
    int head = snprintf((char *)pgm, sizeof pgm, "P5\n3 35\n255\n");
    memset(pgm + head, 255, 3 * 35);
    tu_write(path, pgm, (size_t)head + 3 * 35);
    for (int c = 1; c <= 3; c += 2) {
        ferry_dataset_t *ds;
        cr_assert_eq(ferry_dataset_load_folder(root, c, 8, 8, &ds), FERRY_OK, "%s", ferry_last_error());
        const float *x = ferry_dataset_images(ds);
        for (int i = 0; i < c * 64; i++) cr_assert(x[i] >= 0 && x[i] <= 1, "pixel %d is %.9g", i, (double)x[i]);
        ferry_dataset_free(ds);
    }
}

/* A JPEG whose Huffman table counts add up to more than 256 codes is refused before it is decoded:
 * Debian's stb_image writes past its table then (found by fuzzing the folder loader with stb_image
 * instrumented). */
Test(folder, jpeg_with_an_oversized_huffman_table)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "jpegs");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "bad.jpg");
    unsigned char jpg[2 + 4 + 17 + 2] = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 2 + 17, 0x00};
    for (int i = 0; i < 16; i++) jpg[7 + i] = 255;
    jpg[23] = 0xFF, jpg[24] = 0xD9;
    tu_write(path, jpg, sizeof jpg);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path) && tu_msg_has("corrupt JPEG: a Huffman table of 4080 codes"), "%s", ferry_last_error());
    /* a good JPEG in its place loads (stb_image_write's has a DHT segment of four tables) */
    du_write_flat(path, 6, 6, 3, (const unsigned char[]){10, 200, 30});
    cr_assert_eq(ferry_dataset_load_folder(root, 3, 4, 4, &ds), FERRY_OK, "%s", ferry_last_error());
    ferry_dataset_free(ds);
}

/* The same, with the table's counts cut off by the end of the file: the decoder reads zeros there and
 * still builds the table, so the counts present are what is checked (found by fuzzing). */
Test(folder, jpeg_with_an_oversized_huffman_table_at_the_end_of_the_file)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "jpegs");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "cut.jpg");
    /* SOI, then a DHT segment claiming 35073 bytes of which 4 counts (4 x 255 codes) are present */
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xC4, 0x89, 0x01, 0x01, 255, 255, 255, 255};
    tu_write(path, jpg, sizeof jpg);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert(tu_msg_has(path) && tu_msg_has("a Huffman table of 1020 codes"), "%s", ferry_last_error());
}

/* The decoder takes FF FF D8 (a fill byte before the start marker) for a JPEG too: the check does as
 * well (found by fuzzing). */
Test(folder, jpeg_with_a_fill_byte_before_its_start_marker_is_checked)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "jpegs");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "fill.jpg");
    const unsigned char jpg[] = {0xFF, 0xFF, 0xFF, 0xD8, 0xFF, 0xC4, 0x00, 19, 0x10, 255, 255, 255, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xD9};
    tu_write(path, jpg, sizeof jpg);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 1, 4, 4, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert(tu_msg_has(path) && tu_msg_has("a Huffman table of 765 codes"), "%s", ferry_last_error());
}

/* A PNG whose IDAT chunk claims far more bytes than the file holds is refused before decoding:
 * stb_image makes room for the announced data first (2 GB for a 101-byte file, found by fuzzing). */
Test(folder, png_chunk_longer_than_the_file)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    du_mkdir(root, tmp, "pngs");
    du_mkdir(cls, root, "a");
    tu_join(path, cls, "ok.png");
    du_write_flat(path, 3, 2, 3, (const unsigned char[]){1, 2, 3});
    size_t n;
    unsigned char *png = tu_read(path, &n);
    cr_assert(n > 41 && !memcmp(png + 37, "IDAT", 4));
    png[33] = 0x7F, png[34] = 0xFF, png[35] = 0xFF, png[36] = 0xF0; /* the IDAT length */
    tu_write(path, png, n);
    free(png);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_folder(root, 3, 4, 4, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert(tu_msg_has(path) && tu_msg_has("corrupt or truncated image (PNG chunk 'IDAT' claims 2147483632 bytes"),
              "%s", ferry_last_error());
}
