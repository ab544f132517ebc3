/* Comparing an architecture's eval-mode forward with a PyTorch reference (tests/models/NAME_ref.py):
 * the generator writes random weights with torchvision's names, an input and the expected logits and
 * features; Ferry loads the weights by name (strictly) and must agree within 1e-4 × max |logit|. */
#ifndef FERRY_TEST_MODELREF_H
#define FERRY_TEST_MODELREF_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/io.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined (the repository root)"
#endif

/* True when /usr/bin/python3 can import the modules the generators need. */
static inline bool modelref_python_ok(const char *modules)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import %s' >/dev/null 2>&1", modules);
    return system(cmd) == 0;
}

/* Runs `generator args` into a fresh temporary directory (dir, at least 64 bytes). */
static inline void modelref_generate(const char *generator, const char *args, char *dir)
{
    snprintf(dir, 64, "/tmp/ferry-modelref-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/models/%s %s %s", SOURCE_DIR, generator, args, dir);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static inline void modelref_cleanup(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

/* Max |a - b| over n values, and max |b|. */
static inline void modelref_diff(const float *a, const float *b, size_t n, double *maxdiff, double *maxref)
{
    *maxdiff = 0;
    *maxref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= *maxdiff)) *maxdiff = d; /* NaN propagates */
        if (fabs((double)b[i]) > *maxref) *maxref = fabs((double)b[i]);
    }
}

/* Builds arch (input size, classes, opts) on backend `device` ("cpu", "vulkan"), loads dir's weights,
 * runs dir's input and compares logits and features with dir's expected values. */
static inline void modelref_check(const char *dir, const char *arch, int size, int classes,
                                  const ferry_model_opts *opts, const char *device)
{
    char path[256];
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_init_device(device, 2, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    ferry_model_opts o = opts ? *opts : (ferry_model_opts){0};
    o.input_size = size;
    cr_assert_eq(ferry_model_init_ex(arch, 3, size, size, classes, &o, st, rng, &m), FERRY_OK, "%s: %s", arch,
                 ferry_last_error());
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    cr_assert_eq(ferry_model_load_weights(m, path, false), FERRY_OK, "%s", ferry_last_error());
    ferry_safetensors_t *in, *ex;
    snprintf(path, sizeof path, "%s/input.safetensors", dir);
    cr_assert_eq(ferry_safetensors_open(path, &in), FERRY_OK, "%s", ferry_last_error());
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    cr_assert_eq(ferry_safetensors_open(path, &ex), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *x = ferry_safetensors_find(in, "input");
    const ferry_st_entry *el = ferry_safetensors_find(ex, "logits"), *ef = ferry_safetensors_find(ex, "features");
    cr_assert(x && el && ef);
    int64_t n = x->shape[0], F = ferry_model_feature_dim(m);
    cr_assert(el->ndim == 2 && el->shape[0] == n && el->shape[1] == classes && ef->ndim == 2 && ef->shape[0] == n,
              "%s: the reference's logits or features are not [%lld, %d] and [%lld, F]", arch, (long long)n, classes,
              (long long)n);
    cr_assert_eq(ef->shape[1], F, "%s: feature size %lld, torchvision's %lld", arch, (long long)F,
                 (long long)ef->shape[1]);
    float *f = malloc((size_t)(n * F) * sizeof *f), *l = malloc((size_t)(n * classes) * sizeof *l);
    cr_assert_eq(ferry_model_infer(m, be, x->data, n, (int)n, f, l), FERRY_OK, "%s", ferry_last_error());
    double dl, rl, df, rf;
    modelref_diff(l, el->data, (size_t)(n * classes), &dl, &rl);
    modelref_diff(f, ef->data, (size_t)(n * F), &df, &rf);
    cr_log_info("%s %dx%d on %s: logits max |d| %.3g (max |logit| %.3g), features max |d| %.3g (max %.3g)", arch,
                size, size, device, dl, rl, df, rf);
    cr_expect(dl <= 1e-4 * rl, "%s %dx%d on %s: logits differ by %g, more than 1e-4 x %g", arch, size, size, device, dl,
              rl);
    cr_expect(df <= 1e-4 * rf, "%s %dx%d on %s: features differ by %g, more than 1e-4 x %g", arch, size, size, device,
              df, rf);
    free(f);
    free(l);
    ferry_safetensors_free(in);
    ferry_safetensors_free(ex);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

#endif
