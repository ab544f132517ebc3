/* ferry_dataset_load_csv: plain and gzip CSV, and its rejections. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char tmp[TU_PATH];

static void setup(void) { tu_tmpdir(tmp); }
static void teardown(void) { tu_rmtree(tmp); }

TestSuite(csv, .init = setup, .fini = teardown, .timeout = 60 * FERRY_TIMEOUT_SCALE);

/* Writes text into tmp/name; path receives the full path. */
static void put(char path[TU_PATH], const char *name, const char *text)
{
    tu_join(path, tmp, name);
    tu_write(path, text, strlen(text));
}

/* Loads text as a 1×2×2 CSV with max 255 and expects failure s with a message containing the
 * file's path and want. */
static void expect_reject(const char *text, ferry_status s, const char *want)
{
    char path[TU_PATH];
    put(path, "bad.csv", text);
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 255, &ds), s, "%s", ferry_last_error());
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert(tu_msg_has(want), "'%s' lacks '%s'", ferry_last_error(), want);
}

static const char good_text[] = "label,p0,p1,p2,p3\n"
                                "0, 0, 255, 51, 102\n"
                                "\n"
                                "2,1.5,2,3,4\r\n"
                                "1,255,255,0,0"; /* no final newline, but complete */

static void check_good(const ferry_dataset_t *ds, const char *name)
{
    cr_assert_str_eq(ferry_dataset_name(ds), name);
    cr_assert_eq(ferry_dataset_size(ds), 3);
    cr_assert_eq(ferry_dataset_classes(ds), 3);
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert(c == 1 && h == 2 && w == 2);
    const int32_t *y = ferry_dataset_labels(ds);
    cr_assert(y[0] == 0 && y[1] == 2 && y[2] == 1);
    const float *x = ferry_dataset_images(ds);
    const float want[] = {0, 1, 0.2f, 0.4f, 1.5f / 255, 2.0f / 255, 3.0f / 255, 4.0f / 255, 1, 1, 0, 0};
    for (int i = 0; i < 12; i++) cr_assert_float_eq(x[i], want[i], 1e-6, "value %d: %g", i, (double)x[i]);
}

Test(csv, good_plain)
{
    char path[TU_PATH];
    put(path, "tiny.csv", good_text);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 255, &ds), FERRY_OK, "%s", ferry_last_error());
    check_good(ds, "tiny");
    ferry_dataset_free(ds);

    put(path, "noheader.csv", "3,1,2,3,4\n");
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 4, &ds), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(ds), 1);
    cr_assert_eq(ferry_dataset_classes(ds), 4);
    cr_assert_float_eq(ferry_dataset_images(ds)[3], 1.0f, 1e-7);
    ferry_dataset_free(ds);
}

Test(csv, good_gzip)
{
    char path[TU_PATH];
    tu_join(path, tmp, "tiny.csv.gz");
    gzFile gz = gzopen(path, "wb");
    cr_assert(gz != NULL);
    cr_assert_eq(gzwrite(gz, good_text, (unsigned)strlen(good_text)), (int)strlen(good_text));
    cr_assert_eq(gzclose(gz), Z_OK);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 255, &ds), FERRY_OK, "%s", ferry_last_error());
    check_good(ds, "tiny");
    ferry_dataset_free(ds);

    /* A cut-off gzip stream is an error, not a short data set. */
    size_t n;
    unsigned char *bytes = tu_read(path, &n);
    tu_join(path, tmp, "cut.csv.gz");
    tu_write(path, bytes, n - 12);
    free(bytes);
    ds = NULL;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 255, &ds), FERRY_ERR_FORMAT);
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert(tu_msg_has("gzip"), "%s", ferry_last_error());
}

Test(csv, wrong_dimensions)
{
    expect_reject("0,1,2,3,4\n1,1,2,3\n", FERRY_ERR_FORMAT, "line 2: 4 values, expected 1+4");
    expect_reject("h,a,b,c,d\n0,1,2,3,4\n1,1,2,3,4,5\n", FERRY_ERR_FORMAT, "line 3: 6 values, expected 1+4");
}

