/* Vulkan kernels of the element-wise, row, loss, normalisation, pooling, reduction and optimizer
 * ops: how each node maps onto the shaders of shaders/elementwise/ (push constants per shader are
 * documented at the top of each .comp file). */
#include "vk_ops.h"

#include <math.h>
#include <stdint.h>

#define LOCAL 256
#define REDUCE 256 /* must match FERRY_REDUCE in reduce.comp and WG in chan.comp */
#define WRITES_DST FERRY_VK_BIT(FERRY_VK_B_DST)

static struct ferry_vk_dispatch *grid(struct ferry_vk_plan *p, const struct ferry_vk_caps *caps,
                                      const char *shader, int64_t n)
{
    return ferry_vk_add_grid(p, caps, shader, n, LOCAL);
}

/* One workgroup of REDUCE invocations (reductions to a scalar). */
static struct ferry_vk_dispatch *single(struct ferry_vk_plan *p, const char *shader)
{
    struct ferry_vk_dispatch *d = &p->d[p->n++];
    d->shader = shader;
    d->spec[0] = REDUCE;
    d->spec[1] = d->spec[2] = 1;
    d->groups[0] = d->groups[1] = d->groups[2] = 1;
    d->writes = WRITES_DST;
    return d;
}

/* N, C and elements per channel plane of a 2-D [N,C] or 4-D [N,C,H,W] tensor. */
static void ncs(const struct ferry_tensor *x, int64_t *n, int64_t *c, int64_t *s)
{
    *n = x->ne[0];
    *c = x->ndim > 1 ? x->ne[1] : 1;
    *s = x->numel / (*n * *c);
}

/* Sizes travel as int32 push constants and indices as uint: every tensor of the node must have fewer
 * than 2^31 elements; workgroup counts must be within the device's limits (per-channel kernels use
 * one workgroup per channel). */
static ferry_status check_plan(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                               const struct ferry_vk_plan *p)
{
    ferry_status s = ferry_vk_check_sizes(t);
    if (s) return s;
    for (int q = 0; q < p->n; q++)
        for (int j = 0; j < 3; j++)
            if (p->d[q].groups[j] > caps->max_group_count[j])
                return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s of this size needs %u workgroups, past the "
                                   "device's %u", ferry_op_name(t->op), p->d[q].groups[j], caps->max_group_count[j]);
    return FERRY_OK;
}

/* Splits the plan's one dispatch, a grid over `granules` × `per_granule` items (i0 = the item count),
 * into parts of whole granules when a binding b with epg[b] > 0 elements per granule spans more than
 * caps->max_binding: each part sees its granules as tensors of their own (views from the part's first
 * granule, i0 = its item count). Only for kernels whose result for an item depends on nothing but the
 * item's index within its granule; bindings with epg[b] = 0 stay whole. */
static ferry_status split_granules(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                   struct ferry_vk_plan *p, int64_t granules, int64_t per_granule,
                                   const int64_t epg[FERRY_VK_BINDINGS])
{
    const uint64_t lim = caps->max_binding;
    int64_t widest = 0;
    for (int b = 0; b < FERRY_VK_BINDINGS; b++)
        if (epg[b] > widest) widest = epg[b];
    if (!lim || widest == 0 || (uint64_t)(granules * widest) * 4 <= lim || p->n != 1) return FERRY_OK;
    const int64_t per = (int64_t)(lim / 4) / widest;
    const int64_t parts = per > 0 ? (granules + per - 1) / per : 0;
    if (parts < 1 || parts > FERRY_VK_MAX_DISPATCH)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s needs %lld parts of at most %llu bytes per "
                           "operand (at most %d; %lld elements in the smallest part)", ferry_op_name(t->op),
                           (long long)parts, (unsigned long long)lim, FERRY_VK_MAX_DISPATCH, (long long)widest);
    const struct ferry_vk_dispatch whole = p->d[0];
    p->n = 0;
    for (int64_t i = 0; i < parts; i++) {
        const int64_t first = i * per, count = first + per < granules ? per : granules - first;
        struct ferry_vk_dispatch *d = &p->d[p->n++];
        *d = whole;
        ferry_vk_grid1(d, caps, count * per_granule, whole.spec[0]);
        d->pc.i[0] = (int32_t)(count * per_granule);
        for (int b = 0; b < FERRY_VK_BINDINGS; b++)
            if (epg[b] > 0)
                d->view[b] = (struct ferry_vk_view){(uint32_t)(first * epg[b]), (uint32_t)(count * epg[b])};
    }
    return FERRY_OK;
}

