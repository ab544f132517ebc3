// The axis family (core/src/ops.def), one invocation per output element (grid-stride) unless
// noted. A tensor viewed around its axis is [outer, L, inner]; i[0] = invocation count.
// FERRY_OP_AXIS_CONCAT: i1 = inner, i2 = L of dst, i3..i8 = L of src0..src5 (0: absent)
// FERRY_OP_AXIS_SLICE: i1 = inner, i2 = L of dst, i3 = L of x, i4 = begin
// FERRY_OP_AXIS_PAD: i1 = inner, i2 = L of dst, i3 = L of g, i4 = begin
// FERRY_OP_TRANSPOSE: i1..i4 = dst shape (padded with 1), i5..i8 = x's stride for each dst coordinate
// FERRY_OP_REDUCE_AXIS, FERRY_OP_ARGMAX_AXIS: one per output; i1 = inner, i2 = L, i3 = kind, f0 = scale
// FERRY_OP_EXPAND_AXIS: i1 = inner, i2 = L; f0 = scale
// FERRY_OP_REDUCE_AXIS_BWD: one per column of the axis (outer·inner); i1 = inner, i2 = L, i3 = kind
// FERRY_OP_ONE_HOT: i1 = K
// FERRY_OP_GATHER_ROWS: i1 = D, i2 = R
// FERRY_OP_GATHER_ROWS_BWD: i1 = D, i2 = M
// FERRY_OP_BMM: i1 = M, i2 = N, i3 = K, i4 = trans_a, i5 = trans_b
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

#if OP == FERRY_OP_AXIS_CONCAT || OP == FERRY_OP_AXIS_SLICE || OP == FERRY_OP_TRANSPOSE
FERRY_BUF(B_DST, uint, dst); // 4-byte copies serve F32 and I32 alike
FERRY_BUF_RO(B_SRC0, uint, s0);
#if OP == FERRY_OP_AXIS_CONCAT
FERRY_BUF_RO(B_SRC1, uint, s1);
FERRY_BUF_RO(B_SRC2, uint, s2);
FERRY_BUF_RO(B_SRC3, uint, s3);
FERRY_BUF_RO(B_SRC4, uint, s4);
FERRY_BUF_RO(B_SRC5, uint, s5);
#endif
#elif OP == FERRY_OP_ARGMAX_AXIS
FERRY_BUF(B_DST, int, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
#elif OP == FERRY_OP_ONE_HOT
FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, int, s0);
#else
FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
#if OP == FERRY_OP_GATHER_ROWS || OP == FERRY_OP_GATHER_ROWS_BWD
FERRY_BUF_RO(B_SRC1, int, s1);
#else
FERRY_BUF_RO(B_SRC1, float, s1);
#endif
#endif

#define D(k) dst[pc.off[0] + (k)]
#define A(k) s0[pc.off[1] + (k)]
#define B(k) s1[pc.off[2] + (k)]

#if OP == FERRY_OP_REDUCE_AXIS || OP == FERRY_OP_ARGMAX_AXIS || OP == FERRY_OP_REDUCE_AXIS_BWD
// first index of the maximum (kind 1) or minimum (kind 2) of column base + j·inner of src0
uint arg_ext(uint base, uint len, uint inner, int kind)
{
    uint best = 0u;
    float v = A(base);
    for (uint j = 1u; j < len; j++) {
        float u = A(base + j * inner);
        if (kind == 1 ? u > v : u < v) {
            v = u;
            best = j;
        }
    }
    return best;
}
#endif

