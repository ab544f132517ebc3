/* A training run driven by a method plugin, and the host function table the plugin calls.
 *
 * Per step: a source batch (labelled) and a target batch (unlabelled; labelled for inductive methods,
 * which get no source batch) go through the backbone together, so batch norm sees both domains; the
 * method turns the step's tensors into a loss; autodiff and the optimizer do the rest. One static
 * graph for the whole run: per step only the batches and the scalars (lr, the method's own) change.
 * Training batches are augmented on the CPU, when the run asks, before they are prepared for the model
 * (ferry_augment_batch; evaluation never is). After each epoch: accuracy on source validation, target
 * validation and target test. */
#include "plugin_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* ---- the host function table ------------------------------------------------------------------------ */

static ferry_plugin_status h_error(ferry_plugin_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry_error((ferry_status)status, "%s", msg);
}

static int h_ndim(const ferry_tensor_t *t) { return t ? ferry_tensor_ndim(t) : 0; }
static int64_t h_dim(const ferry_tensor_t *t, int i) { return t ? ferry_tensor_dim(t, i) : 0; }

static ferry_plugin_status h_linear_init(ferry_run_t *run, const char *prefix, int64_t in, int64_t out)
{
    return ferry_nn_linear_init(run->st, prefix, in, out, true, run->rng);
}

static ferry_tensor_t *h_linear(ferry_run_t *run, const char *prefix, ferry_tensor_t *x)
{
    return ferry_nn_linear(run->ctx, run->st, prefix, x);
}

static ferry_plugin_status h_batch_norm_init(ferry_run_t *run, const char *prefix, int64_t channels)
{
    return ferry_nn_batch_norm_init(run->st, prefix, channels);
}

static ferry_tensor_t *h_batch_norm(ferry_run_t *run, const char *prefix, ferry_tensor_t *x)
{
    return ferry_nn_batch_norm(run->ctx, run->st, prefix, x, true);
}

static ferry_ctx_t *h_ctx(ferry_run_t *run) { return run->ctx; }

static double h_hparam(const ferry_run_t *run, const char *name)
{
    for (int i = 0; i < run->m->n_hparams; i++)
        if (strcmp(run->m->hparams[i].name, name) == 0) return run->hp[i];
    ferry_error(FERRY_ERR_NOT_FOUND, "method '%s' asked for an undeclared hyperparameter '%s'", run->m->name, name);
    return 0.0 / 0.0;
}

static int64_t h_feature_dim(const ferry_run_t *run) { return run->feature_dim; }
static int h_classes(const ferry_run_t *run) { return run->classes; }

/* The current phase's instance of the named scalar (made on first use in each phase). */
static ferry_tensor_t *h_scalar(ferry_run_t *run, const char *name, float initial)
{
    struct scalar *sc = NULL;
    for (int i = 0; i < run->n_scalars && !sc; i++)
        if (strcmp(run->scalars[i].name, name) == 0) sc = &run->scalars[i];
    if (!sc) {
        if (run->n_scalars == MAX_SCALARS || strlen(name) >= sizeof sc->name) {
            ferry_error(FERRY_ERR_INVALID, "method '%s': more than %d scalars, or a name over 63 characters ('%s')",
                        run->m->name, MAX_SCALARS, name);
            return NULL;
        }
        sc = &run->scalars[run->n_scalars++];
        *sc = (struct scalar){.value = initial};
        snprintf(sc->name, sizeof sc->name, "%s", name);
    }
    if (!sc->t[run->cur]) sc->t[run->cur] = ferry_scalar_input(run->ctx, name, sc->value);
    return sc->t[run->cur];
}

static void h_set_scalar(ferry_run_t *run, ferry_tensor_t *t, float value)
{
    for (int i = 0; i < run->n_scalars; i++)
        for (int k = 0; k < MAX_PHASES; k++)
            if (t && run->scalars[i].t[k] == t) run->scalars[i].value = value;
}

/* Sets the method's scalars that graph g (of phase k) reads. */
ferry_status ferry_run_set_scalars(ferry_run_t *run, int k, ferry_graph_t *g)
{
    ferry_status s = FERRY_OK;
    for (int i = 0; i < run->n_scalars && !s; i++) {
        ferry_tensor_t *t = run->scalars[i].t[k];
        if (t && ferry_graph_uses(g, t)) s = ferry_tensor_set(g, t, &run->scalars[i].value, sizeof(float));
    }
    return s;
}

static ferry_plugin_status h_set_lr_mult(ferry_run_t *run, const char *prefix, float mult)
{
    if (run->n_lr == MAX_LR_RULES || !(mult >= 0) || strlen(prefix) >= sizeof run->lr[0].prefix)
        return ferry_error(FERRY_ERR_INVALID, "method '%s': bad learning-rate rule '%s' × %g", run->m->name,
                           prefix, (double)mult);
    snprintf(run->lr[run->n_lr].prefix, sizeof run->lr[0].prefix, "%s", prefix);
    run->lr[run->n_lr++].mult = mult;
    return FERRY_OK;
}

/* Block of a backbone parameter: its name up to the second dot for "features.N.x" (LeNet), else up
 * to the first dot ("conv1", "layer2"). Blocks are numbered in store order. */
static void block_key(const char *name, char *key, size_t n)
{
    const char *d1 = strchr(name, '.');
    const char *end = d1 ? d1 : name + strlen(name);
    if (d1 && strncmp(name, "features.", 9) == 0) {
        const char *d2 = strchr(d1 + 1, '.');
        if (d2) end = d2;
    }
    snprintf(key, n, "%.*s", (int)(end - name), name);
}

static ferry_status no_model(const ferry_run_t *run, const char *what)
{
    return ferry_error(FERRY_ERR_INVALID, "method '%s': %s needs a model (not available here)", run->m->name, what);
}

static ferry_plugin_status h_freeze_backbone(ferry_run_t *run, int k)
{
    if (!run->m_model) return no_model(run, "freeze_backbone");
    if (k < 0) {
        ferry_model_freeze_backbone(run->m_model, true);
        return FERRY_OK;
    }
    char keys[64][128];
    int nk = 0;
    for (int i = 0; i < ferry_store_count(run->st); i++) {
        const char *name = ferry_store_name(run->st, i);
        if (!ferry_model_is_backbone(run->m_model, name) || strchr(name, '#') || strstr(name, "running_")) continue;
        char key[128];
        block_key(name, key, sizeof key);
        int b = -1;
        for (int j = 0; j < nk; j++)
            if (!strcmp(keys[j], key)) b = j;
        if (b < 0 && nk < 64) {
            snprintf(keys[nk], sizeof keys[0], "%s", key);
            b = nk++;
        }
        if (b >= 0 && b < k) ferry_store_set_trainable(run->st, i, false);
    }
    return FERRY_OK;
}

static ferry_plugin_status h_set_schedule(ferry_run_t *run, const char *name, float a, float b)
{
    ferry_status s = ferry_schedule_parse(name, &run->optim.schedule);
    if (s) return s;
    if (run->optim.schedule == FERRY_SCHED_INV) {
        run->optim.inv_alpha = a;
        run->optim.inv_beta = b;
    } else if (run->optim.schedule == FERRY_SCHED_STEP) {
        run->optim.step_gamma = a;
        run->optim.step_every = b;
    }
    return FERRY_OK;
}

static bool is_backbone_param(const ferry_run_t *run, const char *name)
{
    return run->m_model && ferry_model_is_backbone(run->m_model, name) && !strchr(name, '#') && !strstr(name, "running_") &&
           !strstr(name, "num_batches") && strncmp(name, "start/", 6) != 0;
}

static int h_backbone_param_count(const ferry_run_t *run)
{
    int n = 0;
    for (int i = 0; i < ferry_store_count(run->st); i++) n += is_backbone_param(run, ferry_store_name(run->st, i));
    return n;
}

/* The i-th backbone parameter and a constant copy of its value at the start of the run (a
 * non-trainable store entry "start/NAME", made on first request). */
static ferry_plugin_status h_backbone_param_and_start(ferry_run_t *run, int i, ferry_tensor_t **param,
                                                      ferry_tensor_t **start)
{
    *param = *start = NULL;
    int n = ferry_store_count(run->st), seen = -1, at = -1;
    for (int k = 0; k < n && at < 0; k++)
        if (is_backbone_param(run, ferry_store_name(run->st, k)) && ++seen == i) at = k;
    if (at < 0) return ferry_error(FERRY_ERR_INVALID, "backbone parameter %d does not exist", i);
    const char *name = ferry_store_name(run->st, at);
    char sname[256];
    snprintf(sname, sizeof sname, "start/%s", name);
    if (ferry_store_find(run->st, sname) < 0) {
        int64_t numel = ferry_store_numel(run->st, at);
        float *v = malloc((size_t)numel * sizeof *v);
        ferry_status s = v ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory");
        if (!s) s = ferry_store_get(run->st, at, v, (size_t)numel * sizeof *v);
        if (!s) s = ferry_store_add(run->st, sname, FERRY_F32, ferry_store_ndim(run->st, at),
                                    ferry_store_shape(run->st, at), false);
        if (!s) s = ferry_store_set(run->st, ferry_store_find(run->st, sname), v, (size_t)numel * sizeof *v);
        free(v);
        if (s) return s;
    }
    *param = ferry_param(run->ctx, run->st, name);
    *start = ferry_param(run->ctx, run->st, sname);
    return *param && *start ? FERRY_OK : FERRY_ERR_INVALID;
}

static bool h_has_checkpoint(const ferry_run_t *run) { return run->checkpoint; }
static ferry_plugin_status h_reset_classifier(ferry_run_t *run)
{
    return run->m_model ? ferry_model_reset_classifier(run->m_model, run->rng) : no_model(run, "reset_classifier");
}
static void h_set_state(ferry_run_t *run, void *state) { run->state = state; }
static void *h_state(const ferry_run_t *run) { return run->state; }

_Static_assert((int)FERRY_PLUGIN_ERR_INVALID == (int)FERRY_ERR_INVALID && (int)FERRY_PLUGIN_ERR_SHAPE == (int)FERRY_ERR_SHAPE &&
                   (int)FERRY_PLUGIN_ERR_NOMEM == (int)FERRY_ERR_NOMEM &&
                   (int)FERRY_PLUGIN_ERR_UNSUPPORTED == (int)FERRY_ERR_UNSUPPORTED,
               "plugin.h's status codes are ferry_status's");

