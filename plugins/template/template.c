/* A complete method to start from: mean matching. Source cross-entropy plus the squared distance
 * between the mean source feature and the mean target feature of the batch (MMD with a linear
 * kernel). Copy this file, rename the method, change the loss. See plugins/GUIDE.md.
 *
 *   loss = CE(classifier(f_s), y_s) + weight · ‖mean(f_s) − mean(f_t)‖²
 *
 * Build (against an installed Ferry):
 *   cc -std=c17 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags ferry-plugin) template.c \
 *      -o template.so */
#include <ferry/plugin.h>

/* The mean of the rows of x [n, d] as [1, d]: the column sums (sum_to) over n. */
static ferry_tensor_t *row_mean(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    const int64_t n = h->dim(x, 0);
    return h->scale(ctx, h->sum_to(ctx, x, 2, (int64_t[]){1, h->dim(x, 1)}), 1.0f / (float)n);
}

/* Builds the step's loss. The host gives features and logits of a labelled source batch and an
 * unlabelled target batch; every call returns NULL on a shape error, so one check at the end does. */
static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *gap = h->sub(ctx, row_mean(h, ctx, t->features_s), row_mean(h, ctx, t->features_t));
    ferry_tensor_t *match = h->sum(ctx, h->mul(ctx, gap, gap));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, match, (float)h->hparam(run, "weight")));
}

/* Hyperparameters: name, type, default, range, how a sweep draws it, and a line of documentation.
 * Users set them with --set template.weight=0.5; values outside the range are refused. */
static const ferry_hparam hparams[] = {
    {"weight", FERRY_HP_FLOAT, 1.0, 0.001, 100.0, FERRY_SWEEP_LOG, "weight of the mean-matching term"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION, /* checked by the loader */
    .size = sizeof(ferry_method),
    .name = "template",
    .summary = "mean matching: source cross-entropy + squared distance of the mean features",
    .citation = "(your paper here)",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
    /* optional hooks: .setup (add modules, parameter groups, schedule), .schedule (per-step values),
     * .teardown (free what setup allocated) — see algorithms/dann.c */
};

/* The one exported symbol. */
FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
