/* Users' domains and tasks: folder:, idx: and csv: specs, class subsets, inline and declared tasks,
 * class matching, content checksums, and each bad input's message. */
#include <criterion/criterion.h>

#include "datautil.h"
#include "ferry/data.h"
#include "ferry/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[TU_PATH];

static void setup(void) { tu_tmpdir(tmp); }
static void teardown(void) { tu_rmtree(tmp); }

TestSuite(specs, .init = setup, .fini = teardown, .timeout = 120 * FERRY_TIMEOUT_SCALE);

/* dir/CLASS/i.png for each class: n images of w×h, comp channels, each a flat value that encodes
 * the class (40·k + 2·i) so that examples are told apart. */
static void make_classes(const char *dir, const char *const *classes, int k, int n, int w, int h, int comp)
{
    char cls[TU_PATH], path[TU_PATH];
    for (int c = 0; c < k; c++) {
        du_mkdir(cls, dir, classes[c]);
        for (int i = 0; i < n; i++) {
            char f[32];
            snprintf(f, sizeof f, "%02d.png", i);
            tu_join(path, cls, f);
            unsigned char v[4] = {(unsigned char)(40 * c + 2 * i), (unsigned char)(40 * c + 2 * i), 10, 255};
            du_write_flat(path, w, h, comp, v);
        }
    }
}

static char *spec_of(const char *prefix, const char *dir, const char *suffix)
{
    static char buf[TU_PATH + 256];
    snprintf(buf, sizeof buf, "%s%s%s", prefix, dir, suffix);
    return buf;
}

static const char *const pets[] = {"cat", "dog", "fox"};

Test(specs, folder_in_one_part_is_split_80_20_with_class_names)
{
    char root[TU_PATH];
    du_mkdir(root, tmp, "pets");
    make_classes(root, pets, 3, 10, 12, 12, 1);
    ferry_dataset_t *tr, *te;
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "train", &tr), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "test", &te), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(tr), 24);
    cr_assert_eq(ferry_dataset_size(te), 6);
    int c, h, w;
    ferry_dataset_geometry(tr, &c, &h, &w);
    cr_assert(c == 1 && h == 12 && w == 12, "%dx%dx%d", c, h, w);
    char buf[32];
    for (int k = 0; k < 3; k++) cr_assert_str_eq(ferry_dataset_class_name(tr, k, buf, sizeof buf), pets[k]);
    /* the two parts are disjoint: every flat value appears once over both */
    int seen[256] = {0};
    const ferry_dataset_t *parts[2] = {tr, te};
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < ferry_dataset_size(parts[p]); i++) {
            int v = (int)lroundf(ferry_dataset_images(parts[p])[i * 144] * 255);
            cr_assert_eq(v / 40, ferry_dataset_labels(parts[p])[i], "value %d has label %d", v,
                         ferry_dataset_labels(parts[p])[i]);
            seen[v]++;
        }
    for (int v = 0; v < 256; v++) cr_assert(seen[v] <= 1, "value %d seen %d times", v, seen[v]);
    ferry_dataset_free(tr);
    ferry_dataset_free(te);
}

