/* Op constructors (shape checks) and their backward builders.
 * A backward builder only records ordinary ops; nothing here computes. */
#include "internal.h"
#include "ops_axis.h"
#include "ops_conv.h"
#include "ops_pool.h"
#include "ops_unary.h"

#include <stdio.h>
#include <string.h>

typedef struct ferry_tensor T;

#define LEAF FERRY_KIND_LEAF
#define VIEW FERRY_KIND_VIEW
#define KERNEL FERRY_KIND_KERNEL
#define UPDATE FERRY_KIND_UPDATE
#define FN FERRY_GRAD_FN
#define ZERO FERRY_GRAD_ZERO
#define NONE FERRY_GRAD_NONE
static const struct ferry_op_info op_info[] = {
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) [FERRY_OP_##NAME] = {name, nsrc, kind, grad},
#include "ops.def"
};
_Static_assert(sizeof op_info / sizeof *op_info == FERRY_OP_COUNT, "one registry entry per op");

const struct ferry_op_info *ferry_op_info(enum ferry_op op)
{
    return (unsigned)op < FERRY_OP_COUNT ? &op_info[op] : NULL;
}

const char *ferry_op_name(enum ferry_op op)
{
    return (unsigned)op < FERRY_OP_COUNT ? op_info[op].name : "?";
}

static const struct {
    const char *name;
    bool uses_output;
} unary_info[] = {
#define FERRY_UNARY(NAME, name, uses_output) [FERRY_UNARY_##NAME] = {name, uses_output},
#include "ops.def"
};
_Static_assert(sizeof unary_info / sizeof *unary_info == FERRY_UNARY_COUNT, "one entry per kind");

const char *ferry_unary_name(int kind)
{
    return kind >= 0 && kind < FERRY_UNARY_COUNT ? unary_info[kind].name : "?";
}

bool ferry_unary_bwd_uses_output(int kind)
{
    return kind >= 0 && kind < FERRY_UNARY_COUNT && unary_info[kind].uses_output;
}

static bool any_null(int n, T *const *t)
{
    for (int i = 0; i < n; i++)
        if (!t[i]) return true;
    return false;
}

#define SRCS(...) ((T *const[]){__VA_ARGS__})
#define NSRC(...) ((int)(sizeof((T *const[]){__VA_ARGS__}) / sizeof(T *)))
#define OP(ctx, op, like, ...) \
    ferry_new_op(ctx, op, FERRY_F32, (like)->ndim, (like)->ne, NSRC(__VA_ARGS__), SRCS(__VA_ARGS__))
#define CHECK(...)                                                                               \
    do {                                                                                         \
        if (any_null(NSRC(__VA_ARGS__), SRCS(__VA_ARGS__))) return NULL;                         \
    } while (0)

static const int64_t scalar_shape[1] = {1};

static bool is_scalar(const T *t) { return t->numel == 1; }

/* ---- elementwise ----------------------------------------------------------------------------- */

/* The broadcast shape of a and b (NumPy's rule, aligned at the last dimension) into out; false if
 * they do not broadcast. */
static bool broadcast_shape(const T *a, const T *b, int *ndim, int64_t *out)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < n; k++) { /* k counts from the last dimension */
        int64_t da = k < a->ndim ? a->ne[a->ndim - 1 - k] : 1, db = k < b->ndim ? b->ne[b->ndim - 1 - k] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out[n - 1 - k] = da > db ? da : db;
    }
    *ndim = n;
    return true;
}

/* A broadcasting binary node of op on a and b (and c for select). */
static T *binary(ferry_ctx_t *ctx, enum ferry_op op, T *a, T *b, T *c, const char *name)
{
    CHECK(a, b);
    int nd = 0;
    int64_t shape[FERRY_MAX_DIMS];
    if (!broadcast_shape(a, b, &nd, shape)) return ferry_shape_error(name, "shapes do not broadcast", a, b);
    if (a->dtype != FERRY_F32 || b->dtype != FERRY_F32)
        return ferry_shape_error(name, "expects F32 tensors", a, b);
    if (c) {
        T tmp = {.ndim = nd};
        memcpy(tmp.ne, shape, sizeof shape);
        if (c->dtype != FERRY_F32) return ferry_shape_error(name, "the condition must be an F32 mask", c, NULL);
        if (!broadcast_shape(&tmp, c, &nd, shape))
            return ferry_shape_error(name, "the condition does not broadcast with the values", c, &tmp);
    }
    return ferry_new_op(ctx, op, FERRY_F32, nd, shape, c ? 3 : 2, c ? SRCS(a, b, c) : SRCS(a, b));
}

