/* The Vulkan backend's plan for every op of the registry (core/src/ops.def).
 *
 * VK_<NAME> must be defined below for every op: a new op without one fails to compile here
 * ("VK_NAME undeclared"). Leaves and views are never dispatched (VK_NO_PLAN); an op the backend
 * cannot run would be VK_UNSUPPORTED, which `ferry ops` and tests/core/test_registry.c report. */
#include "vk_ops.h"

#define VK_NO_PLAN NULL
#define VK_UNSUPPORTED ferry_vk_unsupported

#define VK_LEAF VK_NO_PLAN
#define VK_RESHAPE VK_NO_PLAN
#define VK_SLICE VK_NO_PLAN
#define VK_GRAD_REVERSE VK_NO_PLAN
#define VK_ADD ferry_vk_plan_add
#define VK_MUL ferry_vk_plan_mul
#define VK_DIV ferry_vk_plan_binary
#define VK_MAXIMUM ferry_vk_plan_binary
#define VK_MINIMUM ferry_vk_plan_binary
#define VK_COMPARE ferry_vk_plan_binary
#define VK_WHERE ferry_vk_plan_binary
#define VK_SUM_TO ferry_vk_plan_sum_to
#define VK_SCALE ferry_vk_plan_scale
#define VK_SCALE_BY ferry_vk_plan_scale_by
#define VK_ADD_BIAS ferry_vk_plan_add_bias
#define VK_BIAS_GRAD ferry_vk_plan_bias_grad
#define VK_UNARY ferry_vk_plan_unary
#define VK_UNARY_BWD ferry_vk_plan_unary
#define VK_SOFTMAX ferry_vk_plan_rows
#define VK_LOG_SOFTMAX ferry_vk_plan_rows
#define VK_SOFTMAX_BWD ferry_vk_plan_rows
#define VK_LOG_SOFTMAX_BWD ferry_vk_plan_rows
#define VK_MATMUL ferry_vk_plan_matmul
#define VK_CONV2D ferry_vk_plan_conv
#define VK_CONV2D_BWD_DATA ferry_vk_plan_conv_bwd_data
#define VK_CONV2D_BWD_WEIGHT ferry_vk_plan_conv_bwd_weight
#define VK_MAX_POOL ferry_vk_plan_pool
#define VK_MAX_POOL_BWD ferry_vk_plan_pool
#define VK_AVG_POOL ferry_vk_plan_pool
#define VK_AVG_POOL_BWD ferry_vk_plan_pool
#define VK_CROSS_ENTROPY ferry_vk_plan_cross_entropy
#define VK_CROSS_ENTROPY_BWD ferry_vk_plan_rows
#define VK_BCE_LOGITS ferry_vk_plan_bce
#define VK_BCE_LOGITS_BWD ferry_vk_plan_bce_bwd
#define VK_DROPOUT ferry_vk_plan_dropout
#define VK_BN_STATS ferry_vk_plan_bn_stats
#define VK_BN_APPLY ferry_vk_plan_bn_apply
#define VK_BN_BWD_PARAMS ferry_vk_plan_bn_bwd_params
#define VK_BN_BWD_DATA ferry_vk_plan_bn_bwd_data
#define VK_CONCAT ferry_vk_plan_concat
#define VK_PAD_BATCH ferry_vk_plan_pad_batch
#define VK_SUM ferry_vk_plan_sum
#define VK_BROADCAST ferry_vk_plan_broadcast
#define VK_COUNT_CORRECT ferry_vk_plan_count_correct
#define VK_SGD_UPDATE ferry_vk_plan_sgd
#define VK_ADAM_UPDATE ferry_vk_plan_adam
/* axis family */
#define VK_AXIS_CONCAT ferry_vk_plan_axis
#define VK_AXIS_SLICE ferry_vk_plan_axis
#define VK_AXIS_PAD ferry_vk_plan_axis
#define VK_TRANSPOSE ferry_vk_plan_transpose
#define VK_REDUCE_AXIS ferry_vk_plan_axis
#define VK_EXPAND_AXIS ferry_vk_plan_axis
#define VK_REDUCE_AXIS_BWD ferry_vk_plan_axis
#define VK_ARGMAX_AXIS ferry_vk_plan_axis
#define VK_ONE_HOT ferry_vk_plan_one_hot
#define VK_GATHER_ROWS ferry_vk_plan_gather
#define VK_GATHER_ROWS_BWD ferry_vk_plan_gather
#define VK_BMM ferry_vk_plan_bmm
/* pool family */
#define VK_ADAPTIVE_AVG_POOL ferry_vk_plan_adaptive_pool
#define VK_ADAPTIVE_AVG_POOL_BWD ferry_vk_plan_adaptive_pool
/* norm family */
#define VK_LN_STATS ferry_vk_plan_layer_norm
#define VK_LAYER_NORM ferry_vk_plan_layer_norm
#define VK_LN_BWD_DATA ferry_vk_plan_layer_norm
#define VK_LN_BWD_PARAMS ferry_vk_plan_layer_norm

static ferry_status ferry_vk_unsupported(const struct ferry_tensor *t, const struct ferry_vk_caps *caps,
                                         struct ferry_vk_plan *p)
{
    (void)caps;
    (void)p;
    return ferry_error(FERRY_ERR_UNSUPPORTED, "vulkan: op %s is not supported", ferry_op_name(t->op));
}

const ferry_vk_plan_fn ferry_vk_plans[] = {
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) [FERRY_OP_##NAME] = VK_##NAME,
#include "ops.def"
};
_Static_assert(sizeof ferry_vk_plans / sizeof *ferry_vk_plans == FERRY_OP_COUNT,
               "the Vulkan plan table must cover every op of ops.def");

bool ferry_vk_supports(enum ferry_op op)
{
    const struct ferry_op_info *info = ferry_op_info(op);
    if (!info) return false;
    if (info->kind == FERRY_KIND_LEAF || info->kind == FERRY_KIND_VIEW) return true;
    return ferry_vk_plans[op] && ferry_vk_plans[op] != VK_UNSUPPORTED;
}

const ferry_vk_scratch_fn ferry_vk_scratch[FERRY_OP_COUNT] = {
    [FERRY_OP_CONV2D_BWD_WEIGHT] = ferry_vk_conv_bwd_weight_scratch,
};
