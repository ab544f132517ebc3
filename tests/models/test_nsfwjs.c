/* npm nsfwjs 4.4.0's two models, imported from their TF.js files, against nsfwjs itself on TF.js's
 * pure-JavaScript CPU backend: the 5-class probabilities of 21 colour photographs must agree within
 * 1e-4 absolute (Ferry's CPU backend, 2 threads, batches of 8; and two photographs through
 * MobileNetV2 on Vulkan, lavapipe included, where a driver is present).
 *
 * Both sides get the same input: the test decodes each photograph (stb_image), scales it to [0,1]
 * and resizes it to the model's input by area averaging; the reference ran TF.js on exactly that
 * tensor (NHWC), so only the networks are compared.
 * TF.js takes ~25 s an image for InceptionV3, so its probabilities are stored in nsfwjs_ref.json
 * with the SHA-256 of each photograph and of the prepared input tensor of each model. To regenerate
 * (after scripts/fetch-models.sh, which also installs @tensorflow/tfjs into the cache):
 *
 *   FERRY_NSFWJS_DUMP=/tmp/nsfwjs build/tests/models/test_nsfwjs   # writes the prepared inputs
 *   node tests/models/nsfwjs_ref.js /tmp/nsfwjs > tests/models/nsfwjs_ref.json
 *
 * The inputs are compared by checksum: stb_image's decoding is integer arithmetic and the resize is
 * double precision rounded once to float, so the tensor is the same on every machine; a change in
 * either fails that check (the message says so) rather than comparing networks on different inputs.
 *
 * Skipped when the models or photographs are not in the cache, unless FERRY_REQUIRE_DATA is set. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

#include "ferry/data.h"
#include "ferry/ferry.h"
#include "ferry/io.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined (the repository root)"
#endif

/* The photographs (scripts/fetch-models.sh: Debian mate-backgrounds, python3-skimage,
 * python-matplotlib-data). */
static const struct {
    const char *name, *sha256;
} photos[] = {
    {"Aqua.jpg", "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"},
    {"Blinds.jpg", "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"},
    {"Dune.jpg", "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"},
    {"FreshFlower.jpg", "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"},
    {"Garden.jpg", "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"},
    {"GreenMeadow.jpg", "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"},
    {"LadyBird.jpg", "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"},
    {"RainDrops.jpg", "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"},
    {"Storm.jpg", "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"},
    {"TwoWings.jpg", "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"},
    {"Wood.jpg", "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"},
    {"YellowFlower.jpg", "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"},
    {"grace_hopper.jpg", "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"},
    {"astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"},
    {"chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"},
    {"coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"},
    {"motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"},
    {"motorcycle_right.png", "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"},
    {"rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"},
    {"hubble_deep_field.jpg", "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"},
    {"retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"},
};
#define N_PHOTOS ((int)(sizeof photos / sizeof photos[0]))

/* Skips (or, with FERRY_REQUIRE_DATA, fails) when a cached file is missing. */
static void need_file(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0) return;
    const char *req = getenv("FERRY_REQUIRE_DATA");
    if (req && *req) cr_assert_fail("%s missing and FERRY_REQUIRE_DATA is set: run scripts/fetch-data.sh", path);
    cr_skip_test("%s missing: run scripts/fetch-data.sh (or scripts/fetch-models.sh)", path);
}

/* Area resampling of one axis, n -> m: output j averages the source interval [j·n/m, (j+1)·n/m) with
 * each pixel weighted by its coverage (double precision). */
static void area_axis(const double *src, int n, size_t stride_in, double *dst, int m, size_t stride_out)
{
    double step = (double)n / m;
    for (int j = 0; j < m; j++) {
        double a = j * step, b = (j + 1) * step, acc = 0;
        for (int i = (int)floor(a); i < n && i < b; i++) {
            double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
            acc += (hi - lo) * src[(size_t)i * stride_in];
        }
        dst[(size_t)j * stride_out] = acc / step;
    }
}

/* Every photograph prepared for model m: n × 3·S·S floats, RGB in [0,1] (what nsfwjs feeds), resized
 * by area averaging. (Not ferry_preproc: Debian's libstb asserts in its triangle filter for shrink
 * ratios between about 1.17 and 1.56, e.g. 300 -> 224, which several of these photographs need.) */