static T *add_op(ferry_ctx_t *ctx, T *a, T *b, float ca, float cb, const char *name)
{
    T *t = binary(ctx, FERRY_OP_ADD, a, b, NULL, name);
    if (t) {
        t->fp[0] = ca;
        t->fp[1] = cb;
    }
    return t;
}

ferry_tensor_t *ferry_add(ferry_ctx_t *ctx, T *a, T *b) { return add_op(ctx, a, b, 1, 1, "add"); }
ferry_tensor_t *ferry_sub(ferry_ctx_t *ctx, T *a, T *b) { return add_op(ctx, a, b, 1, -1, "sub"); }
ferry_tensor_t *ferry_mul(ferry_ctx_t *ctx, T *a, T *b) { return binary(ctx, FERRY_OP_MUL, a, b, NULL, "mul"); }
ferry_tensor_t *ferry_div(ferry_ctx_t *ctx, T *a, T *b) { return binary(ctx, FERRY_OP_DIV, a, b, NULL, "div"); }
ferry_tensor_t *ferry_maximum(ferry_ctx_t *ctx, T *a, T *b)
{
    return binary(ctx, FERRY_OP_MAXIMUM, a, b, NULL, "maximum");
}
ferry_tensor_t *ferry_minimum(ferry_ctx_t *ctx, T *a, T *b)
{
    return binary(ctx, FERRY_OP_MINIMUM, a, b, NULL, "minimum");
}

ferry_tensor_t *ferry_compare(ferry_ctx_t *ctx, T *a, ferry_cmp cmp, T *b)
{
    if ((unsigned)cmp > FERRY_CMP_NE) {
        ferry_error(FERRY_ERR_INVALID, "compare: unknown comparison %d", (int)cmp);
        return NULL;
    }
    T *t = binary(ctx, FERRY_OP_COMPARE, a, b, NULL, "compare");
    if (t) {
        t->ip[0] = (int32_t)cmp;
        t->flags &= ~FERRY_FLAG_REQUIRES_GRAD; /* a mask: no gradient flows through it */
    }
    return t;
}

ferry_tensor_t *ferry_where(ferry_ctx_t *ctx, T *cond, T *a, T *b)
{
    CHECK(cond);
    return binary(ctx, FERRY_OP_WHERE, a, b, cond, "where");
}

ferry_tensor_t *ferry_sum_to(ferry_ctx_t *ctx, T *x, int ndim, const int64_t *shape)
{
    CHECK(x);
    bool ok = ndim >= 1 && ndim <= x->ndim && x->dtype == FERRY_F32;
    for (int k = 0; ok && k < ndim; k++) {
        int64_t d = shape[ndim - 1 - k], dx = x->ne[x->ndim - 1 - k];
        ok = d == dx || d == 1;
    }
    if (!ok) {
        T tmp = {.ndim = ndim > 0 && ndim <= FERRY_MAX_DIMS ? ndim : 0};
        for (int k = 0; k < tmp.ndim; k++) tmp.ne[k] = shape[k];
        return ferry_shape_error("sum_to", "the target shape must be x's with some dimensions 1 or dropped", x, &tmp);
    }
    return ferry_new_op(ctx, FERRY_OP_SUM_TO, FERRY_F32, ndim, shape, 1, SRCS(x));
}

ferry_tensor_t *ferry_scale(ferry_ctx_t *ctx, T *a, float s)
{
    CHECK(a);
    T *t = OP(ctx, FERRY_OP_SCALE, a, a);
    if (t) t->fp[0] = s;
    return t;
}

ferry_tensor_t *ferry_scale_by(ferry_ctx_t *ctx, T *a, T *s, float c)
{
    CHECK(a, s);
    if (!is_scalar(s)) return ferry_shape_error("scale_by", "the factor must have one element", s, NULL);
    T *t = OP(ctx, FERRY_OP_SCALE_BY, a, a, s);
    if (t) t->fp[0] = c;
    return t;
}

ferry_tensor_t *ferry_add_bias(ferry_ctx_t *ctx, T *x, T *b)
{
    CHECK(x, b);
    if ((x->ndim != 2 && x->ndim != 4) || b->ndim != 1 || b->ne[0] != x->ne[1])
        return ferry_shape_error("add_bias", "expects x [N,C] or [N,C,H,W] and bias [C]", x, b);
    return OP(ctx, FERRY_OP_ADD_BIAS, x, x, b);
}

