/* Parameter stores: named persistent tensors in backend memory, saved as safetensors. */
#include "internal.h"
#include "ferry/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_entry {
    char name[128];
    ferry_dtype dtype;
    int ndim;
    int64_t shape[FERRY_MAX_DIMS];
    int64_t numel;
    bool trainable;
    ferry_buffer *buf;
};

struct ferry_store {
    ferry_backend_t *be;
    struct store_entry *e;
    int n, cap;
};

ferry_status ferry_store_init(ferry_backend_t *be, ferry_store_t **out)
{
    ferry_store_t *st = calloc(1, sizeof *st);
    if (!st) return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a parameter store");
    st->be = be;
    *out = st;
    return FERRY_OK;
}

void ferry_store_free(ferry_store_t *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) ferry_backend_release(st->be, st->e[i].buf);
    free(st->e);
    free(st);
}

ferry_status ferry_store_add(ferry_store_t *st, const char *name, ferry_dtype dtype, int ndim,
                             const int64_t *shape, bool trainable)
{
    if (strlen(name) >= sizeof st->e[0].name)
        return ferry_error(FERRY_ERR_INVALID, "parameter name '%s' is too long", name);
    if (ferry_store_find(st, name) >= 0)
        return ferry_error(FERRY_ERR_INVALID, "parameter '%s' already exists", name);
    if (ndim < 0 || ndim > FERRY_MAX_DIMS)
        return ferry_error(FERRY_ERR_SHAPE, "parameter '%s': %d dimensions", name, ndim);
    if (dtype != FERRY_F32 && dtype != FERRY_I32)
        return ferry_error(FERRY_ERR_INVALID, "parameter '%s': a store holds F32 and I32, not %s", name,
                           ferry_dtype_name(dtype));
    int64_t dims[FERRY_MAX_DIMS]; /* shape may point into this store's entries, which can move */
    for (int i = 0; i < ndim; i++) dims[i] = shape[i];
    shape = dims;
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 32;
        struct store_entry *e = realloc(st->e, (size_t)cap * sizeof *e);
        if (!e) return ferry_error(FERRY_ERR_NOMEM, "out of memory adding '%s'", name);
        st->e = e;
        st->cap = cap;
    }
    struct store_entry *e = &st->e[st->n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return ferry_error(FERRY_ERR_SHAPE, "parameter '%s': dimension %d is %lld", name, i,
                               (long long)shape[i]);
        e->shape[i] = shape[i];
        e->numel *= shape[i];
    }
    e->trainable = trainable;
    size_t bytes = (size_t)e->numel * ferry_dtype_size(dtype);
    ferry_status s = ferry_backend_alloc(st->be, bytes, &e->buf);
    if (s == FERRY_ERR_NOMEM) s = ferry_error(s, "parameter '%s' (%zu bytes): %s", name, bytes, ferry_last_error());
    if (s) return s;
    /* zero-initialise */
    void *zeros = calloc(1, bytes);
    if (!zeros) return ferry_error(FERRY_ERR_NOMEM, "out of memory adding '%s' (%zu bytes)", name, bytes);
    s = st->be->iface->upload(st->be, e->buf, 0, zeros, bytes);
    free(zeros);
    if (s) return s;
    st->n++;
    return FERRY_OK;
}

int ferry_store_count(const ferry_store_t *st) { return st->n; }

int ferry_store_find(const ferry_store_t *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->e[i].name, name) == 0) return i;
    return -1;
}

const char *ferry_store_name(const ferry_store_t *st, int i) { return st->e[i].name; }
int ferry_store_ndim(const ferry_store_t *st, int i) { return st->e[i].ndim; }
const int64_t *ferry_store_shape(const ferry_store_t *st, int i) { return st->e[i].shape; }
int64_t ferry_store_numel(const ferry_store_t *st, int i) { return st->e[i].numel; }
bool ferry_store_trainable(const ferry_store_t *st, int i) { return st->e[i].trainable; }
ferry_buffer *ferry_store_buffer(ferry_store_t *st, int i) { return st->e[i].buf; }
ferry_backend_t *ferry_store_backend(ferry_store_t *st) { return st->be; }

static size_t entry_bytes(const struct store_entry *e)
{
    return (size_t)e->numel * ferry_dtype_size(e->dtype);
}

ferry_status ferry_store_set(ferry_store_t *st, int i, const void *data, size_t nbytes)
{
    if (i < 0 || i >= st->n) return ferry_error(FERRY_ERR_INVALID, "store index %d out of range", i);
    if (nbytes != entry_bytes(&st->e[i]))
        return ferry_error(FERRY_ERR_SHAPE, "parameter '%s' holds %zu bytes, not %zu", st->e[i].name,
                           entry_bytes(&st->e[i]), nbytes);
    st->be->stats.bytes_uploaded += nbytes;
    return st->be->iface->upload(st->be, st->e[i].buf, 0, data, nbytes);
}

