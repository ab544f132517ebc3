/* Transfer tasks: two domains brought to one geometry, with fixed seeded stratified splits. */
#include "data_internal.h"
#include "ferry/io.h"
#include "ferry/task.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <pthread.h>
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
    /* a user's task */
    bool user, partial;
    char *target_test;
    double test_fraction;
    char **map_from, **map_to; /* target class name -> source class name */
    int n_map;
    double *ratio;
    int n_ratio;
};

static const struct task_def tasks[] = {
    {.info = {"mnist->optdigits", "handwritten digits (MNIST) to 8x8 digits of other writers (UCI Optdigits)",
      "mnist", "optdigits", 1, 28, 28,
      "optdigits: 0-16 -> [0,1], bilinear 8x8 -> 20x20, zero-pad 4 (MNIST's 20x20 box in 28x28)"},
     .src = {1, 28, 0}, .tgt = {1, 20, 4}},
    {.info = {"optdigits->mnist", "UCI Optdigits to MNIST", "optdigits", "mnist", 1, 28, 28,
      "optdigits: 0-16 -> [0,1], bilinear 8x8 -> 20x20, zero-pad 4"},
     .src = {1, 20, 4}, .tgt = {1, 28, 0}},
    {.info = {"synthdigits->mnist", "rendered digits in many fonts to MNIST", "synthdigits", "mnist", 1, 28, 28,
      "synthdigits: RGB -> luminance, bilinear 32x32 -> 28x28"},
     .src = {1, 28, 0}, .tgt = {1, 28, 0}},
    {.info = {"mnist->mnistm", "MNIST to MNIST digits blended over photographs", "mnist", "mnistm", 3, 28, 28,
      "mnist: grey replicated to RGB"},
     .src = {3, 28, 0}, .tgt = {3, 28, 0}},
    {.info = {"fashion->fashion@rot45", "Fashion-MNIST upright to rotated by 45 degrees", "fashion",
      "fashion@rot45", 1, 28, 28, "target: rotated 45 degrees about the centre, bilinear, zero fill"},
     .src = {1, 28, 0}, .tgt = {1, 28, 0}},
    {.info = {"coloredfashion", "Fashion-MNIST tinted red/green: tint agrees with label parity 90% (source) "
      "and 10% (target)", "fashion@color0.9", "fashion@color0.1", 3, 28, 28,
      "both: grey -> RGB tint by label parity (ColoredMNIST protocol)"},
     .src = {3, 28, 0}, .tgt = {3, 28, 0}},
};

#define N_TASKS ((int)(sizeof tasks / sizeof tasks[0]))

int ferry_task_count(void) { return N_TASKS; }
const ferry_task_info *ferry_task_info_at(int i) { return i >= 0 && i < N_TASKS ? &tasks[i].info : NULL; }

/* ---- users' tasks: declared, or inline "SOURCE->TARGET"; kept for the process ------------------ */

static pthread_mutex_t user_lock = PTHREAD_MUTEX_INITIALIZER;
static struct task_def **user_defs;
static int n_user, cap_user;
/* definitions a redeclaration replaced: kept, since info pointers handed out must stay valid */
static struct task_def **retired_defs;
static int n_retired, cap_retired;

static void def_free(struct task_def *d)
{
    if (!d) return;
    free((char *)d->info.name);
    free((char *)d->info.summary);
    free((char *)d->info.source);
    free((char *)d->info.target);
    free((char *)d->info.geometry);
    free(d->target_test);
    for (int i = 0; i < d->n_map; i++) free(d->map_from[i]), free(d->map_to[i]);
    free(d->map_from);
    free(d->map_to);
    free(d->ratio);
    free(d);
}

bool ferry_task_is_builtin(const char *name)
{
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(tasks[i].info.name, name) == 0) return true;
    return false;
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s) return NULL;
    char *r = strdup(s);
    if (!r) *ok = false;
    return r;
}