Test(specs, folder_options_subset_and_layouts)
{
    char root[TU_PATH], tr[TU_PATH], te[TU_PATH];
    du_mkdir(root, tmp, "split");
    du_mkdir(tr, root, "train");
    du_mkdir(te, root, "test");
    make_classes(tr, pets, 3, 4, 10, 6, 3);
    make_classes(te, pets, 3, 2, 10, 6, 1); /* grey test images beside colour train ones: converted */
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, "?size=8"), "test", &ds), FERRY_OK, "%s", ferry_last_error());
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_assert(c == 3 && h == 8 && w == 8 && ferry_dataset_size(ds) == 6, "%dx%dx%d n=%lld", c, h, w,
              (long long)ferry_dataset_size(ds));
    ferry_dataset_free(ds);
    /* the subset keeps the listed classes, relabelled in the order given, by name or by index */
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, "?channels=1{fox,0}"), "train", &ds), FERRY_OK, "%s",
                 ferry_last_error());
    cr_assert_eq(ferry_dataset_classes(ds), 2);
    cr_assert_eq(ferry_dataset_size(ds), 8);
    char buf[32];
    cr_assert_str_eq(ferry_dataset_class_name(ds, 0, buf, sizeof buf), "fox");
    cr_assert_str_eq(ferry_dataset_class_name(ds, 1, buf, sizeof buf), "cat");
    for (int64_t i = 0; i < 8; i++) {
        int v = (int)lroundf(ferry_dataset_images(ds)[i * 60] * 255);
        cr_assert_eq(ferry_dataset_labels(ds)[i], v >= 40 ? 0 : 1); /* fox's luminance about 75, cat's below 7 */
    }
    ferry_dataset_free(ds);
    /* class folders of train/ and test/ must agree */
    char extra[TU_PATH], file[TU_PATH];
    du_mkdir(extra, te, "emu");
    tu_join(file, extra, "a.png");
    du_write_flat(file, 4, 4, 1, (const unsigned char[]){9});
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "test", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("emu") && tu_msg_has("differ"), "%s", ferry_last_error());
}

Test(specs, builtin_subsets_and_bad_classes)
{
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_domain_load("optdigits{7,3}", "test", &ds), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_classes(ds), 2);
    char buf[32];
    cr_assert_str_eq(ferry_dataset_class_name(ds, 0, buf, sizeof buf), "7");
    ferry_dataset_free(ds);
    cr_assert_eq(ferry_domain_load("optdigits{3,12}", "test", &ds), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("no class '12'"), "%s", ferry_last_error());
    cr_assert_eq(ferry_domain_load("optdigits{3,3}", "test", &ds), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("twice"), "%s", ferry_last_error());
    cr_assert_eq(ferry_domain_load("optdigits{3", "test", &ds), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_domain_load("optdigits?size=3", "test", &ds), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_domain_check("svhn"), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("svhn") && tu_msg_has("folder:"), "%s", ferry_last_error());
}

Test(specs, idx_finds_its_labels_and_refuses_mismatched_counts)
{
    ferry_dataset_t *a = du_pattern("toy", 20, 1, 5, 5, 4), *b;
    cr_assert_eq(ferry_dataset_export_idx(a, tmp, "toy"), FERRY_OK, "%s", ferry_last_error());
    char im[TU_PATH], lb[TU_PATH], spec[2 * TU_PATH + 8];
    tu_join(im, tmp, "toy-images-idx3-ubyte.gz");
    tu_join(lb, tmp, "toy-labels-idx1-ubyte.gz");
    snprintf(spec, sizeof spec, "idx:%s", im);
    cr_assert_eq(ferry_domain_load(spec, "all", &b), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(b), 20);
    cr_assert(!memcmp(ferry_dataset_images(a), ferry_dataset_images(b), 20 * 25 * sizeof(float)));
    ferry_dataset_free(b);
    /* labels of another count */
    ferry_dataset_t *other = du_pattern("other", 12, 1, 5, 5, 4);
    cr_assert_eq(ferry_dataset_export_idx(other, tmp, "other"), FERRY_OK);
    char lb2[TU_PATH];
    tu_join(lb2, tmp, "other-labels-idx1-ubyte.gz");
    snprintf(spec, sizeof spec, "idx:%s,%s", im, lb2);
    cr_assert_eq(ferry_domain_load(spec, "train", &b), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("other-labels"), "%s", ferry_last_error());
    /* no labels named and none to find */
    cr_assert_eq(ferry_domain_load("idx:/nowhere/pixels.gz", "train", &b), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("labels"), "%s", ferry_last_error());
    ferry_dataset_free(a);
    ferry_dataset_free(other);
}

