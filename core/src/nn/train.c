/* Supervised training: one static training graph, one evaluation graph, both bound to the same
 * parameter store. Per step only the batch goes in and the scalar metrics come out. */
#include "internal.h"
#include "ferry/io.h"
#include "ferry/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ferry_normalize_images(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (x[i] - 0.5f) * 2.0f;
}

ferry_train_opts ferry_train_defaults(void)
{
    ferry_train_opts o = {.data = "mnist", .arch = "lenet", .epochs = 10, .batch = 64, .seed = 1};
    o.optim = ferry_optim_defaults(FERRY_SGD);
    o.optim.lr = 0.05f;
    o.optim.weight_decay = 5e-4f;
    o.optim.schedule = FERRY_SCHED_COSINE;
    return o;
}

/* ---- evaluation ------------------------------------------------------------------------------------ */

struct eval_graph {
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    ferry_tensor_t *x, *y, *correct, *pred; /* pred: each row's arg-max, for a confusion matrix */
};

static void eval_graph_free(struct eval_graph *e)
{
    ferry_graph_free(e->g);
    ferry_ctx_free(e->ctx);
}

static ferry_status eval_graph_init(struct eval_graph *e, ferry_model_t *m, ferry_backend_t *be,
                                    int batch, int c, int h, int w)
{
    memset(e, 0, sizeof *e);
    ferry_status s = ferry_ctx_init(&e->ctx);
    if (s) return s;
    ferry_forward_opts fo = {.train = false};
    e->x = ferry_input(e->ctx, "x", FERRY_F32, 4, (int64_t[]){batch, c, h, w});
    e->y = ferry_input(e->ctx, "y", FERRY_I32, 1, (int64_t[]){batch});
    ferry_tensor_t *logits = ferry_model_classifier(m, e->ctx, ferry_model_features(m, e->ctx, e->x, &fo), &fo);
    e->correct = ferry_count_correct(e->ctx, logits, e->y);
    e->pred = logits ? ferry_argmax_axis(e->ctx, logits, 1) : NULL;
    if (!e->correct || !e->pred) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(e->correct);
    ferry_tensor_set_output(e->pred);
    return ferry_graph_init(e->ctx, be, &e->g);
}

void ferry_confusion_add(int32_t *confusion, int classes, const int32_t *labels, const int32_t *predicted, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < classes && predicted[i] >= 0 && predicted[i] < classes)
            confusion[(int64_t)labels[i] * classes + predicted[i]]++;
}

ferry_status ferry_evaluate(ferry_model_t *m, ferry_backend_t *be, const ferry_dataset_t *ds, int batch,
                            double *accuracy)
{
    return ferry_evaluate_confusion(m, be, ds, batch, accuracy, NULL);
}

