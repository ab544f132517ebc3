/* Ferry — tensors, graph building, autodiff, static graphs and backends.
 *
 * A context (ferry_ctx_t) is an arena that holds tensor metadata. Tensors are created either as
 * leaves (inputs fed each step, constants, or parameters bound to a ferry_store_t) or as the result
 * of an op on other tensors. Nothing is computed while building: the ops are recorded, then
 * ferry_graph_init() turns the recorded ops into a static graph for one backend, plans memory once,
 * and ferry_graph_compute() runs the whole graph (forward, backward and optimizer update) each step.
 *
 * Errors while building (wrong shapes, bad arguments) make the op return NULL and set the thread's
 * error message; an op given a NULL input returns NULL too, so a caller may check once at the end.
 */
#ifndef FERRY_TENSOR_H
#define FERRY_TENSOR_H

#include "ferry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ferry_ctx ferry_ctx_t;
typedef struct ferry_tensor ferry_tensor_t;
typedef struct ferry_graph ferry_graph_t;
typedef struct ferry_backend ferry_backend_t;
typedef struct ferry_store ferry_store_t;

/* ---- backends --------------------------------------------------------------------------------- */

/* CPU backend: BLIS GEMM, OpenMP threads (threads <= 0: all cores). */
ferry_status ferry_backend_cpu_init(int threads, ferry_backend_t **out);
void ferry_backend_free(ferry_backend_t *be);
const char *ferry_backend_name(const ferry_backend_t *be);
int ferry_backend_threads(const ferry_backend_t *be);

/* Vulkan backend on physical device `index`, numbered as `ferry devices` lists them (index < 0:
 * the best hardware device: discrete, then integrated GPU). The Vulkan loader is opened on first
 * use; FERRY_ERR_UNSUPPORTED, with a message, when there is no loader, no driver or no such device.
 * With FERRY_VK_VALIDATION=1 in the environment the Khronos validation layer is enabled and every
 * message it emits is printed and counted (ferry_backend_stats.validation_messages). */
ferry_status ferry_backend_vulkan_init(int index, ferry_backend_t **out);

/* A backend by name: "cpu", "vulkan" (the best GPU), "vulkan:N", or "auto" (the best GPU, else the
 * CPU backend). NULL or "": $FERRY_DEVICE, else "auto". threads applies to the CPU backend. */
ferry_status ferry_backend_init_device(const char *spec, int threads, ferry_backend_t **out);
/* Prints every Vulkan device (index, name, vendor, type, driver, API version, memory heaps, subgroup
 * size, compute limits) and the CPU backend to file (a FILE *). */
ferry_status ferry_devices_print(void *file);

/* ---- the op registry and the backends' coverage of it (`ferry ops`) ------------------------------ */

typedef struct ferry_op_desc {
    const char *name;      /* "conv2d" */
    int nsrc;              /* sources, at most */
    const char *kind;      /* "leaf", "view", "kernel" or "update" */
    const char *gradient;  /* "yes", "none" (declared gradient-free) or "-" (a backward or update op) */
    bool differentiable;
} ferry_op_desc;
int ferry_op_count(void);
ferry_status ferry_op_describe(int op, ferry_op_desc *out);
/* The registered kinds of backend ("cpu", "vulkan"), numbered 0..count-1. */
int ferry_backend_kind_count(void);
const char *ferry_backend_kind_name(int kind);
/* Whether a kind of backend runs op forward, and runs its backward (see device.c). */
bool ferry_backend_kind_supports(int kind, int op);
bool ferry_backend_kind_supports_backward(int kind, int op);

/* What a backend runs on, for results and logs. */
typedef struct ferry_device_desc {
    char backend[32];   /* "cpu" or "vulkan:N" */
    char vendor[64];
    char name[256];
    char driver[520];   /* driver name and version */
    char api[32];       /* Vulkan API version; "-" for the CPU */
} ferry_device_desc;
void ferry_backend_describe(const ferry_backend_t *be, ferry_device_desc *out);

