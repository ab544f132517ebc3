/* Evaluation hooks: AdaBN (FERRY_METHOD_TARGET_BN) trains exactly as source-only does, yet evaluates
 * the target with the target's batch-norm statistics: the same loss, source-validation accuracy and
 * saved checkpoint (the source's statistics back in place), another target accuracy. An architecture
 * without batch norm is refused, naming it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/require_data.h"
#include "ferry/ferry.h"
#include "ferry/method.h"

static ferry_status run(ferry_methods_t *reg, ferry_backend_t *be, const char *method, const char *arch,
                        const char *save, ferry_adapt_result *r)
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
    return ferry_adapt(&o, r);
}

Test(eval_hooks, adabn_changes_only_the_target_evaluation)
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
