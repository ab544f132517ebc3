/* Eval-mode inference of a model over many inputs: one graph, reused batch after batch. */
#include "model_internal.h"

#include <stdlib.h>
#include <string.h>

ferry_status ferry_model_infer(ferry_model_t *m, ferry_backend_t *be, const float *x, int64_t n, int batch,
                               float *features, float *logits)
{
    if (n < 0 || batch < 1) return ferry_error(FERRY_ERR_INVALID, "%s: inference over %lld inputs in batches of %d",
                                                m->arch, (long long)n, batch);
    if (n == 0) return FERRY_OK;
    if (batch > n) batch = (int)n;
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w, F = (size_t)m->feature_dim, K = (size_t)m->classes;
    ferry_ctx_t *ctx = NULL;
    ferry_graph_t *g = NULL;
    float *pad = NULL, *fb = NULL, *lb = NULL;
    ferry_status s = ferry_ctx_init(&ctx);
    if (s) return s;
    ferry_forward_opts fo = {.train = false};
    ferry_tensor_t *in = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){batch, m->in_c, m->in_h, m->in_w});
    ferry_tensor_t *f = ferry_model_features(m, ctx, in, &fo);
    ferry_tensor_t *y = logits ? ferry_model_classifier(m, ctx, f, &fo) : NULL;
    if (!f || (logits && !y)) s = ferry_error(FERRY_ERR_SHAPE, "%s", ferry_last_error());
    if (!s) {
        ferry_tensor_set_output(f);
        if (y) ferry_tensor_set_output(y);
        s = ferry_graph_init(ctx, be, &g);
    }
    pad = malloc((size_t)batch * img * sizeof *pad);
    fb = malloc((size_t)batch * F * sizeof *fb);
    lb = malloc((size_t)batch * K * sizeof *lb);
    if (!s && (!pad || !fb || !lb)) s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for inference", m->arch);
    for (int64_t i = 0; !s && i < n; i += batch) {
        int64_t k = n - i < batch ? n - i : batch;
        const float *src = x + (size_t)i * img;
        if (k < batch) { /* a last partial batch, padded with zeros */
            memcpy(pad, src, (size_t)k * img * sizeof *pad);
            memset(pad + (size_t)k * img, 0, (size_t)(batch - k) * img * sizeof *pad);
            src = pad;
        }
        if ((s = ferry_tensor_set(g, in, src, (size_t)batch * img * sizeof *src)) || (s = ferry_graph_compute(g)))
            break;
        if (features) {
            if ((s = ferry_tensor_get(g, f, fb, (size_t)batch * F * sizeof *fb))) break;
            memcpy(features + (size_t)i * F, fb, (size_t)k * F * sizeof *fb);
        }
        if (logits) {
            if ((s = ferry_tensor_get(g, y, lb, (size_t)batch * K * sizeof *lb))) break;
            memcpy(logits + (size_t)i * K, lb, (size_t)k * K * sizeof *lb);
        }
    }
    free(pad);
    free(fb);
    free(lb);
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    return s;
}
