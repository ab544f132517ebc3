// Per-channel reductions over (N, spatial) of x [N, C, S...]: one workgroup per channel, each
// invocation sums a fixed strided subset, then a fixed tree. i0 = N, i1 = C, i2 = S.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_BIAS_GRAD: dst[c] = Σ g
// FERRY_OP_BN_STATS: src0 = x, src1 = running mean, src2 = running var (updated in place);
                          // f0 = momentum, f1 = eps: dst [2,C] = (mean, 1/sqrt(var + eps))
// FERRY_OP_BN_BWD_PARAMS: src0 = g, src1 = x, src2 = stats: dst [2,C] = (Σ g·xhat, Σ g)

#define WG 256

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, a);
#if OP == FERRY_OP_BN_STATS
FERRY_BUF(B_SRC1, float, rmean);
FERRY_BUF(B_SRC2, float, rvar);
#else
FERRY_BUF_RO(B_SRC1, float, b);
FERRY_BUF_RO(B_SRC2, float, st);
#endif

shared float p0[WG], p1[WG];

void reduce2(uint tid)
{
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s) {
            p0[tid] += p0[tid + s];
            p1[tid] += p1[tid + s];
        }
        barrier();
    }
}

void main()
{
    const uint tid = gl_LocalInvocationID.x, c = gl_WorkGroupID.x;
    const uint N = uint(pc.i[0]), C = uint(pc.i[1]), S = uint(pc.i[2]), M = N * S;
    // element j of this channel: n = j / S, s = j % S
#define AT(j) ((((j) / S) * C + c) * S + (j) % S)
    float acc0 = 0.0, acc1 = 0.0;
#if OP == FERRY_OP_BIAS_GRAD
    for (uint j = tid; j < M; j += WG) acc0 += a[pc.off[1] + AT(j)];
    p0[tid] = acc0;
    p1[tid] = 0.0;
    reduce2(tid);
    if (tid == 0) dst[pc.off[0] + c] = p0[0];
#elif OP == FERRY_OP_BN_STATS
    for (uint j = tid; j < M; j += WG) acc0 += a[pc.off[1] + AT(j)];
    p0[tid] = acc0;
    p1[tid] = 0.0;
    reduce2(tid);
    const float mean = p0[0] / float(M);
    barrier();
    for (uint j = tid; j < M; j += WG) {
        float d = a[pc.off[1] + AT(j)] - mean;
        acc1 += d * d;
    }
    p0[tid] = 0.0;
    p1[tid] = acc1;
    reduce2(tid);
    if (tid == 0) {
        float ss = p1[0], mom = pc.f[0];
        float unbiased = M > 1 ? ss / float(M - 1) : ss;
        dst[pc.off[0] + c] = mean;
        dst[pc.off[0] + C + c] = 1.0 / sqrt(ss / float(M) + pc.f[1]);
        rmean[pc.off[2] + c] = (1.0 - mom) * rmean[pc.off[2] + c] + mom * mean;
        rvar[pc.off[3] + c] = (1.0 - mom) * rvar[pc.off[3] + c] + mom * unbiased;
    }
#else
    const float mean = st[pc.off[3] + c], invstd = st[pc.off[3] + C + c];
    for (uint j = tid; j < M; j += WG) {
        float gv = a[pc.off[1] + AT(j)];
        acc0 += gv * ((b[pc.off[2] + AT(j)] - mean) * invstd);
        acc1 += gv;
    }
    p0[tid] = acc0;
    p1[tid] = acc1;
    reduce2(tid);
    if (tid == 0) {
        dst[pc.off[0] + c] = p0[0];
        dst[pc.off[0] + C + c] = p1[0];
    }
#endif
}