Test(specs, csv_label_column_shape_and_ragged_rows)
{
    char path[TU_PATH], spec[TU_PATH + 64];
    tu_join(path, tmp, "t.csv");
    /* label in column 2 of 5; pixels 0..16 */
    const char *text = "1,2,0,3,4\n5,6,1,7,8\n0,0,0,0,0\n16,16,1,16,16\n1,1,0,1,1\n2,2,1,2,2\n3,3,0,3,3\n4,4,1,4,4\n"
                       "5,5,0,5,5\n6,6,1,6,6\n";
    tu_write(path, text, strlen(text));
    snprintf(spec, sizeof spec, "csv:%s?shape=1x2x2&label=2&max=16", path);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_domain_load(spec, "all", &ds), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(ds), 10);
    cr_assert_eq(ferry_dataset_labels(ds)[1], 1);
    cr_assert_float_eq(ferry_dataset_images(ds)[4 + 2], 7.0f / 16, 1e-7);
    ferry_dataset_free(ds);
    snprintf(spec, sizeof spec, "csv:%s", path);
    cr_assert_eq(ferry_domain_load(spec, "train", &ds), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("shape"), "%s", ferry_last_error());
    const char *ragged = "1,2,0,3,4\n5,6,1,7\n";
    tu_write(path, ragged, strlen(ragged));
    snprintf(spec, sizeof spec, "csv:%s?shape=2x2", path);
    cr_assert_eq(ferry_domain_load(spec, "train", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("t.csv") && tu_msg_has("line 2") && tu_msg_has("ragged"), "%s", ferry_last_error());
}

/* A PNG whose header claims w×h pixels (signature and IHDR only). */
static void write_png_header(const char *path, uint32_t w, uint32_t h)
{
    unsigned char b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) b[16 + i] = (unsigned char)(w >> (24 - 8 * i)), b[20 + i] = (unsigned char)(h >> (24 - 8 * i));
    b[24] = 8, b[25] = 2; /* 8-bit RGB, then compression, filter, interlace 0 and a CRC */
    tu_write(path, b, sizeof b);
}

Test(specs, bad_folders_are_refused_naming_the_file)
{
    char root[TU_PATH], cls[TU_PATH], path[TU_PATH];
    ferry_dataset_t *ds;
    du_mkdir(root, tmp, "huge");
    make_classes(root, pets, 2, 3, 4, 4, 1);
    du_mkdir(cls, root, "zebra");
    tu_join(path, cls, "big.png");
    write_png_header(path, 100000, 100000);
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "train", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("big.png") && tu_msg_has("100000x100000"), "%s", ferry_last_error());
    write_png_header(path, 20000, 300); /* within the decoder's limit, beyond Ferry's per side */
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "train", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("big.png") && tu_msg_has("20000x300"), "%s", ferry_last_error());
    /* unreadable: a file that is no image */
    tu_write(path, "this is text", 12);
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, ""), "train", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("big.png") && tu_msg_has("not an image"), "%s", ferry_last_error());
    /* an empty class folder */
    char empty[TU_PATH];
    du_mkdir(empty, tmp, "empty");
    make_classes(empty, pets, 2, 3, 4, 4, 1);
    du_mkdir(cls, empty, "yak");
    cr_assert_eq(ferry_domain_load(spec_of("folder:", empty, ""), "train", &ds), FERRY_ERR_FORMAT);
    cr_assert(tu_msg_has("yak") && tu_msg_has("empty class folder"), "%s", ferry_last_error());
    cr_assert_eq(ferry_domain_load(spec_of("folder:", tmp, "/missing"), "train", &ds), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has("missing"), "%s", ferry_last_error());
}

