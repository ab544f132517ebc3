/* CPU kernels: optimizer updates, PyTorch's torch.optim.SGD (dampening 0) and Adam / AdamW.
 * They write the parameter (src0) and its state in place; the node's dst aliases src0. */
#include "cpu.h"

#include <math.h>

/* src0 = p, src1 = grad, src2 = momentum buffer (starts at 0), src3 = lr scalar;
 * fp0 = lr_mult, fp1 = momentum, fp2 = weight decay, ip0 = nesterov.
 * d = g + wd·p; buf = momentum·buf + d; d = nesterov ? d + momentum·buf : buf; p -= lr·d */
void ferry_cpu_sgd_update(const struct ferry_cpu_args *a)
{
    float *restrict p = a->src[0], *restrict buf = a->src[2];
    const float *restrict g = a->src[1];
    const float lr = ((const float *)a->src[3])[0] * a->node->fp[0];
    const float mom = a->node->fp[1], wd = a->node->fp[2];
    const bool nesterov = a->node->ip[0] != 0;
    const int64_t n = a->node->src[0]->numel;
    const int nt = ferry_cpu_threads(a, n);
    if (mom == 0.0f) {
        FERRY_CPU_FOR_SIMD(nt, i, n, { p[i] -= lr * (g[i] + wd * p[i]); });
        return;
    }
    /* step d + mom·buf (nesterov) or 0·d + 1·buf = buf, written without a branch */
    const float d_w = nesterov ? 1.0f : 0.0f, buf_w = nesterov ? mom : 1.0f;
    FERRY_CPU_FOR_SIMD(nt, i, n, {
        const float d = g[i] + wd * p[i];
        buf[i] = mom * buf[i] + d;
        p[i] -= lr * (d_w * d + buf_w * buf[i]);
    });
}

/* src0 = p, src1 = grad, src2 = m, src3 = v, src4 = hyper (lr, 1-b1^t, 1-b2^t, 0);
 * fp0 = lr_mult, fp1 = b1, fp2 = b2, fp3 = eps, fp4 = wd, ip0 = decoupled (AdamW).
 * m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²;
 * p -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps) */
void ferry_cpu_adam_update(const struct ferry_cpu_args *a)
{
    float *restrict p = a->src[0], *restrict m = a->src[2], *restrict v = a->src[3];
    const float *restrict g = a->src[1], *restrict hyper = a->src[4];
    const struct ferry_tensor *node = a->node;
    const float lr = hyper[0] * node->fp[0];
    const float step = lr / hyper[1], bc2_sqrt = sqrtf(hyper[2]);
    const float b1 = node->fp[1], b2 = node->fp[2], eps = node->fp[3], wd = node->fp[4];
    const bool decoupled = node->ip[0] != 0;
    const float decay = decoupled ? 1.0f - lr * wd : 1.0f; /* AdamW: p *= 1 - lr·wd first */
    const float l2 = decoupled ? 0.0f : wd;                /* Adam: g += wd·p */
    const int64_t n = node->src[0]->numel;
    FERRY_CPU_FOR_SIMD(ferry_cpu_threads(a, n), i, n, {
        const float gi = g[i] + l2 * p[i];
        const float pi = p[i] * decay;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] = pi - step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    });
}