ferry_status ferry_evaluate_confusion(ferry_model_t *m, ferry_backend_t *be, const ferry_dataset_t *ds, int batch,
                                      double *accuracy, int32_t *confusion)
{
    const int K = ferry_model_classes(m);
    int c, h, w, mc, mh, mw;
    ferry_dataset_geometry(ds, &c, &h, &w);
    ferry_model_input(m, &mc, &mh, &mw);
    batch = ferry_model_eval_batch(m, batch);
    const size_t img = (size_t)c * h * w, mimg = (size_t)mc * mh * mw;
    struct eval_graph e = {0};
    ferry_loader_t *ld = NULL;
    ferry_preproc_t *pp = NULL;
    float *raw = malloc((size_t)batch * img * sizeof *raw), *x = calloc((size_t)batch * mimg, sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y), *pred = malloc((size_t)batch * sizeof *pred);
    ferry_status s = raw && x && y && pred ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory evaluating");
    if (confusion) memset(confusion, 0, (size_t)K * K * sizeof *confusion);
    if (!s) s = ferry_preproc_init(m, c, h, w, &pp);
    if (!s) s = eval_graph_init(&e, m, be, batch, mc, mh, mw);
    if (!s) s = ferry_loader_init(ds, batch, false, false, 0, &ld);
    double correct = 0;
    int64_t seen = 0;
    if (!s) ferry_loader_start_epoch(ld, 0);
    for (int n; !s && (n = ferry_loader_next(ld, raw, y)) > 0;) {
        for (int i = n; i < batch; i++) y[i] = -1; /* padding rows never count as correct */
        if ((s = ferry_preproc_run(pp, raw, n, x))) break;
        memset(x + (size_t)n * mimg, 0, (size_t)(batch - n) * mimg * sizeof *x);
        if ((s = ferry_tensor_set(e.g, e.x, x, (size_t)batch * mimg * sizeof *x)) ||
            (s = ferry_tensor_set(e.g, e.y, y, (size_t)batch * sizeof *y)) ||
            (s = ferry_graph_compute(e.g)))
            break;
        correct += ferry_tensor_get_scalar(e.g, e.correct);
        if (confusion) {
            if ((s = ferry_tensor_get(e.g, e.pred, pred, (size_t)batch * sizeof *pred))) break;
            ferry_confusion_add(confusion, K, y, pred, n);
        }
        seen += n;
    }
    *accuracy = seen ? correct / (double)seen : 0.0;
    if (e.ctx) eval_graph_free(&e);
    ferry_loader_free(ld);
    ferry_preproc_free(pp);
    free(raw);
    free(x);
    free(y);
    free(pred);
    return s;
}

/* ---- training ---------------------------------------------------------------------------------------- */

struct trainer {
    const ferry_train_opts *o;
    ferry_dataset_t *train_own, *test_own; /* loaded data set (no task) */
    ferry_task_t *task;
    const ferry_dataset_t *train, *val, *test;
    ferry_store_t *st;
    ferry_model_t *m;
    ferry_optim_t *opt;
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    ferry_tensor_t *x, *y, *seed, *loss, *correct;
    ferry_loader_t *ld;
    ferry_preproc_t *pp;
    ferry_augment_t *aug; /* NULL: no augmentation */
    int c, h, w;    /* the data's geometry */
    int mc, mh, mw; /* the model's input */
    int pass;       /* with iters_per_epoch: the shuffled pass the batches come from */
};

static ferry_status build_train_graph(struct trainer *t)
{
    const ferry_train_opts *o = t->o;
    ferry_status s = ferry_ctx_init(&t->ctx);
    if (s) return s;
    ferry_ctx_t *ctx = t->ctx;
    t->x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){o->batch, t->mc, t->mh, t->mw});
    t->y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){o->batch});
    t->seed = ferry_input(ctx, "dropout_seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = true, .seed = t->seed};
    ferry_tensor_t *logits = ferry_model_classifier(t->m, ctx, ferry_model_features(t->m, ctx, t->x, &fo), &fo);
    t->loss = ferry_cross_entropy(ctx, logits, t->y, o->label_smoothing);
    t->correct = ferry_count_correct(ctx, logits, t->y);
    if (!t->loss || !t->correct) return FERRY_ERR_SHAPE;
    ferry_tensor_set_output(t->loss);
    ferry_tensor_set_output(t->correct);
    if ((s = ferry_backward(ctx, t->loss)) || (s = ferry_optim_init(&o->optim, t->st, &t->opt)) ||
        (s = ferry_optim_record(t->opt, ctx)))
        return s;
    return ferry_graph_init(ctx, o->backend, &t->g);
}

/* ---- layers: what transfer_layers and freeze_layers count ------------------------------------------ */

#define MAX_LAYERS 256

struct layers {
    int n;
    char key[MAX_LAYERS][128];
};

/* A parameter's layer: its name up to the second dot inside a numbered container ("features.3.weight"
 * -> "features.3", "classifier.4.bias" -> "classifier.4"), else up to the first dot ("conv1.weight"
 * -> "conv1", "layer2.0.conv1.weight" -> "layer2"), as the fine-tuning method numbers backbone blocks. */