void main()
{
    const uint n = uint(pc.i[0]);
    FERRY_FOR(k, n) {
#if OP == FERRY_OP_AXIS_CONCAT
        uint inner = uint(pc.i[1]), L = uint(pc.i[2]);
        uint o = k / (L * inner), rem = k % (L * inner), j = rem / inner, in_ = rem % inner;
        uint off = 0u, s = 0u;
        while (s < 5u && j >= off + uint(pc.i[3 + s])) {
            off += uint(pc.i[3 + s]);
            s++;
        }
        uint len = uint(pc.i[3 + s]);
        uint q = (o * len + j - off) * inner + in_;
        uint v;
        if (s == 0u) v = s0[pc.off[1] + q];
        else if (s == 1u) v = s1[pc.off[2] + q];
        else if (s == 2u) v = s2[pc.off[3] + q];
        else if (s == 3u) v = s3[pc.off[4] + q];
        else if (s == 4u) v = s4[pc.off[5] + q];
        else v = s5[pc.off[6] + q];
        D(k) = v;
#elif OP == FERRY_OP_AXIS_SLICE
        uint inner = uint(pc.i[1]), L = uint(pc.i[2]), xl = uint(pc.i[3]), b = uint(pc.i[4]);
        uint o = k / (L * inner), rem = k % (L * inner), j = rem / inner, in_ = rem % inner;
        D(k) = A((o * xl + j + b) * inner + in_);
#elif OP == FERRY_OP_AXIS_PAD
        uint inner = uint(pc.i[1]), L = uint(pc.i[2]), gl = uint(pc.i[3]), b = uint(pc.i[4]);
        uint o = k / (L * inner), rem = k % (L * inner), j = rem / inner, in_ = rem % inner;
        D(k) = (j >= b && j < b + gl) ? A((o * gl + j - b) * inner + in_) : 0.0;
#elif OP == FERRY_OP_TRANSPOSE
        uint n1 = uint(pc.i[2]), n2 = uint(pc.i[3]), n3 = uint(pc.i[4]);
        uint i3 = k % n3, r = k / n3, i2 = r % n2;
        r /= n2;
        uint i1 = r % n1, i0 = r / n1;
        D(k) = A(i0 * uint(pc.i[5]) + i1 * uint(pc.i[6]) + i2 * uint(pc.i[7]) + i3 * uint(pc.i[8]));
#elif OP == FERRY_OP_REDUCE_AXIS || OP == FERRY_OP_ARGMAX_AXIS || OP == FERRY_OP_REDUCE_AXIS_BWD
        uint inner = uint(pc.i[1]), L = uint(pc.i[2]);
        int kind = pc.i[3];
        uint base = (k / inner) * L * inner + k % inner;
#if OP == FERRY_OP_REDUCE_AXIS
        if (kind == 0) {
            float acc = 0.0;
            for (uint j = 0u; j < L; j++) acc += A(base + j * inner);
            D(k) = pc.f[0] * acc;
        } else {
            D(k) = A(base + arg_ext(base, L, inner, kind) * inner);
        }
#elif OP == FERRY_OP_ARGMAX_AXIS
        D(k) = int(arg_ext(base, L, inner, 1));
#else
        // src0 = g (one per column), src1 = x: arg_ext reads src0, so search x here
        uint best = 0u;
        float v = B(base);
        for (uint j = 1u; j < L; j++) {
            float u = B(base + j * inner);
            if (kind == 1 ? u > v : u < v) {
                v = u;
                best = j;
            }
        }
        float gv = A(k);
        for (uint j = 0u; j < L; j++) D(base + j * inner) = j == best ? gv : 0.0;
#endif
#elif OP == FERRY_OP_EXPAND_AXIS
        uint inner = uint(pc.i[1]), L = uint(pc.i[2]);
        D(k) = pc.f[0] * A((k / (L * inner)) * inner + k % inner);
#elif OP == FERRY_OP_ONE_HOT
        int K = pc.i[1];
        D(k) = A(k / uint(K)) == int(k % uint(K)) ? 1.0 : 0.0;
#elif OP == FERRY_OP_GATHER_ROWS
        uint dd = uint(pc.i[1]);
        int r = B(k / dd);
        D(k) = (r >= 0 && r < pc.i[2]) ? A(uint(r) * dd + k % dd) : 0.0;
#elif OP == FERRY_OP_GATHER_ROWS_BWD
        uint dd = uint(pc.i[1]), m = uint(pc.i[2]);
        int r = int(k / dd);
        uint c = k % dd;
        float acc = 0.0;
        for (uint q = 0u; q < m; q++)
            if (B(q) == r) acc += A(q * dd + c);
        D(k) = acc;
#elif OP == FERRY_OP_BMM
        uint M = uint(pc.i[1]), N = uint(pc.i[2]), K = uint(pc.i[3]);
        bool ta = pc.i[4] != 0, tb = pc.i[5] != 0;
        uint bi = k / (M * N), rem = k % (M * N), m = rem / N, c = rem % N;
        uint ab = bi * M * K, bb = bi * K * N;
        float acc = 0.0;
        for (uint p = 0u; p < K; p++) {
            float av = ta ? A(ab + p * M + m) : A(ab + m * K + p);
            float bv = tb ? B(bb + c * K + p) : B(bb + p * N + c);
            acc += av * bv;
        }
        D(k) = acc;
#endif
    }
}
