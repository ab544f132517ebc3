/* Built-in models, with torchvision-style parameter names. */
#include "internal.h"
#include "ferry/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef ferry_tensor_t *(*forward_fn)(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                      const ferry_forward_opts *o);

struct ferry_model {
    char arch[16];
    ferry_store_t *st;
    int in_c, in_h, in_w, classes;
    int64_t feature_dim;
    const char *const *backbone_prefixes; /* NULL-terminated */
    forward_fn features, classifier;
};

/* ---- LeNet (the DANN paper's digits network) ---------------------------------------------------
 * features:   0 conv 5x5 in->32, 1 relu, 2 maxpool 2, 3 conv 5x5 32->48, 4 relu, 5 maxpool 2
 * classifier: 0 linear F->100, 1 relu, 2 linear 100->100, 3 relu, 4 linear 100->classes */

static const char *const lenet_backbone[] = {"features.", NULL};

static ferry_tensor_t *lenet_features(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                      const ferry_forward_opts *o)
{
    (void)o;
    x = ferry_relu(ctx, ferry_nn_conv2d(ctx, m->st, "features.0", x, 1, 0));
    x = ferry_max_pool2d(ctx, x, 2, 2, 0);
    x = ferry_relu(ctx, ferry_nn_conv2d(ctx, m->st, "features.3", x, 1, 0));
    x = ferry_max_pool2d(ctx, x, 2, 2, 0);
    return ferry_flatten(ctx, x);
}

static ferry_tensor_t *lenet_classifier(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *f,
                                        const ferry_forward_opts *o)
{
    (void)o;
    f = ferry_relu(ctx, ferry_nn_linear(ctx, m->st, "classifier.0", f));
    f = ferry_relu(ctx, ferry_nn_linear(ctx, m->st, "classifier.2", f));
    return ferry_nn_linear(ctx, m->st, "classifier.4", f);
}

static ferry_status lenet_init(ferry_model_t *m, ferry_rng_t *rng)
{
    int h = ((m->in_h - 4) / 2 - 4) / 2, w = ((m->in_w - 4) / 2 - 4) / 2;
    if (h < 1 || w < 1)
        return ferry_error(FERRY_ERR_SHAPE, "lenet: input %dx%d is too small (at least 16x16)",
                           m->in_h, m->in_w);
    m->feature_dim = 48LL * h * w;
    m->backbone_prefixes = lenet_backbone;
    m->features = lenet_features;
    m->classifier = lenet_classifier;
    ferry_status s;
    if ((s = ferry_nn_conv2d_init(m->st, "features.0", m->in_c, 32, 5, true, rng)) ||
        (s = ferry_nn_conv2d_init(m->st, "features.3", 32, 48, 5, true, rng)) ||
        (s = ferry_nn_linear_init(m->st, "classifier.0", m->feature_dim, 100, true, rng)) ||
        (s = ferry_nn_linear_init(m->st, "classifier.2", 100, 100, true, rng)) ||
        (s = ferry_nn_linear_init(m->st, "classifier.4", 100, m->classes, true, rng)))
        return s;
    return FERRY_OK;
}

/* ---- small ResNet ---------------------------------------------------------------------------------
 * conv1 3x3 in->32, bn1, relu; layer1: basic block 32; layer2: block 64 stride 2 (downsample);
 * layer3: block 128 stride 2 (downsample); global average pool; fc 128->classes. */

static const char *const resnet_backbone[] = {"conv1.", "bn1.", "layer1.", "layer2.", "layer3.", NULL};
static const int resnet_widths[3] = {32, 64, 128};

static ferry_status block_init(ferry_store_t *st, const char *p, int in, int out, ferry_rng_t *rng)
{
    char n[96];
    ferry_status s;
#define SUB(x) (snprintf(n, sizeof n, "%s.%s", p, x), n)
    if ((s = ferry_nn_conv2d_init(st, SUB("conv1"), in, out, 3, false, rng)) ||
        (s = ferry_nn_batch_norm_init(st, SUB("bn1"), out)) ||
        (s = ferry_nn_conv2d_init(st, SUB("conv2"), out, out, 3, false, rng)) ||
        (s = ferry_nn_batch_norm_init(st, SUB("bn2"), out)))
        return s;
    if (in != out) {
        if ((s = ferry_nn_conv2d_init(st, SUB("downsample.0"), in, out, 1, false, rng)) ||
            (s = ferry_nn_batch_norm_init(st, SUB("downsample.1"), out)))
            return s;
    }
#undef SUB
    return FERRY_OK;
}

