/* Data sets as IDX pairs (LeCun's MNIST format, plain or gzip): loading and exporting. */
#include "transform.h"

#include "ferry/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "train-images-idx3-ubyte.gz" -> "train", "t10k-images.idx3-ubyte" -> "t10k". */
static void idx_stem(const char *path, char *out, size_t size)
{
    static const char *const suffixes[] = {".gz",         "-idx3-ubyte", "-idx4-ubyte",
                                           ".idx3-ubyte", ".idx4-ubyte", "-images",
                                           "_images",     ".images",     NULL};
    ferry_path_stem(path, suffixes, out, size);
}

static ferry_status check_images(const char *path, const ferry_idx *im, int *c, int *h, int *w)
{
    if (im->type != FERRY_IDX_U8 && im->type != FERRY_IDX_F32)
        return ferry_error(FERRY_ERR_FORMAT, "%s: images of IDX element type 0x%02x (expected u8 or f32)",
                           path, (unsigned)im->type);
    if (im->ndim != 3 && im->ndim != 4)
        return ferry_error(FERRY_ERR_FORMAT, "%s: %d dimensions (expected images [n,h,w] or [n,c,h,w])", path,
                           im->ndim);
    for (int d = 1; d < im->ndim; d++)
        if (im->dims[d] > INT32_MAX)
            return ferry_error(FERRY_ERR_FORMAT, "%s: dimension %d is %lld (too large)", path, d,
                               (long long)im->dims[d]);
    *c = im->ndim == 4 ? (int)im->dims[1] : 1;
    *h = (int)im->dims[im->ndim - 2];
    *w = (int)im->dims[im->ndim - 1];
    if (im->type == FERRY_IDX_F32) {
        const float *x = im->data;
        for (size_t i = 0; i < im->count; i++)
            if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                return ferry_error(FERRY_ERR_FORMAT, "%s: pixel value %g at element %zu is outside [0, 1]",
                                   path, (double)x[i], i);
    }
    return FERRY_OK;
}

static ferry_status check_labels(const char *path, const ferry_idx *lb, int64_t n, int *classes)
{
    if (lb->type != FERRY_IDX_U8 && lb->type != FERRY_IDX_I32)
        return ferry_error(FERRY_ERR_FORMAT, "%s: labels of IDX element type 0x%02x (expected u8 or i32)",
                           path, (unsigned)lb->type);
    if (lb->ndim != 1)
        return ferry_error(FERRY_ERR_FORMAT, "%s: labels with %d dimensions (expected 1)", path, lb->ndim);
    if (lb->dims[0] != n)
        return ferry_error(FERRY_ERR_FORMAT, "%s: %lld labels for %lld images", path, (long long)lb->dims[0],
                           (long long)n);
    int32_t max = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t y =
            lb->type == FERRY_IDX_U8 ? ((const uint8_t *)lb->data)[i] : ((const int32_t *)lb->data)[i];
        if (y < 0 || y == INT32_MAX)
            return ferry_error(FERRY_ERR_FORMAT, "%s: label %d of example %lld is out of range", path, y,
                               (long long)i);
        if (y > max) max = y;
    }
    *classes = max + 1;
    return FERRY_OK;
}

ferry_status ferry_dataset_load_idx(const char *images_path, const char *labels_path, ferry_dataset_t **out)
{
    if (out) *out = NULL;
    if (!images_path || !labels_path || !out)
        return ferry_error(FERRY_ERR_INVALID, "dataset_load_idx: NULL argument");
    ferry_idx im = {0}, lb = {0};
    ferry_dataset_t *ds = NULL;
    int c = 0, h = 0, w = 0, classes = 0;
    ferry_status s = ferry_idx_read(images_path, &im);
    if (!s) s = ferry_idx_read(labels_path, &lb);
    if (!s) s = check_images(images_path, &im, &c, &h, &w);
    if (!s) s = check_labels(labels_path, &lb, im.dims[0], &classes);
    if (!s) {
        char name[256];
        idx_stem(images_path, name, sizeof name);
        s = ferry_dataset_alloc(name, im.dims[0], c, h, w, classes, &ds);
    }
    if (!s) {
        if (im.type == FERRY_IDX_U8) {
            const uint8_t *px = im.data;
            for (size_t i = 0; i < im.count; i++) ds->images[i] = (float)px[i] / 255.0f;
        } else {
            memcpy(ds->images, im.data, im.count * sizeof(float));
        }
        for (int64_t i = 0; i < ds->n; i++)
            ds->labels[i] =
                lb.type == FERRY_IDX_U8 ? ((const uint8_t *)lb.data)[i] : ((const int32_t *)lb.data)[i];
    }
    ferry_idx_free(&im);
    ferry_idx_free(&lb);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}

