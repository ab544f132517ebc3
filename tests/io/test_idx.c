/* IDX reading and writing, plain and gzip, and the rejection of malformed files. */
#include <criterion/criterion.h>

#include "ferry/io.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

static char dir[TU_PATH];

static void setup(void) { tu_tmpdir(dir); }
static void teardown(void) { tu_rmtree(dir); }

TestSuite(idx, .init = setup, .fini = teardown);

static size_t esize(ferry_idx_type t)
{
    return t == FERRY_IDX_F64 ? 8 : t == FERRY_IDX_I32 || t == FERRY_IDX_F32 ? 4 : t == FERRY_IDX_I16 ? 2 : 1;
}

/* Writes idx to dir/name, reads it back and compares everything bit for bit. */
static void round_trip(const char *name, const ferry_idx *idx)
{
    char path[TU_PATH];
    tu_join(path, dir, name);
    cr_assert_eq(ferry_idx_write(path, idx), FERRY_OK, "%s", ferry_last_error());
    ferry_idx back;
    cr_assert_eq(ferry_idx_read(path, &back), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(back.type, idx->type);
    cr_assert_eq(back.ndim, idx->ndim);
    for (int d = 0; d < idx->ndim; d++) cr_assert_eq(back.dims[d], idx->dims[d]);
    cr_assert_eq(back.count, idx->count);
    cr_assert(memcmp(back.data, idx->data, idx->count * esize(idx->type)) == 0, "data differs");
    ferry_idx_free(&back);
}

/* Bit patterns chosen to catch byte-order and float-canonicalisation bugs. */
static const uint32_t f32_bits[] = {0x7fc00001u, 0xffc12345u, 0x00000001u,
                                    0x807fffffu, 0x3f800000u, 0x80000000u};

Test(idx, round_trip_every_type_plain_and_gzip)
{
    static uint8_t u8[2 * 3 * 4];
    static int16_t i16[5] = {-32768, -1, 0, 258, 32767};
    static int32_t i32[2][2] = {{INT32_MIN, -2}, {0x01020304, INT32_MAX}};
    static float f32[6];
    static double f64[3] = {NAN, 5e-324, -1.0 / 3};
    for (size_t i = 0; i < sizeof u8; i++) u8[i] = (uint8_t)(i * 37);
    memcpy(f32, f32_bits, sizeof f32);
    const ferry_idx cases[] = {
        {FERRY_IDX_U8, 3, {2, 3, 4}, 24, u8},     {FERRY_IDX_I8, 1, {24}, 24, u8},
        {FERRY_IDX_I16, 1, {5}, 5, i16},          {FERRY_IDX_I32, 2, {2, 2}, 4, i32},
        {FERRY_IDX_F32, 4, {1, 2, 1, 3}, 6, f32}, {FERRY_IDX_F64, 1, {3}, 3, f64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        round_trip("a.idx", &cases[i]);
        round_trip("a.idx.gz", &cases[i]);
    }
}

Test(idx, writes_big_endian_and_gzip_by_suffix)
{
    int16_t v[2] = {0x0102, -2};
    ferry_idx idx = {FERRY_IDX_I16, 1, {2}, 2, v};
    char path[TU_PATH];
    tu_join(path, dir, "x.idx");
    cr_assert_eq(ferry_idx_write(path, &idx), FERRY_OK);
    size_t n;
    unsigned char *b = tu_read(path, &n);
    const unsigned char want[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe};
    cr_assert(n == sizeof want && memcmp(b, want, n) == 0, "not the big-endian IDX layout");
    free(b);
    tu_join(path, dir, "x.idx.gz");
    cr_assert_eq(ferry_idx_write(path, &idx), FERRY_OK);
    b = tu_read(path, &n);
    cr_assert(n > 2 && b[0] == 0x1f && b[1] == 0x8b, "not gzip");
    free(b);
    cr_assert_eq(tu_count_entries(dir), 2, "temp files left behind");
}

Test(idx, reads_hand_made_big_endian_file)
{
    const unsigned char file[] = {0, 0, 0x0C, 2,    0,    0,    0,    1,    0,    0,
                                  0, 2, 0xff, 0xff, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04};
    char path[TU_PATH];
    tu_join(path, dir, "hand.idx");
    tu_write(path, file, sizeof file);
    ferry_idx idx;
    cr_assert_eq(ferry_idx_read(path, &idx), FERRY_OK, "%s", ferry_last_error());
    const int32_t *v = idx.data;
    cr_assert(idx.type == FERRY_IDX_I32 && idx.ndim == 2 && idx.dims[0] == 1 && idx.dims[1] == 2 &&
              idx.count == 2);
    cr_assert(v[0] == -2 && v[1] == 0x01020304);
    ferry_idx_free(&idx);
}

/* Writes the bytes (gzip-compressed when gz), reads, expects FERRY_ERR_FORMAT naming the file and
 * containing `what`. */
static void expect_bad(const void *bytes, size_t n, bool gz, const char *what)
{
    char path[TU_PATH];
    tu_join(path, dir, gz ? "bad.idx.gz" : "bad.idx");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert(f != NULL);
        cr_assert(n == 0 || gzwrite(f, bytes, (unsigned)n) == (int)n);
        cr_assert(gzclose(f) == Z_OK);
    } else {
        tu_write(path, bytes, n);
    }
    ferry_idx idx;
    ferry_status s = ferry_idx_read(path, &idx);
    cr_assert_eq(s, FERRY_ERR_FORMAT, "%s: got %s: %s", what, ferry_status_name(s), ferry_last_error());
    cr_assert(tu_msg_has(path), "message does not name the file: %s", ferry_last_error());
    cr_assert(tu_msg_has(what), "expected '%s' in: %s", what, ferry_last_error());
    cr_assert(idx.data == NULL);
}

Test(idx, rejects_bad_magic)
{
    const unsigned char f1[] = {1, 0, 8, 1, 0, 0, 0, 1, 7};
    const unsigned char f2[] = {0, 0, 0x0A, 1, 0, 0, 0, 1, 7}; /* unknown type */
    expect_bad(f1, sizeof f1, false, "bad magic");
    expect_bad(f2, sizeof f2, true, "bad magic");
    expect_bad(f1, 2, false, "truncated");
}

Test(idx, rejects_bad_dimension_counts)
{
    const unsigned char zero[] = {0, 0, 8, 0};
    const unsigned char five[] = {0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9};
    expect_bad(zero, sizeof zero, false, "0 dimensions");
    expect_bad(five, sizeof five, false, "5 dimensions");
}

Test(idx, rejects_zero_negative_and_overflowing_sizes)
{
    const unsigned char zero[] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0};
    const unsigned char neg[] = {0, 0, 8, 1, 0x80, 0, 0, 0};
    const unsigned char big[] = {0,    0,    0x0E, 4,    0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff,
                                 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff};
    expect_bad(zero, sizeof zero, false, "dimension 1 is 0");
    expect_bad(neg, sizeof neg, false, "dimension 0 is -2147483648");
    expect_bad(big, sizeof big, false, "overflow");
}