static ferry_tensor_t *h_compare(ferry_ctx_t *ctx, ferry_tensor_t *a, int cmp, ferry_tensor_t *b)
{
    _Static_assert(FERRY_HOST_CMP_LT == (int)FERRY_CMP_LT && FERRY_HOST_CMP_NE == (int)FERRY_CMP_NE,
                   "compare's relations in plugin.h and tensor.h");
    if (cmp < FERRY_HOST_CMP_LT || cmp > FERRY_HOST_CMP_NE) {
        ferry_error(FERRY_ERR_INVALID, "compare: relation %d is not one of FERRY_HOST_CMP_*", cmp);
        return NULL;
    }
    return ferry_compare(ctx, a, (ferry_cmp)cmp, b);
}

/* ---- per-example state and whole-split inference ---------------------------------------------------- */

static ferry_tensor_t *h_table(ferry_run_t *run, const char *name, int64_t rows, int64_t cols)
{
    int i = ferry_store_find(run->st, name);
    if (i < 0) {
        if (rows < 1 || cols < 1) {
            ferry_error(FERRY_ERR_INVALID, "method '%s': table '%s' of %lld x %lld", run->m->name, name,
                        (long long)rows, (long long)cols);
            return NULL;
        }
        if (ferry_store_add(run->st, name, FERRY_F32, 2, (int64_t[]){rows, cols}, false)) return NULL;
    } else if (ferry_store_trainable(run->st, i) || ferry_store_ndim(run->st, i) != 2 ||
               ferry_store_shape(run->st, i)[0] != rows || ferry_store_shape(run->st, i)[1] != cols) {
        ferry_error(FERRY_ERR_INVALID, "method '%s': '%s' is already in the store, not as a %lld x %lld table",
                    run->m->name, name, (long long)rows, (long long)cols);
        return NULL;
    }
    return ferry_param(run->ctx, run->st, name);
}

static ferry_plugin_status h_table_set(ferry_run_t *run, const char *name, const float *data)
{
    int i = ferry_store_find(run->st, name);
    if (i < 0 || ferry_store_trainable(run->st, i))
        return ferry_error(FERRY_ERR_NOT_FOUND, "method '%s': no table '%s'", run->m->name, name);
    return ferry_store_set(run->st, i, data, (size_t)ferry_store_numel(run->st, i) * sizeof(float));
}

/* The images of a training split and their count (NULL when the run has no such split). */
static const float *split_images(const ferry_run_t *run, int split, int64_t *n)
{
    *n = 0;
    if (!run->task) return NULL;
    if (split == FERRY_SPLIT_LABELLED && !run->source_free) {
        *n = ferry_dataset_size(run->primary);
        return ferry_dataset_images(run->primary);
    }
    if (split == FERRY_SPLIT_UNLABELLED_TARGET && !run->inductive) {
        const ferry_unlabelled_t *u = ferry_task_target_train(run->task);
        *n = ferry_unlabelled_size(u);
        return ferry_unlabelled_images(u);
    }
    return NULL;
}

static int64_t h_split_size(const ferry_run_t *run, int split)
{
    int64_t n;
    split_images(run, split, &n);
    return n;
}

/* The classifier over feature rows, as a graph of PREDICT_ROWS rows in, probabilities out. */
#define PREDICT_ROWS 500
static ferry_status predict_graph(ferry_run_t *run)
{
    ferry_status s = ferry_ctx_init(&run->p_ctx);
    if (s) return s;
    ferry_forward_opts fo = {.train = false};
    run->p_f = ferry_input(run->p_ctx, "f", FERRY_F32, 2, (int64_t[]){PREDICT_ROWS, run->feature_dim});
    run->p_out = ferry_softmax(run->p_ctx, ferry_model_classifier(run->m_model, run->p_ctx, run->p_f, &fo));
    if (!run->p_out) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(run->p_out);
    return ferry_graph_init(run->p_ctx, run->o->backend, &run->p_g);
}

/* The model's class probabilities (n × classes) and, if features is not NULL, its features over n
 * images at the task's geometry. */
static ferry_status predict_images(ferry_run_t *run, const float *images, int64_t n, float *probs, float *features)
{
    ferry_status s = run->p_g ? FERRY_OK : predict_graph(run);
    float *f = NULL, *rows = NULL, *out = NULL;
    const int64_t D = run->feature_dim, K = run->classes;
    if (!s) s = ferry_model_features_cached(run->m_model, run->o->backend, images, n, run->c, run->h, run->w, false, &f);
    if (!s && (!(rows = calloc((size_t)(PREDICT_ROWS * D), sizeof *rows)) ||
               !(out = malloc((size_t)(PREDICT_ROWS * K) * sizeof *out))))
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n && !s; i += PREDICT_ROWS) {
        const int64_t k = n - i < PREDICT_ROWS ? n - i : PREDICT_ROWS;
        memcpy(rows, f + (size_t)(i * D), (size_t)(k * D) * sizeof *rows);
        if (!(s = ferry_tensor_set(run->p_g, run->p_f, rows, (size_t)(PREDICT_ROWS * D) * sizeof *rows)) &&
            !(s = ferry_graph_compute(run->p_g)) &&
            !(s = ferry_tensor_get(run->p_g, run->p_out, out, (size_t)(PREDICT_ROWS * K) * sizeof *out)))
            memcpy(probs + (size_t)(i * K), out, (size_t)(k * K) * sizeof *out);
    }
    if (!s && features) memcpy(features, f, (size_t)(n * D) * sizeof *f);
    free(f);
    free(rows);
    free(out);
    return s;
}

static ferry_plugin_status h_predict(ferry_run_t *run, int split, float *probs, float *features)
{
    int64_t n;
    const float *images = split_images(run, split, &n);
    if (!images || !run->m_model)
        return ferry_error(FERRY_ERR_INVALID, "method '%s': no split %d to predict in this run", run->m->name, split);
    return predict_images(run, images, n, probs, features);
}

/* MixVal (ferry/validators.h): the model's predictions on mixup probes of the target images p
 * predicted, MIXVAL_BATCH probes at a time. */
#define MIXVAL_BATCH 256
static ferry_status mixval(ferry_run_t *run, const float *images, const float *p, int64_t n, double *out)
{
    const int64_t K = run->classes, px = (int64_t)run->c * run->h * run->w, cap = 2 * FERRY_MIXVAL_ROWS;
    int64_t *a = malloc((size_t)cap * sizeof *a), *b = malloc((size_t)cap * sizeof *b);
    uint8_t *intra = malloc((size_t)cap);
    float *pm = malloc((size_t)(cap * K) * sizeof *pm), *x = malloc((size_t)(MIXVAL_BATCH * px) * sizeof *x);
    ferry_status s = a && b && intra && pm && x ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory for MixVal");
    const int64_t np = s ? 0 : ferry_mixval_pairs(p, n, (int)K, FERRY_MIXVAL_ROWS, a, b, intra);
    for (int64_t j = 0; j < np && !s; j += MIXVAL_BATCH) {
        const int64_t m = np - j < MIXVAL_BATCH ? np - j : MIXVAL_BATCH;
        for (int64_t r = 0; r < m; r++)
            for (int64_t i = 0; i < px; i++)
                x[r * px + i] = FERRY_MIXVAL_LAMBDA * images[a[j + r] * px + i] +
                                (1 - FERRY_MIXVAL_LAMBDA) * images[b[j + r] * px + i];
        s = predict_images(run, x, m, pm + j * K, NULL);
    }
    if (!s) *out = ferry_mixval_score(p, (int)K, a, intra, np, pm);
    free(a);
    free(b);
    free(intra);
    free(pm);
    free(x);
    return s;
}

/* The unsupervised validators of the model as it is (ferry_adapt_opts.validators): its predictions over
 * source validation (with its labels) and the unlabelled target training set, nothing else. */
static ferry_status epoch_validators(ferry_run_t *run, ferry_progress *pr)
{
    const ferry_dataset_t *sv = ferry_task_source_val(run->task);
    const ferry_unlabelled_t *u = ferry_task_target_train(run->task);
    const int64_t ns = ferry_dataset_size(sv), nt = ferry_unlabelled_size(u), K = run->classes, D = run->feature_dim;
    float *ps = malloc((size_t)(ns * K) * sizeof *ps), *pt = malloc((size_t)(nt * K) * sizeof *pt);
    float *fs = malloc((size_t)(ns * D) * sizeof *fs), *ft = malloc((size_t)(nt * D) * sizeof *ft);
    ferry_status s = ps && pt && fs && ft ? FERRY_OK
                                          : ferry_error(FERRY_ERR_NOMEM, "out of memory for the validators (%lld + %lld "
                                                        "examples' features of %lld)", (long long)ns, (long long)nt,
                                                        (long long)D);
    if (!s) s = predict_images(run, ferry_dataset_images(sv), ns, ps, fs);
    if (!s) s = predict_images(run, ferry_unlabelled_images(u), nt, pt, ft);
    if (!s)
        s = ferry_validators_compute_features(ps, ferry_dataset_labels(sv), ns, pt, nt, (int)K, fs, ft, (int)D,
                                              pr->validators);
    if (!s) s = mixval(run, ferry_unlabelled_images(u), pt, nt, &pr->validators[FERRY_VALIDATOR_MIXVAL]);
    pr->has_validators = !s;
    free(ps);
    free(pt);
    free(fs);
    free(ft);
    return s;
}

/* Whether the validators see the model that evaluation scores: not where a method evaluates through
 * its own head or through target batch-norm statistics. */
static bool validators_apply(const ferry_run_t *run)
{
    return run->o->validators && !(FERRY_METHOD_HAS(run->m, eval_logits) && run->m->eval_logits) &&
           !(run->m->flags & FERRY_METHOD_TARGET_BN);
}