/* The same for n items in granules of `granule` items, one element per item in each binding of mask. */
static ferry_status split_items(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                struct ferry_vk_plan *p, uint32_t mask, int64_t n, int64_t granule)
{
    if (granule < 1 || n % granule != 0) granule = n > 0 ? n : 1;
    int64_t epg[FERRY_VK_BINDINGS] = {0};
    for (int b = 0; b < FERRY_VK_BINDINGS; b++)
        if (mask & FERRY_VK_BIT(b)) epg[b] = granule;
    return split_granules(t, caps, p, n / granule, granule, epg);
}

#define B_DST FERRY_VK_BIT(FERRY_VK_B_DST)
#define B_S(j) FERRY_VK_BIT(FERRY_VK_B_SRC(j))

/* A plan function: the body fills the plan, the wrapper checks it. */
#define PLAN(name) \
    static ferry_status name##_body(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, \
                                    struct ferry_vk_plan *p); \
    ferry_status ferry_vk_##name(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p) \
    { \
        const ferry_status s = name##_body(t, caps, p); \
        return s == FERRY_OK ? check_plan(t, caps, p) : s; \
    } \
    static ferry_status name##_body(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p)

/* src's broadcast strides (ferry_broadcast_strides) as int32 push constants */
static void bstrides(const struct ferry_tensor *src, const int64_t dd[4], int32_t *s)
{
    int64_t s64[4];
    ferry_broadcast_strides(src, dd, s64);
    for (int k = 0; k < 4; k++) s[k] = (int32_t)s64[k];
}

static bool same_shapes(const struct ferry_tensor *t)
{
    return t->src[0]->numel == t->numel && t->src[1]->numel == t->numel;
}

/* The broadcasting form (binary.comp) of op t. */
static struct ferry_vk_dispatch *bcast(struct ferry_vk_plan *p, const struct ferry_vk_caps *caps,
                                       const char *shader, const struct ferry_tensor *t)
{
    struct ferry_vk_dispatch *d = grid(p, caps, shader, t->numel);
    int64_t dd[4];
    ferry_dims4(t, dd);
    for (int k = 1; k < 4; k++) d->pc.i[k] = (int32_t)dd[k];
    bstrides(t->src[0], dd, &d->pc.i[4]);
    bstrides(t->src[1], dd, &d->pc.i[8]);
    if (t->src[2]) bstrides(t->src[2], dd, &d->pc.i[12]);
    return d;
}

PLAN(plan_add)
{
    const bool same = same_shapes(t);
    struct ferry_vk_dispatch *d = same ? grid(p, caps, "add", t->numel) : bcast(p, caps, "add_bcast", t);
    d->pc.f[0] = t->fp[0];
    d->pc.f[1] = t->fp[1];
    return same ? split_items(t, caps, p, B_DST | B_S(0) | B_S(1), t->numel, 1) : FERRY_OK;
}

PLAN(plan_mul)
{
    if (!same_shapes(t)) {
        bcast(p, caps, "mul_bcast", t);
        return FERRY_OK;
    }
    grid(p, caps, "mul", t->numel);
    return split_items(t, caps, p, B_DST | B_S(0) | B_S(1), t->numel, 1);
}