ferry_status ferry_task_declare(const ferry_task_decl *in)
{
    if (!in || !in->name || !in->name[0] || !in->source || !in->target)
        return ferry_error(FERRY_ERR_INVALID, "task: a declared task needs a name, a source and a target");
    const char *n = in->name;
    if (ferry_task_is_builtin(n)) return ferry_error(FERRY_ERR_INVALID, "task '%s': a built-in task has that name", n);
    ferry_status s;
    if ((s = ferry_domain_check(in->source)) || (s = ferry_domain_check(in->target)) ||
        (in->target_test && (s = ferry_domain_check(in->target_test))))
        return s;
    if (in->target_test && in->test_fraction > 0)
        return ferry_error(FERRY_ERR_INVALID, "task '%s': give a target test set or a test fraction, not both", n);
    if (!(in->test_fraction >= 0 && in->test_fraction < 1))
        return ferry_error(FERRY_ERR_INVALID, "task '%s': test fraction %g is outside (0, 1)", n, in->test_fraction);
    if ((in->c && in->c != 1 && in->c != 3) || in->h < 0 || in->w < 0 || in->h > 4096 || in->w > 4096 ||
        (in->h == 0) != (in->w == 0))
        return ferry_error(FERRY_ERR_INVALID, "task '%s': geometry %dx%dx%d (channels 1 or 3, a size up to 4096)", n,
                           in->c, in->h, in->w);
    for (int i = 0; i < in->n_target_class_ratio; i++)
        if (!(in->target_class_ratio[i] > 0 && in->target_class_ratio[i] <= 1))
            return ferry_error(FERRY_ERR_INVALID, "task '%s': target class ratio %g (class %d) is outside (0, 1]", n,
                               in->target_class_ratio[i], i);
    struct task_def *d = calloc(1, sizeof *d);
    bool ok = d != NULL;
    if (ok) {
        char geo[160];
        if (in->h) snprintf(geo, sizeof geo, "both domains to %dx%d%s (bilinear)", in->h, in->w,
                            in->c == 3 ? ", RGB" : in->c == 1 ? ", grey" : "");
        else snprintf(geo, sizeof geo, "the target to the source's size (bilinear), the larger channel count");
        d->user = true;
        d->partial = in->partial;
        d->test_fraction = in->test_fraction;
        d->info.name = dup_or_null(n, &ok);
        d->info.summary = dup_or_null(in->summary ? in->summary : "a user's task", &ok);
        d->info.source = dup_or_null(in->source, &ok);
        d->info.target = dup_or_null(in->target, &ok);
        d->info.geometry = dup_or_null(geo, &ok);
        d->info.c = in->c, d->info.h = in->h, d->info.w = in->w;
        d->target_test = dup_or_null(in->target_test, &ok);
        if (ok && in->n_class_map) {
            d->map_from = calloc((size_t)in->n_class_map, sizeof *d->map_from);
            d->map_to = calloc((size_t)in->n_class_map, sizeof *d->map_to);
            ok = d->map_from && d->map_to;
            for (int i = 0; ok && i < in->n_class_map; i++, d->n_map++) {
                const char *eq = strchr(in->class_map[i], '=');
                if (!eq || eq == in->class_map[i] || !eq[1]) {
                    def_free(d);
                    return ferry_error(FERRY_ERR_INVALID, "task '%s': class map entry '%s' is not TARGET=SOURCE", n,
                                       in->class_map[i]);
                }
                d->map_from[i] = strndup(in->class_map[i], (size_t)(eq - in->class_map[i]));
                d->map_to[i] = strdup(eq + 1);
                ok = d->map_from[i] && d->map_to[i];
            }
        }
        if (ok && in->n_target_class_ratio) {
            ok = (d->ratio = malloc((size_t)in->n_target_class_ratio * sizeof *d->ratio)) != NULL;
            if (ok) memcpy(d->ratio, in->target_class_ratio, (size_t)in->n_target_class_ratio * sizeof *d->ratio);
            d->n_ratio = in->n_target_class_ratio;
        }
    }
    if (!ok) {
        def_free(d);
        return ferry_error(FERRY_ERR_NOMEM, "task '%s': out of memory", n);
    }
    pthread_mutex_lock(&user_lock);
    int at = -1;
    for (int i = 0; i < n_user; i++)
        if (!strcmp(user_defs[i]->info.name, n)) at = i;
    bool redeclared = at >= 0;
    if (!redeclared && n_user == cap_user) {
        int cap = cap_user ? 2 * cap_user : 8;
        struct task_def **v = realloc(user_defs, (size_t)cap * sizeof *v);
        if (v) user_defs = v, cap_user = cap;
    }
    if (redeclared && n_retired == cap_retired) {
        int cap = cap_retired ? 2 * cap_retired : 8;
        struct task_def **v = realloc(retired_defs, (size_t)cap * sizeof *v);
        if (v) retired_defs = v, cap_retired = cap;
    }
    if (!redeclared && n_user < cap_user) at = n_user++;
    /* a redeclared task's old definition stays allocated, on the retired list: info pointers
     * handed out stay valid */
    if (redeclared && n_retired < cap_retired) retired_defs[n_retired++] = user_defs[at];
    else if (redeclared) at = -1;
    if (at >= 0) user_defs[at] = d;
    pthread_mutex_unlock(&user_lock);
    if (at < 0) {
        def_free(d);
        return ferry_error(FERRY_ERR_NOMEM, "task '%s': out of memory", n);
    }
    return FERRY_OK;
}

