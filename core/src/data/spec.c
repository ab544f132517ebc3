/* Domain specs: a built-in data set or a user's folder, IDX or CSV files, with an optional class
 * subset and variants (grammar in ferry/task.h). */
#include "data_internal.h"
#include "ferry/io.h"
#include "ferry/task.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum kind { K_BUILTIN, K_FOLDER, K_IDX, K_CSV };

#define MAX_PICK 1024

struct spec {
    enum kind kind;
    char path[4096], labels[4096];
    int c, h, w;       /* folder: the geometry asked for (0: the folder's); csv: the shape */
    int label_col;     /* csv */
    double max;        /* csv: the largest pixel value */
    char pick_buf[4096];
    const char *pick[MAX_PICK]; /* the class subset, in the order given */
    int n_pick;
    const char *variants; /* "@rot45@color0.9", or "" */
};

static const char *const kind_names[] = {"", "folder", "idx", "csv"};

/* Fixed seed of a spec: a domain's definition never depends on a run's seed. */
uint64_t ferry_spec_seed(const char *spec)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = spec; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static ferry_status parse_geometry(const char *spec, const char *key, const char *v, int *c, int *h, int *w)
{
    int a = 0, b = 0, d = 0, used = 0;
    /* c is NULL where the option gives no channels (a folder's size=) */
    if (c && sscanf(v, "%dx%dx%d%n", &a, &b, &d, &used) == 3 && !v[used]) *c = a, *h = b, *w = d;
    else if (sscanf(v, "%dx%d%n", &a, &b, &used) == 2 && !v[used]) *h = a, *w = b; /* channels as they were */
    else if (sscanf(v, "%d%n", &a, &used) == 1 && !v[used]) *h = *w = a;
    else return ferry_error(FERRY_ERR_INVALID, "domain '%s': %s=%s: expected N, HxW%s", spec, key, v, c ? " or CxHxW" : "");
    if ((c && (*c < 1 || *c > 4096)) || *h < 1 || *h > 16384 || *w < 1 || *w > 16384)
        return ferry_error(FERRY_ERR_INVALID, "domain '%s': %s=%s is out of range", spec, key, v);
    return FERRY_OK;
}

static ferry_status parse_option(const char *spec, struct spec *p, const char *key, const char *v)
{
    double x;
    char *end;
    if (p->kind == K_FOLDER && !strcmp(key, "size")) return parse_geometry(spec, key, v, NULL, &p->h, &p->w);
    if (p->kind == K_FOLDER && !strcmp(key, "channels")) {
        if (strcmp(v, "1") && strcmp(v, "3"))
            return ferry_error(FERRY_ERR_INVALID, "domain '%s': channels=%s: expected 1 or 3", spec, v);
        p->c = atoi(v);
        return FERRY_OK;
    }
    if (p->kind == K_CSV && !strcmp(key, "shape")) {
        p->c = 1;
        return parse_geometry(spec, key, v, &p->c, &p->h, &p->w);
    }
    if (p->kind == K_CSV && (!strcmp(key, "label") || !strcmp(key, "max"))) {
        errno = 0;
        x = strtod(v, &end);
        if (end == v || *end || errno || !(x >= 0) || (key[0] == 'l' && (x > 1e6 || x != (int)x)) ||
            (key[0] == 'm' && !(x > 0 && x < 1e30)))
            return ferry_error(FERRY_ERR_INVALID, "domain '%s': %s=%s is not a valid %s", spec, key, v,
                               key[0] == 'l' ? "column index" : "maximum pixel value");
        if (key[0] == 'l') p->label_col = (int)x;
        else p->max = x;
        return FERRY_OK;
    }
    return ferry_error(FERRY_ERR_INVALID, "domain '%s': unknown option '%s' (%s)", spec, key,
                       p->kind == K_FOLDER ? "folder: takes size=N|HxW, channels=1|3"
                       : p->kind == K_CSV  ? "csv: takes shape=CxHxW, label=COLUMN, max=VALUE"
                                           : "no options here");
}

