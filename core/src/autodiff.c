/* Reverse-mode autodiff: walks the recorded ops backwards and records their backward ops. */
#include "internal.h"

#include <stdlib.h>

typedef struct ferry_tensor T;

/* Ops that may depend on parameters but pass no gradient back (statistics, metrics): the registry's
 * grad ZERO. */
static bool no_gradient(enum ferry_op op) { return ferry_op_info(op)->grad == FERRY_GRAD_ZERO; }

static void accumulate(ferry_ctx_t *ctx, T *src, T *g)
{
    if (!(src->flags & FERRY_FLAG_REQUIRES_GRAD) || !g) return;
    src->grad = src->grad ? ferry_add(ctx, src->grad, g) : g;
}

static ferry_status collect_params(ferry_ctx_t *ctx, int n_forward)
{
    int count = 0;
    for (int i = 0; i < n_forward; i++) {
        T *t = ctx->tensors[i];
        if (t->leaf == FERRY_LEAF_PARAM && t->grad) count++;
    }
    ctx->params = calloc((size_t)count + 1, sizeof *ctx->params);
    if (!ctx->params) return ferry_error(FERRY_ERR_NOMEM, "out of memory in backward");
    for (int i = 0; i < n_forward; i++) {
        T *t = ctx->tensors[i];
        if (t->leaf == FERRY_LEAF_PARAM && t->grad) ctx->params[ctx->n_params++] = t;
    }
    return FERRY_OK;
}

ferry_status ferry_restrict_grad(ferry_ctx_t *ctx, bool (*keep)(int store_idx, void *user), void *user)
{
    if (ctx->backward_done || ctx->in_backward)
        return ferry_error(FERRY_ERR_INVALID, "restrict_grad: the backward pass is already recorded");
    /* creation order is a topological order: a node requires a gradient only if an input still does
     * (a node that did not, a detach, stays so) */
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        if (!(t->flags & FERRY_FLAG_REQUIRES_GRAD)) continue;
        bool still;
        if (t->op == FERRY_OP_LEAF) {
            still = t->leaf != FERRY_LEAF_PARAM || keep(t->store_idx, user);
        } else {
            still = false;
            for (int j = 0; j < FERRY_MAX_SRC && !still; j++)
                still = t->src[j] && (t->src[j]->flags & FERRY_FLAG_REQUIRES_GRAD);
        }
        if (!still) t->flags &= ~FERRY_FLAG_REQUIRES_GRAD;
    }
    return FERRY_OK;
}

ferry_status ferry_backward(ferry_ctx_t *ctx, ferry_tensor_t *loss)
{
    if (!loss) return FERRY_ERR_INVALID; /* the op that failed set the message */
    if (ctx->backward_done)
        return ferry_error(FERRY_ERR_INVALID, "backward: already recorded for this context");
    if (loss->numel != 1)
        return ferry_error(FERRY_ERR_SHAPE, "backward: the loss must be a scalar, not %lld elements",
                           (long long)loss->numel);
    if (!(loss->flags & FERRY_FLAG_REQUIRES_GRAD))
        return ferry_error(FERRY_ERR_INVALID,
                           "backward: the loss does not depend on any trainable parameter");
    int n_forward = ctx->n;
    ctx->in_backward = true;
    loss->grad = ferry_constant(ctx, 1.0f, loss->ndim, loss->ne);
    ferry_status s = loss->grad ? FERRY_OK : FERRY_ERR_NOMEM;
    for (int i = n_forward - 1; i >= 0 && !s; i--) {
        T *t = ctx->tensors[i];
        if (!t->grad || !(t->flags & FERRY_FLAG_REQUIRES_GRAD) || t->op == FERRY_OP_LEAF) continue;
        if (no_gradient(t->op)) continue;
        ferry_backward_fn fn = ferry_op_backward(t->op);
        if (!fn) {
            s = ferry_error(FERRY_ERR_UNSUPPORTED, "backward: op %s has no gradient",
                            ferry_op_name(t->op));
            break;
        }
        T *gr[FERRY_MAX_SRC] = {0};
        fn(ctx, t, t->grad, gr);
        for (int j = 0; j < FERRY_MAX_SRC && !s; j++) {
            T *src = t->src[j];
            if (!src || !(src->flags & FERRY_FLAG_REQUIRES_GRAD)) continue;
            if (!gr[j] && j == 0) { /* every op with a gradient passes one to its first input */
                s = FERRY_ERR_INVALID;
                if (!ferry_last_error()[0])
                    ferry_error(s, "backward: %s produced no gradient", ferry_op_name(t->op));
                break;
            }
            accumulate(ctx, src, gr[j]);
        }
    }
    ctx->in_backward = false;
    ctx->backward_done = true;
    if (s) return s;
    return collect_params(ctx, n_forward);
}

ferry_tensor_t *ferry_grad(ferry_ctx_t *ctx, ferry_tensor_t *t)
{
    (void)ctx;
    return t ? t->grad : NULL;
}
