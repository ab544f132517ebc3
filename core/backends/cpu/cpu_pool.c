/* CPU kernels: 2-D max and average pooling and their backward passes.
 *
 * Every kernel works plane by plane ([N·C] planes of H×W), each plane on one thread, so backward
 * accumulation where windows overlap happens in a fixed order. Window geometry: ip0 = kh, ip1 = kw,
 * ip2 = stride_h, ip3 = stride_w, ip4 = pad_top, ip5 = pad_left, ip6 = pad_bottom,
 * ip7 = pad_right; fp0 != 0: the average divides by the window's in-bounds count. The max is the
 * first maximum in row-major window order; a NaN counts as larger than any number (the first NaN
 * wins), as in PyTorch. Padding never wins a max; by default the average divides by the size of the
 * window clipped to the padded input (kh·kw unless a ceil-mode window runs past it; padding counts
 * as zeros), as PyTorch's count_include_pad=True. */
#include "cpu.h"

#include <math.h>
#include <string.h>

struct pool {
    int64_t planes, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, pb, pr;
    bool exclude_pad;
};

/* x: input shape [N,C,H,W], y: output shape [N,C,OH,OW]. */
static struct pool pool_geom(const struct ferry_tensor *node, const int64_t *x, const int64_t *y)
{
    const int32_t *ip = node->ip;
    return (struct pool){.planes = x[0] * x[1], .h = x[2], .w = x[3], .oh = y[2], .ow = y[3],
                         .kh = ip[0], .kw = ip[1], .sh = ip[2], .sw = ip[3], .ph = ip[4],
                         .pw = ip[5], .pb = ip[6], .pr = ip[7], .exclude_pad = node->fp[0] != 0.0f};
}

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Threads for a kernel: the work is the input's size. */
static int pool_threads(const struct ferry_cpu_args *a, const struct pool *p)
{
    return ferry_cpu_threads(a, p->planes * p->h * p->w);
}

/* 2x2 windows, stride 2, no padding: the layer of every small CNN. */
static bool is_2x2(const struct pool *p)
{
    return p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->ph == 0 && p->pw == 0 &&
           p->h >= 2 * p->oh && p->w >= 2 * p->ow;
}

/* v replaces the running maximum m: strictly larger, or the first NaN. */
static inline bool beats(float v, float m) { return (v > m) | ((v != v) & (m == m)); }

/* Window of output (oy, ox) clipped to the input: rows [y0, y1), columns [x0, x1). */
static inline void window(const struct pool *p, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                          int64_t *x0, int64_t *x1)
{
    const int64_t ys = oy * p->sh - p->ph, xs = ox * p->sw - p->pw;
    *y0 = ys < 0 ? 0 : ys;
    *y1 = ys + p->kh < p->h ? ys + p->kh : p->h;
    *x0 = xs < 0 ? 0 : xs;
    *x1 = xs + p->kw < p->w ? xs + p->kw : p->w;
}

/* The divisor of the average of window (oy, ox): inv0 = 1/(kh·kw) for a full window, else
 * 1/count, where count is the in-bounds count (exclude_pad) or the size of the window clipped to
 * the padded input. */
static inline float avg_inv(const struct pool *p, float inv0, int64_t oy, int64_t ox)
{
    int64_t y0, y1, x0, x1;
    window(p, oy, ox, &y0, &y1, &x0, &x1);
    int64_t n;
    if (p->exclude_pad)
        n = (y1 - y0) * (x1 - x0);
    else {
        const int64_t ys = oy * p->sh - p->ph, xs = ox * p->sw - p->pw;
        const int64_t ye = ys + p->kh < p->h + p->pb ? ys + p->kh : p->h + p->pb;
        const int64_t xe = xs + p->kw < p->w + p->pr ? xs + p->kw : p->w + p->pr;
        n = (ye - ys) * (xe - xs);
    }
    return n == p->kh * p->kw ? inv0 : n > 0 ? 1.0f / (float)n : 0.0f;
}

