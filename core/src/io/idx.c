/* IDX files (magic 00 00 type ndim, big-endian u32 dims, big-endian payload), plain or gzip. */
#include "ferry/io.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#define CHUNK (1u << 30) /* zlib counts bytes in unsigned int */

static size_t type_size(int type)
{
    switch (type) {
    case FERRY_IDX_U8:
    case FERRY_IDX_I8: return 1;
    case FERRY_IDX_I16: return 2;
    case FERRY_IDX_I32:
    case FERRY_IDX_F32: return 4;
    case FERRY_IDX_F64: return 8;
    default: return 0;
    }
}

/* Converts between big-endian and host order in place (its own inverse). */
static void swap_be(void *data, size_t count, size_t esize)
{
    const uint16_t one = 1;
    if (esize == 1 || *(const unsigned char *)&one == 0) return; /* big-endian host */
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Reads up to n bytes; *got is how many came (fewer only at the end of the data). FERRY_ERR_FORMAT
 * if zlib reports corrupt or cut-off gzip data, FERRY_ERR_IO for read errors. */
static ferry_status read_some(gzFile gz, const char *path, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < CHUNK ? n - *got : CHUNK;
        int k = gzread(gz, (char *)buf + *got, (unsigned)want);
        if (k <= 0) break;
        *got += (size_t)k;
    }
    int code;
    const char *msg = gzerror(gz, &code);
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0) msg += plen + 2;
    if (code == Z_ERRNO) return ferry_error(FERRY_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    if (*got < n && code != Z_OK) /* zlib reports a gzip stream that ends early as Z_BUF_ERROR */
        return ferry_error(FERRY_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", path, msg);
    return FERRY_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the magic and the raw big-endian dimension sizes (4 bytes each) into raw. */
static ferry_status read_header(gzFile gz, const char *path, ferry_idx *out, unsigned char *raw)
{
    unsigned char magic[4];
    size_t got;
    ferry_status s = read_some(gz, path, magic, 4, &got);
    if (s) return s;
    if (got < 4)
        return ferry_error(FERRY_ERR_FORMAT, "%s: truncated: file shorter than the 4-byte magic", path);
    if (magic[0] != 0 || magic[1] != 0 || type_size(magic[2]) == 0)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: bad magic %02x %02x %02x %02x (expected 00 00 TYPE NDIM with "
                           "TYPE one of 08 09 0b 0c 0d 0e)",
                           path, magic[0], magic[1], magic[2], magic[3]);
    if (magic[3] == 0 || magic[3] > FERRY_MAX_DIMS)
        return ferry_error(FERRY_ERR_FORMAT, "%s: %d dimensions in the magic (must be 1 to %d)", path,
                           magic[3], FERRY_MAX_DIMS);
    out->type = (ferry_idx_type)magic[2];
    out->ndim = magic[3];
    if ((s = read_some(gz, path, raw, 4 * (size_t)out->ndim, &got))) return s;
    if (got < 4 * (size_t)out->ndim)
        return ferry_error(FERRY_ERR_FORMAT, "%s: truncated: header ends inside the %d dimension sizes", path,
                           out->ndim);
    return FERRY_OK;
}

/* Fills dims and count from the raw big-endian sizes, rejecting zero, negative and overflowing ones. */
static ferry_status parse_dims(const char *path, const unsigned char *raw, ferry_idx *out, size_t *bytes)
{
    size_t count = 1;
    for (int d = 0; d < out->ndim; d++) {
        int64_t v = (int32_t)be32(raw + 4 * d);
        if (v <= 0)
            return ferry_error(FERRY_ERR_FORMAT, "%s: dimension %d is %lld (must be positive)", path, d,
                               (long long)v);
        out->dims[d] = v;
        if (__builtin_mul_overflow(count, (size_t)v, &count))
            return ferry_error(FERRY_ERR_FORMAT, "%s: dimension sizes overflow (product too large)", path);
    }
    if (__builtin_mul_overflow(count, type_size(out->type), bytes) || *bytes > (size_t)PTRDIFF_MAX)
        return ferry_error(FERRY_ERR_FORMAT, "%s: dimension sizes overflow (%zu elements too large)", path,
                           count);
    out->count = count;
    return FERRY_OK;
}

/* Reads exactly `bytes` payload bytes into a buffer grown as data arrives (so a header that claims a
 * huge size cannot make a small file allocate it), then checks that nothing follows. */
static ferry_status read_payload(gzFile gz, const char *path, size_t bytes, void **data)
{
    size_t cap = bytes < (1u << 20) ? bytes : (1u << 20), have = 0, got = 0;
    char *buf = malloc(cap ? cap : 1);
    if (!buf) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    ferry_status s = FERRY_OK;
    while (!s && have < bytes) {
        if (have == cap) {
            cap = bytes - cap < cap ? bytes : 2 * cap;
            char *grown = realloc(buf, cap);
            if (!grown) {
                s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, cap);
                break;
            }
            buf = grown;
        }
        size_t want = cap - have;
        if ((s = read_some(gz, path, buf + have, want, &got))) break;
        have += got;
        if (got < want)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: truncated: %zu of %zu data bytes present", path, have,
                            bytes);
    }
    char extra;
    if (!s && !(s = read_some(gz, path, &extra, 1, &got)) && got > 0)
        s = ferry_error(FERRY_ERR_FORMAT,
                        "%s: trailing garbage after the %zu data bytes (the header's sizes do "
                        "not match the file)",
                        path, bytes);
    if (s) {
        free(buf);
        return s;
    }
    *data = buf;
    return FERRY_OK;
}