/* Counters for checking the execution design (tests and benchmarks read them). */
typedef struct ferry_backend_stats {
    uint64_t buffer_allocs;   /* device/host buffers allocated so far */
    uint64_t bytes_allocated; /* currently allocated */
    uint64_t submissions;     /* graph executions submitted */
    uint64_t bytes_uploaded;
    uint64_t bytes_downloaded;
    uint64_t device_allocs;       /* device memory allocations (vkAllocateMemory); 0 on the CPU */
    uint64_t queue_submits;       /* queue submissions (vkQueueSubmit); 0 on the CPU */
    uint64_t validation_messages; /* messages from the Vulkan validation layer, when enabled */
} ferry_backend_stats;
void ferry_backend_get_stats(const ferry_backend_t *be, ferry_backend_stats *out);

/* ---- parameter stores ----------------------------------------------------------------------------
 * A store holds named persistent tensors (parameters, optimizer state, running statistics) in
 * backend memory. Graphs of any batch size bind to the same store. */

ferry_status ferry_store_init(ferry_backend_t *be, ferry_store_t **out);
void ferry_store_free(ferry_store_t *st);
/* Adds a zero-initialised entry; fails if the name exists. trainable marks model parameters. */
ferry_status ferry_store_add(ferry_store_t *st, const char *name, ferry_dtype dtype, int ndim,
                             const int64_t *shape, bool trainable);
int ferry_store_count(const ferry_store_t *st);
int ferry_store_find(const ferry_store_t *st, const char *name); /* index or -1 */
const char *ferry_store_name(const ferry_store_t *st, int i);
int ferry_store_ndim(const ferry_store_t *st, int i);
const int64_t *ferry_store_shape(const ferry_store_t *st, int i);
int64_t ferry_store_numel(const ferry_store_t *st, int i);
bool ferry_store_trainable(const ferry_store_t *st, int i);
/* Frozen entries get no gradient (affects graphs built afterwards). */
void ferry_store_set_trainable(ferry_store_t *st, int i, bool trainable);
ferry_status ferry_store_set(ferry_store_t *st, int i, const void *data, size_t nbytes);
ferry_status ferry_store_get(const ferry_store_t *st, int i, void *data, size_t nbytes);
/* FERRY_ERR_DIVERGED, naming the first parameter and element that is NaN or infinite, if any F32
 * entry holds one (a download of every entry: once per epoch, not per step). */
ferry_status ferry_store_check_finite(const ferry_store_t *st);
/* Saves entries whose names do not contain '#' (optimizer state is saved only when with_state). */
ferry_status ferry_store_save(const ferry_store_t *st, const char *path, bool with_state);
/* Loads every matching entry; an entry in the file with no match, or a shape mismatch, is an error
 * unless allow_missing/allow_unexpected say otherwise. */
ferry_status ferry_store_load(ferry_store_t *st, const char *path, bool allow_missing,
                              bool allow_unexpected);

/* ---- contexts and leaves ------------------------------------------------------------------------ */

ferry_status ferry_ctx_init(ferry_ctx_t **out);
void ferry_ctx_free(ferry_ctx_t *ctx);

/* An input fed before each step with ferry_tensor_set(). */
ferry_tensor_t *ferry_input(ferry_ctx_t *ctx, const char *name, ferry_dtype dtype, int ndim,
                            const int64_t *shape);
/* A scalar input (1 element), e.g. the learning rate or the gradient-reversal coefficient. */
ferry_tensor_t *ferry_scalar_input(ferry_ctx_t *ctx, const char *name, float initial);
/* A constant filled with one value. */
ferry_tensor_t *ferry_constant(ferry_ctx_t *ctx, float value, int ndim, const int64_t *shape);
/* A parameter bound to store entry `name`. */
ferry_tensor_t *ferry_param(ferry_ctx_t *ctx, ferry_store_t *st, const char *name);

/* Marks an op result as an output that stays readable after compute. */
void ferry_tensor_set_output(ferry_tensor_t *t);
void ferry_tensor_set_name(ferry_tensor_t *t, const char *name);
const char *ferry_tensor_name(const ferry_tensor_t *t);
int ferry_tensor_ndim(const ferry_tensor_t *t);
int64_t ferry_tensor_dim(const ferry_tensor_t *t, int i);
int64_t ferry_tensor_numel(const ferry_tensor_t *t);
ferry_dtype ferry_tensor_dtype(const ferry_tensor_t *t);
/* True if the tensor depends on a trainable parameter (gradients flow through it). */
bool ferry_tensor_requires_grad(const ferry_tensor_t *t);

