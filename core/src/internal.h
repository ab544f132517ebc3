/* Internal structures shared by the graph builder, the planner and the backends. */
#ifndef FERRY_INTERNAL_H
#define FERRY_INTERNAL_H

#include "error.h"
#include "ferry/tensor.h"

#define FERRY_MAX_SRC 6
#define FERRY_MAX_PARAMS 8

/* Every op the runtime executes. Backward passes are built from these same ops.
 * Shapes: ne[0] is the outermost dimension (N of NCHW). All tensors are contiguous row-major.
 * ip[] / fp[] are the integer and float parameters of a node. */
enum ferry_op {
    FERRY_OP_LEAF = 0,     /* input, constant or parameter: no computation */

    /* views: alias src[0]'s memory, element offset view_off; never executed */
    FERRY_OP_RESHAPE,      /* same data, new shape */
    FERRY_OP_SLICE,        /* rows [ip0, ip1) of dim 0 */
    FERRY_OP_GRAD_REVERSE, /* identity; backward = g * -src[1][0] */

    /* elementwise (n = numel of dst) */
    FERRY_OP_ADD,        /* dst = fp0*a + fp1*b, same shapes */
    FERRY_OP_MUL,        /* dst = a*b */
    FERRY_OP_SCALE,      /* dst = fp0*a */
    FERRY_OP_SCALE_BY,   /* dst = a * s[0] * fp0, s = src[1] 1 element */
    FERRY_OP_ADD_BIAS,   /* dst[n,c,...] = x[n,c,...] + b[c]; x 2-D [N,C] or 4-D [N,C,H,W] */
    FERRY_OP_BIAS_GRAD,  /* dst[c] = sum over n and spatial of g[n,c,...] (g = src0); dst 1-D [C] */
    FERRY_OP_UNARY,      /* dst = f(x), ip0 = enum ferry_unary, fp0 = leaky slope */
    FERRY_OP_UNARY_BWD,  /* dst = g * f'(.), src0 = g, src1 = x for RELU/LEAKY, y (fwd output) for
                            SIGMOID/TANH/EXP/RECIP; ip0 = kind, fp0 = slope */

    /* rows of a 2-D tensor [N,K] */
    FERRY_OP_SOFTMAX,          /* dst = softmax(x) per row */
    FERRY_OP_LOG_SOFTMAX,      /* dst = x - logsumexp(x) per row */
    FERRY_OP_SOFTMAX_BWD,      /* src0 = g, src1 = y: dst = y*(g - sum_k g*y) */
    FERRY_OP_LOG_SOFTMAX_BWD,  /* src0 = g, src1 = y: dst = g - exp(y)*sum_k g */

    /* dst[M,N] = op(a)·op(b); ip0 = trans_a, ip1 = trans_b */
    FERRY_OP_MATMUL,

    /* convolution: x [N,C,H,W], w [O,C,KH,KW] -> [N,O,OH,OW]; ip0 = stride, ip1 = pad */
    FERRY_OP_CONV2D,
    FERRY_OP_CONV2D_BWD_DATA,    /* src0 = g [N,O,OH,OW], src1 = w: dst = dx [N,C,H,W] */
    FERRY_OP_CONV2D_BWD_WEIGHT,  /* src0 = g, src1 = x: dst = dw [O,C,KH,KW] */

    /* pooling: ip0 = kh, ip1 = kw, ip2 = stride_h, ip3 = stride_w, ip4 = pad_h, ip5 = pad_w.
     * Max pool pads with -inf; avg pool divides by kh*kw (count_include_pad, PyTorch default). */
    FERRY_OP_MAX_POOL,
    FERRY_OP_MAX_POOL_BWD,  /* src0 = g, src1 = x: dst = dx; gradient to the first max in window
                               order (row-major), accumulated where windows overlap */
    FERRY_OP_AVG_POOL,
    FERRY_OP_AVG_POOL_BWD,  /* src0 = g: dst = dx of shape ip-derived from the node's own shape */

