/* CPU kernels: elementwise ops, bias, activations, dropout, batch-dimension copies, sum. */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* The sum is split into this many fixed chunks whatever the thread count. */
#define NCHUNK 64
/* Interleaved accumulators of sum_f32. */
#define LANES 8

/* Sum of x[0, n) in double over LANES interleaved accumulators: a fixed order that vectorises. */
static double sum_f32(const float *restrict x, int64_t n)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += x[i + j];
    double s = 0;
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

/* x as [N, C, S]: C = ne[1], S = product of the dimensions after it. */
static void ncs(const struct ferry_tensor *x, int64_t *n, int64_t *c, int64_t *s)
{
    *n = x->ne[0];
    *c = x->ndim > 1 ? x->ne[1] : 1;
    *s = x->numel / (*n * *c);
}

void ferry_cpu_add(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0], *restrict y = a->src[1];
    float *restrict d = a->dst;
    const float ca = a->node->fp[0], cb = a->node->fp[1];
    const int64_t n = a->node->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, { d[i] = ca * x[i] + cb * y[i]; });
}

void ferry_cpu_mul(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0], *restrict y = a->src[1];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, { d[i] = x[i] * y[i]; });
}

static void scale_n(const struct ferry_cpu_args *a, float f)
{
    const float *restrict x = a->src[0];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, { d[i] = f * x[i]; });
}

void ferry_cpu_scale(const struct ferry_cpu_args *a) { scale_n(a, a->node->fp[0]); }

void ferry_cpu_scale_by(const struct ferry_cpu_args *a)
{
    scale_n(a, ((const float *)a->src[1])[0] * a->node->fp[0]);
}

void ferry_cpu_add_bias(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0], *restrict b = a->src[1];
    float *restrict d = a->dst;
    int64_t N, C, S;
    ncs(a->node, &N, &C, &S);
    FERRY_CPU_FOR2(ferry_cpu_threads(a, N * C * S), n, N, c, C, {
        const int64_t off = (n * C + c) * S;
        const float bc = b[c];
        FERRY_CPU_SIMD
        for (int64_t s = 0; s < S; s++) d[off + s] = x[off + s] + bc;
    });
}

/* Each channel is summed by one thread in a fixed order: the result does not depend on the
 * thread count. */
void ferry_cpu_bias_grad(const struct ferry_cpu_args *a)
{
    const float *restrict g = a->src[0];
    float *restrict d = a->dst;
    int64_t N, C, S;
    ncs(a->node->src[0], &N, &C, &S);
    FERRY_CPU_FOR(ferry_cpu_threads(a, N * C * S), c, C, {
        double acc = 0;
        for (int64_t n = 0; n < N; n++) acc += sum_f32(g + (n * C + c) * S, S);
        d[c] = (float)acc;
    });
}

/* v if x > 0, else slope·v. Both parts are computed: a plain select of slope·v does not
 * vectorise (the product is moved into the branch and may not be executed speculatively). */
static inline float leaky(float x, float v, float slope)
{
    const float pos = x > 0 ? v : 0.0f, neg = x > 0 ? 0.0f : v;
    return pos + slope * neg;
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7), evaluated in float; the
 * Vulkan shader (ew.comp) evaluates the same expression, so both backends agree closely. */
static inline float erf_approx(float x)
{
    const float ax = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * ax);
    const float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float r = 1.0f - p * expf(-ax * ax);
    return x < 0 ? -r : r;
}

static inline float gelu_f(float x) { return 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752f)); }

/* d gelu/dx = Phi(x) + x·phi(x) */
static inline float gelu_d(float x)
{
    return 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
}

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

static inline float clamp_f(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

void ferry_cpu_unary(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    const float slope = a->node->fp[0];
    const enum ferry_unary kind = (enum ferry_unary)a->node->ip[0];
    const bool exp_like = kind != FERRY_UNARY_RELU && kind != FERRY_UNARY_LEAKY_RELU && kind != FERRY_UNARY_RELU6;
    const int nt = ferry_cpu_threads(a, exp_like ? n * FERRY_CPU_EXP_COST : n);
    switch (kind) {
    case FERRY_UNARY_RELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = x[i] > 0 ? x[i] : 0.0f; });
        break;
    case FERRY_UNARY_LEAKY_RELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = leaky(x[i], x[i], slope); });
        break;
    case FERRY_UNARY_SIGMOID: /* expf(-x) overflows to inf for x << 0: the result is then 0 */
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = 1.0f / (1.0f + expf(-x[i])); });
        break;
    case FERRY_UNARY_TANH:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = tanhf(x[i]); });
        break;
    case FERRY_UNARY_EXP:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = expf(x[i]); });
        break;
    case FERRY_UNARY_RECIP:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = 1.0f / x[i]; });
        break;
    case FERRY_UNARY_LOG:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = logf(x[i]); });
        break;
    case FERRY_UNARY_SQRT:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = sqrtf(x[i]); });
        break;
    case FERRY_UNARY_SQUARE:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = x[i] * x[i]; });
        break;
    case FERRY_UNARY_POW:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = powf(x[i], slope); });
        break;
    case FERRY_UNARY_ABS:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = fabsf(x[i]); });
        break;
    case FERRY_UNARY_CLAMP: {
        const float hi = a->node->fp[1];
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = clamp_f(x[i], slope, hi); });
        break;
    }
    case FERRY_UNARY_SILU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = x[i] * sigmoid_f(x[i]); });
        break;
    case FERRY_UNARY_GELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = gelu_f(x[i]); });
        break;
    case FERRY_UNARY_HARD_SIGMOID:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = clamp_f(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f; });
        break;
    case FERRY_UNARY_SOFTPLUS:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = (x[i] > 0 ? x[i] : 0.0f) + log1pf(expf(-fabsf(x[i]))); });
        break;
    case FERRY_UNARY_RELU6:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = clamp_f(x[i], 0.0f, 6.0f); });
        break;
    }
}

