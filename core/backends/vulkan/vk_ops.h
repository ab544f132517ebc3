/* The contract between the Vulkan backend and its kernels.
 *
 * Every op is planned when a graph is prepared (a plan function is pure: the backend calls it once
 * to count descriptor sets, once to record) into at most FERRY_VK_MAX_DISPATCH compute dispatches.
 * The backend records them into the graph's command buffer with one descriptor set per node (and
 * one more per change of views, below) and one pipeline layout for every shader:
 *
 *   set 0, binding 0      the node's output (dst)
 *   set 0, binding 1..6   the node's sources src[0..5] (an unused binding holds a small dummy buffer)
 *   set 0, binding 7      the graph's scratch buffer (size from the op's scratch function)
 *   push constants        struct ferry_vk_push (128 bytes, the minimum every device offers)
 *
 * A binding starts at the tensor's offset rounded down to the device's storage-buffer alignment;
 * the backend puts the remainder, in 4-byte elements, into push.off[binding]. Shaders index every
 * buffer as buf[pc.off[b] + i] (see shaders/common.glsl). Tensors are contiguous row-major, F32 or
 * I32 (4 bytes each).
 *
 * Large operands. No binding of one dispatch may span more than caps->max_binding bytes (the
 * device's maxStorageBufferRange less one alignment, or less under FERRY_VK_MAX_BINDING). A plan
 * whose tensor is larger splits the op into several dispatches, each with a view of that binding
 * (ferry_vk_dispatch.view): the dispatch then sees elements [first, first + count) of the tensor,
 * its index 0 being element `first`. A dispatch with views gets a descriptor set of its own, written
 * when the graph is prepared; nothing is allocated or uploaded per step.
 *
 * Specialization constants 0..2 are the workgroup size (x, y, z); 3..7 are free for the kernel (tile
 * sizes and the like), chosen per device from ferry_vk_caps. Dispatches of one node run in order
 * with a barrier between them when the later one reads what the earlier one wrote; the backend
 * places barriers between nodes from the bindings each dispatch declares it writes.
 *
 * Determinism: no float atomics. A reduction is done by a fixed tree in one workgroup, or in a fixed
 * number of partial sums written to scratch and summed by a second dispatch in a fixed order. */
#ifndef FERRY_VK_OPS_H
#define FERRY_VK_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define FERRY_VK_MAX_DISPATCH 80 /* 2^31 elements in pieces of 128 MiB, with room */
#define FERRY_VK_MAX_SPEC 8
#define FERRY_VK_BINDINGS 8
#define FERRY_VK_B_DST 0
#define FERRY_VK_B_SRC(j) (1 + (j))
#define FERRY_VK_B_SCRATCH 7
#define FERRY_VK_BIT(b) (1u << (b))

/* What kernels tune to. */
struct ferry_vk_caps {
    uint32_t vendor_id;
    uint32_t subgroup_size;
    uint32_t max_shared_bytes;      /* maxComputeSharedMemorySize */
    uint32_t max_invocations;       /* maxComputeWorkGroupInvocations */
    uint32_t max_group_count[3];    /* maxComputeWorkGroupCount */
    uint32_t max_group_size[3];     /* maxComputeWorkGroupSize */
    int is_cpu;                     /* a software rasteriser (lavapipe, SwiftShader) */
    uint64_t max_binding;           /* bytes one binding of one dispatch may span (see above) */
};

/* The push-constant block of every shader (mirrors shaders/common.glsl). */
struct ferry_vk_push {
    int32_t i[16];   /* integer parameters: sizes, strides, the node's ip[] as the kernel needs */
    float f[8];      /* float parameters: usually the node's fp[] */
    uint32_t off[8]; /* filled by the backend: element offset of each binding */
};
_Static_assert(sizeof(struct ferry_vk_push) == 128, "push constants must stay 128 bytes");

/* Elements [first, first + count) of a binding's tensor; count 0: the whole tensor. */
struct ferry_vk_view {
    uint32_t first, count;
};

struct ferry_vk_dispatch {
    const char *shader;                /* name in the shader registry (shaders/meson.build) */
    uint32_t spec[FERRY_VK_MAX_SPEC];  /* specialization constants; [0..2] = local size, each >= 1 */
    uint32_t groups[3];                /* workgroup counts, each >= 1 and <= caps max_group_count */
    struct ferry_vk_push pc;           /* i[] and f[]; off[] is overwritten by the backend */
    uint32_t writes;                   /* FERRY_VK_BIT(binding) for each binding written */
    struct ferry_vk_view view[FERRY_VK_BINDINGS]; /* zero: every binding sees its whole tensor */
};

struct ferry_vk_plan {
    int n;
    struct ferry_vk_dispatch d[FERRY_VK_MAX_DISPATCH];
};

/* Fills plan for node (plan arrives zeroed). Returns FERRY_OK or an error naming the op. */
typedef ferry_status (*ferry_vk_plan_fn)(const struct ferry_tensor *node,
                                         const struct ferry_vk_caps *caps, struct ferry_vk_plan *plan);
/* Bytes of scratch the node needs (binding 7); NULL or 0: none. */
typedef size_t (*ferry_vk_scratch_fn)(const struct ferry_tensor *node, const struct ferry_vk_caps *caps);

/* The plan of every op of the registry, and the scratch functions of the ops that need scratch
 * (vk_table.c). An op without a plan fails to compile there. */
