/* A method that fails on purpose, for the fault tests: its hyperparameter `fault` picks how, `after`
 * at which training step (1-based). 0 none (source cross-entropy), 1 SIGSEGV, 2 hangs, 3 abort(),
 * 4 exit(7), 5 a NaN loss, 6 a finite loss whose gradient is NaN (the parameters go NaN, the loss
 * only at the next step). */
#include "ferry/plugin.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { FAULT_NONE, FAULT_SEGV, FAULT_HANG, FAULT_ABORT, FAULT_EXIT, FAULT_NAN_LOSS, FAULT_NAN_GRAD };

struct state {
    long step;
    ferry_tensor_t *nan_loss, *nan_grad; /* scalars: 1 (no effect) until the fault, then NaN or 0 */
};

static ferry_plugin_status setup(ferry_run_t *run, const ferry_host_api *h)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return h->error(FERRY_PLUGIN_ERR_NOMEM, "faulty-test: out of memory");
    h->set_state(run, st);
    return FERRY_PLUGIN_OK;
}

static void teardown(ferry_run_t *run, const ferry_host_api *h) { free(h->state(run)); }

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    struct state *st = h->state(run);
    ferry_ctx_t *ctx = h->ctx(run);
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    st->nan_loss = h->scalar(run, "faulty_nan_loss", 1.0f);
    st->nan_grad = h->scalar(run, "faulty_nan_grad", 1.0f);
    /* + 0 * sum(sqrt((logits - logits)^2 + c)), c = nan_grad: 0 in value either way, with a zero
     * gradient while c is 1 and a NaN one once c is 0 (sqrt's derivative at 0 is infinite) */
    int64_t shape[2] = {h->dim(t->logits_s, 0), h->dim(t->logits_s, 1)};
    ferry_tensor_t *d = h->sub(ctx, t->logits_s, t->logits_s);
    ferry_tensor_t *c = h->scale_by(ctx, h->constant(ctx, 1.0f, 2, shape), st->nan_grad, 1.0f);
    ferry_tensor_t *z = h->scale(ctx, h->sum(ctx, h->sqrt(ctx, h->add(ctx, h->square(ctx, d), c))), 0.0f);
    return h->add(ctx, h->scale_by(ctx, ce, st->nan_loss, 1.0f), z);
}

static void schedule(ferry_run_t *run, const ferry_host_api *h, double p)
{
    (void)p;
    struct state *st = h->state(run);
    if (++st->step != (long)h->hparam(run, "after")) return;
    int fault = (int)h->hparam(run, "fault");
    if (fault) fprintf(stderr, "faulty-test: fault %d at step %ld\n", fault, st->step);
    switch (fault) {
    case FAULT_SEGV: raise(SIGSEGV); break;
    case FAULT_HANG: for (;;) sleep(1);
    case FAULT_ABORT: abort();
    case FAULT_EXIT: exit(7);
    case FAULT_NAN_LOSS: h->set_scalar(run, st->nan_loss, NAN); break;
    case FAULT_NAN_GRAD: h->set_scalar(run, st->nan_grad, 0.0f); break;
    default: break;
    }
}

static const ferry_hparam hparams[] = {
    {"fault", FERRY_HP_INT, 0, 0, 6, FERRY_SWEEP_FIXED, "how it fails: 0 not, 1 SIGSEGV, 2 hang, 3 abort, 4 exit(7), "
                                                        "5 NaN loss, 6 NaN gradient"},
    {"after", FERRY_HP_INT, 3, 1, 1000000, FERRY_SWEEP_FIXED, "at which step"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "faulty-test",
    .summary = "source cross-entropy that fails on purpose, for the fault tests",
    .citation = "-",
    .hparams = hparams,
    .n_hparams = 2,
    .setup = setup,
    .loss = loss,
    .schedule = schedule,
    .teardown = teardown,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
