/* "fashion": Fashion-MNIST from the Debian package dataset-fashion-mnist (gzip IDX files):
 * "train" 60,000 and "test" 10,000 images of 28×28 u8 pixels, scaled to [0, 1]. */
#include "data_internal.h"

#include "ferry/io.h"

#include <string.h>

#define CLASSES 10
#define SIDE 28

/* SHA-256s also in scripts/fetch-data.sh. */
static const struct ferry_data_source files[] = {
    {"t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
    {"t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
    {"train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
    {"train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
};
const struct ferry_manifest ferry_fashion_manifest = {"fashion-mnist", 4, files};

/* A split: indices of its images and labels files in files[], and its size. */
struct source {
    int images, labels;
    int64_t n;
};

static const struct source train_files = {2, 3, 60000};
static const struct source test_files = {0, 1, 10000};

static ferry_status read_idx(const char *file, const char *sha256, ferry_idx *idx, char *path, size_t size)
{
    ferry_status s = ferry_data_file("fashion-mnist", file, sha256, path, size);
    return s ? s : ferry_idx_read(path, idx);
}

static ferry_status check_images(const char *path, const ferry_idx *im, int64_t n)
{
    if (im->type != FERRY_IDX_U8 || im->ndim != 3 || im->dims[0] != n || im->dims[1] != SIDE ||
        im->dims[2] != SIDE)
        return ferry_error(FERRY_ERR_FORMAT, "%s: expected %lld u8 images of %dx%d", path, (long long)n, SIDE,
                           SIDE);
    return FERRY_OK;
}

static ferry_status check_labels(const char *path, const ferry_idx *lb, int64_t n)
{
    if (lb->type != FERRY_IDX_U8 || lb->ndim != 1 || lb->dims[0] != n)
        return ferry_error(FERRY_ERR_FORMAT, "%s: expected %lld u8 labels", path, (long long)n);
    const uint8_t *y = lb->data;
    for (int64_t i = 0; i < n; i++)
        if (y[i] >= CLASSES)
            return ferry_error(FERRY_ERR_FORMAT, "%s: label %d of example %lld is not below %d", path, y[i],
                               (long long)i, CLASSES);
    return FERRY_OK;
}

static void convert(const ferry_idx *im, const ferry_idx *lb, ferry_dataset_t *ds)
{
    const uint8_t *px = im->data, *y = lb->data;
    for (size_t i = 0; i < im->count; i++) ds->images[i] = (float)px[i] / 255.0f;
    for (int64_t i = 0; i < ds->n; i++) ds->labels[i] = y[i];
}

ferry_status ferry_load_fashion(const char *split, ferry_dataset_t **out)
{
    const struct source *src = strcmp(split, "train") == 0 ? &train_files : &test_files;
    char im_path[4200], lb_path[4200];
    ferry_idx im = {0}, lb = {0};
    ferry_dataset_t *ds = NULL;
    const struct ferry_data_source *fi = &files[src->images], *fl = &files[src->labels];
    ferry_status s = read_idx(fi->file, fi->sha256, &im, im_path, sizeof im_path);
    if (!s) s = read_idx(fl->file, fl->sha256, &lb, lb_path, sizeof lb_path);
    if (!s) s = check_images(im_path, &im, src->n);
    if (!s) s = check_labels(lb_path, &lb, src->n);
    if (!s) s = ferry_dataset_alloc("fashion", src->n, 1, SIDE, SIDE, CLASSES, &ds);
    if (!s) convert(&im, &lb, ds);
    static const char *const names[CLASSES] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                               "sandal", "shirt", "sneaker", "bag", "ankle-boot"};
    if (!s && (s = ferry_dataset_set_class_names(ds, names))) {
        ferry_dataset_free(ds);
        ds = NULL;
    }
    ferry_idx_free(&im);
    ferry_idx_free(&lb);
    *out = ds;
    return s;
}
