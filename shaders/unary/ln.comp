// Layer norm over the last dimension of x [N,D] (core/src/ops.def, the norm family).
// i[0] = items (rows, elements or columns), i[1] = N, i[2] = D, f[0] = eps.
// FERRY_OP_LN_STATS: src0 = x -> dst [N,2] (mean, invstd); one invocation per row
// FERRY_OP_LAYER_NORM: src0 = x, src1 = stats, src2 = gamma, src3 = beta; one per element
// FERRY_OP_LN_BWD_DATA: src0 = g, src1 = x, src2 = stats, src3 = gamma -> dx; one per row
// FERRY_OP_LN_BWD_PARAMS: src0 = g, src1 = x, src2 = stats -> dst [2,D]; one per column
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
FERRY_BUF_RO(B_SRC1, float, s1);
FERRY_BUF_RO(B_SRC2, float, s2);
FERRY_BUF_RO(B_SRC3, float, s3);

#define D(k) dst[pc.off[0] + (k)]
#define A(k) s0[pc.off[1] + (k)]
#define B(k) s1[pc.off[2] + (k)]
#define C2(k) s2[pc.off[3] + (k)]
#define C3(k) s3[pc.off[4] + (k)]

void main()
{
    const uint n = uint(pc.i[1]), dim = uint(pc.i[2]);
    FERRY_FOR(k, pc.i[0]) {
#if OP == FERRY_OP_LN_STATS
        float s = 0.0;
        for (uint j = 0; j < dim; j++) s += A(k * dim + j);
        float mean = s / float(dim), v = 0.0;
        for (uint j = 0; j < dim; j++) {
            float e = A(k * dim + j) - mean;
            v += e * e;
        }
        D(2 * k) = mean;
        D(2 * k + 1) = 1.0 / sqrt(v / float(dim) + pc.f[0]);
#elif OP == FERRY_OP_LAYER_NORM
        uint r = k / dim, j = k % dim;
        D(k) = (A(k) - B(2 * r)) * B(2 * r + 1) * C2(j) + C3(j);
#elif OP == FERRY_OP_LN_BWD_DATA
        float mean = C2(2 * k), is = C2(2 * k + 1), t1 = 0.0, t2 = 0.0;
        for (uint j = 0; j < dim; j++) {
            float h = A(k * dim + j) * C3(j), xh = (B(k * dim + j) - mean) * is;
            t1 += h;
            t2 += h * xh;
        }
        float m1 = t1 / float(dim), m2 = t2 / float(dim);
        for (uint j = 0; j < dim; j++) {
            float h = A(k * dim + j) * C3(j), xh = (B(k * dim + j) - mean) * is;
            D(k * dim + j) = is * (h - m1 - xh * m2);
        }
#else // FERRY_OP_LN_BWD_PARAMS
        float sg = 0.0, sb = 0.0;
        for (uint r = 0; r < n; r++) {
            float gv = A(r * dim + k);
            sg += gv * ((B(r * dim + k) - C2(2 * r)) * C2(2 * r + 1));
            sb += gv;
        }
        D(k) = sg;
        D(dim + k) = sb;
#endif
    }
}
