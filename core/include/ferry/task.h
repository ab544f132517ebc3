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

/* A domain by spec, NAME[?OPTIONS][{CLASSES}][@VARIANT]...:
 *   NAME    a built-in data set (ferry_dataset_count), or
 *           folder:PATH            one sub-folder of images per class (class names from the folder
 *                                  names); PATH/train/ and PATH/test/ when it is split that way
 *                                  (or PATH/test/ beside the class folders); options size=N|HxW
 *                                  (default: the median size of its images), channels=1|3
 *                                  (default: 3 when any image is in colour: grey images are then
 *                                  replicated, so mixed folders are converted, never refused);
 *           idx:IMAGES[,LABELS]    IDX files, gzip or not (LABELS: beside IMAGES with "images" ->
 *                                  "labels" and idx3/idx4 -> idx1 in its name when not given);
 *           csv:PATH?shape=CxHxW   one example per row; options label=COLUMN (default 0), max=V
 *                                  (the largest pixel value, default 255);
 *           the path ends at the first '?', '{' or '@' after its last '/'.
 *   {a,b}   the listed classes only, by name (or index where no class has that name), relabelled
 *           0.. in the order listed: "fashion{0,1,2,3,4}", "folder:/data/pets{cat,dog}";
 *   @rotD   rotated by D degrees; @colorP a ColoredMNIST tint agreeing with label parity with
 *           probability P (a fixed seed per spec and split).
 * A user's domain that comes in one part is split 80/20 into train/test, stratified, with a seed
 * fixed by its path. Native geometry; split "train", "test" or "all" (train then test). Errors name
 * the spec and the file. */
ferry_status ferry_domain_load(const char *spec, const char *split, ferry_dataset_t **out);
/* Checks a spec's syntax (and that a built-in data set exists) without loading anything. */
ferry_status ferry_domain_check(const char *spec);
/* Whether a spec names a built-in data set (no folder:, idx: or csv:). */
bool ferry_domain_is_builtin(const char *spec);
/* SHA-256 of a domain's content: of every file a user's domain reads (paths and bytes) and of the
 * spec; a built-in's spec alone (its files are checksummed on every load). */
ferry_status ferry_domain_checksum(const char *spec, char hex[65]);

typedef struct ferry_task_info {
    const char *name;      /* e.g. "mnist->optdigits" */
    const char *summary;
    const char *source;    /* data set names, with variants: "fashion@rot45" */
    const char *target;
    int c, h, w;           /* the task's input geometry */
    const char *geometry;  /* the documented steps that bring both domains to it */
} ferry_task_info;

/* The built-in tasks. */
int ferry_task_count(void);
const ferry_task_info *ferry_task_info_at(int i);
/* A built-in task, a declared one, or an inline "SOURCE->TARGET" with any two domain specs (checked,
 * then declared under that name). NULL when unknown or malformed (ferry_last_error says why). A
 * user's task has geometry 0x0x0 here until it is loaded. */
const ferry_task_info *ferry_task_info_find(const char *name);

/* A task a user declares (bench YAML's named tasks). Inline "SOURCE->TARGET" is one with defaults:
 * the source's size, the larger channel count, the target's own test part, classes matched by name. */
typedef struct ferry_task_decl {
    const char *name, *summary;
    const char *source, *target;   /* domain specs */
    const char *target_test;       /* a domain spec for the target test set (all of it); NULL: the
                                      target's test part */
    double test_fraction;          /* > 0: the target test set is this stratified fraction of the
                                      whole target domain (fixed seed), the rest its train part */
    int c, h, w;                   /* the task's geometry; 0: the source's (channels: the larger) */
    bool partial;                  /* partial adaptation: the target's classes may be a proper subset
                                      of the source's (otherwise the two must have the same classes) */
    const char *const *class_map;  /* "TARGET_CLASS=SOURCE_CLASS" pairs: a target class's name in the
                                      source, where the two name it differently */
    int n_class_map;
    const double *target_class_ratio; /* per target class (its order), the fraction of its examples
                                         kept in the target (label shift; seeded by the split seed) */
    int n_target_class_ratio;
} ferry_task_decl;
/* Declares (or redeclares) a task by name for this process; specs are checked, not loaded. */
ferry_status ferry_task_declare(const ferry_task_decl *d);
/* Whether name is one of the built-in tasks. */
bool ferry_task_is_builtin(const char *name);
/* SHA-256 of a task's definition and its domains' content (ferry_domain_checksum): a user folder
 * that changes is a different task. */
ferry_status ferry_task_checksum(const char *name, char hex[65]);

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