Test(specs, checksum_follows_the_content)
{
    char root[TU_PATH], path[TU_PATH + 16], a[65], b[65], c[65];
    du_mkdir(root, tmp, "sum");
    make_classes(root, pets, 2, 3, 4, 4, 1);
    const char *spec = strdup(spec_of("folder:", root, ""));
    cr_assert_eq(ferry_domain_checksum(spec, a), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_domain_checksum(spec, b), FERRY_OK);
    cr_assert_str_eq(a, b);
    snprintf(path, sizeof path, "%s/dog/01.png", root);
    du_write_flat(path, 4, 4, 1, (const unsigned char[]){77}); /* one image edited */
    cr_assert_eq(ferry_domain_checksum(spec, c), FERRY_OK);
    cr_assert_str_neq(a, c);
    /* and so does the task's */
    char task[2 * TU_PATH];
    snprintf(task, sizeof task, "optdigits{0,1}->%s", spec);
    cr_assert_eq(ferry_task_checksum(task, a), FERRY_OK, "%s", ferry_last_error());
    du_write_flat(path, 4, 4, 1, (const unsigned char[]){78});
    cr_assert_eq(ferry_task_checksum(task, b), FERRY_OK);
    cr_assert_str_neq(a, b);
    free((char *)spec);
}

/* Two user folders: source cat/dog/fox, target cat/dog (and a "wolf" the source lacks). */
static void make_pair(char src[TU_PATH], char tgt[TU_PATH])
{
    du_mkdir(src, tmp, "src");
    du_mkdir(tgt, tmp, "tgt");
    make_classes(src, pets, 3, 10, 8, 8, 3);
    make_classes(tgt, pets, 2, 20, 6, 6, 1);
}

Test(specs, inline_and_declared_tasks_match_classes_by_name)
{
    char src[TU_PATH], tgt[TU_PATH], name[2 * TU_PATH + 64];
    make_pair(src, tgt);
    ferry_task_t *t;
    /* the target lacks fox: refused unless partial */
    snprintf(name, sizeof name, "folder:%s->folder:%s", src, tgt);
    cr_assert_eq(ferry_task_load(name, 0, &t), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("partial") && tu_msg_has("fox"), "%s", ferry_last_error());
    char s_spec[TU_PATH + 16], t_spec[TU_PATH + 16];
    snprintf(s_spec, sizeof s_spec, "folder:%s", src);
    snprintf(t_spec, sizeof t_spec, "folder:%s", tgt);
    ferry_task_decl d = {.name = "pets-partial", .source = s_spec, .target = t_spec, .partial = true};
    cr_assert_eq(ferry_task_declare(&d), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_task_load("pets-partial", 0, &t), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_task_classes(t), 3);
    const ferry_task_info *ti = ferry_task_get_info(t);
    cr_assert(ti->c == 3 && ti->h == 8 && ti->w == 8, "%dx%dx%d", ti->c, ti->h, ti->w);
    /* K-shot labels skip the class the target lacks */
    ferry_dataset_t *lab;
    cr_assert_eq(ferry_task_target_labelled(t, 2, 1, &lab), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_dataset_size(lab), 4); /* 2 of cat, 2 of dog */
    ferry_dataset_free(lab);
    ferry_task_free(t);
    /* the same task loaded twice is the same bits */
    ferry_task_t *t2;
    cr_assert_eq(ferry_task_load("pets-partial", 0, &t), FERRY_OK);
    cr_assert_eq(ferry_task_load("pets-partial", 0, &t2), FERRY_OK);
    const ferry_dataset_t *x = ferry_task_target_test(t), *y = ferry_task_target_test(t2);
    cr_assert_eq(ferry_dataset_size(x), ferry_dataset_size(y));
    cr_assert(!memcmp(ferry_dataset_images(x), ferry_dataset_images(y), (size_t)ferry_dataset_size(x) * 192 * sizeof(float)));
    ferry_task_free(t);
    ferry_task_free(t2);
    /* a target class the source does not have is refused; a class map names it */
    char wolf[TU_PATH], path[TU_PATH];
    du_mkdir(wolf, tgt, "wolf");
    tu_join(path, wolf, "a.png");
    du_write_flat(path, 6, 6, 1, (const unsigned char[]){3});
    tu_join(path, wolf, "b.png");
    du_write_flat(path, 6, 6, 1, (const unsigned char[]){5});
    cr_assert_eq(ferry_task_load("pets-partial", 0, &t), FERRY_ERR_INVALID);
    cr_assert(tu_msg_has("'wolf'") && tu_msg_has("not a class of the source"), "%s", ferry_last_error());
    const char *map[] = {"wolf=fox"};
    ferry_task_decl m = {.name = "pets-mapped", .source = s_spec, .target = t_spec, .class_map = map, .n_class_map = 1};
    cr_assert_eq(ferry_task_declare(&m), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_task_load("pets-mapped", 0, &t), FERRY_OK, "%s", ferry_last_error());
    ferry_task_free(t);
}

