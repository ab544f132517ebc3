/* The cache directory, data set look-up by name, and the dataset object itself. */
#include "data_internal.h"

#include "ferry/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

ferry_status ferry_data_dir(char *out, size_t out_size)
{
    const char *v;
    int k;
    if ((v = nonempty_env("FERRY_DATA")))
        k = snprintf(out, out_size, "%s", v);
    else if ((v = nonempty_env("XDG_CACHE_HOME")))
        k = snprintf(out, out_size, "%s/ferry", v);
    else if ((v = nonempty_env("HOME")))
        k = snprintf(out, out_size, "%s/.cache/ferry", v);
    else
        return ferry_error(FERRY_ERR_NOT_FOUND,
                           "no data directory: set FERRY_DATA (or XDG_CACHE_HOME or HOME)");
    if (k < 0 || (size_t)k >= out_size)
        return ferry_error(FERRY_ERR_INVALID, "data directory path '%s...' is too long", v);
    return FERRY_OK;
}

ferry_status ferry_data_file(const char *subdir, const char *file, const char *sha256, char *path,
                             size_t path_size)
{
    char dir[4096];
    ferry_status s = ferry_data_dir(dir, sizeof dir);
    if (s) return s;
    if (snprintf(path, path_size, "%s/%s/%s", dir, subdir, file) >= (int)path_size)
        return ferry_error(FERRY_ERR_INVALID, "%s/%s/%s: path too long", dir, subdir, file);
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return ferry_error(FERRY_ERR_NOT_FOUND,
                           "%s: not found; run scripts/fetch-data.sh to fetch the data sets "
                           "into %s",
                           path, dir);
    return ferry_verify_file(path, sha256);
}

ferry_status ferry_dataset_load(const char *name, const char *split, ferry_dataset_t **out)
{
    *out = NULL;
    if (!name || !split) return ferry_error(FERRY_ERR_INVALID, "dataset_load: NULL name or split");
    bool mnist = strcmp(name, "mnist") == 0;
    bool fashion = strcmp(name, "fashion") == 0 || strcmp(name, "fashion-mnist") == 0;
    if (!mnist && !fashion)
        return ferry_error(FERRY_ERR_NOT_FOUND, "unknown data set '%s' (known: mnist, fashion)", name);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return ferry_error(FERRY_ERR_NOT_FOUND, "data set '%s' has no split '%s' (splits: train, test)", name,
                           split);
    return mnist ? ferry_load_mnist(split, out) : ferry_load_fashion(split, out);
}

ferry_status ferry_dataset_alloc(const char *name, int64_t n, int c, int h, int w, int classes,
                                 ferry_dataset_t **out)
{
    *out = NULL;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || classes <= 0)
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': bad geometry n=%lld c=%d h=%d w=%d classes=%d",
                           name, (long long)n, c, h, w, classes);
    size_t per = (size_t)c * (size_t)h * (size_t)w, floats;
    if (__builtin_mul_overflow(per, (size_t)n, &floats) || floats > SIZE_MAX / sizeof(float))
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': %lld examples of %zu values is too large", name,
                           (long long)n, per);
    ferry_dataset_t *ds = calloc(1, sizeof *ds);
    if (ds) {
        ds->name = strdup(name);
        ds->images = malloc(floats * sizeof(float));
        ds->labels = malloc((size_t)n * sizeof(int32_t));
    }
    if (!ds || !ds->name || !ds->images || !ds->labels) {
        ferry_dataset_free(ds);
        return ferry_error(FERRY_ERR_NOMEM, "data set '%s': out of memory for %lld examples", name,
                           (long long)n);
    }
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->classes = classes;
    *out = ds;
    return FERRY_OK;
}

ferry_status ferry_dataset_from_arrays(const char *name, int64_t n, int c, int h, int w, int classes,
                                       const float *images, const int32_t *labels, ferry_dataset_t **out)
{
    *out = NULL;
    if (!name || !images || !labels)
        return ferry_error(FERRY_ERR_INVALID, "dataset_from_arrays: NULL argument");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return ferry_error(FERRY_ERR_INVALID,
                               "data set '%s': label %d of example %lld is outside [0, %d)", name, labels[i],
                               (long long)i, classes);
    ferry_dataset_t *ds;
    ferry_status s = ferry_dataset_alloc(name, n, c, h, w, classes, &ds);
    if (s) return s;
    memcpy(ds->images, images, (size_t)n * (size_t)c * (size_t)h * (size_t)w * sizeof(float));
    memcpy(ds->labels, labels, (size_t)n * sizeof(int32_t));
    *out = ds;
    return FERRY_OK;
}

void ferry_dataset_free(ferry_dataset_t *ds)
{
    if (!ds) return;
    free(ds->name);
    free(ds->images);
    free(ds->labels);
    free(ds);
}

const char *ferry_dataset_name(const ferry_dataset_t *ds) { return ds->name; }
int64_t ferry_dataset_size(const ferry_dataset_t *ds) { return ds->n; }
int ferry_dataset_classes(const ferry_dataset_t *ds) { return ds->classes; }
const float *ferry_dataset_images(const ferry_dataset_t *ds) { return ds->images; }
const int32_t *ferry_dataset_labels(const ferry_dataset_t *ds) { return ds->labels; }

void ferry_dataset_geometry(const ferry_dataset_t *ds, int *c, int *h, int *w)
{
    if (c) *c = ds->c;
    if (h) *h = ds->h;
    if (w) *w = ds->w;
}
