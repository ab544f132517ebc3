// Reductions to one scalar, in one workgroup: each invocation sums a fixed strided subset in a fixed
// order, then a fixed tree in shared memory. Deterministic, no atomics. The workgroup size is
// FERRY_REDUCE (a power of two, spec constant 0 must equal it).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_SUM: dst = f0 · Σ x; i0 = n
// FERRY_OP_CROSS_ENTROPY: src0 = logits [N,K], src1 = labels; f0 = smoothing; i0 = N, i1 = K: mean loss
// FERRY_OP_BCE_LOGITS: src0 = x, src1 = t; i0 = n: mean of max(x,0) − x·t + log(1 + exp(−|x|))
// FERRY_OP_COUNT_CORRECT: src0 = logits [N,K], src1 = labels; i0 = N, i1 = K

#define FERRY_REDUCE 256

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, x);
#if OP == FERRY_OP_CROSS_ENTROPY || OP == FERRY_OP_COUNT_CORRECT
FERRY_BUF_RO(B_SRC1, int, labels);
#else
FERRY_BUF_RO(B_SRC1, float, t);
#endif

shared float part[FERRY_REDUCE];

#define X(k) x[pc.off[1] + (k)]

void main()
{
    const uint tid = gl_LocalInvocationID.x, n = uint(pc.i[0]);
    float acc = 0.0;
    for (uint i = tid; i < n; i += FERRY_REDUCE) {
#if OP == FERRY_OP_SUM
        acc += X(i);
#elif OP == FERRY_OP_BCE_LOGITS
        float v = X(i);
        acc += max(v, 0.0) - v * t[pc.off[2] + i] + log(1.0 + exp(-abs(v)));
#else
        const uint K = uint(pc.i[1]), r = i * K;
        int y = labels[pc.off[2] + i];
#if OP == FERRY_OP_CROSS_ENTROPY
        float m = X(r);
        for (uint j = 1; j < K; j++) m = max(m, X(r + j));
        // lse − (1−eps)·x_y − eps/K·Σx, with every x taken relative to the row max m (exactly 0 for
        // K = 1, no cancellation of a large m)
        float s = 0.0, sx = 0.0;
        for (uint j = 0; j < K; j++) {
            s += exp(X(r + j) - m);
            sx += X(r + j) - m;
        }
        float eps = pc.f[0];
        acc += log(s) - (1.0 - eps) * (X(r + uint(y)) - m) - eps / float(K) * sx;
#else
        uint best = 0;
        for (uint j = 1; j < K; j++)
            if (X(r + j) > X(r + best)) best = j;
        acc += int(best) == y ? 1.0 : 0.0;
#endif
#endif
    }
    part[tid] = acc;
    barrier();
    for (uint s = FERRY_REDUCE / 2; s > 0; s >>= 1) {
        if (tid < s) part[tid] += part[tid + s];
        barrier();
    }
    if (tid == 0) {
#if OP == FERRY_OP_SUM
        dst[pc.off[0]] = pc.f[0] * part[0];
#elif OP == FERRY_OP_COUNT_CORRECT
        dst[pc.off[0]] = part[0];
#else
        dst[pc.off[0]] = part[0] / float(n);
#endif
    }
}
