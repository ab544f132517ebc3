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
static struct tiles pick_tiles(const struct ferry_vk_caps *caps, int64_t m, int64_t n, int64_t k)
{
    struct tiles t = {64, 64, 16, 4, 4};
    const char *e = getenv("FERRY_VK_TILES"); /* "BM,BN,BK,TM,TN" (benchmarks) */
    if (e && sscanf(e, "%u,%u,%u,%u,%u", &t.bm, &t.bn, &t.bk, &t.tm, &t.tn) == 5 && t.tm && t.tn &&
        t.bm % t.tm == 0 && t.bn % t.tn == 0)
        return t;
    /* lavapipe: 8×8 per invocation, 64 invocations, fewer barrier switches. Not for long sums: with
       8×8 blocking lavapipe's products go wrong past K ≈ 20 000 (a [2,20480]·[20480,64] product off by
       1 %, exact with 4×4), so 4×4 from K = 16384 on. */
    if (caps->is_cpu) {
        if (k < 16384) t.tm = t.tn = 8;
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
    struct tiles t = pick_tiles(caps, m, n, k);
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

/* Rows [r0, r1) and columns [c0, c1) of a row-major matrix with `ld` columns, as a view. */
static struct ferry_vk_view sub_matrix(int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    return (struct ferry_vk_view){(uint32_t)(r0 * ld + c0), (uint32_t)((r1 - r0 - 1) * ld + (c1 - c0))};
}

/* The part [m0,m1) × [n0,n1) of C = op(A)·op(B), summed over k in [k0,k1): the views of A (src0),
 * B (src1) and C (dst) it touches. */
struct mm_part {
    int64_t m0, m1, n0, n1, k0, k1;
};

static void mm_views(const struct ferry_tensor *t, struct mm_part q, struct ferry_vk_view v[3])
{
    const bool ta = t->ip[0] != 0, tb = t->ip[1] != 0;
    const int64_t m = t->ne[0], n = t->ne[1], k = ta ? t->src[0]->ne[0] : t->src[0]->ne[1];
    v[0] = sub_matrix(n, q.m0, q.m1, q.n0, q.n1);
    v[1] = ta ? sub_matrix(m, q.k0, q.k1, q.m0, q.m1) : sub_matrix(k, q.m0, q.m1, q.k0, q.k1);
    v[2] = tb ? sub_matrix(k, q.n0, q.n1, q.k0, q.k1) : sub_matrix(n, q.k0, q.k1, q.n0, q.n1);
}

/* Part i, `chunk` long, along dimension dim (0 M, 1 N, 2 K). */
static struct mm_part mm_part_of(int64_t m, int64_t n, int64_t k, int dim, int64_t chunk, int i)
{
    struct mm_part q = {0, m, 0, n, 0, k};
    int64_t *lo = dim == 0 ? &q.m0 : dim == 1 ? &q.n0 : &q.k0, *hi = lo + 1;
    const int64_t len = *hi;
    *lo = (int64_t)i * chunk;
    *hi = *lo + chunk < len ? *lo + chunk : len;
    return q;
}

/* C[M,N] = op(A)·op(B). An operand past caps->max_binding splits the product into parts along one of
 * M, N or K (the fewest parts, of whole tiles where possible; M or N, whose parts are independent,
 * before K) so that each part's view of every operand fits: rows of a row-major operand are one
 * contiguous view, columns a strided one (first column .. last column of the last row), which fits
 * only if the matrix is short. Parts along K continue each element's sum in dst in the same order
 * (i8 = 1), so that every split gives the bits of the unsplit product. */
ferry_status ferry_vk_plan_matmul(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p)
{
    const bool ta = t->ip[0] != 0, tb = t->ip[1] != 0;
    const int64_t m = t->ne[0], n = t->ne[1], k = ta ? t->src[0]->ne[0] : t->src[0]->ne[1];
    const int64_t ld[3] = {n, ta ? m : k, tb ? k : n}; /* dst, src0, src1 */
    const struct tiles tl = pick_tiles(caps, m, n, k);
    const uint64_t lim = caps->max_binding ? caps->max_binding : UINT64_MAX;
    const int64_t bytes[3] = {t->numel * 4, t->src[0]->numel * 4, t->src[1]->numel * 4};
    int dim = -1, parts = 1;
    int64_t chunk = 0;
    if ((uint64_t)bytes[0] > lim || (uint64_t)bytes[1] > lim || (uint64_t)bytes[2] > lim) {
        /* parts of whole tiles (whole BK steps along K) first, then of any length */
        const int64_t len[3] = {m, n, k}, tile[3] = {tl.bm, tl.bn, tl.bk};
        for (int pass = 0; pass < 2 && dim < 0; pass++) {
            for (int P = 2; P <= FERRY_VK_MAX_DISPATCH && dim < 0; P++) {
                for (int e = 0; e < 3 && dim < 0; e++) {
                    const int64_t unit = pass == 0 ? tile[e] : 1;
                    int64_t c = (len[e] + P - 1) / P;
                    c = (c + unit - 1) / unit * unit;
                    const int np = (int)((len[e] + c - 1) / c);
                    if (np != P) continue; /* this P is not reachable along e in whole units */
                    bool fits = true;
                    for (int i = 0; i < np && fits; i++) {
                        struct ferry_vk_view v[3];
                        mm_views(t, mm_part_of(m, n, k, e, c, i), v);
                        for (int b = 0; b < 3; b++) fits = fits && (uint64_t)v[b].count * 4 <= lim;
                    }
                    if (fits) {
                        dim = e;
                        parts = np;
                        chunk = c;
                    }
                }
            }
        }
        if (dim < 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "vulkan: matmul [%lld,%lld]x[%lld,%lld] cannot be split so that each part "
                               "binds at most %llu bytes of every operand", (long long)m, (long long)k,
                               (long long)k, (long long)n, (unsigned long long)lim);
    }
    for (int i = 0; i < parts; i++) {
        const struct mm_part q = dim < 0 ? (struct mm_part){0, m, 0, n, 0, k} : mm_part_of(m, n, k, dim, chunk, i);
        struct ferry_vk_dispatch *d = gemm(p, caps, "matmul", q.m1 - q.m0, q.n1 - q.n0, q.k1 - q.k0, 1);
        /* the whole product's tiles in every part */
        d->spec[0] = (tl.bm / tl.tm) * (tl.bn / tl.tn);
        d->spec[3] = tl.bm;
        d->spec[4] = tl.bn;
        d->spec[5] = tl.bk;
        d->spec[6] = tl.tm;
        d->spec[7] = tl.tn;
        d->groups[0] = ferry_vk_div_up(q.n1 - q.n0, tl.bn);
        d->groups[1] = ferry_vk_div_up(q.m1 - q.m0, tl.bm);
        d->pc.i[3] = t->ip[0];
        d->pc.i[4] = t->ip[1];
        for (int b = 0; b < 3; b++) d->pc.i[5 + b] = (int32_t)ld[(b + 1) % 3];
        d->pc.i[8] = q.k0 > 0;
        if (dim >= 0) {
            struct ferry_vk_view v[3];
            mm_views(t, q, v);
            d->view[FERRY_VK_B_DST] = v[0];
            d->view[FERRY_VK_B_SRC(0)] = v[1];
            d->view[FERRY_VK_B_SRC(1)] = v[2];
        }
    }
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

/* Splits a convolution's one dispatch, whose GEMM N runs over images × `per_image` pixels, into parts
 * of whole images when the image-sized operands (epg[b] elements per image) pass caps->max_binding:
 * each part is the same convolution on fewer images, with views of those images (every output
 * element's sum unchanged). */
static ferry_status split_images(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                 struct ferry_vk_plan *p, int64_t images, int64_t per_image,
                                 const int64_t epg[FERRY_VK_BINDINGS])
{
    const uint64_t lim = caps->max_binding;
    int64_t widest = 0;
    for (int b = 0; b < FERRY_VK_BINDINGS; b++)
        if (epg[b] > widest) widest = epg[b];
    if (!lim || (uint64_t)(images * widest) * 4 <= lim || p->n != 1) return FERRY_OK;
    const int64_t per = (int64_t)(lim / 4) / widest;
    const int64_t parts = per > 0 ? (images + per - 1) / per : 0;
    if (parts < 1 || parts > FERRY_VK_MAX_DISPATCH)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s needs %lld parts of at most %llu bytes per "
                           "operand (at most %d; %lld elements per image)", ferry_op_name(t->op),
                           (long long)parts, (unsigned long long)lim, FERRY_VK_MAX_DISPATCH, (long long)widest);
    const struct ferry_vk_dispatch whole = p->d[0];
    const uint32_t bn = whole.spec[4];
    p->n = 0;
    for (int64_t i = 0; i < parts; i++) {
        const int64_t first = i * per, count = first + per < images ? per : images - first;
        struct ferry_vk_dispatch *d = &p->d[p->n++];
        *d = whole;
        d->pc.i[1] = (int32_t)(count * per_image);
        d->groups[0] = ferry_vk_div_up(count * per_image, bn);
        for (int b = 0; b < FERRY_VK_BINDINGS; b++)
            if (epg[b] > 0)
                d->view[b] = (struct ferry_vk_view){(uint32_t)(first * epg[b]), (uint32_t)(count * epg[b])};
    }
    return FERRY_OK;
}

/* Each group is its own GEMM: workgroups along z take the groups (times the split-K chunks of the
 * weight gradient). Past the storage-buffer range, parts of whole images. */
ferry_status ferry_vk_plan_conv(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, struct ferry_vk_plan *p)
{
    const int64_t *x = t->src[0]->ne, *w = t->src[1]->ne, *y = t->ne;
    const int64_t G = ferry_conv_get(t).groups;
    struct ferry_vk_dispatch *d = gemm(p, caps, "conv2d", w[0] / G, x[0] * y[2] * y[3], w[1] * w[2] * w[3],
                                       (uint32_t)G);
    ferry_status s = conv_geometry(d, x, w, y, t);
    int64_t epg[FERRY_VK_BINDINGS] = {0};
    epg[FERRY_VK_B_DST] = y[1] * y[2] * y[3];
    epg[FERRY_VK_B_SRC(0)] = x[1] * x[2] * x[3];
    if (!s) s = split_images(t, caps, p, x[0], y[2] * y[3], epg);
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
    int64_t epg[FERRY_VK_BINDINGS] = {0};
    epg[FERRY_VK_B_DST] = x[1] * x[2] * x[3];
    epg[FERRY_VK_B_SRC(0)] = g[1] * g[2] * g[3];
    if (!s) s = split_images(t, caps, p, x[0], x[2] * x[3], epg);
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
