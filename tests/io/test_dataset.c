/* The built-in data sets. Tests that need the fetched cache (scripts/fetch-data.sh) skip when it is
 * absent, unless FERRY_REQUIRE_DATA is set (as in CI), where they fail instead. */
#include <criterion/criterion.h>

#include "ferry/data.h"
#include "ferry/io.h"
#include "testutil.h"

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

TestSuite(dataset, .init = setup, .fini = teardown, .timeout = 120 * FERRY_TIMEOUT_SCALE);

static const char *const mnist_files[] = {"0.json", "1.json", "2.json", "3.json", "4.json",
                                          "5.json", "6.json", "7.json", "8.json", "9.json"};
static const char *const fashion_files[] = {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                            "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"};

/* Skips the test when a cached file is missing, or fails it when FERRY_REQUIRE_DATA is set. */
static void need_data(const char *subdir, const char *const *files, int n)
{
    char dir[TU_PATH], path[TU_PATH + 64];
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, subdir, files[i]);
        if (access(path, R_OK) == 0) continue;
        const char *req = getenv("FERRY_REQUIRE_DATA");
        if (req && req[0])
            cr_assert_fail("%s missing and FERRY_REQUIRE_DATA is set: run scripts/fetch-data.sh", path);
        cr_skip_test("%s missing: run scripts/fetch-data.sh", path);
    }
}

/* A temp FERRY_DATA holding copies of the named cached files (made before switching). */
static void copy_cache(const char *subdir, const char *const *files, int n)
{
    char from_dir[TU_PATH], to_dir[TU_PATH], from[TU_PATH + 64], to[TU_PATH + 64];
    cr_assert_eq(ferry_data_dir(from_dir, sizeof from_dir), FERRY_OK);
    tu_tmpdir(tmp);
    tu_join(to_dir, tmp, subdir);
    cr_assert(mkdir(to_dir, 0755) == 0);
    for (int i = 0; i < n; i++) {
        snprintf(from, sizeof from, "%s/%s/%s", from_dir, subdir, files[i]);
        snprintf(to, sizeof to, "%s/%s", to_dir, files[i]);
        tu_copy(from, to);
    }
    setenv("FERRY_DATA", tmp, 1);
}

static void flip_byte(const char *subdir, const char *file, size_t at)
{
    char path[TU_PATH + 64];
    snprintf(path, sizeof path, "%s/%s/%s", tmp, subdir, file);
    tu_flip_byte(path, at);
}

/* ==== no data needed =========================================================================== */

Test(dataset, data_dir_precedence)
{
    char dir[TU_PATH];
    setenv("FERRY_DATA", "/d/ferry", 1);
    setenv("XDG_CACHE_HOME", "/x", 1);
    setenv("HOME", "/h", 1);
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK);
    cr_assert_str_eq(dir, "/d/ferry");
    unsetenv("FERRY_DATA");
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK);
    cr_assert_str_eq(dir, "/x/ferry");
    setenv("XDG_CACHE_HOME", "", 1);
    cr_assert_eq(ferry_data_dir(dir, sizeof dir), FERRY_OK);
    cr_assert_str_eq(dir, "/h/.cache/ferry");
    cr_assert_eq(ferry_data_dir(dir, 4), FERRY_ERR_INVALID);
}

Test(dataset, unknown_name_or_split)
{
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("cifar", "train", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("cifar"));
    cr_assert_eq(ferry_dataset_load("mnist", "valid", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("valid"));
}

Test(dataset, missing_cache_says_how_to_fetch)
{
    tu_tmpdir(tmp);
    setenv("FERRY_DATA", tmp, 1);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("mnist", "train", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(tmp) && tu_msg_has("mnist/0.json"), "%s", ferry_last_error());
    cr_assert(tu_msg_has("scripts/fetch-data.sh"), "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_load("fashion", "test", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("fashion-mnist/t10k-images-idx3-ubyte.gz"), "%s", ferry_last_error());
    cr_assert(tu_msg_has("scripts/fetch-data.sh"), "%s", ferry_last_error());
}

/* ==== mnist ==================================================================================== */

static ferry_dataset_t *load(const char *name, const char *split)
{
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load(name, split, &ds), FERRY_OK, "%s", ferry_last_error());
    return ds;
}

static void check_basics(const ferry_dataset_t *ds, int64_t n, int *class_count)
{
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert(c == 1 && h == 28 && w == 28);
    cr_assert_eq(ferry_dataset_classes(ds), 10);
    cr_assert_eq(ferry_dataset_size(ds), n);
    const float *x = ferry_dataset_images(ds);
    for (int64_t i = 0; i < n * 784; i++)
        cr_assert(x[i] >= 0 && x[i] <= 1, "pixel %lld = %g", (long long)i, x[i]);
    const int32_t *y = ferry_dataset_labels(ds);
    for (int64_t i = 0; i < n; i++) {
        cr_assert(y[i] >= 0 && y[i] < 10);
        class_count[y[i]]++;
    }
}

static int cmp_hex(const void *a, const void *b) { return memcmp(a, b, 65); }

/* SHA-256 of every image, sorted. */
static char (*image_hashes(const ferry_dataset_t *ds))[65]
{
    int64_t n = ferry_dataset_size(ds);
    char(*h)[65] = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++)
        ferry_sha256_mem(ferry_dataset_images(ds) + i * 784, 784 * sizeof(float), h[i]);
    qsort(h, (size_t)n, sizeof *h, cmp_hex);
    return h;
}

