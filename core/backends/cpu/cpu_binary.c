/* CPU kernels of the broadcasting binary ops (add, mul, div, maximum, minimum, compare, select) and
 * of sum_to, the reduction that undoes a broadcast. Same-shape add and mul keep their plain loops
 * (cpu_elementwise.c), so their results are those of the ops before broadcasting existed. */
#include "cpu.h"

#include <string.h>

static bool same_as_dst(const struct ferry_cpu_args *a)
{
    return a->node->src[0]->numel == a->node->numel && a->node->src[1]->numel == a->node->numel;
}

/* dst[i0,i1,i2,j] = EXPR over x = a's element, y = b's (and c = the condition's), rows of the last
 * dimension split over threads. */
#define BINARY_LOOP(a, EXPR)                                                                     \
    do {                                                                                         \
        const struct ferry_tensor *nd_ = (a)->node;                                              \
        int64_t d_[4], sa_[4], sb_[4], sc_[4] = {0, 0, 0, 0};                                    \
        ferry_dims4(nd_, d_);                                                                          \
        ferry_broadcast_strides(nd_->src[0], d_, sa_);                                                          \
        ferry_broadcast_strides(nd_->src[1], d_, sb_);                                                          \
        if (nd_->src[2]) ferry_broadcast_strides(nd_->src[2], d_, sc_);                                         \
        const float *restrict xa_ = (a)->src[0], *restrict xb_ = (a)->src[1];                    \
        const float *restrict xc_ = (a)->src[2];                                                 \
        float *restrict dst_ = (a)->dst;                                                         \
        const int64_t rows_ = d_[0] * d_[1] * d_[2], w_ = d_[3];                                 \
        FERRY_CPU_FOR(ferry_cpu_threads(a, nd_->numel), r, rows_, {                               \
            const int64_t i2 = r % d_[2], i1 = (r / d_[2]) % d_[1], i0 = r / (d_[2] * d_[1]);    \
            const int64_t oa = i0 * sa_[0] + i1 * sa_[1] + i2 * sa_[2];                          \
            const int64_t ob = i0 * sb_[0] + i1 * sb_[1] + i2 * sb_[2];                          \
            const int64_t oc = i0 * sc_[0] + i1 * sc_[1] + i2 * sc_[2];                          \
            (void)oc;                                                                            \
            for (int64_t j = 0; j < w_; j++) {                                                   \
                const float x = xa_[oa + j * sa_[3]], y = xb_[ob + j * sb_[3]];                  \
                const float c = xc_ ? xc_[oc + j * sc_[3]] : 0.0f;                               \
                (void)c;                                                                         \
                dst_[r * w_ + j] = (EXPR);                                                       \
            }                                                                                    \
        });                                                                                      \
    } while (0)

void ferry_cpu_add_any(const struct ferry_cpu_args *a)
{
    if (same_as_dst(a)) {
        ferry_cpu_add(a);
        return;
    }
    const float ca = a->node->fp[0], cb = a->node->fp[1];
    BINARY_LOOP(a, ca * x + cb * y);
}

void ferry_cpu_mul_any(const struct ferry_cpu_args *a)
{
    if (same_as_dst(a)) {
        ferry_cpu_mul(a);
        return;
    }
    BINARY_LOOP(a, x * y);
}

void ferry_cpu_div(const struct ferry_cpu_args *a) { BINARY_LOOP(a, x / y); }
/* a wins ties (the backward routes the gradient to a there) */
void ferry_cpu_maximum(const struct ferry_cpu_args *a) { BINARY_LOOP(a, x >= y ? x : y); }
void ferry_cpu_minimum(const struct ferry_cpu_args *a) { BINARY_LOOP(a, x <= y ? x : y); }

void ferry_cpu_compare(const struct ferry_cpu_args *a)
{
    switch ((ferry_cmp)a->node->ip[0]) {
    case FERRY_CMP_LT: BINARY_LOOP(a, x < y ? 1.0f : 0.0f); break;
    case FERRY_CMP_LE: BINARY_LOOP(a, x <= y ? 1.0f : 0.0f); break;
    case FERRY_CMP_GT: BINARY_LOOP(a, x > y ? 1.0f : 0.0f); break;
    case FERRY_CMP_GE: BINARY_LOOP(a, x >= y ? 1.0f : 0.0f); break;
    case FERRY_CMP_EQ: BINARY_LOOP(a, x == y ? 1.0f : 0.0f); break;
    case FERRY_CMP_NE: BINARY_LOOP(a, x != y ? 1.0f : 0.0f); break;
    }
}

void ferry_cpu_where(const struct ferry_cpu_args *a) { BINARY_LOOP(a, c != 0.0f ? x : y); }

/* Each dst element sums the g elements that broadcast to it, in row-major order of g. */
void ferry_cpu_sum_to(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *nd = a->node;
    int64_t gd[4], dd[4];
    ferry_dims4(nd->src[0], gd);
    ferry_dims4(nd, dd);
    int64_t gs[4] = {gd[1] * gd[2] * gd[3], gd[2] * gd[3], gd[3], 1};
    int64_t red[4]; /* extent of the summed range along each dimension */
    for (int k = 0; k < 4; k++) red[k] = dd[k] == 1 ? gd[k] : 1;
    const float *restrict g = a->src[0];
    float *restrict dst = a->dst;
    FERRY_CPU_FOR(ferry_cpu_threads(a, nd->src[0]->numel), o, nd->numel, {
        const int64_t o3 = o % dd[3], o2 = (o / dd[3]) % dd[2], o1 = (o / (dd[3] * dd[2])) % dd[1];
        const int64_t o0 = o / (dd[3] * dd[2] * dd[1]);
        const int64_t base = o0 * gs[0] + o1 * gs[1] + o2 * gs[2] + o3;
        float acc = 0.0f;
        for (int64_t r0 = 0; r0 < red[0]; r0++)
            for (int64_t r1 = 0; r1 < red[1]; r1++)
                for (int64_t r2 = 0; r2 < red[2]; r2++)
                    for (int64_t r3 = 0; r3 < red[3]; r3++)
                        acc += g[base + r0 * gs[0] + r1 * gs[1] + r2 * gs[2] + r3];
        dst[o] = acc;
    });
}