static T *unary(ferry_ctx_t *ctx, T *x, enum ferry_unary kind, float slope)
{
    CHECK(x);
    T *t = OP(ctx, FERRY_OP_UNARY, x, x);
    if (t) {
        t->ip[0] = (int32_t)kind;
        t->fp[0] = slope;
    }
    return t;
}

ferry_tensor_t *ferry_relu(ferry_ctx_t *ctx, T *x) { return unary(ctx, x, FERRY_UNARY_RELU, 0); }
ferry_tensor_t *ferry_leaky_relu(ferry_ctx_t *ctx, T *x, float slope)
{
    return unary(ctx, x, FERRY_UNARY_LEAKY_RELU, slope);
}
ferry_tensor_t *ferry_sigmoid(ferry_ctx_t *ctx, T *x) { return unary(ctx, x, FERRY_UNARY_SIGMOID, 0); }
ferry_tensor_t *ferry_tanh(ferry_ctx_t *ctx, T *x) { return unary(ctx, x, FERRY_UNARY_TANH, 0); }
ferry_tensor_t *ferry_exp(ferry_ctx_t *ctx, T *x) { return unary(ctx, x, FERRY_UNARY_EXP, 0); }
ferry_tensor_t *ferry_reciprocal(ferry_ctx_t *ctx, T *x) { return unary(ctx, x, FERRY_UNARY_RECIP, 0); }

static T *rowwise(ferry_ctx_t *ctx, T *x, enum ferry_op op)
{
    CHECK(x);
    if (x->ndim != 2) return ferry_shape_error(ferry_op_name(op), "expects a 2-D tensor [N,K]", x, NULL);
    return OP(ctx, op, x, x);
}

ferry_tensor_t *ferry_softmax(ferry_ctx_t *ctx, T *x) { return rowwise(ctx, x, FERRY_OP_SOFTMAX); }
ferry_tensor_t *ferry_log_softmax(ferry_ctx_t *ctx, T *x)
{
    return rowwise(ctx, x, FERRY_OP_LOG_SOFTMAX);
}

/* ---- matmul, conv, pool ------------------------------------------------------------------------ */

ferry_tensor_t *ferry_matmul(ferry_ctx_t *ctx, T *a, T *b, bool ta, bool tb)
{
    CHECK(a, b);
    if (a->ndim != 2 || b->ndim != 2) return ferry_shape_error("matmul", "expects 2-D tensors", a, b);
    int64_t m = ta ? a->ne[1] : a->ne[0], ka = ta ? a->ne[0] : a->ne[1];
    int64_t kb = tb ? b->ne[1] : b->ne[0], n = tb ? b->ne[0] : b->ne[1];
    if (ka != kb) return ferry_shape_error("matmul", "inner dimensions differ", a, b);
    T *t = ferry_new_op(ctx, FERRY_OP_MATMUL, FERRY_F32, 2, (int64_t[]){m, n}, 2, SRCS(a, b));
    if (t) {
        t->ip[0] = ta;
        t->ip[1] = tb;
    }
    return t;
}

static T *pool(ferry_ctx_t *ctx, T *x, enum ferry_op op, int kh, int kw, int sh, int sw, int ph,
               int pw)
{
    CHECK(x);
    if (x->ndim != 4) return ferry_shape_error(ferry_op_name(op), "expects x [N,C,H,W]", x, NULL);
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw) {
        ferry_error(FERRY_ERR_INVALID, "%s: kernel %dx%d, stride %dx%d, padding %dx%d invalid",
                    ferry_op_name(op), kh, kw, sh, sw, ph, pw);
        return NULL;
    }
    if (x->ne[2] + 2 * ph < kh || x->ne[3] + 2 * pw < kw)
        return ferry_shape_error(ferry_op_name(op), "window larger than the padded input", x, NULL);
    int64_t oh = (x->ne[2] + 2 * ph - kh) / sh + 1, ow = (x->ne[3] + 2 * pw - kw) / sw + 1;
    T *t = ferry_new_op(ctx, op, FERRY_F32, 4, (int64_t[]){x->ne[0], x->ne[1], oh, ow}, 1, SRCS(x));
    if (t) memcpy(t->ip, (int32_t[]){kh, kw, sh, sw, ph, pw, ph, pw}, 8 * sizeof(int32_t));
    return t;
}

