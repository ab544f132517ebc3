/* Ferry — the method plugin ABI.
 *
 * A transfer method is one C file built into a shared object. It exports one symbol,
 *
 *     FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host);
 *
 * which returns a constant descriptor: the method's name, summary, citation, hyperparameters and
 * hooks. The plugin does not link Ferry: every call into Ferry goes through the function table
 * `host` (build graph nodes, add parameters, read hyperparameters). Methods only add nodes to the
 * step's graph, so the same plugin runs on every backend (CPU, any Vulkan GPU).
 *
 * Compatibility: both tables start with their ABI version and their size, and only ever grow at the
 * end. The host refuses a plugin whose abi_version differs from FERRY_PLUGIN_ABI_VERSION's major
 * number or whose descriptor is smaller than the first published one; a plugin may check
 * host->size before using a function added later.
 *
 * Build against an installed Ferry with pkg-config:
 *     cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags ferry-plugin) my_method.c \
 *        -o my_method.so
 * and put the .so in a directory listed in $FERRY_PLUGIN_PATH. See plugins/GUIDE.md. */
#ifndef FERRY_PLUGIN_H
#define FERRY_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_PLUGIN_ABI_VERSION 1u
#define FERRY_PLUGIN_ENTRY_SYMBOL "ferry_plugin_entry"

#if defined(__GNUC__)
#define FERRY_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define FERRY_PLUGIN_EXPORT
#endif

/* Opaque handles, the same types as Ferry's own headers (a repeated typedef is valid C11). */
typedef struct ferry_tensor ferry_tensor_t;
typedef struct ferry_ctx ferry_ctx_t;
typedef struct ferry_store ferry_store_t;
typedef struct ferry_run ferry_run_t; /* one training run of a method */
typedef int ferry_plugin_status;      /* ferry_status: 0 = FERRY_OK */

/* Status codes a plugin returns or passes to host->error: the values of ferry_status (base.h). */
enum {
    FERRY_PLUGIN_OK = 0,
    FERRY_PLUGIN_ERR_INVALID = 1,     /* bad argument or hyperparameter combination */
    FERRY_PLUGIN_ERR_SHAPE = 2,       /* tensor shapes do not fit */
    FERRY_PLUGIN_ERR_NOMEM = 6,       /* allocation failed */
    FERRY_PLUGIN_ERR_UNSUPPORTED = 7, /* a valid request this host or run cannot do */
};

/* ---- hyperparameters ------------------------------------------------------------------------------ */

typedef enum ferry_hparam_type {
    FERRY_HP_FLOAT = 0,
    FERRY_HP_INT = 1,
    FERRY_HP_BOOL = 2,
} ferry_hparam_type;

/* How a sweep draws the value (the benchmark harness reads this). */
typedef enum ferry_sweep {
    FERRY_SWEEP_FIXED = 0,   /* not swept: always the default */
    FERRY_SWEEP_UNIFORM = 1, /* uniform in [min, max] */
    FERRY_SWEEP_LOG = 2,     /* log-uniform in [min, max] (min > 0) */
} ferry_sweep;

typedef struct ferry_hparam {
    const char *name;        /* lower case, [a-z0-9_]; set as METHOD.NAME=VALUE */
    ferry_hparam_type type;
    double def, min, max;    /* default and the valid range (inclusive) */
    ferry_sweep sweep;
    const char *doc;
} ferry_hparam;

/* ---- what a step gives the method ----------------------------------------------------------------- */

/* The step's graph so far. The host feeds source and target images through the model's backbone in
 * one batch (so batch norm sees both domains) and through the classifier. */