static void layer_key(const char *name, char *key, size_t n)
{
    const char *d1 = strchr(name, '.');
    const char *end = d1 ? d1 : name + strlen(name);
    if (d1 && (strncmp(name, "features.", 9) == 0 || strncmp(name, "classifier.", 11) == 0)) {
        const char *d2 = strchr(d1 + 1, '.');
        if (d2) end = d2;
    }
    snprintf(key, n, "%.*s", (int)(end - name), name);
}

static int layer_of(const struct layers *L, const char *name)
{
    char key[128];
    layer_key(name, key, sizeof key);
    for (int j = 0; j < L->n; j++)
        if (!strcmp(L->key[j], key)) return j;
    return -1;
}

/* The model's layers in store order, which is its forward order: the model creates its parameters in
 * one forward pass, and before the optimizer adds its state ("#") the store holds nothing else. */
static ferry_status list_layers(const ferry_store_t *st, const char *arch, struct layers *L)
{
    L->n = 0;
    for (int i = 0; i < ferry_store_count(st); i++) {
        const char *name = ferry_store_name(st, i);
        if (strchr(name, '#') || layer_of(L, name) >= 0) continue;
        if (L->n == MAX_LAYERS)
            return ferry_error(FERRY_ERR_INVALID, "%s: more than %d layers", arch, MAX_LAYERS);
        layer_key(name, L->key[L->n], sizeof L->key[0]);
        L->n++;
    }
    return FERRY_OK;
}

static ferry_status check_layer_counts(const ferry_train_opts *o, const struct layers *L)
{
    if (o->transfer_layers < 0 || o->freeze_layers < 0)
        return ferry_error(FERRY_ERR_INVALID, "train: transfer_layers (%d) and freeze_layers (%d) must not be "
                           "negative", o->transfer_layers, o->freeze_layers);
    if (o->transfer_layers > L->n)
        return ferry_error(FERRY_ERR_INVALID, "--transfer-layers %d: %s has %d layers (%s ... %s)",
                           o->transfer_layers, o->arch, L->n, L->key[0], L->key[L->n - 1]);
    if (o->freeze_layers >= L->n)
        return ferry_error(FERRY_ERR_INVALID, "--freeze-layers %d: %s has %d layers (%s ... %s); freezing "
                           "all of them leaves nothing to train", o->freeze_layers, o->arch, L->n, L->key[0],
                           L->key[L->n - 1]);
    return FERRY_OK;
}

static const char *shape_of(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "x" : "", (long long)shape[d]);
    return buf;
}

/* Copies the first nl layers of the checkpoint into the store and leaves the others as initialised.
 * Every tensor of the file must be one of the model's (else the checkpoint is another architecture's);
 * those of the copied layers must be there with the model's shape. Checks everything before changing
 * anything. */
