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

/* ---- models ------------------------------------------------------------------------------------
 * A model is a backbone (features, [N, feature_dim]) and a classifier head. Parameter names follow
 * torchvision: "features.0.weight", "classifier.4.bias", "layer1.0.bn1.running_mean", "fc.weight". */

typedef struct ferry_model ferry_model_t;

/* Builds per-step state a model may need (dropout seed); passed to forward calls. */
typedef struct ferry_forward_opts {
    bool train;               /* batch norm batch statistics, dropout on */
    ferry_tensor_t *seed;     /* I32[1] dropout seed input (NULL: no dropout even in training) */
} ferry_forward_opts;

/* arch: "lenet" (conv5x5x32-pool-conv5x5x48-pool -> 768-100-100-classes, the DANN digits net) or
 * "resnet" (a small ResNet: 3x3 stem and three basic-block stages 32/64/128 with batch norm, global
 * average pooling, fc). Parameters are created in st and initialised from rng. */
ferry_status ferry_model_init(const char *arch, int in_c, int in_h, int in_w, int classes,
                              ferry_store_t *st, ferry_rng_t *rng, ferry_model_t **out);
void ferry_model_free(ferry_model_t *m);
const char *ferry_model_arch(const ferry_model_t *m);
int64_t ferry_model_feature_dim(const ferry_model_t *m);
int ferry_model_classes(const ferry_model_t *m);
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
/* Marks backbone parameters (un)trainable: frozen ones get no gradient and no update. */
void ferry_model_freeze_backbone(ferry_model_t *m, bool frozen);

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
