// Row ops of a 2-D tensor [N, K], one invocation per row (classification heads: K is small).
// i[0] = N, i[1] = K.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_SOFTMAX: dst = softmax(x)
// FERRY_OP_LOG_SOFTMAX: dst = x - logsumexp(x)
// FERRY_OP_SOFTMAX_BWD: src0 = g, src1 = y: y·(g − Σ g·y)
// FERRY_OP_LOG_SOFTMAX_BWD: src0 = g, src1 = y: g − exp(y)·Σ g
// FERRY_OP_CROSS_ENTROPY_BWD: src0 = g scalar, src1 = logits, src2 = labels I32; f0 = smoothing:
                             // g·(softmax − q)/N

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
FERRY_BUF_RO(B_SRC1, float, s1);
FERRY_BUF_RO(B_SRC2, int, labels);

void main()
{
    const uint N = uint(pc.i[0]), K = uint(pc.i[1]);
    FERRY_FOR(i, N) {
        const uint r = i * K;
#if OP == FERRY_OP_SOFTMAX || OP == FERRY_OP_LOG_SOFTMAX || OP == FERRY_OP_CROSS_ENTROPY_BWD
#if OP == FERRY_OP_CROSS_ENTROPY_BWD
#define X(j) s1[pc.off[2] + r + (j)]
#else
#define X(j) s0[pc.off[1] + r + (j)]
#endif
        float m = X(0);
        for (uint j = 1; j < K; j++) m = X(j) > m ? X(j) : m;
        float s = 0.0;
        for (uint j = 0; j < K; j++) s += exp(X(j) - m);
#if OP == FERRY_OP_SOFTMAX
        float inv = 1.0 / s;
        for (uint j = 0; j < K; j++) dst[pc.off[0] + r + j] = exp(X(j) - m) * inv;
#elif OP == FERRY_OP_LOG_SOFTMAX
        float ls = log(s);
        for (uint j = 0; j < K; j++) dst[pc.off[0] + r + j] = (X(j) - m) - ls;
#else
        float inv = 1.0 / s, eps = pc.f[0], off = eps / float(K);
        float c = s0[pc.off[1]] / float(N);
        int y = labels[pc.off[3] + i];
        for (uint j = 0; j < K; j++) {
            float v = c * (exp(X(j) - m) * inv - off);
            if (int(j) == y) v -= c * (1.0 - eps);
            dst[pc.off[0] + r + j] = v;
        }
#endif
#elif OP == FERRY_OP_SOFTMAX_BWD
        float dot = 0.0;
        for (uint j = 0; j < K; j++) dot += s0[pc.off[1] + r + j] * s1[pc.off[2] + r + j];
        for (uint j = 0; j < K; j++)
            dst[pc.off[0] + r + j] = s1[pc.off[2] + r + j] * (s0[pc.off[1] + r + j] - dot);
#elif OP == FERRY_OP_LOG_SOFTMAX_BWD
        float sum = 0.0;
        for (uint j = 0; j < K; j++) sum += s0[pc.off[1] + r + j];
        for (uint j = 0; j < K; j++)
            dst[pc.off[0] + r + j] = s0[pc.off[1] + r + j] - exp(s1[pc.off[2] + r + j]) * sum;
#endif
    }
}