Test(idx, rejects_truncated_data)
{
    const unsigned char hdr_cut[] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0};
    const unsigned char data_cut[] = {0, 0, 0x0D, 1, 0, 0, 0, 3, 0x3f, 0x80, 0, 0, 0x40, 0, 0, 0, 0x40};
    expect_bad(hdr_cut, sizeof hdr_cut, false, "truncated");
    expect_bad(data_cut, sizeof data_cut, false, "truncated: 9 of 12 data bytes");
    expect_bad(data_cut, sizeof data_cut, true, "truncated: 9 of 12 data bytes");
}

Test(idx, rejects_sizes_not_matching_the_data)
{
    /* dims say 2×2 = 4 bytes, the file holds 6 */
    const unsigned char extra[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6};
    expect_bad(extra, sizeof extra, false, "trailing garbage");
    expect_bad(extra, sizeof extra, true, "trailing garbage");
}

Test(idx, rejects_corrupt_gzip_stream)
{
    uint8_t v[4096];
    for (size_t i = 0; i < sizeof v; i++) v[i] = (uint8_t)(i * i);
    ferry_idx idx = {FERRY_IDX_U8, 1, {4096}, 4096, v};
    char path[TU_PATH];
    tu_join(path, dir, "c.idx.gz");
    cr_assert_eq(ferry_idx_write(path, &idx), FERRY_OK);
    size_t n;
    unsigned char *b = tu_read(path, &n);
    tu_write(path, b, n - 10); /* cut the stream short */
    ferry_idx back;
    cr_assert_eq(ferry_idx_read(path, &back), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has(path));
    b[n / 2] ^= 0x55; /* damage the middle */
    tu_write(path, b, n);
    cr_assert_eq(ferry_idx_read(path, &back), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has(path));
    free(b);
}

Test(idx, missing_file)
{
    char path[TU_PATH];
    tu_join(path, dir, "absent.idx");
    ferry_idx idx;
    cr_assert_eq(ferry_idx_read(path, &idx), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path));
}

Test(idx, write_rejects_inconsistent_struct)
{
    uint8_t v[6] = {0};
    ferry_idx idx = {FERRY_IDX_U8, 2, {2, 3}, 5, v};
    char path[TU_PATH];
    tu_join(path, dir, "w.idx");
    cr_assert_eq(ferry_idx_write(path, &idx), FERRY_ERR_INVALID);
    idx.count = 6, idx.dims[1] = 0;
    cr_assert_eq(ferry_idx_write(path, &idx), FERRY_ERR_INVALID);
    cr_assert_eq(tu_count_entries(dir), 0);
}