Test(dataset, mnist_split_sizes_classes_and_disjointness)
{
    need_data("mnist", mnist_files, 10);
    ferry_dataset_t *tr = load("mnist", "train"), *te = load("mnist", "test");
    int ctr[10] = {0}, cte[10] = {0};
    check_basics(tr, 8000, ctr);
    check_basics(te, 2000, cte);
    for (int c = 0; c < 10; c++) {
        double want = 0.8 * (ctr[c] + cte[c]);
        cr_assert(ctr[c] >= want - 1 && ctr[c] <= want + 1, "class %d: %d train of %d", c, ctr[c],
                  ctr[c] + cte[c]);
        cr_assert(cte[c] > 0);
    }
    char(*a)[65] = image_hashes(tr), (*b)[65] = image_hashes(te);
    for (int i = 1; i < 8000; i++) cr_assert(memcmp(a[i - 1], a[i], 65) != 0, "duplicate image in train");
    for (int i = 0; i < 2000; i++)
        cr_assert_null(bsearch(b[i], a, 8000, sizeof *a, cmp_hex), "test image %d is also in train", i);
    free(a);
    free(b);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
}

Test(dataset, mnist_split_is_fixed)
{
    need_data("mnist", mnist_files, 10);
    ferry_dataset_t *a = load("mnist", "test"), *b = load("mnist", "test");
    cr_assert(memcmp(ferry_dataset_images(a), ferry_dataset_images(b), 2000 * 784 * sizeof(float)) == 0);
    cr_assert(memcmp(ferry_dataset_labels(a), ferry_dataset_labels(b), 2000 * sizeof(int32_t)) == 0);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
}

Test(dataset, mnist_corrupted_file_fails_checksum)
{
    need_data("mnist", mnist_files, 10);
    copy_cache("mnist", mnist_files, 10);
    flip_byte("mnist", "3.json", 12345);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("mnist", "train", &ds), FERRY_ERR_CHECKSUM, "%s", ferry_last_error());
    cr_assert(tu_msg_has("mnist/3.json"), "%s", ferry_last_error());
    cr_assert(tu_msg_has("c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54"), "%s",
              ferry_last_error());
}

/* ==== fashion ================================================================================== */

Test(dataset, fashion_sizes_and_classes)
{
    need_data("fashion-mnist", fashion_files, 4);
    ferry_dataset_t *tr = load("fashion", "train"), *te = load("fashion", "test");
    int ctr[10] = {0}, cte[10] = {0};
    check_basics(tr, 60000, ctr);
    check_basics(te, 10000, cte);
    for (int c = 0; c < 10; c++)
        cr_assert(ctr[c] == 6000 && cte[c] == 1000, "class %d: %d / %d", c, ctr[c], cte[c]);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
}

Test(dataset, fashion_corrupted_file_fails_checksum)
{
    need_data("fashion-mnist", fashion_files, 4);
    copy_cache("fashion-mnist", fashion_files, 2);
    flip_byte("fashion-mnist", "t10k-labels-idx1-ubyte.gz", 100);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_load("fashion", "test", &ds), FERRY_ERR_CHECKSUM, "%s", ferry_last_error());
    cr_assert(tu_msg_has("fashion-mnist/t10k-labels-idx1-ubyte.gz"), "%s", ferry_last_error());
}
