/* The example ids of a step, for the hook tests: before each epoch the table takes every unlabelled
 * target example's features (host->predict); the loss is the mean squared distance between the
 * batch's features and the table's rows at the batch's ids. LeNet's backbone has neither batch norm
 * nor dropout, so on the first step of an epoch (the parameters the table was made with) it is 0
 * exactly when the ids are the batch's. */
#include <stdlib.h>

#include "ferry/plugin.h"

#define TABLE "ids_probe.features"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET), d = h->feature_dim(run);
    ferry_tensor_t *rows = h->gather_rows(ctx, h->table(run, TABLE, n, d), t->ids_t);
    ferry_tensor_t *diff = h->sub(ctx, t->features_t, rows);
    return h->mean(ctx, h->mul(ctx, diff, diff));
}

static ferry_plugin_status epoch_begin(ferry_run_t *run, const ferry_host_api *h, int epoch)
{
    (void)epoch;
    const int64_t n = h->split_size(run, FERRY_SPLIT_UNLABELLED_TARGET), d = h->feature_dim(run);
    float *p = malloc((size_t)(n * h->classes(run)) * sizeof *p), *f = malloc((size_t)(n * d) * sizeof *f);
    ferry_plugin_status s = p && f ? h->predict(run, FERRY_SPLIT_UNLABELLED_TARGET, p, f) : FERRY_PLUGIN_ERR_NOMEM;
    if (!s) s = h->table_set(run, TABLE, f);
    free(p);
    free(f);
    return s;
}

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "ids-probe",
    .summary = "the batch's features against a table of them by example id, for the tests",
    .citation = "-",
    .loss = loss,
    .epoch_begin = epoch_begin,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