typedef struct ferry_step_tensors {
    ferry_tensor_t *features_s; /* [B, D] source features */
    ferry_tensor_t *features_t; /* [B, D] target features */
    ferry_tensor_t *logits_s;   /* [B, K] */
    ferry_tensor_t *logits_t;   /* [B, K] */
    ferry_tensor_t *labels_s;   /* I32 [B] */
    ferry_tensor_t *labels_t;   /* I32 [B]: only for methods with FERRY_METHOD_NEEDS_TARGET_LABELS,
                                   else NULL */
    int batch;                  /* B */
    /* appended in ABI 1: I32 [B], each row's index in its training set, stable over the run (for
     * per-example state: pseudo-labels, memory banks); ids_s indexes the labelled set (the source,
     * or an inductive method's labelled target examples), ids_t the unlabelled target (NULL for an
     * inductive method) */
    ferry_tensor_t *ids_s, *ids_t;
    /* appended in ABI 1: with FERRY_METHOD_TWO_VIEWS, the same target images augmented a second
     * time (the method's strong view), through the same forward; else NULL */
    ferry_tensor_t *features_t2, *logits_t2;
} ferry_step_tensors;

/* Training sets a method can ask the host about (host->split_size, host->predict). */
enum { FERRY_SPLIT_LABELLED = 0, FERRY_SPLIT_UNLABELLED_TARGET = 1 };

/* ---- the host's function table ---------------------------------------------------------------------
 * Graph calls return NULL on bad shapes (with a message) and accept NULL inputs, so a hook may build
 * a whole expression and check the result once. */
