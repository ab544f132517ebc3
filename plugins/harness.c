/* Checking a method's arithmetic: its loss (and d loss / d features) on tensors the caller chooses,
 * instead of a model and a task. A run without a model: the features and logits are trainable store
 * entries (so autodiff gives their gradients), the labels an input; the method's setup, loss and
 * schedule hooks run exactly as in a training run (plugins/run.c), and the graph is computed once. */
#include "plugin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A trainable [rows, cols] store entry holding v, and its graph leaf. */
static ferry_status add_param(ferry_run_t *run, const char *name, int64_t rows, int64_t cols, const float *v,
                              ferry_tensor_t **out)
{
    const int64_t shape[2] = {rows, cols};
    ferry_status s = ferry_store_add(run->st, name, FERRY_F32, 2, shape, true);
    if (!s) s = ferry_store_set(run->st, ferry_store_find(run->st, name), v, (size_t)(rows * cols) * sizeof(float));
    if (s) return s;
    *out = ferry_param(run->ctx, run->st, name);
    return *out ? FERRY_OK : FERRY_ERR_INVALID;
}

static ferry_status check_args(const ferry_loss_check *c, const float *loss)
{
    if (!c || !c->method || !c->backend || !loss)
        return ferry_error(FERRY_ERR_INVALID, "check_loss: no method, backend or loss destination given");
    if (c->phase < 0 || c->phase >= (FERRY_METHOD_HAS(c->method, n_phases) && c->method->n_phases > 0 ? c->method->n_phases : 1))
        return ferry_error(FERRY_ERR_INVALID, "check_loss: method '%s' has no phase %d", c->method->name, c->phase);
    if (c->batch < 1 || c->dim < 1 || c->classes < 1)
        return ferry_error(FERRY_ERR_INVALID, "check_loss: batch (%d), dim (%lld) and classes (%d) must be >= 1",
                           c->batch, (long long)c->dim, c->classes);
    if (!c->features_s || !c->features_t || !c->logits_s || !c->logits_t || !c->labels_s)
        return ferry_error(FERRY_ERR_INVALID, "check_loss: features, logits and source labels are all required");
    for (int i = 0; i < c->batch; i++)
        if (c->labels_s[i] < 0 || c->labels_s[i] >= c->classes)
            return ferry_error(FERRY_ERR_INVALID, "check_loss: label %d of row %d is not in [0, %d)", c->labels_s[i], i,
                               c->classes);
    if (!(c->progress >= 0 && c->progress <= 1))
        return ferry_error(FERRY_ERR_INVALID, "check_loss: progress %g is not in [0, 1]", c->progress);
    const ferry_method *m = c->method;
    if ((m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS) && !c->labels_t)
        return ferry_error(FERRY_ERR_INVALID, "check_loss: method '%s' trains on target labels: give labels_t", m->name);
    for (int i = 0; c->labels_t && i < c->batch; i++)
        if (c->labels_t[i] < 0 || c->labels_t[i] >= c->classes)
            return ferry_error(FERRY_ERR_INVALID, "check_loss: target label %d of row %d is not in [0, %d)",
                               c->labels_t[i], i, c->classes);
    if ((m->flags & FERRY_METHOD_TWO_VIEWS) && !c->logits_t2)
        return ferry_error(FERRY_ERR_INVALID, "check_loss: method '%s' takes two views: give logits_t2", m->name);
    return FERRY_OK;
}

/* Reads d loss / d x into out (zeros where the loss does not depend on x). */
static ferry_status read_grad(ferry_run_t *run, ferry_graph_t *g, ferry_tensor_t *x, float *out, size_t nbytes)
{
    ferry_tensor_t *gr = ferry_grad(run->ctx, x);
    if (gr) return ferry_tensor_get(g, gr, out, nbytes);
    memset(out, 0, nbytes);
    return FERRY_OK;
}

