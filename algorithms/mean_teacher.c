/* Mean teacher / self-ensembling for domain adaptation (French, Mackiewicz and Fisher, ICLR 2018;
 * Tarvainen and Valpola, NeurIPS 2017). A teacher network is the exponential moving average of the
 * student's weights (host->model_copy, FERRY_COPY_EMA: after every step, θ' ← α θ' + (1 − α) θ). The
 * student learns the source labels and to agree with the teacher on target images augmented twice,
 * independently (FERRY_METHOD_TWO_VIEWS):
 *
 *   loss = CE(student(x_s), y_s) + trade_off · (1/B) Σ_i m_i · ‖p_student(x_t_i') − p_teacher(x_t_i)‖²
 *   m_i = [max_k p_teacher(x_t_i)_k ≥ threshold]   (French et al.'s confidence thresholding)
 *
 * the teacher's probabilities constant. Evaluation uses the teacher, as the paper reports it
 * (ferry_method.eval_logits). Defaults from French et al.: α = 0.99, threshold 0.968, trade_off 3;
 * their digits augmentation (small translations, scaling, intensity noise) for both views. Their
 * class-balance loss and separate source/target batch-norm passes are left out (the host runs both
 * domains through one batch); the teacher's batch norm uses its averaged statistics. The share of
 * target examples past the threshold is the metric `mask_rate`. */
#include "ferry/plugin.h"

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    return h->model_copy(run, "teacher", FERRY_COPY_EMA, "decay");
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_step_tensors teacher;
    if (h->copy_forward(run, "teacher", false, &teacher)) return NULL;
    ferry_tensor_t *pt = h->detach(ctx, h->softmax(ctx, teacher.logits_t)); /* [B, K] */
    ferry_tensor_t *ps = h->softmax(ctx, t->logits_t2);
    ferry_tensor_t *thr = h->constant(ctx, (float)h->hparam(run, "threshold"), 2, (int64_t[]){1, 1});
    ferry_tensor_t *mask = h->compare(ctx, h->max_axis(ctx, pt, 1), FERRY_HOST_CMP_GE, thr); /* [B, 1] */
    ferry_tensor_t *d = h->sub(ctx, ps, pt);
    ferry_tensor_t *cons = h->sum(ctx, h->mul(ctx, mask, h->sum_axis(ctx, h->mul(ctx, d, d), 1)));
    if (h->metric(run, "mask_rate", h->mean(ctx, mask))) return NULL;
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->add(ctx, ce, h->scale(ctx, cons, (float)h->hparam(run, "trade_off") / (float)t->batch));
}

static ferry_tensor_t *eval_logits(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    (void)t;
    ferry_step_tensors teacher;
    return h->copy_forward(run, "teacher", false, &teacher) ? NULL : teacher.logits_t;
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 3.0, 0.01, 100.0, FERRY_SWEEP_LOG, "weight of the consistency loss"},
    {"decay", FERRY_HP_FLOAT, 0.99, 0.0, 0.9999, FERRY_SWEEP_FIXED, "the teacher's EMA decay α per step"},
    {"threshold", FERRY_HP_FLOAT, 0.968, 0.0, 1.0, FERRY_SWEEP_UNIFORM,
     "teacher confidence below which a target example adds no consistency loss"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "mean-teacher",
    .summary = "self-ensembling: agree with an EMA teacher on two augmented views of the target",
    .citation = "French, Mackiewicz and Fisher, Self-ensembling for visual domain adaptation, ICLR 2018",
    .flags = FERRY_METHOD_TWO_VIEWS,
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .setup = setup,
    .loss = loss,
    .eval_logits = eval_logits,
    .view_weak = "crop=2,scale=0.9:1.1,noise=0.1",
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