static ferry_status load_layers(ferry_store_t *st, const struct layers *L, int nl, const char *path,
                                const char *arch)
{
    ferry_safetensors_t *f = NULL;
    ferry_status s = ferry_safetensors_open(path, &f);
    if (s) return s;
    for (size_t k = 0; k < ferry_safetensors_count(f) && !s; k++) {
        const char *name = ferry_safetensors_entry(f, k)->name;
        if (!strchr(name, '#') && ferry_store_find(st, name) < 0)
            s = ferry_error(FERRY_ERR_NOT_FOUND, "%s: tensor '%s' is not a parameter of %s: a checkpoint of "
                            "another architecture (--transfer-layers copies layers between models of the "
                            "same architecture)", path, name, arch);
    }
    for (int i = 0; i < ferry_store_count(st) && !s; i++) {
        const char *name = ferry_store_name(st, i);
        int l = layer_of(L, name);
        if (strchr(name, '#') || l < 0 || l >= nl) continue;
        const ferry_st_entry *fe = ferry_safetensors_find(f, name);
        char a[96], b[96];
        bool same = fe && fe->ndim == ferry_store_ndim(st, i) && fe->dtype == FERRY_F32;
        for (int d = 0; same && d < fe->ndim; d++) same = fe->shape[d] == ferry_store_shape(st, i)[d];
        if (!fe)
            s = ferry_error(FERRY_ERR_NOT_FOUND, "%s: parameter '%s' of layer %d (%s) is missing", path, name,
                            l + 1, L->key[l]);
        else if (!same)
            s = ferry_error(FERRY_ERR_SHAPE, "%s: tensor '%s' of layer %d (%s) is [%s] in the file, [%s] in "
                            "%s: a checkpoint of another architecture or geometry", path, name, l + 1,
                            L->key[l], shape_of(fe->shape, fe->ndim, a, sizeof a),
                            shape_of(ferry_store_shape(st, i), ferry_store_ndim(st, i), b, sizeof b), arch);
    }
    for (int i = 0; i < ferry_store_count(st) && !s; i++) {
        const char *name = ferry_store_name(st, i);
        int l = layer_of(L, name);
        if (strchr(name, '#') || l < 0 || l >= nl) continue;
        const ferry_st_entry *fe = ferry_safetensors_find(f, name);
        s = ferry_store_set(st, i, fe->data, fe->nbytes);
    }
    ferry_safetensors_free(f);
    return s;
}

/* The first nl layers get no gradient: the training graph built afterwards neither differentiates nor
 * updates them (a frozen batch norm's running statistics still follow the batches in training mode). */
static void freeze_layers(ferry_store_t *st, const struct layers *L, int nl)
{
    for (int i = 0; i < ferry_store_count(st); i++) {
        const char *name = ferry_store_name(st, i);
        int l = layer_of(L, name);
        if (!strchr(name, '#') && l >= 0 && l < nl) ferry_store_set_trainable(st, i, false);
    }
}

/* ---- set-up -------------------------------------------------------------------------------------------- */

/* The data, the model and its starting weights (pretrained, checkpoint, transferred layers, frozen
 * layers): everything but the training graph and the loader. */
static ferry_status setup_model(struct trainer *t, struct layers *L)
{
    const ferry_train_opts *o = t->o;
    ferry_rng_t *rng = NULL;
    ferry_status s;
    if (o->epochs < 1 || o->batch < 1)
        return ferry_error(FERRY_ERR_INVALID, "train: epochs (%d) and batch (%d) must be positive",
                           o->epochs, o->batch);
    if (o->transfer_layers && !o->init_path)
        return ferry_error(FERRY_ERR_INVALID, "--transfer-layers %d needs --init FILE, the checkpoint to copy "
                           "the layers from", o->transfer_layers);
    if (o->task) {
        if ((s = ferry_task_load(o->task, o->split_seed, &t->task))) return s;
        t->train = ferry_task_source_train(t->task);
        t->val = ferry_task_source_val(t->task);
        t->test = ferry_task_target_test(t->task);
    } else {
        if ((s = ferry_domain_load(o->data, "train", &t->train_own)) ||
            (s = ferry_domain_load(o->data, "test", &t->test_own)))
            return s;
        t->train = t->train_own;
        t->test = t->test_own;
    }
    ferry_dataset_geometry(t->train, &t->c, &t->h, &t->w);
    if ((s = ferry_store_init(o->backend, &t->st)) || (s = ferry_rng_init(o->seed, &rng))) return s;
    int classes = t->task ? ferry_task_classes(t->task) : ferry_dataset_classes(t->train);
    ferry_model_opts mo = {.input_size = o->input_size};
    s = ferry_model_init_ex(o->arch, t->c, t->h, t->w, classes, &mo, t->st, rng, &t->m);
    ferry_rng_free(rng);
    if (s) return s;
    ferry_model_input(t->m, &t->mc, &t->mh, &t->mw);
    if ((s = ferry_preproc_init(t->m, t->c, t->h, t->w, &t->pp))) return s;
    if ((s = list_layers(t->st, o->arch, L)) || (s = check_layer_counts(o, L))) return s;
    if (o->weights && (s = ferry_model_load_weights(t->m, o->weights, true))) return s;
    if (o->init_path && o->transfer_layers) s = load_layers(t->st, L, o->transfer_layers, o->init_path, o->arch);
    else if (o->init_path) s = ferry_store_load(t->st, o->init_path, false, true);
    if (s) return s;
    freeze_layers(t->st, L, o->freeze_layers);
    return FERRY_OK;
}