    /* losses (dst scalar, mean over rows) */
    FERRY_OP_CROSS_ENTROPY,      /* src0 = logits [N,K], src1 = labels I32 [N]; fp0 = smoothing:
                                    loss_i = -sum_k q_k log p_k, q = (1-eps)·onehot + eps/K */
    FERRY_OP_CROSS_ENTROPY_BWD,  /* src0 = g (scalar), src1 = logits, src2 = labels:
                                    dst = g·(softmax - q)/N */
    FERRY_OP_BCE_LOGITS,         /* src0 = x, src1 = t (same shape): mean of
                                    max(x,0) - x·t + log(1+exp(-|x|)) */
    FERRY_OP_BCE_LOGITS_BWD,     /* src0 = g scalar, src1 = x, src2 = t: dst = g·(sigmoid(x)-t)/n */

    /* dropout: src0 = x, src1 = seed I32[1]; fp0 = p; ip0 = salt.
     * keep(i) = hash(seed, salt, i) >= p·2^32 (see ferry_dropout_keep); dst = keep ? x/(1-p) : 0.
     * Its backward is the same op applied to g. */
    FERRY_OP_DROPOUT,

    /* batch norm over (N,H,W) per channel C; x 2-D [N,C] or 4-D [N,C,H,W]. */
    FERRY_OP_BN_STATS,        /* src0 = x, src1 = running_mean, src2 = running_var; fp0 = momentum,
                                 fp1 = eps. dst [2,C] = (mean, 1/sqrt(var_biased+eps)); updates
                                 running stats in place with the unbiased variance (PyTorch). */
    FERRY_OP_BN_APPLY,        /* train (ip0=0): src0 = x, src1 = stats [2,C], src2 = gamma,
                                 src3 = beta. eval (ip0=1): src1 = running_mean, src4 = running_var,
                                 fp1 = eps. dst = (x-mean)·invstd·gamma + beta */
    FERRY_OP_BN_BWD_PARAMS,   /* src0 = g, src1 = x, src2 = stats: dst [2,C] = (dgamma, dbeta),
                                 dgamma = sum g·xhat, dbeta = sum g */
    FERRY_OP_BN_BWD_DATA,     /* src0 = g, src1 = x, src2 = stats, src3 = gamma, src4 = dparams:
                                 dx = gamma·invstd/M · (M·g - dbeta - xhat·dgamma), M = N·H·W */

    /* batch-dimension shape ops */
    FERRY_OP_CONCAT,     /* dst = [a; b] along dim 0 */
    FERRY_OP_PAD_BATCH,  /* src0 = g rows: dst (ip0 rows total) zero except rows [ip1, ip1+rows_g) */

    /* reductions */
    FERRY_OP_SUM,        /* dst scalar = fp0 · sum(x) (fp0 = 1 for sum, 1/n for mean) */
    FERRY_OP_BROADCAST,  /* src0 scalar: dst (any shape) = src0[0] · fp0 */

    /* metrics */
    FERRY_OP_COUNT_CORRECT, /* src0 = logits [N,K], src1 = labels I32[N]: dst scalar = #(argmax==y),
                               first maximum wins */

    /* optimizer updates: write src0 (param) and state in place; dst aliases the param */
    FERRY_OP_SGD_UPDATE,   /* src0 = p, src1 = grad, src2 = momentum buf, src3 = lr scalar;
                              fp0 = lr_mult, fp1 = momentum, fp2 = weight decay, ip0 = nesterov.
                              d = g + wd·p; if momentum: buf = momentum·buf + d (buf = d at step 1
                              is NOT special-cased: buf starts at 0 so first step buf = d);
                              d = nesterov ? d + momentum·buf : buf; p -= lr·lr_mult·d */
    FERRY_OP_ADAM_UPDATE,  /* src0 = p, src1 = grad, src2 = m, src3 = v, src4 = hyper[4] =
                              (lr, 1-b1^t, 1-b2^t, 0); fp0 = lr_mult, fp1 = b1, fp2 = b2, fp3 = eps,
                              fp4 = wd, ip0 = decoupled. PyTorch's Adam/AdamW. */

