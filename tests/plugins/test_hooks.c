/* The method protocol's hooks in real runs (MNIST->Optdigits, a few steps):
 *  - evaluation: AdaBN (FERRY_METHOD_TARGET_BN) trains exactly as source-only does, yet evaluates the
 *    target with the target's batch-norm statistics: the same loss, source-validation accuracy and
 *    saved checkpoint (the source's statistics back in place), another target accuracy; an
 *    architecture without batch norm is refused, naming it;
 *  - epoch hooks, tables and example ids: a table of every target example's features made by
 *    host->predict before the epoch matches the first step's batch row for row by its ids;
 *    pseudo-label's table holds a one-hot row per target example (threshold 0) and its runs differ
 *    from source-only's, which they would not if the hook were skipped;
 *  - source-free mode: a source-free method gets no source tensor, its steps upload one target
 *    batch and no source images, and without a source model it is refused;
 *  - copies and taps: a tap of LeNet's last feature map is its features exactly; a frozen copy agrees
 *    with the model at the first step and not after; mean teacher's EMA copy is, after one step,
 *    d · start + (1 − d) · model entry by entry, and its batch norm statistics too;
 *  - the evaluation hook: a head that predicts class 0 everywhere scores the share of class 0;
 *  - semi-supervised runs: half of each labelled batch is the K labelled target examples, found by
 *    their ids in the labelled split (which counts them), none without K; a source-free method
 *    refuses them;
 *  - two views: the same images twice (equal under the same deterministic augmentation, different
 *    under another);
 *  - the confusion matrix each epoch reports is the evaluation's own, whichever evaluation the run
 *    has (the model's, with target batch-norm statistics, over a frozen backbone's cached features,
 *    through a method's head): its rows count each class of target test and its diagonal is the
 *    accuracy to the last bit; a head that says class 0 puts every image in column 0. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/require_data.h"
#include "ferry/ferry.h"
#include "ferry/method.h"

static ferry_progress first_step;
static ferry_backend_t *stats_of; /* when set: the backend's uploads between steps 2 and 10 */
static uint64_t uploaded[2];

/* the last epoch's method metrics, by name */
#define N_SEEN 8
static char seen_name[N_SEEN][32];
static double seen_value[N_SEEN];
static int n_seen;

static double metric(const char *name)
{
    for (int i = 0; i < n_seen; i++)
        if (!strcmp(seen_name[i], name)) return seen_value[i];
    cr_assert_fail("no metric '%s' reported", name);
    return 0;
}

/* the last epoch's confusion matrix (NULL pointer: none) and test accuracy */
static int32_t last_confusion[10 * 10];
static int last_confusion_k;
static double last_test_accuracy;

static void on_progress(const ferry_progress *p, void *user)
{
    (void)user;
    if (p->epoch_end) {
        last_confusion_k = p->confusion ? p->confusion_classes : 0;
        if (p->confusion && p->confusion_classes <= 10)
            memcpy(last_confusion, p->confusion, (size_t)p->confusion_classes * p->confusion_classes * sizeof(int32_t));
        last_test_accuracy = p->test_accuracy;
        n_seen = p->n_method_metrics < N_SEEN ? p->n_method_metrics : N_SEEN;
        for (int i = 0; i < n_seen; i++) {
            snprintf(seen_name[i], sizeof seen_name[i], "%s", p->method_metric_names[i]);
            seen_value[i] = p->method_metrics[i];
        }
    }
    if (p->epoch == 1 && p->step == 1 && !p->epoch_end) first_step = *p;
    if (stats_of && p->epoch == 1 && !p->epoch_end && (p->step == 2 || p->step == 10)) {
        ferry_backend_stats st;
        ferry_backend_get_stats(stats_of, &st);
        uploaded[p->step == 10] = st.bytes_uploaded;
    }
}

static const char *init_path;
static int iters = 20;
static int target_labels; /* K > 0: a transductive method runs semi-supervised */
static ferry_augment_config aug_target;