static ferry_plugin_status h_metric(ferry_run_t *run, const char *name, ferry_tensor_t *value)
{
    if (!value) return FERRY_ERR_INVALID; /* the op that failed set the message */
    if (ferry_tensor_numel(value) != 1)
        return ferry_error(FERRY_ERR_SHAPE, "method '%s': metric '%s' has %lld elements, not 1", run->m->name, name,
                           (long long)ferry_tensor_numel(value));
    struct metric *m = NULL;
    for (int i = 0; i < run->n_metrics && !m; i++)
        if (!strcmp(run->metrics[i].name, name)) m = &run->metrics[i];
    if (!m) {
        bool ok = *name && strlen(name) < sizeof m->name;
        for (const char *c = name; *c && ok; c++) ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
        if (!ok || run->n_metrics == FERRY_MAX_METHOD_METRICS)
            return ferry_error(FERRY_ERR_INVALID, "method '%s': metric '%s' is not [a-z0-9_]{1,31}, or one over %d",
                               run->m->name, name, FERRY_MAX_METHOD_METRICS);
        m = &run->metrics[run->n_metrics++];
        *m = (struct metric){0};
        snprintf(m->name, sizeof m->name, "%s", name);
    }
    ferry_tensor_set_output(value);
    m->t[run->cur] = value;
    return FERRY_OK;
}

/* After a run of phase k: the metrics it computed, into the epoch's sums. */
static void add_metrics(ferry_run_t *run, int k)
{
    for (int i = 0; i < run->n_metrics; i++)
        if (run->metrics[i].t[k]) {
            run->metrics[i].sum += ferry_tensor_get_scalar(run->ph[k].g, run->metrics[i].t[k]);
            run->metrics[i].n++;
        }
}

/* ---- copies of the model, and intermediate layers ------------------------------------------------- */

/* The forward's tap (ferry_forward_opts): every named layer output of the graph being built. */
static void record_tap(void *user, const char *name, ferry_tensor_t *t)
{
    ferry_run_t *run = user;
    if (run->n_taps == run->cap_taps) { /* while a graph is built, never during a step */
        int cap = run->cap_taps ? 2 * run->cap_taps : 64;
        struct tap *p = realloc(run->taps, (size_t)cap * sizeof *p);
        if (!p) return;
        run->taps = p;
        run->cap_taps = cap;
    }
    struct tap *tp = &run->taps[run->n_taps++];
    snprintf(tp->name, sizeof tp->name, "%s", name);
    tp->copy = run->tap_copy;
    tp->t = t;
}

/* The forward options of the graph being built, recording taps for copy c (-1: the model). */
static ferry_forward_opts forward_opts(ferry_run_t *run, bool train, ferry_tensor_t *seed)
{
    return (ferry_forward_opts){.train = train, .seed = seed, .tap = record_tap, .tap_user = run};
}

static int find_copy(const ferry_run_t *run, const char *name)
{
    for (int i = 0; name && i < run->n_copies; i++)
        if (!strcmp(run->copies[i].name, name)) return i;
    return -1;
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
    return true;
}

static ferry_plugin_status h_model_copy(ferry_run_t *run, const char *name, int kind, const char *decay)
{
    const char *mn = run->m->name;
    if (!run->m_model) return no_model(run, "model_copy");
    if (!run->in_setup) return ferry_error(FERRY_ERR_INVALID, "method '%s': model_copy is for setup only", mn);
    if (!valid_name(name, sizeof run->copies[0].name))
        return ferry_error(FERRY_ERR_INVALID, "method '%s': copy name '%s' is not [a-z0-9_]{1,31}", mn, name ? name : "");
    if (find_copy(run, name) >= 0) return ferry_error(FERRY_ERR_INVALID, "method '%s': copy '%s' made twice", mn, name);
    if (run->n_copies == MAX_COPIES)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "method '%s': more than %d copies of the model", mn, MAX_COPIES);
    if (kind < FERRY_COPY_FROZEN || kind > FERRY_COPY_TRAINABLE)
        return ferry_error(FERRY_ERR_INVALID, "method '%s': copy '%s' of unknown kind %d", mn, name, kind);
    struct copy *cp = &run->copies[run->n_copies];
    memset(cp, 0, sizeof *cp);
    snprintf(cp->name, sizeof cp->name, "%s", name);
    snprintf(cp->prefix, sizeof cp->prefix, "%s.", name);
    cp->kind = kind;
    if (kind == FERRY_COPY_EMA) {
        cp->decay = decay ? h_hparam(run, decay) : 0.0 / 0.0;
        if (!(cp->decay >= 0 && cp->decay < 1))
            return ferry_error(FERRY_ERR_INVALID, "method '%s': copy '%s' needs an EMA decay in [0, 1) (hyperparameter "
                               "'%s')", mn, name, decay ? decay : "(none)");
    }
    for (int i = 0; i < ferry_store_count(run->st); i++)
        if (!strncmp(ferry_store_name(run->st, i), cp->prefix, strlen(cp->prefix)))
            return ferry_error(FERRY_ERR_INVALID, "method '%s': the store already has '%s' entries", mn, cp->prefix);
    /* its own generator: a copy does not shift the run's random stream (its values are overwritten) */
    ferry_rng_t *rng = NULL;
    const int before = ferry_store_count(run->st);
    ferry_model_opts mo = {.input_size = run->o->input_size, .prefix = cp->prefix};
    ferry_status s = ferry_rng_init(ferry_hash3((uint32_t)run->o->seed, 0x636f7079u, (uint32_t)run->n_copies), &rng);
    if (!s) s = ferry_model_init_ex(run->o->arch, run->c, run->h, run->w, run->classes, &mo, run->st, rng, &cp->m);
    ferry_rng_free(rng);
    if (s) return s;
    run->n_copies++; /* teardown frees it from here on */
    /* the model's values as they stand, into the copy's entries of the same name */
    char full[256];
    float *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < before && !s; i++) {
        snprintf(full, sizeof full, "%s%s", cp->prefix, ferry_store_name(run->st, i));
        int j = ferry_store_find(run->st, full);
        if (j < 0) continue;
        size_t n = (size_t)ferry_store_numel(run->st, i) * sizeof(float);
        if (n > cap) {
            float *p = realloc(buf, n);
            if (!p) {
                s = ferry_error(FERRY_ERR_NOMEM, "out of memory copying the model");
                break;
            }
            buf = p;
            cap = n;
        }
        if (!(s = ferry_store_get(run->st, i, buf, n))) s = ferry_store_set(run->st, j, buf, n);
        ferry_store_set_trainable(run->st, j, kind == FERRY_COPY_TRAINABLE && ferry_store_trainable(run->st, i));
    }
    free(buf);
    return s;
}

/* Rows [row, row + B) of x, a tensor over every domain of the graph being built. */
static ferry_tensor_t *domain_rows(ferry_run_t *run, ferry_tensor_t *x, int row)
{
    return x && row >= 0 ? ferry_slice_batch(run->ctx, x, row, row + run->cur_B) : NULL;
}

static ferry_plugin_status h_copy_forward(ferry_run_t *run, const char *name, bool dropout, ferry_step_tensors *out)
{
    int c = find_copy(run, name);
    if (c < 0) return ferry_error(FERRY_ERR_NOT_FOUND, "method '%s': no copy '%s' (make it with model_copy in setup)",
                                  run->m->name, name ? name : "(null)");
    if (!run->cur_in)
        return ferry_error(FERRY_ERR_INVALID, "method '%s': copy_forward outside a phase's or evaluation's graph",
                           run->m->name);
    if (run->cached)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "method '%s': a copy's forward needs images, and this run's frozen "
                           "backbone gives cached features", run->m->name);
    ferry_forward_opts fo = forward_opts(run, dropout, dropout ? run->cur_seed : NULL);
    run->tap_copy = c;
    ferry_tensor_t *f = ferry_model_features(run->copies[c].m, run->ctx, run->cur_in, &fo);
    ferry_tensor_t *y = ferry_model_classifier(run->copies[c].m, run->ctx, f, &fo);
    run->tap_copy = -1;
    if (!y) return FERRY_ERR_SHAPE;
    *out = (ferry_step_tensors){.batch = run->cur_B,
                                .features_s = domain_rows(run, f, run->row_s), .logits_s = domain_rows(run, y, run->row_s),
                                .features_t = domain_rows(run, f, run->row_t), .logits_t = domain_rows(run, y, run->row_t),
                                .features_t2 = domain_rows(run, f, run->row_t2), .logits_t2 = domain_rows(run, y, run->row_t2)};
    return FERRY_OK;
}

static ferry_tensor_t *h_tap(ferry_run_t *run, const char *copy, const char *layer, int domain)
{
    int c = copy ? find_copy(run, copy) : -1;
    if (copy && c < 0) {
        ferry_error(FERRY_ERR_NOT_FOUND, "method '%s': no copy '%s'", run->m->name, copy);
        return NULL;
    }
    int row = domain == FERRY_TAP_SOURCE ? run->row_s : domain == FERRY_TAP_TARGET ? run->row_t
            : domain == FERRY_TAP_TARGET2 ? run->row_t2 : -2;
    if (row < 0) {
        ferry_error(FERRY_ERR_INVALID, "method '%s': tap '%s': the graph being built has no %s rows", run->m->name,
                    layer ? layer : "", row == -2 ? "such" : domain == FERRY_TAP_SOURCE ? "source"
                    : domain == FERRY_TAP_TARGET ? "target" : "second-view");
        return NULL;
    }
    for (int i = run->n_taps - 1; layer && i >= 0; i--)
        if (run->taps[i].copy == c && !strcmp(run->taps[i].name, layer)) return domain_rows(run, run->taps[i].t, row);
    char list[512] = "";
    size_t n = 0;
    int shown = 0;
    for (int i = 0; i < run->n_taps && n + 100 < sizeof list; i++)
        if (run->taps[i].copy == c && shown++ < 24) n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", run->taps[i].name);
    ferry_error(FERRY_ERR_NOT_FOUND, "method '%s': %s%s has no layer '%s' in this graph%s%s%s", run->m->name,
                copy ? "copy " : "the model", copy ? copy : "", layer ? layer : "(null)",
                n ? " (it has: " : "", list, n ? (shown > 24 ? ", ...)" : ")") : "");
    return NULL;
}

static const char *h_tap_name(ferry_run_t *run, const char *copy, int i)
{
    int c = copy ? find_copy(run, copy) : -1;
    if (copy && c < 0) return NULL;
    for (int k = 0; k < run->n_taps; k++)
        if (run->taps[k].copy == c && i-- == 0) return run->taps[k].name;
    return NULL;
}

/* After every iteration's phases: each EMA copy's entries move toward the model's, as one SGD step
 * of size 1 - d on ½‖copy − model‖² (momentum 0: the update op's state is never read; the model's
 * entry stands in for it). One graph, one submission. */
