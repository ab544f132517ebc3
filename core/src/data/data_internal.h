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
    char **class_names; /* classes names, or NULL: "0", "1", ... */
};

/* An empty dataset with room for n examples (images and labels uninitialised). */
ferry_status ferry_dataset_alloc(const char *name, int64_t n, int c, int h, int w, int classes,
                                 ferry_dataset_t **out);

/* As ferry_dataset_alloc, with like's classes and class names. */
ferry_status ferry_dataset_alloc_like(const char *name, int64_t n, int c, int h, int w, const ferry_dataset_t *like,
                                      ferry_dataset_t **out);
/* Gives ds the names of its classes (copied; names[k] for k < ds->classes). */
ferry_status ferry_dataset_set_class_names(ferry_dataset_t *ds, const char *const *names);

/* CSV with the label in column label_col (0-based) and the other fields the pixels. */
ferry_status ferry_csv_load(const char *path, int c, int h, int w, float max_value, int label_col,
                            ferry_dataset_t **out);

/* A class-folder tree (without its sub-folder named skip, if any): c = 0 takes 3 channels when any
 * image is in colour, else 1; h = w = 0 the median height and width of its images. Every header is
 * read before any image is decoded; a size beyond 16384 a side is refused there. Class names are
 * the folder names. */
ferry_status ferry_folder_load(const char *dir, const char *skip, int c, int h, int w, ferry_dataset_t **out);
/* The tree's geometry as ferry_folder_load takes it (*c, *h as given or 0) and its class names
 * (*names: *classes strings, the caller frees each and the array), every header read, nothing decoded. */
ferry_status ferry_folder_geometry(const char *dir, const char *skip, int *c, int *h, int *w, char ***names,
                                   int *classes);
/* SHA-256 over the tree's file paths and the SHA-256 of each file's bytes. */
ferry_status ferry_folder_checksum(const char *dir, const char *skip, char hex[65]);

/* A fixed seed from a spec's text (FNV-1a): a domain's definition never depends on a run's seed. */
uint64_t ferry_spec_seed(const char *spec);
/* A seed from a data set's labels in order and their count: the same data, the same seed, wherever
 * its files lie (the seed of a domain's fixed splits). */
uint64_t ferry_labels_seed(const ferry_dataset_t *all);

/* path = <cache>/<subdir>/<file>, checked to exist (FERRY_ERR_NOT_FOUND naming the path and the
 * fetch script otherwise) and to have the given SHA-256 (FERRY_ERR_CHECKSUM otherwise). */
ferry_status ferry_data_file(const char *subdir, const char *file, const char *sha256, char *path,
                             size_t path_size);

/* The files a built-in data set reads from the cache: <cache>/<subdir>/<file>, each with its
 * SHA-256 (the same list as in scripts/fetch-data.sh). */
struct ferry_data_source {
    const char *file, *sha256;
};
struct ferry_manifest {
    const char *subdir;
    int n;
    const struct ferry_data_source *files;
};
extern const struct ferry_manifest ferry_mnist_manifest, ferry_fashion_manifest, ferry_optdigits_manifest,
    ferry_synthdigits_manifest, ferry_mnistm_manifest;

/* Checks that every file of m is in the cache with its SHA-256 (errors as ferry_data_file). */
ferry_status ferry_manifest_check(const struct ferry_manifest *m);

/* The fixed stratified 80/20 split of the built-in sets that have no official one. Class c has
 * class_n[c] examples; each class's positions 0..class_n[c)-1 are shuffled, class after class,
 * by one mt19937 stream seeded with seed, and the first round(80%) of them go to "train" (rounded
 * per class by largest remainder so that the total is round(80%) of all examples), the rest to
 * "test". Writes the chosen positions of the wanted split into pick (room for the sum of class_n),
 * class after class in shuffled order, and their number per class into pick_n. */
ferry_status ferry_split_stratified(const char *name, const size_t *class_n, int classes,
                                    unsigned long seed, bool train, size_t *pick, size_t *pick_n);

/* The built-in data sets; split is "train" or "test" (checked by the caller). */
ferry_status ferry_load_mnist(const char *split, ferry_dataset_t **out);
ferry_status ferry_load_fashion(const char *split, ferry_dataset_t **out);
ferry_status ferry_load_optdigits(const char *split, ferry_dataset_t **out);
ferry_status ferry_load_synthdigits(const char *split, ferry_dataset_t **out);
ferry_status ferry_load_mnistm(const char *split, ferry_dataset_t **out);

/* NAME-images-idx{3,4}-ubyte.gz in dir: u8 when every pixel is some k/255, else f32 (lossless). */
ferry_status ferry_export_images_idx(const float *images, int64_t n, int c, int h, int w, const char *dir,
                                     const char *name);

#endif