ferry_tensor_t *ferry_max_pool2d(ferry_ctx_t *ctx, T *x, int k, int stride, int pad)
{
    return pool(ctx, x, FERRY_OP_MAX_POOL, k, k, stride, stride, pad, pad);
}

ferry_tensor_t *ferry_avg_pool2d(ferry_ctx_t *ctx, T *x, int k, int stride, int pad)
{
    return pool(ctx, x, FERRY_OP_AVG_POOL, k, k, stride, stride, pad, pad);
}

ferry_tensor_t *ferry_global_avg_pool(ferry_ctx_t *ctx, T *x)
{
    CHECK(x);
    if (x->ndim != 4) return ferry_shape_error("global_avg_pool", "expects x [N,C,H,W]", x, NULL);
    T *p = pool(ctx, x, FERRY_OP_AVG_POOL, (int)x->ne[2], (int)x->ne[3], 1, 1, 0, 0);
    return ferry_reshape(ctx, p, 2, (int64_t[]){x->ne[0], x->ne[1]});
}

/* ---- losses ----------------------------------------------------------------------------------- */

ferry_tensor_t *ferry_cross_entropy(ferry_ctx_t *ctx, T *logits, T *labels, float smoothing)
{
    CHECK(logits, labels);
    if (logits->ndim != 2 || labels->ndim != 1 || labels->ne[0] != logits->ne[0] ||
        labels->dtype != FERRY_I32)
        return ferry_shape_error("cross_entropy", "expects logits [N,K] and I32 labels [N]", logits,
                           labels);
    if (!(smoothing >= 0 && smoothing < 1)) {
        ferry_error(FERRY_ERR_INVALID, "cross_entropy: label smoothing %g not in [0,1)",
                    (double)smoothing);
        return NULL;
    }
    T *t = ferry_new_op(ctx, FERRY_OP_CROSS_ENTROPY, FERRY_F32, 1, scalar_shape, 2,
                        SRCS(logits, labels));
    if (t) t->fp[0] = smoothing;
    return t;
}

ferry_tensor_t *ferry_bce_with_logits(ferry_ctx_t *ctx, T *logits, T *targets)
{
    CHECK(logits, targets);
    if (logits->numel != targets->numel || targets->dtype != FERRY_F32)
        return ferry_shape_error("bce_with_logits", "logits and F32 targets must have as many elements",
                           logits, targets);
    return ferry_new_op(ctx, FERRY_OP_BCE_LOGITS, FERRY_F32, 1, scalar_shape, 2,
                        SRCS(logits, targets));
}

ferry_tensor_t *ferry_mse(ferry_ctx_t *ctx, T *a, T *b)
{
    CHECK(a, b);
    if (!ferry_same_shape(a, b)) return ferry_shape_error("mse", "shapes differ", a, b);
    T *d = ferry_sub(ctx, a, b);
    return ferry_mean(ctx, ferry_mul(ctx, d, d));
}

/* ---- regularisation, normalisation ----------------------------------------------------------- */

ferry_tensor_t *ferry_dropout(ferry_ctx_t *ctx, T *x, T *seed, float p, uint32_t salt)
{
    CHECK(x, seed);
    if (seed->dtype != FERRY_I32 || !is_scalar(seed))
        return ferry_shape_error("dropout", "the seed must be one I32 element", seed, NULL);
    if (!(p >= 0 && p < 1)) {
        ferry_error(FERRY_ERR_INVALID, "dropout: probability %g not in [0,1)", (double)p);
        return NULL;
    }
    T *t = OP(ctx, FERRY_OP_DROPOUT, x, x, seed);
    if (t) {
        t->fp[0] = p;
        t->ip[0] = (int32_t)salt;
    }
    return t;
}