static ferry_status setup(struct trainer *t)
{
    struct layers *L = malloc(sizeof *L);
    if (!L) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_status s = setup_model(t, L);
    free(L);
    if (s) return s;
    if ((s = build_train_graph(t))) return s;
    const ferry_train_opts *o = t->o;
    if (ferry_augment_active(&o->augment) &&
        (s = ferry_augment_init(&o->augment, t->c, t->h, t->w, o->batch, ferry_backend_threads(o->backend), &t->aug)))
        return s;
    return ferry_loader_init(t->train, o->batch, true, true, o->seed, &t->ld);
}

static void teardown(struct trainer *t)
{
    ferry_loader_free(t->ld);
    ferry_augment_free(t->aug);
    ferry_preproc_free(t->pp);
    ferry_graph_free(t->g);
    ferry_ctx_free(t->ctx);
    ferry_optim_free(t->opt);
    ferry_model_free(t->m);
    ferry_store_free(t->st);
    ferry_dataset_free(t->train_own);
    ferry_dataset_free(t->test_own);
    ferry_task_free(t->task);
}

ferry_status ferry_train_layers(const ferry_train_opts *o, char *names, size_t n, int *count)
{
    struct trainer t = {.o = o};
    struct layers *L = malloc(sizeof *L);
    if (!L) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    ferry_status s = setup_model(&t, L);
    if (n) names[0] = 0;
    *count = s ? 0 : L->n;
    size_t k = 0;
    for (int j = 0; !s && j < L->n && k < n; j++) {
        /* the layer's first tensor tells its kind */
        int i = 0;
        while (i < ferry_store_count(t.st) && layer_of(L, ferry_store_name(t.st, i)) != j) i++;
        int nd = ferry_store_ndim(t.st, i);
        char sh[96];
        k += (size_t)snprintf(names + k, n - k, "%s%d %s (%s %s)", j ? ", " : "", j + 1, L->key[j],
                              nd == 4 ? "conv" : nd == 2 ? "linear" : "tensor",
                              shape_of(ferry_store_shape(t.st, i), nd, sh, sizeof sh));
    }
    free(L);
    teardown(&t);
    return s;
}

