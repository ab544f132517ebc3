// Tiled GEMM C[M,N] = A[M,K]·B[K,N] with shared-memory tiles and register blocking, and the
// convolutions as implicit GEMMs (no im2col buffer: A and B are gathered on the fly).
//   MODE 0 matmul:            A = op(src0), B = op(src1); i3 = trans_a, i4 = trans_b; i5, i6, i7 =
//                             the row strides of the stored src0, src1 and dst (a sub-matrix of a
//                             larger one, when a large op is split); i8 = 1: C += A·B, continuing
//                             each element's sum where the previous part of K left it in dst
// Convolutions with G groups are G GEMMs, one per workgroup z (CG = C/G, OG = O/G; group q maps
// input channels [q·CG, (q+1)·CG) to output channels [q·OG, (q+1)·OG)):
//   MODE 1 conv forward:      M = OG, N = Nb·OH·OW, K = CG·KH·KW; A = w (src1), B = x (src0)
//                             gathered
//   MODE 2 conv backward-data: M = CG, N = Nb·H·W, K = OG·KH·KW; A = wᵀ (src1), B = g (src0)
//                             gathered from the outputs whose windows cover each input pixel
//   MODE 3 conv backward-weight: M = OG, N = CG·KH·KW, K = Nb·OH·OW; A = g (src0), B = x (src1);
//                             split into i3 chunks of K (i4 long) written to scratch, summed in
//                             order by splitk_reduce.comp; workgroup z = group·i3 + chunk
// i0 = M, i1 = N, i2 = K; conv: i5 = G, i6 = C, i7 = H, i8 = W, i9 = O, i10 = KH, i11 = KW,
// i12 = OH, i13 = OW, i14 = stride_h | stride_w << 8 | dilation_h << 16 | dilation_w << 24,
// i15 = pad_top | pad_left << 16.
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

uint M, N, K, G, C, H, W, O, KH, KW, OH, OW, SH, SW, DH, DW, PT, PL, CG, OG, GRP, LDA, LDB, LDC;

float loadA(uint m, uint k)
{
    if (m >= M || k >= K) return 0.0;
#if MODE == 0
    return pc.i[3] != 0 ? s0[pc.off[1] + k * LDA + m] : s0[pc.off[1] + m * LDA + k];
#elif MODE == 1
    return s1[pc.off[2] + (GRP * OG + m) * K + k];
#elif MODE == 2
    uint kk = KH * KW, o = GRP * OG + k / kk, r = k % kk;
    return s1[pc.off[2] + (o * CG + m) * kk + r];
#else
    uint q = OH * OW, n = k / q;
    return s0[pc.off[1] + (n * O + GRP * OG + m) * q + k % q];
#endif
}

float loadB(uint k, uint j)
{
    if (k >= K || j >= N) return 0.0;
#if MODE == 0
    return pc.i[4] != 0 ? s1[pc.off[2] + j * LDB + k] : s1[pc.off[2] + k * LDB + j];
#elif MODE == 1 || MODE == 3
#if MODE == 1
    uint kk = KH * KW, c = GRP * CG + k / kk, r = k % kk;
    uint q = OH * OW, n = j / q, o = j % q;
#define XBUF s0
#define XOFF pc.off[1]
#else
    uint kk = KH * KW, c = GRP * CG + j / kk, r = j % kk;
    uint q = OH * OW, n = k / q, o = k % q;
#define XBUF s1
#define XOFF pc.off[2]
#endif
    int iy = int(o / OW) * int(SH) - int(PT) + int(r / KW) * int(DH);
    int ix = int(o % OW) * int(SW) - int(PL) + int(r % KW) * int(DW);
    if (iy < 0 || ix < 0 || iy >= int(H) || ix >= int(W)) return 0.0;
    return XBUF[XOFF + ((n * C + c) * H + uint(iy)) * W + uint(ix)];
#else
    uint kk = KH * KW, o = GRP * OG + k / kk, r = k % kk;
    uint q = H * W, n = j / q, i = j % q;
    int ty = int(i / W) + int(PT) - int(r / KW) * int(DH);
    int tx = int(i % W) + int(PL) - int(r % KW) * int(DW);
    if (ty < 0 || tx < 0 || ty % int(SH) != 0 || tx % int(SW) != 0) return 0.0;
    int oy = ty / int(SH), ox = tx / int(SW);
    if (oy >= int(OH) || ox >= int(OW)) return 0.0;
    return s0[pc.off[1] + ((n * O + o) * OH + uint(oy)) * OW + uint(ox)];
#endif
}

void store(uint m, uint j, float v)
{
    if (m >= M || j >= N) return;
#if MODE == 0
    dst[pc.off[0] + m * LDC + j] = v;
#elif MODE == 1
    uint q = OH * OW;
    dst[pc.off[0] + ((j / q) * O + GRP * OG + m) * q + j % q] = v;
#elif MODE == 2
    uint q = H * W;
    dst[pc.off[0] + ((j / q) * C + GRP * CG + m) * q + j % q] = v;
#else
    uint splits = uint(pc.i[3]), row = GRP * OG + m;
    if (splits == 1) dst[pc.off[0] + row * N + j] = v;
    else scratch[pc.off[7] + ((gl_WorkGroupID.z % splits) * O + row) * N + j] = v;
#endif
}

void main()
{
    M = uint(pc.i[0]); N = uint(pc.i[1]); K = uint(pc.i[2]);
    G = uint(pc.i[5]); C = uint(pc.i[6]); H = uint(pc.i[7]); W = uint(pc.i[8]); O = uint(pc.i[9]);
    KH = uint(pc.i[10]); KW = uint(pc.i[11]); OH = uint(pc.i[12]); OW = uint(pc.i[13]);
    uint sd = uint(pc.i[14]), pp = uint(pc.i[15]);
    SH = sd & 255u; SW = (sd >> 8) & 255u; DH = (sd >> 16) & 255u; DW = sd >> 24;
    PT = pp & 65535u; PL = pp >> 16;
    GRP = 0u;
#if MODE == 0
    LDA = uint(pc.i[5]); LDB = uint(pc.i[6]); LDC = uint(pc.i[7]);
    G = 0u;
#endif
#if MODE == 1 || MODE == 2
    GRP = gl_WorkGroupID.z;
#elif MODE == 3
    GRP = gl_WorkGroupID.z / uint(pc.i[3]);
#endif
    if (G > 0u) { CG = C / G; OG = O / G; }

    const uint tid = gl_LocalInvocationID.x, nthreads = (BM / TM) * (BN / TN);
    const uint tm = tid / (BN / TN), tn = tid % (BN / TN);
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint k_begin = 0, k_end = K;
#if MODE == 3
    k_begin = (gl_WorkGroupID.z % uint(pc.i[3])) * uint(pc.i[4]);
    k_end = min(K, k_begin + uint(pc.i[4]));
#endif

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;
#if MODE == 0
    if (pc.i[8] != 0)
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++) {
                uint m = m0 + tm * TM + i, n = n0 + tn * TN + j;
                if (m < M && n < N) acc[i * TN + j] = dst[pc.off[0] + m * LDC + n];
            }
#endif

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