static ferry_status run_with(ferry_methods_t *reg, ferry_backend_t *be, const char *method, const char *arch,
                             const char *save, const char *const *sets, int n_sets, ferry_adapt_result *r)
{
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = "mnist->optdigits";
    o.method = ferry_methods_find(reg, method);
    cr_assert_not_null(o.method, "%s", ferry_last_error());
    o.arch = arch;
    o.epochs = 1;
    o.iters_per_epoch = iters;
    o.augment_target = aug_target;
    o.batch = 16;
    o.backend = be;
    o.save_path = save;
    o.sets = sets;
    o.n_sets = n_sets;
    o.progress = on_progress;
    o.init_path = init_path;
    o.target_labels_per_class = target_labels;
    return ferry_adapt(&o, r);
}

static ferry_status run(ferry_methods_t *reg, ferry_backend_t *be, const char *method, const char *arch,
                        const char *save, ferry_adapt_result *r)
{
    return run_with(reg, be, method, arch, save, NULL, 0, r);
}

Test(hooks, adabn_changes_only_the_target_evaluation)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    char dir[] = "/tmp/ferry-adabn-XXXXXX", a[64], b[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/so.safetensors", dir);
    snprintf(b, sizeof b, "%s/adabn.safetensors", dir);
    ferry_adapt_result so, ada;
    cr_assert_eq(run(reg, be, "source-only", "resnet", a, &so), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(run(reg, be, "adabn", "resnet", b, &ada), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(so.final_loss, ada.final_loss, "training differs: loss %.9g vs %.9g", so.final_loss, ada.final_loss);
    cr_assert_eq(so.source_val_accuracy, ada.source_val_accuracy);
    cr_assert_neq(so.target_test_accuracy, ada.target_test_accuracy,
                  "target batch-norm statistics changed no target prediction (%.4f)", so.target_test_accuracy);
    void *x, *y;
    size_t nx, ny;
    cr_assert_eq(ferry_read_file(a, &x, &nx), FERRY_OK);
    cr_assert_eq(ferry_read_file(b, &y, &ny), FERRY_OK);
    cr_assert(nx == ny && memcmp(x, y, nx) == 0, "the saved checkpoints differ: the source statistics were not restored");
    free(x);
    free(y);
    remove(a);
    remove(b);
    remove(dir);
    cr_assert_neq(run(reg, be, "adabn", "lenet", NULL, &ada), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "lenet has none"), "%s", ferry_last_error());
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, a_batch_finds_its_rows_by_id)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    char path[4096];
    snprintf(path, sizeof path, "%s/ids_probe.so", TEST_PLUGIN_DIR);
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_methods_add_file(reg, path), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_adapt_result r;
    first_step = (ferry_progress){.loss = -1};
    cr_assert_eq(run(reg, be, "ids-probe", "lenet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert(first_step.loss >= 0 && first_step.loss < 1e-10,
              "the first step's features differ from their rows in the table (mean squared distance %g)",
              first_step.loss);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, a_semi_supervised_batch_is_half_labelled_target)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    char path[4096];
    snprintf(path, sizeof path, "%s/semi_probe.so", TEST_PLUGIN_DIR);
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_methods_add_file(reg, path), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_adapt_result r;
    const char *none[] = {"semi-probe.target_rows=0"}, *fifty[] = {"semi-probe.target_rows=50"};
    first_step = (ferry_progress){.loss = -1};
    cr_assert_eq(run_with(reg, be, "semi-probe", "lenet", NULL, none, 1, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert(first_step.loss >= 0 && first_step.loss < 1e-10, "unsupervised: rows differ (%g)", first_step.loss);
    cr_assert_eq(metric("target_share"), 0.0, "unsupervised: %g of the labelled rows are target", metric("target_share"));
    target_labels = 5; /* 5 per class, 50 rows after the source's */
    first_step = (ferry_progress){.loss = -1};
    cr_assert_eq(run_with(reg, be, "semi-probe", "lenet", NULL, fifty, 1, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert(first_step.loss >= 0 && first_step.loss < 1e-10,
              "semi-supervised: the labelled batch's features differ from their rows in the split (%g)", first_step.loss);
    cr_assert_eq(metric("target_share"), 0.5, "semi-supervised: %g of the labelled rows are target examples, not half",
                 metric("target_share"));
    char dir[] = "/tmp/ferry-semi-XXXXXX", ckpt[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ckpt, sizeof ckpt, "%s/so.safetensors", dir);
    target_labels = 0;
    cr_assert_eq(run(reg, be, "source-only", "lenet", ckpt, &r), FERRY_OK, "%s", ferry_last_error());
    target_labels = 5;
    init_path = ckpt;
    cr_assert_neq(run(reg, be, "shot", "lenet", NULL, &r), FERRY_OK, "a source-free method took labelled examples");
    cr_assert(strstr(ferry_last_error(), "takes no labelled target examples"), "%s", ferry_last_error());
    init_path = NULL;
    target_labels = 0;
    remove(ckpt);
    remove(dir);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, pseudo_labels_come_from_the_epoch_hook)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    char dir[] = "/tmp/ferry-pl-XXXXXX", a[64], b[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/so.safetensors", dir);
    snprintf(b, sizeof b, "%s/pl.safetensors", dir);
    ferry_adapt_result so, pl;
    const char *sets[] = {"pseudo-label.threshold=0", "pseudo-label.warmup=0"};
    cr_assert_eq(run(reg, be, "source-only", "lenet", a, &so), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(run_with(reg, be, "pseudo-label", "lenet", b, sets, 2, &pl), FERRY_OK, "%s", ferry_last_error());
    cr_assert_neq(so.final_loss, pl.final_loss, "the pseudo-labelled loss added nothing");
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(b, &st), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *e = ferry_safetensors_find(st, "pseudo_label.targets");
    cr_assert_not_null(e, "no table in the checkpoint");
    cr_assert(e->ndim == 2 && e->shape[1] == 10 && e->shape[0] > 100, "table shape %lld x %lld",
              (long long)e->shape[0], (long long)e->shape[1]);
    const float *q = e->data;
    for (int64_t i = 0; i < e->shape[0]; i++) {
        int ones = 0, zeros = 0;
        for (int k = 0; k < 10; k++) {
            ones += q[i * 10 + k] == 1.0f;
            zeros += q[i * 10 + k] == 0.0f;
        }
        cr_assert(ones == 1 && zeros == 9, "row %lld is not one-hot", (long long)i);
    }
    ferry_safetensors_free(st);
    remove(a);
    remove(b);
    remove(dir);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, a_source_free_method_sees_no_source_batch)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    char path[4096], dir[] = "/tmp/ferry-sf-XXXXXX", src[64];
    snprintf(path, sizeof path, "%s/source_free_probe.so", TEST_PLUGIN_DIR);
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_methods_add_file(reg, path), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/source.safetensors", dir);
    ferry_adapt_result r;
    cr_assert_neq(run(reg, be, "source-free-probe", "lenet", NULL, &r), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "without source data: give it one (--init"), "%s", ferry_last_error());
    cr_assert_eq(run(reg, be, "source-only", "lenet", src, &r), FERRY_OK, "%s", ferry_last_error());
    init_path = src;
    stats_of = be;
    ferry_status s = run(reg, be, "source-free-probe", "lenet", NULL, &r);
    stats_of = NULL;
    init_path = NULL;
    cr_assert_eq(s, FERRY_OK, "%s", ferry_last_error());
    /* per step: one batch of 16 target images (LeNet's 1x28x28) and a few scalars, never a second batch */
    const uint64_t per_step = (uploaded[1] - uploaded[0]) / 8, batch = 16 * 28 * 28 * sizeof(float);
    cr_assert(per_step >= batch && per_step < batch + 1024, "%llu bytes uploaded per step (a batch is %llu)",
              (unsigned long long)per_step, (unsigned long long)batch);
    remove(src);
    remove(dir);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

static void load_probes(ferry_methods_t **reg, ferry_backend_t **be)
{
    cr_assert_eq(ferry_methods_load(reg), FERRY_OK, "%s", ferry_last_error());
    const char *files[] = {"copy_probe.so", "views_probe.so"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", TEST_PLUGIN_DIR, files[i]);
        cr_assert_eq(ferry_methods_add_file(*reg, path), FERRY_OK, "%s", ferry_last_error());
    }
    cr_assert_eq(ferry_backend_cpu_init(1, be), FERRY_OK);
}

Test(hooks, taps_and_a_frozen_copy)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    load_probes(&reg, &be);
    ferry_adapt_result r;
    iters = 1;
    cr_assert_eq(run(reg, be, "copy-probe", "lenet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(metric("tap_gap"), 0.0, "the tap is not LeNet's last feature map (gap %g)", metric("tap_gap"));
    cr_assert_eq(metric("copy_gap"), 0.0, "the frozen copy differs from the model at the start (gap %g)",
                 metric("copy_gap"));
    iters = 5;
    cr_assert_eq(run(reg, be, "copy-probe", "lenet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    iters = 20;
    cr_assert_eq(metric("tap_gap"), 0.0);
    cr_assert_gt(metric("copy_gap"), 1.0, "the frozen copy moved with the model (gap %g)", metric("copy_gap"));
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

/* a trainable copy starts as the model and then trains apart from it (its own gradient and updates) */
Test(hooks, a_trainable_copy_trains_apart)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    load_probes(&reg, &be);
    char dir[] = "/tmp/ferry-copy-XXXXXX", a[64], a0[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/enc.safetensors", dir);
    snprintf(a0, sizeof a0, "%s/start.safetensors", dir);
    ferry_adapt_result r;
    const char *sets[] = {"copy-probe.trainable=1"};
    iters = 1;
    cr_assert_eq(run(reg, be, "source-only", "lenet", a0, &r), FERRY_OK, "%s", ferry_last_error());
    init_path = a0;
    ferry_status s = run_with(reg, be, "copy-probe", "lenet", a, sets, 1, &r);
    init_path = NULL;
    iters = 20;
    cr_assert_eq(s, FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(metric("copy_gap"), 0.0, "the trainable copy did not start as the model (gap %g)", metric("copy_gap"));
    ferry_safetensors_t *st;
    cr_assert_eq(ferry_safetensors_open(a, &st), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *m = ferry_safetensors_find(st, "features.0.weight"), *c = ferry_safetensors_find(st, "enc.features.0.weight");
    cr_assert(m && c && m->nbytes == c->nbytes, "the checkpoint lacks the model's or the copy's first convolution");
    cr_assert(memcmp(m->data, c->data, m->nbytes) != 0, "the copy and the model are still equal after a step");
    ferry_safetensors_t *st0;
    cr_assert_eq(ferry_safetensors_open(a0, &st0), FERRY_OK, "%s", ferry_last_error());
    const ferry_st_entry *m0 = ferry_safetensors_find(st0, "features.0.weight");
    cr_assert(memcmp(m0->data, c->data, m0->nbytes) != 0, "the trainable copy did not move from its start");
    ferry_safetensors_free(st0);
    ferry_safetensors_free(st);
    remove(a0);
    remove(a);
    remove(dir);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, the_evaluation_hook_decides_the_accuracy)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    load_probes(&reg, &be);
    ferry_adapt_result plain, zero, so;
    const char *sets[] = {"copy-probe.eval_zero=1"};
    iters = 100;
    cr_assert_eq(run(reg, be, "copy-probe", "lenet", NULL, &plain), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(run(reg, be, "source-only", "lenet", NULL, &so), FERRY_OK, "%s", ferry_last_error());
    /* the probe trains as source-only does: through its head (1 · logits) the same accuracy */
    cr_assert_eq(plain.target_test_accuracy, so.target_test_accuracy, "the evaluation head scores %.6f, the model %.6f",
                 plain.target_test_accuracy, so.target_test_accuracy);
    cr_assert_eq(plain.source_val_accuracy, so.source_val_accuracy);
    cr_assert_eq(run_with(reg, be, "copy-probe", "lenet", NULL, sets, 1, &zero), FERRY_OK, "%s", ferry_last_error());
    ferry_task_t *task;
    cr_assert_eq(ferry_task_load("mnist->optdigits", 0, &task), FERRY_OK, "%s", ferry_last_error());
    const ferry_dataset_t *test = ferry_task_target_test(task);
    int64_t zeros = 0;
    for (int64_t i = 0; i < ferry_dataset_size(test); i++) zeros += ferry_dataset_labels(test)[i] == 0;
    const double share = (double)zeros / (double)ferry_dataset_size(test);
    cr_assert_eq(zero.target_test_accuracy, share, "class 0 everywhere scores %.6f, the share of class 0 is %.6f",
                 zero.target_test_accuracy, share);
    cr_assert_neq(plain.target_test_accuracy, share, "plain %g share %g", plain.target_test_accuracy, share);
    cr_assert_eq(plain.final_loss, zero.final_loss, "the evaluation head changed training");
    iters = 20;
    ferry_task_free(task);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, two_views_of_the_same_images)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    load_probes(&reg, &be);
    ferry_adapt_result r;
    iters = 3;
    cr_assert_eq(run(reg, be, "views-probe", "lenet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(metric("view_gap"), 0.0, "two mirror images of the same batch differ (gap %g)", metric("view_gap"));
    cr_assert_eq(ferry_augment_parse("rot=30", &aug_target), FERRY_OK);
    ferry_status s = run(reg, be, "views-probe", "lenet", NULL, &r);
    aug_target = (ferry_augment_config){0};
    iters = 20;
    cr_assert_eq(s, FERRY_OK, "%s", ferry_last_error());
    cr_assert_gt(metric("view_gap"), 1e-3, "two independently rotated views are alike (gap %g)", metric("view_gap"));
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

Test(hooks, the_ema_teacher_follows_the_model)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    char dir[] = "/tmp/ferry-ema-XXXXXX", a[64], b[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/start.safetensors", dir);
    snprintf(b, sizeof b, "%s/mt.safetensors", dir);
    ferry_adapt_result r;
    cr_assert_eq(run(reg, be, "source-only", "resnet", a, &r), FERRY_OK, "%s", ferry_last_error());
    init_path = a;
    iters = 1;
    const char *sets[] = {"mean-teacher.decay=0.75"};
    ferry_status s = run_with(reg, be, "mean-teacher", "resnet", b, sets, 1, &r);
    init_path = NULL;
    iters = 20;
    cr_assert_eq(s, FERRY_OK, "%s", ferry_last_error());
    ferry_safetensors_t *s0, *s1;
    cr_assert_eq(ferry_safetensors_open(a, &s0), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_safetensors_open(b, &s1), FERRY_OK, "%s", ferry_last_error());
    int checked = 0, stats = 0;
    double moved = 0;
    for (size_t i = 0; i < ferry_safetensors_count(s1); i++) {
        const ferry_st_entry *t = ferry_safetensors_entry(s1, i);
        if (strncmp(t->name, "teacher.", 8) != 0) continue;
        const ferry_st_entry *m0 = ferry_safetensors_find(s0, t->name + 8), *m1 = ferry_safetensors_find(s1, t->name + 8);
        cr_assert(m0 && m1, "%s has no model entry", t->name);
        const float *x0 = m0->data, *x1 = m1->data, *y = t->data;
        for (int64_t k = 0; k < (int64_t)(m1->nbytes / sizeof(float)); k++) {
            const double want = 0.75 * x0[k] + 0.25 * x1[k];
            cr_assert(fabs(y[k] - want) <= 1e-6 * (1 + fabs(want)), "%s[%lld] = %.9g, not 0.75 start + 0.25 model = %.9g",
                      t->name, (long long)k, y[k], want);
            moved += fabs(x1[k] - x0[k]);
        }
        checked++;
        stats += strstr(t->name, "running_") != NULL;
    }
    cr_assert_gt(checked, 20, "%d teacher entries", checked);
    cr_assert_gt(stats, 4, "no batch-norm statistics among the teacher's entries");
    cr_assert_gt(moved, 0.0, "the model did not move in its step");
    ferry_safetensors_free(s0);
    ferry_safetensors_free(s1);
    remove(a);
    remove(b);
    remove(dir);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}

/* The last run's confusion matrix against target test (what): rows the class counts, the diagonal the
 * accuracy, equal to the reported one and the result's. Returns the matrix's column-0 total. */
static int64_t check_confusion(const char *what, const ferry_dataset_t *test, const ferry_adapt_result *r)
{
    cr_assert_eq(last_confusion_k, 10, "%s: the epoch reported a confusion matrix of %d classes", what, last_confusion_k);
    const int64_t n = ferry_dataset_size(test);
    int64_t count[10] = {0}, trace = 0, col0 = 0;
    for (int64_t i = 0; i < n; i++) count[ferry_dataset_labels(test)[i]]++;
    for (int t = 0; t < 10; t++) {
        int64_t row = 0;
        for (int p = 0; p < 10; p++) row += last_confusion[t * 10 + p];
        cr_assert_eq(row, count[t], "%s: row %d counts %lld images, target test has %lld of class %d", what, t,
                     (long long)row, (long long)count[t], t);
        trace += last_confusion[t * 10 + t];
        col0 += last_confusion[t * 10];
    }
    cr_assert_eq((double)trace / (double)n, last_test_accuracy, "%s: diagonal %lld of %lld, accuracy reported %.9f", what,
                 (long long)trace, (long long)n, last_test_accuracy);
    cr_assert_eq(last_test_accuracy, r->target_test_accuracy, "%s", what);
    return col0;
}

Test(hooks, the_confusion_matrix_is_the_evaluation_s)
{
    require_mnist();
    ferry_methods_t *reg;
    ferry_backend_t *be;
    load_probes(&reg, &be);
    ferry_task_t *task;
    cr_assert_eq(ferry_task_load("mnist->optdigits", 0, &task), FERRY_OK, "%s", ferry_last_error());
    const ferry_dataset_t *test = ferry_task_target_test(task);
    char dir[] = "/tmp/ferry-confusion-XXXXXX", src[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/so.safetensors", dir);
    ferry_adapt_result r;
    cr_assert_eq(run(reg, be, "source-only", "resnet", src, &r), FERRY_OK, "%s", ferry_last_error());
    check_confusion("source-only", test, &r);
    cr_assert_eq(run(reg, be, "adabn", "resnet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    check_confusion("adabn (target statistics)", test, &r);
    cr_assert_eq(run(reg, be, "copy-probe", "lenet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    check_confusion("copy-probe (its head)", test, &r);
    const char *zero[] = {"copy-probe.eval_zero=1"};
    cr_assert_eq(run_with(reg, be, "copy-probe", "lenet", NULL, zero, 1, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(check_confusion("copy-probe, class 0 everywhere", test, &r), ferry_dataset_size(test),
                 "a head that says class 0 put images outside column 0");
    init_path = src;
    target_labels = 5;
    cr_assert_eq(run(reg, be, "feature-extraction", "resnet", NULL, &r), FERRY_OK, "%s", ferry_last_error());
    check_confusion("feature-extraction (cached features)", test, &r);
    init_path = NULL;
    target_labels = 0;
    remove(src);
    remove(dir);
    ferry_task_free(task);
    ferry_backend_free(be);
    ferry_methods_free(reg);
}
