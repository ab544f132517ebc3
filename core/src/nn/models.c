/* Models: the architecture table, creation through the builder, weights by name, and the parts every
 * architecture shares (head/backbone split, classifier reset, freezing). */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/io.h"

/* Every architecture, in the order `ferry models` lists them. */
static const ferry_arch_def *const archs[] = {
    &ferry_arch_lenet,
    &ferry_arch_resnet,
    &ferry_arch_resnet18,
    &ferry_arch_resnet50,
    &ferry_arch_vgg19,
    &ferry_arch_vgg19_bn,
    &ferry_arch_mobilenet_v2,
    &ferry_arch_efficientnet_b0,
    &ferry_arch_inception_v3,
    &ferry_arch_xception,
    &ferry_arch_inception_v3_nsfwjs,
    &ferry_arch_mobilenet_v2_nsfwjs,
};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

int ferry_arch_count(void) { return N_ARCHS; }
const ferry_arch_info *ferry_arch_at(int i) { return i >= 0 && i < N_ARCHS ? &archs[i]->info : NULL; }

static const ferry_arch_def *find_def(const char *name)
{
    for (int i = 0; name && i < N_ARCHS; i++)
        if (strcmp(archs[i]->info.name, name) == 0) return archs[i];
    if (ferry_tfjs_arch_name(name)) return &ferry_arch_tfjs_file; /* a user's model.json (tfjs.c) */
    return NULL;
}

const ferry_arch_info *ferry_arch_find(const char *name)
{
    const ferry_arch_def *d = find_def(name);
    return d ? &d->info : NULL;
}

static ferry_status unknown_arch(const char *arch)
{
    char list[1024] = "";
    size_t k = 0;
    for (int i = 0; i < N_ARCHS && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", archs[i]->info.name);
    return ferry_error(FERRY_ERR_NOT_FOUND, "unknown architecture '%s' (%s, or tfjs:PATH/model.json)", arch, list);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Runs the whole network once on a batch-1 input, creating every parameter in forward order, and
 * records the store entries it uses. */
static ferry_status create_pass(ferry_model_t *m, ferry_rng_t *rng)
{
    ferry_ctx_t *ctx;
    ferry_status s = ferry_ctx_init(&ctx);
    if (s) return s;
    ferry_mb b = {.m = m, .ctx = ctx, .rng = rng};
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){1, m->in_c, m->in_h, m->in_w});
    ferry_tensor_t *f = m->features(&b, x);
    if (f && f->ndim != 2)
        s = ferry_error(FERRY_ERR_SHAPE, "%s: the backbone gives %d-D features, not [N, F]", m->arch, f->ndim);
    if (f && !s) m->feature_dim = f->ne[1];
    ferry_tensor_t *y = f && !s ? m->classifier(&b, f) : NULL;
    if (!s && (!y || y->ndim != 2 || y->ne[1] != m->classes)) {
        const char *why = ferry_last_error();
        s = ferry_error(FERRY_ERR_SHAPE, "%s: cannot build the network for input %dx%dx%d and %d classes%s%s",
                        m->arch, m->in_c, m->in_h, m->in_w, m->classes, why && *why ? ": " : "", why ? why : "");
    }
    m->macs = b.macs;
    m->entries = malloc((size_t)(ferry_store_count(m->st) + 1) * sizeof *m->entries);
    if (!s && !m->entries) s = ferry_error(FERRY_ERR_NOMEM, "out of memory creating a model");
    for (int i = 0; !s && i < ctx->n; i++) {
        const struct ferry_tensor *t = ctx->tensors[i];
        if (t->leaf == FERRY_LEAF_NONE) m->act_floats += t->numel;
        if (t->leaf == FERRY_LEAF_PARAM && t->store == m->st) m->entries[m->n_entries++] = t->store_idx;
    }
    if (!s) qsort(m->entries, (size_t)m->n_entries, sizeof *m->entries, cmp_int);
    ferry_ctx_free(ctx);
    return s;
}