/* src1 is the forward output y for RELU (y > 0 exactly where x > 0: gradient 0 at x = 0, as
 * PyTorch) and SIGMOID/TANH/EXP/RECIP/SQRT, and the input x for the others, LEAKY among them (the
 * uses_output column of ops.def). */
void ferry_cpu_unary_bwd(const struct ferry_cpu_args *a)
{
    const float *restrict g = a->src[0], *restrict r = a->src[1];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    const float slope = a->node->fp[0];
    const int nt = ferry_cpu_threads(a, n);
    switch ((enum ferry_unary)a->node->ip[0]) {
    case FERRY_UNARY_RELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = r[i] > 0 ? g[i] : 0.0f; });
        break;
    case FERRY_UNARY_LEAKY_RELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = leaky(r[i], g[i], slope); });
        break;
    case FERRY_UNARY_SIGMOID:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * r[i] * (1.0f - r[i]); });
        break;
    case FERRY_UNARY_TANH:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * (1.0f - r[i] * r[i]); });
        break;
    case FERRY_UNARY_EXP:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * r[i]; });
        break;
    case FERRY_UNARY_RECIP:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = -g[i] * r[i] * r[i]; });
        break;
    case FERRY_UNARY_LOG:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] / r[i]; });
        break;
    case FERRY_UNARY_SQRT: /* r = y */
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] / (2.0f * r[i]); });
        break;
    case FERRY_UNARY_SQUARE:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = 2.0f * r[i] * g[i]; });
        break;
    case FERRY_UNARY_POW:
        if (slope == 0.0f)
            FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = 0.0f; });
        else
            FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * (slope * powf(r[i], slope - 1.0f)); });
        break;
    case FERRY_UNARY_ABS:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = r[i] > 0 ? g[i] : (r[i] < 0 ? -g[i] : 0.0f); });
        break;
    case FERRY_UNARY_CLAMP: {
        const float hi = a->node->fp[1];
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = (r[i] >= slope && r[i] <= hi) ? g[i] : 0.0f; });
        break;
    }
    case FERRY_UNARY_SILU:
        FERRY_CPU_FOR_SIMD(nt, i, n, {
            const float s = sigmoid_f(r[i]);
            d[i] = g[i] * (s * (1.0f + r[i] * (1.0f - s)));
        });
        break;
    case FERRY_UNARY_GELU:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * gelu_d(r[i]); });
        break;
    case FERRY_UNARY_HARD_SIGMOID:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = (r[i] > -3.0f && r[i] < 3.0f) ? g[i] * (1.0f / 6.0f) : 0.0f; });
        break;
    case FERRY_UNARY_SOFTPLUS:
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = g[i] * sigmoid_f(r[i]); });
        break;
    case FERRY_UNARY_RELU6: /* r = y */
        FERRY_CPU_FOR_SIMD(nt, i, n, { d[i] = r[i] > 0 && r[i] < 6.0f ? g[i] : 0.0f; });
        break;
    }
}

/* v if keep, else +0: a bit mask rather than a branch, so that the loop vectorises. */
static inline float keep_or_zero(float v, bool keep)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= keep ? ~0u : 0u;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* The mask depends only on (seed, salt, element index), so the backward pass (the same op on g)
 * drops the same elements. */
void ferry_cpu_dropout(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0];
    float *restrict d = a->dst;
    const uint32_t seed = (uint32_t)((const int32_t *)a->src[1])[0];
    const uint32_t salt = (uint32_t)a->node->ip[0];
    const float p = a->node->fp[0], scale = 1.0f / (1.0f - p);
    const int64_t n = a->node->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, {
        d[i] = keep_or_zero(x[i] * scale, ferry_dropout_keep(seed, salt, (uint32_t)i, p));
    });
}

/* F32 and I32 elements are both 4 bytes: the copies below serve either dtype. */
void ferry_cpu_concat(const struct ferry_cpu_args *a)
{
    const size_t na = (size_t)a->node->src[0]->numel * 4, nb = (size_t)a->node->src[1]->numel * 4;
    memcpy(a->dst, a->src[0], na);
    memcpy((char *)a->dst + na, a->src[1], nb);
}

void ferry_cpu_pad_batch(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    const int64_t row = node->numel / node->ne[0];
    const int64_t begin = (int64_t)node->ip[1] * row, len = node->src[0]->numel;
    float *d = a->dst;
    memset(d, 0, (size_t)begin * sizeof *d);
    memcpy(d + begin, a->src[0], (size_t)len * sizeof *d);
    memset(d + begin + len, 0, (size_t)(node->numel - begin - len) * sizeof *d);
}

/* dst = fp0 · sum(x): NCHUNK fixed chunks, each summed in double by one thread, combined in
 * order. The result depends on the element count only. */
void ferry_cpu_sum(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[0];
    const int64_t n = a->node->src[0]->numel, len = (n + NCHUNK - 1) / NCHUNK;
    double part[NCHUNK];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n), c, NCHUNK, {
        const int64_t end = (c + 1) * len < n ? (c + 1) * len : n;
        part[c] = c * len < end ? sum_f32(x + c * len, end - c * len) : 0.0;
    });
    double s = 0;
    for (int c = 0; c < NCHUNK; c++) s += part[c];
    *(float *)a->dst = (float)((double)a->node->fp[0] * s);
}

void ferry_cpu_broadcast(const struct ferry_cpu_args *a)
{
    const float v = ((const float *)a->src[0])[0] * a->node->fp[0];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, { d[i] = v; });
}
