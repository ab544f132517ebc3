/* Internal to the models: the model structure, the architecture table, and the builder every
 * architecture (native or imported) writes its network with.
 *
 * An architecture is written once, as a forward function over a builder (ferry_mb). Creating a model
 * runs that function once on a batch-1 input with a random number generator attached: each layer
 * creates its parameters as it meets them (PyTorch's default initialisation, in forward order), and
 * the pass measures the feature size and the multiply-adds. Afterwards the same function builds the
 * training and evaluation graphs, finding the parameters in the store. */
#ifndef FERRY_MODEL_INTERNAL_H
#define FERRY_MODEL_INTERNAL_H

#include "internal.h"
#include "ferry/nn.h"

typedef struct ferry_mb ferry_mb;
/* A part of a network: the backbone (image -> features) or the head (features -> logits). */
typedef ferry_tensor_t *(*ferry_mb_fn)(ferry_mb *b, ferry_tensor_t *x);

/* What an architecture provides: its description, and a setup that fills in the model (forward
 * functions, head prefixes, private state; an imported model also creates its parameters from the
 * file). The model's in_c/in_h/in_w are the input it will get, classes its class count. */
typedef struct ferry_arch_def {
    ferry_arch_info info;
    ferry_status (*setup)(ferry_model_t *m, const ferry_model_opts *o);
} ferry_arch_def;

struct ferry_model {
    char arch[1100];                  /* room for "tfjs:PATH" */
    const ferry_arch_def *def;
    ferry_store_t *st;
    int in_c, in_h, in_w, classes;
    int64_t feature_dim;
    int64_t macs;                     /* multiply-adds per image (conv and linear layers) */
    int64_t act_floats;               /* values one image's forward pass computes (all ops) */
    const char *const *head_prefixes; /* NULL-terminated: the head's parameters; the rest is backbone */
    int *entries, n_entries;          /* the store entries the network uses, sorted (a method's modules
                                         and optimizer state are not among them) */
    ferry_mb_fn features, classifier;
    ferry_preprocess pre;
    ferry_model_opts opts;
    void *impl;                       /* an architecture's own state (an imported graph) */
    void (*impl_free)(void *impl);
};

struct ferry_mb {
    ferry_model_t *m;
    ferry_ctx_t *ctx;
    ferry_rng_t *rng;      /* set while the model is created: missing parameters are made */
    bool train;            /* training mode (batch statistics where the layer is trainable) */
    ferry_tensor_t *seed;  /* dropout seed input (NULL: no dropout) */
    uint32_t salt;         /* next dropout's salt */
    int64_t macs;          /* counted while creating */
    const ferry_forward_opts *fo; /* the forward's options (its tap), or NULL */
};

/* Reports a block's output under the block's name to the forward's tap (see ferry_forward_opts);
 * returns x. The layers report their own. */
ferry_tensor_t *ferry_mb_tap(ferry_mb *b, const char *name, ferry_tensor_t *x);

/* A parameter of the model: found in the store (its shape must be `shape`), else created when the
 * builder is creating (init: uniform ±1/sqrt(fan_in) when fan_in > 0, else filled with `fill`),
 * else an error naming it. trainable applies on creation only. */
ferry_tensor_t *ferry_mb_param(ferry_mb *b, const char *name, int ndim, const int64_t *shape, int64_t fan_in,
                               float fill, bool trainable);

/* Convolution named `name` (`name.weight` [out, C/groups, kh, kw], optional `name.bias`). */
ferry_tensor_t *ferry_mb_conv(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, int kh, int kw,
                              const ferry_conv_params *p, bool bias);
/* Square kernel, symmetric padding: the common case. */
ferry_tensor_t *ferry_mb_conv_k(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, int k, int stride,
                                int pad, int groups, bool bias);
/* Batch norm with torchvision's names (weight, bias, running_mean, running_var), momentum 0.1 (PyTorch's
 * convention: new = (1 - m) old + m batch). It uses batch statistics only when the builder is in training
 * mode and the layer's parameters are trainable: a frozen backbone's batch norm stays in eval mode. */
ferry_tensor_t *ferry_mb_bn(ferry_mb *b, const char *name, ferry_tensor_t *x, float eps);
/* The same with Keras' options: scale (gamma) and center (beta) may be absent, momentum given. */
ferry_tensor_t *ferry_mb_bn_ex(ferry_mb *b, const char *name, ferry_tensor_t *x, float eps, float momentum,
                               bool scale, bool center);
/* Linear layer (`name.weight` [out, in], optional `name.bias`) on x [N, in]. */
ferry_tensor_t *ferry_mb_linear(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, bool bias);
/* Dropout with probability p in training mode when a seed is given; identity otherwise. */
ferry_tensor_t *ferry_mb_dropout(ferry_mb *b, ferry_tensor_t *x, float p);
/* Adds multiply-adds to the count (layers built from raw ops). */
void ferry_mb_count(ferry_mb *b, int64_t macs);

/* TensorFlow's "same" padding along one axis: total = max((ceil(in/s) - 1)·s + d·(k-1) + 1 - in, 0),
 * the smaller half before. */
void ferry_tf_same_pad(int in, int k, int stride, int dilation, int *before, int *after);

/* Shared names for printing: "name.weight" etc. into buf. */
const char *ferry_mb_name(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The architecture table (models.c) and the families' definitions. */
extern const ferry_arch_def ferry_arch_lenet, ferry_arch_resnet;
extern const ferry_arch_def ferry_arch_resnet18, ferry_arch_resnet50, ferry_arch_vgg19, ferry_arch_vgg19_bn,
    ferry_arch_mobilenet_v2, ferry_arch_efficientnet_b0;
extern const ferry_arch_def ferry_arch_inception_v3, ferry_arch_xception;
/* TensorFlow.js layers models (tfjs.c): npm nsfwjs' two, and a user's file named "tfjs:PATH/model.json". */
extern const ferry_arch_def ferry_arch_inception_v3_nsfwjs, ferry_arch_mobilenet_v2_nsfwjs;
#define FERRY_TFJS_PREFIX "tfjs:"
extern const ferry_arch_def ferry_arch_tfjs_file;
bool ferry_tfjs_arch_name(const char *arch);

#endif
