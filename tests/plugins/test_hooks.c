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
 *    batch and no source images, and without a source model it is refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/require_data.h"
#include "ferry/ferry.h"
#include "ferry/method.h"

static ferry_progress first_step;
static ferry_backend_t *stats_of; /* when set: the backend's uploads between steps 2 and 10 */
static uint64_t uploaded[2];

static void on_progress(const ferry_progress *p, void *user)
{
    (void)user;
    if (p->epoch == 1 && p->step == 1 && !p->epoch_end) first_step = *p;
    if (stats_of && p->epoch == 1 && !p->epoch_end && (p->step == 2 || p->step == 10)) {
        ferry_backend_stats st;
        ferry_backend_get_stats(stats_of, &st);
        uploaded[p->step == 10] = st.bytes_uploaded;
    }
}

static const char *init_path;

static ferry_status run_with(ferry_methods_t *reg, ferry_backend_t *be, const char *method, const char *arch,
                             const char *save, const char *const *sets, int n_sets, ferry_adapt_result *r)
{
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = "mnist->optdigits";
    o.method = ferry_methods_find(reg, method);
    cr_assert_not_null(o.method, "%s", ferry_last_error());
    o.arch = arch;
    o.epochs = 1;
    o.iters_per_epoch = 20;
    o.batch = 16;
    o.backend = be;
    o.save_path = save;
    o.sets = sets;
    o.n_sets = n_sets;
    o.progress = on_progress;
    o.init_path = init_path;
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
