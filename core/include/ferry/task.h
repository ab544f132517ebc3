/* Ferry — transfer tasks: a labelled source domain, a target domain and fixed seeded splits.
 *
 * Splits of a task loaded with seed s:
 *   source train / source validation : 90% / 10% of the source domain's "train" part, stratified;
 *   target train (unlabelled)        : 90% of the target domain's "train" part, stratified;
 *   target validation (labelled)     : the other 10%, for "oracle" model selection only;
 *   target test                      : the target domain's "test" part.
 * The target training data handed to a method is a ferry_unlabelled_t: images only, no labels. */
#ifndef FERRY_TASK_H
#define FERRY_TASK_H

#include "ferry/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Images without labels (the target domain's training data). */
typedef struct ferry_unlabelled ferry_unlabelled_t;
int64_t ferry_unlabelled_size(const ferry_unlabelled_t *u);
void ferry_unlabelled_geometry(const ferry_unlabelled_t *u, int *c, int *h, int *w);
const float *ferry_unlabelled_images(const ferry_unlabelled_t *u);

/* A domain by spec: a data set name, optionally with a variant: "fashion@rot45" (rotated by 45
 * degrees), "fashion@color0.9" (ColoredMNIST tint agreeing with label parity 90% of the time,
 * a fixed seed per spec and split). Native geometry; split "train" or "test". */
ferry_status ferry_domain_load(const char *spec, const char *split, ferry_dataset_t **out);

typedef struct ferry_task_info {
    const char *name;      /* e.g. "mnist->optdigits" */
    const char *summary;
    const char *source;    /* data set names, with variants: "fashion@rot45" */
    const char *target;
    int c, h, w;           /* the task's input geometry */
    const char *geometry;  /* the documented steps that bring both domains to it */
} ferry_task_info;

int ferry_task_count(void);
const ferry_task_info *ferry_task_info_at(int i);
const ferry_task_info *ferry_task_info_find(const char *name);

typedef struct ferry_task ferry_task_t;

typedef enum ferry_split {
    FERRY_SPLIT_SOURCE_TRAIN,
    FERRY_SPLIT_SOURCE_VAL,
    FERRY_SPLIT_TARGET_TRAIN,
    FERRY_SPLIT_TARGET_VAL,
    FERRY_SPLIT_TARGET_TEST,
    FERRY_SPLIT_COUNT
} ferry_split;

const char *ferry_split_name(ferry_split s);

/* Loads both domains (checksummed), brings them to the task's geometry and splits them. */
ferry_status ferry_task_load(const char *name, uint64_t split_seed, ferry_task_t **out);
void ferry_task_free(ferry_task_t *t);
const ferry_task_info *ferry_task_get_info(const ferry_task_t *t);
int ferry_task_classes(const ferry_task_t *t);

const ferry_dataset_t *ferry_task_source_train(const ferry_task_t *t);
const ferry_dataset_t *ferry_task_source_val(const ferry_task_t *t);
const ferry_unlabelled_t *ferry_task_target_train(const ferry_task_t *t);
/* K labelled examples per class drawn (seeded) from the target's training split: inductive
 * transfer, for methods that declare they need target labels. Caller frees. */
ferry_status ferry_task_target_labelled(const ferry_task_t *t, int k, uint64_t seed, ferry_dataset_t **out);
/* Labelled target data: evaluation and oracle selection only; never given to a method. */
const ferry_dataset_t *ferry_task_target_val(const ferry_task_t *t);
const ferry_dataset_t *ferry_task_target_test(const ferry_task_t *t);

/* Writes every split into dir (created if missing) as IDX files any framework can read, with the
 * task's geometry and pixels in [0,1] exactly as the methods see them: SPLIT-images-idx{3,4}-ubyte.gz
 * (idx4 when c > 1; u8 pixels when every value is some k/255, else f32) and, for every split but
 * the unlabelled target-train, SPLIT-labels-idx1-ubyte.gz; SPLIT is ferry_split_name's. Labelled
 * splits keep the order the split holds them in (grouped by class: shuffle to train); the
 * unlabelled one is in the order of its examples in the target's train part, so that its order
 * says nothing of the classes. */
ferry_status ferry_task_export_idx(const ferry_task_t *t, const char *dir);

/* Indices of a split into its domain part ("train" part for all but target test, "test" part
 * for target test), in the order the split holds them. */
const int64_t *ferry_task_split_indices(const ferry_task_t *t, ferry_split s, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
