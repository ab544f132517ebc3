/* Ferry — layers, models, optimizers and schedules on top of the graph API. */
#ifndef FERRY_NN_H
#define FERRY_NN_H

#include "ferry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- random numbers (GSL mt19937; one seed drives everything) ---------------------------------- */

typedef struct ferry_rng ferry_rng_t;
ferry_status ferry_rng_init(uint64_t seed, ferry_rng_t **out);
void ferry_rng_free(ferry_rng_t *r);
double ferry_rng_uniform(ferry_rng_t *r, double lo, double hi);
uint32_t ferry_rng_u32(ferry_rng_t *r);

/* ---- layers: parameters live in a store under "prefix.weight", "prefix.bias", ... ------------------ */

/* PyTorch default initialisation: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (Kaiming-uniform with a = sqrt(5)). Linear weight [out,in]; conv weight [out,in,k,k]. */
ferry_status ferry_nn_linear_init(ferry_store_t *st, const char *prefix, int64_t in, int64_t out,
                                  bool bias, ferry_rng_t *rng);
ferry_tensor_t *ferry_nn_linear(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                ferry_tensor_t *x);
ferry_status ferry_nn_conv2d_init(ferry_store_t *st, const char *prefix, int64_t in, int64_t out,
                                  int k, bool bias, ferry_rng_t *rng);
ferry_tensor_t *ferry_nn_conv2d(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                ferry_tensor_t *x, int stride, int pad);
/* weight = 1, bias = 0, running_mean = 0, running_var = 1 (PyTorch names). */
ferry_status ferry_nn_batch_norm_init(ferry_store_t *st, const char *prefix, int64_t channels);
ferry_tensor_t *ferry_nn_batch_norm(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                    ferry_tensor_t *x, bool train);

/* ---- architectures ------------------------------------------------------------------------------
 * Every architecture Ferry builds or imports declares its input and preprocessing. Images enter as
 * values in [0,1] at the data's geometry; ferry_preproc converts them to what the model declares:
 * channels (grey replicated to RGB, RGB to luminance), size (bilinear), then (x - mean) / std. */

typedef struct ferry_preprocess {
    int channels;          /* 1 or 3; 0: the data's own */
    bool bgr;              /* channel order B, G, R (else R, G, B) */
    float mean[3], std[3]; /* per channel, on values in [0,1] */
    const char *summary;   /* e.g. "RGB in [0,1]", "RGB, ImageNet mean/std" */
} ferry_preprocess;

typedef struct ferry_arch_info {
    const char *name;      /* as given to --arch */
    const char *summary;
    const char *source;    /* the layout it follows or the package its weights come from */
    int default_size;      /* input height = width by default; 0: the data's geometry */
    int min_size;          /* smallest input side the architecture allows */
    bool fixed_size;       /* only default_size is allowed (an imported model's Flatten/Reshape) */
    ferry_preprocess pre;
    bool imported;         /* weights come with it (a registry package), not initialised */
    int default_classes;   /* the class count of its usual head (ImageNet's 1000; a source model's) */
} ferry_arch_info;

int ferry_arch_count(void);
const ferry_arch_info *ferry_arch_at(int i);
/* By name; imported names carry their origin ("mobilenet_v2@nsfwjs"). NULL if unknown. */
const ferry_arch_info *ferry_arch_find(const char *name);

/* ---- models ------------------------------------------------------------------------------------
 * A model is a backbone (features, [N, feature_dim]) and a classifier head. Parameter names follow
 * torchvision: "features.0.weight", "classifier.4.bias", "layer1.0.bn1.running_mean", "fc.weight". */

typedef struct ferry_model ferry_model_t;

/* Builds per-step state a model may need (dropout seed); passed to forward calls. */
typedef struct ferry_forward_opts {
    bool train;               /* batch norm batch statistics, dropout on */
    ferry_tensor_t *seed;     /* I32[1] dropout seed input (NULL: no dropout even in training) */
    /* Optional: called with every named layer's output as the forward meets it (a convolution,
     * batch norm or linear layer under its parameters' prefix, "features.0", "layer1.0.bn1"; and a
     * block's output under the block's name, "layer1", where the architecture marks one), for
     * methods that read intermediate layers. */
    void (*tap)(void *user, const char *name, ferry_tensor_t *t);
    void *tap_user;
} ferry_forward_opts;