ferry_status ferry_store_get(const ferry_store_t *st, int i, void *data, size_t nbytes)
{
    if (i < 0 || i >= st->n) return ferry_error(FERRY_ERR_INVALID, "store index %d out of range", i);
    if (nbytes != entry_bytes(&st->e[i]))
        return ferry_error(FERRY_ERR_SHAPE, "parameter '%s' holds %zu bytes, not %zu", st->e[i].name,
                           entry_bytes(&st->e[i]), nbytes);
    st->be->stats.bytes_downloaded += nbytes;
    return st->be->iface->download(st->be, st->e[i].buf, 0, data, nbytes);
}

ferry_status ferry_store_check_finite(const ferry_store_t *st)
{
    size_t most = 0;
    for (int i = 0; i < st->n; i++)
        if (st->e[i].dtype == FERRY_F32 && entry_bytes(&st->e[i]) > most) most = entry_bytes(&st->e[i]);
    float *v = malloc(most ? most : 1);
    if (!v) return ferry_error(FERRY_ERR_NOMEM, "checking the parameters: out of memory for %zu bytes", most);
    ferry_status s = FERRY_OK;
    for (int i = 0; i < st->n && !s; i++) {
        if (st->e[i].dtype != FERRY_F32) continue;
        if ((s = ferry_store_get(st, i, v, entry_bytes(&st->e[i])))) break;
        for (int64_t k = 0; k < st->e[i].numel; k++)
            if (!isfinite(v[k])) {
                s = ferry_error(FERRY_ERR_DIVERGED, "parameter '%s' element %lld is %s", st->e[i].name,
                                (long long)k, isnan(v[k]) ? "NaN" : v[k] > 0 ? "+Inf" : "-Inf");
                break;
            }
    }
    free(v);
    return s;
}

ferry_status ferry_store_save(const ferry_store_t *st, const char *path, bool with_state)
{
    ferry_st_entry *ents = calloc((size_t)st->n + 1, sizeof *ents);
    void **datas = calloc((size_t)st->n + 1, sizeof *datas);
    ferry_status s = FERRY_OK;
    size_t n = 0;
    if (!ents || !datas) {
        s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory saving", path);
        goto done;
    }
    for (int i = 0; i < st->n; i++) {
        const struct store_entry *e = &st->e[i];
        if (!with_state && strchr(e->name, '#')) continue;
        size_t bytes = entry_bytes(e);
        datas[n] = malloc(bytes);
        if (!datas[n]) {
            s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory saving", path);
            goto done;
        }
        s = ferry_store_get(st, i, datas[n], bytes);
        if (s) goto done;
        ents[n] = (ferry_st_entry){.name = e->name, .dtype = e->dtype, .ndim = e->ndim,
                                   .data = datas[n], .nbytes = bytes};
        memcpy(ents[n].shape, e->shape, sizeof e->shape);
        n++;
    }
    {
        const char *keys[] = {"format", "producer"};
        const char *vals[] = {"pt", "ferry " FERRY_VERSION_STRING};
        s = ferry_safetensors_write(path, ents, n, keys, vals, 2);
    }
done:
    if (datas)
        for (size_t i = 0; i < n + 1; i++) free(datas[i]);
    free(datas);
    free(ents);
    return s;
}

static bool same_shape(const struct store_entry *e, const ferry_st_entry *f)
{
    if (e->ndim != f->ndim) return false;
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] != f->shape[d]) return false;
    return true;
}

ferry_status ferry_store_load(ferry_store_t *st, const char *path, bool allow_missing,
                              bool allow_unexpected)
{
    ferry_safetensors_t *f = NULL;
    ferry_status s = ferry_safetensors_open(path, &f);
    if (s) return s;
    /* Validate everything before changing anything, so a bad file leaves the store intact. */
    for (size_t k = 0; k < ferry_safetensors_count(f) && !s; k++) {
        const ferry_st_entry *fe = ferry_safetensors_entry(f, k);
        int i = ferry_store_find(st, fe->name);
        if (i < 0) {
            if (!allow_unexpected)
                s = ferry_error(FERRY_ERR_NOT_FOUND, "%s: tensor '%s' is not a parameter of this model",
                                path, fe->name);
            continue;
        }
        if (fe->dtype != st->e[i].dtype || !same_shape(&st->e[i], fe))
            s = ferry_error(FERRY_ERR_SHAPE, "%s: tensor '%s' has a different shape or dtype than "
                            "the model's", path, fe->name);
    }
    for (int i = 0; i < st->n && !s && !allow_missing; i++) {
        if (strchr(st->e[i].name, '#')) continue; /* optimizer state is optional */
        if (!ferry_safetensors_find(f, st->e[i].name))
            s = ferry_error(FERRY_ERR_NOT_FOUND, "%s: parameter '%s' is missing", path,
                            st->e[i].name);
    }
    for (size_t k = 0; k < ferry_safetensors_count(f) && !s; k++) {
        const ferry_st_entry *fe = ferry_safetensors_entry(f, k);
        int i = ferry_store_find(st, fe->name);
        if (i >= 0) s = ferry_store_set(st, i, fe->data, fe->nbytes);
    }
    ferry_safetensors_free(f);
    return s;
}

void ferry_store_set_trainable(ferry_store_t *st, int i, bool trainable)
{
    if (i >= 0 && i < st->n) st->e[i].trainable = trainable;
}