static ferry_status parse_spec(const char *spec, struct spec *p)
{
    memset(p, 0, sizeof *p);
    p->max = 255;
    const char *rest = spec;
    static const char *const prefixes[] = {"folder:", "idx:", "csv:"};
    for (int k = 0; k < 3; k++)
        if (!strncmp(spec, prefixes[k], strlen(prefixes[k]))) {
            p->kind = (enum kind)(k + 1);
            rest = spec + strlen(prefixes[k]);
        }
    /* the path ends at the first '?', '{' or '@' after its last '/' */
    size_t plen;
    if (p->kind == K_BUILTIN) {
        plen = strcspn(rest, "?{@");
    } else {
        const char *from = rest, *q = strchr(rest, '?');
        for (const char *r = rest; *r && (!q || r < q); r++)
            if (*r == '/') from = r;
        plen = (size_t)(from - rest) + strcspn(from, "?{@");
    }
    if (plen == 0) return ferry_error(FERRY_ERR_INVALID, "domain '%s': no data set name or path", spec);
    if (plen >= sizeof p->path) return ferry_error(FERRY_ERR_INVALID, "domain '%s': path too long", spec);
    memcpy(p->path, rest, plen);
    p->path[plen] = '\0';
    rest += plen;
    if (p->kind == K_IDX) {
        char *comma = strchr(p->path, ',');
        if (comma) {
            *comma = '\0';
            snprintf(p->labels, sizeof p->labels, "%s", comma + 1);
        }
    }
    if (*rest == '?') {
        if (p->kind == K_BUILTIN)
            return ferry_error(FERRY_ERR_INVALID, "domain '%s': a built-in data set takes no options", spec);
        rest++;
        size_t olen = strcspn(rest, "{@");
        char opts[1024];
        if (olen >= sizeof opts) return ferry_error(FERRY_ERR_INVALID, "domain '%s': options too long", spec);
        memcpy(opts, rest, olen);
        opts[olen] = '\0';
        rest += olen;
        char *save = NULL;
        for (char *kv = strtok_r(opts, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq || eq == kv)
                return ferry_error(FERRY_ERR_INVALID, "domain '%s': option '%s' is not KEY=VALUE", spec, kv);
            *eq = '\0';
            ferry_status s = parse_option(spec, p, kv, eq + 1);
            if (s) return s;
        }
    }
    if (*rest == '{') {
        const char *close = strchr(rest, '}');
        if (!close) return ferry_error(FERRY_ERR_INVALID, "domain '%s': '{' without '}'", spec);
        size_t len = (size_t)(close - rest - 1);
        if (len >= sizeof p->pick_buf) return ferry_error(FERRY_ERR_INVALID, "domain '%s': class list too long", spec);
        memcpy(p->pick_buf, rest + 1, len);
        p->pick_buf[len] = '\0';
        for (char *tok = p->pick_buf, *next; tok; tok = next) {
            next = strchr(tok, ',');
            if (next) *next++ = '\0';
            while (*tok == ' ') tok++;
            for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';) *--e = '\0';
            if (!*tok) return ferry_error(FERRY_ERR_INVALID, "domain '%s': an empty class in the class list", spec);
            if (p->n_pick == MAX_PICK)
                return ferry_error(FERRY_ERR_INVALID, "domain '%s': more than %d classes listed", spec, MAX_PICK);
            for (int i = 0; i < p->n_pick; i++)
                if (!strcmp(p->pick[i], tok))
                    return ferry_error(FERRY_ERR_INVALID, "domain '%s': class '%s' listed twice", spec, tok);
            p->pick[p->n_pick++] = tok;
        }
        rest = close + 1;
    }
    if (*rest && *rest != '@')
        return ferry_error(FERRY_ERR_INVALID, "domain '%s': unexpected '%s' (a spec is NAME[?OPTIONS][{CLASSES}][@VARIANT])",
                           spec, rest);
    p->variants = rest;
    if (p->kind == K_CSV && !p->h)
        return ferry_error(FERRY_ERR_INVALID, "domain '%s': a CSV domain needs its image shape (csv:PATH?shape=1x8x8)",
                           spec);
    if (p->kind == K_IDX && !p->labels[0]) {
        /* MNIST's naming: the labels beside the images, "images" -> "labels", "idx3"/"idx4" -> "idx1" */
        const char *base = strrchr(p->path, '/');
        base = base ? base + 1 : p->path;
        const char *im = strstr(base, "images");
        if (!im)
            return ferry_error(FERRY_ERR_INVALID,
                               "domain '%s': name the labels file too (idx:IMAGES,LABELS); it is found by itself only "
                               "when the images file's name contains 'images'", spec);
        snprintf(p->labels, sizeof p->labels, "%.*slabels%s", (int)(im - p->path), p->path, im + 6);
        char *idx = strstr(p->labels + (im - p->path), "idx");
        if (idx && (idx[3] == '3' || idx[3] == '4')) idx[3] = '1';
    }
    return FERRY_OK;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The split's seed: the domain's labels in file order (and their count), so that the same data gives
 * the same split wherever it lies; the path does not enter. */
uint64_t ferry_labels_seed(const ferry_dataset_t *all)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)all->n;
    for (int64_t i = 0; i < all->n; i++) h = (h ^ (uint32_t)all->labels[i]) * 1099511628211ull;
    return h;
}