ferry_status ferry_model_init_ex(const char *arch, int in_c, int in_h, int in_w, int classes,
                                 const ferry_model_opts *o, ferry_store_t *st, ferry_rng_t *rng,
                                 ferry_model_t **out)
{
    *out = NULL;
    const ferry_arch_def *d = find_def(arch);
    if (!d) return unknown_arch(arch);
    ferry_model_opts opts = o ? *o : (ferry_model_opts){0};
    const ferry_arch_info *in = &d->info;
    if (in_c < 1 || in_h < 1 || in_w < 1 || classes < 2)
        return ferry_error(FERRY_ERR_INVALID, "%s: invalid geometry %dx%dx%d or %d classes", arch, in_c, in_h, in_w,
                           classes);
    ferry_model_t *m = calloc(1, sizeof *m);
    if (!m) return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a model");
    *m = (ferry_model_t){.def = d, .st = st, .in_c = in_c, .in_h = in_h, .in_w = in_w, .classes = classes,
                         .pre = in->pre, .opts = opts};
    if (snprintf(m->arch, sizeof m->arch, "%s", arch) >= (int)sizeof m->arch) {
        free(m);
        return ferry_error(FERRY_ERR_INVALID, "architecture name '%.64s...' is too long", arch);
    }
    if (in->pre.channels) m->in_c = in->pre.channels;
    int size = opts.input_size ? opts.input_size : in->default_size;
    if (size) m->in_h = m->in_w = size;
    ferry_status s = FERRY_OK;
    if (opts.input_size && in->fixed_size && opts.input_size != in->default_size)
        s = ferry_error(FERRY_ERR_INVALID, "%s takes %dx%d input only, not %d", arch, in->default_size,
                        in->default_size, opts.input_size);
    else if (opts.prefix && (in->imported || ferry_tfjs_arch_name(arch)))
        s = ferry_error(FERRY_ERR_UNSUPPORTED, "%s: a prefixed copy of an imported model is not supported (its "
                        "parameters come from its files)", arch);
    else if (m->in_h < in->min_size || m->in_w < in->min_size)
        s = ferry_error(FERRY_ERR_SHAPE, "%s: input %dx%d is smaller than the architecture allows (%d)", arch,
                        m->in_h, m->in_w, in->min_size);
    if (!s) s = d->setup(m, &opts);
    if (!s) s = create_pass(m, rng);
    if (s) {
        ferry_model_free(m);
        return s;
    }
    *out = m;
    return FERRY_OK;
}

ferry_status ferry_model_init(const char *arch, int in_c, int in_h, int in_w, int classes, ferry_store_t *st,
                              ferry_rng_t *rng, ferry_model_t **out)
{
    return ferry_model_init_ex(arch, in_c, in_h, in_w, classes, NULL, st, rng, out);
}

void ferry_model_free(ferry_model_t *m)
{
    if (!m) return;
    if (m->impl_free) m->impl_free(m->impl);
    free(m->entries);
    free(m);
}

const char *ferry_model_arch(const ferry_model_t *m) { return m->arch; }
const ferry_arch_info *ferry_model_info(const ferry_model_t *m) { return &m->def->info; }
int64_t ferry_model_feature_dim(const ferry_model_t *m) { return m->feature_dim; }
int ferry_model_classes(const ferry_model_t *m) { return m->classes; }
int64_t ferry_model_macs(const ferry_model_t *m) { return m->macs; }

int ferry_model_eval_batch(const ferry_model_t *m, int requested)
{
    /* About 1 GiB of forward values at most: 500 digits, a handful of 299x299 images. */
    int64_t fit = m->act_floats > 0 ? ((int64_t)1 << 28) / m->act_floats : requested;
    if (fit < 4) fit = 4;
    return requested < fit ? requested : (int)fit;
}
ferry_store_t *ferry_model_store(const ferry_model_t *m) { return m->st; }
const ferry_preprocess *ferry_model_preprocess(const ferry_model_t *m) { return &m->pre; }

void ferry_model_input(const ferry_model_t *m, int *c, int *h, int *w)
{
    *c = m->in_c;
    *h = m->in_h;
    *w = m->in_w;
}

/* Optimizer state ("#"), running statistics and counters belong to no parameter group. */
static bool is_state(const char *name)
{
    return strchr(name, '#') || strstr(name, "running_") || strstr(name, "num_batches_tracked");
}

