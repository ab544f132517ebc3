/* Transfer tasks: two domains brought to one geometry, with fixed seeded stratified splits. */
#include "data_internal.h"
#include "ferry/task.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a domain is brought to the task geometry: convert to c channels and inner×inner pixels
 * (bilinear), then zero-pad `pad` pixels on every side. */
struct prep {
    int c, inner, pad;
};

struct task_def {
    ferry_task_info info;
    struct prep src, tgt;
};

static const struct task_def tasks[] = {
    {{"mnist->optdigits", "handwritten digits (MNIST) to 8x8 digits of other writers (UCI Optdigits)",
      "mnist", "optdigits", 1, 28, 28,
      "optdigits: 0-16 -> [0,1], bilinear 8x8 -> 20x20, zero-pad 4 (MNIST's 20x20 box in 28x28)"},
     {1, 28, 0}, {1, 20, 4}},
    {{"optdigits->mnist", "UCI Optdigits to MNIST", "optdigits", "mnist", 1, 28, 28,
      "optdigits: 0-16 -> [0,1], bilinear 8x8 -> 20x20, zero-pad 4"},
     {1, 20, 4}, {1, 28, 0}},
    {{"synthdigits->mnist", "rendered digits in many fonts to MNIST", "synthdigits", "mnist", 1, 28, 28,
      "synthdigits: RGB -> luminance, bilinear 32x32 -> 28x28"},
     {1, 28, 0}, {1, 28, 0}},
    {{"mnist->mnistm", "MNIST to MNIST digits blended over photographs", "mnist", "mnistm", 3, 28, 28,
      "mnist: grey replicated to RGB"},
     {3, 28, 0}, {3, 28, 0}},
    {{"fashion->fashion@rot45", "Fashion-MNIST upright to rotated by 45 degrees", "fashion",
      "fashion@rot45", 1, 28, 28, "target: rotated 45 degrees about the centre, bilinear, zero fill"},
     {1, 28, 0}, {1, 28, 0}},
    {{"coloredfashion", "Fashion-MNIST tinted red/green: tint agrees with label parity 90% (source) "
      "and 10% (target)", "fashion@color0.9", "fashion@color0.1", 3, 28, 28,
      "both: grey -> RGB tint by label parity (ColoredMNIST protocol)"},
     {3, 28, 0}, {3, 28, 0}},
};

#define N_TASKS ((int)(sizeof tasks / sizeof tasks[0]))

int ferry_task_count(void) { return N_TASKS; }
const ferry_task_info *ferry_task_info_at(int i) { return i >= 0 && i < N_TASKS ? &tasks[i].info : NULL; }

static const struct task_def *find_def(const char *name)
{
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(tasks[i].info.name, name) == 0) return &tasks[i];
    return NULL;
}

const ferry_task_info *ferry_task_info_find(const char *name)
{
    const struct task_def *d = find_def(name);
    return d ? &d->info : NULL;
}

static const char *const split_names[FERRY_SPLIT_COUNT] = {
    "source-train", "source-val", "target-train", "target-val", "target-test"};

const char *ferry_split_name(ferry_split s)
{
    return (unsigned)s < FERRY_SPLIT_COUNT ? split_names[s] : "?";
}

/* ---- unlabelled data ------------------------------------------------------------------------- */

struct ferry_unlabelled {
    int64_t n;
    int c, h, w;
    float *images;
};

int64_t ferry_unlabelled_size(const ferry_unlabelled_t *u) { return u->n; }
const float *ferry_unlabelled_images(const ferry_unlabelled_t *u) { return u->images; }
void ferry_unlabelled_geometry(const ferry_unlabelled_t *u, int *c, int *h, int *w)
{
    *c = u->c;
    *h = u->h;
    *w = u->w;
}

/* ---- tasks ------------------------------------------------------------------------------------- */

struct ferry_task {
    const struct task_def *def;
    ferry_dataset_t *split[FERRY_SPLIT_COUNT]; /* target train kept only as `unlabelled` */
    ferry_unlabelled_t unlabelled;
    int32_t *target_train_labels; /* kept apart: handed out only as a K-shot labelled subset */
    int64_t *idx[FERRY_SPLIT_COUNT];
    int64_t n[FERRY_SPLIT_COUNT];
    int classes;
};