static float *prepare(const ferry_model_t *m, const char *dir)
{
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    cr_assert_eq(c, 3);
    size_t per = (size_t)c * h * w;
    float *x = malloc((size_t)N_PHOTOS * per * sizeof *x);
    cr_assert_not_null(x);
    for (int i = 0; i < N_PHOTOS; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/photos/%s", dir, photos[i].name);
        cr_assert_eq(ferry_verify_file(path, photos[i].sha256), FERRY_OK, "%s", ferry_last_error());
        int iw, ih, ic;
        unsigned char *rgb = stbi_load(path, &iw, &ih, &ic, 3);
        cr_assert_not_null(rgb, "%s: %s", path, stbi_failure_reason());
        double *plane = malloc((size_t)iw * ih * sizeof *plane), *rows = malloc((size_t)h * iw * sizeof *rows);
        double *out = malloc((size_t)h * w * sizeof *out);
        cr_assert(plane && rows && out);
        for (int ch = 0; ch < 3; ch++) {
            for (size_t p = 0; p < (size_t)iw * ih; p++) plane[p] = rgb[p * 3 + ch] / 255.0;
            for (int col = 0; col < iw; col++) area_axis(plane + col, ih, (size_t)iw, rows + col, h, (size_t)iw);
            for (int r = 0; r < h; r++) area_axis(rows + (size_t)r * iw, iw, 1, out + (size_t)r * w, w, 1);
            for (size_t p = 0; p < (size_t)h * w; p++) x[(size_t)i * per + (size_t)ch * h * w + p] = (float)out[p];
        }
        stbi_image_free(rgb);
        free(plane);
        free(rows);
        free(out);
    }
    return x;
}

static void softmax(const float *l, int k, double *p)
{
    double mx = l[0], z = 0;
    for (int j = 1; j < k; j++) mx = l[j] > mx ? l[j] : mx;
    for (int j = 0; j < k; j++) z += p[j] = exp((double)l[j] - mx);
    for (int j = 0; j < k; j++) p[j] /= z;
}

static void check_model_on(const char *arch, const char *key, const char *device, int n_photos)
{
    char dir[1024], path[1200];
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK, "%s", ferry_last_error());
    const char *model = strcmp(key, "inception_v3") == 0 ? "inception_v3" : "mobilenet_v2";
    snprintf(path, sizeof path, "%s/models/nsfwjs/%s/model.json", dir, model);
    need_file(path);
    for (int i = 0; i < N_PHOTOS; i++) {
        snprintf(path, sizeof path, "%s/photos/%s", dir, photos[i].name);
        need_file(path);
    }

    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_status bs = ferry_backend_init_device(device, 2, &be);
    const char *req = getenv("FERRY_REQUIRE_VULKAN");
    if (bs == FERRY_ERR_UNSUPPORTED && strncmp(device, "vulkan", 6) == 0 && !(req && strcmp(req, "1") == 0))
        cr_skip_test("no Vulkan: %s", ferry_last_error());
    cr_assert_eq(bs, FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init(arch, 3, 32, 32, 5, st, rng, &m), FERRY_OK, "%s: %s", arch, ferry_last_error());
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    size_t per = (size_t)c * h * w;
    float *x = prepare(m, dir);
    char sha[65];
    ferry_sha256_mem(x, (size_t)N_PHOTOS * per * sizeof *x, sha);

    const char *dump = getenv("FERRY_NSFWJS_DUMP");
    if (dump && *dump) { /* regenerating the reference: the prepared inputs for tests/models/nsfwjs_ref.js */
        mkdir(dump, 0755);
        snprintf(path, sizeof path, "%s/%s.f32", dump, key);
        cr_assert_eq(ferry_write_file_atomic(path, x, (size_t)N_PHOTOS * per * sizeof *x), FERRY_OK);
        snprintf(path, sizeof path, "%s/%s.json", dump, key);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fprintf(f, "{\"arch\": \"%s\", \"model\": \"%s/models/nsfwjs/%s\", \"shape\": [%d, %d, %d, %d], "
                   "\"input_sha256\": \"%s\", \"photos\": [", arch, dir, model, N_PHOTOS, c, h, w, sha);
        for (int i = 0; i < N_PHOTOS; i++)
            fprintf(f, "%s[\"%s\", \"%s\"]", i ? ", " : "", photos[i].name, photos[i].sha256);
        fprintf(f, "]}\n");
        fclose(f);
        cr_log_info("%s: prepared inputs written to %s", arch, dump);
        free(x);
        ferry_model_free(m);
        ferry_rng_free(rng);
        ferry_store_free(st);
        ferry_backend_free(be);
        return;
    }

    json_error_t err;
    snprintf(path, sizeof path, "%s/tests/models/nsfwjs_ref.json", SOURCE_DIR);
    json_t *ref = json_load_file(path, 0, &err);
    cr_assert_not_null(ref, "%s:%d: %s", path, err.line, err.text);
    json_t *mr = json_object_get(ref, key);
    cr_assert(json_is_object(mr), "%s has no '%s'", path, key);
    cr_assert_str_eq(json_string_value(json_object_get(mr, "input_sha256")) ? json_string_value(json_object_get(mr, "input_sha256")) : "", sha,
                     "%s: the prepared input differs from the one the reference ran on (decoding, resizing or this "
                     "build's float arithmetic changed): regenerate the reference (see this file's header)", arch);
    json_t *probs = json_object_get(mr, "probabilities");
    cr_assert_eq((int)json_array_size(probs), N_PHOTOS);

    float *logits = malloc((size_t)N_PHOTOS * 5 * sizeof *logits);
    cr_assert_not_null(logits);
    cr_assert_eq(ferry_model_infer(m, be, x, n_photos, 8, NULL, logits), FERRY_OK, "%s", ferry_last_error());
    double worst = 0;
    int worst_i = 0;
    for (int i = 0; i < n_photos; i++) {
        json_t *row = json_array_get(probs, (size_t)i);
        const char *name = json_string_value(json_array_get(row, 0));
        cr_assert_str_eq(name ? name : "", photos[i].name);
        json_t *pv = json_array_get(row, 1);
        cr_assert_eq(json_array_size(pv), 5);
        double p[5];
        softmax(logits + i * 5, 5, p);
        for (int j = 0; j < 5; j++) {
            double d = fabs(p[j] - json_number_value(json_array_get(pv, (size_t)j)));
            if (!(d <= worst)) {
                worst = d;
                worst_i = i;
            }
        }
    }
    cr_log_info("%s on %s: %d photographs, max |p(Ferry) - p(TF.js)| = %.3g (%s)", arch, device, n_photos, worst,
                photos[worst_i].name);
    printf("%s on %s: %d photographs, max |p(Ferry) - p(TF.js)| = %.3g (%s)\n", arch, device, n_photos, worst,
           photos[worst_i].name);
    cr_expect(worst <= 1e-4, "%s on %s: probabilities differ from TF.js's by %g on %s (more than 1e-4)", arch, device,
              worst, photos[worst_i].name);
    json_decref(ref);
    free(logits);
    free(x);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