static ferry_status build_ema(ferry_run_t *run)
{
    int n_ema = 0;
    for (int c = 0; c < run->n_copies; c++) n_ema += run->copies[c].kind == FERRY_COPY_EMA;
    if (!n_ema) return FERRY_OK;
    ferry_status s = ferry_ctx_init(&run->ema_ctx);
    ferry_ctx_t *ctx = run->ema_ctx;
    for (int c = 0; c < run->n_copies && !s; c++) {
        const struct copy *cp = &run->copies[c];
        if (cp->kind != FERRY_COPY_EMA) continue;
        char rn[64];
        snprintf(rn, sizeof rn, "ema.%s", cp->name);
        run->ema_rate[c] = ferry_scalar_input(ctx, rn, (float)(1 - cp->decay));
        const size_t pl = strlen(cp->prefix);
        for (int j = 0; j < ferry_store_count(run->st) && !s; j++) {
            const char *name = ferry_store_name(run->st, j);
            if (strncmp(name, cp->prefix, pl) != 0) continue;
            if (ferry_store_find(run->st, name + pl) < 0) continue;
            ferry_tensor_t *t = ferry_param(ctx, run->st, name), *m = ferry_param(ctx, run->st, name + pl);
            if (!ferry_sgd_update(ctx, t, ferry_sub(ctx, t, m), m, run->ema_rate[c], 1.0f, 0.0f, 0.0f, false))
                s = FERRY_ERR_SHAPE;
        }
    }
    if (!s) s = ferry_graph_init(ctx, run->o->backend, &run->ema_g);
    for (int c = 0; c < run->n_copies && !s; c++) /* the rates are constant: set once, not per step */
        if (run->ema_rate[c]) {
            float r = (float)(1 - run->copies[c].decay);
            s = ferry_tensor_set(run->ema_g, run->ema_rate[c], &r, sizeof r);
        }
    return s;
}

static const ferry_host_api host_api = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_host_api),
    .error = h_error,
    .add = ferry_add,
    .sub = ferry_sub,
    .mul = ferry_mul,
    .scale = ferry_scale,
    .scale_by = ferry_scale_by,
    .relu = ferry_relu,
    .sigmoid = ferry_sigmoid,
    .tanh = ferry_tanh,
    .exp = ferry_exp,
    .softmax = ferry_softmax,
    .reciprocal = ferry_reciprocal,
    .detach = ferry_detach,
    .grad_reverse = ferry_grad_reverse,
    .matmul = ferry_matmul,
    .concat_batch = ferry_concat_batch,
    .slice_batch = ferry_slice_batch,
    .reshape = ferry_reshape,
    .constant = ferry_constant,
    .ndim = h_ndim,
    .dim = h_dim,
    .sum = ferry_sum,
    .mean = ferry_mean,
    .cross_entropy = ferry_cross_entropy,
    .bce_with_logits = ferry_bce_with_logits,
    .linear_init = h_linear_init,
    .linear = h_linear,
    .ctx = h_ctx,
    .hparam = h_hparam,
    .feature_dim = h_feature_dim,
    .classes = h_classes,
    .scalar = h_scalar,
    .set_scalar = h_set_scalar,
    .set_lr_mult = h_set_lr_mult,
    .freeze_backbone = h_freeze_backbone,
    .set_schedule = h_set_schedule,
    .backbone_param_count = h_backbone_param_count,
    .backbone_param_and_start = h_backbone_param_and_start,
    .has_checkpoint = h_has_checkpoint,
    .reset_classifier = h_reset_classifier,
    .set_state = h_set_state,
    .state = h_state,
    .batch_norm_init = h_batch_norm_init,
    .batch_norm = h_batch_norm,
    .sum_to = ferry_sum_to,
    .div = ferry_div,
    .maximum = ferry_maximum,
    .minimum = ferry_minimum,
    .log = ferry_log,
    .sqrt = ferry_sqrt,
    .square = ferry_square,
    .abs = ferry_abs,
    .pow = ferry_pow,
    .clamp = ferry_clamp,
    .leaky_relu = ferry_leaky_relu,
    .softplus = ferry_softplus,
    .log_softmax = ferry_log_softmax,
    .transpose = ferry_transpose,
    .sum_axis = ferry_sum_axis,
    .mean_axis = ferry_mean_axis,
    .max_axis = ferry_max_axis,
    .argmax_axis = ferry_argmax_axis,
    .one_hot = ferry_one_hot,
    .gather_rows = ferry_gather_rows,
    .concat = ferry_concat,
    .slice = ferry_slice,
    .compare = h_compare,
    .where = ferry_where,
    .batched_matmul = ferry_batched_matmul,
    .table = h_table,
    .table_set = h_table_set,
    .split_size = h_split_size,
    .predict = h_predict,
    .metric = h_metric,
    .model_copy = h_model_copy,
    .copy_forward = h_copy_forward,
    .tap = h_tap,
    .tap_name = h_tap_name,
};

const ferry_host_api *ferry_plugin_host(void) { return &host_api; }

/* ---- the run ---------------------------------------------------------------------------------------- */

ferry_adapt_opts ferry_adapt_defaults(void)
{
    ferry_adapt_opts o = {.arch = "lenet", .epochs = 10, .batch = 64, .seed = 1};
    o.optim = ferry_optim_defaults(FERRY_SGD);
    o.optim.lr = 0.01f;
    o.optim.weight_decay = 5e-4f;
    o.optim.schedule = FERRY_SCHED_COSINE;
    return o;
}

static ferry_status apply_lr_rules(ferry_run_t *run, ferry_optim_t *opt)
{
    for (int r = 0; r < run->n_lr; r++) {
        ferry_status s = FERRY_OK;
        if (strcmp(run->lr[r].prefix, "backbone") == 0) {
            for (int i = 0; i < ferry_store_count(run->st) && !s; i++)
                if (is_backbone_param(run, ferry_store_name(run->st, i)))
                    s = ferry_optim_set_lr_mult(opt, ferry_store_name(run->st, i), run->lr[r].mult);
        } else {
            s = ferry_optim_set_lr_mult(opt, run->lr[r].prefix, run->lr[r].mult);
        }
        if (s) return s;
    }
    return FERRY_OK;
}

/* Whether the method froze the whole backbone (feature extraction): then its features are fixed. */
static bool backbone_frozen(const ferry_run_t *run)
{
    int n = 0;
    for (int i = 0; i < ferry_store_count(run->st); i++) {
        const char *name = ferry_store_name(run->st, i);
        if (!is_backbone_param(run, name)) continue;
        if (ferry_store_trainable(run->st, i)) return false;
        n++;
    }
    return n > 0;
}

/* The cached features of every split the run reads, and the head's evaluation graph over them. On
 * disk only for a backbone that many runs share (imported, or pretrained weights given); a backbone
 * pretrained per seed is cached for the run alone. */
static ferry_status cache_features(ferry_run_t *run)
{
    const ferry_adapt_opts *o = run->o;
    bool disk = ferry_model_info(run->m_model)->imported || o->weights;
    const ferry_dataset_t *ev[3] = {ferry_task_source_val(run->task), ferry_task_target_val(run->task),
                                    ferry_task_target_test(run->task)};
    ferry_status s = ferry_model_features_cached(run->m_model, o->backend, ferry_dataset_images(run->primary),
                                                 ferry_dataset_size(run->primary), run->c, run->h, run->w, disk,
                                                 &run->f_primary);
    if (!s && !run->inductive) {
        const ferry_unlabelled_t *u = ferry_task_target_train(run->task);
        s = ferry_model_features_cached(run->m_model, o->backend, ferry_unlabelled_images(u), ferry_unlabelled_size(u),
                                        run->c, run->h, run->w, disk, &run->f_target);
    }
    for (int k = 0; k < 3 && !s; k++)
        s = ferry_model_features_cached(run->m_model, o->backend, ferry_dataset_images(ev[k]), ferry_dataset_size(ev[k]),
                                        run->c, run->h, run->w, disk, &run->f_eval[k]);
    if (s || (s = ferry_ctx_init(&run->ectx))) return s;
    const int EB = 500;
    ferry_forward_opts fo = {.train = false};
    run->ef = ferry_input(run->ectx, "f", FERRY_F32, 2, (int64_t[]){EB, run->feature_dim});
    run->ey = ferry_input(run->ectx, "y", FERRY_I32, 1, (int64_t[]){EB});
    ferry_tensor_t *logits = ferry_model_classifier(run->m_model, run->ectx, run->ef, &fo);
    run->ecorrect = ferry_count_correct(run->ectx, logits, run->ey);
    run->epred = logits ? ferry_argmax_axis(run->ectx, logits, 1) : NULL;
    if (!run->ecorrect || !run->epred) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(run->ecorrect);
    ferry_tensor_set_output(run->epred);
    return ferry_graph_init(run->ectx, o->backend, &run->eg);
}

/* Accuracy of the head over cached features f of data set ds (in batches of the graph's 500), and where
 * confusion is not NULL the confusion matrix of the same predictions. */
static ferry_status evaluate_cached(ferry_run_t *run, const ferry_dataset_t *ds, const float *f, double *acc,
                                    int32_t *confusion)
{
    const int64_t n = ferry_dataset_size(ds), F = run->feature_dim, EB = run->ef->ne[0];
    const int32_t *labels = ferry_dataset_labels(ds);
    float *x = calloc((size_t)(EB * F), sizeof *x);
    int32_t *y = malloc((size_t)EB * sizeof *y), *pred = malloc((size_t)EB * sizeof *pred);
    ferry_status s = x && y && pred ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory evaluating");
    if (confusion) memset(confusion, 0, (size_t)run->classes * run->classes * sizeof *confusion);
    double correct = 0;
    for (int64_t i = 0; !s && i < n; i += EB) {
        int64_t k = n - i < EB ? n - i : EB;
        memcpy(x, f + (size_t)(i * F), (size_t)(k * F) * sizeof *x);
        memset(x + (size_t)(k * F), 0, (size_t)((EB - k) * F) * sizeof *x);
        for (int64_t j = 0; j < EB; j++) y[j] = j < k ? labels[i + j] : -1; /* padding never counts */
        if (!(s = ferry_tensor_set(run->eg, run->ef, x, (size_t)(EB * F) * sizeof *x)) &&
            !(s = ferry_tensor_set(run->eg, run->ey, y, (size_t)EB * sizeof *y)) && !(s = ferry_graph_compute(run->eg))) {
            correct += ferry_tensor_get_scalar(run->eg, run->ecorrect);
            if (confusion && !(s = ferry_tensor_get(run->eg, run->epred, pred, (size_t)EB * sizeof *pred)))
                ferry_confusion_add(confusion, run->classes, y, pred, k);
        }
    }
    *acc = n ? correct / (double)n : 0;
    free(x);
    free(y);
    free(pred);
    return s;
}

