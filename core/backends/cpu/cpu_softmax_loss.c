/* CPU kernels: row softmax / log-softmax and their gradients, losses, accuracy count. */
#include "cpu.h"

#include <math.h>

/* Means are taken over this many fixed chunks whatever the thread count. */
#define NCHUNK 64

/* Sum of f over [0, n) split into NCHUNK fixed ranges, each summed by one thread and combined in
 * order: the result depends on n only. work = elements touched (weighted as for ferry_cpu_threads),
 * to decide on threading. */
typedef double (*range_sum_fn)(const struct ferry_cpu_args *a, int64_t begin, int64_t end);

static double chunked_sum(const struct ferry_cpu_args *a, int64_t n, int64_t work, range_sum_fn f)
{
    const int64_t len = (n + NCHUNK - 1) / NCHUNK;
    double part[NCHUNK];
    FERRY_CPU_FOR(ferry_cpu_threads(a, work), c, NCHUNK, {
        const int64_t end = (c + 1) * len < n ? (c + 1) * len : n;
        part[c] = c * len < end ? f(a, c * len, end) : 0.0;
    });
    double s = 0;
    for (int c = 0; c < NCHUNK; c++) s += part[c];
    return s;
}

static float row_max(const float *restrict x, int64_t k)
{
    float m = x[0];
    for (int64_t j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* log sum_j exp(x_j - m) for the row maximum m. */
static double row_log_sum_exp_shifted(const float *restrict x, int64_t k, float m)
{
    double s = 0;
    for (int64_t j = 0; j < k; j++) s += expf(x[j] - m);
    return log(s);
}

/* log sum_j exp(x_j) */
static double row_logsumexp(const float *restrict x, int64_t k)
{
    const float m = row_max(x, k);
    return m + row_log_sum_exp_shifted(x, k, m);
}

static double row_dot(const float *restrict x, const float *restrict y, int64_t k)
{
    double s = 0;
    for (int64_t j = 0; j < k; j++) s += (double)x[j] * y[j];
    return s;
}

static double row_sum(const float *restrict x, int64_t k)
{
    double s = 0;
    for (int64_t j = 0; j < k; j++) s += x[j];
    return s;
}

/* d = exp(x - max x); returns 1 / sum d */
static float exp_row(const float *restrict x, float *restrict d, int64_t k)
{
    const float m = row_max(x, k);
    double s = 0;
    for (int64_t j = 0; j < k; j++) {
        d[j] = expf(x[j] - m);
        s += d[j];
    }
    return (float)(1.0 / s);
}

void ferry_cpu_softmax(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->ne[0], k = a->node->ne[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k * FERRY_CPU_EXP_COST), i, n, {
        const float *restrict x = (const float *)a->src[0] + i * k;
        float *restrict d = (float *)a->dst + i * k;
        const float inv = exp_row(x, d, k);
        FERRY_CPU_SIMD
        for (int64_t j = 0; j < k; j++) d[j] *= inv;
    });
}

void ferry_cpu_log_softmax(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->ne[0], k = a->node->ne[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k * FERRY_CPU_EXP_COST), i, n, {
        const float *restrict x = (const float *)a->src[0] + i * k;
        float *restrict d = (float *)a->dst + i * k;
        const float m = row_max(x, k), ls = (float)row_log_sum_exp_shifted(x, k, m);
        FERRY_CPU_SIMD
        for (int64_t j = 0; j < k; j++) d[j] = (x[j] - m) - ls; /* x - m first: exact near m */
    });
}

/* dst = y·(g - sum_k g·y) */
void ferry_cpu_softmax_bwd(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->ne[0], k = a->node->ne[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k), i, n, {
        const float *restrict g = (const float *)a->src[0] + i * k;
        const float *restrict y = (const float *)a->src[1] + i * k;
        float *restrict d = (float *)a->dst + i * k;
        const float dot = (float)row_dot(g, y, k);
        FERRY_CPU_SIMD
        for (int64_t j = 0; j < k; j++) d[j] = y[j] * (g[j] - dot);
    });
}

/* dst = g - exp(y)·sum_k g */
void ferry_cpu_log_softmax_bwd(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->ne[0], k = a->node->ne[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k * FERRY_CPU_EXP_COST), i, n, {
        const float *restrict g = (const float *)a->src[0] + i * k;
        const float *restrict y = (const float *)a->src[1] + i * k;
        float *restrict d = (float *)a->dst + i * k;
        const float s = (float)row_sum(g, k);
        for (int64_t j = 0; j < k; j++) d[j] = g[j] - expf(y[j]) * s;
    });
}