extern const ferry_vk_plan_fn ferry_vk_plans[FERRY_OP_COUNT];
extern const ferry_vk_scratch_fn ferry_vk_scratch[FERRY_OP_COUNT];
/* Whether the backend runs op (views and leaves count: they need no dispatch). */
bool ferry_vk_supports(enum ferry_op op);

/* Plan functions, by kernel family. */
#define FERRY_VK_PLAN_FN(name) \
    ferry_status ferry_vk_##name(const struct ferry_tensor *t, const struct ferry_vk_caps *caps, \
                                 struct ferry_vk_plan *p)
/* vk_ops_elem.c */
FERRY_VK_PLAN_FN(plan_add);
FERRY_VK_PLAN_FN(plan_mul);
FERRY_VK_PLAN_FN(plan_binary);
FERRY_VK_PLAN_FN(plan_sum_to);
FERRY_VK_PLAN_FN(plan_scale);
FERRY_VK_PLAN_FN(plan_scale_by);
FERRY_VK_PLAN_FN(plan_add_bias);
FERRY_VK_PLAN_FN(plan_bias_grad);
FERRY_VK_PLAN_FN(plan_unary);
FERRY_VK_PLAN_FN(plan_rows);
FERRY_VK_PLAN_FN(plan_cross_entropy);
FERRY_VK_PLAN_FN(plan_bce);
FERRY_VK_PLAN_FN(plan_bce_bwd);
FERRY_VK_PLAN_FN(plan_dropout);
FERRY_VK_PLAN_FN(plan_bn_stats);
FERRY_VK_PLAN_FN(plan_bn_apply);
FERRY_VK_PLAN_FN(plan_bn_bwd_params);
FERRY_VK_PLAN_FN(plan_bn_bwd_data);
FERRY_VK_PLAN_FN(plan_concat);
FERRY_VK_PLAN_FN(plan_pad_batch);
FERRY_VK_PLAN_FN(plan_sum);
FERRY_VK_PLAN_FN(plan_broadcast);
FERRY_VK_PLAN_FN(plan_count_correct);
FERRY_VK_PLAN_FN(plan_sgd);
FERRY_VK_PLAN_FN(plan_adam);
FERRY_VK_PLAN_FN(plan_pool);
/* vk_ops_gemm.c */
FERRY_VK_PLAN_FN(plan_matmul);
FERRY_VK_PLAN_FN(plan_conv);
FERRY_VK_PLAN_FN(plan_conv_bwd_data);
FERRY_VK_PLAN_FN(plan_conv_bwd_weight);
/* pool family (vk_ops_elem.c, next to plan_pool) */
FERRY_VK_PLAN_FN(plan_adaptive_pool);
/* vk_ops_unary.c: the norm family */
FERRY_VK_PLAN_FN(plan_layer_norm);
size_t ferry_vk_conv_bwd_weight_scratch(const struct ferry_tensor *t, const struct ferry_vk_caps *caps);
/* vk_ops_axis.c (the axis family) */
FERRY_VK_PLAN_FN(plan_axis);
FERRY_VK_PLAN_FN(plan_transpose);
FERRY_VK_PLAN_FN(plan_one_hot);
FERRY_VK_PLAN_FN(plan_gather);
FERRY_VK_PLAN_FN(plan_bmm);

/* Shader registry, generated at build time from shaders/ (SPIR-V linked into the library). */
struct ferry_vk_shader {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
};
extern const struct ferry_vk_shader ferry_vk_shaders[];
extern const int ferry_vk_n_shaders;

/* Helpers for plan functions. */
static inline uint32_t ferry_vk_div_up(int64_t n, uint32_t d) { return (uint32_t)((n + d - 1) / d); }

/* One-dimensional dispatch over n items with `local` threads per group; shaders loop with a grid
 * stride so the group count stays within the device's limit. */
static inline void ferry_vk_grid1(struct ferry_vk_dispatch *d, const struct ferry_vk_caps *caps,
                                  int64_t n, uint32_t local)
{
    uint32_t g = ferry_vk_div_up(n > 0 ? n : 1, local);
    uint32_t cap = caps->max_group_count[0] < 65535u ? caps->max_group_count[0] : 65535u;
    d->spec[0] = local;
    d->spec[1] = d->spec[2] = 1;
    d->groups[0] = g < cap ? g : cap;
    d->groups[1] = d->groups[2] = 1;
}

/* A one-dimensional dispatch of `shader` over n items (local size `local`) appended to the plan;
 * i[0] = n, writes dst. */
static inline struct ferry_vk_dispatch *ferry_vk_add_grid(struct ferry_vk_plan *p, const struct ferry_vk_caps *caps,
                                                          const char *shader, int64_t n, uint32_t local)
{
    struct ferry_vk_dispatch *d = &p->d[p->n++];
    d->shader = shader;
    ferry_vk_grid1(d, caps, n, local);
    d->pc.i[0] = (int32_t)n;
    d->writes = FERRY_VK_BIT(FERRY_VK_B_DST);
    return d;
}

/* Sizes travel as int32 push constants and indices as uint: every tensor of the node must have
 * fewer than 2^31 elements. */
static inline ferry_status ferry_vk_check_sizes(const struct ferry_tensor *t)
{
    int64_t big = t->numel;
    for (int j = 0; j < FERRY_MAX_SRC; j++)
        if (t->src[j] && t->src[j]->numel > big) big = t->src[j]->numel;
    if (big > INT32_MAX)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: %s on %lld elements (at most 2^31 - 1)",
                           ferry_op_name(t->op), (long long)big);
    return FERRY_OK;
}

#endif
