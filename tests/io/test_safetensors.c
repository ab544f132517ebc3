/* safetensors: bit-exact round trips and one test per kind of malformed file. */
#include <criterion/criterion.h>

#include "ferry/io.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[TU_PATH], path[TU_PATH];

static void setup(void)
{
    tu_tmpdir(dir);
    tu_join(path, dir, "x.safetensors");
}
static void teardown(void) { tu_rmtree(dir); }

TestSuite(safetensors, .init = setup, .fini = teardown);

/* ==== round trips ============================================================================== */

Test(safetensors, round_trip_is_bit_exact)
{
    static const uint32_t bits[] = {0x7fc00000u, 0xffffffffu, 0x7f800001u, 0x00000001u, 0x807fffffu,
                                    0x80000000u, 0x7f800000u, 0xff800000u, 0x3eaaaaabu, 0x00800000u};
    static const int32_t ints[2][3] = {{INT32_MIN, -1, 0}, {1, 0x01020304, INT32_MAX}};
    static const float scalar = 2.5f;
    const ferry_st_entry in[] = {
        {"z.weight", FERRY_F32, 2, {2, 5}, bits, sizeof bits},
        {"a.index", FERRY_I32, 2, {2, 3}, ints, sizeof ints},
        {"m.scalar", FERRY_F32, 0, {0}, &scalar, 4},
        {"m.empty", FERRY_F32, 2, {0, 7}, NULL, 0},
        {"b.4d", FERRY_F32, 4, {1, 1, 1, 1}, &scalar, 4},
    };
    const char *keys[] = {"format", "note"}, *vals[] = {"pt", "grüße"};
    cr_assert_eq(ferry_safetensors_write(path, in, 5, keys, vals, 2), FERRY_OK, "%s", ferry_last_error());

    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(path, &st), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_safetensors_count(st), 5);
    for (size_t i = 0; i < 5; i++) {
        const ferry_st_entry *e = ferry_safetensors_find(st, in[i].name);
        cr_assert(e != NULL, "%s missing", in[i].name);
        cr_assert_eq(e->dtype, in[i].dtype);
        cr_assert_eq(e->ndim, in[i].ndim);
        for (int d = 0; d < e->ndim; d++) cr_assert_eq(e->shape[d], in[i].shape[d]);
        cr_assert_eq(e->nbytes, in[i].nbytes);
        cr_assert(e->nbytes == 0 || memcmp(e->data, in[i].data, e->nbytes) == 0, "%s differs", e->name);
        cr_assert((uintptr_t)e->data % 4 == 0, "%s misaligned", e->name);
    }
    /* entries come back sorted by name */
    for (size_t i = 1; i < 5; i++)
        cr_assert(strcmp(ferry_safetensors_entry(st, i - 1)->name, ferry_safetensors_entry(st, i)->name) < 0);
    cr_assert_null(ferry_safetensors_entry(st, 5));
    cr_assert_null(ferry_safetensors_find(st, "nope"));
    cr_assert_str_eq(ferry_safetensors_meta(st, "format"), "pt");
    cr_assert_str_eq(ferry_safetensors_meta(st, "note"), "grüße");
    cr_assert_null(ferry_safetensors_meta(st, "absent"));
    cr_assert_str_eq(ferry_safetensors_path(st), path);
    ferry_safetensors_free(st);
}

Test(safetensors, file_layout_follows_the_spec)
{
    const float w[3] = {1, 2, 3}, b[1] = {4};
    const ferry_st_entry in[] = {{"w", FERRY_F32, 1, {3}, w, 12}, {"b", FERRY_F32, 1, {1}, b, 4}};
    cr_assert_eq(ferry_safetensors_write(path, in, 2, NULL, NULL, 0), FERRY_OK);
    size_t n;
    unsigned char *f = tu_read(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f[i];
    cr_assert(hlen % 8 == 0 && 8 + hlen + 16 == n, "header length %llu, file %zu", (unsigned long long)hlen,
              n);
    char *header = strndup((char *)f + 8, hlen);
    cr_assert(strstr(header, "\"b\":{\"data_offsets\":[0,4]") != NULL, "%s", header);
    cr_assert(strstr(header, "\"w\":{\"data_offsets\":[4,16]") != NULL, "%s", header);
    cr_assert(strstr(header, "__metadata__") == NULL);
    cr_assert(memcmp(f + 8 + hlen, b, 4) == 0 && memcmp(f + 8 + hlen + 4, w, 12) == 0, "not name order");
    free(header);
    free(f);
    cr_assert_eq(tu_count_entries(dir), 1, "temp file left behind");
}

Test(safetensors, empty_file_of_tensors)
{
    cr_assert_eq(ferry_safetensors_write(path, NULL, 0, NULL, NULL, 0), FERRY_OK);
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(path, &st), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_safetensors_count(st), 0);
    ferry_safetensors_free(st);
}

