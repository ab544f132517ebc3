/* Contexts, tensor metadata and leaves. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensor metadata is allocated in blocks that live as long as the context. */
#define CTX_BLOCK 256

ferry_status ferry_ctx_init(ferry_ctx_t **out)
{
    ferry_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a context");
    *out = ctx;
    return FERRY_OK;
}

void ferry_ctx_free(ferry_ctx_t *ctx)
{
    if (!ctx) return;
    /* Tensors were allocated in blocks: the first tensor of each block owns it. */
    for (int i = 0; i < ctx->n; i += CTX_BLOCK) free(ctx->tensors[i]);
    free(ctx->tensors);
    free(ctx->params);
    free(ctx);
}

static struct ferry_tensor *ctx_alloc(ferry_ctx_t *ctx)
{
    if (ctx->n == ctx->cap) {
        int cap = ctx->cap ? ctx->cap * 2 : CTX_BLOCK;
        struct ferry_tensor **t = realloc(ctx->tensors, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        ctx->tensors = t;
        ctx->cap = cap;
    }
    if (ctx->n % CTX_BLOCK == 0) {
        struct ferry_tensor *block = calloc(CTX_BLOCK, sizeof *block);
        if (!block) return NULL;
        for (int i = 0; i < CTX_BLOCK && ctx->n + i < ctx->cap; i++)
            ctx->tensors[ctx->n + i] = &block[i];
    }
    struct ferry_tensor *t = ctx->tensors[ctx->n];
    t->id = ctx->n++;
    return t;
}

struct ferry_tensor *ferry_new_tensor(ferry_ctx_t *ctx, enum ferry_op op, ferry_dtype dtype,
                                      int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > FERRY_MAX_DIMS) {
        ferry_error(FERRY_ERR_SHAPE, "%s: %d dimensions (at most %d)", ferry_op_name(op), ndim,
                    FERRY_MAX_DIMS);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            ferry_error(FERRY_ERR_SHAPE, "%s: dimension %d is %lld (must be positive)",
                        ferry_op_name(op), i, (long long)shape[i]);
            return NULL;
        }
        numel *= shape[i];
    }
    struct ferry_tensor *t = ctx_alloc(ctx);
    if (!t) {
        ferry_error(FERRY_ERR_NOMEM, "out of memory recording %s", ferry_op_name(op));
        return NULL;
    }
    t->op = op;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < FERRY_MAX_DIMS; i++) t->ne[i] = i < ndim ? shape[i] : 1;
    int64_t stride = 1;
    for (int i = FERRY_MAX_DIMS - 1; i >= 0; i--) {
        t->nb[i] = stride;
        stride *= t->ne[i];
    }
    t->numel = numel;
    t->store_idx = -1;
    return t;
}

struct ferry_tensor *ferry_new_op(ferry_ctx_t *ctx, enum ferry_op op, ferry_dtype dtype, int ndim,
                                  const int64_t *shape, int nsrc, struct ferry_tensor *const *srcs)
{
    for (int i = 0; i < nsrc; i++)
        if (!srcs[i]) return NULL; /* an earlier op failed; its message stands */
    FERRY_ASSERT(nsrc <= ferry_op_info(op)->nsrc); /* the registry's arity (ops.def) */
    struct ferry_tensor *t = ferry_new_tensor(ctx, op, dtype, ndim, shape);
    if (!t) return NULL;
    for (int i = 0; i < nsrc; i++) {
        t->src[i] = srcs[i];
        if (!ctx->in_backward && (srcs[i]->flags & FERRY_FLAG_REQUIRES_GRAD))
            t->flags |= FERRY_FLAG_REQUIRES_GRAD;
    }
    return t;
}