static ferry_tensor_t *block_forward(ferry_ctx_t *ctx, ferry_store_t *st, const char *p,
                                     ferry_tensor_t *x, int stride, bool down, bool train)
{
    char n[96];
#define SUB(s) (snprintf(n, sizeof n, "%s.%s", p, s), n)
    ferry_tensor_t *y = ferry_nn_conv2d(ctx, st, SUB("conv1"), x, stride, 1);
    y = ferry_relu(ctx, ferry_nn_batch_norm(ctx, st, SUB("bn1"), y, train));
    y = ferry_nn_conv2d(ctx, st, SUB("conv2"), y, 1, 1);
    y = ferry_nn_batch_norm(ctx, st, SUB("bn2"), y, train);
    ferry_tensor_t *skip = x;
    if (down) {
        skip = ferry_nn_conv2d(ctx, st, SUB("downsample.0"), x, stride, 0);
        skip = ferry_nn_batch_norm(ctx, st, SUB("downsample.1"), skip, train);
    }
#undef SUB
    return ferry_relu(ctx, ferry_add(ctx, y, skip));
}

static ferry_tensor_t *resnet_features(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                       const ferry_forward_opts *o)
{
    x = ferry_nn_conv2d(ctx, m->st, "conv1", x, 1, 1);
    x = ferry_relu(ctx, ferry_nn_batch_norm(ctx, m->st, "bn1", x, o->train));
    int in = 32;
    for (int l = 0; l < 3; l++) {
        char p[32];
        snprintf(p, sizeof p, "layer%d.0", l + 1);
        int out = resnet_widths[l];
        x = block_forward(ctx, m->st, p, x, l ? 2 : 1, in != out, o->train);
        in = out;
    }
    return ferry_global_avg_pool(ctx, x);
}

static ferry_tensor_t *resnet_classifier(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *f,
                                         const ferry_forward_opts *o)
{
    if (o->train && o->seed) f = ferry_dropout(ctx, f, o->seed, 0.2f, 1);
    return ferry_nn_linear(ctx, m->st, "fc", f);
}

static ferry_status resnet_init(ferry_model_t *m, ferry_rng_t *rng)
{
    m->feature_dim = resnet_widths[2];
    m->backbone_prefixes = resnet_backbone;
    m->features = resnet_features;
    m->classifier = resnet_classifier;
    ferry_status s;
    if ((s = ferry_nn_conv2d_init(m->st, "conv1", m->in_c, 32, 3, false, rng)) ||
        (s = ferry_nn_batch_norm_init(m->st, "bn1", 32)))
        return s;
    int in = 32;
    for (int l = 0; l < 3; l++) {
        char p[32];
        snprintf(p, sizeof p, "layer%d.0", l + 1);
        if ((s = block_init(m->st, p, in, resnet_widths[l], rng))) return s;
        in = resnet_widths[l];
    }
    return ferry_nn_linear_init(m->st, "fc", m->feature_dim, m->classes, true, rng);
}

/* ---- common ----------------------------------------------------------------------------------- */

ferry_status ferry_model_init(const char *arch, int in_c, int in_h, int in_w, int classes,
                              ferry_store_t *st, ferry_rng_t *rng, ferry_model_t **out)
{
    if (in_c < 1 || in_h < 1 || in_w < 1 || classes < 2)
        return ferry_error(FERRY_ERR_INVALID, "%s: invalid geometry %dx%dx%d or %d classes", arch,
                           in_c, in_h, in_w, classes);
    ferry_model_t *m = calloc(1, sizeof *m);
    if (!m) return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a model");
    *m = (ferry_model_t){.st = st, .in_c = in_c, .in_h = in_h, .in_w = in_w, .classes = classes};
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    ferry_status s;
    if (strcmp(arch, "lenet") == 0)
        s = lenet_init(m, rng);
    else if (strcmp(arch, "resnet") == 0)
        s = resnet_init(m, rng);
    else
        s = ferry_error(FERRY_ERR_NOT_FOUND, "unknown architecture '%s' (lenet, resnet)", arch);
    if (s) {
        free(m);
        return s;
    }
    *out = m;
    return FERRY_OK;
}