Test(safetensors, write_rejects_duplicates_and_bad_sizes)
{
    const float v[2] = {0};
    ferry_st_entry in[] = {{"a", FERRY_F32, 1, {2}, v, 8}, {"a", FERRY_F32, 1, {2}, v, 8}};
    cr_assert_eq(ferry_safetensors_write(path, in, 2, NULL, NULL, 0), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("duplicate"));
    in[1].name = "b", in[1].nbytes = 4;
    cr_assert_eq(ferry_safetensors_write(path, in, 2, NULL, NULL, 0), FERRY_ERR_INVALID);
    cr_assert_eq(tu_count_entries(dir), 0);
}

/* ==== hand-made files ========================================================================== */

/* Writes: u64 header length, header text (unpadded), then n data bytes. */
static void write_raw(const char *header, size_t data_n)
{
    size_t h = strlen(header);
    unsigned char *f = calloc(1, 8 + h + data_n);
    for (int i = 0; i < 8; i++) f[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(f + 8, header, h);
    for (size_t i = 0; i < data_n; i++) f[8 + h + i] = (unsigned char)i;
    tu_write(path, f, 8 + h + data_n);
    free(f);
}

/* Opening must fail with status s and a message naming the file and containing each of what. */
static void expect_reject(ferry_status s, const char *what1, const char *what2)
{
    ferry_safetensors_t *st = (void *)1;
    ferry_status got = ferry_safetensors_open(path, &st);
    cr_assert_eq(got, s, "expected %s, got %s: %s", ferry_status_name(s), ferry_status_name(got),
                 ferry_last_error());
    cr_assert_null(st);
    cr_assert(tu_msg_has(path), "message does not name the file: %s", ferry_last_error());
    cr_assert(tu_msg_has(what1), "expected '%s' in: %s", what1, ferry_last_error());
    cr_assert(!what2 || tu_msg_has(what2), "expected '%s' in: %s", what2, ferry_last_error());
}

#define ENTRY(name, dtype, shape, b, e)                                                                      \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

Test(safetensors, accepts_a_hand_made_file)
{
    write_raw("{" ENTRY("a", "F32", "[2]", 0, 8) "," ENTRY("b", "I32", "[]", 8, 12) "}", 12);
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(path, &st), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *b = ferry_safetensors_find(st, "b");
    cr_assert(b && b->dtype == FERRY_I32 && b->ndim == 0 && b->nbytes == 4);
    cr_assert(memcmp(b->data, (unsigned char[]){8, 9, 10, 11}, 4) == 0);
    cr_assert((uintptr_t)b->data % 4 == 0, "data not aligned though the header length is odd");
    ferry_safetensors_free(st);
}

Test(safetensors, rejects_file_shorter_than_8_bytes)
{
    tu_write(path, "\x02\0\0\0\0", 5);
    expect_reject(FERRY_ERR_FORMAT, "shorter than the 8-byte header length", NULL);
}

Test(safetensors, rejects_header_length_past_end)
{
    const unsigned char f[] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    tu_write(path, f, sizeof f);
    expect_reject(FERRY_ERR_FORMAT, "header length 100 runs past the end of the file", NULL);
}

Test(safetensors, rejects_absurd_header_length)
{
    const unsigned char f[] = {0, 0, 0, 0, 0, 0, 0, 0x10, '{', '}'};
    tu_write(path, f, sizeof f);
    expect_reject(FERRY_ERR_FORMAT, "absurdly large", NULL);
}

Test(safetensors, rejects_invalid_json)
{
    write_raw("{\"a\": {\"dtype\": \"F32\",", 0);
    expect_reject(FERRY_ERR_FORMAT, "header is not valid JSON", NULL);
}

Test(safetensors, rejects_header_not_object)
{
    write_raw("[1, 2, 3]", 0);
    expect_reject(FERRY_ERR_FORMAT, "header is not a JSON object", NULL);
}

Test(safetensors, rejects_entry_not_object)
{
    write_raw("{\"a\": [1, 2]}", 0);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "not a JSON object");
}

Test(safetensors, rejects_missing_dtype)
{
    write_raw("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "missing \"dtype\"");
}

Test(safetensors, rejects_missing_shape)
{
    write_raw("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "missing \"shape\"");
}

Test(safetensors, rejects_missing_data_offsets)
{
    write_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "missing \"data_offsets\"");
}

Test(safetensors, rejects_dtype_not_string)
{
    write_raw("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"dtype\" is not a string");
}