ferry_tensor_t *ferry_batch_norm(ferry_ctx_t *ctx, T *x, T *gamma, T *beta, T *rmean, T *rvar,
                                 bool train, float momentum, float eps)
{
    CHECK(x, beta, rmean, rvar);
    if (x->ndim != 2 && x->ndim != 4)
        return ferry_shape_error("batch_norm", "expects x [N,C] or [N,C,H,W]", x, NULL);
    if (!gamma) { /* no scale: gamma fixed at 1, a constant that gets no gradient */
        gamma = ferry_constant(ctx, 1.0f, 1, &x->ne[1]);
        if (!gamma) return NULL;
    }
    T *const p[] = {gamma, beta, rmean, rvar};
    for (int i = 0; i < 4; i++)
        if (p[i]->ndim != 1 || p[i]->ne[0] != x->ne[1])
            return ferry_shape_error("batch_norm", "parameters must be [C]", x, p[i]);
    if (train && x->numel / x->ne[1] < 2)
        return ferry_shape_error("batch_norm", "training needs more than one value per channel", x, NULL);
    T *t;
    if (train) {
        T *stats = ferry_new_op(ctx, FERRY_OP_BN_STATS, FERRY_F32, 2, (int64_t[]){2, x->ne[1]}, 3,
                                SRCS(x, rmean, rvar));
        if (!stats) return NULL;
        stats->fp[0] = momentum;
        stats->fp[1] = eps;
        stats->flags |= FERRY_FLAG_SIDE_EFFECT;
        t = OP(ctx, FERRY_OP_BN_APPLY, x, x, stats, gamma, beta);
    } else {
        t = OP(ctx, FERRY_OP_BN_APPLY, x, x, rmean, gamma, beta, rvar);
        if (t) t->ip[0] = 1;
    }
    if (t) t->fp[1] = eps;
    return t;
}

/* ---- shapes ---------------------------------------------------------------------------------- */

static T *view(ferry_ctx_t *ctx, enum ferry_op op, T *x, int ndim, const int64_t *shape, int64_t off)
{
    T *t = ferry_new_op(ctx, op, x->dtype, ndim, shape, 1, SRCS(x));
    if (t) {
        t->view_src = x;
        t->view_off = off;
    }
    return t;
}

ferry_tensor_t *ferry_reshape(ferry_ctx_t *ctx, T *x, int ndim, const int64_t *shape)
{
    CHECK(x);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (ndim < 1 || ndim > FERRY_MAX_DIMS || n != x->numel) {
        ferry_error(FERRY_ERR_SHAPE, "reshape: %lld elements cannot take a shape of %lld",
                    (long long)x->numel, (long long)n);
        return NULL;
    }
    return view(ctx, FERRY_OP_RESHAPE, x, ndim, shape, 0);
}

ferry_tensor_t *ferry_flatten(ferry_ctx_t *ctx, T *x)
{
    CHECK(x);
    return ferry_reshape(ctx, x, 2, (int64_t[]){x->ne[0], x->numel / x->ne[0]});
}

ferry_tensor_t *ferry_slice_batch(ferry_ctx_t *ctx, T *x, int64_t begin, int64_t end)
{
    CHECK(x);
    if (begin < 0 || end > x->ne[0] || begin >= end) {
        ferry_error(FERRY_ERR_SHAPE, "slice_batch: rows [%lld, %lld) of a tensor with %lld rows",
                    (long long)begin, (long long)end, (long long)x->ne[0]);
        return NULL;
    }
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, x->ne, sizeof shape);
    shape[0] = end - begin;
    T *t = view(ctx, FERRY_OP_SLICE, x, x->ndim, shape, begin * x->nb[0]);
    if (t) {
        t->ip[0] = (int32_t)begin;
        t->ip[1] = (int32_t)end;
    }
    return t;
}

ferry_tensor_t *ferry_concat_batch(ferry_ctx_t *ctx, T *a, T *b)
{
    CHECK(a, b);
    bool ok = a->ndim == b->ndim && a->dtype == b->dtype;
    for (int i = 1; ok && i < a->ndim; i++) ok = a->ne[i] == b->ne[i];
    if (!ok) return ferry_shape_error("concat_batch", "all but the first dimension must match", a, b);
    int64_t shape[FERRY_MAX_DIMS];
    memcpy(shape, a->ne, sizeof shape);
    shape[0] = a->ne[0] + b->ne[0];
    return ferry_new_op(ctx, FERRY_OP_CONCAT, a->dtype, a->ndim, shape, 2, SRCS(a, b));
}

/* ---- reductions, gradient reversal, metrics --------------------------------------------------- */

ferry_tensor_t *ferry_sum(ferry_ctx_t *ctx, T *x)
{
    CHECK(x);
    T *t = ferry_new_op(ctx, FERRY_OP_SUM, FERRY_F32, 1, scalar_shape, 1, SRCS(x));
    if (t) t->fp[0] = 1.0f;
    return t;
}

