/* The built-in domains optdigits, synthdigits and mnistm, the listing functions and the shared
 * stratified split. Tests that need the fetched cache (scripts/fetch-data.sh) skip when it is
 * absent, unless FERRY_REQUIRE_DATA is set, where they fail instead. */
#include <criterion/criterion.h>

#include "data/data_internal.h"
#include "ferry/data.h"
#include "ferry/io.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[TU_PATH];

static void setup(void) { tmp[0] = '\0'; }
static void teardown(void)
{
    if (tmp[0]) tu_rmtree(tmp);
}

TestSuite(domains, .init = setup, .fini = teardown, .timeout = 120 * FERRY_TIMEOUT_SCALE);

/* Skips the test when a file of m is missing from the cache, or fails it when FERRY_REQUIRE_DATA
 * is set. (A file present but corrupted is not skipped: loading it must fail the test.) */
static void need(const struct ferry_manifest *m)
{
    char dir[TU_PATH], path[TU_PATH + 128];
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK);
    for (int i = 0; i < m->n; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, m->subdir, m->files[i].file);
        if (access(path, R_OK) == 0) continue;
        const char *req = getenv("FERRY_REQUIRE_DATA");
        if (req && req[0])
            cr_assert_fail("%s missing and FERRY_REQUIRE_DATA is set: run scripts/fetch-data.sh", path);
        cr_skip_test("%s missing: run scripts/fetch-data.sh", path);
    }
}

/* mkdir -p for a relative path under base. */
static void make_dirs(const char *base, const char *rel)
{
    char path[TU_PATH + 128];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    for (char *p = path + strlen(base) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    cr_assert(mkdir(path, 0755) == 0 || access(path, W_OK) == 0, "cannot make %s", path);
}

/* Copies the files of the manifests into a temp FERRY_DATA (made before switching to it). */
static void copy_cache(const struct ferry_manifest *const *ms, int n_ms)
{
    char from_dir[TU_PATH], from[TU_PATH + 128], to[TU_PATH + 128];
    cr_assert_eq(ferry_data_dir(from_dir, sizeof from_dir), FERRY_OK);
    tu_tmpdir(tmp);
    for (int k = 0; k < n_ms; k++) {
        const struct ferry_manifest *m = ms[k];
        make_dirs(tmp, m->subdir);
        for (int i = 0; i < m->n; i++) {
            snprintf(from, sizeof from, "%s/%s/%s", from_dir, m->subdir, m->files[i].file);
            snprintf(to, sizeof to, "%s/%s/%s", tmp, m->subdir, m->files[i].file);
            tu_copy(from, to);
        }
    }
    setenv("FERRY_DATA", tmp, 1);
}

static void flip_byte(const char *subdir, const char *file, size_t at)
{
    char path[TU_PATH + 128];
    snprintf(path, sizeof path, "%s/%s/%s", tmp, subdir, file);
    tu_flip_byte(path, at);
}

static ferry_dataset_t *load(const char *name, const char *split)
{
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load(name, split, &ds), FERRY_OK, "%s", ferry_last_error());
    return ds;
}

static size_t values(const ferry_dataset_t *ds)
{
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    return (size_t)ferry_dataset_size(ds) * (size_t)(c * h * w);
}

/* Size, geometry and classes as the info table says; pixels in [0, 1]; labels in range and
 * counted into count[10]. */
static void check_against_info(const ferry_dataset_t *ds, const char *name, bool train, int count[10])
{
    const ferry_dataset_info *info = ferry_dataset_info_find(name);
    cr_assert_not_null(info, "%s", name);
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert(c == info->c && h == info->h && w == info->w, "%s: %dx%dx%d, info says %dx%dx%d", name, c, h, w,
              info->c, info->h, info->w);
    cr_assert_eq(ferry_dataset_classes(ds), info->classes, "%s", name);
    cr_assert_eq(ferry_dataset_size(ds), train ? info->train_size : info->test_size, "%s %s", name,
                 train ? "train" : "test");
    const float *x = ferry_dataset_images(ds);
    for (size_t i = 0, n = values(ds); i < n; i++)
        cr_assert(x[i] >= 0 && x[i] <= 1, "%s: value %zu = %g", name, i, x[i]);
    const int32_t *y = ferry_dataset_labels(ds);
    for (int64_t i = 0; i < ferry_dataset_size(ds); i++) {
        cr_assert(y[i] >= 0 && y[i] < info->classes, "%s: label %d", name, y[i]);
        count[y[i]]++;
    }
}