/* ---- target batch-norm statistics (AdaBN) ---------------------------------------------------------- */

/* Batches of the target images a re-estimate runs through the model: a pass over them, and at least
 * this many, so that of a layer with momentum 0.1 under 3e-5 of the source's statistics remains. */
#define TARGET_BN_MIN_BATCHES 100

static bool is_bn_statistic(const char *name) { return strstr(name, "running_") != NULL; }

/* Swaps the store's batch-norm statistics with run->bn_saved (saved = false: store -> saved; true:
 * saved -> store). */
static ferry_status bn_statistics(ferry_run_t *run, bool restore)
{
    size_t at = 0;
    for (int i = 0; i < ferry_store_count(run->st); i++) {
        if (!is_bn_statistic(ferry_store_name(run->st, i))) continue;
        const size_t n = (size_t)ferry_store_numel(run->st, i) * sizeof(float);
        ferry_status s = restore ? ferry_store_set(run->st, i, run->bn_saved + at, n)
                                 : ferry_store_get(run->st, i, run->bn_saved + at, n);
        if (s) return s;
        at += n / sizeof(float);
    }
    return FERRY_OK;
}

/* Prepares the re-estimate: the statistics' room and a training-mode forward of the backbone. */
static ferry_status target_bn_init(ferry_run_t *run)
{
    size_t total = 0;
    for (int i = 0; i < ferry_store_count(run->st); i++)
        if (is_bn_statistic(ferry_store_name(run->st, i))) total += (size_t)ferry_store_numel(run->st, i);
    if (run->o->batch > 4096)
        return ferry_error(FERRY_ERR_INVALID, "method '%s': batch %d over 4096", run->m->name, run->o->batch);
    if (!total)
        return ferry_error(FERRY_ERR_INVALID, "method '%s' re-estimates batch norm on the target, and %s has none "
                           "(choose an architecture with batch norm, e.g. --arch resnet)", run->m->name, run->o->arch);
    if (run->cached)
        return ferry_error(FERRY_ERR_INVALID, "method '%s' re-estimates batch norm on the target: the backbone "
                           "cannot also be frozen", run->m->name);
    if (!(run->bn_saved = malloc(total * sizeof(float)))) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_status s = ferry_ctx_init(&run->bn_ctx);
    if (s) return s;
    const int64_t img[4] = {run->o->batch, run->mc, run->mh, run->mw};
    run->bn_x = ferry_input(run->bn_ctx, "x", FERRY_F32, 4, img);
    ferry_forward_opts fo = {.train = true};
    ferry_tensor_t *f = ferry_sum(run->bn_ctx, ferry_model_features(run->m_model, run->bn_ctx, run->bn_x, &fo));
    if (!f) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(f);
    return ferry_graph_init(run->bn_ctx, run->o->backend, &run->bn_g);
}

static ferry_status gather(ferry_run_t *run, float *dst, const float *images, const int64_t *idx, int n,
                           ferry_augment_t *aug, uint64_t seed, int e, int64_t k, int view);

/* The target's statistics in the store (the source's saved): batches of the unlabelled target
 * training images, in order, through the backbone in training mode. */
static ferry_status target_bn_estimate(ferry_run_t *run, float *batch)
{
    const ferry_unlabelled_t *u = ferry_task_target_train(run->task);
    const int64_t n = ferry_unlabelled_size(u), B = run->o->batch;
    int64_t batches = (n + B - 1) / B, idx[4096];
    if (batches < TARGET_BN_MIN_BATCHES) batches = TARGET_BN_MIN_BATCHES;
    ferry_status s = bn_statistics(run, false);
    for (int64_t k = 0; k < batches && !s; k++) {
        for (int64_t i = 0; i < B; i++) idx[i] = (k * B + i) % n;
        s = gather(run, batch, ferry_unlabelled_images(u), idx, (int)B, NULL, 0, 0, 0, 0);
        if (!s) s = ferry_tensor_set(run->bn_g, run->bn_x, batch, (size_t)B * run->mc * run->mh * run->mw * sizeof(float));
        if (!s) s = ferry_graph_compute(run->bn_g);
    }
    return s;
}

/* The method's evaluation head (ferry_method.eval_logits) as a graph: EB prepared images and labels in,
 * the number of correct predictions out. */
static ferry_status eval_hook_graph(ferry_run_t *run)
{
    const int EB = ferry_model_eval_batch(run->m_model, run->o->batch);
    ferry_status s = ferry_ctx_init(&run->hctx);
    if (s) return s;
    ferry_ctx_t *ctx = run->hctx, *keep = run->ctx;
    run->hx = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){EB, run->mc, run->mh, run->mw});
    run->hy = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){EB});
    run->ctx = ctx;
    run->cur_in = run->hx;
    run->cur_seed = NULL;
    run->cur_B = EB;
    run->row_s = run->row_t2 = -1;
    run->row_t = 0;
    run->n_taps = 0;
    run->tap_copy = -1;
    ferry_forward_opts fo = forward_opts(run, false, NULL);
    ferry_step_tensors st = {.batch = EB};
    st.features_t = ferry_model_features(run->m_model, ctx, run->hx, &fo);
    st.logits_t = ferry_model_classifier(run->m_model, ctx, st.features_t, &fo);
    ferry_clear_error();
    ferry_tensor_t *y = st.logits_t ? run->m->eval_logits(run, &host_api, &st) : NULL;
    run->ctx = keep;
    run->cur_in = NULL;
    if (!y) {
        if (!ferry_last_error()[0]) ferry_error(FERRY_ERR_INVALID, "method '%s': its evaluation head built nothing", run->m->name);
        return FERRY_ERR_INVALID;
    }
    if (h_ndim(y) != 2 || h_dim(y, 0) != EB || h_dim(y, 1) != run->classes)
        return ferry_error(FERRY_ERR_SHAPE, "method '%s': its evaluation head gives [%lld, %lld], not [%d, %d]",
                           run->m->name, (long long)h_dim(y, 0), (long long)h_dim(y, 1), EB, run->classes);
    if (!(run->hcorrect = ferry_count_correct(ctx, y, run->hy)) || !(run->hpred = ferry_argmax_axis(ctx, y, 1)))
        return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(run->hcorrect);
    ferry_tensor_set_output(run->hpred);
    if (!(run->hbuf = malloc((size_t)EB * run->mc * run->mh * run->mw * sizeof(float))) ||
        !(run->hlab = malloc((size_t)EB * sizeof(int32_t))) || !(run->hpredbuf = malloc((size_t)EB * sizeof(int32_t))))
        return ferry_error(FERRY_ERR_NOMEM, "out of memory for evaluation batches");
    return ferry_graph_init(ctx, run->o->backend, &run->hg);
}

/* Accuracy of the method's evaluation head on ds (a last partial batch padded, its padding not counted),
 * and where confusion is not NULL the confusion matrix of the same predictions. */
static ferry_status evaluate_hook(ferry_run_t *run, const ferry_dataset_t *ds, double *acc, int32_t *confusion)
{
    ferry_status s = run->hg ? FERRY_OK : eval_hook_graph(run);
    if (s) return s;
    const int EB = (int)run->hx->ne[0], B = run->o->batch; /* run->raw holds B images */
    const size_t img = (size_t)run->c * run->h * run->w, in = (size_t)run->mc * run->mh * run->mw;
    const int64_t n = ferry_dataset_size(ds);
    const float *images = ferry_dataset_images(ds);
    const int32_t *labels = ferry_dataset_labels(ds);
    double correct = 0;
    if (confusion) memset(confusion, 0, (size_t)run->classes * run->classes * sizeof *confusion);
    for (int64_t i = 0; i < n && !s; i += EB) {
        const int64_t k = n - i < EB ? n - i : EB;
        for (int64_t j = 0; j < EB && !s; j += B) { /* prepared B at a time; padding repeats row 0 */
            const int64_t m = EB - j < B ? EB - j : B;
            for (int64_t r = 0; r < m; r++) {
                const int64_t src = j + r < k ? i + j + r : i;
                memcpy(run->raw + (size_t)r * img, images + (size_t)src * img, img * sizeof(float));
            }
            s = ferry_preproc_run(run->pp, run->raw, (int)m, run->hbuf + (size_t)j * in);
        }
        for (int64_t j = 0; j < EB; j++) run->hlab[j] = j < k ? labels[i + j] : -1;
        if (!s && !(s = ferry_tensor_set(run->hg, run->hx, run->hbuf, (size_t)EB * in * sizeof(float))) &&
            !(s = ferry_tensor_set(run->hg, run->hy, run->hlab, (size_t)EB * sizeof(int32_t))) &&
            !(s = ferry_graph_compute(run->hg))) {
            correct += ferry_tensor_get_scalar(run->hg, run->hcorrect);
            if (confusion && !(s = ferry_tensor_get(run->hg, run->hpred, run->hpredbuf, (size_t)EB * sizeof(int32_t))))
                ferry_confusion_add(confusion, run->classes, run->hlab, run->hpredbuf, k);
        }
    }
    *acc = n ? correct / (double)n : 0;
    return s;
}

/* Accuracy on split k (0 source validation, 1 target validation, 2 target test) through whichever
 * evaluation the run has; confusion (classes × classes, or NULL) gets the same predictions' matrix. */
static ferry_status evaluate(ferry_run_t *run, int k, double *acc, int32_t *confusion)
{
    const ferry_dataset_t *ds = k == 0 ? ferry_task_source_val(run->task)
                              : k == 1 ? ferry_task_target_val(run->task) : ferry_task_target_test(run->task);
    if (FERRY_METHOD_HAS(run->m, eval_logits) && run->m->eval_logits && !run->cached)
        return evaluate_hook(run, ds, acc, confusion);
    if (run->cached) return evaluate_cached(run, ds, run->f_eval[k], acc, confusion);
    return ferry_evaluate_confusion(run->m_model, run->o->backend, ds, 500, acc, confusion);
}