static const struct task_def *find_user(const char *name)
{
    const struct task_def *d = NULL;
    pthread_mutex_lock(&user_lock);
    for (int i = 0; i < n_user && !d; i++)
        if (!strcmp(user_defs[i]->info.name, name)) d = user_defs[i];
    pthread_mutex_unlock(&user_lock);
    return d;
}

static const struct task_def *find_def(const char *name)
{
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(tasks[i].info.name, name) == 0) return &tasks[i];
    const struct task_def *d = find_user(name);
    if (d) return d;
    /* inline: SOURCE->TARGET, split at the first "->" outside braces */
    int depth = 0;
    for (const char *p = name; *p; p++) {
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
        if (depth == 0 && p[0] == '-' && p[1] == '>') {
            char *src = strndup(name, (size_t)(p - name));
            ferry_task_decl decl = {.name = name, .source = src, .target = p + 2, .summary = "an inline task"};
            ferry_status s = src ? ferry_task_declare(&decl) : ferry_error(FERRY_ERR_NOMEM, "out of memory");
            free(src);
            return s ? NULL : find_user(name);
        }
    }
    char list[512] = "";
    for (int i = 0; i < N_TASKS; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", tasks[i].info.name);
    ferry_error(FERRY_ERR_NOT_FOUND, "unknown task '%s' (built-in: %s; or SOURCE->TARGET with two domain specs)",
                name, list);
    return NULL;
}

const ferry_task_info *ferry_task_info_find(const char *name)
{
    const struct task_def *d = name ? find_def(name) : NULL;
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
    ferry_task_info info; /* the definition's, with the geometry it was loaded at */
    ferry_dataset_t *split[FERRY_SPLIT_COUNT]; /* target train kept only as `unlabelled` */
    ferry_unlabelled_t unlabelled;
    int32_t *target_train_labels; /* kept apart: handed out only as a K-shot labelled subset */
    int64_t *idx[FERRY_SPLIT_COUNT];
    int64_t n[FERRY_SPLIT_COUNT];
    int classes;
};

const ferry_task_info *ferry_task_get_info(const ferry_task_t *t) { return &t->info; }
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
    ferry_status s = ferry_dataset_alloc_like(name, in->n, c, h, w, in, &out);
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

/* ds brought to c channels and h×w pixels (bilinear), then zero-padded by pad on every side. */
static ferry_status to_geometry(ferry_dataset_t **ds, int c, int h, int w, int p)
{
    ferry_dataset_t *next = NULL;
    ferry_status s = FERRY_OK;
    if ((*ds)->c != c || (*ds)->h != h || (*ds)->w != w) {
        s = ferry_dataset_convert(*ds, c, h, w, &next);
        s = replace(ds, s, next);
    }
    if (!s && p) s = pad(ds, p);
    return s;
}

/* A domain brought to the task geometry. */
static ferry_status load_domain(const char *spec, const char *part, const struct prep *pr,
                                ferry_dataset_t **out)
{
    ferry_dataset_t *ds = NULL;
    ferry_status s = ferry_domain_load(spec, part, &ds);
    if (!s) s = to_geometry(&ds, pr->c, pr->inner, pr->inner, pr->pad);
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
    if (n == 0) {
        free(idx);
        return ferry_error(FERRY_ERR_INVALID, "task '%s': its %s split is empty (too few examples in %s)",
                           t->def->info.name, split_names[sp], sp <= FERRY_SPLIT_SOURCE_VAL ? t->def->info.source
                                                                                          : t->def->info.target);
    }
    t->idx[sp] = idx;
    t->n[sp] = n;
    return ferry_dataset_subset(pool, idx, n, name, &t->split[sp]);
}