typedef struct ferry_host_api {
    uint32_t abi_version;
    uint32_t size;

    /* errors: sets the message reported to the user; returns status */
    ferry_plugin_status (*error)(ferry_plugin_status status, const char *fmt, ...);

    /* elementwise */
    ferry_tensor_t *(*add)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*sub)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*mul)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*scale)(ferry_ctx_t *ctx, ferry_tensor_t *a, float s);
    /* a · s[0] · k, s a one-element tensor */
    ferry_tensor_t *(*scale_by)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *s, float k);
    ferry_tensor_t *(*relu)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*sigmoid)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*tanh)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*exp)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*softmax)(ferry_ctx_t *ctx, ferry_tensor_t *x); /* per row of [N, K] */
    /* 1/x, elementwise */
    ferry_tensor_t *(*reciprocal)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    /* the same values with no gradient flowing back */
    ferry_tensor_t *(*detach)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    /* identity forward; backward multiplies the gradient by -lambda[0] */
    ferry_tensor_t *(*grad_reverse)(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *lambda);

    /* matrices and shapes */
    ferry_tensor_t *(*matmul)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b, bool trans_a,
                              bool trans_b);
    ferry_tensor_t *(*concat_batch)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*slice_batch)(ferry_ctx_t *ctx, ferry_tensor_t *x, int64_t begin, int64_t end);
    ferry_tensor_t *(*reshape)(ferry_ctx_t *ctx, ferry_tensor_t *x, int ndim, const int64_t *shape);
    ferry_tensor_t *(*constant)(ferry_ctx_t *ctx, float value, int ndim, const int64_t *shape);
    int (*ndim)(const ferry_tensor_t *t);
    int64_t (*dim)(const ferry_tensor_t *t, int i);

    /* reductions and losses (scalars) */
    ferry_tensor_t *(*sum)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*mean)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*cross_entropy)(ferry_ctx_t *ctx, ferry_tensor_t *logits, ferry_tensor_t *labels,
                                     float label_smoothing);
    ferry_tensor_t *(*bce_with_logits)(ferry_ctx_t *ctx, ferry_tensor_t *logits, ferry_tensor_t *targets);

    /* layers: parameters live in the run's store under prefix.weight / prefix.bias */
    ferry_plugin_status (*linear_init)(ferry_run_t *run, const char *prefix, int64_t in, int64_t out);
    ferry_tensor_t *(*linear)(ferry_run_t *run, const char *prefix, ferry_tensor_t *x);

    /* the run */
    ferry_ctx_t *(*ctx)(ferry_run_t *run);                 /* the step's graph context */
    double (*hparam)(const ferry_run_t *run, const char *name); /* resolved value (default or --set) */
    int64_t (*feature_dim)(const ferry_run_t *run);
    int (*classes)(const ferry_run_t *run);
    /* a scalar graph input, set by set_scalar before each step (e.g. DANN's lambda) */
    ferry_tensor_t *(*scalar)(ferry_run_t *run, const char *name, float initial);
    void (*set_scalar)(ferry_run_t *run, ferry_tensor_t *scalar, float value);
    /* parameter groups: names starting with prefix train with lr × mult (last rule wins);
     * "backbone" names the model's feature extractor */
    ferry_plugin_status (*set_lr_mult)(ferry_run_t *run, const char *prefix, float mult);
    /* freezes (no gradient, no update) the backbone, or its first k blocks (k < 0: all) */
    ferry_plugin_status (*freeze_backbone)(ferry_run_t *run, int first_k_blocks);
    /* the learning-rate schedule: "constant", "cosine", "step" or "inv" (lr0 / (1 + a p)^b) */
    ferry_plugin_status (*set_schedule)(ferry_run_t *run, const char *name, float a, float b);
    /* a constant copy of every backbone parameter as loaded from the checkpoint (for L2-SP):
     * returns the graph tensor of "NAME" and of its starting value, one pair per call, i = 0.. */
    int (*backbone_param_count)(const ferry_run_t *run);
    ferry_plugin_status (*backbone_param_and_start)(ferry_run_t *run, int i, ferry_tensor_t **param,
                                                    ferry_tensor_t **start);
    bool (*has_checkpoint)(const ferry_run_t *run);
    /* draws the classifier head afresh (a new head on a pretrained backbone) */
    ferry_plugin_status (*reset_classifier)(ferry_run_t *run);
    /* the method's own state (set in setup, read in later hooks) */
    void (*set_state)(ferry_run_t *run, void *state);
    void *(*state)(const ferry_run_t *run);

    /* appended in ABI 1 (check host->size >= offsetof(ferry_host_api, batch_norm) + sizeof(void *)
     * before calling them from a plugin that must also load into an older host): batch
     * normalisation over the rows of [N, C] (or the channels of [N, C, H, W]) in training mode,
     * parameters prefix.weight / .bias (trained) and prefix.running_mean / _var (PyTorch's names,
     * momentum 0.1, eps 1e-5) */
    ferry_plugin_status (*batch_norm_init)(ferry_run_t *run, const char *prefix, int64_t channels);
    ferry_tensor_t *(*batch_norm)(ferry_run_t *run, const char *prefix, ferry_tensor_t *x);

    /* appended in ABI 1 (check host->size >= offsetof(ferry_host_api, sum_to) + sizeof(void *)):
     * add, sub and mul above broadcast NumPy-style since this entry ([N, D] - [1, D], [N, 1] +
     * [1, M]); div, maximum and minimum broadcast too; sum_to sums x down to a shape it broadcasts
     * from (row sums: [N, D] -> [N, 1]; column sums: -> [1, D]) */
    ferry_tensor_t *(*sum_to)(ferry_ctx_t *ctx, ferry_tensor_t *x, int ndim, const int64_t *shape);
    ferry_tensor_t *(*div)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*maximum)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*minimum)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b);

    /* appended in ABI 1 (check FERRY_HOST_HAS(host, batched_matmul)): the op registry's other graph
     * ops, with the semantics of Ferry's tensor.h. Unary: log (NaN below 0), sqrt, square, abs
     * (gradient sign x), pow (x^p), clamp (to [lo, hi]), leaky_relu, softplus; log_softmax per row
     * of [N, K]. Axes: transpose swaps two axes; sum/mean/max_axis reduce one axis keeping it with
     * size 1 (max passes the gradient to the first maximum); argmax_axis is I32, size 1 on the axis,
     * no gradient; one_hot: I32 [N] -> F32 [N, k]; gather_rows: x [R, D], I32 idx [M] -> [M, D];
     * concat of n (1..6) tensors along axis; slice [begin, end) along axis; compare gives a 0/1 mask
     * (FERRY_HOST_CMP_*, broadcasting, no gradient) and where(cond, a, b) picks per element;
     * batched_matmul: [B, M, K] x [B, K, N] -> [B, M, N] (trans_a / trans_b swap the last two). */
    ferry_tensor_t *(*log)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*sqrt)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*square)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*abs)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*pow)(ferry_ctx_t *ctx, ferry_tensor_t *x, float p);
    ferry_tensor_t *(*clamp)(ferry_ctx_t *ctx, ferry_tensor_t *x, float lo, float hi);
    ferry_tensor_t *(*leaky_relu)(ferry_ctx_t *ctx, ferry_tensor_t *x, float slope);
    ferry_tensor_t *(*softplus)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*log_softmax)(ferry_ctx_t *ctx, ferry_tensor_t *x);
    ferry_tensor_t *(*transpose)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis0, int axis1);
    ferry_tensor_t *(*sum_axis)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
    ferry_tensor_t *(*mean_axis)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
    ferry_tensor_t *(*max_axis)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
    ferry_tensor_t *(*argmax_axis)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis);
    ferry_tensor_t *(*one_hot)(ferry_ctx_t *ctx, ferry_tensor_t *labels, int k);
    ferry_tensor_t *(*gather_rows)(ferry_ctx_t *ctx, ferry_tensor_t *x, ferry_tensor_t *idx);
    ferry_tensor_t *(*concat)(ferry_ctx_t *ctx, int axis, int n, ferry_tensor_t *const *tensors);
    ferry_tensor_t *(*slice)(ferry_ctx_t *ctx, ferry_tensor_t *x, int axis, int64_t begin, int64_t end);
    ferry_tensor_t *(*compare)(ferry_ctx_t *ctx, ferry_tensor_t *a, int cmp, ferry_tensor_t *b);
    ferry_tensor_t *(*where)(ferry_ctx_t *ctx, ferry_tensor_t *cond, ferry_tensor_t *a, ferry_tensor_t *b);
    ferry_tensor_t *(*batched_matmul)(ferry_ctx_t *ctx, ferry_tensor_t *a, ferry_tensor_t *b, bool trans_a,
                                      bool trans_b);

    /* appended in ABI 1 (FERRY_HOST_HAS(host, predict)): per-example state and inference over a
     * whole training set, for epoch hooks. table: a [rows, cols] F32 table the method owns (zeros,
     * no gradient, kept on the device, saved with the checkpoint), made on the first call and the
     * same table in every phase; read rows of it with gather_rows(table, t->ids_t). table_set
     * replaces its contents (rows·cols floats) between steps. split_size: examples in a split.
     * predict: the current model's class probabilities [n, K] (and, if features is not NULL, its
     * backbone features [n, feature_dim]) for every example of the split, in evaluation mode. */
    ferry_tensor_t *(*table)(ferry_run_t *run, const char *name, int64_t rows, int64_t cols);
    ferry_plugin_status (*table_set)(ferry_run_t *run, const char *name, const float *data);
    int64_t (*split_size)(const ferry_run_t *run, int split);
    ferry_plugin_status (*predict)(ferry_run_t *run, int split, float *probs, float *features);

    /* appended in ABI 1 (FERRY_HOST_HAS(host, metric)): reports a one-element tensor of the graph
     * being built (a phase's, in a phase's loss) as the method's metric `name` ([a-z0-9_], at most 8
     * per method): its mean over each epoch's steps is printed with the epoch and stored with the
     * run (the results store's method_metrics table). One scalar download per metric per step. */
    ferry_plugin_status (*metric)(ferry_run_t *run, const char *name, ferry_tensor_t *value);

    /* appended in ABI 1 (FERRY_HOST_HAS(host, tap)): copies of the model and intermediate layers.
     * model_copy (in setup only): a second network of the model's architecture whose parameters
     * live in the run's store under "NAME." ("teacher.features.0.weight"), saved with the
     * checkpoint, starting from the model as it stands when called (after --init / --weights):
     *   FERRY_COPY_FROZEN    constant (DELTA's and L2-SP's starting network);
     *   FERRY_COPY_EMA       no gradient; after every iteration's phases, one more submission moves
     *                        each of its entries (parameters and batch-norm statistics) to
     *                        d·copy + (1 − d)·model, d the FLOAT hyperparameter named `decay`
     *                        (mean teacher);
     *   FERRY_COPY_TRAINABLE trained like a module (a phase selects it by the prefix "NAME"; ADDA's
     *                        target encoder).
     * A frozen or EMA copy's batch norm always uses its stored statistics. copy_forward: the copy's
     * features and logits of the current graph's images, in out's features_* / logits_* (a phase's:
     * source, target and second view as the model's; an evaluation hook's: features_t / logits_t),
     * with dropout when asked (and the phase draws). tap: the output of a named layer (a
     * convolution, batch norm or linear layer by its parameters' prefix, "features.3",
     * "layer2.0.bn1", or a block, "layer2") of the model (copy NULL) or of a copy (after its
     * copy_forward), rows of one domain (FERRY_TAP_*) of the graph being built; NULL with a message
     * naming the layers there are. */
    ferry_plugin_status (*model_copy)(ferry_run_t *run, const char *name, int kind, const char *decay);
    ferry_plugin_status (*copy_forward)(ferry_run_t *run, const char *name, bool dropout, ferry_step_tensors *out);
    ferry_tensor_t *(*tap)(ferry_run_t *run, const char *copy, const char *layer, int domain);
    /* the name of the i-th named layer (0.., in forward order) of the model (copy NULL) or a copy in
     * the graph being built; NULL past the last */
    const char *(*tap_name)(ferry_run_t *run, const char *copy, int i);
} ferry_host_api;

