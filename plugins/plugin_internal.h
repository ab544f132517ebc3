/* Host side of the plugin ABI: shared by the loader and the run. */
#ifndef FERRY_PLUGIN_INTERNAL_H
#define FERRY_PLUGIN_INTERNAL_H

#include "internal.h"
#include "ferry/method.h"
#include "ferry/nn.h"

#define MAX_SCALARS 16
#define MAX_LR_RULES 32

struct lr_rule {
    char prefix[128];
    float mult;
};

#define MAX_PHASES 8

/* A method's scalar graph input: one value, an instance in each phase's graph that uses it. */
struct scalar {
    char name[64];
    float value;
    ferry_tensor_t *t[MAX_PHASES];
};

/* A method's metric: its tensor in each phase that reports it, and the epoch's running sum. */
struct metric {
    char name[32];
    ferry_tensor_t *t[MAX_PHASES];
    double sum;
    int64_t n;
};

#define MAX_COPIES 4

/* A copy of the model (host->model_copy): its parameters in the run's store under prefix. */
struct copy {
    char name[32], prefix[40];
    int kind;     /* FERRY_COPY_* */
    double decay; /* FERRY_COPY_EMA */
    ferry_model_t *m;
};

/* A named layer's output in the graph being built (the model's, copy -1, or a copy's). */
struct tap {
    char name[96];
    int copy;
    ferry_tensor_t *t;
};

/* One update phase of an iteration: its own graph and optimizer over the parameters it updates. */
struct phase {
    const ferry_phase *def; /* NULL: the method's one loss */
    int repeat;
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    ferry_optim_t *opt;
    ferry_tensor_t *xs, *ys, *xt, *yt, *seed, *loss;
    ferry_tensor_t *fs, *ft;     /* cached features in (a frozen backbone) */
    ferry_tensor_t *ids_s, *ids_t; /* the batch rows' indices in their training sets */
    ferry_tensor_t *xt2;           /* FERRY_METHOD_TWO_VIEWS: the target batch's second view */
};

/* One training run of a method: what the host functions act on. */
struct ferry_run {
    const ferry_adapt_opts *o;
    const ferry_method *m;
    double hp[32];
    ferry_task_t *task;
    ferry_dataset_t *labelled_target; /* inductive and semi-supervised runs */
    ferry_dataset_t *joined;          /* semi-supervised: the source train set, then labelled_target */
    const ferry_dataset_t *primary;   /* the labelled training set (FERRY_SPLIT_LABELLED) */
    int64_t n_source;                 /* semi-supervised: primary's first n_source rows are the source */
    bool inductive;
    bool semi; /* a transductive run given K labelled target examples per class (SSDA) */
    bool source_free; /* FERRY_METHOD_SOURCE_FREE: no source batch, ever */
    int c, h, w, classes; /* the task's geometry */
    int mc, mh, mw;       /* the model's input */
    ferry_preproc_t *pp;
    float *raw;           /* one batch at the task's geometry, before preprocessing */
    ferry_augment_t *aug_s, *aug_t; /* augmentation of the primary / unlabelled target batches (or NULL) */
    ferry_store_t *st;
    ferry_model_t *m_model;
    ferry_rng_t *rng;
    ferry_optim_config optim;
    struct phase ph[MAX_PHASES];
    int n_phases;
    int cur;          /* the phase being built: host calls add nodes to ph[cur].ctx */
    ferry_ctx_t *ctx; /* ph[cur].ctx */
    int model_entries; /* store entries the model made (the method's modules come after) */
    /* A frozen backbone: each image's features computed once (ferry_model_features_cached); the step
     * takes feature rows (ph[].fs, .ft) and evaluation runs the head over cached features. */
    bool cached;
    float *f_primary, *f_target, *f_eval[3]; /* source val, target val, target test */
    ferry_ctx_t *ectx;
    ferry_graph_t *eg;
    ferry_tensor_t *ef, *ey, *ecorrect, *epred; /* epred: arg-max rows, for the confusion matrix */
    /* FERRY_METHOD_TARGET_BN: a training-mode forward over target batches, and the source's
     * statistics kept while the target's are in place */
    ferry_ctx_t *bn_ctx;
    ferry_graph_t *bn_g;
    ferry_tensor_t *bn_x;
    float *bn_saved;
    int32_t *confusion; /* classes × classes, the epoch's target-test confusion matrix */
    /* host->predict: the classifier over feature rows */
    ferry_ctx_t *p_ctx;
    ferry_graph_t *p_g;
    ferry_tensor_t *p_f, *p_out;
    struct scalar scalars[MAX_SCALARS];
    int n_scalars;
    struct metric metrics[FERRY_MAX_METHOD_METRICS];
    int n_metrics;
    struct lr_rule lr[MAX_LR_RULES];
    int n_lr;
    bool checkpoint;
    int64_t feature_dim;
    void *state;
    /* copies of the model, and the graph that moves the EMA ones after every iteration */
    struct copy copies[MAX_COPIES];
    int n_copies;
    bool in_setup;
    ferry_ctx_t *ema_ctx;
    ferry_graph_t *ema_g;
    ferry_tensor_t *ema_rate[MAX_COPIES];
    /* the graph being built: its model input (every domain's rows), where each domain's B rows
     * start (-1: not in it), the dropout seed, and the named layers met so far */
    ferry_tensor_t *cur_in, *cur_seed;
    int cur_B, row_s, row_t, row_t2;
    struct tap *taps;
    int n_taps, cap_taps, tap_copy;
    /* FERRY_METHOD_TWO_VIEWS: the second view's augmenter */
    bool two_views;
    ferry_augment_t *aug_t2;
    /* ferry_method.eval_logits: images in, the method's head, correct predictions out */
    ferry_ctx_t *hctx;
    ferry_graph_t *hg;
    ferry_tensor_t *hx, *hy, *hcorrect, *hpred;
    float *hbuf;
    int32_t *hlab, *hpredbuf;
};

/* Sets the method's scalars that graph g (of phase k) reads, to their current values. */
ferry_status ferry_run_set_scalars(ferry_run_t *run, int k, ferry_graph_t *g);

/* Checks a plugin's descriptor before it is accepted (file names the plugin in the messages): ABI
 * version and size, names, hooks, hyperparameters and phases. */
ferry_status ferry_plugin_check_descriptor(const char *file, const ferry_method *m);

/* The function table handed to every plugin (one, constant, for the life of the process). */
const ferry_host_api *ferry_plugin_host(void);

#endif
