/* Checking a method's arithmetic: its loss on given tensors instead of a model and a task. */
#include "plugin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

ferry_status ferry_method_check_loss(const ferry_loss_check *c, float *loss, float *grad_s, float *grad_t)
{
    const ferry_method *m = c->method;
    if (m->flags & (FERRY_METHOD_USES_CHECKPOINT | FERRY_METHOD_NEEDS_TARGET_LABELS))
        return ferry_error(FERRY_ERR_UNSUPPORTED, "method '%s' needs a model and a task: check it with a run", m->name);
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.backend = c->backend;
    o.method = m;
    o.batch = c->batch;
    ferry_run_t run = {.o = &o, .m = m, .feature_dim = c->dim, .classes = c->classes};
    const ferry_host_api *h = ferry_plugin_host();
    ferry_status s = ferry_method_resolve(m, c->sets, c->n_sets, run.hp);
    ferry_tensor_t *fs = NULL, *ft = NULL, *ls = NULL, *lt = NULL;
    ferry_graph_t *g = NULL;
    if (!s) s = ferry_store_init(c->backend, &run.st);
    if (!s) s = ferry_rng_init(c->seed, &run.rng);
    if (!s) s = ferry_ctx_init(&run.ctx);
    if (!s) s = add_param(&run, "features_s", c->batch, c->dim, c->features_s, &fs);
    if (!s) s = add_param(&run, "features_t", c->batch, c->dim, c->features_t, &ft);
    if (!s) s = add_param(&run, "logits_s", c->batch, c->classes, c->logits_s, &ls);
    if (!s) s = add_param(&run, "logits_t", c->batch, c->classes, c->logits_t, &lt);
    ferry_tensor_t *ys = s ? NULL : ferry_input(run.ctx, "labels_s", FERRY_I32, 1, (int64_t[]){c->batch});
    if (!s && m->setup) s = m->setup(&run, h);
    ferry_tensor_t *l = NULL;
    if (!s) {
        ferry_step_tensors st = {.features_s = fs, .features_t = ft, .logits_s = ls, .logits_t = lt,
                                 .labels_s = ys, .batch = c->batch};
        l = m->loss(&run, h, &st);
        if (!l) s = ferry_last_error()[0] ? FERRY_ERR_INVALID : ferry_error(FERRY_ERR_INVALID, "%s built no loss", m->name);
    }
    if (!s) {
        ferry_tensor_set_output(l);
        if (grad_s || grad_t) {
            if ((s = ferry_backward(run.ctx, l))) goto done;
            if (grad_s && ferry_grad(run.ctx, fs)) ferry_tensor_set_output(ferry_grad(run.ctx, fs));
            if (grad_t && ferry_grad(run.ctx, ft)) ferry_tensor_set_output(ferry_grad(run.ctx, ft));
        }
        s = ferry_graph_init(run.ctx, c->backend, &g);
    }
    if (!s && m->schedule) m->schedule(&run, h, c->progress);
    for (int i = 0; i < run.n_scalars && !s; i++)
        if (ferry_graph_uses(g, run.scalars[i].t))
            s = ferry_tensor_set(g, run.scalars[i].t, &run.scalars[i].value, sizeof(float));
    if (!s && ferry_graph_uses(g, ys)) s = ferry_tensor_set(g, ys, c->labels_s, (size_t)c->batch * sizeof(int32_t));
    if (!s) s = ferry_graph_compute(g);
    if (!s) *loss = ferry_tensor_get_scalar(g, l);
    const size_t gb = (size_t)(c->batch * c->dim) * sizeof(float);
    if (!s && grad_s) {
        ferry_tensor_t *gr = ferry_grad(run.ctx, fs);
        if (gr) s = ferry_tensor_get(g, gr, grad_s, gb);
        else memset(grad_s, 0, gb);
    }
    if (!s && grad_t) {
        ferry_tensor_t *gr = ferry_grad(run.ctx, ft);
        if (gr) s = ferry_tensor_get(g, gr, grad_t, gb);
        else memset(grad_t, 0, gb);
    }
done:
    if (m->teardown && run.ctx) m->teardown(&run, h);
    ferry_graph_free(g);
    ferry_ctx_free(run.ctx);
    ferry_rng_free(run.rng);
    ferry_store_free(run.st);
    return s;
}