PLAN(plan_binary)
{
    const char *name = t->op == FERRY_OP_DIV       ? "div"
                       : t->op == FERRY_OP_MAXIMUM ? "maximum"
                       : t->op == FERRY_OP_MINIMUM ? "minimum"
                       : t->op == FERRY_OP_COMPARE ? "compare"
                                                   : "where";
    struct ferry_vk_dispatch *d = bcast(p, caps, name, t);
    if (t->op == FERRY_OP_COMPARE) d->pc.i[12] = t->ip[0];
    return FERRY_OK;
}

PLAN(plan_sum_to)
{
    struct ferry_vk_dispatch *d = grid(p, caps, "sum_to", t->numel);
    int64_t gd[4], dd[4];
    ferry_dims4(t->src[0], gd);
    ferry_dims4(t, dd);
    for (int k = 0; k < 4; k++) {
        d->pc.i[1 + k] = (int32_t)gd[k];
        d->pc.i[5 + k] = (int32_t)dd[k];
    }
    return FERRY_OK;
}

PLAN(plan_scale)
{
    grid(p, caps, "scale", t->numel)->pc.f[0] = t->fp[0];
    return split_items(t, caps, p, B_DST | B_S(0), t->numel, 1);
}

PLAN(plan_scale_by)
{
    grid(p, caps, "scale_by", t->numel)->pc.f[0] = t->fp[0];
    return split_items(t, caps, p, B_DST | B_S(0), t->numel, 1);
}

PLAN(plan_add_bias)
{
    int64_t n, c, s;
    ncs(t, &n, &c, &s);
    struct ferry_vk_dispatch *d = grid(p, caps, "add_bias", t->numel);
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    return split_items(t, caps, p, B_DST | B_S(0), t->numel, c * s);
}

PLAN(plan_bias_grad)
{
    (void)caps;
    int64_t n, c, s;
    ncs(t->src[0], &n, &c, &s);
    struct ferry_vk_dispatch *d = single(p, "bias_grad");
    d->groups[0] = (uint32_t)c;
    d->pc.i[0] = (int32_t)n;
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    return FERRY_OK;
}

PLAN(plan_unary)
{
    const bool fwd = t->op == FERRY_OP_UNARY;
    struct ferry_vk_dispatch *d = grid(p, caps, fwd ? "unary" : "unary_bwd", t->numel);
    d->pc.i[1] = t->ip[0];
    d->pc.f[0] = t->fp[0];
    d->pc.f[1] = t->fp[1];
    return split_items(t, caps, p, B_DST | B_S(0) | (fwd ? 0 : B_S(1)), t->numel, 1);
}

PLAN(plan_rows)
{
    const char *name = t->op == FERRY_OP_SOFTMAX       ? "softmax"
                       : t->op == FERRY_OP_LOG_SOFTMAX ? "log_softmax"
                       : t->op == FERRY_OP_SOFTMAX_BWD ? "softmax_bwd"
                       : t->op == FERRY_OP_LOG_SOFTMAX_BWD ? "log_softmax_bwd"
                                                           : "ce_bwd";
    struct ferry_vk_dispatch *d = grid(p, caps, name, t->ne[0]);
    d->pc.i[0] = (int32_t)t->ne[0];
    d->pc.i[1] = (int32_t)t->ne[1];
    d->pc.f[0] = t->fp[0];
    return FERRY_OK;
}

PLAN(plan_cross_entropy)
{
    (void)caps;
    struct ferry_vk_dispatch *d = single(p, "cross_entropy");
    d->pc.i[0] = (int32_t)t->src[0]->ne[0];
    d->pc.i[1] = (int32_t)t->src[0]->ne[1];
    d->pc.f[0] = t->fp[0];
    return FERRY_OK;
}

PLAN(plan_bce)
{
    (void)caps;
    single(p, "bce")->pc.i[0] = (int32_t)t->src[0]->numel;
    return FERRY_OK;
}

PLAN(plan_bce_bwd)
{
    grid(p, caps, "bce_bwd", t->numel);
    return FERRY_OK;
}

