/* Vulkan kernels of the GEMM family: matmul and convolution (implicit GEMM), forward and backward:
 * how each node maps onto the shaders of shaders/gemm/. */
#include "vk_ops.h"

const ferry_vk_plan_fn ferry_vk_plans_gemm[FERRY_OP_COUNT] = {0};

const ferry_vk_scratch_fn ferry_vk_scratch_gemm[FERRY_OP_COUNT] = {0};