    FERRY_OP_COUNT
};

enum ferry_unary {
    FERRY_UNARY_RELU,
    FERRY_UNARY_LEAKY_RELU,
    FERRY_UNARY_SIGMOID,
    FERRY_UNARY_TANH,
    FERRY_UNARY_EXP,   /* backward uses the output: g·y */
    FERRY_UNARY_RECIP, /* 1/x; backward uses the output: -g·y² */
};
/* Unary kinds whose backward reads the forward output rather than the input. */
static inline bool ferry_unary_bwd_uses_output(int k)
{
    return k == FERRY_UNARY_SIGMOID || k == FERRY_UNARY_TANH || k == FERRY_UNARY_EXP ||
           k == FERRY_UNARY_RECIP;
}

enum ferry_leaf_kind { FERRY_LEAF_NONE, FERRY_LEAF_INPUT, FERRY_LEAF_CONST, FERRY_LEAF_PARAM };

enum ferry_tensor_flags {
    FERRY_FLAG_OUTPUT = 1u << 0,        /* readable after compute: never packed over */
    FERRY_FLAG_REQUIRES_GRAD = 1u << 1, /* depends on a trainable parameter */
    FERRY_FLAG_SIDE_EFFECT = 1u << 2,   /* writes persistent memory: always executed */
};

/* A block of backend memory. */
typedef struct ferry_buffer {
    size_t size;
    void *host;   /* CPU backend: the memory itself; device backends: NULL or a mapping */
    void *impl;   /* backend-specific */
} ferry_buffer;

struct ferry_tensor {
    enum ferry_op op;
    enum ferry_leaf_kind leaf;
    ferry_dtype dtype;
    int ndim;
    int64_t ne[FERRY_MAX_DIMS]; /* shape, outermost first; unused dims are 1 */
    int64_t nb[FERRY_MAX_DIMS]; /* strides in elements */
    int64_t numel;
    struct ferry_tensor *src[FERRY_MAX_SRC];
    int32_t ip[FERRY_MAX_PARAMS];
    float fp[FERRY_MAX_PARAMS];
    uint32_t flags;
    int id;                     /* creation order in its context */
    char name[64];

    /* leaves */
    ferry_store_t *store;
    int store_idx;
    float const_value;

    /* views: root storage + element offset */
    struct ferry_tensor *view_src;
    int64_t view_off;

    /* autodiff */
    struct ferry_tensor *grad;

    /* planning: where the (root) tensor lives */
    ferry_buffer *buf;
    size_t offset;              /* bytes into buf */
};

static inline bool ferry_is_view_op(enum ferry_op op)
{
    return op == FERRY_OP_RESHAPE || op == FERRY_OP_SLICE || op == FERRY_OP_GRAD_REVERSE;
}

/* The tensor whose memory t uses (t itself unless t is a view). */
static inline struct ferry_tensor *ferry_root(struct ferry_tensor *t)
{
    while (t->view_src) t = t->view_src;
    return t;
}

struct ferry_ctx {
    struct ferry_tensor **tensors;
    int n, cap;
    bool in_backward;       /* tensors made now are gradients: they never require grad */
    bool backward_done;
    struct ferry_tensor **params; /* parameter leaves that received gradients */
    int n_params;
};