/* The fixed seeded stratified 80/20 split of a domain that comes as one part. */
static ferry_status split_part(const char *spec, ferry_dataset_t *all, const char *part, ferry_dataset_t **out)
{
    size_t *class_n = calloc((size_t)all->classes, sizeof *class_n);
    size_t *pick = malloc(((size_t)all->n + 1) * sizeof *pick), *pick_n = calloc((size_t)all->classes, sizeof *pick_n);
    int64_t *idx = malloc(((size_t)all->n + 1) * sizeof *idx), **by_class = calloc((size_t)all->classes, sizeof *by_class);
    ferry_status s = class_n && pick && pick_n && idx && by_class
                         ? FERRY_OK
                         : ferry_error(FERRY_ERR_NOMEM, "domain '%s': out of memory splitting", spec);
    for (int64_t i = 0; !s && i < all->n; i++) class_n[all->labels[i]]++;
    /* positions of each class's examples in file order */
    int64_t *flat = s ? NULL : malloc(((size_t)all->n + 1) * sizeof *flat);
    if (!s && !flat) s = ferry_error(FERRY_ERR_NOMEM, "domain '%s': out of memory splitting", spec);
    if (!s) {
        size_t at = 0;
        for (int k = 0; k < all->classes; k++) by_class[k] = flat + at, at += class_n[k], class_n[k] = 0;
        for (int64_t i = 0; i < all->n; i++) by_class[all->labels[i]][class_n[all->labels[i]]++] = i;
        for (int k = 0; k < all->classes; k++)
            if (class_n[k] < 2)
                s = ferry_error(FERRY_ERR_FORMAT, "domain '%s': class %d has %zu example%s, too few to split into "
                                "train and test (give a test/ folder, or more examples)", spec, k, class_n[k],
                                class_n[k] == 1 ? "" : "s");
    }
    if (!s) s = ferry_split_stratified(spec, class_n, all->classes, (unsigned long)ferry_labels_seed(all), !strcmp(part, "train"),
                                       pick, pick_n);
    int64_t n = 0;
    if (!s) {
        size_t at = 0;
        for (int k = 0; k < all->classes; k++)
            for (size_t j = 0; j < pick_n[k]; j++) idx[n++] = by_class[k][pick[at++]];
    }
    char name[300];
    snprintf(name, sizeof name, "%s:%s", all->name, part);
    if (!s) s = ferry_dataset_subset(all, idx, n, name, out);
    free(flat);
    free(class_n);
    free(pick);
    free(pick_n);
    free(idx);
    free(by_class);
    return s;
}

static ferry_status check_part(const char *spec, const char *part)
{
    if (strcmp(part, "train") && strcmp(part, "test"))
        return ferry_error(FERRY_ERR_NOT_FOUND, "domain '%s' has no split '%s' (splits: train, test, all)", spec, part);
    return FERRY_OK;
}

