/* "mnistm": MNIST-M in the manner of Ganin & Lempitsky (2015): each image of the "mnist" split
 * becomes |patch − digit| per channel, where patch is a 28×28 crop of a colour photograph. The
 * photographs are those of Debian python3-skimage's data directory listed below; the photograph
 * and crop of each image come from a seeded mt19937 stream, so every load gives the same images.
 * Labels and sizes are those of mnist's split ("train" 8,000, "test" 2,000); 3×28×28 in [0, 1]. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <stb_image.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define N_PHOTOS 6
#define TRAIN_SEED 20260201ul
#define TEST_SEED 20260202ul

/* Colour photographs (astronaut, cat, espresso, motorcycle, rocket launch, stained tissue under a
 * microscope); no test patterns. SHA-256s also in scripts/fetch-data.sh. */
static const struct ferry_data_source photo_files[N_PHOTOS] = {
    {"astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"},
    {"chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"},
    {"coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"},
    {"ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"},
    {"motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"},
    {"rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"},
};
const struct ferry_manifest ferry_mnistm_manifest = {"mnistm", N_PHOTOS, photo_files};

struct photo {
    unsigned char *rgb; /* h × w × 3 */
    int w, h;
};

static ferry_status load_photo(int i, struct photo *ph)
{
    char path[4200];
    ferry_status s = ferry_data_file(ferry_mnistm_manifest.subdir, photo_files[i].file,
                                     photo_files[i].sha256, path, sizeof path);
    if (s) return s;
    int channels;
    ph->rgb = stbi_load(path, &ph->w, &ph->h, &channels, 3);
    if (!ph->rgb)
        return ferry_error(FERRY_ERR_FORMAT, "%s: cannot decode the image: %s", path, stbi_failure_reason());
    if (ph->w < SIDE || ph->h < SIDE)
        return ferry_error(FERRY_ERR_FORMAT, "%s: %d×%d is smaller than a %d×%d crop", path, ph->w, ph->h,
                           SIDE, SIDE);
    return FERRY_OK;
}

/* Replaces each (1-channel) digit of digits by its blend over a seeded crop, into ds. */
static void blend(const ferry_dataset_t *digits, const struct photo *photos, gsl_rng *rng,
                  ferry_dataset_t *ds)
{
    for (int64_t i = 0; i < ds->n; i++) {
        const struct photo *ph = &photos[gsl_rng_uniform_int(rng, N_PHOTOS)];
        size_t x0 = gsl_rng_uniform_int(rng, (unsigned long)(ph->w - SIDE + 1));
        size_t y0 = gsl_rng_uniform_int(rng, (unsigned long)(ph->h - SIDE + 1));
        const float *d = digits->images + i * PIXELS;
        float *o = ds->images + i * 3 * PIXELS;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                const unsigned char *p = ph->rgb + ((y0 + (size_t)y) * (size_t)ph->w + x0 + (size_t)x) * 3;
                float v = d[y * SIDE + x];
                for (int c = 0; c < 3; c++) o[c * PIXELS + y * SIDE + x] = fabsf((float)p[c] / 255.0f - v);
            }
        ds->labels[i] = digits->labels[i];
    }
}

ferry_status ferry_load_mnistm(const char *split, ferry_dataset_t **out)
{
    *out = NULL;
    struct photo photos[N_PHOTOS] = {0};
    ferry_dataset_t *digits = NULL, *ds = NULL;
    gsl_rng *rng = NULL;
    ferry_status s = FERRY_OK;
    for (int i = 0; i < N_PHOTOS && !s; i++) s = load_photo(i, &photos[i]);
    if (!s) s = ferry_load_mnist(split, &digits);
    if (!s && (digits->c != 1 || digits->h != SIDE || digits->w != SIDE))
        s = ferry_error(FERRY_ERR_FORMAT, "mnistm: mnist images are %d×%d×%d, expected 1×%d×%d", digits->c,
                        digits->h, digits->w, SIDE, SIDE);
    if (!s) s = ferry_dataset_alloc_like("mnistm", digits->n, 3, SIDE, SIDE, digits, &ds);
    if (!s && !(rng = gsl_rng_alloc(gsl_rng_mt19937)))
        s = ferry_error(FERRY_ERR_NOMEM, "mnistm: out of memory");
    if (!s) {
        gsl_rng_set(rng, strcmp(split, "train") == 0 ? TRAIN_SEED : TEST_SEED);
        blend(digits, photos, rng, ds);
    }
    gsl_rng_free(rng);
    ferry_dataset_free(digits);
    for (int i = 0; i < N_PHOTOS; i++) stbi_image_free(photos[i].rgb);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}