ferry_status ferry_idx_read(const char *path, ferry_idx *out)
{
    memset(out, 0, sizeof *out);
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        int err = errno;
        return ferry_error(err == ENOENT ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO, "%s: cannot open: %s", path,
                           err ? strerror(err) : "out of memory");
    }
    gzbuffer(gz, 1u << 17);
    unsigned char raw[4 * FERRY_MAX_DIMS];
    size_t bytes = 0;
    ferry_status s = read_header(gz, path, out, raw);
    if (!s) s = parse_dims(path, raw, out, &bytes);
    if (!s) s = read_payload(gz, path, bytes, &out->data);
    gzclose(gz);
    if (s) {
        memset(out, 0, sizeof *out);
        return s;
    }
    swap_be(out->data, out->count, type_size(out->type));
    return FERRY_OK;
}

void ferry_idx_free(ferry_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* ---- writing -------------------------------------------------------------------------------- */

static ferry_status check_for_write(const char *path, const ferry_idx *idx, size_t *bytes)
{
    size_t esize = type_size(idx->type), count = 1;
    if (esize == 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: unknown IDX element type 0x%02x", path, idx->type);
    if (idx->ndim < 1 || idx->ndim > FERRY_MAX_DIMS)
        return ferry_error(FERRY_ERR_INVALID, "%s: %d dimensions (must be 1 to %d)", path, idx->ndim,
                           FERRY_MAX_DIMS);
    for (int d = 0; d < idx->ndim; d++) {
        if (idx->dims[d] <= 0 || idx->dims[d] > INT32_MAX)
            return ferry_error(FERRY_ERR_INVALID, "%s: dimension %d is %lld (must be 1 to %d)", path, d,
                               (long long)idx->dims[d], INT32_MAX);
        if (__builtin_mul_overflow(count, (size_t)idx->dims[d], &count))
            return ferry_error(FERRY_ERR_INVALID, "%s: dimension sizes overflow", path);
    }
    if (count != idx->count)
        return ferry_error(FERRY_ERR_INVALID, "%s: count %zu is not the product of the dims (%zu)", path,
                           idx->count, count);
    if (__builtin_mul_overflow(count, esize, bytes) || *bytes > (size_t)PTRDIFF_MAX - 32)
        return ferry_error(FERRY_ERR_INVALID, "%s: data too large", path);
    if (!idx->data) return ferry_error(FERRY_ERR_INVALID, "%s: no data", path);
    return FERRY_OK;
}

/* The whole file image: magic, big-endian dims, big-endian payload. */
static unsigned char *encode(const ferry_idx *idx, size_t bytes, size_t *n)
{
    size_t head = 4 + 4 * (size_t)idx->ndim;
    unsigned char *buf = malloc(head + bytes);
    if (!buf) return NULL;
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)idx->type;
    buf[3] = (unsigned char)idx->ndim;
    for (int d = 0; d < idx->ndim; d++) {
        uint32_t v = (uint32_t)idx->dims[d];
        unsigned char *p = buf + 4 + 4 * d;
        p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    }
    memcpy(buf + head, idx->data, bytes);
    swap_be(buf + head, idx->count, type_size(idx->type));
    *n = head + bytes;
    return buf;
}

/* gzip-compresses n bytes into a malloc'd buffer. */
static ferry_status gzip_mem(const char *path, const unsigned char *in, size_t n, unsigned char **out,
                             size_t *out_n)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ferry_error(FERRY_ERR_NOMEM, "%s: cannot start gzip compression", path);
    size_t cap = deflateBound(&zs, n), in_pos = 0, out_pos = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? Z_OK : Z_MEM_ERROR;
    while (rc == Z_OK) {
        size_t in_k = n - in_pos < CHUNK ? n - in_pos : CHUNK,
               out_k = cap - out_pos < CHUNK ? cap - out_pos : CHUNK;
        zs.next_in = in + in_pos, zs.avail_in = (unsigned)in_k;
        zs.next_out = buf + out_pos, zs.avail_out = (unsigned)out_k;
        rc = deflate(&zs, in_pos + in_k == n ? Z_FINISH : Z_NO_FLUSH);
        in_pos += in_k - zs.avail_in;
        out_pos += out_k - zs.avail_out;
    }
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return ferry_error(FERRY_ERR_NOMEM, "%s: gzip compression failed (zlib code %d)", path, rc);
    }
    *out = buf;
    *out_n = out_pos;
    return FERRY_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

ferry_status ferry_idx_write(const char *path, const ferry_idx *idx)
{
    size_t bytes = 0, n = 0;
    ferry_status s = check_for_write(path, idx, &bytes);
    if (s) return s;
    unsigned char *image = encode(idx, bytes, &n);
    if (!image) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    if (ends_with(path, ".gz")) {
        unsigned char *gz = NULL;
        size_t gz_n = 0;
        s = gzip_mem(path, image, n, &gz, &gz_n);
        free(image);
        if (s) return s;
        image = gz, n = gz_n;
    }
    s = ferry_write_file_atomic(path, image, n);
    free(image);
    return s;
}