/* Index in the plane of the window's maximum, -1 for an empty window. */
static inline int64_t argmax(const struct pool *p, const float *restrict x, int64_t oy, int64_t ox)
{
    int64_t y0, y1, x0, x1;
    window(p, oy, ox, &y0, &y1, &x0, &x1);
    if (y0 >= y1 || x0 >= x1) return -1;
    int64_t best = y0 * p->w + x0;
    float m = x[best];
    for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
            const float v = x[iy * p->w + ix];
            if (beats(v, m)) {
                m = v;
                best = iy * p->w + ix;
            }
        }
    return best;
}

/* ---- max pooling ----------------------------------------------------------------------------- */

/* One plane: xp [H, W] -> yp [OH, OW]. */
static void max_pool_plane(const struct pool *p, bool fast, const float *restrict xp,
                           float *restrict yp)
{
    if (fast) {
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const float *restrict r0 = xp + 2 * oy * p->w, *restrict r1 = r0 + p->w;
            float *restrict d = yp + oy * p->ow;
#pragma omp simd
            for (int64_t ox = 0; ox < p->ow; ox++) { /* vectorises in this form */
                const float v0 = r0[2 * ox], v1 = r0[2 * ox + 1];
                const float v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
                const float m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
                const float m = m23 > m01 ? m23 : m01;
                const int nan = (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
                d[ox] = nan ? NAN : m;
            }
        }
        return;
    }
    /* columns [lo, hi) whose windows lie inside the input horizontally: one pass over each window's
     * values with no argmax and no bounds test per tap (the maximum's value does not depend on the
     * order; a NaN anywhere gives NaN); gcc does not vectorise the strided taps */
    const int64_t lo = min_i64(p->ow, (p->pw + p->sw - 1) / p->sw);
    const int64_t span = p->w + p->pw - p->kw; /* the last window start inside: ox·sw <= span */
    const int64_t hi = span < 0 ? lo : max_i64(lo, min_i64(p->ow, span / p->sw + 1));
    for (int64_t oy = 0; oy < p->oh; oy++) {
        float *restrict d = yp + oy * p->ow;
        for (int64_t ox = 0; ox < lo; ox++) {
            const int64_t i = argmax(p, xp, oy, ox);
            d[ox] = i < 0 ? -INFINITY : xp[i];
        }
        int64_t y0, y1, x0, x1;
        window(p, oy, 0, &y0, &y1, &x0, &x1);
        if (y0 < y1) {
            const float *restrict base = xp - p->pw;
#pragma omp simd
            for (int64_t ox = lo; ox < hi; ox++) {
                float m = -INFINITY;
                int nan = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t kx = 0; kx < p->kw; kx++) {
                        const float v = base[iy * p->w + ox * p->sw + kx];
                        m = v > m ? v : m;
                        nan |= v != v;
                    }
                d[ox] = nan ? NAN : m;
            }
        } else
            for (int64_t ox = lo; ox < hi; ox++) d[ox] = -INFINITY;
        for (int64_t ox = hi; ox < p->ow; ox++) {
            const int64_t i = argmax(p, xp, oy, ox);
            d[ox] = i < 0 ? -INFINITY : xp[i];
        }
    }
}

void ferry_cpu_max_pool(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->src[0]->ne, a->node->ne);
    const float *x = a->src[0];
    float *y = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const bool fast = is_2x2(&p);
    FERRY_CPU_FOR(pool_threads(a, &p), pl, p.planes,
                  { max_pool_plane(&p, fast, x + pl * ip, y + pl * op); });
}

/* 2x2 backward of one row of windows: inputs rows r0, r1 (2·n values used), gradients go[0, n),
 * outputs rows d0, d1. Ties go to the first of (r0[2i], r0[2i+1], r1[2i], r1[2i+1]). The loops are
 * written so that they vectorise: the winner's position k of each window is computed from the
 * maximum (rows holding a NaN take the scalar path), then each output pair is stored as one 64-bit
 * word. With relu_mask a window whose maximum is not > 0 passes no gradient (k = 4). The winners of
 * a block are found before any of its outputs is written, so d0, d1 may be r0, r1 themselves. */
