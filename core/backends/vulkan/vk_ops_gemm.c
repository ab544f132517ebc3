/* Vulkan kernels of the GEMM family: matmul and convolution as implicit GEMM, forward and both
 * backward passes (shaders/gemm/gemm.comp). Tile sizes are specialization constants chosen here per
 * device and per problem shape. */
#include "vk_ops.h"
#include "ops_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tiles {
    uint32_t bm, bn, bk, tm, tn;
};

/* 64×64 tiles of 4×4 per invocation (256 invocations, 8 KiB of shared memory) where the device and
 * the problem allow; 32-row tiles for short matrices; smaller where the device demands it. */
static struct tiles pick_tiles(const struct ferry_vk_caps *caps, int64_t m, int64_t n)
{
    struct tiles t = {64, 64, 16, 4, 4};
    const char *e = getenv("FERRY_VK_TILES"); /* "BM,BN,BK,TM,TN" (benchmarks) */
    if (e && sscanf(e, "%u,%u,%u,%u,%u", &t.bm, &t.bn, &t.bk, &t.tm, &t.tn) == 5 && t.tm && t.tn &&
        t.bm % t.tm == 0 && t.bn % t.tn == 0)
        return t;
    if (caps->is_cpu) { /* lavapipe: 8×8 per invocation, 64 invocations, fewer barrier switches */
        t.tm = t.tn = 8;
        return t;
    }
    if (m <= 32) t.bm = 32;
    if (n <= 32) t.bn = 32;
    uint32_t threads = (t.bm / t.tm) * (t.bn / t.tn);
    while ((threads > caps->max_invocations || threads > caps->max_group_size[0] ||
            (size_t)(t.bm + t.bn) * t.bk * 4 > caps->max_shared_bytes) && t.bm > 8) {
        t.bm /= 2;
        t.bn /= 2;
        threads = (t.bm / t.tm) * (t.bn / t.tn);
    }
    return t;
}

static struct ferry_vk_dispatch *gemm(struct ferry_vk_plan *p, const struct ferry_vk_caps *caps,
                                      const char *shader, int64_t m, int64_t n, int64_t k, uint32_t splits)
{
    struct ferry_vk_dispatch *d = &p->d[p->n++];
    d->pc.i[0] = (int32_t)m;
    d->pc.i[1] = (int32_t)n;
    d->pc.i[2] = (int32_t)k;
    d->writes = FERRY_VK_BIT(FERRY_VK_B_DST);
    struct tiles t = pick_tiles(caps, m, n);
    d->shader = shader;
    d->spec[0] = (t.bm / t.tm) * (t.bn / t.tn);
    d->spec[1] = d->spec[2] = 1;
    d->spec[3] = t.bm;
    d->spec[4] = t.bn;
    d->spec[5] = t.bk;
    d->spec[6] = t.tm;
    d->spec[7] = t.tn;
    d->groups[0] = ferry_vk_div_up(n, t.bn);
    d->groups[1] = ferry_vk_div_up(m, t.bm);
    d->groups[2] = splits;
    return d;
}

static ferry_status check_groups(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                 const struct ferry_vk_plan *p)
{
    for (int q = 0; q < p->n; q++)
        for (int j = 0; j < 3; j++)
            if (p->d[q].groups[j] > caps->max_group_count[j])
                return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s of this size needs %u workgroups, past the "
                                   "device's %u", ferry_op_name(t->op), p->d[q].groups[j], caps->max_group_count[j]);
    return FERRY_OK;
}

ferry_status ferry_vk_plan_matmul(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p)
{
    const bool ta = t->ip[0] != 0;
    const int64_t m = t->ne[0], n = t->ne[1], k = ta ? t->src[0]->ne[0] : t->src[0]->ne[1];
    struct ferry_vk_dispatch *d = gemm(p, caps, "matmul", m, n, k, 1);
    d->pc.i[3] = t->ip[0];
    d->pc.i[4] = t->ip[1];
    return check_groups(t, caps, p);
}

/* x [Nb,C,H,W], w [O,C/G,KH,KW], y [Nb,O,OH,OW] into i5..i15: i5 = G, i6 = C, i7 = H, i8 = W,
 * i9 = O, i10 = KH, i11 = KW, i12 = OH, i13 = OW, i14 = stride_h | stride_w << 8 | dilation_h << 16 |
 * dilation_w << 24, i15 = pad_top | pad_left << 16 (bottom and right padding only shape OH, OW). */