/* ---- ops (forward; each has a backward that autodiff emits) ------------------------------------- */

/* Elementwise. */
/* Binary elementwise ops broadcast NumPy-style: shapes align at their last dimension, each pair of
 * dimensions is equal or one is 1 ([N,C] + [C], [N,1] * [1,M], [N,C,H,W] / [1,C,1,1]). */
ferry_tensor_t *ferry_add(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
ferry_tensor_t *ferry_sub(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
ferry_tensor_t *ferry_mul(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
ferry_tensor_t *ferry_div(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
/* max(a, b) / min(a, b); on ties the gradient goes to a */
ferry_tensor_t *ferry_maximum(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
ferry_tensor_t *ferry_minimum(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
/* A mask: 1 where `a CMP b` holds, else 0 (F32, broadcasting, no gradient). */
typedef enum ferry_cmp { FERRY_CMP_LT, FERRY_CMP_LE, FERRY_CMP_GT, FERRY_CMP_GE, FERRY_CMP_EQ, FERRY_CMP_NE } ferry_cmp;
ferry_tensor_t *ferry_compare(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_cmp cmp, ferry_tensor_t *b);
/* cond != 0 ? a : b, broadcasting over the three; cond gets no gradient. */
ferry_tensor_t *ferry_where(ferry_ctx_t *ctx, ferry_tensor_t *cond, ferry_tensor_t *a, ferry_tensor_t *b);
/* x summed down to `shape` (the inverse of broadcasting x from shape): every dimension of shape is
 * 1 or x's. */
ferry_tensor_t *ferry_sum_to(ferry_ctx_t *ctx, ferry_tensor_t *x, int ndim, const int64_t *shape);
ferry_tensor_t *ferry_scale(ferry_ctx_t *ctx, ferry_tensor_t *a, float s);
/* a * s[0] * c, where s is a 1-element tensor (a value that changes between steps). */
ferry_tensor_t *ferry_scale_by(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *s, float c);
/* x[N,C,...] + b[C] (channel bias for linear and convolution outputs). */
ferry_tensor_t *ferry_add_bias(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *b);

/* Activations. */
ferry_tensor_t *ferry_relu(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_leaky_relu(ferry_ctx_t *ctx, ferry_tensor_t *x, float slope);
ferry_tensor_t *ferry_sigmoid(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_tanh(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_exp(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_reciprocal(ferry_ctx_t *ctx, ferry_tensor_t *x); /* 1/x */
/* The same values, with no gradient flowing back through them (a view; no copy). */
ferry_tensor_t *ferry_detach(ferry_ctx_t *ctx, ferry_tensor_t *x);
/* Over the last dimension of a 2-D tensor [N,K]. */
ferry_tensor_t *ferry_softmax(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_log_softmax(ferry_ctx_t *ctx, ferry_tensor_t *x);

/* Linear algebra: C = op(a) · op(b), 2-D, op = transpose when the flag is set. */
ferry_tensor_t *ferry_matmul(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b, bool trans_a,
                             bool trans_b);

/* Convolution and pooling on NCHW. Weight [O,C,KH,KW]. */
ferry_tensor_t *ferry_conv2d(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *w, int stride,
                             int pad);
ferry_tensor_t *ferry_max_pool2d(ferry_ctx_t *ctx, ferry_tensor_t *x, int k, int stride, int pad);
ferry_tensor_t *ferry_avg_pool2d(ferry_ctx_t *ctx, ferry_tensor_t *x, int k, int stride, int pad);
/* [N,C,H,W] -> [N,C]. */
ferry_tensor_t *ferry_global_avg_pool(ferry_ctx_t *ctx, ferry_tensor_t *x);

/* Losses: scalar means over the batch. */
/* logits [N,K], labels I32 [N]; label smoothing eps in [0,1). */
ferry_tensor_t *ferry_cross_entropy(ferry_ctx_t *ctx, ferry_tensor_t *logits, ferry_tensor_t *labels,
                                    float smoothing);
/* logits and targets of the same shape (targets in [0,1], F32). */
ferry_tensor_t *ferry_bce_with_logits(ferry_ctx_t *ctx, ferry_tensor_t *logits,
                                      ferry_tensor_t *targets);
ferry_tensor_t *ferry_mse(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);

/* Regularisation and normalisation. Dropout draws its mask from (seed tensor I32[1], salt, index):
 * pass the same seed input to every dropout of a graph and set it once per step. */
ferry_tensor_t *ferry_dropout(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *seed, float p,
                              uint32_t salt);
/* Batch norm over N (and H,W) per channel. train: batch statistics, running statistics updated in
 * place with momentum; eval: running statistics. gamma, beta, running_mean, running_var: [C].
 * gamma may be NULL: no scale (gamma fixed at 1, e.g. Keras' scale=False). Both modes have a
 * backward; in eval mode the running statistics are constants of it (frozen-statistics
 * fine-tuning), and they get no gradient in either mode. */
ferry_tensor_t *ferry_batch_norm(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *gamma,
                                 ferry_tensor_t *beta, ferry_tensor_t *running_mean,
                                 ferry_tensor_t *running_var, bool train, float momentum, float eps);

/* Shapes. Reshape and slice are views (no copy). */
ferry_tensor_t *ferry_reshape(ferry_ctx_t *ctx, ferry_tensor_t *x, int ndim, const int64_t *shape);
ferry_tensor_t *ferry_flatten(ferry_ctx_t *ctx, ferry_tensor_t *x); /* [N, rest] */
/* Rows [begin, end) along dimension 0. */
ferry_tensor_t *ferry_slice_batch(ferry_ctx_t *ctx, ferry_tensor_t *x, int64_t begin, int64_t end);
/* Concatenation along dimension 0. */
ferry_tensor_t *ferry_concat_batch(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);

/* Reductions to a scalar. */
ferry_tensor_t *ferry_sum(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_mean(ferry_ctx_t *ctx, ferry_tensor_t *x);

/* Identity forward; backward multiplies the gradient by -lambda[0] (gradient reversal, DANN).
 * lambda is a 1-element tensor so a schedule can change it every step. */
ferry_tensor_t *ferry_grad_reverse(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *lambda);

/* Metrics (no gradient): number of rows whose arg-max equals the label, as an F32 scalar. */
ferry_tensor_t *ferry_count_correct(ferry_ctx_t *ctx, ferry_tensor_t *logits, ferry_tensor_t *labels);

/* ---- axis ops (axis a of a tensor of up to 4 dims, 0 = outermost; a bad axis, shape or dtype
 * returns NULL with the error naming the op) ---- */
/* n (1..6) tensors of one dtype, equal except on axis, side by side along it (a copy). */
ferry_tensor_t *ferry_concat(ferry_ctx_t *ctx, int axis, int n, ferry_tensor_t *const *tensors);
/* [begin, end) along axis: a copy, or a view (as ferry_slice_batch) when axis is 0. */
ferry_tensor_t *ferry_slice(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis, int64_t begin, int64_t end);
/* x with axes axis0 and axis1 swapped (a copy). */
ferry_tensor_t *ferry_transpose(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis0, int axis1);
/* Sum / mean / max / min along axis, keeping it with size 1; max and min pass the gradient to the
 * first extremum. */
ferry_tensor_t *ferry_sum_axis(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
ferry_tensor_t *ferry_mean_axis(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
ferry_tensor_t *ferry_max_axis(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
ferry_tensor_t *ferry_min_axis(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
/* I32 index of the first maximum along axis, size 1 on it (no gradient). */
ferry_tensor_t *ferry_argmax_axis(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
/* I32 labels [N] -> F32 [N, k] one-hot rows (a label outside [0, k): a zero row; no gradient). */
ferry_tensor_t *ferry_one_hot(ferry_ctx_t *ctx, ferry_tensor_t *labels, int k);
/* x [R, D], I32 idx [M] -> [M, D], row m = x[idx[m]] (an index outside [0, R): a zero row). */
ferry_tensor_t *ferry_gather_rows(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *idx);
/* a [B, M, K] (or [B, K, M] with trans_a) times b [B, K, N] (or [B, N, K]) -> [B, M, N]. */
ferry_tensor_t *ferry_batched_matmul(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b, bool trans_a,
                                     bool trans_b);
/* ---- conv (general 2-D convolution) ---- */
/* Geometry of ferry_conv2d_ex; a zero stride, dilation or groups means 1 (so {0} is a plain
 * stride-1 unpadded convolution). TensorFlow's "same" padding of an even kernel or of stride 2
 * pads the bottom / right one more than the top / left. */
typedef struct ferry_conv_params {
    int stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    int dilation_h, dilation_w;
    int groups; /* weight [O, C/groups, KH, KW]; groups = C = O is depthwise */
} ferry_conv_params;
/* x [N,C,H,W], w [O,C/groups,KH,KW] -> [N,O,OH,OW], OH = (H+pt+pb-dh*(KH-1)-1)/sh+1; p may be NULL. */
ferry_tensor_t *ferry_conv2d_ex(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *w,
                                const ferry_conv_params *p);
/* ---- pooling (general 2-D pooling on NCHW) ---- */
typedef enum { FERRY_POOL_MAX = 0, FERRY_POOL_AVG = 1 } ferry_pool_kind;
typedef struct ferry_pool_params {
    int kh, kw, stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right; /* each pad in [0, kernel/2] (PyTorch's rule) */
    bool ceil_mode;         /* output size rounds up; the last window starts inside input or top/left pad */
    bool count_include_pad; /* average: true divides by the window clipped to the padded input
                               (PyTorch's default), false by its in-bounds count (Keras/TF) */
} ferry_pool_params;
/* Max or average pooling of x [N,C,H,W] with the window, strides, pads and modes of p. */
ferry_tensor_t *ferry_pool2d_ex(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_pool_kind kind,
                                const ferry_pool_params *p);
/* Adaptive average pooling [N,C,H,W] -> [N,C,oh,ow]; output i averages input rows
 * [floor(i·H/oh), ceil((i+1)·H/oh)), likewise columns (PyTorch's adaptive_avg_pool2d). */
ferry_tensor_t *ferry_adaptive_avg_pool2d(ferry_ctx_t *ctx, ferry_tensor_t *x, int oh, int ow);
/* ---- unary and normalisation family ---- */
/* Element-wise; each returns a tensor of x's shape. */
ferry_tensor_t *ferry_log(ferry_ctx_t *ctx, ferry_tensor_t *x);    /* natural log; NaN for x < 0 */
ferry_tensor_t *ferry_sqrt(ferry_ctx_t *ctx, ferry_tensor_t *x);   /* NaN for x < 0; gradient inf at 0 */
ferry_tensor_t *ferry_square(ferry_ctx_t *ctx, ferry_tensor_t *x); /* x² */
/* x^exponent (powf: NaN for x < 0 and a non-integer exponent); NULL for a non-finite exponent. */
ferry_tensor_t *ferry_pow(ferry_ctx_t *ctx, ferry_tensor_t *x, float exponent);
ferry_tensor_t *ferry_abs(ferry_ctx_t *ctx, ferry_tensor_t *x); /* |x|; gradient sign(x), 0 at 0 */
/* min(max(x, lo), hi); gradient passes where lo <= x <= hi, 0 elsewhere (PyTorch); NULL unless lo <= hi. */
ferry_tensor_t *ferry_clamp(ferry_ctx_t *ctx, ferry_tensor_t *x, float lo, float hi);
ferry_tensor_t *ferry_relu6(ferry_ctx_t *ctx, ferry_tensor_t *x); /* clamp(x, 0, 6); gradient where 0 < x < 6 (PyTorch's) */
ferry_tensor_t *ferry_silu(ferry_ctx_t *ctx, ferry_tensor_t *x);  /* x·sigmoid(x) */
/* x·Phi(x), the exact (erf) form, PyTorch's default; erf approximated to 1.5e-7 absolute. */
ferry_tensor_t *ferry_gelu(ferry_ctx_t *ctx, ferry_tensor_t *x);
/* relu6(x+3)/6 (PyTorch's hardsigmoid); gradient 1/6 for -3 < x < 3, else 0. */
ferry_tensor_t *ferry_hard_sigmoid(ferry_ctx_t *ctx, ferry_tensor_t *x);
ferry_tensor_t *ferry_softplus(ferry_ctx_t *ctx, ferry_tensor_t *x); /* log(1+exp(x)), stable for all x */
/* Layer norm of each row of x [N,D] (PyTorch's layer_norm over the last dimension): (x - mean)
 * / sqrt(var_biased + eps) · gamma + beta; gamma, beta [D]. */
ferry_tensor_t *ferry_layer_norm(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *gamma,
                                 ferry_tensor_t *beta, float eps);

/* ---- autodiff ------------------------------------------------------------------------------------ */

/* Emits the backward pass of scalar `loss` into ctx. Afterwards ferry_grad() gives d loss / d t for
 * every tensor that requires a gradient (NULL for the others). Call once per context. */
ferry_status ferry_backward(ferry_ctx_t *ctx, ferry_tensor_t *loss);
/* Before ferry_backward: parameters for which keep(store index, user) is false get no gradient, and
 * nothing that only they would need is computed (the forward, batch statistics included, is
 * unchanged). For updating some parameters on a loss that reads others. */
ferry_status ferry_restrict_grad(ferry_ctx_t *ctx, bool (*keep)(int store_idx, void *user), void *user);
ferry_tensor_t *ferry_grad(ferry_ctx_t *ctx, ferry_tensor_t *t);
/* Parameters (ferry_param leaves) that received a gradient, in creation order. */
int ferry_ctx_param_count(const ferry_ctx_t *ctx);
ferry_tensor_t *ferry_ctx_param(const ferry_ctx_t *ctx, int i);
/* Store index of a parameter leaf. */
int ferry_param_store_index(const ferry_tensor_t *t);

/* ---- optimizer update ops (in place on the store) --------------------------------------------- */

/* param -= lr·lr_mult·update, with SGD momentum (PyTorch's formulation), Nesterov and L2 decay.
 * mom is the momentum buffer (a store entry); lr a scalar input. Returns the op node. */
ferry_tensor_t *ferry_sgd_update(ferry_ctx_t *ctx, ferry_tensor_t *param, ferry_tensor_t *grad,
                                 ferry_tensor_t *mom, ferry_tensor_t *lr, float lr_mult,
                                 float momentum, float weight_decay, bool nesterov);
/* Adam/AdamW. hyper is a 4-element input [lr, 1-beta1^t, 1-beta2^t, 0] set each step;
 * decoupled = AdamW (param *= 1 - lr·lr_mult·wd), else L2 added to the gradient. */
ferry_tensor_t *ferry_adam_update(ferry_ctx_t *ctx, ferry_tensor_t *param, ferry_tensor_t *grad,
                                  ferry_tensor_t *m, ferry_tensor_t *v, ferry_tensor_t *hyper,
                                  float lr_mult, float beta1, float beta2, float eps,
                                  float weight_decay, bool decoupled);

/* ---- static graphs --------------------------------------------------------------------------------
 * A graph is every op recorded in ctx that an output or an in-place update depends on, in order.
 * Memory is planned once (liveness-based packing of intermediates); compute allocates nothing. */

ferry_status ferry_graph_init(ferry_ctx_t *ctx, ferry_backend_t *be, ferry_graph_t **out);
void ferry_graph_free(ferry_graph_t *g);
ferry_status ferry_graph_compute(ferry_graph_t *g);
/* Host <-> device for inputs and outputs (nbytes must equal the tensor's size). */
ferry_status ferry_tensor_set(ferry_graph_t *g, ferry_tensor_t *t, const void *data, size_t nbytes);
ferry_status ferry_tensor_get(ferry_graph_t *g, const ferry_tensor_t *t, void *data, size_t nbytes);
float ferry_tensor_get_scalar(ferry_graph_t *g, const ferry_tensor_t *t);
/* True if the graph reads or computes t (an input no op depends on is not part of the graph). */
bool ferry_graph_uses(const ferry_graph_t *g, const ferry_tensor_t *t);

typedef struct ferry_graph_info {
    int n_nodes;              /* executed ops */
    size_t transient_bytes;   /* packed arena for intermediates */
    size_t unpacked_bytes;    /* what the intermediates would take without reuse */
    size_t input_bytes;       /* inputs and constants */
    int n_dispatches;         /* device backends: compute dispatches recorded per step */
    int n_barriers;           /* device backends: barriers between dispatches per step */
    int n_fused;              /* ops a backend folded into a neighbour's kernel (same results) */
} ferry_graph_info;
void ferry_graph_get_info(const ferry_graph_t *g, ferry_graph_info *out);
/* Writes one line per node (op, shape, sources) to a FILE* (for debugging). */
void ferry_graph_print(const ferry_graph_t *g, void *file);

#ifdef __cplusplus
}
#endif
#endif