/* Whether phase `def` updates store entry i (see ferry_phase.updates). */
static bool phase_updates(const ferry_run_t *run, const ferry_phase *def, int i)
{
    const char *sel = def ? def->updates : NULL;
    if (!sel || !*sel) return true;
    const char *name = ferry_store_name(run->st, i);
    for (const char *p = sel; *p;) {
        size_t n = strcspn(p, ",");
        char tok[128];
        snprintf(tok, sizeof tok, "%.*s", (int)n, p);
        bool model = i < run->model_entries;
        if (!strcmp(tok, "all") || (!strcmp(tok, "backbone") && model && is_backbone_param(run, name)) ||
            (!strcmp(tok, "classifier") && model && !is_backbone_param(run, name)) ||
            (!strcmp(tok, "modules") && !model) || (n > 0 && !strncmp(name, tok, n)))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

struct phase_keep {
    const ferry_run_t *run;
    const ferry_phase *def;
};
static bool keep_param(int store_idx, void *user)
{
    const struct phase_keep *k = user;
    return phase_updates(k->run, k->def, store_idx);
}

/* Records phase k into its context (made by the caller): its inputs, a forward through the model, the phase's loss, the backward pass to
 * the parameters it updates and their updates, as one static graph. */
static ferry_status build_phase(ferry_run_t *run, int k)
{
    const ferry_adapt_opts *o = run->o;
    struct phase *ph = &run->ph[k];
    ferry_status s;
    run->cur = k;
    run->ctx = ph->ctx;
    ferry_ctx_t *ctx = ph->ctx;
    const int B = o->batch;
    const int64_t img[4] = {B, run->mc, run->mh, run->mw}, lab[1] = {B};
    ph->seed = ferry_input(ctx, "dropout_seed", FERRY_I32, 1, (int64_t[]){1});
    ph->xt = ferry_input(ctx, "xt", FERRY_F32, 4, img);
    if (run->inductive) {
        ph->yt = ferry_input(ctx, "yt", FERRY_I32, 1, lab);
    } else if (!run->source_free) {
        ph->xs = ferry_input(ctx, "xs", FERRY_F32, 4, img);
        ph->ys = ferry_input(ctx, "ys", FERRY_I32, 1, lab);
    }
    if (run->cached) { /* feature rows in, instead of images through a backbone that does not change */
        const int64_t fsh[2] = {B, run->feature_dim};
        ph->ft = ferry_input(ctx, "ft", FERRY_F32, 2, fsh);
        if (!run->inductive) ph->fs = ferry_input(ctx, "fs", FERRY_F32, 2, fsh);
    }
    if (!run->source_free) ph->ids_s = ferry_input(ctx, "ids_s", FERRY_I32, 1, lab);
    if (!run->inductive) ph->ids_t = ferry_input(ctx, "ids_t", FERRY_I32, 1, lab);
    if (run->two_views) ph->xt2 = ferry_input(ctx, "xt2", FERRY_F32, 4, img);
    ferry_forward_opts fo = forward_opts(run, true, ph->seed);
    ferry_step_tensors st = {.batch = B, .labels_s = ph->ys, .labels_t = ph->yt, .ids_s = ph->ids_s, .ids_t = ph->ids_t};
    /* every domain's rows through the backbone as one batch: [source;] target [; second view] */
    const bool has_s = !run->inductive && !run->source_free;
    ferry_tensor_t *parts[3];
    int np = 0;
    if (has_s) parts[np++] = run->cached ? ph->fs : ph->xs;
    parts[np++] = run->cached ? ph->ft : ph->xt;
    if (run->two_views) parts[np++] = ph->xt2;
    run->cur_B = B;
    run->row_s = has_s ? 0 : -1;
    run->row_t = has_s ? B : 0;
    run->row_t2 = run->two_views ? run->row_t + B : -1;
    run->cur_seed = ph->seed;
    run->n_taps = 0;
    run->tap_copy = -1;
    ferry_tensor_t *in = np == 1 ? parts[0] : ferry_concat(ctx, 0, np, parts);
    run->cur_in = run->cached ? NULL : in;
    ferry_tensor_t *f = run->cached ? in : ferry_model_features(run->m_model, ctx, in, &fo);
    ferry_tensor_t *logits = ferry_model_classifier(run->m_model, ctx, f, &fo);
    if (np == 1) {
        st.features_t = f;
        st.logits_t = logits;
    } else {
        st.features_s = domain_rows(run, f, run->row_s);
        st.logits_s = domain_rows(run, logits, run->row_s);
        st.features_t = domain_rows(run, f, run->row_t);
        st.logits_t = domain_rows(run, logits, run->row_t);
        st.features_t2 = domain_rows(run, f, run->row_t2);
        st.logits_t2 = domain_rows(run, logits, run->row_t2);
    }
    if (!st.features_t || !st.logits_t) return FERRY_ERR_SHAPE;
    ferry_clear_error(); /* a NULL loss must not report an older message */
    const char *what = ph->def ? ph->def->name : NULL;
    ph->loss = ph->def ? ph->def->loss(run, &host_api, &st) : run->m->loss(run, &host_api, &st);
    if (!ph->loss) {
        if (!ferry_last_error()[0])
            ferry_error(FERRY_ERR_INVALID, "method '%s'%s%s built no loss", run->m->name, what ? ", phase " : "",
                        what ? what : "");
        return FERRY_ERR_INVALID;
    }
    if (ferry_tensor_numel(ph->loss) != 1)
        return ferry_error(FERRY_ERR_SHAPE, "method '%s': the loss has %lld elements, not 1", run->m->name,
                           (long long)ferry_tensor_numel(ph->loss));
    ferry_tensor_set_output(ph->loss);
    struct phase_keep keep = {run, ph->def};
    if (ph->def && (s = ferry_restrict_grad(ctx, keep_param, &keep))) return s;
    if (ph->def && !ferry_tensor_requires_grad(ph->loss))
        return ferry_error(FERRY_ERR_INVALID, "method '%s', phase %s: the loss depends on none of the parameters "
                           "it updates ('%s')", run->m->name, what, ph->def->updates ? ph->def->updates : "all");
    if ((s = ferry_backward(ctx, ph->loss)) || (s = ferry_optim_init(&run->optim, run->st, &ph->opt)) ||
        (s = apply_lr_rules(run, ph->opt)) || (s = ferry_optim_record(ph->opt, ctx)))
        return s;
    return ferry_graph_init(ctx, o->backend, &ph->g);
}

/* The method's phases (one, on its loss, for a method without phases). */
static ferry_status build_graph(ferry_run_t *run)
{
    const ferry_adapt_opts *o = run->o;
    const ferry_method *m = run->m;
    const int n = FERRY_METHOD_HAS(m, n_phases) && m->n_phases > 0 ? m->n_phases : 1;
    run->n_phases = n;
    for (int k = 0; k < n; k++) {
        run->ph[k].def = FERRY_METHOD_HAS(m, n_phases) && m->n_phases > 0 ? &m->phases[k] : NULL;
        const char *rep = run->ph[k].def ? run->ph[k].def->repeat : NULL;
        run->ph[k].repeat = rep ? (int)h_hparam(run, rep) : 1;
    }
    run->model_entries = ferry_store_count(run->st);
    /* A backbone that comes pretrained (an imported model, or weights given) trains at a tenth of the
     * base rate, TLlib's convention for every method; a method's own rule for it comes later and wins. */
    ferry_status s = FERRY_OK;
    if ((ferry_model_info(run->m_model)->imported || o->weights) && (s = h_set_lr_mult(run, "backbone", 0.1f)))
        return s;
    /* setup adds nodes (and scalars) to the first phase's graph */
    if ((s = ferry_ctx_init(&run->ph[0].ctx))) return s;
    run->cur = 0;
    run->ctx = run->ph[0].ctx;
    run->in_setup = true;
    if (m->setup && (s = m->setup(run, &host_api))) return s;
    run->in_setup = false;
    /* augmented images need the backbone every step: no cached features then */
    run->cached = backbone_frozen(run) && !run->aug_s && !run->aug_t && !run->aug_t2;
    for (int k = 0; k < n && !s; k++)
        if (!(k > 0 && (s = ferry_ctx_init(&run->ph[k].ctx)))) s = build_phase(run, k);
    run->cur_in = NULL;
    return s ? s : build_ema(run);
}

static ferry_status setup(ferry_run_t *run)
{
    const ferry_adapt_opts *o = run->o;
    ferry_status s;
    if (!o->method) return ferry_error(FERRY_ERR_INVALID, "adapt: no method given");
    if (!o->task) return ferry_error(FERRY_ERR_INVALID, "adapt: no task given");
    if (o->epochs < 1 || o->batch < 2)
        return ferry_error(FERRY_ERR_INVALID, "adapt: epochs (%d) must be >= 1 and batch (%d) >= 2", o->epochs,
                           o->batch);
    run->inductive = (o->method->flags & FERRY_METHOD_NEEDS_TARGET_LABELS) != 0;
    run->source_free = (o->method->flags & FERRY_METHOD_SOURCE_FREE) != 0;
    if (run->source_free && run->inductive)
        return ferry_error(FERRY_ERR_INVALID, "method '%s' is source-free and inductive at once", o->method->name);
    run->semi = !run->inductive && o->target_labels_per_class > 0;
    if (run->semi && run->source_free)
        return ferry_error(FERRY_ERR_INVALID,
                           "method '%s' adapts without labelled data: it takes no labelled target examples "
                           "(leave --target-labels out)", o->method->name);
    if (run->source_free && !o->init_path && !o->weights)
        return ferry_error(FERRY_ERR_INVALID,
                           "method '%s' adapts a source model without source data: give it one (--init SOURCE.safetensors, "
                           "from `ferry pretrain --task ...`)", o->method->name);
    if (run->inductive && o->target_labels_per_class < 1)
        return ferry_error(FERRY_ERR_INVALID,
                           "method '%s' trains on labelled target examples: give how many per class "
                           "(--target-labels K)", o->method->name);
    if ((s = ferry_method_resolve(o->method, o->sets, o->n_sets, run->hp))) return s;
    if ((s = ferry_task_load(o->task, o->split_seed, &run->task))) return s;
    const ferry_task_info *ti = ferry_task_get_info(run->task);
    run->c = ti->c;
    run->h = ti->h;
    run->w = ti->w;
    run->classes = ferry_task_classes(run->task);
    if (run->inductive) {
        if ((s = ferry_task_target_labelled(run->task, o->target_labels_per_class, o->seed, &run->labelled_target)))
            return s;
        run->primary = run->labelled_target;
    } else if (run->semi) { /* the source and the labelled target examples, one labelled set */
        const ferry_dataset_t *src = ferry_task_source_train(run->task);
        if ((s = ferry_task_target_labelled(run->task, o->target_labels_per_class, o->seed, &run->labelled_target)) ||
            (s = ferry_dataset_concat(src, run->labelled_target, NULL, &run->joined)))
            return s;
        run->primary = run->joined;
        run->n_source = ferry_dataset_size(src);
    } else {
        run->primary = ferry_task_source_train(run->task);
    }
    if (ferry_dataset_size(run->primary) < o->batch)
        return ferry_error(FERRY_ERR_INVALID, "adapt: batch %d is larger than the %lld training examples", o->batch,
                           (long long)ferry_dataset_size(run->primary));
    if (!run->inductive && ferry_unlabelled_size(ferry_task_target_train(run->task)) < o->batch)
        return ferry_error(FERRY_ERR_INVALID, "adapt: batch %d is larger than the %lld unlabelled target examples",
                           o->batch, (long long)ferry_unlabelled_size(ferry_task_target_train(run->task)));
    if ((s = ferry_store_init(o->backend, &run->st)) || (s = ferry_rng_init(o->seed, &run->rng))) return s;
    ferry_model_opts mo = {.input_size = o->input_size};
    if ((s = ferry_model_init_ex(o->arch, run->c, run->h, run->w, run->classes, &mo, run->st, run->rng, &run->m_model)))
        return s;
    run->feature_dim = ferry_model_feature_dim(run->m_model);
    ferry_model_input(run->m_model, &run->mc, &run->mh, &run->mw);
    run->checkpoint = ferry_model_info(run->m_model)->imported; /* pretrained weights came with it */
    if ((s = ferry_preproc_init(run->m_model, run->c, run->h, run->w, &run->pp))) return s;
    if (!(run->raw = malloc((size_t)o->batch * run->c * run->h * run->w * sizeof(float))))
        return ferry_error(FERRY_ERR_NOMEM, "out of memory for batches");
    if (o->weights) {
        if ((s = ferry_model_load_weights(run->m_model, o->weights, true))) return s;
        run->checkpoint = true;
    }
    if (o->init_path) {
        if ((s = ferry_store_load(run->st, o->init_path, false, true))) return s;
        run->checkpoint = true;
    }
    const int threads = ferry_backend_threads(o->backend);
    if (ferry_augment_active(&o->augment) &&
        (s = ferry_augment_init(&o->augment, run->c, run->h, run->w, o->batch, threads, &run->aug_s)))
        return s;
    run->two_views = (o->method->flags & FERRY_METHOD_TWO_VIEWS) != 0;
    if (run->two_views) { /* the weak view in xt, the strong one in xt2 */
        const ferry_method *m = o->method;
        const char *weak = FERRY_METHOD_HAS(m, view_weak) ? m->view_weak : NULL;
        const char *strong = FERRY_METHOD_HAS(m, view_strong) ? m->view_strong : NULL;
        ferry_augment_config wc = o->augment_target, sc;
        if (run->inductive)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "method '%s' takes two views of the unlabelled target, and an "
                               "inductive run has none", m->name);
        if (!ferry_augment_active(&wc) && weak && (s = ferry_augment_parse(weak, &wc)))
            return ferry_error(s, "method '%s': its view_weak '%s': %s", m->name, weak, ferry_last_error());
        if (!strong) sc = wc;
        else if ((s = ferry_augment_parse(strong, &sc)))
            return ferry_error(s, "method '%s': its view_strong '%s': %s", m->name, strong, ferry_last_error());
        if (!ferry_augment_active(&wc) && !ferry_augment_active(&sc))
            return ferry_error(FERRY_ERR_INVALID, "method '%s' takes two augmented views of the target: give "
                               "--augment-target SPEC", m->name);
        if ((ferry_augment_active(&wc) && (s = ferry_augment_init(&wc, run->c, run->h, run->w, o->batch, threads, &run->aug_t))) ||
            (ferry_augment_active(&sc) && (s = ferry_augment_init(&sc, run->c, run->h, run->w, o->batch, threads, &run->aug_t2))))
            return s;
    } else if (!run->inductive && ferry_augment_active(&o->augment_target) &&
               (s = ferry_augment_init(&o->augment_target, run->c, run->h, run->w, o->batch, threads, &run->aug_t))) {
        return s;
    }
    if ((s = build_graph(run))) return s;
    if (run->cached && FERRY_METHOD_HAS(o->method, eval_logits) && o->method->eval_logits)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "method '%s' evaluates with its own head over images: it cannot "
                           "freeze the whole backbone", o->method->name);
    if (run->source_free && run->cached)
        return ferry_error(FERRY_ERR_INVALID, "method '%s' is source-free: it cannot freeze the whole backbone",
                           o->method->name);
    if ((o->method->flags & FERRY_METHOD_TARGET_BN) && (s = target_bn_init(run))) return s;
    return run->cached ? cache_features(run) : FERRY_OK;
}