void ferry_model_free(ferry_model_t *m) { free(m); }
const char *ferry_model_arch(const ferry_model_t *m) { return m->arch; }
int64_t ferry_model_feature_dim(const ferry_model_t *m) { return m->feature_dim; }
int ferry_model_classes(const ferry_model_t *m) { return m->classes; }
ferry_store_t *ferry_model_store(const ferry_model_t *m) { return m->st; }

bool ferry_model_is_backbone(const ferry_model_t *m, const char *name)
{
    for (const char *const *p = m->backbone_prefixes; *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0) return true;
    return false;
}

ferry_tensor_t *ferry_model_features(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *x,
                                     const ferry_forward_opts *o)
{
    if (x && (x->ndim != 4 || x->ne[1] != m->in_c || x->ne[2] != m->in_h || x->ne[3] != m->in_w)) {
        char sh[64];
        ferry_error(FERRY_ERR_SHAPE, "%s: input %s does not match the model's [N, %d, %d, %d]",
                    m->arch, ferry_shape_str(x, sh, sizeof sh), m->in_c, m->in_h, m->in_w);
        return NULL;
    }
    return m->features(m, ctx, x, o);
}

ferry_tensor_t *ferry_model_classifier(ferry_model_t *m, ferry_ctx_t *ctx, ferry_tensor_t *f,
                                       const ferry_forward_opts *o)
{
    return m->classifier(m, ctx, f, o);
}

int64_t ferry_model_param_count(const ferry_model_t *m)
{
    int64_t n = 0;
    for (int i = 0; i < ferry_store_count(m->st); i++)
        if (ferry_store_trainable(m->st, i)) n += ferry_store_numel(m->st, i);
    return n;
}

void ferry_model_freeze_backbone(ferry_model_t *m, bool frozen)
{
    for (int i = 0; i < ferry_store_count(m->st); i++) {
        const char *name = ferry_store_name(m->st, i);
        if (strchr(name, '#') || strstr(name, "running_")) continue;
        if (ferry_model_is_backbone(m, name)) ferry_store_set_trainable(m->st, i, !frozen);
    }
}

/* PyTorch's default initialisation again for every classifier weight and bias: U(±1/sqrt(fan_in)),
 * fan_in = the weight's elements per output row (a bias uses its weight's). */
ferry_status ferry_model_reset_classifier(ferry_model_t *m, ferry_rng_t *rng)
{
    for (int i = 0; i < ferry_store_count(m->st); i++) {
        const char *name = ferry_store_name(m->st, i);
        if (ferry_model_is_backbone(m, name) || strchr(name, '#') || strstr(name, "running_") ||
            strstr(name, "num_batches")) continue;
        const char *dot = strrchr(name, '.');
        if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) continue;
        char wname[256];
        snprintf(wname, sizeof wname, "%.*s.weight", (int)(dot - name), name);
        int wi = ferry_store_find(m->st, wname);
        if (wi < 0 || ferry_store_ndim(m->st, wi) < 2) continue; /* e.g. a batch norm's weight */
        int64_t fan_in = ferry_store_numel(m->st, wi) / ferry_store_shape(m->st, wi)[0];
        int64_t n = ferry_store_numel(m->st, i);
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) return ferry_error(FERRY_ERR_NOMEM, "out of memory resetting the classifier");
        double bound = 1.0 / sqrt((double)fan_in);
        for (int64_t k = 0; k < n; k++) v[k] = (float)ferry_rng_uniform(rng, -bound, bound);
        ferry_status s = ferry_store_set(m->st, i, v, (size_t)n * sizeof *v);
        free(v);
        if (s) return s;
    }
    return FERRY_OK;
}