PLAN(plan_dropout)
{
    struct ferry_vk_dispatch *d = grid(p, caps, "dropout", t->numel);
    /* keep(i) = hash >= p·2^32, i.e. hash >= ceil(p·2^32) for an integer hash */
    const double thr = ceil((double)t->fp[0] * 4294967296.0);
    d->pc.i[1] = t->ip[0];
    d->pc.i[2] = thr <= 4294967295.0 ? (int32_t)(uint32_t)thr : 0;
    d->pc.i[3] = thr > 4294967295.0;
    d->pc.f[1] = 1.0f / (1.0f - t->fp[0]);
    return FERRY_OK;
}

PLAN(plan_bn_stats)
{
    (void)caps;
    int64_t n, c, s;
    ncs(t->src[0], &n, &c, &s);
    struct ferry_vk_dispatch *d = single(p, "bn_stats");
    d->groups[0] = (uint32_t)c;
    d->pc.i[0] = (int32_t)n;
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    d->pc.f[0] = t->fp[0];
    d->pc.f[1] = t->fp[1];
    d->writes = WRITES_DST | FERRY_VK_BIT(FERRY_VK_B_SRC(1)) | FERRY_VK_BIT(FERRY_VK_B_SRC(2));
    return FERRY_OK;
}

PLAN(plan_bn_apply)
{
    int64_t n, c, s;
    ncs(t, &n, &c, &s);
    struct ferry_vk_dispatch *d = grid(p, caps, "bn_apply", t->numel);
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    d->pc.i[3] = t->ip[0] != 0;
    d->pc.f[1] = t->fp[1];
    return split_items(t, caps, p, B_DST | B_S(0), t->numel, c * s);
}

PLAN(plan_bn_bwd_params)
{
    (void)caps;
    int64_t n, c, s;
    ncs(t->src[1], &n, &c, &s);
    struct ferry_vk_dispatch *d = single(p, "bn_bwd_params");
    d->groups[0] = (uint32_t)c;
    d->pc.i[0] = (int32_t)n;
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    return FERRY_OK;
}

PLAN(plan_bn_bwd_data)
{
    int64_t n, c, s;
    ncs(t, &n, &c, &s);
    struct ferry_vk_dispatch *d = grid(p, caps, "bn_bwd_data", t->numel);
    d->pc.i[1] = (int32_t)c;
    d->pc.i[2] = (int32_t)s;
    d->pc.i[3] = (int32_t)(n * s);
    return split_items(t, caps, p, B_DST | B_S(0) | B_S(1), t->numel, c * s);
}

PLAN(plan_concat)
{
    grid(p, caps, "concat", t->numel)->pc.i[1] = (int32_t)t->src[0]->numel;
    return FERRY_OK;
}

PLAN(plan_pad_batch)
{
    struct ferry_vk_dispatch *d = grid(p, caps, "pad_batch", t->numel);
    d->pc.i[1] = (int32_t)((int64_t)t->ip[1] * (t->numel / t->ne[0]));
    d->pc.i[2] = (int32_t)t->src[0]->numel;
    return FERRY_OK;
}

PLAN(plan_sum)
{
    (void)caps;
    struct ferry_vk_dispatch *d = single(p, "sum");
    d->pc.i[0] = (int32_t)t->src[0]->numel;
    d->pc.f[0] = t->fp[0];
    return FERRY_OK;
}

PLAN(plan_broadcast)
{
    grid(p, caps, "broadcast", t->numel)->pc.f[0] = t->fp[0];
    return split_items(t, caps, p, B_DST, t->numel, 1);
}

PLAN(plan_count_correct)
{
    (void)caps;
    struct ferry_vk_dispatch *d = single(p, "count_correct");
    d->pc.i[0] = (int32_t)t->src[0]->ne[0];
    d->pc.i[1] = (int32_t)t->src[0]->ne[1];
    return FERRY_OK;
}