static void teardown(ferry_run_t *run)
{
    if (run->m && run->m->teardown && run->ctx) run->m->teardown(run, &host_api);
    ferry_graph_free(run->p_g);
    ferry_ctx_free(run->p_ctx);
    ferry_graph_free(run->bn_g);
    ferry_ctx_free(run->bn_ctx);
    free(run->bn_saved);
    free(run->confusion);
    ferry_graph_free(run->eg);
    ferry_ctx_free(run->ectx);
    free(run->f_primary);
    free(run->f_target);
    for (int k = 0; k < 3; k++) free(run->f_eval[k]);
    for (int k = 0; k < MAX_PHASES; k++) {
        ferry_graph_free(run->ph[k].g);
        ferry_ctx_free(run->ph[k].ctx);
        ferry_optim_free(run->ph[k].opt);
    }
    ferry_graph_free(run->ema_g);
    ferry_ctx_free(run->ema_ctx);
    ferry_graph_free(run->hg);
    ferry_ctx_free(run->hctx);
    free(run->hbuf);
    free(run->hlab);
    free(run->hpredbuf);
    free(run->taps);
    for (int c = 0; c < run->n_copies; c++) ferry_model_free(run->copies[c].m);
    ferry_model_free(run->m_model);
    ferry_preproc_free(run->pp);
    ferry_augment_free(run->aug_s);
    ferry_augment_free(run->aug_t);
    ferry_augment_free(run->aug_t2);
    free(run->raw);
    ferry_store_free(run->st);
    ferry_rng_free(run->rng);
    ferry_dataset_free(run->labelled_target);
    ferry_dataset_free(run->joined);
    ferry_task_free(run->task);
}

/* A seeded permutation of 0..n-1 for epoch e of stream `salt`. */
static void permutation(int64_t *idx, int64_t n, uint64_t seed, int e, int salt)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, (unsigned long)ferry_hash3((uint32_t)seed, (uint32_t)e, (uint32_t)salt));
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    gsl_ran_shuffle(r, idx, (size_t)n, sizeof *idx);
    gsl_rng_free(r);
}

/* A stream of batch indices over n examples: a new seeded permutation whenever the current one has
 * no full batch left (with one pass per epoch, exactly at each epoch's start). */
struct stream {
    int64_t *perm, n, pos;
    int epoch, salt;
};

static const int64_t *next_batch(struct stream *st, int batch, uint64_t seed)
{
    if (st->pos + batch > st->n) {
        permutation(st->perm, st->n, seed, st->epoch++, st->salt);
        st->pos = 0;
    }
    st->pos += batch;
    return st->perm + st->pos - batch;
}

struct batches {
    float *xs, *xt, *xt2;
    int32_t *ys, *yt, *ids_s, *ids_t;
    int64_t *jl; /* the labelled batch's rows in the primary set */
    struct stream s, t, l; /* the primary set (its source part in a semi-supervised run), the
                            * unlabelled target, the labelled target examples (semi-supervised) */
};

/* Rows idx of cached features f (dim columns) into dst. */
static void gather_rows(float *dst, const float *f, int64_t dim, const int64_t *idx, int n)
{
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)(i * dim), f + (size_t)(idx[i] * dim), (size_t)dim * sizeof *f);
}

/* The augmentation seed of the unlabelled target stream: another than the primary stream's, so that
 * the two batches of a step are not augmented alike. */
#define AUG_TARGET_SALT 0x7461726765740000ull

/* Rows idx of images (the task's geometry), augmented (aug non-NULL: step k of epoch e) and prepared
 * for the model into dst. */
static ferry_status gather(ferry_run_t *run, float *dst, const float *images, const int64_t *idx, int n,
                           ferry_augment_t *aug, uint64_t seed, int e, int64_t k, int view)
{
    const size_t img = (size_t)run->c * run->h * run->w;
    for (int i = 0; i < n; i++) memcpy(run->raw + (size_t)i * img, images + (size_t)idx[i] * img, img * sizeof(float));
    ferry_status s = aug ? ferry_augment_batch(aug, run->raw, n, seed, e, k, view) : FERRY_OK;
    return s ? s : ferry_preproc_run(run->pp, run->raw, n, dst);
}

