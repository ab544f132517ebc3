/* CPU kernels: 2-D max and average pooling and their backward passes.
 *
 * Every kernel works plane by plane ([N·C] planes of H×W), each plane on one thread, so backward
 * accumulation where windows overlap happens in a fixed order. Window geometry: ip0 = kh, ip1 = kw,
 * ip2 = stride_h, ip3 = stride_w, ip4 = pad_h, ip5 = pad_w. The max is the first maximum in
 * row-major window order; a NaN counts as larger than any number (the first NaN wins), as in
 * PyTorch. Padding never wins a max; the average divides by kh·kw (padding counts as zeros). */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* Below this many input elements a kernel runs on the calling thread only. */

struct pool {
    int64_t planes, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw;
};

/* x: input shape [N,C,H,W], y: output shape [N,C,OH,OW]. */
static struct pool pool_geom(const struct ferry_tensor *node, const int64_t *x, const int64_t *y)
{
    const int32_t *ip = node->ip;
    return (struct pool){.planes = x[0] * x[1], .h = x[2], .w = x[3], .oh = y[2], .ow = y[3],
                         .kh = ip[0], .kw = ip[1], .sh = ip[2], .sw = ip[3], .ph = ip[4],
                         .pw = ip[5]};
}

static int pool_threads(const struct pool *p, int nthreads)
{
    (void)p; /* see ferry_cpu_region_threads in cpu.h */
    return ferry_cpu_region_threads(nthreads);
}

/* 2x2 windows, stride 2, no padding: the layer of every small CNN. */
static bool is_2x2(const struct pool *p)
{
    return p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->ph == 0 && p->pw == 0;
}

/* v replaces the running maximum m: strictly larger, or the first NaN. */
static inline bool beats(float v, float m) { return v > m || (isnan(v) && !isnan(m)); }

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

/* ---- max pooling -------------------------------------------------------------------------------- */

static inline float max2(float a, float b) { return beats(b, a) ? b : a; }

void ferry_cpu_max_pool(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->src[0]->ne, a->node->ne);
    const float *x = a->src[0];
    float *y = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const bool fast = is_2x2(&p);
#pragma omp parallel for schedule(static) num_threads(pool_threads(&p, a->nthreads))
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *restrict xp = x + pl * ip;
        float *restrict yp = y + pl * op;
        if (fast) {
            for (int64_t oy = 0; oy < p.oh; oy++) {
                const float *restrict r0 = xp + 2 * oy * p.w, *restrict r1 = r0 + p.w;
                float *restrict d = yp + oy * p.ow;
                for (int64_t ox = 0; ox < p.ow; ox++)
                    d[ox] = max2(max2(max2(r0[2 * ox], r0[2 * ox + 1]), r1[2 * ox]), r1[2 * ox + 1]);
            }
            continue;
        }
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                const int64_t i = argmax(&p, xp, oy, ox);
                yp[oy * p.ow + ox] = i < 0 ? -INFINITY : xp[i];
            }
    }
}

/* src0 = g [N,C,OH,OW], src1 = x; dst = dx, the shape of x. */
void ferry_cpu_max_pool_bwd(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->ne, a->node->src[0]->ne);
    const float *g = a->src[0], *x = a->src[1];
    float *dx = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const bool fast = is_2x2(&p);
#pragma omp parallel for schedule(static) num_threads(pool_threads(&p, a->nthreads))
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *restrict xp = x + pl * ip, *restrict gp = g + pl * op;
        float *restrict dp = dx + pl * ip;
        memset(dp, 0, (size_t)ip * sizeof *dp);
        if (fast) { /* disjoint windows: each input receives at most one gradient */
            for (int64_t oy = 0; oy < p.oh; oy++) {
                const float *restrict r0 = xp + 2 * oy * p.w, *restrict r1 = r0 + p.w;
                float *restrict d0 = dp + 2 * oy * p.w, *restrict d1 = d0 + p.w;
                for (int64_t ox = 0; ox < p.ow; ox++) {
                    const int64_t c = 2 * ox;
                    const float v00 = r0[c], v01 = r0[c + 1], v10 = r1[c], v11 = r1[c + 1];
                    const float gv = gp[oy * p.ow + ox];
                    float m = v00;
                    int k = 0;
                    if (beats(v01, m)) { m = v01; k = 1; }
                    if (beats(v10, m)) { m = v10; k = 2; }
                    if (beats(v11, m)) k = 3;
                    d0[c] = k == 0 ? gv : 0.0f;
                    d0[c + 1] = k == 1 ? gv : 0.0f;
                    d1[c] = k == 2 ? gv : 0.0f;
                    d1[c + 1] = k == 3 ? gv : 0.0f;
                }
            }
            continue;
        }
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                const int64_t i = argmax(&p, xp, oy, ox);
                if (i >= 0) dp[i] += gp[oy * p.ow + ox];
            }
    }
}

/* ---- average pooling ---------------------------------------------------------------------------- */

void ferry_cpu_avg_pool(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->src[0]->ne, a->node->ne);
    const float *x = a->src[0];
    float *y = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const float inv = 1.0f / (float)(p.kh * p.kw);
    const bool fast = is_2x2(&p);
#pragma omp parallel for schedule(static) num_threads(pool_threads(&p, a->nthreads))
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *restrict xp = x + pl * ip;
        float *restrict yp = y + pl * op;
        if (fast) {
            for (int64_t oy = 0; oy < p.oh; oy++) {
                const float *restrict r0 = xp + 2 * oy * p.w, *restrict r1 = r0 + p.w;
                float *restrict d = yp + oy * p.ow;
                for (int64_t ox = 0; ox < p.ow; ox++)
                    d[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) * inv;
            }
            continue;
        }
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                int64_t y0, y1, x0, x1;
                window(&p, oy, ox, &y0, &y1, &x0, &x1);
                float s = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) s += xp[iy * p.w + ix];
                yp[oy * p.ow + ox] = s * inv;
            }
    }
}

/* src0 = g [N,C,OH,OW]; dst = dx [N,C,H,W] (the node's shape). */
void ferry_cpu_avg_pool_bwd(const struct ferry_cpu_args *a)
{
    const struct pool p = pool_geom(a->node, a->node->ne, a->node->src[0]->ne);
    const float *g = a->src[0];
    float *dx = a->dst;
    const int64_t ip = p.h * p.w, op = p.oh * p.ow;
    const float inv = 1.0f / (float)(p.kh * p.kw);
    const bool fast = is_2x2(&p);
#pragma omp parallel for schedule(static) num_threads(pool_threads(&p, a->nthreads))
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *restrict gp = g + pl * op;
        float *restrict dp = dx + pl * ip;
        memset(dp, 0, (size_t)ip * sizeof *dp);
        if (fast) {
            for (int64_t oy = 0; oy < p.oh; oy++) {
                float *restrict d0 = dp + 2 * oy * p.w, *restrict d1 = d0 + p.w;
                for (int64_t ox = 0; ox < p.ow; ox++) {
                    const float v = gp[oy * p.ow + ox] * inv;
                    d0[2 * ox] = v;
                    d0[2 * ox + 1] = v;
                    d1[2 * ox] = v;
                    d1[2 * ox + 1] = v;
                }
            }
            continue;
        }
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                int64_t y0, y1, x0, x1;
                window(&p, oy, ox, &y0, &y1, &x0, &x1);
                const float v = gp[oy * p.ow + ox] * inv;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) dp[iy * p.w + ix] += v;
            }
    }
}