/* Backend interface. A device backend records the whole graph at prepare time and replays it. */
struct ferry_backend_iface {
    const char *name;
    size_t alignment;
    ferry_status (*buffer_alloc)(ferry_backend_t *be, size_t size, ferry_buffer **out);
    void (*buffer_free)(ferry_backend_t *be, ferry_buffer *buf);
    ferry_status (*upload)(ferry_backend_t *be, ferry_buffer *buf, size_t off, const void *src,
                           size_t n);
    ferry_status (*download)(ferry_backend_t *be, ferry_buffer *buf, size_t off, void *dst,
                             size_t n);
    /* Bytes of scratch a node needs while it runs (0 if none). */
    size_t (*scratch_bytes)(ferry_backend_t *be, const struct ferry_tensor *node);
    ferry_status (*graph_prepare)(ferry_backend_t *be, ferry_graph_t *g);
    void (*graph_release)(ferry_backend_t *be, ferry_graph_t *g);
    ferry_status (*graph_compute)(ferry_backend_t *be, ferry_graph_t *g);
    void (*destroy)(ferry_backend_t *be);
    ferry_status (*describe)(const ferry_backend_t *be, ferry_device_desc *out);
};

/* Vulkan validation messages emitted in this process so far (0 when validation is off). */
uint64_t ferry_vk_validation_messages(void);
/* Prints the Vulkan devices (vk_backend.c). */
ferry_status ferry_vulkan_list_devices(void *file);

struct ferry_backend {
    const struct ferry_backend_iface *iface;
    ferry_backend_stats stats;
    int threads;
    void *impl;
};

struct ferry_graph {
    ferry_ctx_t *ctx;
    ferry_backend_t *be;
    struct ferry_tensor **nodes; /* executed ops, in order */
    int n_nodes;
    ferry_buffer *transient;     /* packed intermediates */
    ferry_buffer *inputs;        /* inputs and constants */
    ferry_buffer *scratch;       /* per-node scratch, shared by all nodes */
    size_t scratch_size;
    ferry_graph_info info;
    void *backend_data;
};

/* Backend-side helpers. */
ferry_status ferry_backend_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out);
void ferry_backend_release(ferry_backend_t *be, ferry_buffer *buf);

/* Store entry buffer (for binding parameter leaves). */
ferry_buffer *ferry_store_buffer(ferry_store_t *st, int i);
ferry_backend_t *ferry_store_backend(ferry_store_t *st);

/* Graph building helpers for op files. */
struct ferry_tensor *ferry_new_tensor(ferry_ctx_t *ctx, enum ferry_op op, ferry_dtype dtype,
                                      int ndim, const int64_t *shape);
/* New op node: sets sources and requires-grad from the sources; NULL if any source is NULL. */
struct ferry_tensor *ferry_new_op(ferry_ctx_t *ctx, enum ferry_op op, ferry_dtype dtype, int ndim,
                                  const int64_t *shape, int nsrc, struct ferry_tensor *const *srcs);
bool ferry_same_shape(const struct ferry_tensor *a, const struct ferry_tensor *b);
/* "[64, 1, 28, 28]" into buf. */
const char *ferry_shape_str(const struct ferry_tensor *t, char *buf, size_t n);

/* Name of an op (e.g. "conv2d"). */
const char *ferry_op_name(enum ferry_op op);

/* Per-op backward builders: given node and its output gradient g, set grads[i] to d loss / d src[i]
 * for each source that requires a gradient (others left NULL). */
typedef void (*ferry_backward_fn)(ferry_ctx_t *ctx, struct ferry_tensor *node,
                                  struct ferry_tensor *g, struct ferry_tensor **grads);
ferry_backward_fn ferry_op_backward(enum ferry_op op);

/* Counter-based hash used for dropout masks on every backend (must match the shaders). */
static inline uint32_t ferry_hash3(uint32_t a, uint32_t b, uint32_t c)
{
    /* Murmur3-style finaliser over a combination of the three words. */
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 0x165667B1u) * 0xC2B2AE3Du;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}
static inline bool ferry_dropout_keep(uint32_t seed, uint32_t salt, uint32_t i, float p)
{
    return (double)ferry_hash3(seed, salt, i) >= (double)p * 4294967296.0;
}

#endif