ferry_tensor_t *ferry_mean(ferry_ctx_t *ctx, T *x)
{
    T *t = ferry_sum(ctx, x);
    if (t) t->fp[0] = (float)(1.0 / (double)x->numel);
    return t;
}

ferry_tensor_t *ferry_detach(ferry_ctx_t *ctx, T *x)
{
    CHECK(x);
    /* a same-shape view that does not require a gradient: autodiff never walks through it */
    T *t = view(ctx, FERRY_OP_RESHAPE, x, x->ndim, x->ne, 0);
    if (t) t->flags &= ~FERRY_FLAG_REQUIRES_GRAD;
    return t;
}

ferry_tensor_t *ferry_grad_reverse(ferry_ctx_t *ctx, T *x, T *lambda)
{
    CHECK(x, lambda);
    if (!is_scalar(lambda))
        return ferry_shape_error("grad_reverse", "lambda must have one element", lambda, NULL);
    T *t = view(ctx, FERRY_OP_GRAD_REVERSE, x, x->ndim, x->ne, 0);
    if (t) t->src[1] = lambda;
    return t;
}

ferry_tensor_t *ferry_count_correct(ferry_ctx_t *ctx, T *logits, T *labels)
{
    CHECK(logits, labels);
    if (logits->ndim != 2 || labels->ndim != 1 || labels->ne[0] != logits->ne[0] ||
        labels->dtype != FERRY_I32)
        return ferry_shape_error("count_correct", "expects logits [N,K] and I32 labels [N]", logits,
                           labels);
    T *t = ferry_new_op(ctx, FERRY_OP_COUNT_CORRECT, FERRY_F32, 1, scalar_shape, 2,
                        SRCS(logits, labels));
    if (t) t->flags &= ~FERRY_FLAG_REQUIRES_GRAD;
    return t;
}

/* ---- optimizer updates --------------------------------------------------------------------------- */

static T *update_op(ferry_ctx_t *ctx, enum ferry_op op, int nsrc, T *const *srcs)
{
    if (any_null(nsrc, srcs)) return NULL;
    T *p = srcs[0], *g = srcs[1];
    if (p->leaf != FERRY_LEAF_PARAM || !ferry_same_shape(p, g))
        return ferry_shape_error(ferry_op_name(op), "expects a parameter and a gradient of its shape", p, g);
    for (int i = 2; i < nsrc - 1; i++)
        if (srcs[i]->leaf != FERRY_LEAF_PARAM || srcs[i]->numel != p->numel)
            return ferry_shape_error(ferry_op_name(op), "state must be a store entry of the parameter's size",
                               p, srcs[i]);
    bool was = ctx->in_backward;
    ctx->in_backward = true; /* an update has no gradient */
    T *t = ferry_new_op(ctx, op, FERRY_F32, p->ndim, p->ne, nsrc, srcs);
    ctx->in_backward = was;
    if (!t) return NULL;
    t->view_src = p; /* writes the parameter in place */
    t->flags |= FERRY_FLAG_SIDE_EFFECT;
    return t;
}

ferry_tensor_t *ferry_sgd_update(ferry_ctx_t *ctx, T *param, T *grad, T *mom, T *lr, float lr_mult,
                                 float momentum, float weight_decay, bool nesterov)
{
    T *t = update_op(ctx, FERRY_OP_SGD_UPDATE, 4, SRCS(param, grad, mom, lr));
    if (t) {
        t->fp[0] = lr_mult;
        t->fp[1] = momentum;
        t->fp[2] = weight_decay;
        t->ip[0] = nesterov;
    }
    return t;
}

ferry_tensor_t *ferry_adam_update(ferry_ctx_t *ctx, T *param, T *grad, T *m, T *v, T *hyper,
                                  float lr_mult, float beta1, float beta2, float eps,
                                  float weight_decay, bool decoupled)
{
    T *t = update_op(ctx, FERRY_OP_ADAM_UPDATE, 5, SRCS(param, grad, m, v, hyper));
    if (t) {
        memcpy(t->fp, (float[]){lr_mult, beta1, beta2, eps, weight_decay}, 5 * sizeof(float));
        t->ip[0] = decoupled;
    }
    return t;
}

/* =================================== backward builders ====================================== */

#define NEED(i) (node->src[i] && (node->src[i]->flags & FERRY_FLAG_REQUIRES_GRAD))