typedef struct ferry_model_opts {
    int input_size;           /* input side; 0: the architecture's default (or the data's geometry) */
    bool aux_logits;          /* inception_v3: build the auxiliary classifier (AuxLogits.*) too */
    /* Optional: every parameter's store name starts with this ("teacher." makes
     * "teacher.features.0.weight"): a second copy of a network in the same store. Native
     * architectures only (an imported model's parameters come from its files). */
    const char *prefix;
} ferry_model_opts;

/* arch: a name from the architecture table (`ferry models`): "lenet" (conv5x5x32-pool-conv5x5x48-pool
 * -> 768-100-100-classes, the DANN digits net), "resnet" (a small ResNet for digits), torchvision's
 * "resnet18", "resnet50", "vgg19", "vgg19_bn", "inception_v3", "efficientnet_b0", "mobilenet_v2",
 * keras.applications' "xception", and imported models such as "mobilenet_v2@nsfwjs".
 * in_c/in_h/in_w: the data's geometry (the model's own input where the architecture takes it from the
 * data). Parameters are created in st and initialised from rng (an imported model's come from its
 * files; its head is drawn afresh unless classes equals the source model's). */
ferry_status ferry_model_init(const char *arch, int in_c, int in_h, int in_w, int classes,
                              ferry_store_t *st, ferry_rng_t *rng, ferry_model_t **out);
ferry_status ferry_model_init_ex(const char *arch, int in_c, int in_h, int in_w, int classes,
                                 const ferry_model_opts *o, ferry_store_t *st, ferry_rng_t *rng,
                                 ferry_model_t **out);
void ferry_model_free(ferry_model_t *m);
const char *ferry_model_arch(const ferry_model_t *m);
const ferry_arch_info *ferry_model_info(const ferry_model_t *m);
int64_t ferry_model_feature_dim(const ferry_model_t *m);
int ferry_model_classes(const ferry_model_t *m);
/* The input the model takes ([N, c, h, w]) and how images are prepared for it. */
void ferry_model_input(const ferry_model_t *m, int *c, int *h, int *w);
const ferry_preprocess *ferry_model_preprocess(const ferry_model_t *m);
/* Multiply-adds of one image's forward pass (convolutions and linear layers). */
int64_t ferry_model_macs(const ferry_model_t *m);
/* requested, or less where a batch that large would need more than about 1 GiB of forward values. */
int ferry_model_eval_batch(const ferry_model_t *m, int requested);
ferry_store_t *ferry_model_store(const ferry_model_t *m);
/* True for parameters of the backbone (for learning-rate multipliers and freezing). */
bool ferry_model_is_backbone(const ferry_model_t *m, const char *param_name);
ferry_tensor_t *ferry_model_features(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                     const ferry_forward_opts *o);
ferry_tensor_t *ferry_model_classifier(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *f,
                                       const ferry_forward_opts *o);
/* Draws the classifier head's weights and biases afresh (PyTorch's default initialisation). */
ferry_status ferry_model_reset_classifier(ferry_model_t *m, ferry_rng_t *rng);
/* Number of trainable parameters (elements). */
int64_t ferry_model_param_count(const ferry_model_t *m);
/* Marks backbone parameters (un)trainable: frozen ones get no gradient and no update, and their
 * batch norms stay in eval mode in graphs built afterwards. */
void ferry_model_freeze_backbone(ferry_model_t *m, bool frozen);

/* Loads weights by name from a safetensors file (a PyTorch state dict with torchvision's names, as
 * scripts/torch_to_safetensors.py writes it). Strict: every missing, unexpected and mis-shaped tensor
 * is listed by name in one error and nothing is changed. `num_batches_tracked` entries are accepted
 * and ignored. backbone_only: the file's head tensors are skipped (a head for another class count). */
ferry_status ferry_model_load_weights(ferry_model_t *m, const char *path, bool backbone_only);

/* Eval-mode inference over n prepared inputs x (n × c·h·w of the model's input) in batches of `batch`
 * on backend be: writes features (n × feature_dim) and/or logits (n × classes) where not NULL. The
 * graph is built once; a last partial batch is padded and its padding discarded. */
ferry_status ferry_model_infer(ferry_model_t *m, ferry_backend_t *be, const float *x, int64_t n, int batch,
                               float *features, float *logits);

