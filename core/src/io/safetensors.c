/* safetensors: u64 little-endian header length N, N bytes of JSON header (padded with spaces),
 * then the data section, which the tensors' data_offsets index without holes or overlaps. */
#include "ferry/io.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define MAX_HEADER 100000000ull /* the reference implementation's limit */

struct ferry_safetensors {
    char *path;
    unsigned char *base; /* allocation holding the file image */
    unsigned char *buf;  /* the file image inside base, placed so that the data section is 8-byte aligned */
    json_t *header;      /* owns the tensor names */
    json_t *meta;        /* borrowed from header; NULL if absent */
    ferry_st_entry *e;   /* sorted by name */
    size_t n;
};

/* Byte range of one tensor inside the data section. */
struct span {
    uint64_t begin, end;
    const char *name;
};

/* Every dtype of the safetensors spec; Ferry holds F32 and I32 only. */
static const char *const spec_dtypes[] = {
    "BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16",     "BF16",
    "I32",  "U32", "F32", "F64",     "I64",     "U64",     "C64", "F4",  "F6_E2M3", "F6_E3M2",
};

static bool is_spec_dtype(const char *s)
{
    for (size_t i = 0; i < sizeof spec_dtypes / sizeof spec_dtypes[0]; i++)
        if (strcmp(s, spec_dtypes[i]) == 0) return true;
    return false;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* "[2, 3]" for messages. */
static const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* Elements × 4 bytes, false on overflow. */
static bool shape_bytes(const int64_t *shape, int ndim, ferry_dtype dtype, uint64_t *bytes)
{
    uint64_t n = ferry_dtype_size(dtype);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[d], &n)) return false;
    *bytes = n;
    return true;
}

/* ==== reading ================================================================================== */

/* A JSON array of `want` (or any number if want < 0) non-negative integers, at most `max` of them. */
static bool int_array(const json_t *a, int want, size_t max, int64_t *out, size_t *n)
{
    if (!json_is_array(a) || (want >= 0 && json_array_size(a) != (size_t)want)) return false;
    *n = json_array_size(a);
    for (size_t i = 0; i < *n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
        if (i < max) out[i] = json_integer_value(v);
    }
    return true;
}

static ferry_status parse_dtype(const char *path, const char *name, const json_t *v, ferry_dtype *dtype)
{
    const json_t *d = json_object_get(v, "dtype");
    if (!d) return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
    if (!json_is_string(d))
        return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    const char *s = json_string_value(d);
    if (strcmp(s, "F32") == 0 || strcmp(s, "I32") == 0 || strcmp(s, "I64") == 0) {
        *dtype = s[0] == 'F' ? FERRY_F32 : s[1] == '3' ? FERRY_I32 : FERRY_I64;
        return FERRY_OK;
    }
    if (is_spec_dtype(s))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "%s: tensor '%s': dtype %s is not supported (Ferry reads F32, "
                           "I32 and I64)",
                           path, name, s);
    return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name, s);
}

static ferry_status parse_shape(const char *path, const char *name, const json_t *v, ferry_st_entry *e)
{
    const json_t *a = json_object_get(v, "shape");
    size_t n = 0;
    if (!a) return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
    if (!int_array(a, -1, FERRY_MAX_DIMS, e->shape, &n))
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: tensor '%s': \"shape\" is not an array of non-negative "
                           "integers",
                           path, name);
    if (n > FERRY_MAX_DIMS)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "%s: tensor '%s': %zu dimensions (Ferry supports at most %d)", path, name, n,
                           FERRY_MAX_DIMS);
    e->ndim = (int)n;
    return FERRY_OK;
}

static ferry_status parse_offsets(const char *path, const char *name, const json_t *v, struct span *sp)
{
    const json_t *a = json_object_get(v, "data_offsets");
    int64_t off[2];
    size_t n;
    if (!a) return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);
    if (!int_array(a, 2, 2, off, &n))
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: tensor '%s': \"data_offsets\" is not an array of two "
                           "non-negative integers",
                           path, name);
    sp->begin = (uint64_t)off[0], sp->end = (uint64_t)off[1], sp->name = name;
    if (sp->begin > sp->end)
        return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] begin after end",
                           path, name, (unsigned long long)sp->begin, (unsigned long long)sp->end);
    return FERRY_OK;
}

