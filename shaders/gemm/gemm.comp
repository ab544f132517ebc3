// Tiled GEMM C[M,N] = A[M,K]·B[K,N] with shared-memory tiles and register blocking, and the
// convolutions as implicit GEMMs (no im2col buffer: A and B are gathered on the fly).
//   MODE 0 matmul:            A = op(src0), B = op(src1); i3 = trans_a, i4 = trans_b
//   MODE 1 conv forward:      M = O, N = Nb·OH·OW, K = C·KH·KW; A = w (src1), B = x (src0) gathered
//   MODE 2 conv backward-data: M = C, N = Nb·H·W, K = O·KH·KW; A = wᵀ (src1), B = g (src0) gathered
//                             from the outputs whose windows cover each input pixel
//   MODE 3 conv backward-weight: M = O, N = C·KH·KW, K = Nb·OH·OW; A = g (src0), B = x (src1);
//                             split into gl_NumWorkGroups.z chunks of K (i4 long) written to scratch,
//                             summed in order by splitk_reduce.comp
// i0 = M, i1 = N, i2 = K; conv: i5 = Nb, i6 = C, i7 = H, i8 = W, i9 = O, i10 = KH, i11 = KW,
// i12 = OH, i13 = OW, i14 = stride, i15 = pad.
// Specialization constants: 3 = BM, 4 = BN, 5 = BK (tile), 6 = TM, 7 = TN (per invocation);
// the local size x must be (BM/TM)·(BN/TN).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint BM = 64;
layout(constant_id = 4) const uint BN = 64;
layout(constant_id = 5) const uint BK = 16;
layout(constant_id = 6) const uint TM = 4;
layout(constant_id = 7) const uint TN = 4;

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
FERRY_BUF_RO(B_SRC1, float, s1);
FERRY_BUF(B_SCRATCH, float, scratch);

shared float As[BK * BM]; // As[k][m]
shared float Bs[BK * BN]; // Bs[k][n]

uint M, N, K, NB, C, H, W, O, KH, KW, OH, OW, S, P;

float loadA(uint m, uint k)
{
    if (m >= M || k >= K) return 0.0;
#if MODE == 0
    return pc.i[3] != 0 ? s0[pc.off[1] + k * M + m] : s0[pc.off[1] + m * K + k];
#elif MODE == 1
    return s1[pc.off[2] + m * K + k];
#elif MODE == 2
    uint kk = KH * KW, o = k / kk, r = k % kk;
    return s1[pc.off[2] + (o * C + m) * kk + r];
#else
    uint q = OH * OW, n = k / q;
    return s0[pc.off[1] + (n * O + m) * q + k % q];
#endif
}

float loadB(uint k, uint j)
{
    if (k >= K || j >= N) return 0.0;
#if MODE == 0
    return pc.i[4] != 0 ? s1[pc.off[2] + j * K + k] : s1[pc.off[2] + k * N + j];
#elif MODE == 1 || MODE == 3
#if MODE == 1
    uint kk = KH * KW, c = k / kk, r = k % kk;
    uint q = OH * OW, n = j / q, o = j % q;
#define XBUF s0
#define XOFF pc.off[1]
#else
    uint kk = KH * KW, c = j / kk, r = j % kk;
    uint q = OH * OW, n = k / q, o = k % q;
#define XBUF s1
#define XOFF pc.off[2]
#endif
    int iy = int(o / OW) * int(S) - int(P) + int(r / KW);
    int ix = int(o % OW) * int(S) - int(P) + int(r % KW);
    if (iy < 0 || ix < 0 || iy >= int(H) || ix >= int(W)) return 0.0;
    return XBUF[XOFF + ((n * C + c) * H + uint(iy)) * W + uint(ix)];
#else
    uint kk = KH * KW, o = k / kk, r = k % kk;
    uint q = H * W, n = j / q, i = j % q;
    int ty = int(i / W) + int(P) - int(r / KW), tx = int(i % W) + int(P) - int(r % KW);
    if (ty < 0 || tx < 0 || ty % int(S) != 0 || tx % int(S) != 0) return 0.0;
    int oy = ty / int(S), ox = tx / int(S);
    if (oy >= int(OH) || ox >= int(OW)) return 0.0;
    return s0[pc.off[1] + ((n * O + o) * OH + uint(oy)) * OW + uint(ox)];
#endif
}

void store(uint m, uint j, float v)
{
    if (m >= M || j >= N) return;
#if MODE == 0
    dst[pc.off[0] + m * N + j] = v;
#elif MODE == 1
    uint q = OH * OW;
    dst[pc.off[0] + ((j / q) * O + m) * q + j % q] = v;
#elif MODE == 2
    uint q = H * W;
    dst[pc.off[0] + ((j / q) * C + m) * q + j % q] = v;
#else
    if (gl_NumWorkGroups.z == 1) dst[pc.off[0] + m * N + j] = v;
    else scratch[pc.off[7] + (gl_WorkGroupID.z * M + m) * N + j] = v;
#endif
}

void main()
{
    M = uint(pc.i[0]); N = uint(pc.i[1]); K = uint(pc.i[2]);
    NB = uint(pc.i[5]); C = uint(pc.i[6]); H = uint(pc.i[7]); W = uint(pc.i[8]); O = uint(pc.i[9]);
    KH = uint(pc.i[10]); KW = uint(pc.i[11]); OH = uint(pc.i[12]); OW = uint(pc.i[13]);
    S = uint(pc.i[14]); P = uint(pc.i[15]);

    const uint tid = gl_LocalInvocationID.x, nthreads = (BM / TM) * (BN / TN);
    const uint tm = tid / (BN / TN), tn = tid % (BN / TN);
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint k_begin = 0, k_end = K;
#if MODE == 3
    k_begin = gl_WorkGroupID.z * uint(pc.i[4]);
    k_end = min(K, k_begin + uint(pc.i[4]));
#endif

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
        for (uint e = tid; e < BK * BM; e += nthreads) { // As[kk][mm]
            uint kk = e / BM, mm = e % BM, k = k0 + kk;
            As[e] = k < k_end ? loadA(m0 + mm, k) : 0.0;
        }
        for (uint e = tid; e < BK * BN; e += nthreads) { // Bs[kk][nn]
            uint kk = e / BN, nn = e % BN, k = k0 + kk;
            Bs[e] = k < k_end ? loadB(k, n0 + nn) : 0.0;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
            for (uint i = 0; i < TM; i++) a[i] = As[kk * BM + tm * TM + i];
            for (uint j = 0; j < TN; j++) b[j] = Bs[kk * BN + tn * TN + j];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
        }
        barrier();
    }
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) store(m0 + tm * TM + i, n0 + tn * TN + j, acc[i * TN + j]);
}