static ferry_status run_epoch(struct trainer *t, int epoch, float *raw, float *x, int32_t *y, double t0,
                              int64_t *images, ferry_progress *pr)
{
    const ferry_train_opts *o = t->o;
    size_t xn = (size_t)o->batch * t->mc * t->mh * t->mw;
    int64_t steps = ferry_loader_batches_per_epoch(t->ld);
    if (o->iters_per_epoch > 0) steps = o->iters_per_epoch;
    int64_t total = steps * o->epochs;
    double loss_sum = 0, correct = 0;
    if (o->iters_per_epoch <= 0) ferry_loader_start_epoch(t->ld, epoch);
    for (int64_t k = 0; k < steps; k++) {
        int n = ferry_loader_next(t->ld, raw, y);
        if (n == 0 && o->iters_per_epoch > 0) { /* the pass is used up: the next one */
            ferry_loader_start_epoch(t->ld, ++t->pass);
            n = ferry_loader_next(t->ld, raw, y);
        }
        FERRY_ASSERT(n == o->batch);
        ferry_status s = t->aug ? ferry_augment_batch(t->aug, raw, n, o->seed, epoch, k, 0) : FERRY_OK;
        if (!s) s = ferry_preproc_run(t->pp, raw, n, x);
        if (s) return s;
        int32_t seed = (int32_t)(ferry_hash3((uint32_t)o->seed, (uint32_t)epoch, (uint32_t)k) >> 1);
        double p = (double)(epoch * steps + k) / (double)total;
        if ((s = ferry_tensor_set(t->g, t->x, x, xn * sizeof *x)) ||
            (s = ferry_tensor_set(t->g, t->y, y, (size_t)o->batch * sizeof *y)) ||
            (ferry_graph_uses(t->g, t->seed) && (s = ferry_tensor_set(t->g, t->seed, &seed, sizeof seed))) ||
            (s = ferry_optim_prepare_step(t->opt, t->g, p)) || (s = ferry_graph_compute(t->g)))
            return s;
        double step_loss = ferry_tensor_get_scalar(t->g, t->loss);
        loss_sum += step_loss;
        correct += ferry_tensor_get_scalar(t->g, t->correct);
        *images += n;
        double el = ferry_now_s() - t0;
        *pr = (ferry_progress){.epoch = epoch + 1, .epochs = o->epochs, .step = k + 1, .steps = steps,
                               .loss = loss_sum / (double)(k + 1),
                               .accuracy = correct / (double)((k + 1) * o->batch),
                               .images_per_s = (double)*images / el,
                               .eta_s = el / (double)(epoch * steps + k + 1) *
                                        (double)(total - epoch * steps - k - 1)};
        if (!isfinite(step_loss))
            return ferry_error(FERRY_ERR_DIVERGED, "training diverged at epoch %d step %lld (loss %g)",
                               epoch + 1, (long long)k + 1, step_loss);
        if (o->progress && k + 1 < steps) o->progress(pr, o->user);
    }
    return FERRY_OK;
}

ferry_status ferry_train(const ferry_train_opts *o, ferry_train_result *out)
{
    struct trainer t = {.o = o};
    memset(out, 0, sizeof *out);
    out->source_val_accuracy = 0.0 / 0.0;
    ferry_status s = setup(&t);
    float *x = NULL, *raw = NULL;
    int32_t *y = NULL;
    if (!s) {
        raw = malloc((size_t)o->batch * t.c * t.h * t.w * sizeof *raw);
        x = malloc((size_t)o->batch * t.mc * t.mh * t.mw * sizeof *x);
        y = malloc((size_t)o->batch * sizeof *y);
        if (!raw || !x || !y) s = ferry_error(FERRY_ERR_NOMEM, "out of memory for batches");
    }
    double t0 = ferry_now_s(), train_time = 0;
    int64_t images = 0;
    for (int e = 0; !s && e < o->epochs; e++) {
        ferry_progress pr;
        double te = ferry_now_s();
        s = run_epoch(&t, e, raw, x, y, t0, &images, &pr);
        train_time += ferry_now_s() - te;
        if (!s && (s = ferry_store_check_finite(t.st)) == FERRY_ERR_DIVERGED)
            s = ferry_error(FERRY_ERR_DIVERGED, "training diverged by the end of epoch %d: %s", e + 1,
                            ferry_last_error());
        if (!s) s = ferry_evaluate(t.m, o->backend, t.test, 500, &pr.test_accuracy);
        pr.source_val_accuracy = 0.0 / 0.0;
        pr.target_val_accuracy = 0.0 / 0.0;
        if (!s && t.val) s = ferry_evaluate(t.m, o->backend, t.val, 500, &pr.source_val_accuracy);
        if (s) break;
        pr.epoch_end = true;
        if (o->progress) o->progress(&pr, o->user);
        out->final_loss = pr.loss;
        out->test_accuracy = pr.test_accuracy;
        out->source_val_accuracy = pr.source_val_accuracy;
    }
    out->seconds = ferry_now_s() - t0;
    out->images_per_s = train_time > 0 ? (double)images / train_time : 0;
    if (!s && o->save_path) s = ferry_store_save(t.st, o->save_path, false);
    free(raw);
    free(x);
    free(y);
    teardown(&t);
    return s;
}