Test(specs, test_fraction_geometry_and_label_shift)
{
    char src[TU_PATH], tgt[TU_PATH], s_spec[TU_PATH + 16], t_spec[TU_PATH + 16];
    make_pair(src, tgt);
    snprintf(s_spec, sizeof s_spec, "folder:%s{cat,dog}", src);
    snprintf(t_spec, sizeof t_spec, "folder:%s", tgt);
    const double ratio[] = {1.0, 0.5};
    ferry_task_decl d = {.name = "pets-shift", .source = s_spec, .target = t_spec, .test_fraction = 0.5,
                         .h = 5, .w = 5, .c = 1, .target_class_ratio = ratio, .n_target_class_ratio = 2};
    cr_assert_eq(ferry_task_declare(&d), FERRY_OK, "%s", ferry_last_error());
    ferry_task_t *t;
    cr_assert_eq(ferry_task_load("pets-shift", 3, &t), FERRY_OK, "%s", ferry_last_error());
    const ferry_dataset_t *test = ferry_task_target_test(t);
    int c, h, w;
    ferry_dataset_geometry(test, &c, &h, &w);
    cr_assert(c == 1 && h == 5 && w == 5);
    int64_t per[2] = {0, 0};
    for (int64_t i = 0; i < ferry_dataset_size(test); i++) per[ferry_dataset_labels(test)[i]]++;
    cr_assert(per[0] == 10 && per[1] == 5, "test per class %lld %lld", (long long)per[0], (long long)per[1]);
    ferry_task_free(t);
    ferry_task_decl bad = {.name = "x", .source = s_spec, .target = t_spec, .test_fraction = 1.5};
    cr_assert_eq(ferry_task_declare(&bad), FERRY_ERR_INVALID);
    ferry_task_decl clash = {.name = "mnist->mnistm", .source = s_spec, .target = t_spec};
    cr_assert_eq(ferry_task_declare(&clash), FERRY_ERR_INVALID);
}

/* size=HxW on a folder (the form without channels): loaded at that size, channels as asked (found by
 * fuzzing: the parser wrote the channel count through a NULL pointer). */
Test(specs, folder_size_height_by_width)
{
    char root[TU_PATH];
    du_mkdir(root, tmp, "pets");
    make_classes(root, pets, 2, 5, 12, 12, 3);
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, "?size=6x10"), "all", &ds), FERRY_OK, "%s",
                 ferry_last_error());
    int c, h, w;
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_expect(c == 3 && h == 6 && w == 10, "%dx%dx%d", c, h, w);
    ferry_dataset_free(ds);
    cr_assert_eq(ferry_domain_load(spec_of("folder:", root, "?channels=1&size=4x2"), "train", &ds), FERRY_OK, "%s",
                 ferry_last_error());
    ferry_dataset_geometry(ds, &c, &h, &w);
    cr_expect(c == 1 && h == 4 && w == 2, "%dx%dx%d", c, h, w);
    ferry_dataset_free(ds);
    cr_expect_eq(ferry_domain_check(spec_of("folder:", root, "?size=0x4")), FERRY_ERR_INVALID);
    /* CxHxW is the CSV shape's form: a folder's size takes none (the channel count is channels=) */
    cr_expect_eq(ferry_domain_check(spec_of("folder:", root, "?size=3x4x2")), FERRY_ERR_INVALID);
    cr_expect(strstr(ferry_last_error(), "size=3x4x2: expected N, HxW") && !strstr(ferry_last_error(), "CxHxW"), "%s",
              ferry_last_error());
}