static ferry_status conv_geometry(struct ferry_vk_dispatch *d, const int64_t *x, const int64_t *w,
                                  const int64_t *y, const struct ferry_tensor *t)
{
    const struct ferry_conv_geom g = ferry_conv_get(t);
    if (g.sh > 255 || g.sw > 255 || g.dh > 255 || g.dw > 255 || g.pt > 0xffff || g.pl > 0xffff)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s with stride (%d,%d) / dilation (%d,%d) "
                           "past 255 or padding (%d,%d) past 65535", ferry_op_name(t->op), g.sh, g.sw,
                           g.dh, g.dw, g.pt, g.pl);
    const int64_t v[11] = {g.groups, x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3],
                           g.sh | g.sw << 8 | g.dh << 16 | (int64_t)g.dw << 24, g.pt | g.pl << 16};
    for (int k = 0; k < 11; k++) d->pc.i[5 + k] = (int32_t)v[k];
    return FERRY_OK;
}

/* Each group is its own GEMM: workgroups along z take the groups (times the split-K chunks of the
 * weight gradient). */
ferry_status ferry_vk_plan_conv(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p)
{
    const int64_t *x = t->src[0]->ne, *w = t->src[1]->ne, *y = t->ne;
    const int64_t G = ferry_conv_get(t).groups;
    struct ferry_vk_dispatch *d = gemm(p, caps, "conv2d", w[0] / G, x[0] * y[2] * y[3], w[1] * w[2] * w[3],
                                       (uint32_t)G);
    ferry_status s = conv_geometry(d, x, w, y, t);
    return s ? s : check_groups(t, caps, p);
}

ferry_status ferry_vk_plan_conv_bwd_data(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                       struct ferry_vk_plan *p)
{
    const int64_t *g = t->src[0]->ne, *w = t->src[1]->ne, *x = t->ne;
    const int64_t G = ferry_conv_get(t).groups;
    struct ferry_vk_dispatch *d = gemm(p, caps, "conv2d_bwd_data", w[1], x[0] * x[2] * x[3],
                                       w[0] / G * w[2] * w[3], (uint32_t)G);
    ferry_status s = conv_geometry(d, x, w, g, t);
    return s ? s : check_groups(t, caps, p);
}

/* dw [O, C/G·KH·KW] sums over Nb·OH·OW, long next to the output: split K so that enough workgroups
 * run, into fixed chunks summed in order afterwards. */
static uint32_t weight_splits(const struct ferry_tensor *t)
{
    const int64_t *g = t->src[0]->ne;
    const int64_t k = g[0] * g[2] * g[3];
    int64_t s = k / 1024;
    if (s > 64) s = 64;
    return s < 1 ? 1 : (uint32_t)s;
}

size_t ferry_vk_conv_bwd_weight_scratch(const struct ferry_tensor *t, const struct ferry_vk_caps *caps)
{
    (void)caps;
    const uint32_t s = weight_splits(t);
    return s > 1 ? (size_t)s * (size_t)t->numel * sizeof(float) : 0;
}

ferry_status ferry_vk_plan_conv_bwd_weight(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                         struct ferry_vk_plan *p)
{
    const int64_t *g = t->src[0]->ne, *x = t->src[1]->ne, *w = t->ne;
    const int64_t k = g[0] * g[2] * g[3], G = ferry_conv_get(t).groups;
    const uint32_t s = weight_splits(t);
    struct ferry_vk_dispatch *d = gemm(p, caps, "conv2d_bwd_weight", w[0] / G, w[1] * w[2] * w[3], k,
                                       s * (uint32_t)G);
    ferry_status st = conv_geometry(d, x, w, g, t);
    if (st) return st;
    d->pc.i[3] = (int32_t)s;
    d->pc.i[4] = (int32_t)((k + s - 1) / s);
    if (s > 1) {
        d->writes = FERRY_VK_BIT(FERRY_VK_B_SCRATCH);
        struct ferry_vk_dispatch *r = &p->d[p->n++];
        r->shader = "splitk_reduce";
        ferry_vk_grid1(r, caps, t->numel, 256);
        r->pc.i[0] = (int32_t)t->numel;
        r->pc.i[1] = (int32_t)s;
        r->writes = FERRY_VK_BIT(FERRY_VK_B_DST);
    }
    return check_groups(t, caps, p);
}