/* One tensor entry: types, dtype, shape and byte range (within data_size) consistent. */
static ferry_status parse_entry(const char *path, const char *name, const json_t *v,
                                const unsigned char *data, uint64_t data_size, ferry_st_entry *e,
                                struct span *sp)
{
    ferry_status s;
    char sh[96];
    uint64_t bytes;
    e->name = name;
    if (!json_is_object(v))
        return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    if ((s = parse_dtype(path, name, v, &e->dtype)) || (s = parse_shape(path, name, v, e)) ||
        (s = parse_offsets(path, name, v, sp)))
        return s;
    if (!shape_bytes(e->shape, e->ndim, e->dtype, &bytes))
        return ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path, name,
                           shape_str(e->shape, e->ndim, sh, sizeof sh));
    if (bytes != sp->end - sp->begin)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: tensor '%s': shape %s x %s (%zu bytes) = %llu bytes but "
                           "data_offsets [%llu, %llu) hold %llu",
                           path, name, shape_str(e->shape, e->ndim, sh, sizeof sh),
                           ferry_dtype_name(e->dtype), ferry_dtype_size(e->dtype), (unsigned long long)bytes,
                           (unsigned long long)sp->begin, (unsigned long long)sp->end,
                           (unsigned long long)(sp->end - sp->begin));
    if (sp->end > data_size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: tensor '%s': data range [%llu, %llu) runs past the end of the "
                           "data section (%llu bytes)",
                           path, name, (unsigned long long)sp->begin, (unsigned long long)sp->end,
                           (unsigned long long)data_size);
    e->nbytes = (size_t)bytes;
    e->data = data + sp->begin;
    return FERRY_OK;
}

static ferry_status check_metadata(const char *path, const json_t *meta)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(meta))
        return ferry_error(FERRY_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    json_object_foreach ((json_t *)meta, key, v)
        if (!json_is_string(v))
            return ferry_error(FERRY_ERR_FORMAT, "%s: \"__metadata__\" value for '%s' is not a string", path,
                               key);
    return FERRY_OK;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The non-empty ranges must tile the data section exactly: no overlap, no hole, nothing after. */
static ferry_status check_tiling(const char *path, struct span *sp, size_t n, uint64_t data_size)
{
    qsort(sp, n, sizeof *sp, span_cmp);
    uint64_t pos = 0;
    const struct span *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].begin == sp[i].end) continue;
        if (sp[i].begin < pos)
            return ferry_error(FERRY_ERR_FORMAT,
                               "%s: tensor '%s': data range [%llu, %llu) overlaps '%s' [%llu, %llu)", path,
                               sp[i].name, (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end,
                               prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (sp[i].begin > pos)
            return ferry_error(FERRY_ERR_FORMAT,
                               "%s: bytes [%llu, %llu) of the data section belong to no tensor", path,
                               (unsigned long long)pos, (unsigned long long)sp[i].begin);
        pos = sp[i].end;
        prev = &sp[i];
    }
    if (pos != data_size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: bytes [%llu, %llu) at the end of the data section belong to no tensor", path, (unsigned long long)pos, (unsigned long long)data_size);
    return FERRY_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ferry_st_entry *)a)->name, ((const ferry_st_entry *)b)->name);
}

/* Parses every entry of the header object, checks the ranges and points the entries at the data. */
static ferry_status parse_entries(ferry_safetensors_t *st, const unsigned char *data, uint64_t data_size)
{
    size_t cap = json_object_size(st->header);
    struct span *sp = calloc(cap + 1, sizeof *sp);
    st->e = calloc(cap + 1, sizeof *st->e);
    if (!sp || !st->e) {
        free(sp);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", st->path);
    }
    const char *key;
    json_t *v;
    ferry_status s = FERRY_OK;
    json_object_foreach (st->header, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((s = check_metadata(st->path, v))) break;
            st->meta = v;
            continue;
        }
        if ((s = parse_entry(st->path, key, v, data, data_size, &st->e[st->n], &sp[st->n]))) break;
        st->n++;
    }
    if (!s) s = check_tiling(st->path, sp, st->n, data_size);
    free(sp);
    if (!s) qsort(st->e, st->n, sizeof *st->e, entry_cmp);
    return s;
}