static void assert_same(const ferry_dataset_t *a, const ferry_dataset_t *b)
{
    cr_assert_eq(ferry_dataset_size(a), ferry_dataset_size(b));
    cr_assert(memcmp(ferry_dataset_images(a), ferry_dataset_images(b), values(a) * sizeof(float)) == 0,
              "two loads of %s differ", ferry_dataset_name(a));
    cr_assert(memcmp(ferry_dataset_labels(a), ferry_dataset_labels(b),
                     (size_t)ferry_dataset_size(a) * sizeof(int32_t)) == 0);
}

static int cmp_hex(const void *a, const void *b) { return memcmp(a, b, 65); }

/* SHA-256 of every image, sorted. */
static char (*image_hashes(const ferry_dataset_t *ds))[65]
{
    int64_t n = ferry_dataset_size(ds);
    size_t per = values(ds) / (size_t)n;
    char(*h)[65] = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++)
        ferry_sha256_mem(ferry_dataset_images(ds) + (size_t)i * per, per * sizeof(float), h[i]);
    qsort(h, (size_t)n, sizeof *h, cmp_hex);
    return h;
}

/* No image twice within train, and none of test in train. */
static void assert_disjoint(const ferry_dataset_t *tr, const ferry_dataset_t *te)
{
    int64_t ntr = ferry_dataset_size(tr), nte = ferry_dataset_size(te);
    char(*a)[65] = image_hashes(tr), (*b)[65] = image_hashes(te);
    for (int64_t i = 1; i < ntr; i++) cr_assert(memcmp(a[i - 1], a[i], 65) != 0, "duplicate image in train");
    for (int64_t i = 0; i < nte; i++)
        cr_assert_null(bsearch(b[i], a, (size_t)ntr, sizeof *a, cmp_hex), "a test image is also in train");
    free(a);
    free(b);
}

/* ==== no data needed =========================================================================== */

Test(domains, info_table)
{
    static const char *const names[] = {"mnist", "fashion", "optdigits", "synthdigits", "mnistm"};
    cr_assert_eq(ferry_dataset_count(), 5);
    for (int i = 0; i < 5; i++) {
        const ferry_dataset_info *info = ferry_dataset_info_at(i);
        cr_assert_not_null(info);
        cr_assert_str_eq(info->name, names[i]);
        cr_assert_eq(ferry_dataset_info_find(names[i]), info);
        cr_assert(info->summary && info->summary[0] && info->source && info->source[0]);
        cr_assert(info->c > 0 && info->h > 0 && info->w > 0 && info->classes == 10);
        cr_assert(info->train_size > info->test_size && info->test_size > 0);
    }
    cr_assert_null(ferry_dataset_info_at(-1));
    cr_assert_null(ferry_dataset_info_at(5));
    cr_assert_null(ferry_dataset_info_find("cifar"));
    cr_assert_null(ferry_dataset_info_find(NULL));
    cr_assert_eq(ferry_dataset_info_find("fashion-mnist"), ferry_dataset_info_find("fashion"));
    const ferry_dataset_info *s = ferry_dataset_info_find("synthdigits");
    cr_assert(s->c == 3 && s->h == 32 && s->w == 32 && s->train_size == 20000 && s->test_size == 5000);
    cr_assert(strstr(s->source, "(28 fonts)"));
    const ferry_dataset_info *o = ferry_dataset_info_find("optdigits");
    cr_assert(o->c == 1 && o->h == 8 && o->w == 8 && o->train_size + o->test_size == 1797);
    const ferry_dataset_info *m = ferry_dataset_info_find("mnistm");
    cr_assert(m->c == 3 && m->h == 28 && m->w == 28 && m->train_size == 8000 && m->test_size == 2000);
}