static T *gop(ferry_ctx_t *ctx, enum ferry_op op, const T *like, int nsrc, T *const *srcs)
{
    return ferry_new_op(ctx, op, FERRY_F32, like->ndim, like->ne, nsrc, srcs);
}

static void bw_view(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0];
    switch (node->op) {
    case FERRY_OP_RESHAPE: gr[0] = ferry_reshape(ctx, g, x->ndim, x->ne); break;
    case FERRY_OP_SLICE: {
        T *t = gop(ctx, FERRY_OP_PAD_BATCH, x, 1, SRCS(g));
        if (t) {
            t->ip[0] = (int32_t)x->ne[0];
            t->ip[1] = node->ip[0];
        }
        gr[0] = t;
        break;
    }
    default: /* gradient reversal */ gr[0] = ferry_scale_by(ctx, g, node->src[1], -1.0f); break;
    }
}

/* g (the gradient of a broadcast result) summed down to src's shape; g itself when the shapes match. */
static T *unbroadcast(ferry_ctx_t *ctx, T *g, const T *src)
{
    return g && !ferry_same_shape(g, src) ? ferry_sum_to(ctx, g, src->ndim, src->ne) : g;
}

static void bw_add(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    for (int i = 0; i < 2; i++)
        if (NEED(i))
            gr[i] = unbroadcast(ctx, node->fp[i] == 1.0f ? g : ferry_scale(ctx, g, node->fp[i]), node->src[i]);
}

static void bw_mul(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    if (NEED(0)) gr[0] = unbroadcast(ctx, ferry_mul(ctx, g, node->src[1]), node->src[0]);
    if (NEED(1)) gr[1] = unbroadcast(ctx, ferry_mul(ctx, g, node->src[0]), node->src[1]);
}

/* y = a/b: da = g/b, db = -g·y/b */
static void bw_div(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *b = node->src[1];
    if (NEED(0)) gr[0] = unbroadcast(ctx, ferry_div(ctx, g, b), node->src[0]);
    if (NEED(1)) gr[1] = unbroadcast(ctx, ferry_scale(ctx, ferry_div(ctx, ferry_mul(ctx, g, node), b), -1.0f), b);
}

/* max/min: the mask of where a wins (ties to a) routes g */
static void bw_minmax(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *a = node->src[0], *b = node->src[1];
    T *win = ferry_compare(ctx, a, node->op == FERRY_OP_MAXIMUM ? FERRY_CMP_GE : FERRY_CMP_LE, b);
    T *zero = ferry_constant(ctx, 0.0f, 1, (int64_t[]){1});
    if (NEED(0)) gr[0] = unbroadcast(ctx, ferry_where(ctx, win, g, zero), a);
    if (NEED(1)) gr[1] = unbroadcast(ctx, ferry_where(ctx, win, zero, g), b);
}

/* sum_to's gradient: g broadcast back to the source's shape (0 + g) */
static void bw_sum_to(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0];
    gr[0] = ferry_add(ctx, ferry_constant(ctx, 0.0f, x->ndim, x->ne), g);
}

static void bw_where(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *zero = ferry_constant(ctx, 0.0f, 1, (int64_t[]){1});
    if (NEED(0)) gr[0] = unbroadcast(ctx, ferry_where(ctx, node->src[2], g, zero), node->src[0]);
    if (NEED(1)) gr[1] = unbroadcast(ctx, ferry_where(ctx, node->src[2], zero, g), node->src[1]);
}

static void bw_scale(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    gr[0] = ferry_scale(ctx, g, node->fp[0]);
}

static void bw_scale_by(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    if (NEED(0)) gr[0] = ferry_scale_by(ctx, g, node->src[1], node->fp[0]);
    if (NEED(1)) /* d/ds (a·s·c) = c·sum(g·a) */
        gr[1] = ferry_scale(ctx, ferry_sum(ctx, ferry_mul(ctx, g, node->src[0])), node->fp[0]);
}

static void bw_add_bias(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    if (NEED(0)) gr[0] = g;
    if (NEED(1)) gr[1] = gop(ctx, FERRY_OP_BIAS_GRAD, node->src[1], 1, SRCS(g));
}

static void bw_unary(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    enum ferry_unary k = (enum ferry_unary)node->ip[0];
    /* relu/leaky use the input; sigmoid/tanh the output */
    T *ref = ferry_unary_bwd_uses_output(k) ? node : node->src[0];
    T *t = gop(ctx, FERRY_OP_UNARY_BWD, node, 2, SRCS(g, ref));
    if (t) {
        t->ip[0] = node->ip[0];
        t->fp[0] = node->fp[0];
        t->fp[1] = node->fp[1];
    }
    gr[0] = t;
}