static ferry_status load_folder_part(const char *spec, const struct spec *p, const char *part, ferry_dataset_t **out)
{
    char train[4200], test[4200];
    snprintf(train, sizeof train, "%s/train", p->path);
    snprintf(test, sizeof test, "%s/test", p->path);
    bool has_train = is_dir(train), has_test = is_dir(test);
    if (!has_train) snprintf(train, sizeof train, "%s", p->path);
    const char *skip = has_test && !has_train ? "test" : NULL;
    if (!has_test) {
        ferry_dataset_t *all = NULL;
        ferry_status s = ferry_folder_load(train, skip, p->c, p->h, p->w, &all);
        if (!s) s = split_part(spec, all, part, out);
        ferry_dataset_free(all);
        return s;
    }
    /* a split layout: both parts take the train part's geometry and class names */
    int c = p->c, h = p->h, w = p->w, classes = 0, tc = 0, th = 0, tw = 0, tclasses = 0;
    char **names = NULL, **tnames = NULL;
    ferry_status s = ferry_folder_geometry(train, skip, &c, &h, &w, &names, &classes);
    if (!s) s = ferry_folder_geometry(test, NULL, &tc, &th, &tw, &tnames, &tclasses);
    if (!s) {
        bool same = classes == tclasses;
        for (int k = 0; same && k < classes; k++) same = !strcmp(names[k], tnames[k]);
        if (!same) {
            char a[512] = "", b[512] = "";
            for (int k = 0; k < classes; k++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%s", k ? ", " : "", names[k]);
            for (int k = 0; k < tclasses; k++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", k ? ", " : "", tnames[k]);
            s = ferry_error(FERRY_ERR_FORMAT, "%s: its class folders (%s) differ from those of %s (%s)", test, b,
                            train, a);
        }
    }
    for (int k = 0; k < classes; k++) free(names[k]);
    for (int k = 0; k < tclasses; k++) free(tnames[k]);
    free(names);
    free(tnames);
    if (!s) s = ferry_folder_load(strcmp(part, "train") ? test : train, strcmp(part, "train") ? NULL : skip, c, h, w, out);
    return s;
}

/* a then b, one data set */
static ferry_status concat(const char *spec, ferry_dataset_t *a, ferry_dataset_t *b, ferry_dataset_t **out)
{
    if (a->c != b->c || a->h != b->h || a->w != b->w || a->classes != b->classes)
        return ferry_error(FERRY_ERR_FORMAT, "domain '%s': its train and test parts differ in geometry", spec);
    ferry_dataset_t *r;
    char name[300];
    snprintf(name, sizeof name, "%s:all", spec);
    ferry_status s = ferry_dataset_alloc_like(name, a->n + b->n, a->c, a->h, a->w, a, &r);
    if (s) return s;
    const size_t per = (size_t)a->c * a->h * a->w;
    memcpy(r->images, a->images, (size_t)a->n * per * sizeof(float));
    memcpy(r->images + (size_t)a->n * per, b->images, (size_t)b->n * per * sizeof(float));
    memcpy(r->labels, a->labels, (size_t)a->n * sizeof(int32_t));
    memcpy(r->labels + a->n, b->labels, (size_t)b->n * sizeof(int32_t));
    *out = r;
    return FERRY_OK;
}

static ferry_status load_base(const char *spec, const struct spec *p, const char *part, ferry_dataset_t **out);

/* The whole domain: its train part, then its test part. */
static ferry_status load_all(const char *spec, const struct spec *p, ferry_dataset_t **out)
{
    ferry_dataset_t *a = NULL, *b = NULL;
    ferry_status s;
    if (p->kind == K_IDX) return ferry_dataset_load_idx(p->path, p->labels, out);
    if (p->kind == K_CSV) return ferry_csv_load(p->path, p->c, p->h, p->w, (float)p->max, p->label_col, out);
    if (p->kind == K_FOLDER) {
        char test[4200], train[4200];
        snprintf(test, sizeof test, "%s/test", p->path);
        snprintf(train, sizeof train, "%s/train", p->path);
        if (!is_dir(test)) return ferry_folder_load(is_dir(train) ? train : p->path, NULL, p->c, p->h, p->w, out);
    }
    if (!(s = load_base(spec, p, "train", &a)) && !(s = load_base(spec, p, "test", &b))) s = concat(spec, a, b, out);
    ferry_dataset_free(a);
    ferry_dataset_free(b);
    return s;
}

/* The part of a domain before its class subset and variants. */
static ferry_status load_base(const char *spec, const struct spec *p, const char *part, ferry_dataset_t **out)
{
    if (!strcmp(part, "all")) return load_all(spec, p, out);
    ferry_status s = check_part(spec, part);
    if (s) return s;
    if (p->kind == K_BUILTIN) return ferry_dataset_load(p->path, part, out);
    if (p->kind == K_FOLDER) return load_folder_part(spec, p, part, out);
    ferry_dataset_t *all = NULL;
    if (p->kind == K_IDX) s = ferry_dataset_load_idx(p->path, p->labels, &all);
    else s = ferry_csv_load(p->path, p->c, p->h, p->w, (float)p->max, p->label_col, &all);
    if (!s) s = split_part(spec, all, part, out);
    ferry_dataset_free(all);
    return s;
}

/* Keeps the listed classes (by name, or by index where no class has that name), relabelled 0.. in
 * the order listed. */
static ferry_status pick_classes(const char *spec, const struct spec *p, ferry_dataset_t **ds)
{
    const ferry_dataset_t *in = *ds;
    int map[MAX_PICK];
    char buf[32];
    for (int i = 0; i < p->n_pick; i++) {
        map[i] = -1;
        for (int k = 0; k < in->classes && map[i] < 0; k++)
            if (!strcmp(ferry_dataset_class_name(in, k, buf, sizeof buf), p->pick[i])) map[i] = k;
        char *end;
        long v = strtol(p->pick[i], &end, 10);
        if (map[i] < 0 && !*end && end != p->pick[i] && v >= 0 && v < in->classes) map[i] = (int)v;
        if (map[i] < 0) {
            char list[600] = "";
            for (int k = 0; k < in->classes && strlen(list) < 500; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                         ferry_dataset_class_name(in, k, buf, sizeof buf));
            return ferry_error(FERRY_ERR_INVALID, "domain '%s': no class '%s' (classes: %s)", spec, p->pick[i], list);
        }
        for (int j = 0; j < i; j++)
            if (map[j] == map[i])
                return ferry_error(FERRY_ERR_INVALID, "domain '%s': class '%s' listed twice", spec, p->pick[i]);
    }
    int to[4096];
    if (in->classes > 4096) return ferry_error(FERRY_ERR_UNSUPPORTED, "domain '%s': more than 4096 classes", spec);
    for (int k = 0; k < in->classes; k++) to[k] = -1;
    for (int i = 0; i < p->n_pick; i++) to[map[i]] = i;
    int64_t *idx = malloc(((size_t)in->n + 1) * sizeof *idx), n = 0;
    const char *names[MAX_PICK];
    char nbuf[MAX_PICK][12];
    if (!idx) return ferry_error(FERRY_ERR_NOMEM, "domain '%s': out of memory", spec);
    for (int64_t i = 0; i < in->n; i++)
        if (to[in->labels[i]] >= 0) idx[n++] = i;
    for (int i = 0; i < p->n_pick; i++) names[i] = ferry_dataset_class_name(in, map[i], nbuf[i], sizeof nbuf[i]);
    ferry_dataset_t *out = NULL;
    ferry_status s = n ? FERRY_OK : ferry_error(FERRY_ERR_FORMAT, "domain '%s': no examples of the listed classes", spec);
    char name[300];
    int used = snprintf(name, sizeof name, "%s{", in->name);
    for (int i = 0; i < p->n_pick && used < (int)sizeof name - 2; i++)
        used += snprintf(name + used, sizeof name - (size_t)used, "%s%s", i ? "," : "", p->pick[i]);
    if (used < (int)sizeof name - 1) snprintf(name + used, sizeof name - (size_t)used, "}");
    if (!s) s = ferry_dataset_alloc(name, n, in->c, in->h, in->w, p->n_pick, &out);
    if (!s) {
        const size_t per = (size_t)in->c * in->h * in->w;
        for (int64_t i = 0; i < n; i++) {
            memcpy(out->images + (size_t)i * per, in->images + (size_t)idx[i] * per, per * sizeof(float));
            out->labels[i] = to[in->labels[idx[i]]];
        }
        s = ferry_dataset_set_class_names(out, names);
    }
    free(idx);
    if (s) {
        ferry_dataset_free(out);
        return s;
    }
    ferry_dataset_free(*ds);
    *ds = out;
    return FERRY_OK;
}

static ferry_status apply_variants(const char *spec, const char *part, const char *variants, ferry_dataset_t **ds)
{
    for (const char *at = variants; *at == '@';) {
        const char *next = strchr(at + 1, '@');
        size_t len = next ? (size_t)(next - at - 1) : strlen(at + 1);
        char v[64];
        if (len >= sizeof v) return ferry_error(FERRY_ERR_INVALID, "domain '%s': variant too long", spec);
        memcpy(v, at + 1, len);
        v[len] = '\0';
        double x;
        char extra;
        ferry_dataset_t *next_ds = NULL;
        ferry_status s;
        if (sscanf(v, "rot%lf%c", &x, &extra) == 1 && isfinite(x))
            s = ferry_dataset_rotate(*ds, x, &next_ds);
        else if (sscanf(v, "color%lf%c", &x, &extra) == 1 && x >= 0 && x <= 1)
            s = ferry_dataset_colorize(*ds, x, ferry_spec_seed(spec) ^ (uint64_t)(part[1] == 'r'), &next_ds);
        else
            return ferry_error(FERRY_ERR_INVALID, "domain '%s': unknown variant '%s' (rotD with D finite, colorP with P "
                               "in [0,1])", spec, v);
        if (s) { /* the transform names the data set; the message names the spec too */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", ferry_last_error());
            return ferry_error(s, "domain '%s': variant '%s': %s", spec, v, msg);
        }
        ferry_dataset_free(*ds);
        *ds = next_ds;
        at = next ? next : at + 1 + len;
    }
    return FERRY_OK;
}

ferry_status ferry_domain_load(const char *spec, const char *part, ferry_dataset_t **out)
{
    *out = NULL;
    if (!spec || !part) return ferry_error(FERRY_ERR_INVALID, "domain_load: NULL argument");
    struct spec *p = malloc(sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_dataset_t *ds = NULL;
    ferry_status s = parse_spec(spec, p);
    if (!s) s = load_base(spec, p, part, &ds);
    if (!s && p->n_pick) s = pick_classes(spec, p, &ds);
    if (!s) s = apply_variants(spec, part, p->variants, &ds);
    free(p);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}

ferry_status ferry_domain_check(const char *spec)
{
    struct spec *p = malloc(sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_status s = parse_spec(spec, p);
    if (!s && p->kind == K_BUILTIN && !ferry_dataset_info_find(p->path)) {
        char known[256] = "";
        for (int i = 0; i < ferry_dataset_count(); i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     ferry_dataset_info_at(i)->name);
        s = ferry_error(FERRY_ERR_NOT_FOUND, "domain '%s': unknown data set '%s' (built-in: %s; or folder:PATH, "
                        "idx:IMAGES[,LABELS], csv:PATH?shape=CxHxW)", spec, p->path, known);
    }
    free(p);
    return s;
}

bool ferry_domain_is_builtin(const char *spec)
{
    return strncmp(spec, "folder:", 7) && strncmp(spec, "idx:", 4) && strncmp(spec, "csv:", 4);
}

ferry_status ferry_domain_checksum(const char *spec, char hex[65])
{
    struct spec *p = malloc(sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    char a[65] = "", b[65] = "";
    ferry_status s = parse_spec(spec, p);
    if (!s && p->kind == K_FOLDER) {
        char train[4200], test[4200];
        snprintf(train, sizeof train, "%s/train", p->path);
        snprintf(test, sizeof test, "%s/test", p->path);
        bool has_train = is_dir(train), has_test = is_dir(test);
        if (!has_train) snprintf(train, sizeof train, "%s", p->path);
        s = ferry_folder_checksum(train, has_test && !has_train ? "test" : NULL, a);
        if (!s && has_test) s = ferry_folder_checksum(test, NULL, b);
    } else if (!s && p->kind == K_IDX) {
        if (!(s = ferry_sha256_file(p->path, a))) s = ferry_sha256_file(p->labels, b);
    } else if (!s && p->kind == K_CSV) {
        s = ferry_sha256_file(p->path, a);
    } /* a built-in data set is fixed by the checksums its loader verifies: its spec names it */
    if (!s) {
        char buf[4096 + 200];
        int n = snprintf(buf, sizeof buf, "%s\n%s\n%s\n%s\n", kind_names[p->kind], spec, a, b);
        ferry_sha256_mem(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, hex);
    }
    free(p);
    return s;
}