const ferry_task_info *ferry_task_get_info(const ferry_task_t *t) { return &t->def->info; }
int ferry_task_classes(const ferry_task_t *t) { return t->classes; }
const ferry_dataset_t *ferry_task_source_train(const ferry_task_t *t) { return t->split[FERRY_SPLIT_SOURCE_TRAIN]; }
const ferry_dataset_t *ferry_task_source_val(const ferry_task_t *t) { return t->split[FERRY_SPLIT_SOURCE_VAL]; }
const ferry_unlabelled_t *ferry_task_target_train(const ferry_task_t *t) { return &t->unlabelled; }
const ferry_dataset_t *ferry_task_target_val(const ferry_task_t *t) { return t->split[FERRY_SPLIT_TARGET_VAL]; }
const ferry_dataset_t *ferry_task_target_test(const ferry_task_t *t) { return t->split[FERRY_SPLIT_TARGET_TEST]; }

struct keyed {
    int64_t key, pos;
};
static int by_key(const void *a, const void *b)
{
    int64_t x = ((const struct keyed *)a)->key, y = ((const struct keyed *)b)->key;
    return (x > y) - (x < y);
}

/* The unlabelled split in the order of its examples' indices in the target's train part, so the
 * file's order says nothing of the classes (the split itself is grouped by class). */
static ferry_status export_unlabelled(const ferry_task_t *t, const char *dir, const char *name)
{
    const ferry_unlabelled_t *u = &t->unlabelled;
    const size_t per = (size_t)u->c * (size_t)u->h * (size_t)u->w;
    struct keyed *order = malloc(((size_t)u->n + 1) * sizeof *order);
    float *x = malloc(((size_t)u->n * per + 1) * sizeof *x);
    if (!order || !x) {
        free(order);
        free(x);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory exporting %s", dir, name);
    }
    for (int64_t i = 0; i < u->n; i++) order[i] = (struct keyed){t->idx[FERRY_SPLIT_TARGET_TRAIN][i], i};
    qsort(order, (size_t)u->n, sizeof *order, by_key);
    for (int64_t i = 0; i < u->n; i++)
        memcpy(x + (size_t)i * per, u->images + (size_t)order[i].pos * per, per * sizeof *x);
    ferry_status s = ferry_export_images_idx(x, u->n, u->c, u->h, u->w, dir, name);
    free(order);
    free(x);
    return s;
}

ferry_status ferry_task_export_idx(const ferry_task_t *t, const char *dir)
{
    if (!t || !dir) return ferry_error(FERRY_ERR_INVALID, "task_export_idx: NULL argument");
    for (int s = 0; s < FERRY_SPLIT_COUNT; s++) {
        const char *name = ferry_split_name((ferry_split)s);
        ferry_status st = s == FERRY_SPLIT_TARGET_TRAIN ? export_unlabelled(t, dir, name)
                                                        : ferry_dataset_export_idx(t->split[s], dir, name);
        if (st) return st;
    }
    return FERRY_OK;
}

const int64_t *ferry_task_split_indices(const ferry_task_t *t, ferry_split s, int64_t *n)
{
    *n = (unsigned)s < FERRY_SPLIT_COUNT ? t->n[s] : 0;
    return (unsigned)s < FERRY_SPLIT_COUNT ? t->idx[s] : NULL;
}

void ferry_task_free(ferry_task_t *t)
{
    if (!t) return;
    for (int s = 0; s < FERRY_SPLIT_COUNT; s++) {
        ferry_dataset_free(t->split[s]);
        free(t->idx[s]);
    }
    free(t->unlabelled.images);
    free(t->target_train_labels);
    free(t);
}

/* After a transform that produced next with status s: *ds becomes next when it succeeded.
 * (Call the transform first: C leaves the order of evaluating arguments open.) */
static ferry_status replace(ferry_dataset_t **ds, ferry_status s, ferry_dataset_t *next)
{
    if (s) return s;
    ferry_dataset_free(*ds);
    *ds = next;
    return FERRY_OK;
}

static ferry_status pad(ferry_dataset_t **ds, int p)
{
    const ferry_dataset_t *in = *ds;
    int c = in->c, h = in->h + 2 * p, w = in->w + 2 * p;
    char name[160];
    snprintf(name, sizeof name, "%s@pad%d", in->name, p);
    ferry_dataset_t *out;
    ferry_status s = ferry_dataset_alloc(name, in->n, c, h, w, in->classes, &out);
    if (s) return s;
    memset(out->images, 0, (size_t)in->n * c * h * w * sizeof(float));
    for (int64_t i = 0; i < in->n * c; i++)
        for (int y = 0; y < in->h; y++)
            memcpy(out->images + (i * h + y + p) * w + p, in->images + (i * in->h + y) * in->w,
                   (size_t)in->w * sizeof(float));
    memcpy(out->labels, in->labels, (size_t)in->n * sizeof *in->labels);
    ferry_dataset_free(*ds);
    *ds = out;
    return FERRY_OK;
}

