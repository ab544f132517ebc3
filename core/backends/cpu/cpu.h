/* CPU backend: kernel interface. Each kernel computes one graph node from host pointers.
 *
 * Rules for kernels:
 * - Parallelise over the thread count in args->nthreads with FERRY_CPU_FOR / FERRY_CPU_FOR2 (and
 *   their SIMD forms) or ferry_cpu_run below, never with a bare `#pragma omp parallel`: static
 *   schedules only, and no OpenMP region with one thread.
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

#include <omp.h>
#include <stdint.h>

/* Work of the nodes after a kernel's own that the backend's fusion pass (cpu_backend.c) folded
 * into it, done while the kernel's output is still in cache; each computes exactly what the folded
 * kernels would, element for element.
 * - conv2d: ep != NULL: z = y + bias[c] (the add_bias that reads y, y's only reader) or, with
 *   mean set, z = (y - mean[c])·(gamma[c]/sqrt(var[c] + eps)) + beta[c] (an eval-mode batch norm),
 *   then r = act(z) when r is set (the relu or clamp, e.g. ReLU6, that reads z). z is NULL when
 *   nothing else reads it; y itself is then written only where the kernel needs it as scratch.
 * - max_pool2d_bwd: relu_mask: dst is the gradient of the relu's input, where the pooled x is that
 *   relu's output (the unary_bwd that reads the pooling's gradient, its only reader): a gradient
 *   reaches a window's maximum only where the maximum is > 0. dst may be x itself. */
struct ferry_cpu_epilogue {
    const float *bias;
    const float *mean, *var, *gamma, *beta;
    float eps;
    float *z;
    float *r;
    bool clamp; /* r = clamp(z, lo, hi) instead of relu(z) */
    float lo, hi;
};

struct ferry_cpu_args {
    const struct ferry_tensor *node;  /* shapes and parameters: node->ne, node->ip, node->fp */
    void *dst;                        /* node's output (for views never called) */
    void *src[FERRY_MAX_SRC];         /* sources' data, same order as node->src */
    void *scratch;                    /* scratch memory of at least scratch_bytes(node) bytes */
    int nthreads;
    const struct ferry_cpu_epilogue *ep; /* fused work, see above; NULL: none */
    bool relu_mask;
};

/* ---- Parallel loops and regions -----------------------------------------------------------------
 * A training step allocates nothing after the first, and libgomp allocates in two cases: it keeps
 * the team of a multi-thread region for the next region of the same thread count, but allocates
 * and frees a fresh team for every one-thread region, and for a region whose thread count differs
 * from the previous one's. Hence:
 * - work for one thread never enters an OpenMP region: the macros and ferry_cpu_run below run it
 *   on the calling thread, in the same order;
 * - a region has either the backend's full thread count or none (ferry_cpu_threads).
 * Multi-thread loops are split with schedule(static): iteration i's thread depends only on the
 * iteration count and the thread count, never on timing. */

/* Below this much work (elements read or written) a loop runs on the calling thread: starting the
 * team costs more than it saves. May be overridden with -D when tuning. */
#ifndef FERRY_CPU_PAR_MIN
#define FERRY_CPU_PAR_MIN 16384
#endif

/* Work of one element whose computation calls expf, logf or tanhf, in simple elements: such loops
 * do not vectorise and cost about 2 ns per element, some 50 times a vectorised add (two threads
 * pay off from about 1000 of them). */
#define FERRY_CPU_EXP_COST 16

/* Threads for a loop over `work` elements: the backend's count, or 1 for small work. */
static inline int ferry_cpu_threads(const struct ferry_cpu_args *a, int64_t work)
{
    return work < FERRY_CPU_PAR_MIN ? 1 : a->nthreads;
}

/* for (int64_t i = 0; i < n; i++) body -- split statically over nt threads, on the calling
 * thread alone when nt <= 1. The body (a block; it may contain commas) appears twice in the
 * expansion; nt and n are evaluated once. Inner loops that must vectorise take
 * FERRY_CPU_SIMD before them (a #pragma cannot appear in a macro argument). */