static bool is_head(const ferry_model_t *m, const char *name)
{
    for (const char *const *p = m->head_prefixes; p && *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0) return true;
    return false;
}

/* The model's own entries: those its network uses (a method's modules and optimizer state are not). */
static bool is_model_entry(const ferry_model_t *m, int i)
{
    return i >= 0 && bsearch(&i, m->entries, (size_t)m->n_entries, sizeof i, cmp_int) != NULL;
}

bool ferry_model_is_backbone(const ferry_model_t *m, const char *name)
{
    return is_model_entry(m, ferry_store_find(m->st, name)) && !is_head(m, name);
}

ferry_tensor_t *ferry_model_features(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                     const ferry_forward_opts *o)
{
    if (x && (x->ndim != 4 || x->ne[1] != m->in_c || x->ne[2] != m->in_h || x->ne[3] != m->in_w)) {
        char sh[64];
        ferry_error(FERRY_ERR_SHAPE, "%s: input %s does not match the model's [N, %d, %d, %d]", m->arch,
                    ferry_shape_str(x, sh, sizeof sh), m->in_c, m->in_h, m->in_w);
        return NULL;
    }
    ferry_mb b = {.m = m, .ctx = ctx, .train = o && o->train, .seed = o ? o->seed : NULL, .fo = o};
    return m->features(&b, x);
}

ferry_tensor_t *ferry_model_classifier(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *f,
                                       const ferry_forward_opts *o)
{
    /* Dropout salts continue after the backbone's, as in one pass over the whole network. */
    ferry_mb b = {.m = m, .ctx = ctx, .train = o && o->train, .seed = o ? o->seed : NULL, .salt = 1000, .fo = o};
    return m->classifier(&b, f);
}

int64_t ferry_model_param_count(const ferry_model_t *m)
{
    int64_t n = 0;
    for (int i = 0; i < ferry_store_count(m->st); i++)
        if (ferry_store_trainable(m->st, i)) n += ferry_store_numel(m->st, i);
    return n;
}

void ferry_model_freeze_backbone(ferry_model_t *m, bool frozen)
{
    for (int i = 0; i < ferry_store_count(m->st); i++) {
        const char *name = ferry_store_name(m->st, i);
        if (is_state(name) || !is_model_entry(m, i)) continue;
        if (!is_head(m, name)) ferry_store_set_trainable(m->st, i, !frozen);
    }
}

/* PyTorch's default initialisation again for every classifier weight and bias: U(±1/sqrt(fan_in)),
 * fan_in = the weight's elements per output row (a bias uses its weight's). */
ferry_status ferry_model_reset_classifier(ferry_model_t *m, ferry_rng_t *rng)
{
    for (int i = 0; i < ferry_store_count(m->st); i++) {
        const char *name = ferry_store_name(m->st, i);
        if (!is_model_entry(m, i) || !is_head(m, name) || is_state(name)) continue;
        const char *dot = strrchr(name, '.');
        if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) continue;
        char wname[256];
        snprintf(wname, sizeof wname, "%.*s.weight", (int)(dot - name), name);
        int wi = ferry_store_find(m->st, wname);
        if (wi < 0 || ferry_store_ndim(m->st, wi) < 2) continue; /* e.g. a batch norm's weight */
        int64_t fan_in = ferry_store_numel(m->st, wi) / ferry_store_shape(m->st, wi)[0];
        int64_t n = ferry_store_numel(m->st, i);
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) return ferry_error(FERRY_ERR_NOMEM, "out of memory resetting the classifier");
        double bound = 1.0 / sqrt((double)fan_in);
        for (int64_t k = 0; k < n; k++) v[k] = (float)ferry_rng_uniform(rng, -bound, bound);
        ferry_status s = ferry_store_set(m->st, i, v, (size_t)n * sizeof *v);
        free(v);
        if (s) return s;
    }
    return FERRY_OK;
}

/* ---- weights by name ------------------------------------------------------------------------------ */

/* A list of names for one error message: the first few, then a count. */
struct namelist {
    char buf[1536];
    size_t len;
    int n;
};