Test(domains, unknown_name_lists_the_domains)
{
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("svhn", "train", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("svhn") && tu_msg_has("optdigits") && tu_msg_has("synthdigits") &&
                  tu_msg_has("mnistm"),
              "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_load("synthdigits", "valid", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("valid"));
    cr_assert(!ferry_dataset_cached("svhn"));
}

Test(domains, empty_cache_is_not_cached_and_says_how_to_fetch)
{
    tu_tmpdir(tmp);
    setenv("FERRY_DATA", tmp, 1);
    for (int i = 0; i < ferry_dataset_count(); i++) {
        const char *name = ferry_dataset_info_at(i)->name;
        cr_assert(!ferry_dataset_cached(name), "%s", name);
    }
    static const char *const cases[][2] = {{"optdigits", "optdigits/digits.csv.gz"},
                                           {"synthdigits", "synthdigits/fonts/DejaVuSans.ttf"},
                                           {"mnistm", "mnistm/astronaut.png"}};
    for (int i = 0; i < 3; i++) {
        ferry_dataset_t *ds = (ferry_dataset_t *)&ds;
        cr_assert_eq(ferry_dataset_load(cases[i][0], "test", &ds), FERRY_ERR_NOT_FOUND, "%s", cases[i][0]);
        cr_assert_null(ds);
        cr_assert(tu_msg_has(tmp) && tu_msg_has(cases[i][1]), "%s", ferry_last_error());
        cr_assert(tu_msg_has("scripts/fetch-data.sh"), "%s", ferry_last_error());
    }
}

Test(domains, stratified_split_partitions_each_class)
{
    size_t n[4] = {5, 0, 1, 12}, tr[4], te[4], ptr[18], pte[18], tr2[4], ptr2[18];
    cr_assert_eq(ferry_split_stratified("t", n, 4, 7, true, ptr, tr), FERRY_OK);
    cr_assert_eq(ferry_split_stratified("t", n, 4, 7, false, pte, te), FERRY_OK);
    cr_assert_eq(ferry_split_stratified("t", n, 4, 7, true, ptr2, tr2), FERRY_OK);
    cr_assert(memcmp(ptr, ptr2, sizeof ptr2[0] * 14) == 0 && memcmp(tr, tr2, sizeof tr) == 0, "not fixed");
    cr_assert_eq(tr[0] + tr[1] + tr[2] + tr[3], 14); /* round(0.8 · 18) */
    size_t at_tr = 0, at_te = 0;
    for (int c = 0; c < 4; c++) {
        cr_assert_eq(tr[c] + te[c], n[c], "class %d", c);
        cr_assert(fabs((double)tr[c] - 0.8 * (double)n[c]) < 1, "class %d: %zu of %zu", c, tr[c], n[c]);
        bool seen[12] = {false};
        for (size_t i = 0; i < tr[c]; i++) seen[ptr[at_tr + i]] = true;
        for (size_t i = 0; i < te[c]; i++) {
            cr_assert(!seen[pte[at_te + i]], "class %d: %zu in both", c, pte[at_te + i]);
            seen[pte[at_te + i]] = true;
        }
        for (size_t i = 0; i < n[c]; i++) cr_assert(seen[i], "class %d: %zu in neither", c, i);
        at_tr += tr[c], at_te += te[c];
    }
}

/* ==== optdigits ================================================================================ */

Test(domains, optdigits_split_values_and_balance)
{
    need(&ferry_optdigits_manifest);
    ferry_dataset_t *tr = load("optdigits", "train"), *te = load("optdigits", "test");
    int ctr[10] = {0}, cte[10] = {0};
    check_against_info(tr, "optdigits", true, ctr);
    check_against_info(te, "optdigits", false, cte);
    /* the class sizes of the file, each split 80/20 */
    static const int per_class[10] = {178, 182, 177, 183, 181, 182, 181, 179, 174, 180};
    for (int c = 0; c < 10; c++) {
        cr_assert_eq(ctr[c] + cte[c], per_class[c], "class %d", c);
        cr_assert(fabs(ctr[c] - 0.8 * per_class[c]) < 1, "class %d: %d train of %d", c, ctr[c], per_class[c]);
    }
    /* counts 0..16 scaled by 1/16; together the splits hold every pixel of the file */
    long long sum = 0;
    const ferry_dataset_t *both[2] = {tr, te};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0, n = values(both[k]); i < n; i++) {
            float v = ferry_dataset_images(both[k])[i] * 16;
            cr_assert(v == floorf(v), "value %g is not a count / 16", v / 16);
            sum += (long long)v;
        }
    cr_assert_eq(sum, 561718LL);
    assert_disjoint(tr, te);
    ferry_dataset_t *again = load("optdigits", "train");
    assert_same(tr, again);
    ferry_dataset_free(again);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
    cr_assert(ferry_dataset_cached("optdigits"));
}

