/* Preparing images for a model (ferry_preproc): channel conversion, resize, the model's mean/std; the
 * resize equals the data sets' (stb_image_resize) and survives the shrink ratios stb's triangle filter
 * asserts on. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "ferry/ferry.h"

static ferry_backend_t *be;
static ferry_store_t *st;
static ferry_model_t *m;

static void make(const char *arch, int size)
{
    ferry_rng_t *rng;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    ferry_model_opts o = {.input_size = size};
    cr_assert_eq(ferry_model_init_ex(arch, 1, 28, 28, 10, &o, st, rng, &m), FERRY_OK, "%s", ferry_last_error());
    ferry_rng_free(rng);
}

static void done(void)
{
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_backend_free(be);
}

static float *pattern(int c, int h, int w)
{
    float *x = malloc((size_t)c * h * w * sizeof *x);
    for (int i = 0; i < c * h * w; i++) x[i] = (float)((i * 37) % 101) / 100.0f;
    return x;
}

Test(preproc, grey_replicated_and_normalised_at_the_same_size)
{
    make("mobilenet_v2", 28);
    ferry_preproc_t *p;
    cr_assert_eq(ferry_preproc_init(m, 1, 28, 28, &p), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_preproc_size(p), 3 * 28 * 28);
    float *x = pattern(1, 28, 28), *y = malloc(2 * 3 * 784 * sizeof *y);
    float *x2 = malloc(2 * 784 * sizeof *x2);
    for (int i = 0; i < 784; i++) x2[i] = x2[784 + i] = x[i];
    cr_assert_eq(ferry_preproc_run(p, x2, 2, y), FERRY_OK);
    const ferry_preprocess *pre = ferry_model_preprocess(m);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 784; i++) {
                float want = (x[i] - pre->mean[k]) * (1.0f / pre->std[k]);
                cr_assert_float_eq(y[(n * 3 + k) * 784 + i], want, 1e-6, "image %d channel %d pixel %d", n, k, i);
            }
    free(x);
    free(x2);
    free(y);
    ferry_preproc_free(p);
    done();
}

/* The precomputed resize against stb's own on the same image, enlarging and shrinking. */
static void resize_matches(int sh, int sw, int size)
{
    make("mobilenet_v2", size);
    ferry_preproc_t *p;
    cr_assert_eq(ferry_preproc_init(m, 3, sh, sw, &p), FERRY_OK, "%s", ferry_last_error());
    float *x = pattern(3, sh, sw), *y = malloc(ferry_preproc_size(p) * sizeof *y);
    cr_assert_eq(ferry_preproc_run(p, x, 1, y), FERRY_OK);
    ferry_dataset_t *ds, *conv;
    int32_t label = 0;
    cr_assert_eq(ferry_dataset_from_arrays("t", 1, 3, sh, sw, 2, x, &label, &ds), FERRY_OK);
    cr_assert_eq(ferry_dataset_convert(ds, 3, size, size, &conv), FERRY_OK, "%s", ferry_last_error());
    const float *ref = ferry_dataset_images(conv);
    const ferry_preprocess *pre = ferry_model_preprocess(m);
    double worst = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < size * size; i++) {
            double want = (ref[k * size * size + i] - pre->mean[k]) / pre->std[k];
            worst = fmax(worst, fabs(y[k * size * size + i] - want));
        }
    cr_log_info("%dx%d -> %d: max |preproc - stb| %.3g", sh, sw, size, worst);
    cr_expect(worst < 1e-5, "%dx%d -> %d: the prepared image differs from stb's resize by %g", sh, sw, size, worst);
    ferry_dataset_free(ds);
    ferry_dataset_free(conv);
    free(x);
    free(y);
    ferry_preproc_free(p);
    done();
}

Test(preproc, enlarging_matches_stb) { resize_matches(28, 28, 96); }
Test(preproc, shrinking_a_little_matches_stb) { resize_matches(32, 30, 28); }
/* stb's triangle filter asserts (abort) on these ratios; the box filter takes them */
Test(preproc, shrinking_by_a_third_survives) { resize_matches(300, 451, 224); }