/* model_copy's kinds and tap's domains */
enum { FERRY_COPY_FROZEN = 0, FERRY_COPY_EMA = 1, FERRY_COPY_TRAINABLE = 2 };
enum { FERRY_TAP_SOURCE = 0, FERRY_TAP_TARGET = 1, FERRY_TAP_TARGET2 = 2 };

/* compare's relations */
enum { FERRY_HOST_CMP_LT, FERRY_HOST_CMP_LE, FERRY_HOST_CMP_GT, FERRY_HOST_CMP_GE, FERRY_HOST_CMP_EQ, FERRY_HOST_CMP_NE };

/* Whether the host's table reaches `member` (a plugin that must also load into an older host checks
 * before calling a function appended later). */
#define FERRY_HOST_HAS(host, member) \
    ((host)->size >= offsetof(ferry_host_api, member) + sizeof((host)->member))

/* ---- the descriptor --------------------------------------------------------------------------------- */

enum ferry_method_flags {
    FERRY_METHOD_NEEDS_TARGET_LABELS = 1u << 0, /* inductive: trains on K labelled target examples
                                                    per class (the task grants them) */
    FERRY_METHOD_USES_CHECKPOINT = 1u << 1,     /* starts from a pretrained checkpoint (--init) */
    FERRY_METHOD_TARGET_BN = 1u << 2,           /* evaluation on the target splits uses batch-norm
                                                    statistics re-estimated on the unlabelled target
                                                    training images (AdaBN); source validation keeps
                                                    the source's, and training never sees them */
    FERRY_METHOD_SOURCE_FREE = 1u << 3,         /* adapts a source-trained model (--init or --weights,
                                                    as FERRY_METHOD_USES_CHECKPOINT) without source
                                                    data: every batch holds target images only
                                                    (features_s, logits_s, labels_s, ids_s are NULL;
                                                    an epoch is a pass over the unlabelled target) */
    FERRY_METHOD_TWO_VIEWS = 1u << 4,           /* every target batch comes twice, augmented
                                                    independently: features_t / logits_t (the weak
                                                    view: --augment-target, else the method's
                                                    view_weak) and features_t2 / logits_t2 (the
                                                    method's view_strong) (FixMatch, mean teacher) */
};