static void bw_softmax(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    enum ferry_op op =
        node->op == FERRY_OP_SOFTMAX ? FERRY_OP_SOFTMAX_BWD : FERRY_OP_LOG_SOFTMAX_BWD;
    gr[0] = gop(ctx, op, node, 2, SRCS(g, node));
}

static void bw_matmul(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *a = node->src[0], *b = node->src[1];
    bool ta = node->ip[0], tb = node->ip[1];
    /* C = op(A)·op(B): dA = g·op(B)^T (transposed back if A was), dB likewise. */
    if (NEED(0)) gr[0] = ta ? ferry_matmul(ctx, b, g, tb, true) : ferry_matmul(ctx, g, b, false, !tb);
    if (NEED(1)) gr[1] = tb ? ferry_matmul(ctx, g, a, true, ta) : ferry_matmul(ctx, a, g, !ta, false);
}

static void bw_pool(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *t = node->op == FERRY_OP_MAX_POOL
               ? gop(ctx, FERRY_OP_MAX_POOL_BWD, node->src[0], 2, SRCS(g, node->src[0]))
               : gop(ctx, FERRY_OP_AVG_POOL_BWD, node->src[0], 1, SRCS(g));
    if (t) {
        memcpy(t->ip, node->ip, sizeof t->ip);
        t->fp[0] = node->fp[0];
    }
    gr[0] = t;
}

static void bw_loss(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    enum ferry_op op = node->op == FERRY_OP_CROSS_ENTROPY ? FERRY_OP_CROSS_ENTROPY_BWD
                                                          : FERRY_OP_BCE_LOGITS_BWD;
    T *t = gop(ctx, op, node->src[0], 3, SRCS(g, node->src[0], node->src[1]));
    if (t) t->fp[0] = node->fp[0];
    gr[0] = t;
    /* targets of BCE could require grad in principle; Ferry treats targets as data */
}

static void bw_dropout(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    gr[0] = ferry_dropout(ctx, g, node->src[1], node->fp[0], (uint32_t)node->ip[0]);
}

static void bw_bn(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *x = node->src[0];
    if (node->ip[0]) { /* eval mode: an affine map with fixed statistics (ops_unary.c) */
        ferry_bw_bn_eval(ctx, node, g, gr);
        return;
    }
    T *stats = node->src[1], *gamma = node->src[2];
    T *dp = ferry_new_op(ctx, FERRY_OP_BN_BWD_PARAMS, FERRY_F32, 2, stats->ne, 3,
                         SRCS(g, x, stats));
    if (NEED(0)) gr[0] = gop(ctx, FERRY_OP_BN_BWD_DATA, x, 5, SRCS(g, x, stats, gamma, dp));
    if (NEED(2)) gr[2] = ferry_reshape(ctx, ferry_slice_batch(ctx, dp, 0, 1), 1, gamma->ne);
    if (NEED(3)) gr[3] = ferry_reshape(ctx, ferry_slice_batch(ctx, dp, 1, 2), 1, gamma->ne);
}

static void bw_concat(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    int64_t na = node->src[0]->ne[0];
    if (NEED(0)) gr[0] = ferry_slice_batch(ctx, g, 0, na);
    if (NEED(1)) gr[1] = ferry_slice_batch(ctx, g, na, node->ne[0]);
}

static void bw_sum(ferry_ctx_t *ctx, T *node, T *g, T **gr)
{
    T *t = gop(ctx, FERRY_OP_BROADCAST, node->src[0], 1, SRCS(g));
    if (t) t->fp[0] = node->fp[0];
    gr[0] = t;
}

/* The backward builders, from the registry: a grad-FN op without a builder fails to compile (its
 * name is undeclared), and so does a builder named for an op that has none (0 is not a function). */
static const ferry_backward_fn backward_fns[] = {
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) [FERRY_OP_##NAME] = backward,
#include "ops.def"
};
_Static_assert(sizeof backward_fns / sizeof *backward_fns == FERRY_OP_COUNT, "one entry per op");

ferry_backward_fn ferry_op_backward(enum ferry_op op)
{
    return (unsigned)op < FERRY_OP_COUNT ? backward_fns[op] : NULL;
}