typedef uint32_t u32_alias __attribute__((may_alias));
typedef uint64_t u64_alias __attribute__((may_alias, aligned(4)));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PAIR(first, second) ((first) | (second) << 32)
#else
#define PAIR(first, second) ((second) | (first) << 32)
#endif
#define ROW_BLOCK 256

static bool rows_have_nan(const float *restrict r0, const float *restrict r1, int64_t n)
{
    int nan = 0;
#pragma omp simd reduction(| : nan)
    for (int64_t i = 0; i < n; i++) nan |= (r0[i] != r0[i]) | (r1[i] != r1[i]);
    return nan;
}

/* k[i] for windows [0, nb) of rows a0, a1 (no NaN). */
static void winners_2x2(const float *restrict a0, const float *restrict a1, int64_t nb,
                        bool relu_mask, int32_t *restrict k)
{
#pragma omp simd
    for (int64_t i = 0; i < nb; i++) {
        const float v0 = a0[2 * i], v1 = a0[2 * i + 1], v2 = a1[2 * i], v3 = a1[2 * i + 1];
        const float m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
        const float m = m23 > m01 ? m23 : m01;
        const int32_t c0 = v0 == m, c1 = v1 == m, c2 = v2 == m;
        const int32_t w = c0 ? 0 : c1 ? 1 : c2 ? 2 : 3;
        k[i] = relu_mask && !(m > 0) ? 4 : w;
    }
}

/* The same with NaNs: the first NaN wins (and, under relu_mask, passes nothing). */
static void winners_2x2_nan(const float *restrict a0, const float *restrict a1, int64_t nb,
                            bool relu_mask, int32_t *restrict k)
{
    for (int64_t i = 0; i < nb; i++) {
        const int64_t c = 2 * i;
        int w = 0;
        float m = a0[c];
        if (beats(a0[c + 1], m)) m = a0[c + 1], w = 1;
        if (beats(a1[c], m)) m = a1[c], w = 2;
        if (beats(a1[c + 1], m)) m = a1[c + 1], w = 3;
        k[i] = relu_mask && !(m > 0) ? 4 : w;
    }
}

static void scatter_2x2(const float *restrict go, const int32_t *restrict k, int64_t nb,
                        float *restrict d0, float *restrict d1)
{
    const u32_alias *restrict gb = (const u32_alias *)go;
    u64_alias *restrict p0 = (u64_alias *)d0;
    u64_alias *restrict p1 = (u64_alias *)d1;
#pragma omp simd
    for (int64_t i = 0; i < nb; i++) {
        const uint64_t gv = gb[i];
        p0[i] = PAIR(k[i] == 0 ? gv : 0, k[i] == 1 ? gv : 0);
        p1[i] = PAIR(k[i] == 2 ? gv : 0, k[i] == 3 ? gv : 0);
    }
}

static void max_bwd_2x2_row(const float *r0, const float *r1, const float *go, float *d0,
                            float *d1, int64_t n, bool relu_mask)
{
    const bool nan = rows_have_nan(r0, r1, 2 * n);
    int32_t k[ROW_BLOCK];
    for (int64_t o0 = 0; o0 < n; o0 += ROW_BLOCK) {
        const int64_t nb = n - o0 < ROW_BLOCK ? n - o0 : ROW_BLOCK;
        if (nan)
            winners_2x2_nan(r0 + 2 * o0, r1 + 2 * o0, nb, relu_mask, k);
        else
            winners_2x2(r0 + 2 * o0, r1 + 2 * o0, nb, relu_mask, k);
        scatter_2x2(go + o0, k, nb, d0 + 2 * o0, d1 + 2 * o0);
    }
}

