// FERRY_OP_ADD: dst = f0*a + f1*b (same shapes). i0 = numel.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, a);
FERRY_BUF_RO(B_SRC1, float, b);

void main()
{
    FERRY_FOR(k, pc.i[0]) dst[pc.off[0] + k] = pc.f[0] * a[pc.off[1] + k] + pc.f[1] * b[pc.off[2] + k];
}
