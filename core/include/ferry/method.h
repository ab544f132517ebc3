/* Ferry — running transfer methods: finding and loading method plugins, resolving their
 * hyperparameters, and the training run that drives one (source + target batches, the method's loss,
 * evaluation on source validation, target validation and target test after every epoch). */
#ifndef FERRY_METHOD_H
#define FERRY_METHOD_H

#include "ferry/plugin.h"
#include "ferry/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the plugin registry ----------------------------------------------------------------------- */

typedef struct ferry_methods ferry_methods_t;

/* Every plugin on the search path, in order: the build tree's plugin folder, each folder of
 * $FERRY_PLUGIN_PATH (':'-separated), the installed plugin folder. A plugin that cannot be used
 * (not loadable, no entry symbol, another ABI version, a bad descriptor, a name already taken) is
 * refused with a message naming its file; the others load. */
ferry_status ferry_methods_load(ferry_methods_t **out);
/* An empty registry, then one file at a time (the error names the file). */
ferry_status ferry_methods_init(ferry_methods_t **out);
ferry_status ferry_methods_add_file(ferry_methods_t *r, const char *path);
void ferry_methods_free(ferry_methods_t *r);

int ferry_methods_count(const ferry_methods_t *r);
const ferry_method *ferry_methods_get(const ferry_methods_t *r, int i);
const char *ferry_methods_file(const ferry_methods_t *r, int i);
/* NULL (with a message listing the loaded methods) if there is none of that name. */
const ferry_method *ferry_methods_find(const ferry_methods_t *r, const char *name);
/* Messages of the plugins refused while loading. */
int ferry_methods_refused_count(const ferry_methods_t *r);
const char *ferry_methods_refused(const ferry_methods_t *r, int i);
/* The folders searched, ':'-separated (for messages and `ferry methods`). */
const char *ferry_methods_search_path(const ferry_methods_t *r);

/* Resolves m's hyperparameters: defaults, overridden by "METHOD.NAME=VALUE" (or "NAME=VALUE")
 * strings. An override for another method is ignored; an unknown name, a malformed value or one out
 * of range is an error naming it. values has m->n_hparams entries. */
ferry_status ferry_method_resolve(const ferry_method *m, const char *const *sets, int n_sets,
                                  double *values);

/* ---- checking a method's loss --------------------------------------------------------------------------
 * Builds the method's step on given tensors instead of a model and a task (features_s/_t [B, dim],
 * logits_s/_t [B, classes], labels_s [B]), runs its setup (modules drawn from seed) and schedule at
 * progress p, and computes the loss once on backend be. grad_s / grad_t (B·dim floats each, either may
 * be NULL) receive d loss / d features, and grad_logits_s / _t (if set) d loss / d logits. For tests of a method's arithmetic against known values;
 * methods that need a model (freezing, checkpoints) are refused. */
typedef struct ferry_loss_check {
    const ferry_method *method;
    const char *const *sets;
    int n_sets;
    ferry_backend_t *backend;
    uint64_t seed;
    int batch;
    int64_t dim;
    int classes;
    const float *features_s, *features_t, *logits_s, *logits_t;
    const int32_t *labels_s;
    double progress;
    float *grad_logits_s, *grad_logits_t; /* optional (B·classes floats): d loss / d logits */
    int phase;                            /* a method with phases: which phase's loss (0 = the first) */
    /* a method with FERRY_METHOD_NEEDS_TARGET_LABELS: the target rows' labels (it sees no source
     * tensors then); with FERRY_METHOD_TWO_VIEWS: the second view's logits (and d loss / d them) */
    const int32_t *labels_t;
    const float *logits_t2;
    float *grad_logits_t2;
} ferry_loss_check;
ferry_status ferry_method_check_loss(const ferry_loss_check *c, float *loss, float *grad_s, float *grad_t);

/* ---- a training run -------------------------------------------------------------------------------- */

typedef struct ferry_adapt_opts {
    const char *task;            /* a transfer task (ferry_task_count) */
    uint64_t split_seed;
    const ferry_method *method;
    const char *const *sets;     /* hyperparameter overrides, "dann.gamma=10" */
    int n_sets;
    const char *arch;            /* an architecture from `ferry models` */
    int input_size;              /* the model's input side; 0: the architecture's default */
    const char *weights;         /* pretrained backbone weights by name (safetensors), optional */
    int epochs, batch;
    uint64_t seed;
    ferry_backend_t *backend;
    ferry_optim_config optim;
    const char *init_path;       /* a checkpoint to start from (pretrained backbone) */
    int target_labels_per_class; /* K > 0: the task grants K labelled target examples per class. An
                                    inductive method (FERRY_METHOD_NEEDS_TARGET_LABELS) trains on them
                                    alone; a transductive one runs semi-supervised (SSDA): half of each
                                    labelled batch comes from them, half from the source, beside the
                                    unlabelled target batch as before (they stay in it too); a
                                    source-free method refuses them. 0: none (unsupervised) */
    bool source_epochs;          /* an epoch is one pass over the source-train set for every method: an
                                    inductive method cycles its labelled examples for as many steps as
                                    the source takes, so all methods of a task make the same number of
                                    updates (false: one pass over the method's own training set) */
    int iters_per_epoch;         /* > 0: an epoch is this many steps instead (TLlib's iters_per_epoch), for
                                    runs whose full pass would take too long */
    /* Augmentation of training batches (never evaluation; zero: none). augment: the batches labels
     * are learnt from (source train; an inductive method's labelled target examples). augment_target:
     * the unlabelled target batches of a transductive method (an inductive method has none; unused
     * there). With either on, a method that freezes the whole backbone no longer runs on cached
     * features: augmented images need the backbone every step. */
    ferry_augment_config augment, augment_target;
    bool validators;             /* at each epoch's end, the unsupervised validators of the model
                                    (ferry/validators.h) from its predictions over source validation
                                    and the unlabelled target training set, in the progress report;
                                    not for methods that evaluate through their own head or target
                                    batch-norm statistics (they report none) */
    const char *save_path;
    ferry_progress_fn progress;  /* every step and at each epoch's end (with its accuracies) */
    void *user;
} ferry_adapt_opts;

typedef struct ferry_adapt_result {
    double final_loss;
    double source_val_accuracy, target_val_accuracy, target_test_accuracy; /* after the last epoch */
    double seconds, images_per_s;
    double hparams[32];          /* the resolved hyperparameters, in the method's order */
    int n_hparams;
} ferry_adapt_result;

/* SGD momentum 0.9, lr 0.01, weight decay 5e-4, cosine schedule, batch 64, LeNet. */
ferry_adapt_opts ferry_adapt_defaults(void);
ferry_status ferry_adapt(const ferry_adapt_opts *o, ferry_adapt_result *out);

#ifdef __cplusplus
}
#endif
#endif