Test(safetensors, rejects_shape_wrong_type)
{
    write_raw("{" ENTRY("a", "F32", "\"1x1\"", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"shape\" is not an array of non-negative integers");
    write_raw("{" ENTRY("a", "F32", "[1.0]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"shape\" is not an array");
    write_raw("{" ENTRY("a", "F32", "[-1]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"shape\" is not an array");
}

Test(safetensors, rejects_data_offsets_wrong_type)
{
    write_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"data_offsets\" is not an array of two");
    write_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"begin\":0}}}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "\"data_offsets\" is not an array of two");
}

Test(safetensors, rejects_unsupported_spec_dtype)
{
    write_raw("{" ENTRY("h", "F16", "[2]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_UNSUPPORTED, "tensor 'h'", "dtype F16 is not supported");
    write_raw("{" ENTRY("m", "BOOL", "[4]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_UNSUPPORTED, "tensor 'm'", "BOOL");
}

Test(safetensors, rejects_unknown_dtype)
{
    write_raw("{" ENTRY("a", "F33", "[1]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "unknown dtype \"F33\"");
}

Test(safetensors, rejects_size_mismatch)
{
    write_raw("{" ENTRY("fc.weight", "F32", "[2,3]", 0, 20) "}", 20);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'fc.weight'", "shape [2, 3] x F32 (4 bytes) = 24 bytes");
}

Test(safetensors, rejects_begin_after_end)
{
    write_raw("{" ENTRY("a", "F32", "[1]", 8, 4) "}", 8);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'a'", "data_offsets [8, 4] begin after end");
}

Test(safetensors, rejects_range_past_data_section)
{
    write_raw("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("b", "F32", "[2]", 4, 12) "}", 8);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'b'", "[4, 12) runs past the end of the data section (8 bytes)");
}

Test(safetensors, rejects_overlapping_ranges)
{
    write_raw(
        "{" ENTRY("fc.bias", "F32", "[100]", 0, 400) "," ENTRY("fc.weight", "F32", "[100]", 200, 600) "}",
        600);
    expect_reject(FERRY_ERR_FORMAT, "tensor 'fc.weight': data range [200, 600) overlaps 'fc.bias' [0, 400)",
                  NULL);
}

Test(safetensors, rejects_holes_and_trailing_bytes)
{
    write_raw("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("b", "F32", "[1]", 8, 12) "}", 12);
    expect_reject(FERRY_ERR_FORMAT, "bytes [4, 8) of the data section belong to no tensor", NULL);
    write_raw("{" ENTRY("a", "F32", "[1]", 0, 4) "}", 6);
    expect_reject(FERRY_ERR_FORMAT, "bytes [4, 6) at the end of the data section belong to no tensor", NULL);
}

Test(safetensors, rejects_more_than_4_dims)
{
    write_raw("{" ENTRY("a", "F32", "[1,1,1,1,1]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_UNSUPPORTED, "tensor 'a'", "5 dimensions");
}

Test(safetensors, rejects_duplicate_names)
{
    write_raw("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("a", "F32", "[1]", 4, 8) "}", 8);
    expect_reject(FERRY_ERR_FORMAT, "duplicate tensor name", "\"a\"");
}

Test(safetensors, rejects_bad_metadata)
{
    write_raw("{\"__metadata__\":{\"epochs\":3}," ENTRY("a", "F32", "[1]", 0, 4) "}", 4);
    expect_reject(FERRY_ERR_FORMAT, "\"__metadata__\" value for 'epochs' is not a string", NULL);
    write_raw("{\"__metadata__\":[]}", 0);
    expect_reject(FERRY_ERR_FORMAT, "\"__metadata__\" is not a JSON object", NULL);
}

Test(safetensors, missing_file)
{
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(path, &st), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path));
}

/* A PyTorch state dict's counters (num_batches_tracked, a 0-d I64) are read: 8 bytes an element. */
Test(safetensors, reads_i64_counters)
{
    write_raw("{" ENTRY("bn.num_batches_tracked", "I64", "[]", 0, 8) "," ENTRY("w", "F32", "[2]", 8, 16) "}", 16);
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(path, &st), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *e = ferry_safetensors_find(st, "bn.num_batches_tracked");
    cr_assert_not_null(e);
    cr_assert_eq(e->dtype, FERRY_I64);
    cr_assert_eq(e->ndim, 0);
    cr_assert_eq(e->nbytes, 8);
    ferry_safetensors_free(st);
    write_raw("{" ENTRY("n", "I64", "[2]", 0, 8) "}", 8); /* two I64 need 16 bytes */
    expect_reject(FERRY_ERR_FORMAT, "tensor 'n'", "I64 (8 bytes) = 16 bytes");
}
