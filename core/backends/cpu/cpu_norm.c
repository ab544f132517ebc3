/* CPU kernels: batch normalisation over (N, spatial) per channel.
 * x is [N,C] or [N,C,H,W], seen as [N, C, S]. Per-channel reductions are done by one thread per
 * channel in a fixed order, so they do not depend on the thread count. */
#include "cpu.h"

#include <math.h>

/* Sums run over LANES interleaved double accumulators: a fixed order that vectorises. */
#define LANES 8

struct bn_dims {
    int64_t n, c, s, m; /* m = n·s values per channel */
};

static struct bn_dims dims_of(const struct ferry_tensor *x)
{
    struct bn_dims d = {.n = x->ne[0], .c = x->ne[1]};
    d.s = x->numel / (d.n * d.c);
    d.m = d.n * d.s;
    return d;
}

/* Plane (n, c) of a [N, C, S] tensor. */
static const float *plane(const float *x, struct bn_dims d, int64_t n, int64_t c)
{
    return x + (n * d.c + c) * d.s;
}

static double lanes_total(const double *acc)
{
    double s = 0;
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

/* sum of x[0, n) */
static double sum_f32(const float *restrict x, int64_t n)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += x[i + j];
    return lanes_total(acc);
}

/* sum of (x - mean)^2 over x[0, n) */
static double sq_dev_f32(const float *restrict x, int64_t n, double mean)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
    for (int j = 0; i + j < n; j++) acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
    return lanes_total(acc);
}

/* sums of g·xhat and of g over n elements, xhat = (x - mean)·invstd; added to out[0], out[1] */
static void dot_xhat_f32(const float *restrict g, const float *restrict x, int64_t n, float mean,
                         float invstd, double out[2])
{
    double dg[LANES] = {0}, db[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            dg[j] += g[i + j] * ((x[i + j] - mean) * invstd);
            db[j] += g[i + j];
        }
    for (int j = 0; i + j < n; j++) {
        dg[j] += g[i + j] * ((x[i + j] - mean) * invstd);
        db[j] += g[i + j];
    }
    out[0] += lanes_total(dg);
    out[1] += lanes_total(db);
}

/* dst [2,C] = (mean, 1/sqrt(var_biased + eps)); running stats move towards (mean, var_unbiased)
 * by the momentum, as PyTorch. Two passes in double. */
void ferry_cpu_bn_stats(const struct ferry_cpu_args *a)
{
    const float *x = a->src[0];
    float *restrict rmean = a->src[1], *restrict rvar = a->src[2], *restrict st = a->dst;
    const struct bn_dims d = dims_of(a->node->src[0]);
    const double mom = a->node->fp[0], eps = a->node->fp[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, d.m * d.c), c, d.c, {
        double sum = 0, ss = 0;
        for (int64_t n = 0; n < d.n; n++) sum += sum_f32(plane(x, d, n, c), d.s);
        const double mean = sum / (double)d.m;
        for (int64_t n = 0; n < d.n; n++) ss += sq_dev_f32(plane(x, d, n, c), d.s, mean);
        const double unbiased = d.m > 1 ? ss / (double)(d.m - 1) : ss;
        st[c] = (float)mean;
        st[d.c + c] = (float)(1.0 / sqrt(ss / (double)d.m + eps));
        rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * mean);
        rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * unbiased);
    });
}

/* dst = (x - mean)·invstd·gamma + beta. Train (ip0 = 0): src1 = stats [2,C]. Eval (ip0 = 1):
 * src1 = running mean, src4 = running var, fp1 = eps. */
void ferry_cpu_bn_apply(const struct ferry_cpu_args *a)
{
    const float *x = a->src[0], *restrict gamma = a->src[2], *restrict beta = a->src[3];
    float *dst = a->dst;
    const struct bn_dims d = dims_of(a->node);
    const bool eval = a->node->ip[0] != 0;
    const float *restrict mean = a->src[1];
    const float *restrict var = eval ? (const float *)a->src[4] : mean + d.c;
    const float eps = a->node->fp[1];
    FERRY_CPU_FOR2(ferry_cpu_threads(a, d.m * d.c), n, d.n, c, d.c, {
        const float invstd = eval ? 1.0f / sqrtf(var[c] + eps) : var[c];
        const float m = mean[c], sc = invstd * gamma[c], b = beta[c];
        const float *restrict p = plane(x, d, n, c);
        float *restrict q = dst + (p - x);
        FERRY_CPU_SIMD
        for (int64_t s = 0; s < d.s; s++) q[s] = (p[s] - m) * sc + b;
    });
}

/* dst [2,C] = (dgamma = sum g·xhat, dbeta = sum g); src0 = g, src1 = x, src2 = stats */
void ferry_cpu_bn_bwd_params(const struct ferry_cpu_args *a)
{
    const float *g = a->src[0], *x = a->src[1], *restrict st = a->src[2];
    float *restrict dp = a->dst;
    const struct bn_dims d = dims_of(a->node->src[1]);
    FERRY_CPU_FOR(ferry_cpu_threads(a, d.m * d.c), c, d.c, {
        double acc[2] = {0, 0};
        for (int64_t n = 0; n < d.n; n++)
            dot_xhat_f32(plane(g, d, n, c), plane(x, d, n, c), d.s, st[c], st[d.c + c], acc);
        dp[c] = (float)acc[0];
        dp[d.c + c] = (float)acc[1];
    });
}

/* dx = gamma·invstd/M · (M·g - dbeta - xhat·dgamma); src0 = g, src1 = x, src2 = stats,
 * src3 = gamma, src4 = dparams [2,C] */
void ferry_cpu_bn_bwd_data(const struct ferry_cpu_args *a)
{
    const float *g = a->src[0], *x = a->src[1];
    const float *restrict st = a->src[2], *restrict gamma = a->src[3], *restrict dp = a->src[4];
    float *dx = a->dst;
    const struct bn_dims d = dims_of(a->node);
    const float fm = (float)d.m;
    FERRY_CPU_FOR2(ferry_cpu_threads(a, d.m * d.c), n, d.n, c, d.c, {
        const float mean = st[c], invstd = st[d.c + c];
        const float k = gamma[c] * invstd / fm, dg = dp[c], db = dp[d.c + c];
        const float *restrict gp = plane(g, d, n, c), *restrict xp = plane(x, d, n, c);
        float *restrict q = dx + (gp - g);
        FERRY_CPU_SIMD
        for (int64_t s = 0; s < d.s; s++)
            q[s] = k * (fm * gp[s] - db - (xp[s] - mean) * invstd * dg);
    });
}