static ferry_status parse_header(ferry_safetensors_t *st, const unsigned char *img, size_t hlen)
{
    json_error_t err;
    st->header = json_loadb((const char *)img, hlen, JSON_REJECT_DUPLICATES, &err);
    if (!st->header && json_error_code(&err) == json_error_duplicate_key)
        return ferry_error(FERRY_ERR_FORMAT, "%s: duplicate tensor name in header (%s)", st->path, err.text);
    if (!st->header)
        return ferry_error(FERRY_ERR_FORMAT, "%s: header is not valid JSON: %s (header byte %d)", st->path,
                           err.text, err.position);
    if (!json_is_object(st->header))
        return ferry_error(FERRY_ERR_FORMAT, "%s: header is not a JSON object", st->path);
    return FERRY_OK;
}

/* Reads the file into st->buf with the data section 8-byte aligned; *hlen = header length. */
static ferry_status load_image(ferry_safetensors_t *st, size_t *size, size_t *hlen)
{
    void *raw;
    ferry_status s = ferry_read_file(st->path, &raw, size);
    if (s) return s;
    if (*size < 8) {
        free(raw);
        return ferry_error(FERRY_ERR_FORMAT, "%s: file is %zu bytes, shorter than the 8-byte header length",
                           st->path, *size);
    }
    uint64_t n = get_le64(raw);
    if (n > MAX_HEADER || n > *size - 8) {
        free(raw);
        return ferry_error(FERRY_ERR_FORMAT, "%s: header length %llu %s (file is %zu bytes)", st->path,
                           (unsigned long long)n,
                           n > MAX_HEADER ? "is absurdly large" : "runs past the end of the file", *size);
    }
    *hlen = (size_t)n;
    size_t pad = (8 - *hlen % 8) % 8;
    st->base = pad ? realloc(raw, *size + pad) : raw;
    if (!st->base) {
        free(raw);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", st->path);
    }
    memmove(st->base + pad, st->base, *size);
    st->buf = st->base + pad;
    return FERRY_OK;
}

ferry_status ferry_safetensors_open(const char *path, ferry_safetensors_t **out)
{
    *out = NULL;
    ferry_safetensors_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t size = 0, hlen = 0;
    ferry_status s = load_image(st, &size, &hlen);
    if (!s) s = parse_header(st, st->buf + 8, hlen);
    if (!s) s = parse_entries(st, st->buf + 8 + hlen, size - 8 - hlen);
    if (s) {
        ferry_safetensors_free(st);
        return s;
    }
    *out = st;
    return FERRY_OK;
}

size_t ferry_safetensors_count(const ferry_safetensors_t *st) { return st ? st->n : 0; }

const ferry_st_entry *ferry_safetensors_entry(const ferry_safetensors_t *st, size_t i)
{
    return st && i < st->n ? &st->e[i] : NULL;
}

const ferry_st_entry *ferry_safetensors_find(const ferry_safetensors_t *st, const char *name)
{
    if (!st || !name) return NULL;
    ferry_st_entry key = {.name = name};
    return bsearch(&key, st->e, st->n, sizeof *st->e, entry_cmp);
}

const char *ferry_safetensors_meta(const ferry_safetensors_t *st, const char *key)
{
    return st && st->meta && key ? json_string_value(json_object_get(st->meta, key)) : NULL;
}

const char *ferry_safetensors_path(const ferry_safetensors_t *st) { return st ? st->path : NULL; }

void ferry_safetensors_free(ferry_safetensors_t *st)
{
    if (!st) return;
    free(st->base);
    json_decref(st->header);
    free(st->e);
    free(st->path);
    free(st);
}

/* ==== writing ================================================================================== */

static ferry_status check_entry(const char *path, const ferry_st_entry *e)
{
    uint64_t bytes;
    if (!e->name || strcmp(e->name, "__metadata__") == 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: tensor name '%s' is not allowed", path,
                           e->name ? e->name : "(null)");
    if (e->dtype != FERRY_F32 && e->dtype != FERRY_I32 && e->dtype != FERRY_I64)
        return ferry_error(FERRY_ERR_INVALID, "%s: tensor '%s': unknown dtype %d", path, e->name,
                           (int)e->dtype);
    if (e->ndim < 0 || e->ndim > FERRY_MAX_DIMS || !shape_bytes(e->shape, e->ndim, e->dtype, &bytes))
        return ferry_error(FERRY_ERR_INVALID, "%s: tensor '%s': bad shape (%d dims)", path, e->name, e->ndim);
    if (bytes != e->nbytes)
        return ferry_error(FERRY_ERR_INVALID,
                           "%s: tensor '%s': nbytes %zu does not match its shape (%llu bytes)", path, e->name,
                           e->nbytes, (unsigned long long)bytes);
    if (!e->data && e->nbytes > 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: tensor '%s': no data", path, e->name);
    return FERRY_OK;
}

static int entry_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(const ferry_st_entry *const *)a)->name, (*(const ferry_st_entry *const *)b)->name);
}