Test(domains, optdigits_corrupted_file_fails_checksum)
{
    need(&ferry_optdigits_manifest);
    const struct ferry_manifest *ms[] = {&ferry_optdigits_manifest};
    copy_cache(ms, 1);
    flip_byte("optdigits", "digits.csv.gz", 5000);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("optdigits", "test", &ds), FERRY_ERR_CHECKSUM, "%s", ferry_last_error());
    cr_assert(tu_msg_has("optdigits/digits.csv.gz"), "%s", ferry_last_error());
    cr_assert(!ferry_dataset_cached("optdigits"));
}

/* ==== synthdigits ============================================================================== */

/* Luminance range of image i (a digit is drawn: the image is not flat). */
static float luminance_range(const float *x, int side)
{
    int p = side * side;
    float lo = 1, hi = 0;
    for (int k = 0; k < p; k++) {
        float l = 0.299f * x[k] + 0.587f * x[p + k] + 0.114f * x[2 * p + k];
        lo = l < lo ? l : lo, hi = l > hi ? l : hi;
    }
    return hi - lo;
}

Test(domains, synthdigits_sizes_balance_determinism)
{
    need(&ferry_synthdigits_manifest);
    ferry_dataset_t *tr = load("synthdigits", "train"), *te = load("synthdigits", "test");
    int ctr[10] = {0}, cte[10] = {0};
    check_against_info(tr, "synthdigits", true, ctr);
    check_against_info(te, "synthdigits", false, cte);
    for (int c = 0; c < 10; c++)
        cr_assert(ctr[c] == 2000 && cte[c] == 500, "class %d: %d / %d", c, ctr[c], cte[c]);
    const float *x = ferry_dataset_images(te);
    double mean[3] = {0};
    for (int64_t i = 0; i < 5000; i++) {
        cr_assert(luminance_range(x + i * 3 * 1024, 32) > 0.2f, "test image %lld is nearly flat",
                  (long long)i);
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 1024; k++) mean[c] += x[(i * 3 + c) * 1024 + k];
    }
    for (int c = 0; c < 3; c++) cr_assert(mean[c] / (5000 * 1024) > 0.3 && mean[c] / (5000 * 1024) < 0.7);
    /* labels are not in a fixed cycle */
    const int32_t *y = ferry_dataset_labels(tr);
    int cyclic = 0;
    for (int i = 1; i < 20000; i++) cyclic += y[i] == (y[i - 1] + 1) % 10;
    cr_assert(cyclic < 4000, "%d", cyclic);
    assert_disjoint(tr, te);
    ferry_dataset_t *again = load("synthdigits", "test");
    assert_same(te, again);
    ferry_dataset_free(again);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
    cr_assert(ferry_dataset_cached("synthdigits"));
}