#define FERRY_CPU_FOR(nt, i, n, ...)                                                              \
    do {                                                                                          \
        const int ferry_cpu_nt_ = (nt);                                                           \
        const int64_t ferry_cpu_n_ = (n);                                                         \
        if (ferry_cpu_nt_ > 1) {                                                                  \
            _Pragma("omp parallel for schedule(static) num_threads(ferry_cpu_nt_)")               \
            for (int64_t i = 0; i < ferry_cpu_n_; i++) __VA_ARGS__                                \
        } else {                                                                                  \
            for (int64_t i = 0; i < ferry_cpu_n_; i++) __VA_ARGS__                                \
        }                                                                                         \
    } while (0)

/* FERRY_CPU_FOR for a loop that is also vectorised (`omp parallel for simd` / `omp simd`): the
 * body must be a simple elementwise statement. */
#define FERRY_CPU_FOR_SIMD(nt, i, n, ...)                                                         \
    do {                                                                                          \
        const int ferry_cpu_nt_ = (nt);                                                           \
        const int64_t ferry_cpu_n_ = (n);                                                         \
        if (ferry_cpu_nt_ > 1) {                                                                  \
            _Pragma("omp parallel for simd schedule(static) num_threads(ferry_cpu_nt_)")          \
            for (int64_t i = 0; i < ferry_cpu_n_; i++) __VA_ARGS__                                \
        } else {                                                                                  \
            _Pragma("omp simd")                                                                   \
            for (int64_t i = 0; i < ferry_cpu_n_; i++) __VA_ARGS__                                \
        }                                                                                         \
    } while (0)

/* for (i < ni) for (j < nj) body, the ni·nj iterations split statically over nt threads
 * (collapse(2)); nested loops on the calling thread when nt <= 1. */
#define FERRY_CPU_FOR2(nt, i, ni, j, nj, ...)                                                     \
    do {                                                                                          \
        const int ferry_cpu_nt_ = (nt);                                                           \
        const int64_t ferry_cpu_ni_ = (ni), ferry_cpu_nj_ = (nj);                                 \
        if (ferry_cpu_nt_ > 1) {                                                                  \
            _Pragma("omp parallel for collapse(2) schedule(static) num_threads(ferry_cpu_nt_)")   \
            for (int64_t i = 0; i < ferry_cpu_ni_; i++)                                           \
                for (int64_t j = 0; j < ferry_cpu_nj_; j++) __VA_ARGS__                           \
        } else {                                                                                  \
            for (int64_t i = 0; i < ferry_cpu_ni_; i++)                                           \
                for (int64_t j = 0; j < ferry_cpu_nj_; j++) __VA_ARGS__                           \
        }                                                                                         \
    } while (0)

/* `#pragma omp simd` for use inside a FERRY_CPU_FOR body. */
#define FERRY_CPU_SIMD _Pragma("omp simd")

/* Runs body(ctx, t, nt) on threads t = 0..nt-1 of one region, for kernels that split their work
 * themselves; body(ctx, 0, 1) on the calling thread when nt <= 1. The body may hold
 * `#pragma omp barrier` (a no-op outside a region). */
typedef void (*ferry_cpu_body_fn)(void *ctx, int t, int nt);

static inline void ferry_cpu_run(int nt, ferry_cpu_body_fn body, void *ctx)
{
    if (nt <= 1) {
        body(ctx, 0, 1);
        return;
    }
#pragma omp parallel num_threads(nt)
    body(ctx, omp_get_thread_num(), nt);
}

typedef void (*ferry_cpu_kernel_fn)(const struct ferry_cpu_args *a);
typedef size_t (*ferry_cpu_scratch_fn)(const struct ferry_tensor *node, int nthreads);