Test(csv, non_numeric)
{
    expect_reject("0,1,2,3,4\n1,1,2,x3,4\n", FERRY_ERR_FORMAT, "line 2: field 4 \"x3\" is not a number");
    expect_reject("0,1,2,3,4\n1,1,,3,4\n", FERRY_ERR_FORMAT, "line 2: field 3 \"\" is not a number");
    expect_reject("0,1,2,3,4\nseven,1,2,3,4\n", FERRY_ERR_FORMAT, "line 2: label \"seven\" is not a number");
}

Test(csv, bad_labels_and_values)
{
    expect_reject("0,1,2,3,4\n-1,1,2,3,4\n", FERRY_ERR_FORMAT, "line 2: label -1 is negative");
    expect_reject("0.5,1,2,3,4\n", FERRY_ERR_FORMAT, "line 1: label 0.5 is not a whole number");
    expect_reject("0,1,2,300,4\n", FERRY_ERR_FORMAT, "line 1: field 4: value 300 is outside [0, 255]");
    expect_reject("0,1,2,nan,4\n", FERRY_ERR_FORMAT, "is outside");
}

Test(csv, truncated_and_empty)
{
    expect_reject("0,1,2,3,4\n1,1,2", FERRY_ERR_FORMAT,
                  "line 2: truncated last line (3 values, expected 1+4)");
    expect_reject("", FERRY_ERR_FORMAT, "empty file");
    expect_reject("\n\n", FERRY_ERR_FORMAT, "empty file");
    expect_reject("label,a,b,c,d\n", FERRY_ERR_FORMAT, "no examples after the header");

    char path[TU_PATH];
    tu_join(path, tmp, "missing.csv");
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 255, &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    put(path, "ok.csv", "0,1,2,3,4\n");
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 2, 2, 0, &ds), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_dataset_load_csv(path, 0, 2, 2, 255, &ds), FERRY_ERR_INVALID);
}

/* A short file under a large geometry: its rows are checked before room is made for them, and room
 * is made for fewer rows of large images (found by fuzzing: 256 rows of 1x16384x16384 were allocated,
 * 256 GB, before the first row was read). */
Test(csv, large_geometry_refuses_a_short_row_without_allocating_for_it)
{
    char path[TU_PATH];
    put(path, "short.csv", "0,1,2,3,4\n1,5,6,7,8\n");
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 16384, 16384, 255, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path) && tu_msg_has("line 1: 5 values, expected 1+268435456"), "%s", ferry_last_error());
    /* a wide image still loads, row after row */
    char *text = malloc(2 * (2 + 2 * 100000) + 1), *p = text;
    for (int r = 0; r < 2; r++) {
        p += sprintf(p, "%d", r);
        for (int i = 0; i < 100000; i++) p += sprintf(p, ",%d", (i + r) % 2);
        *p++ = '\n';
    }
    *p = '\0';
    put(path, "wide.csv", text);
    free(text);
    cr_assert_eq(ferry_dataset_load_csv(path, 1, 1, 100000, 1, &ds), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(ds), 2);
    cr_assert_eq(ferry_dataset_images(ds)[100000 + 1], 0.0f);
    ferry_dataset_free(ds);
}

/* A geometry of 2^31 values: the label column is checked against the row's size without int
 * overflow (found by fuzzing through a csv: domain spec), and the short rows are refused. */
Test(csv, label_column_checked_against_a_row_of_2_31_values)
{
    char path[TU_PATH];
    put(path, "short.csv", "0,1,2,3,4\n1,5,6,7,8\n");
    ferry_dataset_t *ds = NULL;
    cr_assert_eq(ferry_dataset_load_csv(path, 8, 16384, 16384, 255, &ds), FERRY_ERR_FORMAT, "%s", ferry_last_error());
    cr_assert_null(ds);
    cr_assert(tu_msg_has(path) && tu_msg_has("5 values, expected 1+2147483648"), "%s", ferry_last_error());
}
