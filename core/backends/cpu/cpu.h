/* CPU backend: kernel interface. Each kernel computes one graph node from host pointers.
 *
 * Rules for kernels:
 * - Parallelise with OpenMP over the thread count in args->nthreads, static schedules only.
 * - Deterministic: the result must not depend on timing; reductions are done in a fixed order
 *   (each output element or each partial sum computed by one thread, partials combined in a fixed
 *   order). No atomics on floats.
 * - Allocate nothing: temporary memory comes from args->scratch, sized by the op's scratch function.
 * - GEMMs go through BLIS (bli_sgemm, single-threaded inside an OpenMP region, or with an
 *   explicit rntm), never hand-written loops for the big products.
 */
#ifndef FERRY_CPU_H
#define FERRY_CPU_H

#include "internal.h"

/* Threads for a parallel region. Every region uses the backend's full thread count, even for
 * small work: libgomp caches the team of a multi-thread region between regions but allocates and
 * frees a fresh team for every one-thread region, and a training step must not allocate. */
static inline int ferry_cpu_region_threads(int nthreads) { return nthreads; }

struct ferry_cpu_args {
    const struct ferry_tensor *node;  /* shapes and parameters: node->ne, node->ip, node->fp */
    void *dst;                        /* node's output (for views never called) */
    void *src[FERRY_MAX_SRC];         /* sources' data, same order as node->src */
    void *scratch;                    /* scratch memory of at least scratch_bytes(node) bytes */
    int nthreads;
};

typedef void (*ferry_cpu_kernel_fn)(const struct ferry_cpu_args *a);
typedef size_t (*ferry_cpu_scratch_fn)(const struct ferry_tensor *node, int nthreads);

/* Table indexed by enum ferry_op; NULL kernel for leaves and views. */
extern const ferry_cpu_kernel_fn ferry_cpu_kernels[FERRY_OP_COUNT];
extern const ferry_cpu_scratch_fn ferry_cpu_scratch[FERRY_OP_COUNT];

/* Kernels (one per op), grouped by file. */
/* cpu_elementwise.c */
void ferry_cpu_add(const struct ferry_cpu_args *a);
void ferry_cpu_mul(const struct ferry_cpu_args *a);
void ferry_cpu_scale(const struct ferry_cpu_args *a);
void ferry_cpu_scale_by(const struct ferry_cpu_args *a);
void ferry_cpu_add_bias(const struct ferry_cpu_args *a);
void ferry_cpu_bias_grad(const struct ferry_cpu_args *a);
void ferry_cpu_unary(const struct ferry_cpu_args *a);
void ferry_cpu_unary_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_dropout(const struct ferry_cpu_args *a);
void ferry_cpu_concat(const struct ferry_cpu_args *a);
void ferry_cpu_pad_batch(const struct ferry_cpu_args *a);
void ferry_cpu_sum(const struct ferry_cpu_args *a);
void ferry_cpu_broadcast(const struct ferry_cpu_args *a);
/* cpu_softmax_loss.c */
void ferry_cpu_softmax(const struct ferry_cpu_args *a);
void ferry_cpu_log_softmax(const struct ferry_cpu_args *a);
void ferry_cpu_softmax_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_log_softmax_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_cross_entropy(const struct ferry_cpu_args *a);
void ferry_cpu_cross_entropy_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_bce_logits(const struct ferry_cpu_args *a);
void ferry_cpu_bce_logits_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_count_correct(const struct ferry_cpu_args *a);
/* cpu_norm.c */
void ferry_cpu_bn_stats(const struct ferry_cpu_args *a);
void ferry_cpu_bn_apply(const struct ferry_cpu_args *a);
void ferry_cpu_bn_bwd_params(const struct ferry_cpu_args *a);
void ferry_cpu_bn_bwd_data(const struct ferry_cpu_args *a);
/* cpu_optim.c */
void ferry_cpu_sgd_update(const struct ferry_cpu_args *a);
void ferry_cpu_adam_update(const struct ferry_cpu_args *a);
/* cpu_gemm.c */
void ferry_cpu_matmul(const struct ferry_cpu_args *a);
void ferry_cpu_conv2d(const struct ferry_cpu_args *a);
void ferry_cpu_conv2d_bwd_data(const struct ferry_cpu_args *a);
void ferry_cpu_conv2d_bwd_weight(const struct ferry_cpu_args *a);
/* Name of the BLIS configuration Ferry's GEMMs use (e.g. "skx"). */
const char *ferry_cpu_blis_config(void);
size_t ferry_cpu_conv2d_scratch(const struct ferry_tensor *node, int nthreads);
size_t ferry_cpu_conv2d_bwd_data_scratch(const struct ferry_tensor *node, int nthreads);
size_t ferry_cpu_conv2d_bwd_weight_scratch(const struct ferry_tensor *node, int nthreads);
/* cpu_pool.c */
void ferry_cpu_max_pool(const struct ferry_cpu_args *a);
void ferry_cpu_max_pool_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_avg_pool(const struct ferry_cpu_args *a);
void ferry_cpu_avg_pool_bwd(const struct ferry_cpu_args *a);

#endif