static ferry_status run_epochs(ferry_run_t *run, ferry_adapt_result *out)
{
    const ferry_adapt_opts *o = run->o;
    const int B = o->batch;
    /* one input row: an image prepared for the model, or a cached feature vector */
    const size_t img = run->cached ? (size_t)run->feature_dim : (size_t)run->mc * run->mh * run->mw;
    const ferry_unlabelled_t *u = ferry_task_target_train(run->task);
    struct batches b = {0};
    /* A semi-supervised run's labelled batch: B - BL source rows, then BL = B/2 rows of the labelled
     * target examples (equal shares, as in Saito et al. 2019's SSDA protocol), ids in the joined set. */
    const int BL = run->semi ? B / 2 : 0;
    b.s = (struct stream){.n = run->semi ? run->n_source : ferry_dataset_size(run->primary), .salt = 1};
    b.t = (struct stream){.n = ferry_unlabelled_size(u), .salt = 2};
    b.l = (struct stream){.n = run->semi ? ferry_dataset_size(run->primary) - run->n_source : 0, .salt = 3};
    b.s.pos = b.s.n; /* start an epoch of each stream at once */
    b.t.pos = b.t.n;
    b.l.pos = b.l.n;
    b.xs = malloc((size_t)B * img * sizeof(float));
    b.xt = malloc((size_t)B * img * sizeof(float));
    b.ys = malloc((size_t)B * sizeof(int32_t));
    b.ids_s = malloc((size_t)B * sizeof(int32_t));
    b.ids_t = calloc((size_t)B, sizeof(int32_t));
    b.xt2 = run->two_views ? malloc((size_t)B * img * sizeof(float)) : NULL;
    b.s.perm = malloc((size_t)b.s.n * sizeof(int64_t));
    b.t.perm = malloc((size_t)(b.t.n + 1) * sizeof(int64_t));
    b.l.perm = malloc((size_t)(b.l.n + 1) * sizeof(int64_t));
    b.jl = malloc((size_t)B * sizeof(int64_t));
    if (!run->confusion) run->confusion = malloc((size_t)run->classes * run->classes * sizeof *run->confusion);
    ferry_status s = FERRY_OK;
    if (!b.xs || !b.xt || !b.ys || !b.ids_s || !b.ids_t || !b.s.perm || !b.t.perm || !b.l.perm || !b.jl ||
        (run->two_views && !b.xt2) || !run->confusion) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory for batches");
        goto done;
    }
    const float *src_images = ferry_dataset_images(run->primary);
    const int32_t *src_labels = ferry_dataset_labels(run->primary);
    int64_t steps = run->source_free ? b.t.n / B : b.s.n / B;
    if (o->source_epochs && run->inductive) steps = ferry_dataset_size(ferry_task_source_train(run->task)) / B;
    if (o->iters_per_epoch > 0) steps = o->iters_per_epoch;
    if (steps < 1) steps = 1;
    const int64_t total = steps * o->epochs;
    double t0 = ferry_now_s(), train_time = 0;
    int64_t images = 0;
    for (int e = 0; e < o->epochs && !s; e++) {
        if (FERRY_METHOD_HAS(run->m, epoch_begin) && run->m->epoch_begin &&
            (s = run->m->epoch_begin(run, &host_api, e)))
            break;
        double te = ferry_now_s(), loss_sum = 0;
        ferry_progress pr = {0};
        for (int64_t k = 0; k < steps && !s; k++) {
            if (!run->source_free) { /* the labelled stream (a source-free method reads none) */
                /* the batch's rows: B - BL from the primary stream, then (semi-supervised) BL labelled
                 * target examples, the joined set's rows past the source */
                const int64_t *is = next_batch(&b.s, B - BL, o->seed), *il = BL ? next_batch(&b.l, BL, o->seed) : NULL;
                int64_t *rows = b.jl;
                for (int i = 0; i < B; i++) rows[i] = i < B - BL ? is[i] : run->n_source + il[i - (B - BL)];
                if (run->cached) gather_rows(run->inductive ? b.xt : b.xs, run->f_primary, run->feature_dim, rows, B);
                else if ((s = gather(run, run->inductive ? b.xt : b.xs, src_images, rows, B, run->aug_s, o->seed, e, k, 0)))
                    break;
                for (int i = 0; i < B; i++) {
                    b.ys[i] = src_labels[rows[i]];
                    b.ids_s[i] = (int32_t)rows[i];
                }
            }
            if (!run->inductive) { /* the unlabelled target stream, its own epochs */
                const int64_t *it = next_batch(&b.t, B, o->seed);
                for (int i = 0; i < B; i++) b.ids_t[i] = (int32_t)it[i];
                if (run->cached) gather_rows(b.xt, run->f_target, run->feature_dim, it, B);
                else if ((s = gather(run, b.xt, ferry_unlabelled_images(u), it, B, run->aug_t,
                                     o->seed ^ AUG_TARGET_SALT, e, k, 0)))
                    break;
                /* the same images again, the second view (independent draws: view 1) */
                if (run->two_views && (s = gather(run, b.xt2, ferry_unlabelled_images(u), it, B, run->aug_t2,
                                                  o->seed ^ AUG_TARGET_SALT, e, k, 1)))
                    break;
            }
            double p = (double)(e * steps + k) / (double)total;
            if (run->m->schedule) run->m->schedule(run, &host_api, p);
            int32_t seed = (int32_t)(ferry_hash3((uint32_t)o->seed, (uint32_t)e, (uint32_t)k) >> 1);
            /* each phase on the same batches, in order, each run `repeat` times: one submission each */
            for (int f = 0; f < run->n_phases && !s; f++) {
                struct phase *ph = &run->ph[f];
                ferry_tensor_t *in_s = run->cached ? ph->fs : ph->xs, *in_t = run->cached ? ph->ft : ph->xt;
                /* the batch's tensors the phase reads (a phase on the target alone reads no labels) */
                struct { ferry_tensor_t *t; const void *v; size_t n; } in[6] = {
                    {in_t, b.xt, (size_t)B * img * sizeof(float)},
                    {run->inductive ? ph->yt : ph->ys, b.ys, (size_t)B * sizeof(int32_t)},
                    {run->inductive ? NULL : in_s, b.xs, (size_t)B * img * sizeof(float)},
                    {ph->ids_s, b.ids_s, (size_t)B * sizeof(int32_t)},
                    {ph->ids_t, b.ids_t, (size_t)B * sizeof(int32_t)},
                    {ph->xt2, b.xt2, (size_t)B * img * sizeof(float)}};
                for (int i = 0; i < 6 && !s; i++)
                    if (in[i].t && ferry_graph_uses(ph->g, in[i].t)) s = ferry_tensor_set(ph->g, in[i].t, in[i].v, in[i].n);
                if (s) break;
                for (int r = 0; r < ph->repeat && !s; r++) {
                    /* a phase's dropout masks differ from the first phase's only after the first */
                    int32_t ps = f || r ? (int32_t)(ferry_hash3((uint32_t)seed, (uint32_t)f, (uint32_t)r) >> 1) : seed;
                    s = ferry_run_set_scalars(run, f, ph->g);
                    if (!s && ferry_graph_uses(ph->g, ph->seed)) s = ferry_tensor_set(ph->g, ph->seed, &ps, sizeof ps);
                    if (!s) s = ferry_optim_prepare_step(ph->opt, ph->g, p);
                    if (!s) s = ferry_graph_compute(ph->g);
                    if (!s) add_metrics(run, f);
                }
            }
            if (!s && run->ema_g) s = ferry_graph_compute(run->ema_g); /* the EMA copies follow the updated model */
            if (s) break;
            double step_loss = ferry_tensor_get_scalar(run->ph[0].g, run->ph[0].loss);
            loss_sum += step_loss;
            images += (run->inductive || run->source_free ? 1 : 2) * B;
            double el = ferry_now_s() - t0;
            pr = (ferry_progress){.epoch = e + 1, .epochs = o->epochs, .step = k + 1, .steps = steps,
                                  .loss = loss_sum / (double)(k + 1), .accuracy = 0.0 / 0.0,
                                  .images_per_s = (double)images / el,
                                  .eta_s = el / (double)(e * steps + k + 1) * (double)(total - e * steps - k - 1)};
            if (!isfinite(step_loss))
                s = ferry_error(FERRY_ERR_DIVERGED, "method '%s' diverged at epoch %d step %lld (loss %g)", run->m->name,
                                e + 1, (long long)k + 1, step_loss);
            else if (o->progress && k + 1 < steps)
                o->progress(&pr, o->user);
        }
        train_time += ferry_now_s() - te;
        if (s) break;
        /* a finite loss can hide parameters gone NaN (a term the loss does not read): checked per epoch */
        if ((s = ferry_store_check_finite(run->st))) {
            if (s == FERRY_ERR_DIVERGED)
                s = ferry_error(FERRY_ERR_DIVERGED, "method '%s' diverged by the end of epoch %d (its step %lld): %s",
                                run->m->name, e + 1, (long long)steps, ferry_last_error());
            break;
        }
        if ((s = evaluate(run, 0, &pr.source_val_accuracy, NULL))) break;
        if (run->bn_g && (s = target_bn_estimate(run, b.xt))) break;
        if (!(s = evaluate(run, 1, &pr.target_val_accuracy, NULL))) s = evaluate(run, 2, &pr.test_accuracy, run->confusion);
        pr.confusion = s ? NULL : run->confusion; /* reported beside the validators, never used to select */
        pr.confusion_classes = run->classes;
        if (run->bn_g) { /* training goes on with the source's statistics */
            ferry_status r = bn_statistics(run, true);
            if (!s) s = r;
        }
        if (s) break;
        pr.epoch_end = true;
        if (validators_apply(run) && (s = epoch_validators(run, &pr))) break;
        pr.n_method_metrics = run->n_metrics;
        for (int i = 0; i < run->n_metrics; i++) {
            struct metric *m = &run->metrics[i];
            pr.method_metric_names[i] = m->name;
            pr.method_metrics[i] = m->n ? m->sum / (double)m->n : 0.0 / 0.0;
            m->sum = 0;
            m->n = 0;
        }
        if (o->progress) o->progress(&pr, o->user);
        out->final_loss = pr.loss;
        out->source_val_accuracy = pr.source_val_accuracy;
        out->target_val_accuracy = pr.target_val_accuracy;
        out->target_test_accuracy = pr.test_accuracy;
    }
    out->seconds = ferry_now_s() - t0;
    out->images_per_s = train_time > 0 ? (double)images / train_time : 0;
done:
    free(b.xs);
    free(b.xt);
    free(b.xt2);
    free(b.ys);
    free(b.ids_s);
    free(b.ids_t);
    free(b.s.perm);
    free(b.t.perm);
    free(b.l.perm);
    free(b.jl);
    return s;
}

ferry_status ferry_adapt(const ferry_adapt_opts *o, ferry_adapt_result *out)
{
    memset(out, 0, sizeof *out);
    ferry_run_t run = {.o = o, .m = o->method, .optim = o->optim};
    ferry_status s = setup(&run);
    if (!s) {
        out->n_hparams = run.m->n_hparams;
        memcpy(out->hparams, run.hp, sizeof run.hp);
        s = run_epochs(&run, out);
    }
    if (!s && o->save_path) s = ferry_store_save(run.st, o->save_path, false);
    teardown(&run);
    return s;
}
