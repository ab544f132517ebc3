/* Internal structures shared by the graph builder, the planner and the backends. */
#ifndef FERRY_INTERNAL_H
#define FERRY_INTERNAL_H

#include "error.h"
#include "ferry/tensor.h"

#define FERRY_MAX_SRC 6
#define FERRY_MAX_PARAMS 8

/* Every op the runtime executes, from the registry (ops.def, where each op's contract is written).
 * Backward passes are built from these same ops. */
enum ferry_op {
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) FERRY_OP_##NAME,
#include "ops.def"
    FERRY_OP_COUNT
};

enum ferry_unary {
#define FERRY_UNARY(NAME, name, uses_output) FERRY_UNARY_##NAME,
#include "ops.def"
};
/* Not an enumerator, so that a switch over the kinds stays checked by -Wswitch. */
enum {
    FERRY_UNARY_COUNT = 0
#define FERRY_UNARY(NAME, name, uses_output) +1
#include "ops.def"
};

/* What an op is (ops.def's kind column). */
enum ferry_op_kind { FERRY_KIND_LEAF, FERRY_KIND_VIEW, FERRY_KIND_KERNEL, FERRY_KIND_UPDATE };
/* How an op is differentiated (ops.def's grad column). */
enum ferry_op_grad { FERRY_GRAD_FN, FERRY_GRAD_ZERO, FERRY_GRAD_NONE };

struct ferry_op_info {
    const char *name;
    int nsrc;                  /* sources at most */
    enum ferry_op_kind kind;
    enum ferry_op_grad grad;
};
/* The registry entry of op (ops.c); NULL past FERRY_OP_COUNT. */
const struct ferry_op_info *ferry_op_info(enum ferry_op op);

/* Name of a unary kind ("relu"), and whether its backward reads the forward's output. */
const char *ferry_unary_name(int kind);
bool ferry_unary_bwd_uses_output(int kind);

enum ferry_leaf_kind { FERRY_LEAF_NONE, FERRY_LEAF_INPUT, FERRY_LEAF_CONST, FERRY_LEAF_PARAM };

enum ferry_tensor_flags {
    FERRY_FLAG_OUTPUT = 1u << 0,        /* readable after compute: never packed over */
    FERRY_FLAG_REQUIRES_GRAD = 1u << 1, /* depends on a trainable parameter */
    FERRY_FLAG_SIDE_EFFECT = 1u << 2,   /* writes persistent memory: always executed */
    FERRY_FLAG_RECOMPUTE = 1u << 3,     /* a forward op recorded again for the backward pass: runs
                                         * right before its first reader (autodiff.c, graph.c) */
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
    const struct ferry_op_info *i = ferry_op_info(op);
    return i && i->kind == FERRY_KIND_VIEW;
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

/* A kind of backend, as it registers itself (core/backends/registry.c lists them; the core names
 * none). Device specs are "NAME" or "NAME:ARG" ("cpu", "vulkan:1"). */
struct ferry_backend_reg {
    const char *name;
    /* for "auto": the registered backend with the highest priority that initialises wins */
    int auto_priority;
    /* arg: the text after "NAME:" or NULL; threads: the caller's thread count (0: all cores) */
    ferry_status (*init)(const char *arg, int threads, ferry_backend_t **out);
    /* prints this kind's devices to a FILE * */
    ferry_status (*list)(void *file);
    /* whether the backend runs op (leaves and views count) */
    bool (*supports)(enum ferry_op op);
    /* messages from a validation layer in this process so far, or NULL */
    uint64_t (*validation_messages)(void);
};
/* The registered backends, NULL-terminated (core/backends/registry.c). */
extern const struct ferry_backend_reg *const ferry_backend_registry[];

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
/* Sets a FERRY_ERR_SHAPE error "op: what (got [a] and [b])" (b may be NULL); returns NULL. */
struct ferry_tensor *ferry_shape_error(const char *op, const char *what, const struct ferry_tensor *a,
                                       const struct ferry_tensor *b);
/* "[64, 1, 28, 28]" into buf. */
const char *ferry_shape_str(const struct ferry_tensor *t, char *buf, size_t n);

/* Broadcasting geometry, shared by every backend. d: t's shape as 4 dimensions, right-aligned
 * (leading 1s). s: the element strides of src in the 4-D index space of dst shape dd, 0 along the
 * dimensions src broadcasts. */
static inline void ferry_dims4(const struct ferry_tensor *t, int64_t d[4])
{
    for (int k = 0; k < 4; k++) d[k] = 1;
    for (int k = 0; k < t->ndim; k++) d[4 - t->ndim + k] = t->ne[k];
}
static inline void ferry_broadcast_strides(const struct ferry_tensor *src, const int64_t dd[4], int64_t s[4])
{
    int64_t sd[4];
    ferry_dims4(src, sd);
    int64_t st = 1;
    for (int k = 3; k >= 0; k--) {
        s[k] = sd[k] == 1 && dd[k] != 1 ? 0 : st;
        st *= sd[k];
    }
}

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
