// Shared by every Ferry compute shader: the push-constant block and the binding layout of
// core/backends/vulkan/vk_ops.h. Include with
//   #extension GL_GOOGLE_include_directive : require
//   #include "common.glsl"
// then declare the bindings the shader uses with the macros below, e.g.
//   FERRY_BUF(0, float, dst);   FERRY_BUF_RO(1, float, a);   FERRY_BUF_RO(2, int, labels);
// and index them with the binding's element offset: dst[pc.off[0] + i].

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(push_constant) uniform FerryPush {
    int i[16];    // integer parameters (sizes, strides, the node's ip[])
    float f[8];   // float parameters (usually the node's fp[])
    uint off[8];  // element offset of each binding: 0 dst, 1..6 src0..src5, 7 scratch
} pc;

#define FERRY_BUF(b, type, name) \
    layout(std430, set = 0, binding = b) buffer FerryBuf##b { type name[]; }
#define FERRY_BUF_RO(b, type, name) \
    layout(std430, set = 0, binding = b) readonly buffer FerryBuf##b { type name[]; }

#define B_DST 0
#define B_SRC0 1
#define B_SRC1 2
#define B_SRC2 3
#define B_SRC3 4
#define B_SRC4 5
#define B_SRC5 6
#define B_SCRATCH 7

// Grid-stride loop over n items of a one-dimensional dispatch.
#define FERRY_FOR(idx, n) \
    for (uint idx = gl_GlobalInvocationID.x; idx < uint(n); idx += gl_NumWorkGroups.x * gl_WorkGroupSize.x)

// The dropout hash of core/src/internal.h (ferry_hash3); must match it bit for bit.
uint ferry_hash3(uint a, uint b, uint c)
{
    uint h = (a * 0x9E3779B1u) ^ ((b + 0x7F4A7C15u) * 0x85EBCA77u) ^ ((c + 0x165667B1u) * 0xC2B2AE3Du);
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}