/* A redeclared task replaces the definition; the info handed out before stays readable. */
Test(specs, redeclared_task_keeps_old_info_valid)
{
    ferry_task_decl d = {.name = "redeclared", .source = "mnist", .target = "optdigits"};
    cr_assert_eq(ferry_task_declare(&d), FERRY_OK, "%s", ferry_last_error());
    const ferry_task_info *old = ferry_task_info_find("redeclared");
    cr_assert_not_null(old);
    d.target = "fashion";
    cr_assert_eq(ferry_task_declare(&d), FERRY_OK, "%s", ferry_last_error());
    const ferry_task_info *now = ferry_task_info_find("redeclared");
    cr_assert_not_null(now);
    cr_expect_str_eq(now->target, "fashion");
    cr_expect_str_eq(old->target, "optdigits");
}

/* A CSV label column beyond an int is refused as not a column index (found by fuzzing: the check
 * converted the value to int before comparing it with the limit). */
Test(specs, csv_label_column_beyond_int_is_refused)
{
    static const char *const specs[] = {"csv:/x.csv?shape=1x2x2&label=55555555550", "csv:/x.csv?shape=1x2x2&label=1e300",
                                        "csv:/x.csv?shape=1x2x2&label=inf", "csv:/x.csv?shape=1x2x2&label=1000001"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        cr_expect_eq(ferry_domain_check(specs[i]), FERRY_ERR_INVALID, "%s", specs[i]);
        cr_expect(strstr(ferry_last_error(), "is not a valid column index") && strstr(ferry_last_error(), specs[i]),
                  "%s", ferry_last_error());
    }
    cr_expect_eq(ferry_domain_check("csv:/x.csv?shape=1x2x2&label=1000000"), FERRY_OK, "%s", ferry_last_error());
}

/* A rotation by a non-finite angle is an unknown variant, and a variant the transform refuses is
 * reported with the domain's spec (found by fuzzing: "@rotnan" gave a message naming only the data
 * set's short name). */
Test(specs, bad_variants_are_refused_naming_the_spec)
{
    char path[TU_PATH];
    tu_join(path, tmp, "two.csv");
    tu_write(path, "0,1,2,3,4\n1,5,6,7,8\n0,9,9,9,9\n1,0,0,0,0\n0,1,1,1,1\n1,2,2,2,2\n", 60);
    static const char *const bad[] = {"@rotnan", "@rotinf", "@rot-inf", "@rot1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *spec = spec_of("csv:", path, "?shape=1x2x2");
        char full[TU_PATH + 300];
        snprintf(full, sizeof full, "%s%s", spec, bad[i]);
        ferry_dataset_t *ds = NULL;
        cr_expect_eq(ferry_domain_load(full, "all", &ds), FERRY_ERR_INVALID, "%s", full);
        cr_expect_null(ds);
        cr_expect(strstr(ferry_last_error(), full) && strstr(ferry_last_error(), "unknown variant"), "%s",
                  ferry_last_error());
    }
    /* two channels cannot be coloured: the transform's refusal names the spec */
    tu_join(path, tmp, "two-channels.csv");
    tu_write(path, "0,1,2\n1,4,5\n0,1,1\n1,2,2\n0,3,3\n1,4,4\n", 36);
    char full[TU_PATH + 300];
    snprintf(full, sizeof full, "csv:%s?shape=2x1x1@color0.5", path);
    ferry_dataset_t *ds = NULL;
    cr_expect_neq(ferry_domain_load(full, "all", &ds), FERRY_OK);
    cr_expect(strstr(ferry_last_error(), full) && strstr(ferry_last_error(), "variant 'color0.5'"), "%s",
              ferry_last_error());
}