/* Table indexed by enum ferry_op (cpu_table.c); NULL kernel for leaves and views. */
extern const ferry_cpu_kernel_fn ferry_cpu_kernels[FERRY_OP_COUNT];
/* Whether the backend runs op (views and leaves count: they need no kernel). */
bool ferry_cpu_supports(enum ferry_op op);
/* The entry of an op the backend declares it cannot run. */
void ferry_cpu_unsupported(const struct ferry_cpu_args *a);
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
/* cpu_binary.c: broadcasting binary ops (same-shape add and mul call the plain kernels above) */
void ferry_cpu_add_any(const struct ferry_cpu_args *a);
void ferry_cpu_mul_any(const struct ferry_cpu_args *a);
void ferry_cpu_div(const struct ferry_cpu_args *a);
void ferry_cpu_maximum(const struct ferry_cpu_args *a);
void ferry_cpu_minimum(const struct ferry_cpu_args *a);
void ferry_cpu_compare(const struct ferry_cpu_args *a);
void ferry_cpu_where(const struct ferry_cpu_args *a);
void ferry_cpu_sum_to(const struct ferry_cpu_args *a);
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
/* Grows BLIS's pools for `callers` overlapping calls (see cpu_gemm.c). */
void ferry_cpu_blis_reserve(int callers);
size_t ferry_cpu_conv2d_scratch(const struct ferry_tensor *node, int nthreads);
size_t ferry_cpu_conv2d_bwd_data_scratch(const struct ferry_tensor *node, int nthreads);
size_t ferry_cpu_conv2d_bwd_weight_scratch(const struct ferry_tensor *node, int nthreads);
/* Whether a conv2d node or one of its backward nodes runs through Winograd's F(2x2, 3x3)
 * (cpu_gemm.c). */
bool ferry_cpu_conv2d_winograd(const struct ferry_tensor *node);
/* cpu_pool.c */
void ferry_cpu_max_pool(const struct ferry_cpu_args *a);
void ferry_cpu_max_pool_bwd(const struct ferry_cpu_args *a);
/* Whether max_pool2d_bwd node may write its gradient over its input x (relu_mask fusion). */
bool ferry_cpu_max_pool_bwd_in_place(const struct ferry_tensor *node);
void ferry_cpu_avg_pool(const struct ferry_cpu_args *a);
void ferry_cpu_avg_pool_bwd(const struct ferry_cpu_args *a);

/* cpu_axis.c (the axis family) */
void ferry_cpu_concat_axis(const struct ferry_cpu_args *a);
void ferry_cpu_slice_axis(const struct ferry_cpu_args *a);
void ferry_cpu_pad_axis(const struct ferry_cpu_args *a);
void ferry_cpu_transpose(const struct ferry_cpu_args *a);
void ferry_cpu_reduce_axis(const struct ferry_cpu_args *a);
void ferry_cpu_expand_axis(const struct ferry_cpu_args *a);
void ferry_cpu_reduce_axis_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_argmax_axis(const struct ferry_cpu_args *a);
void ferry_cpu_one_hot(const struct ferry_cpu_args *a);
void ferry_cpu_gather_rows(const struct ferry_cpu_args *a);
void ferry_cpu_gather_rows_bwd(const struct ferry_cpu_args *a);
void ferry_cpu_bmm(const struct ferry_cpu_args *a);
/* pool family (cpu_pool.c) */
void ferry_cpu_adaptive_avg_pool(const struct ferry_cpu_args *a);
void ferry_cpu_adaptive_avg_pool_bwd(const struct ferry_cpu_args *a);
/* cpu_unary.c: the norm family */
void ferry_cpu_ln_stats(const struct ferry_cpu_args *a);
void ferry_cpu_layer_norm(const struct ferry_cpu_args *a);
void ferry_cpu_ln_bwd_data(const struct ferry_cpu_args *a);
void ferry_cpu_ln_bwd_params(const struct ferry_cpu_args *a);

#endif
