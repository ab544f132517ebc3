/* Ferry — file formats: SHA-256 checks, IDX, safetensors. Host memory only; no graph involved. */
#ifndef FERRY_IO_H
#define FERRY_IO_H

#include "ferry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checksums ---------------------------------------------------------------------------- */

/* SHA-256 of a whole file as 64 lowercase hex digits + NUL. */
ferry_status ferry_sha256_file(const char *path, char hex_out[65]);
/* SHA-256 of a memory block. */
void ferry_sha256_mem(const void *data, size_t n, char hex_out[65]);
/* FERRY_ERR_CHECKSUM with a message naming the file, the expected and the actual digest. */
ferry_status ferry_verify_file(const char *path, const char *expected_hex);

/* ---- IDX (LeCun's MNIST format), plain or gzip-compressed (detected by magic) ---------------- */

typedef enum ferry_idx_type {
    FERRY_IDX_U8 = 0x08, FERRY_IDX_I8 = 0x09, FERRY_IDX_I16 = 0x0B,
    FERRY_IDX_I32 = 0x0C, FERRY_IDX_F32 = 0x0D, FERRY_IDX_F64 = 0x0E,
} ferry_idx_type;

typedef struct ferry_idx {
    ferry_idx_type type;
    int ndim;                      /* 1..FERRY_MAX_DIMS */
    int64_t dims[FERRY_MAX_DIMS];
    size_t count;                  /* product of dims */
    void *data;                    /* count elements, host byte order, malloc'd */
} ferry_idx;

/* Reads a whole IDX file. Errors name the file and the problem (bad magic, truncated, sizes). */
ferry_status ferry_idx_read(const char *path, ferry_idx *out);
/* Writes uncompressed IDX (big-endian as the format requires); gzip if path ends in ".gz".
 * Atomic: temp file, fsync, rename. */
ferry_status ferry_idx_write(const char *path, const ferry_idx *idx);
void ferry_idx_free(ferry_idx *idx);

/* ---- safetensors --------------------------------------------------------------------------- */

/* One tensor of a safetensors file. For reading, data points into the loaded file image. */
typedef struct ferry_st_entry {
    const char *name;
    ferry_dtype dtype;
    int ndim;                      /* 0..FERRY_MAX_DIMS (0 = scalar) */
    int64_t shape[FERRY_MAX_DIMS];
    const void *data;
    size_t nbytes;
} ferry_st_entry;

/* Writes entries (sorted by name in the file, data 8-byte aligned as the spec recommends) with an
 * optional flat string->string metadata map (keys[i] -> values[i]). Atomic: temp, fsync, rename. */
ferry_status ferry_safetensors_write(const char *path, const ferry_st_entry *entries, size_t n,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     size_t n_meta);

typedef struct ferry_safetensors ferry_safetensors_t;

/* Loads and validates a file: header length within the file, JSON header well-formed, known
 * dtypes, shape × dtype size == byte range, ranges inside the data section and non-overlapping.
 * Every rejection names the file and the tensor or field concerned. */
ferry_status ferry_safetensors_open(const char *path, ferry_safetensors_t **out);
size_t ferry_safetensors_count(const ferry_safetensors_t *st);
const ferry_st_entry *ferry_safetensors_entry(const ferry_safetensors_t *st, size_t i);
const ferry_st_entry *ferry_safetensors_find(const ferry_safetensors_t *st, const char *name);
/* Metadata value for key, or NULL. */
const char *ferry_safetensors_meta(const ferry_safetensors_t *st, const char *key);
const char *ferry_safetensors_path(const ferry_safetensors_t *st);
void ferry_safetensors_free(ferry_safetensors_t *st);

/* ---- small file helpers ---------------------------------------------------------------------- */

/* Writes bytes to path atomically (path.tmp.PID, fsync, rename, fsync dir). */
ferry_status ferry_write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file into a malloc'd buffer (*data, *n bytes; free() it). FERRY_ERR_NOT_FOUND
 * if the file does not exist, FERRY_ERR_IO for other failures. */
ferry_status ferry_read_file(const char *path, void **data, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