ferry_status ferry_method_check_loss(const ferry_loss_check *c, float *loss, float *grad_s, float *grad_t)
{
    ferry_status s = check_args(c, loss);
    if (s) return s;
    const ferry_method *m = c->method;
    const ferry_host_api *h = ferry_plugin_host();
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.backend = c->backend;
    o.method = m;
    o.batch = c->batch;
    o.seed = c->seed;
    ferry_run_t run = {.o = &o, .m = m, .feature_dim = c->dim, .classes = c->classes, .optim = o.optim};
    ferry_tensor_t *fs = NULL, *ft = NULL, *ls = NULL, *lt = NULL, *ys = NULL, *yt = NULL, *lt2 = NULL, *l = NULL;
    ferry_graph_t *g = NULL;
    bool set_up = false;

    if ((s = ferry_method_resolve(m, c->sets, c->n_sets, run.hp)) || (s = ferry_store_init(c->backend, &run.st)) ||
        (s = ferry_rng_init(c->seed, &run.rng)) || (s = ferry_ctx_init(&run.ctx)))
        goto done;
    if ((s = add_param(&run, "features_s", c->batch, c->dim, c->features_s, &fs)) ||
        (s = add_param(&run, "features_t", c->batch, c->dim, c->features_t, &ft)) ||
        (s = add_param(&run, "logits_s", c->batch, c->classes, c->logits_s, &ls)) ||
        (s = add_param(&run, "logits_t", c->batch, c->classes, c->logits_t, &lt)))
        goto done;
    if (!(ys = ferry_input(run.ctx, "labels_s", FERRY_I32, 1, (int64_t[]){c->batch}))) {
        s = FERRY_ERR_INVALID;
        goto done;
    }
    if (c->labels_t && !(yt = ferry_input(run.ctx, "labels_t", FERRY_I32, 1, (int64_t[]){c->batch}))) {
        s = FERRY_ERR_INVALID;
        goto done;
    }
    if (c->logits_t2 && (s = add_param(&run, "logits_t2", c->batch, c->classes, c->logits_t2, &lt2))) goto done;

    /* the method's hooks, as a training run calls them */
    set_up = true;
    if (m->setup && (s = m->setup(&run, h))) goto done;
    ferry_step_tensors st = {.features_s = fs, .features_t = ft, .logits_s = ls, .logits_t = lt, .labels_s = ys,
                             .labels_t = yt, .logits_t2 = lt2, .batch = c->batch};
    const ferry_phase *ph = FERRY_METHOD_HAS(m, n_phases) && m->n_phases > 0 ? &m->phases[c->phase] : NULL;
    if (!(l = ph ? ph->loss(&run, h, &st) : m->loss(&run, h, &st))) {
        s = ferry_last_error()[0] ? FERRY_ERR_INVALID
                                  : ferry_error(FERRY_ERR_INVALID, "method '%s' built no loss", m->name);
        goto done;
    }
    if (ferry_tensor_numel(l) != 1) {
        s = ferry_error(FERRY_ERR_SHAPE, "method '%s': the loss has %lld elements, not 1", m->name,
                        (long long)ferry_tensor_numel(l));
        goto done;
    }
    ferry_tensor_set_output(l);
    if ((grad_s || grad_t || c->grad_logits_s || c->grad_logits_t || c->grad_logits_t2) && ferry_tensor_requires_grad(l)) {
        if ((s = ferry_backward(run.ctx, l))) goto done;
        ferry_tensor_t *wanted[5] = {grad_s ? fs : NULL, grad_t ? ft : NULL, c->grad_logits_s ? ls : NULL,
                                     c->grad_logits_t ? lt : NULL, c->grad_logits_t2 ? lt2 : NULL};
        for (int i = 0; i < 5; i++)
            if (wanted[i] && ferry_grad(run.ctx, wanted[i])) ferry_tensor_set_output(ferry_grad(run.ctx, wanted[i]));
    }
    if ((s = ferry_graph_init(run.ctx, c->backend, &g))) goto done;

    /* the step's inputs: the method's scalars at progress p, the labels */
    if (m->schedule) m->schedule(&run, h, c->progress);
    s = ferry_run_set_scalars(&run, 0, g);
    if (!s && ferry_graph_uses(g, ys)) s = ferry_tensor_set(g, ys, c->labels_s, (size_t)c->batch * sizeof(int32_t));
    if (!s && yt && ferry_graph_uses(g, yt)) s = ferry_tensor_set(g, yt, c->labels_t, (size_t)c->batch * sizeof(int32_t));
    if (s || (s = ferry_graph_compute(g))) goto done;

    *loss = ferry_tensor_get_scalar(g, l);
    const size_t nbytes = (size_t)c->batch * (size_t)c->dim * sizeof(float);
    if (grad_s && (s = read_grad(&run, g, fs, grad_s, nbytes))) goto done;
    if (grad_t && (s = read_grad(&run, g, ft, grad_t, nbytes))) goto done;
    const size_t lbytes = (size_t)c->batch * (size_t)c->classes * sizeof(float);
    if (c->grad_logits_s && (s = read_grad(&run, g, ls, c->grad_logits_s, lbytes))) goto done;
    if (c->grad_logits_t && (s = read_grad(&run, g, lt, c->grad_logits_t, lbytes))) goto done;
    if (c->grad_logits_t2 && lt2) s = read_grad(&run, g, lt2, c->grad_logits_t2, lbytes);

done:
    if (set_up && m->teardown) m->teardown(&run, h);
    ferry_graph_free(g);
    ferry_ctx_free(run.ctx);
    ferry_rng_free(run.rng);
    ferry_store_free(run.st);
    return s;
}