/* The backbone's features (eval mode: batch norm statistics as stored, no dropout) of n images of c×h×w
 * values in [0,1], prepared as the model declares: *out = n × feature_dim floats (free() them). With
 * use_disk they are kept in $FERRY_DATA/features/KEY.safetensors, KEY the SHA-256 of the backbone's
 * parameters and statistics, the model's input and preprocessing, and the images with their geometry:
 * a frozen backbone's features are computed once for every run that shares them. */
ferry_status ferry_model_features_cached(ferry_model_t *m, ferry_backend_t *be, const float *images, int64_t n,
                                         int c, int h, int w, bool use_disk, float **out);

/* ---- preprocessing: data geometry -> model input --------------------------------------------------- */

typedef struct ferry_preproc ferry_preproc_t;
/* For images of c×h×w values in [0,1] going into model m. Scratch memory is allocated once here. */
ferry_status ferry_preproc_init(const ferry_model_t *m, int c, int h, int w, ferry_preproc_t **out);
void ferry_preproc_free(ferry_preproc_t *p);
/* Floats per prepared image (the model's c·h·w). */
size_t ferry_preproc_size(const ferry_preproc_t *p);
/* Prepares n images (src: n × c·h·w) into dst (n × ferry_preproc_size). No allocation. */
ferry_status ferry_preproc_run(ferry_preproc_t *p, const float *src, int n, float *dst);

/* ---- optimizers and schedules ------------------------------------------------------------------- */

typedef enum ferry_optim_kind { FERRY_SGD, FERRY_ADAM, FERRY_ADAMW } ferry_optim_kind;
typedef enum ferry_schedule {
    FERRY_SCHED_CONSTANT,
    FERRY_SCHED_STEP,     /* lr0 · gamma^floor(p / step_every) */
    FERRY_SCHED_COSINE,   /* lr0 · (1 + cos(pi p)) / 2 */
    FERRY_SCHED_INV,      /* lr0 · (1 + alpha p)^-beta (DANN's schedule) */
} ferry_schedule;

typedef struct ferry_optim_config {
    ferry_optim_kind kind;
    float lr;
    float momentum;       /* SGD */
    bool nesterov;        /* SGD */
    float weight_decay;
    float beta1, beta2, eps; /* Adam */
    ferry_schedule schedule;
    float step_gamma, step_every; /* STEP: factor and period as a fraction of training */
    float inv_alpha, inv_beta;    /* INV */
} ferry_optim_config;

/* Defaults: SGD lr 0.01 momentum 0.9, Adam betas (0.9, 0.999) eps 1e-8, constant schedule,
 * step (0.1, 0.34), inv (10, 0.75). */
ferry_optim_config ferry_optim_defaults(ferry_optim_kind kind);
/* Parses "sgd", "adam", "adamw" / "constant", "step", "cosine", "inv". */
ferry_status ferry_optim_parse_kind(const char *s, ferry_optim_kind *out);
ferry_status ferry_schedule_parse(const char *s, ferry_schedule *out);
/* Learning rate at progress p in [0,1]. */
double ferry_schedule_lr(const ferry_optim_config *c, double p);

typedef struct ferry_optim ferry_optim_t;
ferry_status ferry_optim_init(const ferry_optim_config *c, ferry_store_t *st, ferry_optim_t **out);
void ferry_optim_free(ferry_optim_t *o);
/* Parameter groups: every parameter whose name starts with prefix gets lr × mult (last rule wins). */
ferry_status ferry_optim_set_lr_mult(ferry_optim_t *o, const char *prefix, float mult);
/* After ferry_backward(ctx, loss): records the update ops of every parameter with a gradient
 * (creating optimizer state in the store as "<param>#momentum", "#exp_avg", "#exp_avg_sq"). */
ferry_status ferry_optim_record(ferry_optim_t *o, ferry_ctx_t *ctx);
/* Before each ferry_graph_compute: advances the step count, sets the lr (and Adam's bias
 * corrections) for progress p in the graph's scalar inputs. */
ferry_status ferry_optim_prepare_step(ferry_optim_t *o, ferry_graph_t *g, double p);
double ferry_optim_current_lr(const ferry_optim_t *o);

#ifdef __cplusplus
}
#endif
#endif