static json_t *entry_json(const ferry_st_entry *e, size_t begin)
{
    json_t *shape = json_array();
    for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", ferry_dtype_name(e->dtype), "shape", shape,
                     "data_offsets", (json_int_t)begin, (json_int_t)(begin + e->nbytes));
}

static ferry_status add_metadata(const char *path, json_t *root, const char *const *keys,
                                 const char *const *values, size_t n)
{
    if (n == 0) return FERRY_OK;
    json_t *meta = json_object();
    json_object_set_new(root, "__metadata__", meta);
    for (size_t i = 0; i < n; i++) {
        json_t *v = keys[i] && values[i] ? json_string(values[i]) : NULL;
        if (!v || json_object_set_new(meta, keys[i], v) != 0)
            return ferry_error(FERRY_ERR_INVALID, "%s: metadata entry %zu ('%s') is NULL or not valid UTF-8",
                               path, i, keys[i] ? keys[i] : "(null)");
    }
    return FERRY_OK;
}

/* The JSON header of the sorted entries, padded with spaces to a multiple of 8. */
static ferry_status build_header(const char *path, const ferry_st_entry *const *sorted, size_t n,
                                 const char *const *keys, const char *const *values, size_t n_meta,
                                 char **out, size_t *len, size_t *data_size)
{
    json_t *root = json_object();
    ferry_status s = add_metadata(path, root, keys, values, n_meta);
    size_t off = 0;
    for (size_t i = 0; i < n && !s; i++) {
        json_t *e = entry_json(sorted[i], off);
        if (!e || json_object_set_new(root, sorted[i]->name, e) != 0)
            s = ferry_error(FERRY_ERR_INVALID, "%s: tensor name '%s' is not valid UTF-8", path,
                            sorted[i]->name);
        off += sorted[i]->nbytes;
    }
    char *text = s ? NULL : json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (s) return s;
    size_t k = text ? strlen(text) : 0, padded = (k + 7) / 8 * 8;
    *out = text ? realloc(text, padded) : NULL;
    if (!*out) {
        free(text);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    }
    memset(*out + k, ' ', padded - k);
    *len = padded;
    *data_size = off;
    return FERRY_OK;
}

/* Sorted pointers to the entries; rejects invalid entries and duplicate names. */
static ferry_status sort_entries(const char *path, const ferry_st_entry *entries, size_t n,
                                 const ferry_st_entry ***out)
{
    ferry_status s = FERRY_OK;
    for (size_t i = 0; i < n && !s; i++) s = check_entry(path, &entries[i]);
    if (s) return s;
    const ferry_st_entry **p = malloc((n + 1) * sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) p[i] = &entries[i];
    qsort(p, n, sizeof *p, entry_ptr_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(p[i - 1]->name, p[i]->name) == 0) {
            s = ferry_error(FERRY_ERR_INVALID, "%s: duplicate tensor name '%s'", path, p[i]->name);
            free(p);
            return s;
        }
    *out = p;
    return FERRY_OK;
}

ferry_status ferry_safetensors_write(const char *path, const ferry_st_entry *entries, size_t n,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     size_t n_meta)
{
    const ferry_st_entry **sorted = NULL;
    char *header = NULL;
    size_t hlen = 0, data_size = 0;
    ferry_status s = sort_entries(path, entries, n, &sorted);
    if (!s) s = build_header(path, sorted, n, meta_keys, meta_values, n_meta, &header, &hlen, &data_size);
    unsigned char *image = s ? NULL : malloc(8 + hlen + data_size);
    if (!s && !image) s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        put_le64(image, hlen);
        memcpy(image + 8, header, hlen);
        unsigned char *p = image + 8 + hlen;
        for (size_t i = 0; i < n; p += sorted[i]->nbytes, i++)
            if (sorted[i]->nbytes) memcpy(p, sorted[i]->data, sorted[i]->nbytes);
        s = ferry_write_file_atomic(path, image, 8 + hlen + data_size);
    }
    free(image);
    free(header);
    free(sorted);
    return s;
}
