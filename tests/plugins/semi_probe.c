/* The labelled batch of a semi-supervised run, for the hook tests. Before each epoch two tables are
 * made over the labelled split (host->split_size / host->predict): every example's features, and a
 * 1 for each of its last `target_rows` rows (the labelled target examples, which the test knows the
 * count of). The loss is the mean squared distance between the labelled batch's features and the
 * features table's rows at the batch's ids (0 on the first step exactly when the ids are the rows');
 * the metric `target_share` is the share of the labelled batch's rows that are target examples. */
#include <stdlib.h>

#include "ferry/plugin.h"

#define FEATURES "semi_probe.features"
#define IS_TARGET "semi_probe.is_target"

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    const int64_t n = h->split_size(run, FERRY_SPLIT_LABELLED), d = h->feature_dim(run);
    ferry_tensor_t *rows = h->gather_rows(ctx, h->table(run, FEATURES, n, d), t->ids_s);
    ferry_tensor_t *share = h->mean(ctx, h->gather_rows(ctx, h->table(run, IS_TARGET, n, 1), t->ids_s));
    if (h->metric(run, "target_share", share)) return NULL;
    ferry_tensor_t *diff = h->sub(ctx, t->features_s, rows);
    return h->mean(ctx, h->mul(ctx, diff, diff));
}

static ferry_plugin_status epoch_begin(ferry_run_t *run, const ferry_host_api *h, int epoch)
{
    (void)epoch;
    const int64_t n = h->split_size(run, FERRY_SPLIT_LABELLED), d = h->feature_dim(run);
    const int64_t tr = (int64_t)h->hparam(run, "target_rows");
    float *p = malloc((size_t)(n * h->classes(run)) * sizeof *p), *f = malloc((size_t)(n * d) * sizeof *f);
    float *is = malloc((size_t)n * sizeof *is);
    ferry_plugin_status s = p && f && is ? h->predict(run, FERRY_SPLIT_LABELLED, p, f) : FERRY_PLUGIN_ERR_NOMEM;
    if (!s) s = h->table_set(run, FEATURES, f);
    for (int64_t i = 0; !s && i < n; i++) is[i] = i >= n - tr ? 1.0f : 0.0f;
    if (!s) s = h->table_set(run, IS_TARGET, is);
    free(p);
    free(f);
    free(is);
    return s;
}

static const ferry_hparam hparams[] = {
    {"target_rows", FERRY_HP_INT, 0, 0, 1000000, FERRY_SWEEP_FIXED, "labelled target rows at the split's end"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "semi-probe",
    .summary = "the labelled batch's rows by example id and its share of target examples, for the tests",
    .citation = "-",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
    .epoch_begin = epoch_begin,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
