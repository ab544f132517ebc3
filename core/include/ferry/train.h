/* Ferry — supervised training and evaluation of a built-in model on a built-in data set. */
#ifndef FERRY_TRAIN_H
#define FERRY_TRAIN_H

#include "ferry/data.h"
#include "ferry/nn.h"
#include "ferry/task.h"
#include "ferry/validators.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_MAX_METHOD_METRICS 8

typedef struct ferry_progress {
    int epoch, epochs;          /* 1-based epoch */
    int64_t step, steps;        /* step within the epoch, steps per epoch */
    double loss;                /* mean training loss over the epoch so far */
    double accuracy;            /* training accuracy over the epoch so far */
    double images_per_s;
    double eta_s;
    bool epoch_end;             /* last call of an epoch: the accuracies below are set */
    double test_accuracy;       /* data set: its test split; task: target test */
    double source_val_accuracy; /* task only: source validation (NaN for a data set) */
    double target_val_accuracy; /* method runs: target validation, for oracle selection only */
    /* method runs, at an epoch's end: the method's own metrics (host->metric), means over the epoch */
    int n_method_metrics;
    const char *method_metric_names[FERRY_MAX_METHOD_METRICS];
    double method_metrics[FERRY_MAX_METHOD_METRICS];
    /* method runs with ferry_adapt_opts.validators, at an epoch's end: every unsupervised validator
     * of the epoch's model (ferry/validators.h; has_validators false where the run computes none) */
    bool has_validators;
    double validators[FERRY_VALIDATOR_COUNT];
    /* method runs, at an epoch's end: the target-test confusion matrix of the evaluation that gave
     * test_accuracy: confusion[t * k + p] images of class t predicted p, k = confusion_classes (NULL
     * where the run computes none). Valid during the call. */
    const int32_t *confusion;
    int confusion_classes;
} ferry_progress;

typedef void (*ferry_progress_fn)(const ferry_progress *p, void *user);

typedef struct ferry_train_opts {
    const char *data;           /* a built-in data set (train on "train", test on "test"), or */
    const char *task;           /* a transfer task (train source-only on source train; report
                                   source validation and target test); overrides data */
    uint64_t split_seed;        /* a task's split seed (default 0: the same splits every run) */
    const char *arch;           /* an architecture from `ferry models` (default "lenet") */
    int input_size;             /* the model's input side; 0: the architecture's default */
    const char *weights;        /* pretrained weights by name (safetensors, torchvision's names) to
                                   start the backbone from (optional; the head stays fresh) */
    int epochs;
    int batch;
    uint64_t seed;
    ferry_backend_t *backend;
    ferry_optim_config optim;
    float label_smoothing;
    ferry_augment_config augment; /* applied to the training batches (never evaluation); zero: none */
    const char *init_path;      /* safetensors to start from (optional) */
    int transfer_layers;        /* with init_path: copy only the first N layers (ferry_train_layers)
                                   from the checkpoint, the rest keep their fresh initialisation;
                                   0: load the whole checkpoint */
    int freeze_layers;          /* the first N layers get no gradient and no update (0: none) */
    int iters_per_epoch;        /* > 0: an epoch is this many steps, drawn from one continuing stream
                                   of shuffled passes; 0: one pass over the training set */
    const char *save_path;      /* safetensors to write at the end (optional) */
    ferry_progress_fn progress; /* optional */
    void *user;
} ferry_train_opts;

typedef struct ferry_train_result {
    double final_loss;          /* mean training loss of the last epoch */
    double test_accuracy;       /* after the last epoch (task: target test) */
    double source_val_accuracy; /* task only (NaN otherwise) */
    double seconds;
    double images_per_s;        /* training throughput over all epochs */
} ferry_train_result;

/* Sensible defaults for data/arch: SGD momentum 0.9, cosine schedule, batch 64. */
ferry_train_opts ferry_train_defaults(void);
ferry_status ferry_train(const ferry_train_opts *o, ferry_train_result *out);

/* The layers that transfer_layers and freeze_layers count, in the model's forward order: a layer is
 * the parameters sharing a name prefix ("features.0" for LeNet's first conv, "classifier.4" for its
 * output layer, "layer2" for a ResNet stage). Builds the model o describes (data set or task, arch,
 * checkpoint), checks o's layer counts against it, and writes "1 features.0 (conv 32x1x5x5), 2 ..."
 * into names (n bytes) and the number of layers into *count. */
ferry_status ferry_train_layers(const ferry_train_opts *o, char *names, size_t n, int *count);

/* Accuracy of the model on a data set (eval mode), batches of `batch`. */
ferry_status ferry_evaluate(ferry_model_t *m, ferry_backend_t *be, const ferry_dataset_t *ds, int batch,
                            double *accuracy);
/* ...and, where confusion is not NULL, the confusion matrix of the same predictions: confusion[t * K + p]
 * (K = ferry_model_classes(m), K × K entries, zeroed first) counts the images of class t predicted p.
 * Its diagonal sums to the correct predictions that the accuracy counts. */
ferry_status ferry_evaluate_confusion(ferry_model_t *m, ferry_backend_t *be, const ferry_dataset_t *ds, int batch,
                                      double *accuracy, int32_t *confusion);
/* Adds n predictions to a classes × classes confusion matrix (a label or prediction outside
 * [0, classes) counts nowhere: padding rows carry label -1). */
void ferry_confusion_add(int32_t *confusion, int classes, const int32_t *labels, const int32_t *predicted, int64_t n);
/* Maps images in [0,1] to the network's input range: (x - 0.5) / 0.5. */
void ferry_normalize_images(float *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
