/* The CPU backend's kernel for every op of the registry (core/src/ops.def).
 *
 * CPU_<NAME> must be defined below for every op: a new op without one fails to compile here
 * ("CPU_NAME undeclared"). Leaves and views are never executed (CPU_NO_KERNEL); an op the backend
 * cannot run would be CPU_UNSUPPORTED, which `ferry ops` and tests/core/test_registry.c report. */
#include "cpu.h"

#define CPU_NO_KERNEL NULL
#define CPU_UNSUPPORTED ferry_cpu_unsupported

#define CPU_LEAF CPU_NO_KERNEL
#define CPU_RESHAPE CPU_NO_KERNEL
#define CPU_SLICE CPU_NO_KERNEL
#define CPU_GRAD_REVERSE CPU_NO_KERNEL
#define CPU_ADD ferry_cpu_add_any
#define CPU_MUL ferry_cpu_mul_any
#define CPU_DIV ferry_cpu_div
#define CPU_MAXIMUM ferry_cpu_maximum
#define CPU_MINIMUM ferry_cpu_minimum
#define CPU_COMPARE ferry_cpu_compare
#define CPU_WHERE ferry_cpu_where
#define CPU_SUM_TO ferry_cpu_sum_to
#define CPU_SCALE ferry_cpu_scale
#define CPU_SCALE_BY ferry_cpu_scale_by
#define CPU_ADD_BIAS ferry_cpu_add_bias
#define CPU_BIAS_GRAD ferry_cpu_bias_grad
#define CPU_UNARY ferry_cpu_unary
#define CPU_UNARY_BWD ferry_cpu_unary_bwd
#define CPU_SOFTMAX ferry_cpu_softmax
#define CPU_LOG_SOFTMAX ferry_cpu_log_softmax
#define CPU_SOFTMAX_BWD ferry_cpu_softmax_bwd
#define CPU_LOG_SOFTMAX_BWD ferry_cpu_log_softmax_bwd
#define CPU_MATMUL ferry_cpu_matmul
#define CPU_CONV2D ferry_cpu_conv2d
#define CPU_CONV2D_BWD_DATA ferry_cpu_conv2d_bwd_data
#define CPU_CONV2D_BWD_WEIGHT ferry_cpu_conv2d_bwd_weight
#define CPU_MAX_POOL ferry_cpu_max_pool
#define CPU_MAX_POOL_BWD ferry_cpu_max_pool_bwd
#define CPU_AVG_POOL ferry_cpu_avg_pool
#define CPU_AVG_POOL_BWD ferry_cpu_avg_pool_bwd
#define CPU_CROSS_ENTROPY ferry_cpu_cross_entropy
#define CPU_CROSS_ENTROPY_BWD ferry_cpu_cross_entropy_bwd
#define CPU_BCE_LOGITS ferry_cpu_bce_logits
#define CPU_BCE_LOGITS_BWD ferry_cpu_bce_logits_bwd
#define CPU_DROPOUT ferry_cpu_dropout
#define CPU_BN_STATS ferry_cpu_bn_stats
#define CPU_BN_APPLY ferry_cpu_bn_apply
#define CPU_BN_BWD_PARAMS ferry_cpu_bn_bwd_params
#define CPU_BN_BWD_DATA ferry_cpu_bn_bwd_data
#define CPU_CONCAT ferry_cpu_concat
#define CPU_PAD_BATCH ferry_cpu_pad_batch
#define CPU_SUM ferry_cpu_sum
#define CPU_BROADCAST ferry_cpu_broadcast
#define CPU_COUNT_CORRECT ferry_cpu_count_correct
#define CPU_SGD_UPDATE ferry_cpu_sgd_update
#define CPU_ADAM_UPDATE ferry_cpu_adam_update
/* axis family */
#define CPU_AXIS_CONCAT ferry_cpu_concat_axis
#define CPU_AXIS_SLICE ferry_cpu_slice_axis
#define CPU_AXIS_PAD ferry_cpu_pad_axis
#define CPU_TRANSPOSE ferry_cpu_transpose
#define CPU_REDUCE_AXIS ferry_cpu_reduce_axis
#define CPU_EXPAND_AXIS ferry_cpu_expand_axis
#define CPU_REDUCE_AXIS_BWD ferry_cpu_reduce_axis_bwd
#define CPU_ARGMAX_AXIS ferry_cpu_argmax_axis
#define CPU_ONE_HOT ferry_cpu_one_hot
#define CPU_GATHER_ROWS ferry_cpu_gather_rows
#define CPU_GATHER_ROWS_BWD ferry_cpu_gather_rows_bwd
#define CPU_BMM ferry_cpu_bmm
/* pool family */
#define CPU_ADAPTIVE_AVG_POOL ferry_cpu_adaptive_avg_pool
#define CPU_ADAPTIVE_AVG_POOL_BWD ferry_cpu_adaptive_avg_pool_bwd
/* norm family */
#define CPU_LN_STATS ferry_cpu_ln_stats
#define CPU_LAYER_NORM ferry_cpu_layer_norm
#define CPU_LN_BWD_DATA ferry_cpu_ln_bwd_data
#define CPU_LN_BWD_PARAMS ferry_cpu_ln_bwd_params

void ferry_cpu_unsupported(const struct ferry_cpu_args *a) { (void)a; }

const ferry_cpu_kernel_fn ferry_cpu_kernels[] = {
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) [FERRY_OP_##NAME] = CPU_##NAME,
#include "ops.def"
};
_Static_assert(sizeof ferry_cpu_kernels / sizeof *ferry_cpu_kernels == FERRY_OP_COUNT,
               "the CPU kernel table must cover every op of ops.def");

bool ferry_cpu_supports(enum ferry_op op)
{
    const struct ferry_op_info *info = ferry_op_info(op);
    if (!info) return false;
    if (info->kind == FERRY_KIND_LEAF || info->kind == FERRY_KIND_VIEW) return true;
    return ferry_cpu_kernels[op] && ferry_cpu_kernels[op] != CPU_UNSUPPORTED;
}

const ferry_cpu_scratch_fn ferry_cpu_scratch[FERRY_OP_COUNT] = {
    [FERRY_OP_CONV2D] = ferry_cpu_conv2d_scratch,
    [FERRY_OP_CONV2D_BWD_DATA] = ferry_cpu_conv2d_bwd_data_scratch,
    [FERRY_OP_CONV2D_BWD_WEIGHT] = ferry_cpu_conv2d_bwd_weight_scratch,
};