/* Every photograph on the CPU backend (2 threads, batches of 8). */
Test(nsfwjs, mobilenet_v2, .timeout = 300 * FERRY_TIMEOUT_SCALE) { check_model_on("mobilenet_v2@nsfwjs", "mobilenet_v2", "cpu", N_PHOTOS); }
Test(nsfwjs, inception_v3, .timeout = 300 * FERRY_TIMEOUT_SCALE) { check_model_on("inception_v3@nsfwjs", "inception_v3", "cpu", N_PHOTOS); }

/* Two photographs on Vulkan (the first device, lavapipe included; skipped without a driver). */
Test(nsfwjs, mobilenet_v2_vulkan, .timeout = 300 * FERRY_TIMEOUT_SCALE)
{
    check_model_on("mobilenet_v2@nsfwjs", "mobilenet_v2", "vulkan:0", 2);
}

/* At a reduced input (what a task on small images uses) with another class count: the whole-map
 * average pool before the Flatten stays a global pool, so the backbone's features keep their size,
 * and the new head is drawn afresh. */
static void reduced(const char *arch, const char *model, int size, int64_t features)
{
    char dir[1024], path[1200];
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK, "%s", ferry_last_error());
    snprintf(path, sizeof path, "%s/models/nsfwjs/%s/model.json", dir, model);
    need_file(path);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_init_device("cpu", 2, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    ferry_model_opts o = {.input_size = size};
    cr_assert_eq(ferry_model_init_ex(arch, 1, 28, 28, 10, &o, st, rng, &m), FERRY_OK, "%s: %s", arch,
                 ferry_last_error());
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    cr_expect(c == 3 && h == size && w == size);
    cr_expect_eq(ferry_model_feature_dim(m), features);
    cr_expect_eq(ferry_model_classes(m), 10);
    float *x = malloc((size_t)2 * 3 * size * size * sizeof *x), l[20];
    cr_assert_not_null(x);
    for (int i = 0; i < 2 * 3 * size * size; i++) x[i] = (float)ferry_rng_uniform(rng, 0, 1);
    cr_assert_eq(ferry_model_infer(m, be, x, 2, 2, NULL, l), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < 20; i++) cr_expect(isfinite(l[i]));
    cr_expect(l[0] != l[10] || l[1] != l[11], "two inputs, the same logits");
    free(x);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(nsfwjs, reduced_input_size) {
    reduced("mobilenet_v2@nsfwjs", "mobilenet_v2", 96, 1280);
    reduced("inception_v3@nsfwjs", "inception_v3", 128, 2048);
}