bool ferry_same_shape(const struct ferry_tensor *a, const struct ferry_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

const char *ferry_shape_str(const struct ferry_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->ne[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- leaves -------------------------------------------------------------------------------- */

static struct ferry_tensor *new_leaf(ferry_ctx_t *ctx, enum ferry_leaf_kind kind, const char *name,
                                     ferry_dtype dtype, int ndim, const int64_t *shape)
{
    struct ferry_tensor *t = ferry_new_tensor(ctx, FERRY_OP_LEAF, dtype, ndim, shape);
    if (!t) return NULL;
    t->leaf = kind;
    if (name) snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

ferry_tensor_t *ferry_input(ferry_ctx_t *ctx, const char *name, ferry_dtype dtype, int ndim,
                            const int64_t *shape)
{
    return new_leaf(ctx, FERRY_LEAF_INPUT, name, dtype, ndim, shape);
}

ferry_tensor_t *ferry_scalar_input(ferry_ctx_t *ctx, const char *name, float initial)
{
    int64_t one = 1;
    struct ferry_tensor *t = new_leaf(ctx, FERRY_LEAF_INPUT, name, FERRY_F32, 1, &one);
    if (t) {
        t->const_value = initial; /* uploaded when the graph is created */
        t->fp[7] = 1.0f;          /* marks "has an initial value" */
    }
    return t;
}

ferry_tensor_t *ferry_constant(ferry_ctx_t *ctx, float value, int ndim, const int64_t *shape)
{
    struct ferry_tensor *t = new_leaf(ctx, FERRY_LEAF_CONST, "const", FERRY_F32, ndim, shape);
    if (t) t->const_value = value;
    return t;
}

ferry_tensor_t *ferry_param(ferry_ctx_t *ctx, ferry_store_t *st, const char *name)
{
    int i = ferry_store_find(st, name);
    if (i < 0) {
        ferry_error(FERRY_ERR_NOT_FOUND, "no parameter named '%s' in the store", name);
        return NULL;
    }
    struct ferry_tensor *t = new_leaf(ctx, FERRY_LEAF_PARAM, name, FERRY_F32, ferry_store_ndim(st, i),
                                      ferry_store_shape(st, i));
    if (!t) return NULL;
    t->store = st;
    t->store_idx = i;
    if (ferry_store_trainable(st, i)) t->flags |= FERRY_FLAG_REQUIRES_GRAD;
    return t;
}

/* ---- accessors ------------------------------------------------------------------------------ */

void ferry_tensor_set_output(ferry_tensor_t *t)
{
    if (t) t->flags |= FERRY_FLAG_OUTPUT;
}

void ferry_tensor_set_name(ferry_tensor_t *t, const char *name)
{
    if (t) snprintf(t->name, sizeof t->name, "%s", name);
}

const char *ferry_tensor_name(const ferry_tensor_t *t) { return t->name; }
int ferry_tensor_ndim(const ferry_tensor_t *t) { return t->ndim; }
int64_t ferry_tensor_dim(const ferry_tensor_t *t, int i) { return i < t->ndim ? t->ne[i] : 1; }
int64_t ferry_tensor_numel(const ferry_tensor_t *t) { return t->numel; }
ferry_dtype ferry_tensor_dtype(const ferry_tensor_t *t) { return t->dtype; }
bool ferry_tensor_requires_grad(const ferry_tensor_t *t)
{
    return (t->flags & FERRY_FLAG_REQUIRES_GRAD) != 0;
}

int ferry_ctx_param_count(const ferry_ctx_t *ctx) { return ctx->n_params; }
ferry_tensor_t *ferry_ctx_param(const ferry_ctx_t *ctx, int i) { return ctx->params[i]; }
int ferry_param_store_index(const ferry_tensor_t *t) { return t->store_idx; }

struct ferry_tensor *ferry_shape_error(const char *op, const char *what, const struct ferry_tensor *a,
                                       const struct ferry_tensor *b)
{
    char sa[64], sb[64] = "";
    ferry_shape_str(a, sa, sizeof sa);
    if (b) ferry_shape_str(b, sb, sizeof sb);
    ferry_error(FERRY_ERR_SHAPE, "%s: %s (got %s%s%s)", op, what, sa, b ? " and " : "", sb);
    return NULL;
}
