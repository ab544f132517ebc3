/* Reverse-mode autodiff: walks the recorded ops backwards and records their backward ops. */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- recomputation of batch norm + relu for the backward pass -----------------------------------
 * A training batch norm followed by a relu or ReLU6 keeps two tensors of its layer for the backward
 * pass: the norm's input x (its own backward reads it) and the activation r (the activation's
 * backward reads it, and so does the weight gradient of the convolution r feeds). r is cheap to
 * make again from x, the batch statistics and the affine parameters, all of which the backward
 * pass holds anyway. So every backward reader of such an r reads a copy recorded now, which the
 * graph runs right before its first reader (FERRY_FLAG_RECOMPUTE, graph.c): the forward r dies
 * after its last forward reader, and at the peak of a training step (the start of the backward
 * pass) one tensor per layer is alive instead of two. The copy runs the same kernels on the same
 * inputs, so every value is the same bit for bit. FERRY_RECOMPUTE=0 (read at backward) keeps the
 * forward tensors instead. */
static bool recompute_wanted(void)
{
    const char *e = getenv("FERRY_RECOMPUTE");
    return !e || strcmp(e, "0") != 0;
}

/* t recorded again reading src0 in place of its first source (its other sources, some possibly
 * absent such as a batch norm's gamma, as they are). */
static T *clone_op(ferry_ctx_t *ctx, const T *t, T *src0)
{
    T *c = ferry_new_tensor(ctx, t->op, t->dtype, t->ndim, t->ne);
    if (!c) return NULL;
    for (int j = 0; j < FERRY_MAX_SRC; j++) c->src[j] = j == 0 ? src0 : t->src[j];
    memcpy(c->ip, t->ip, sizeof c->ip);
    memcpy(c->fp, t->fp, sizeof c->fp);
    c->flags = FERRY_FLAG_RECOMPUTE;
    return c;
}

static ferry_status recompute_activations(ferry_ctx_t *ctx, int n_forward)
{
    const int n = ctx->n;
    /* per forward tensor: read by a forward node, by a backward node, through a view */
    uint8_t *use = calloc((size_t)n_forward + 1, 1);
    if (!use) return ferry_error(FERRY_ERR_NOMEM, "out of memory in backward");
    enum { FWD = 1, BWD = 2, VIEW = 4 };
    for (int i = 0; i < n; i++) {
        const T *t = ctx->tensors[i];
        for (int j = 0; j < FERRY_MAX_SRC; j++)
            if (t->src[j] && t->src[j]->id < n_forward) use[t->src[j]->id] |= i < n_forward ? FWD : BWD;
        if (t->view_src && t->view_src->id < n_forward) use[t->view_src->id] |= VIEW;
    }
    ferry_status s = FERRY_OK;
    for (int i = 0; i < n_forward && !s; i++) {
        T *r = ctx->tensors[i];
        T *z = r->src[0];
        if (r->op != FERRY_OP_UNARY || !ferry_unary_bwd_uses_output(r->ip[0]) || !z ||
            z->op != FERRY_OP_BN_APPLY || z->ip[0] != 0 || (use[r->id] & (VIEW | BWD)) != BWD ||
            (use[z->id] & VIEW) || ((r->flags | z->flags) & FERRY_FLAG_OUTPUT))
            continue;
        T *z2 = clone_op(ctx, z, z->src[0]);
        T *r2 = z2 ? clone_op(ctx, r, z2) : NULL;
        if (!r2) {
            s = FERRY_ERR_NOMEM;
            break;
        }
        for (int k = n_forward; k < n; k++) /* the backward readers, recorded before the copies */
            for (int j = 0; j < FERRY_MAX_SRC; j++)
                if (ctx->tensors[k]->src[j] == r) ctx->tensors[k]->src[j] = r2;
    }
    free(use);
    return s;
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
    if (!s && recompute_wanted()) s = recompute_activations(ctx, n_forward);
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