static void class_list(const ferry_dataset_t *ds, char *out, size_t n)
{
    char buf[32];
    out[0] = '\0';
    for (int k = 0; k < ds->classes && strlen(out) + 40 < n; k++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", k ? ", " : "", ferry_dataset_class_name(ds, k, buf, sizeof buf));
}

/* ds's labels in the source's numbering, its classes matched to the source's by name (through the
 * task's class map); cover: every source class must be among them unless the task is partial. */
static ferry_status match_classes(const struct task_def *d, const ferry_dataset_t *src, ferry_dataset_t *ds,
                                  const char *spec, bool cover)
{
    int *map = malloc(((size_t)ds->classes + 1) * sizeof *map);
    bool *hit = calloc((size_t)src->classes + 1, sizeof *hit);
    char a[32], b[32], list[600];
    ferry_status s = map && hit ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory matching classes");
    for (int k = 0; !s && k < ds->classes; k++) {
        const char *name = ferry_dataset_class_name(ds, k, a, sizeof a);
        for (int i = 0; i < d->n_map; i++)
            if (!strcmp(d->map_from[i], name)) name = d->map_to[i];
        map[k] = -1;
        for (int j = 0; j < src->classes && map[k] < 0; j++)
            if (!strcmp(ferry_dataset_class_name(src, j, b, sizeof b), name)) map[k] = j;
        if (map[k] < 0) {
            class_list(src, list, sizeof list);
            s = ferry_error(FERRY_ERR_INVALID, "task '%s': the target's class '%s' (%s) is not a class of the source %s "
                            "(its classes: %s; a class_map can name it)", d->info.name, name, spec, d->info.source, list);
        } else if (hit[map[k]]) {
            s = ferry_error(FERRY_ERR_INVALID, "task '%s': two classes of %s are the source's class '%s'", d->info.name,
                            spec, name);
        } else {
            hit[map[k]] = true;
        }
    }
    if (!s && cover && !d->partial && ds->classes != src->classes) {
        char missing[600] = "";
        for (int j = 0; j < src->classes && strlen(missing) + 40 < sizeof missing; j++)
            if (!hit[j]) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", missing[0] ? ", " : "",
                                  ferry_dataset_class_name(src, j, b, sizeof b));
        s = ferry_error(FERRY_ERR_INVALID, "task '%s': the target %s has %d of the source's %d classes (missing: %s); "
                        "declare the task partial for partial adaptation", d->info.name, spec, ds->classes,
                        src->classes, missing);
    }
    if (!s) {
        for (int64_t i = 0; i < ds->n; i++) ds->labels[i] = map[ds->labels[i]];
        if (ds->class_names)
            for (int k = 0; k < ds->classes; k++) free(ds->class_names[k]);
        free(ds->class_names);
        ds->class_names = NULL;
        ds->classes = src->classes;
        if (src->class_names) s = ferry_dataset_set_class_names(ds, (const char *const *)src->class_names);
    }
    free(map);
    free(hit);
    return s;
}

/* Label shift: of each class k of ds, a seeded ratio[k] of its examples (at least one). */
static ferry_status keep_ratio(const struct task_def *d, ferry_dataset_t **ds, uint64_t seed)
{
    if (!d->n_ratio) return FERRY_OK;
    ferry_dataset_t *in = *ds;
    if (d->n_ratio != in->classes)
        return ferry_error(FERRY_ERR_INVALID, "task '%s': %d target class ratios for the target's %d classes",
                           d->info.name, d->n_ratio, in->classes);
    int64_t *keep = malloc(((size_t)in->n + 1) * sizeof *keep), *cls = malloc(((size_t)in->n + 1) * sizeof *cls), n = 0;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    ferry_status s = keep && cls && r ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory sub-sampling");
    if (!s) gsl_rng_set(r, (unsigned long)(seed * 7919u + 3));
    for (int k = 0; !s && k < in->classes; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < in->n; i++)
            if (in->labels[i] == k) cls[m++] = i;
        if (m > 1) gsl_ran_shuffle(r, cls, (size_t)m, sizeof *cls);
        int64_t take = (int64_t)(d->ratio[k] * (double)m + 0.5);
        if (take < 1 && m > 0) take = 1;
        for (int64_t j = 0; j < take; j++) keep[n++] = cls[j];
    }
    ferry_dataset_t *out = NULL;
    if (!s) s = ferry_dataset_subset(in, keep, n, in->name, &out);
    if (!s) replace(ds, s, out);
    gsl_rng_free(r);
    free(keep);
    free(cls);
    return s;
}

static ferry_status stratified(const ferry_dataset_t *ds, double frac, uint64_t seed, int64_t **a,
                               int64_t *na, int64_t **b, int64_t *nb);

