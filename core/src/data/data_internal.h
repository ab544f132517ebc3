/* Internal to the data sets: the dataset structure and helpers shared by the loaders. */
#ifndef FERRY_DATA_INTERNAL_H
#define FERRY_DATA_INTERNAL_H

#include "error.h"
#include "ferry/data.h"

struct ferry_dataset {
    char *name;
    int64_t n;
    int c, h, w, classes;
    float *images;   /* n × c × h × w */
    int32_t *labels; /* n */
};

/* An empty dataset with room for n examples (images and labels uninitialised). */
ferry_status ferry_dataset_alloc(const char *name, int64_t n, int c, int h, int w, int classes,
                                 ferry_dataset_t **out);

/* path = <cache>/<subdir>/<file>, checked to exist (FERRY_ERR_NOT_FOUND naming the path and the
 * fetch script otherwise) and to have the given SHA-256 (FERRY_ERR_CHECKSUM otherwise). */
ferry_status ferry_data_file(const char *subdir, const char *file, const char *sha256, char *path,
                             size_t path_size);

/* The built-in data sets; split is "train" or "test" (checked by the caller). */
ferry_status ferry_load_mnist(const char *split, ferry_dataset_t **out);
ferry_status ferry_load_fashion(const char *split, ferry_dataset_t **out);

#endif