/* Fixed seed of a variant, from its spec: the domain's definition never depends on a run's seed. */
static uint64_t spec_seed(const char *spec)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = spec; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

ferry_status ferry_domain_load(const char *spec, const char *part, ferry_dataset_t **out)
{
    char base[64];
    const char *at = strchr(spec, '@');
    size_t len = at ? (size_t)(at - spec) : strlen(spec);
    if (len >= sizeof base) return ferry_error(FERRY_ERR_INVALID, "domain '%s': name too long", spec);
    memcpy(base, spec, len);
    base[len] = '\0';
    ferry_dataset_t *ds = NULL, *next = NULL;
    ferry_status s = ferry_dataset_load(base, part, &ds);
    double v;
    char extra;
    if (!s && at && sscanf(at, "@rot%lf%c", &v, &extra) == 1) {
        s = ferry_dataset_rotate(ds, v, &next);
        s = replace(&ds, s, next);
    } else if (!s && at && sscanf(at, "@color%lf%c", &v, &extra) == 1 && v >= 0 && v <= 1) {
        s = ferry_dataset_colorize(ds, v, spec_seed(spec) ^ (uint64_t)(part[1] == 'r'), &next);
        s = replace(&ds, s, next);
    } else if (!s && at)
        s = ferry_error(FERRY_ERR_INVALID, "domain '%s': unknown variant '%s' (rotD, colorP with P in [0,1])",
                        spec, at + 1);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}

/* A domain brought to the task geometry. */
static ferry_status load_domain(const char *spec, const char *part, const struct prep *pr,
                                ferry_dataset_t **out)
{
    ferry_dataset_t *ds = NULL, *next = NULL;
    ferry_status s = ferry_domain_load(spec, part, &ds);
    if (!s && (ds->c != pr->c || ds->h != pr->inner || ds->w != pr->inner)) {
        s = ferry_dataset_convert(ds, pr->c, pr->inner, pr->inner, &next);
        s = replace(&ds, s, next);
    }
    if (!s && pr->pad) s = pad(&ds, pr->pad);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}

/* Stratified split of ds: per class a seeded shuffle, the first round(frac·count) go to a. */
static ferry_status stratified(const ferry_dataset_t *ds, double frac, uint64_t seed, int64_t **a,
                               int64_t *na, int64_t **b, int64_t *nb)
{
    int64_t n = ds->n;
    *a = malloc((size_t)(n + 1) * sizeof **a);
    *b = malloc((size_t)(n + 1) * sizeof **b);
    int64_t *cls = malloc((size_t)(n + 1) * sizeof *cls);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ferry_status s = FERRY_OK;
    if (!*a || !*b || !cls || !r) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory splitting %s", ds->name);
        goto done;
    }
    gsl_rng_set(r, (unsigned long)seed);
    *na = *nb = 0;
    for (int k = 0; k < ds->classes; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (ds->labels[i] == k) cls[m++] = i;
        if (m > 1) gsl_ran_shuffle(r, cls, (size_t)m, sizeof *cls);
        int64_t take = (int64_t)(frac * (double)m + 0.5);
        for (int64_t j = 0; j < m; j++) {
            if (j < take)
                (*a)[(*na)++] = cls[j];
            else
                (*b)[(*nb)++] = cls[j];
        }
    }
done:
    gsl_rng_free(r);
    free(cls);
    return s;
}

static ferry_status make_split(ferry_task_t *t, ferry_split sp, const ferry_dataset_t *pool,
                               int64_t *idx, int64_t n)
{
    char name[192];
    snprintf(name, sizeof name, "%s:%s", t->def->info.name, split_names[sp]);
    t->idx[sp] = idx;
    t->n[sp] = n;
    return ferry_dataset_subset(pool, idx, n, name, &t->split[sp]);
}