Test(domains, synthdigits_corrupted_font_fails_checksum)
{
    need(&ferry_synthdigits_manifest);
    const struct ferry_manifest *ms[] = {&ferry_synthdigits_manifest};
    copy_cache(ms, 1);
    flip_byte("synthdigits/fonts", "Z003-MediumItalic.otf", 4321);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("synthdigits", "test", &ds), FERRY_ERR_CHECKSUM, "%s",
                 ferry_last_error());
    cr_assert(tu_msg_has("synthdigits/fonts/Z003-MediumItalic.otf"), "%s", ferry_last_error());
    cr_assert(!ferry_dataset_cached("synthdigits"));
}

/* ==== mnistm =================================================================================== */

Test(domains, mnistm_follows_mnist_over_photos)
{
    need(&ferry_mnist_manifest);
    need(&ferry_mnistm_manifest);
    ferry_dataset_t *te = load("mnistm", "test"), *digits = load("mnist", "test");
    int cte[10] = {0}, ctr[10] = {0};
    check_against_info(te, "mnistm", false, cte);
    cr_assert(memcmp(ferry_dataset_labels(te), ferry_dataset_labels(digits), 2000 * sizeof(int32_t)) == 0,
              "labels differ from mnist's test split");
    /* |photo − digit| over colour photographs: the channels differ in most images */
    const float *x = ferry_dataset_images(te);
    int coloured = 0;
    for (int64_t i = 0; i < 2000; i++) {
        float diff = 0;
        for (int k = 0; k < 784; k++) {
            float r = x[(i * 3) * 784 + k], g = x[(i * 3 + 1) * 784 + k];
            diff += fabsf(r - g);
        }
        coloured += diff / 784 > 0.02f;
    }
    cr_assert(coloured > 1500, "only %d of 2000 images are coloured", coloured);
    ferry_dataset_t *again = load("mnistm", "test");
    assert_same(te, again);
    ferry_dataset_free(again);
    ferry_dataset_t *tr = load("mnistm", "train");
    check_against_info(tr, "mnistm", true, ctr);
    assert_disjoint(tr, te);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
    ferry_dataset_free(digits);
    cr_assert(ferry_dataset_cached("mnistm"));
}

Test(domains, mnistm_corrupted_photo_fails_checksum)
{
    need(&ferry_mnist_manifest);
    need(&ferry_mnistm_manifest);
    const struct ferry_manifest *ms[] = {&ferry_mnist_manifest, &ferry_mnistm_manifest};
    copy_cache(ms, 2);
    cr_assert(ferry_dataset_cached("mnistm"));
    flip_byte("mnistm", "coffee.png", 100000);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("mnistm", "train", &ds), FERRY_ERR_CHECKSUM, "%s", ferry_last_error());
    cr_assert(tu_msg_has("mnistm/coffee.png"), "%s", ferry_last_error());
    cr_assert(!ferry_dataset_cached("mnistm"));
    cr_assert(ferry_dataset_cached("mnist"));
}

/* ==== the older sets against the table ========================================================= */

static void check_table_sizes(const char *name)
{
    int count[10] = {0};
    for (int t = 0; t < 2; t++) {
        ferry_dataset_t *ds = load(name, t ? "train" : "test");
        check_against_info(ds, name, t, count);
        ferry_dataset_free(ds);
    }
}

Test(domains, mnist_matches_the_table)
{
    need(&ferry_mnist_manifest);
    check_table_sizes("mnist");
}

Test(domains, fashion_matches_the_table)
{
    static const struct ferry_data_source files[] = {
        {"t10k-images-idx3-ubyte.gz", NULL}, {"t10k-labels-idx1-ubyte.gz", NULL},
        {"train-images-idx3-ubyte.gz", NULL}, {"train-labels-idx1-ubyte.gz", NULL}};
    static const struct ferry_manifest fashion = {"fashion-mnist", 4, files};
    need(&fashion);
    check_table_sizes("fashion");
}
