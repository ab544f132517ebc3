// Adaptive 2-D average pooling. Output (oy, ox) averages rows [floor(oy·H/OH), ceil((oy+1)·H/OH))
// and columns [floor(ox·W/OW), ceil((ox+1)·W/OW)). Forward: one invocation per output element;
// backward: one per input element, gathering from the windows that cover it in row-major window
// order (the CPU's order of accumulation), so no atomics are needed.
// i0 = count, i1 = H, i2 = W, i3 = OH, i4 = OW.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_ADAPTIVE_AVG_POOL: src0 = x
// FERRY_OP_ADAPTIVE_AVG_POOL_BWD: src0 = g

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);

int lo(int o, int n, int on) { return (o * n) / on; }
int hi(int o, int n, int on) { return ((o + 1) * n + on - 1) / on; }

void main()
{
    int H = pc.i[1], W = pc.i[2], OH = pc.i[3], OW = pc.i[4];
    FERRY_FOR(k, pc.i[0]) {
#if OP == FERRY_OP_ADAPTIVE_AVG_POOL
        uint pl = k / uint(OH * OW), o = k % uint(OH * OW);
        int oy = int(o) / OW, ox = int(o) % OW;
        int y0 = lo(oy, H, OH), y1 = hi(oy, H, OH), x0 = lo(ox, W, OW), x1 = hi(ox, W, OW);
        uint xb = pc.off[1] + pl * uint(H * W);
        float s = 0.0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += s0[xb + uint(iy * W + ix)];
        dst[pc.off[0] + k] = s / float((y1 - y0) * (x1 - x0));
#else
        uint pl = k / uint(H * W), i = k % uint(H * W);
        int iy = int(i) / W, ix = int(i) % W;
        int oy0 = (iy * OH) / H, oy1 = ((iy + 1) * OH + H - 1) / H;
        int ox0 = (ix * OW) / W, ox1 = ((ix + 1) * OW + W - 1) / W;
        uint gb = pc.off[1] + pl * uint(OH * OW);
        float acc = 0.0;
        for (int oy = oy0; oy < oy1; oy++)
            for (int ox = ox0; ox < ox1; ox++) {
                int n = (hi(oy, H, OH) - lo(oy, H, OH)) * (hi(ox, W, OW) - lo(ox, W, OW));
                acc += s0[gb + uint(oy * OW + ox)] / float(n);
            }
        dst[pc.off[0] + k] = acc;
#endif
    }
}