static void namelist_add(struct namelist *l, const char *name, const char *detail)
{
    if (l->n++ < 12)
        l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s%s%s", l->n > 1 ? ", " : "", name,
                                   detail ? detail : "");
    if (l->len >= sizeof l->buf) l->len = sizeof l->buf - 1;
}

static void namelist_end(struct namelist *l)
{
    if (l->n > 12) l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, " and %d more", l->n - 12);
    if (l->len >= sizeof l->buf) l->len = sizeof l->buf - 1;
}

static bool skipped_entry(const ferry_model_t *m, const char *name, bool backbone_only)
{
    if (strchr(name, '#')) return true; /* optimizer state of a full checkpoint */
    const char *leaf = strrchr(name, '.');
    if (leaf && strcmp(leaf, ".num_batches_tracked") == 0) return true; /* PyTorch's counter */
    return backbone_only && is_head(m, name);
}

ferry_status ferry_model_load_weights(ferry_model_t *m, const char *path, bool backbone_only)
{
    ferry_safetensors_t *f = NULL;
    ferry_status s = ferry_safetensors_open(path, &f);
    if (s) return s;
    struct namelist missing = {0}, unexpected = {0}, shaped = {0};
    for (size_t k = 0; k < ferry_safetensors_count(f); k++) {
        const ferry_st_entry *e = ferry_safetensors_entry(f, k);
        if (skipped_entry(m, e->name, backbone_only)) continue;
        int i = ferry_store_find(m->st, e->name);
        if (i < 0) {
            namelist_add(&unexpected, e->name, NULL);
            continue;
        }
        bool same = e->dtype == FERRY_F32 && e->ndim == ferry_store_ndim(m->st, i);
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == ferry_store_shape(m->st, i)[d];
        if (!same) {
            char detail[128] = " (file ", *p = detail + strlen(detail);
            for (int d = 0; d < e->ndim; d++)
                p += snprintf(p, (size_t)(detail + sizeof detail - p), "%s%lld", d ? "x" : "", (long long)e->shape[d]);
            p += snprintf(p, (size_t)(detail + sizeof detail - p), "%s, model ", e->dtype == FERRY_F32 ? "" : " non-F32");
            for (int d = 0; d < ferry_store_ndim(m->st, i) && p < detail + sizeof detail - 1; d++)
                p += snprintf(p, (size_t)(detail + sizeof detail - p), "%s%lld", d ? "x" : "",
                              (long long)ferry_store_shape(m->st, i)[d]);
            if (p < detail + sizeof detail - 1) snprintf(p, (size_t)(detail + sizeof detail - p), ")");
            namelist_add(&shaped, e->name, detail);
        }
    }
    for (int i = 0; i < ferry_store_count(m->st); i++) {
        const char *name = ferry_store_name(m->st, i);
        if (!is_model_entry(m, i) || strchr(name, '#') || skipped_entry(m, name, backbone_only)) continue;
        if (!ferry_safetensors_find(f, name)) namelist_add(&missing, name, NULL);
    }
    if (missing.n || unexpected.n || shaped.n) {
        namelist_end(&missing);
        namelist_end(&unexpected);
        namelist_end(&shaped);
        s = ferry_error(FERRY_ERR_SHAPE, "%s: not the weights of %s (input %dx%dx%d, %d classes):%s%s%s%s%s%s%s%s%s",
                        path, m->arch, m->in_c, m->in_h, m->in_w, m->classes, missing.n ? " missing: " : "",
                        missing.buf, missing.n && (unexpected.n || shaped.n) ? ";" : "",
                        unexpected.n ? " unexpected: " : "", unexpected.buf, unexpected.n && shaped.n ? ";" : "",
                        shaped.n ? " mis-shaped: " : "", shaped.buf, "");
    }
    for (size_t k = 0; k < ferry_safetensors_count(f) && !s; k++) {
        const ferry_st_entry *e = ferry_safetensors_entry(f, k);
        if (skipped_entry(m, e->name, backbone_only)) continue;
        s = ferry_store_set(m->st, ferry_store_find(m->st, e->name), e->data, e->nbytes);
    }
    ferry_safetensors_free(f);
    return s;
}
