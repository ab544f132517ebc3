/* CPU kernels of the norm family: layer norm over the last dimension of [N,D] (ops.def). Each row
 * (or column, for the parameter gradients) is summed in index order by one thread. */
#include "cpu.h"

#include <math.h>

void ferry_cpu_ln_stats(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0];
    float *restrict d = a->dst;
    const int64_t n = a->node->ne[0], dim = a->node->src[0]->ne[1];
    const float eps = a->node->fp[0];
    const int nt = ferry_cpu_threads(a, n * dim);
    FERRY_CPU_FOR(nt, r, n, {
        const float *xr = x + r * dim;
        float s = 0;
        for (int64_t j = 0; j < dim; j++) s += xr[j];
        const float mean = s / (float)dim;
        float v = 0;
        for (int64_t j = 0; j < dim; j++) v += (xr[j] - mean) * (xr[j] - mean);
        d[2 * r] = mean;
        d[2 * r + 1] = 1.0f / sqrtf(v / (float)dim + eps);
    });
}

void ferry_cpu_layer_norm(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0], *restrict st = a->src[1], *restrict gm = a->src[2],
                *restrict bt = a->src[3];
    float *restrict d = a->dst;
    const int64_t n = a->node->ne[0], dim = a->node->ne[1];
    const int nt = ferry_cpu_threads(a, n * dim);
    FERRY_CPU_FOR(nt, r, n, {
        const float mean = st[2 * r], is = st[2 * r + 1];
        for (int64_t j = 0; j < dim; j++) d[r * dim + j] = (x[r * dim + j] - mean) * is * gm[j] + bt[j];
    });
}

void ferry_cpu_ln_bwd_data(const struct ferry_cpu_args *a)
{
    const float *restrict g = a->src[0], *restrict x = a->src[1], *restrict st = a->src[2],
                *restrict gm = a->src[3];
    float *restrict d = a->dst;
    const int64_t n = a->node->ne[0], dim = a->node->ne[1];
    const int nt = ferry_cpu_threads(a, n * dim);
    FERRY_CPU_FOR(nt, r, n, {
        const float mean = st[2 * r], is = st[2 * r + 1];
        const float *gr = g + r * dim, *xr = x + r * dim;
        float s1 = 0, s2 = 0;
        for (int64_t j = 0; j < dim; j++) {
            const float h = gr[j] * gm[j], xh = (xr[j] - mean) * is;
            s1 += h;
            s2 += h * xh;
        }
        const float m1 = s1 / (float)dim, m2 = s2 / (float)dim;
        for (int64_t j = 0; j < dim; j++) {
            const float h = gr[j] * gm[j], xh = (xr[j] - mean) * is;
            d[r * dim + j] = is * (h - m1 - xh * m2);
        }
    });
}

void ferry_cpu_ln_bwd_params(const struct ferry_cpu_args *a)
{
    const float *restrict g = a->src[0], *restrict x = a->src[1], *restrict st = a->src[2];
    float *restrict d = a->dst;
    const int64_t dim = a->node->ne[1], n = a->node->src[0]->ne[0];
    const int nt = ferry_cpu_threads(a, n * dim);
    FERRY_CPU_FOR(nt, j, dim, {
        float sg = 0, sb = 0;
        for (int64_t r = 0; r < n; r++) {
            const float gv = g[r * dim + j];
            sg += gv * ((x[r * dim + j] - st[2 * r]) * st[2 * r + 1]);
            sb += gv;
        }
        d[j] = sg;
        d[dim + j] = sb;
    });
}
