// Broadcasting binary ops, one invocation per dst element (grid-stride), and sum_to.
// Binary ops: i0 = n, i1..i3 = dst dims 1..3 (4-D, right-aligned; dim 0 = n / (d1·d2·d3)),
// i4..i7 = a's strides, i8..i11 = b's strides in dst's index space (0 along a broadcast dimension),
// i12..i15 = the condition's strides (where) or i12 = the comparison (compare); f0, f1 = add's
// coefficients.
// FERRY_OP_SUM_TO: i0 = n (dst elements), i1..i4 = g's dims, i5..i8 = dst's dims (4-D).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
FERRY_BUF_RO(B_SRC1, float, s1);
FERRY_BUF_RO(B_SRC2, float, s2);

// must match ferry_cmp in core/include/ferry/tensor.h
const int CMP_LT = 0, CMP_LE = 1, CMP_GT = 2, CMP_GE = 3, CMP_EQ = 4, CMP_NE = 5;

void main()
{
    const uint n = uint(pc.i[0]);
#if OP == FERRY_OP_SUM_TO
    const uint g0 = uint(pc.i[1]), g1 = uint(pc.i[2]), g2 = uint(pc.i[3]), g3 = uint(pc.i[4]);
    const uint d0 = uint(pc.i[5]), d1 = uint(pc.i[6]), d2 = uint(pc.i[7]), d3 = uint(pc.i[8]);
    const uint gs0 = g1 * g2 * g3, gs1 = g2 * g3, gs2 = g3;
    const uint r0 = d0 == 1u ? g0 : 1u, r1 = d1 == 1u ? g1 : 1u, r2 = d2 == 1u ? g2 : 1u, r3 = d3 == 1u ? g3 : 1u;
    FERRY_FOR(o, n) {
        uint o3 = o % d3, o2 = (o / d3) % d2, o1 = (o / (d3 * d2)) % d1, o0 = o / (d3 * d2 * d1);
        uint base = o0 * gs0 + o1 * gs1 + o2 * gs2 + o3;
        float acc = 0.0;
        for (uint a0 = 0u; a0 < r0; a0++)
            for (uint a1 = 0u; a1 < r1; a1++)
                for (uint a2 = 0u; a2 < r2; a2++)
                    for (uint a3 = 0u; a3 < r3; a3++)
                        acc += s0[pc.off[1] + base + a0 * gs0 + a1 * gs1 + a2 * gs2 + a3];
        dst[pc.off[0] + o] = acc;
    }
#else
    const uint d1 = uint(pc.i[1]), d2 = uint(pc.i[2]), d3 = uint(pc.i[3]);
    FERRY_FOR(k, n) {
        uint j = k % d3, i2 = (k / d3) % d2, i1 = (k / (d3 * d2)) % d1, i0 = k / (d3 * d2 * d1);
        uint ia = i0 * uint(pc.i[4]) + i1 * uint(pc.i[5]) + i2 * uint(pc.i[6]) + j * uint(pc.i[7]);
        uint ib = i0 * uint(pc.i[8]) + i1 * uint(pc.i[9]) + i2 * uint(pc.i[10]) + j * uint(pc.i[11]);
        float x = s0[pc.off[1] + ia], y = s1[pc.off[2] + ib], r;
#if OP == FERRY_OP_ADD
        r = pc.f[0] * x + pc.f[1] * y;
#elif OP == FERRY_OP_MUL
        r = x * y;
#elif OP == FERRY_OP_DIV
        r = x / y;
#elif OP == FERRY_OP_MAXIMUM
        r = x >= y ? x : y;
#elif OP == FERRY_OP_MINIMUM
        r = x <= y ? x : y;
#elif OP == FERRY_OP_COMPARE
        int cmp = pc.i[12];
        bool t = cmp == CMP_LT ? x < y : cmp == CMP_LE ? x <= y : cmp == CMP_GT ? x > y
               : cmp == CMP_GE ? x >= y : cmp == CMP_EQ ? x == y : x != y;
        r = t ? 1.0 : 0.0;
#elif OP == FERRY_OP_WHERE
        uint ic = i0 * uint(pc.i[12]) + i1 * uint(pc.i[13]) + i2 * uint(pc.i[14]) + j * uint(pc.i[15]);
        r = s2[pc.off[3] + ic] != 0.0 ? x : y;
#endif
        dst[pc.off[0] + k] = r;
    }
#endif
}