/* A user's task: its domains at the task's geometry (the source's by default). */
static ferry_status load_user(ferry_task_t *t, uint64_t seed, ferry_dataset_t **src, ferry_dataset_t **tgt,
                              ferry_dataset_t **test)
{
    const struct task_def *d = t->def;
    ferry_status s = ferry_domain_load(d->info.source, "train", src);
    if (!s && d->test_fraction > 0) {
        ferry_dataset_t *all = NULL;
        int64_t *a = NULL, *b = NULL, na = 0, nb = 0;
        s = ferry_domain_load(d->info.target, "all", &all);
        if (!s) s = stratified(all, 1 - d->test_fraction, ferry_labels_seed(all), &a, &na, &b, &nb);
        if (!s && (!na || !nb))
            s = ferry_error(FERRY_ERR_INVALID, "task '%s': a test fraction of %g leaves %s empty", d->info.name,
                            d->test_fraction, na ? "the test set" : "the target's train part");
        if (!s) s = ferry_dataset_subset(all, a, na, d->info.target, tgt);
        if (!s) s = ferry_dataset_subset(all, b, nb, d->info.target, test);
        free(a);
        free(b);
        ferry_dataset_free(all);
    } else if (!s) {
        s = ferry_domain_load(d->info.target, "train", tgt);
        if (!s) s = ferry_domain_load(d->target_test ? d->target_test : d->info.target, d->target_test ? "all" : "test",
                                      test);
    }
    if (!s) s = keep_ratio(d, tgt, seed);
    if (!s) s = keep_ratio(d, test, seed + 1);
    if (s) return s;
    int c = d->info.c ? d->info.c : ((*src)->c > (*tgt)->c ? (*src)->c : (*tgt)->c);
    int h = d->info.h ? d->info.h : (*src)->h, w = d->info.w ? d->info.w : (*src)->w;
    if ((s = to_geometry(src, c, h, w, 0)) || (s = to_geometry(tgt, c, h, w, 0)) || (s = to_geometry(test, c, h, w, 0)))
        return s;
    t->info.c = c, t->info.h = h, t->info.w = w;
    return FERRY_OK;
}

/* Source: train part -> source train/val. Target: train part -> target train/val; test part. */
static ferry_status build(ferry_task_t *t, uint64_t seed)
{
    const struct task_def *d = t->def;
    ferry_dataset_t *src = NULL, *tgt = NULL, *test = NULL;
    int64_t *a, *b, na, nb;
    ferry_status s;
    if (d->user) s = load_user(t, seed, &src, &tgt, &test);
    else if (!(s = load_domain(d->info.source, "train", &d->src, &src)) &&
             !(s = load_domain(d->info.target, "train", &d->tgt, &tgt)))
        s = load_domain(d->info.target, "test", &d->tgt, &test);
    if (s) goto done;
    if ((s = match_classes(d, src, tgt, d->info.target, true)) ||
        (s = match_classes(d, src, test, d->target_test ? d->target_test : d->info.target, false)))
        goto done;
    t->classes = src->classes;
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
    if (!d) return ferry_last_status();
    ferry_task_t *t = calloc(1, sizeof *t);
    if (!t) return ferry_error(FERRY_ERR_NOMEM, "out of memory loading task %s", name);
    t->def = d;
    t->info = d->info;
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
        if (m == 0 && t->def->partial) continue; /* a source class the target lacks */
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

ferry_status ferry_task_checksum(const char *name, char hex[65])
{
    const struct task_def *d = find_def(name);
    if (!d) return ferry_last_status();
    char a[65] = "", b[65] = "", c[65] = "";
    ferry_status s = FERRY_OK;
    if (d->user && !(s = ferry_domain_checksum(d->info.source, a)) && !(s = ferry_domain_checksum(d->info.target, b)) &&
        d->target_test)
        s = ferry_domain_checksum(d->target_test, c);
    if (s) return s;
    size_t cap = 1024, len = 0;
    for (int i = 0; i < d->n_map; i++) cap += strlen(d->map_from[i]) + strlen(d->map_to[i]) + 4;
    cap += (size_t)d->n_ratio * 32 + strlen(name);
    char *buf = malloc(cap);
    if (!buf) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    len += (size_t)snprintf(buf + len, cap - len, "%s\n%s\n%s\n%s\n%.17g %d %d %d %d\n", name, a, b, c, d->test_fraction,
                            d->info.c, d->info.h, d->info.w, d->partial);
    for (int i = 0; i < d->n_map; i++) len += (size_t)snprintf(buf + len, cap - len, "%s=%s\n", d->map_from[i], d->map_to[i]);
    for (int i = 0; i < d->n_ratio; i++) len += (size_t)snprintf(buf + len, cap - len, "%.17g\n", d->ratio[i]);
    ferry_sha256_mem(buf, len, hex);
    free(buf);
    return FERRY_OK;
}