/* One plane: xp [H, W], gradients gp [OH, OW] -> dp [H, W] (dp may be xp on the fast path). */
static void max_pool_bwd_plane(const struct pool *p, bool fast, bool relu_mask, const float *xp,
                               const float *restrict gp, float *dp)
{
    if (fast) { /* disjoint windows: each input receives at most one gradient */
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const float *r0 = xp + 2 * oy * p->w;
            float *d0 = dp + 2 * oy * p->w;
            max_bwd_2x2_row(r0, r0 + p->w, gp + oy * p->ow, d0, d0 + p->w, p->ow, relu_mask);
            if (p->w > 2 * p->ow) d0[2 * p->ow] = d0[p->w + 2 * p->ow] = 0.0f; /* odd width */
        }
        if (p->h > 2 * p->oh) memset(dp + 2 * p->oh * p->w, 0, (size_t)p->w * sizeof *dp);
        return;
    }
    memset(dp, 0, (size_t)(p->h * p->w) * sizeof *dp);
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            const int64_t i = argmax(p, xp, oy, ox);
            if (i >= 0) dp[i] += gp[oy * p->ow + ox];
        }
    if (relu_mask) /* the relu's backward: x = relu(z) > 0 exactly where z > 0 */
        for (int64_t i = 0; i < p->h * p->w; i++) dp[i] = xp[i] > 0 ? dp[i] : 0.0f;
}

bool ferry_cpu_max_pool_bwd_in_place(const struct ferry_tensor *node)
{
    const struct pool p = pool_geom(node, node->ne, node->src[0]->ne);
    return is_2x2(&p);
}

/* src0 = g [N,C,OH,OW], src1 = x; dst = dx, the shape of x. */
void ferry_cpu_max_pool_bwd(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->ne, a->node->src[0]->ne);
    const float *g = a->src[0], *x = a->src[1];
    float *dx = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const bool fast = is_2x2(&p), relu_mask = a->relu_mask;
    FERRY_CPU_FOR(pool_threads(a, &p), pl, p.planes, {
        max_pool_bwd_plane(&p, fast, relu_mask, x + pl * ip, g + pl * op, dx + pl * ip);
    });
}

/* ---- average pooling ------------------------------------------------------------------------- */

/* One plane: xp [H, W] -> yp [OH, OW]; inv = 1/(kh·kw). */
static void avg_pool_plane(const struct pool *p, bool fast, float inv, const float *restrict xp,
                           float *restrict yp)
{
    if (fast) {
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const float *restrict r0 = xp + 2 * oy * p->w, *restrict r1 = r0 + p->w;
            float *restrict d = yp + oy * p->ow;
#pragma omp simd
            for (int64_t ox = 0; ox < p->ow; ox++)
                d[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) * inv;
        }
        return;
    }
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            int64_t y0, y1, x0, x1;
            window(p, oy, ox, &y0, &y1, &x0, &x1);
            float s = 0.0f;
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++) s += xp[iy * p->w + ix];
            yp[oy * p->ow + ox] = s * avg_inv(p, inv, oy, ox);
        }
}

void ferry_cpu_avg_pool(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->src[0]->ne, a->node->ne);
    const float *x = a->src[0];
    float *y = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const float inv = 1.0f / (float)(p.kh * p.kw);
    const bool fast = is_2x2(&p);
    FERRY_CPU_FOR(pool_threads(a, &p), pl, p.planes,
                  { avg_pool_plane(&p, fast, inv, x + pl * ip, y + pl * op); });
}

