// 2-D pooling. Forward: one invocation per output element; backward: one per input element,
// gathering from every window that covers it in window order (the CPU's order of accumulation),
// so nothing is written twice and no atomics are needed.
// i0 = count, i1 = H, i2 = W, i3 = OH, i4 = OW, i5 = KH, i6 = KW, i7 = SH, i8 = SW, i9 = PH,
// i10 = PW (top and left padding), i11 = PB, i12 = PR (bottom and right padding), i13 = 1: the
// average divides by the in-bounds count of each window, 0: by the size of the window clipped to the
// padded input; f0 = 1/(KH·KW) (average, the divisor of a full window).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_MAX_POOL: src0 = x
// FERRY_OP_MAX_POOL_BWD: src0 = g, src1 = x: gradient to the first maximum of each window
// FERRY_OP_AVG_POOL: src0 = x (count_include_pad)
// FERRY_OP_AVG_POOL_BWD: src0 = g

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
FERRY_BUF_RO(B_SRC1, float, s1);

int H, W, OH, OW, KH, KW, SH, SW, PH, PW, PB, PR;

// Divisor of the average of window (oy, ox) (see the CPU kernel).
float avg_inv(int oy, int ox)
{
    int ys = oy * SH - PH, xs = ox * SW - PW;
    int n;
    if (pc.i[13] != 0)
        n = (min(ys + KH, H) - max(ys, 0)) * (min(xs + KW, W) - max(xs, 0));
    else
        n = (min(ys + KH, H + PB) - ys) * (min(xs + KW, W + PR) - xs);
    return n == KH * KW ? pc.f[0] : (n > 0 ? 1.0 / float(n) : 0.0);
}

bool beats(float v, float m) { return v > m || (isnan(v) && !isnan(m)); }

// Index (within the plane) of the first maximum of window (oy, ox) of plane x, or -1 if empty.
int argmax_at(uint xbase, int oy, int ox)
{
    int ys = oy * SH - PH, xs = ox * SW - PW;
    int y0 = max(ys, 0), y1 = min(ys + KH, H), x0 = max(xs, 0), x1 = min(xs + KW, W);
    if (y0 >= y1 || x0 >= x1) return -1;
    int best = y0 * W + x0;
    float m = s1[xbase + uint(best)];
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            float v = s1[xbase + uint(iy * W + ix)];
            if (beats(v, m)) {
                m = v;
                best = iy * W + ix;
            }
        }
    return best;
}

void main()
{
    H = pc.i[1]; W = pc.i[2]; OH = pc.i[3]; OW = pc.i[4]; KH = pc.i[5]; KW = pc.i[6];
    SH = pc.i[7]; SW = pc.i[8]; PH = pc.i[9]; PW = pc.i[10]; PB = pc.i[11]; PR = pc.i[12];
    FERRY_FOR(k, pc.i[0]) {
#if OP == FERRY_OP_MAX_POOL || OP == FERRY_OP_AVG_POOL
        uint pl = k / uint(OH * OW), o = k % uint(OH * OW);
        int oy = int(o) / OW, ox = int(o) % OW;
        int ys = oy * SH - PH, xs = ox * SW - PW;
        int y0 = max(ys, 0), y1 = min(ys + KH, H), x0 = max(xs, 0), x1 = min(xs + KW, W);
        uint xb = pc.off[1] + pl * uint(H * W);
#if OP == FERRY_OP_MAX_POOL
        float m = -1.0 / 0.0;
        bool first = true;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                float v = s0[xb + uint(iy * W + ix)];
                if (first || beats(v, m)) m = v;
                first = false;
            }
        dst[pc.off[0] + k] = m;
#else
        float s = 0.0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += s0[xb + uint(iy * W + ix)];
        dst[pc.off[0] + k] = s * avg_inv(oy, ox);
#endif
#else
        uint pl = k / uint(H * W), i = k % uint(H * W);
        int iy = int(i) / W, ix = int(i) % W;
        int lo_y = iy + PH - KH + 1, lo_x = ix + PW - KW + 1;
        int oy0 = lo_y <= 0 ? 0 : (lo_y + SH - 1) / SH, oy1 = min((iy + PH) / SH, OH - 1);
        int ox0 = lo_x <= 0 ? 0 : (lo_x + SW - 1) / SW, ox1 = min((ix + PW) / SW, OW - 1);
        uint gb = pc.off[1] + pl * uint(OH * OW);
        float acc = 0.0;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
#if OP == FERRY_OP_MAX_POOL_BWD
                if (argmax_at(pc.off[2] + pl * uint(H * W), oy, ox) == int(i)) acc += s0[gb + uint(oy * OW + ox)];
#else
                acc += s0[gb + uint(oy * OW + ox)] * avg_inv(oy, ox);
#endif
            }
        dst[pc.off[0] + k] = acc;
#endif
    }
}