static ferry_status check_export_name(const char *dir, const char *name)
{
    if (!name[0] || strchr(name, '/'))
        return ferry_error(FERRY_ERR_INVALID, "%s: export name '%s' (must be non-empty, without '/')", dir,
                           name);
    return FERRY_OK;
}

/* NAME-images-idx{3,4}-ubyte.gz in dir (created if missing): u8 pixels when every value is some
 * k/255 exactly (loading then gives the same floats back), else f32, so the export is lossless. */
ferry_status ferry_export_images_idx(const float *images, int64_t n, int c, int h, int w, const char *dir,
                                     const char *name)
{
    ferry_status s = check_export_name(dir, name);
    if (s) return s;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ferry_error(FERRY_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/%s-images-idx%d-ubyte.gz", dir, name, c > 1 ? 4 : 3);
    if (k < 0 || (size_t)k >= sizeof path) return ferry_error(FERRY_ERR_INVALID, "%s/%s: path too long", dir, name);
    size_t count = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    bool as_u8 = true;
    for (size_t i = 0; i < count && as_u8; i++) {
        float v = images[i];
        as_u8 = v >= 0.0f && v <= 1.0f && (float)roundf(v * 255.0f) / 255.0f == v;
    }
    uint8_t *px = as_u8 ? malloc(count ? count : 1) : NULL;
    if (as_u8 && !px) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory exporting '%s'", dir, name);
    for (size_t i = 0; as_u8 && i < count; i++) px[i] = (uint8_t)roundf(images[i] * 255.0f);
    ferry_idx im = {.type = as_u8 ? FERRY_IDX_U8 : FERRY_IDX_F32, .count = count,
                    .data = as_u8 ? (void *)px : (void *)images};
    if (c > 1) {
        im.ndim = 4;
        im.dims[0] = n, im.dims[1] = c, im.dims[2] = h, im.dims[3] = w;
    } else {
        im.ndim = 3;
        im.dims[0] = n, im.dims[1] = h, im.dims[2] = w;
    }
    s = ferry_idx_write(path, &im);
    free(px);
    return s;
}

ferry_status ferry_dataset_export_idx(const ferry_dataset_t *ds, const char *dir, const char *name)
{
    if (!ds || !dir || !name) return ferry_error(FERRY_ERR_INVALID, "dataset_export_idx: NULL argument");
    ferry_status s = check_export_name(dir, name);
    if (s) return s;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] > 255)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "data set '%s': label %d of example %lld does not fit a u8 IDX label file",
                               ds->name, ds->labels[i], (long long)i);
    if ((s = ferry_export_images_idx(ds->images, ds->n, ds->c, ds->h, ds->w, dir, name))) return s;
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, name);
    if (k < 0 || (size_t)k >= sizeof path) return ferry_error(FERRY_ERR_INVALID, "%s/%s: path too long", dir, name);
    uint8_t *y = malloc(ds->n ? (size_t)ds->n : 1);
    if (!y) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory exporting '%s'", dir, ds->name);
    for (int64_t i = 0; i < ds->n; i++) y[i] = (uint8_t)ds->labels[i];
    ferry_idx lb = {.type = FERRY_IDX_U8, .ndim = 1, .dims = {ds->n}, .count = (size_t)ds->n, .data = y};
    s = ferry_idx_write(path, &lb);
    free(y);
    return s;
}