PLAN(plan_sgd)
{
    struct ferry_vk_dispatch *d = grid(p, caps, "sgd_update", t->src[0]->numel);
    for (int k = 0; k < 3; k++) d->pc.f[k] = t->fp[k];
    d->pc.i[1] = t->ip[0];
    d->writes = WRITES_DST | FERRY_VK_BIT(FERRY_VK_B_SRC(0)) | FERRY_VK_BIT(FERRY_VK_B_SRC(2));
    return split_items(t, caps, p, B_DST | B_S(0) | B_S(1) | B_S(2), t->src[0]->numel, 1);
}

PLAN(plan_adam)
{
    struct ferry_vk_dispatch *d = grid(p, caps, "adam_update", t->src[0]->numel);
    for (int k = 0; k < 5; k++) d->pc.f[k] = t->fp[k];
    d->pc.i[1] = t->ip[0];
    d->writes = WRITES_DST | FERRY_VK_BIT(FERRY_VK_B_SRC(0)) | FERRY_VK_BIT(FERRY_VK_B_SRC(2)) |
                FERRY_VK_BIT(FERRY_VK_B_SRC(3));
    return split_items(t, caps, p, B_DST | B_S(0) | B_S(1) | B_S(2) | B_S(3), t->src[0]->numel, 1);
}

PLAN(plan_pool)
{
    const bool bwd = t->op == FERRY_OP_MAX_POOL_BWD || t->op == FERRY_OP_AVG_POOL_BWD;
    const bool max = t->op == FERRY_OP_MAX_POOL || t->op == FERRY_OP_MAX_POOL_BWD;
    const int64_t *x = bwd ? t->ne : t->src[0]->ne, *y = bwd ? t->src[0]->ne : t->ne;
    const char *name = max ? (bwd ? "max_pool_bwd" : "max_pool") : (bwd ? "avg_pool_bwd" : "avg_pool");
    struct ferry_vk_dispatch *d = grid(p, caps, name, t->numel);
    d->pc.i[1] = (int32_t)x[2];
    d->pc.i[2] = (int32_t)x[3];
    d->pc.i[3] = (int32_t)y[2];
    d->pc.i[4] = (int32_t)y[3];
    for (int k = 0; k < 8; k++) d->pc.i[5 + k] = t->ip[k]; /* kh, kw, sh, sw, pt, pl, pb, pr */
    d->pc.i[13] = !max && t->fp[0] != 0.0f;
    d->pc.f[0] = 1.0f / (float)(t->ip[0] * t->ip[1]);
    /* planes of their own: forward, an output plane from an input plane; backward, an input-gradient
       plane from an output-gradient plane (and, for the maximum, the input plane) */
    const int64_t xs = x[2] * x[3], ys = y[2] * y[3];
    int64_t epg[FERRY_VK_BINDINGS] = {0};
    epg[FERRY_VK_B_DST] = bwd ? xs : ys;
    epg[FERRY_VK_B_SRC(0)] = bwd ? ys : xs;
    if (bwd && max) epg[FERRY_VK_B_SRC(1)] = xs;
    return split_granules(t, caps, p, x[0] * x[1], bwd ? xs : ys, epg);
}

PLAN(plan_adaptive_pool)
{
    const bool bwd = t->op == FERRY_OP_ADAPTIVE_AVG_POOL_BWD;
    const int64_t *x = bwd ? t->ne : t->src[0]->ne, *y = bwd ? t->src[0]->ne : t->ne;
    struct ferry_vk_dispatch *d =
        grid(p, caps, bwd ? "adaptive_avg_pool_bwd" : "adaptive_avg_pool", t->numel);
    d->pc.i[1] = (int32_t)x[2];
    d->pc.i[2] = (int32_t)x[3];
    d->pc.i[3] = (int32_t)y[2];
    d->pc.i[4] = (int32_t)y[3];
    return FERRY_OK;
}