/* Source: train part -> source train/val. Target: train part -> target train/val; test part. */
static ferry_status build(ferry_task_t *t, uint64_t seed)
{
    const struct task_def *d = t->def;
    ferry_dataset_t *src = NULL, *tgt = NULL, *test = NULL;
    int64_t *a, *b, na, nb;
    ferry_status s;
    if ((s = load_domain(d->info.source, "train", &d->src, &src)) ||
        (s = load_domain(d->info.target, "train", &d->tgt, &tgt)) ||
        (s = load_domain(d->info.target, "test", &d->tgt, &test)))
        goto done;
    t->classes = src->classes > tgt->classes ? src->classes : tgt->classes;
    if ((s = stratified(src, 0.9, seed * 2 + 0, &a, &na, &b, &nb)) ||
        (s = make_split(t, FERRY_SPLIT_SOURCE_TRAIN, src, a, na)) ||
        (s = make_split(t, FERRY_SPLIT_SOURCE_VAL, src, b, nb)))
        goto done;
    if ((s = stratified(tgt, 0.9, seed * 2 + 1, &a, &na, &b, &nb)) ||
        (s = make_split(t, FERRY_SPLIT_TARGET_TRAIN, tgt, a, na)) ||
        (s = make_split(t, FERRY_SPLIT_TARGET_VAL, tgt, b, nb)))
        goto done;
    int64_t *all = malloc((size_t)(test->n + 1) * sizeof *all);
    if (!all) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory building %s", d->info.name);
        goto done;
    }
    for (int64_t i = 0; i < test->n; i++) all[i] = i;
    if ((s = make_split(t, FERRY_SPLIT_TARGET_TEST, test, all, test->n))) goto done;
    /* the target's training images leave their labels behind */
    ferry_dataset_t *tt = t->split[FERRY_SPLIT_TARGET_TRAIN];
    t->unlabelled = (ferry_unlabelled_t){.n = tt->n, .c = tt->c, .h = tt->h, .w = tt->w,
                                         .images = tt->images};
    t->target_train_labels = tt->labels;
    tt->images = NULL;
    tt->labels = NULL;
    ferry_dataset_free(tt);
    t->split[FERRY_SPLIT_TARGET_TRAIN] = NULL;
done:
    ferry_dataset_free(src);
    ferry_dataset_free(tgt);
    ferry_dataset_free(test);
    return s;
}

ferry_status ferry_task_load(const char *name, uint64_t split_seed, ferry_task_t **out)
{
    const struct task_def *d = find_def(name);
    if (!d) {
        char list[512] = "";
        for (int i = 0; i < N_TASKS; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     tasks[i].info.name);
        return ferry_error(FERRY_ERR_NOT_FOUND, "unknown task '%s' (%s)", name, list);
    }
    ferry_task_t *t = calloc(1, sizeof *t);
    if (!t) return ferry_error(FERRY_ERR_NOMEM, "out of memory loading task %s", name);
    t->def = d;
    ferry_status s = build(t, split_seed);
    if (s) {
        ferry_task_free(t);
        return s;
    }
    *out = t;
    return FERRY_OK;
}

ferry_status ferry_task_target_labelled(const ferry_task_t *t, int k, uint64_t seed, ferry_dataset_t **out)
{
    *out = NULL;
    const ferry_unlabelled_t *u = &t->unlabelled;
    if (k < 1) return ferry_error(FERRY_ERR_INVALID, "%s: labelled target examples per class must be >= 1, not %d",
                                  t->def->info.name, k);
    int64_t *pick = malloc((size_t)(t->classes * k + 1) * sizeof *pick);
    int64_t *cls = malloc((size_t)(u->n + 1) * sizeof *cls);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ferry_status s = FERRY_OK;
    int64_t n = 0;
    if (!pick || !cls || !r) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory choosing labelled target examples");
        goto done;
    }
    gsl_rng_set(r, (unsigned long)(seed * 2654435761u + 17));
    for (int c = 0; c < t->classes; c++) {
        int64_t m = 0;
        for (int64_t i = 0; i < u->n; i++)
            if (t->target_train_labels[i] == c) cls[m++] = i;
        if (m < k) {
            s = ferry_error(FERRY_ERR_INVALID, "%s: class %d has %lld target training examples, fewer than %d",
                            t->def->info.name, c, (long long)m, k);
            goto done;
        }
        gsl_ran_shuffle(r, cls, (size_t)m, sizeof *cls);
        for (int j = 0; j < k; j++) pick[n++] = cls[j];
    }
    char name[192];
    snprintf(name, sizeof name, "%s:target-train-%d-per-class", t->def->info.name, k);
    const size_t img = (size_t)u->c * u->h * u->w;
    if ((s = ferry_dataset_alloc(name, n, u->c, u->h, u->w, t->classes, out))) goto done;
    for (int64_t i = 0; i < n; i++) {
        memcpy((*out)->images + (size_t)i * img, u->images + (size_t)pick[i] * img, img * sizeof(float));
        (*out)->labels[i] = t->target_train_labels[pick[i]];
    }
done:
    gsl_rng_free(r);
    free(cls);
    free(pick);
    return s;
}