/* An update phase (appended in ABI 1; see ferry_method.phases). Per training iteration the host runs
 * the method's phases in order, each `repeat` times, on the same source and target batches: each
 * phase is its own static graph, recorded once (a fresh forward through the current parameters, this
 * phase's loss, its backward, and the update of the parameters it names), one submission per run
 * of the phase. Optimizer state (momentum, Adam's moments) belongs to the parameter, shared by every
 * phase that updates it, as with one optimizer per parameter group. */
typedef struct ferry_phase {
    const char *name; /* [a-z0-9_], shown in errors and metrics */
    /* the phase's loss from this phase's step tensors (as ferry_method.loss) */
    ferry_tensor_t *(*loss)(ferry_run_t *run, const ferry_host_api *host, const ferry_step_tensors *t);
    /* the parameters the phase updates, comma-separated selectors: "all" (or NULL), "backbone",
     * "classifier" (the model's head), "modules" (everything the method added with linear_init or
     * batch_norm_init), or a parameter-name prefix ("mcd.c2"). The rest get no gradient here. */
    const char *updates;
    /* an INT hyperparameter giving how many times the phase runs per iteration, or NULL: once */
    const char *repeat;
} ferry_phase;

typedef struct ferry_method {
    uint32_t abi_version;      /* FERRY_PLUGIN_ABI_VERSION */
    uint32_t size;             /* sizeof(ferry_method) */
    const char *name;          /* [a-z0-9-], unique among loaded plugins */
    const char *summary;       /* one line */
    const char *citation;      /* the paper, one line */
    uint32_t flags;            /* enum ferry_method_flags */
    const ferry_hparam *hparams;
    int n_hparams;

    /* Before the graph is built: add modules (host->linear_init), pick parameter groups, the
     * schedule, freezing. Optional. */
    ferry_plugin_status (*setup)(ferry_run_t *run, const ferry_host_api *host);
    /* Builds the step's loss (a scalar) from the step's tensors; NULL on error (with a message). */
    ferry_tensor_t *(*loss)(ferry_run_t *run, const ferry_host_api *host, const ferry_step_tensors *t);
    /* Before every step: progress p in [0, 1] over the whole run (host->set_scalar). Optional. */
    void (*schedule)(ferry_run_t *run, const ferry_host_api *host, double p);
    /* After the run: frees what setup allocated. Optional. */
    void (*teardown)(ferry_run_t *run, const ferry_host_api *host);

    /* appended in ABI 1: update phases (see ferry_phase; at most 8). With n_phases > 0 the host
     * runs these instead of one update on `loss`; `loss` is still set (the first phase's loss, say),
     * so a host older than this entry runs the method as one phase. Scalars (host->scalar) are made
     * inside a phase's loss hook: each phase gets its own instance of a named scalar, and
     * host->set_scalar on any instance sets the value for all of them. */
    const ferry_phase *phases;
    int n_phases;

    /* appended in ABI 1: before the first step of each epoch (0-based), with the model as it stands
     * (epoch 0: as set up): recompute per-example state over a whole split (host->predict) and put
     * it in the method's tables (host->table_set). Optional. */
    ferry_plugin_status (*epoch_begin)(ferry_run_t *run, const ferry_host_api *host, int epoch);

    /* appended in ABI 1: evaluation through a method-defined head. With it set, accuracy on every
     * split is the argmax of the logits it returns for an evaluation batch (t->features_t and
     * t->logits_t are the model's, eval mode, t->batch rows; host->copy_forward and host->tap read
     * the same images): the mean of two heads, an EMA teacher. Optional. */
    ferry_tensor_t *(*eval_logits)(ferry_run_t *run, const ferry_host_api *host, const ferry_step_tensors *t);
    /* appended in ABI 1: with FERRY_METHOD_TWO_VIEWS, the two views' augmentations in
     * ferry_augment_parse's form (view_weak is used when the run gives no --augment-target;
     * view_strong NULL: the weak view's augmentation, drawn independently) */
    const char *view_weak, *view_strong;
} ferry_method;

/* Whether a descriptor reaches `member` (the host checks before reading a field appended later). */
#define FERRY_METHOD_HAS(m, member) ((m)->size >= offsetof(ferry_method, member) + sizeof((m)->member))

typedef const ferry_method *(*ferry_plugin_entry_fn)(const ferry_host_api *host);

/* The one symbol a plugin exports (define it with FERRY_PLUGIN_EXPORT). */
FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host);

#ifdef __cplusplus
}
#endif
#endif