/* ---- cross-entropy with label smoothing: q = (1-eps)·onehot(y) + eps/K -------------------------
 * loss_i = -sum_k q_k (x_k - lse) = lse - (1-eps)·x_y - eps/K · sum_k x_k */

static int32_t label_at(const struct ferry_cpu_args *a, int src, int64_t i, int64_t k)
{
    const int32_t y = ((const int32_t *)a->src[src])[i];
    FERRY_ASSERT(y >= 0 && y < k);
    return y;
}

static double ce_rows(const struct ferry_cpu_args *a, int64_t begin, int64_t end)
{
    const int64_t k = a->node->src[0]->ne[1];
    const double eps = a->node->fp[0];
    double acc = 0;
    for (int64_t i = begin; i < end; i++) {
        const float *restrict x = (const float *)a->src[0] + i * k;
        const int32_t y = label_at(a, 1, i, k);
        double loss = row_logsumexp(x, k) - (1.0 - eps) * x[y];
        if (eps != 0) loss -= eps / (double)k * row_sum(x, k);
        acc += loss;
    }
    return acc;
}

void ferry_cpu_cross_entropy(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->src[0]->ne[0], k = a->node->src[0]->ne[1];
    *(float *)a->dst = (float)(chunked_sum(a, n, n * k * FERRY_CPU_EXP_COST, ce_rows) / (double)n);
}

/* dst = g·(softmax(x) - q)/N; src0 = g, src1 = logits, src2 = labels */
void ferry_cpu_cross_entropy_bwd(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->ne[0], k = a->node->ne[1];
    const float eps = a->node->fp[0], off = eps / (float)k;
    const float c = ((const float *)a->src[0])[0] / (float)n;
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k * FERRY_CPU_EXP_COST), i, n, {
        const float *restrict x = (const float *)a->src[1] + i * k;
        float *restrict d = (float *)a->dst + i * k;
        const int32_t y = label_at(a, 2, i, k);
        const float inv = exp_row(x, d, k);
        FERRY_CPU_SIMD
        for (int64_t j = 0; j < k; j++) d[j] = c * (d[j] * inv - off);
        d[y] -= c * (1.0f - eps);
    });
}

/* ---- binary cross-entropy on logits: max(x,0) - x·t + log(1 + exp(-|x|)) ------------------- */

static double bce_range(const struct ferry_cpu_args *a, int64_t begin, int64_t end)
{
    const float *restrict x = a->src[0], *restrict t = a->src[1];
    double acc = 0;
    for (int64_t i = begin; i < end; i++)
        acc += fmaxf(x[i], 0.0f) - x[i] * t[i] + log1pf(expf(-fabsf(x[i])));
    return acc;
}

void ferry_cpu_bce_logits(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->src[0]->numel;
    *(float *)a->dst = (float)(chunked_sum(a, n, n * FERRY_CPU_EXP_COST, bce_range) / (double)n);
}

/* dst = g·(sigmoid(x) - t)/n; src0 = g, src1 = x, src2 = t */
void ferry_cpu_bce_logits_bwd(const struct ferry_cpu_args *a)
{
    const float *restrict x = a->src[1], *restrict t = a->src[2];
    float *restrict d = a->dst;
    const int64_t n = a->node->numel;
    const float c = ((const float *)a->src[0])[0] / (float)n;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n * FERRY_CPU_EXP_COST), i, n,
                       { d[i] = c * (1.0f / (1.0f + expf(-x[i])) - t[i]); });
}

/* ---- accuracy: rows whose first maximum is at the label ------------------------------------- */

/* Number of correct rows in [begin, end): an integer, so the chunk sums are exact. */
static double correct_rows(const struct ferry_cpu_args *a, int64_t begin, int64_t end)
{
    const int64_t k = a->node->src[0]->ne[1];
    const int32_t *restrict y = a->src[1];
    int64_t count = 0;
    for (int64_t i = begin; i < end; i++) {
        const float *restrict x = (const float *)a->src[0] + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (x[j] > x[best]) best = j;
        count += best == y[i];
    }
    return (double)count;
}

void ferry_cpu_count_correct(const struct ferry_cpu_args *a)
{
    const int64_t n = a->node->src[0]->ne[0], k = a->node->src[0]->ne[1];
    *(float *)a->dst = (float)chunked_sum(a, n, n * k, correct_rows);
}