/* src0 = g [N,C,OH,OW]; dst = dx [N,C,H,W] (the node's shape). */
/* One plane: gradients gp [OH, OW] -> dp [H, W]; inv = 1/(kh·kw). */
static void avg_pool_bwd_plane(const struct pool *p, bool fast, float inv,
                               const float *restrict gp, float *restrict dp)
{
    if (fast) {
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *restrict d0 = dp + 2 * oy * p->w, *restrict d1 = d0 + p->w;
            const float *restrict go = gp + oy * p->ow;
#pragma omp simd
            for (int64_t ox = 0; ox < p->ow; ox++) {
                const float v = go[ox] * inv;
                d0[2 * ox] = v;
                d0[2 * ox + 1] = v;
                d1[2 * ox] = v;
                d1[2 * ox + 1] = v;
            }
            if (p->w > 2 * p->ow) d0[2 * p->ow] = d1[2 * p->ow] = 0.0f; /* odd width */
        }
        if (p->h > 2 * p->oh) memset(dp + 2 * p->oh * p->w, 0, (size_t)p->w * sizeof *dp);
        return;
    }
    memset(dp, 0, (size_t)(p->h * p->w) * sizeof *dp);
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            int64_t y0, y1, x0, x1;
            window(p, oy, ox, &y0, &y1, &x0, &x1);
            const float v = gp[oy * p->ow + ox] * avg_inv(p, inv, oy, ox);
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++) dp[iy * p->w + ix] += v;
        }
}

void ferry_cpu_avg_pool_bwd(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->ne, a->node->src[0]->ne);
    const float *g = a->src[0];
    float *dx = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const float inv = 1.0f / (float)(p.kh * p.kw);
    const bool fast = is_2x2(&p);
    FERRY_CPU_FOR(pool_threads(a, &p), pl, p.planes,
                  { avg_pool_bwd_plane(&p, fast, inv, g + pl * op, dx + pl * ip); });
}

/* ---- adaptive average pooling ---------------------------------------------------------------- */

/* Window of output o along an axis of n inputs and on outputs: [lo, hi) (PyTorch's bounds). */
static inline int64_t ad_lo(int64_t o, int64_t n, int64_t on) { return (o * n) / on; }
static inline int64_t ad_hi(int64_t o, int64_t n, int64_t on) { return ((o + 1) * n + on - 1) / on; }

void ferry_cpu_adaptive_avg_pool(const struct ferry_cpu_args *a)
{
    const int64_t *xs = a->node->src[0]->ne, *ys = a->node->ne;
    const int64_t planes = xs[0] * xs[1], h = xs[2], w = xs[3], oh = ys[2], ow = ys[3];
    const float *x = a->src[0];
    float *y = a->dst;
    FERRY_CPU_FOR(ferry_cpu_threads(a, planes * h * w), pl, planes, {
        const float *restrict xp = x + pl * h * w;
        float *restrict yp = y + pl * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            const int64_t y0 = ad_lo(oy, h, oh), y1 = ad_hi(oy, h, oh);
            for (int64_t ox = 0; ox < ow; ox++) {
                const int64_t x0 = ad_lo(ox, w, ow), x1 = ad_hi(ox, w, ow);
                float s = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) s += xp[iy * w + ix];
                yp[oy * ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
        }
    });
}

/* src0 = g [N,C,OH,OW]; dst = dx [N,C,H,W] (the node's shape). */
void ferry_cpu_adaptive_avg_pool_bwd(const struct ferry_cpu_args *a)
{
    const int64_t *xs = a->node->ne, *ys = a->node->src[0]->ne;
    const int64_t planes = xs[0] * xs[1], h = xs[2], w = xs[3], oh = ys[2], ow = ys[3];
    const float *g = a->src[0];
    float *dx = a->dst;
    FERRY_CPU_FOR(ferry_cpu_threads(a, planes * h * w), pl, planes, {
        const float *restrict gp = g + pl * oh * ow;
        float *restrict dp = dx + pl * h * w;
        memset(dp, 0, (size_t)(h * w) * sizeof *dp);
        for (int64_t oy = 0; oy < oh; oy++) {
            const int64_t y0 = ad_lo(oy, h, oh), y1 = ad_hi(oy, h, oh);
            for (int64_t ox = 0; ox < ow; ox++) {
                const int64_t x0 = ad_lo(ox, w, ow), x1 = ad_hi(ox, w, ow);
                const float v = gp[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) dp[iy * w + ix] += v;
            }
        }
    });
}
