// Sums the split-K partial products of gemm.comp (MODE 3) in a fixed order: dst[i] = Σ_z scratch[z][i].
// i0 = elements of dst, i1 = number of partials.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SCRATCH, float, scratch);

void main()
{
    const uint n = uint(pc.i[0]), parts = uint(pc.i[1]);
    FERRY_FOR(i, n) {
        float s = 0.0;
        for (uint z = 0; z < parts; z++) s += scratch[pc.off[7] + z * n + i];
        dst[pc.off[0] + i] = s;
    }
}
