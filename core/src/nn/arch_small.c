/* The digits networks: LeNet (the DANN paper's) and a small ResNet, with torchvision-style names. */
#include "model_internal.h"

#include <stdio.h>

/* ---- LeNet ---------------------------------------------------------------------------------------
 * features:   0 conv 5x5 in->32, 1 relu, 2 maxpool 2, 3 conv 5x5 32->48, 4 relu, 5 maxpool 2
 * classifier: 0 linear F->100, 1 relu, 2 linear 100->100, 3 relu, 4 linear 100->classes */

static ferry_tensor_t *lenet_features(ferry_mb *b, ferry_tensor_t *x)
{
    x = ferry_relu(b->ctx, ferry_mb_conv_k(b, "features.0", x, 32, 5, 1, 0, 1, true));
    x = ferry_mb_tap(b, "features.2", ferry_max_pool2d(b->ctx, x, 2, 2, 0));
    x = ferry_relu(b->ctx, ferry_mb_conv_k(b, "features.3", x, 48, 5, 1, 0, 1, true));
    x = ferry_mb_tap(b, "features.5", ferry_max_pool2d(b->ctx, x, 2, 2, 0));
    return ferry_flatten(b->ctx, x);
}

static ferry_tensor_t *lenet_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    f = ferry_relu(b->ctx, ferry_mb_linear(b, "classifier.0", f, 100, true));
    f = ferry_relu(b->ctx, ferry_mb_linear(b, "classifier.2", f, 100, true));
    return ferry_mb_linear(b, "classifier.4", f, b->m->classes, true);
}

static const char *const lenet_head[] = {"classifier.", NULL};

static ferry_status lenet_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    if (((m->in_h - 4) / 2 - 4) / 2 < 1 || ((m->in_w - 4) / 2 - 4) / 2 < 1)
        return ferry_error(FERRY_ERR_SHAPE, "lenet: input %dx%d is too small (at least 16x16)", m->in_h, m->in_w);
    m->features = lenet_features;
    m->classifier = lenet_classifier;
    m->head_prefixes = lenet_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_lenet = {
    .info = {.name = "lenet", .summary = "the DANN paper's digits network: 2 conv + 3 linear layers",
             .source = "Ganin et al. 2016", .min_size = 16, .default_classes = 10,
             .pre = {.mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .summary = "[0,1] -> [-1,1]"}},
    .setup = lenet_setup,
};

/* ---- small ResNet ---------------------------------------------------------------------------------
 * conv1 3x3 in->32, bn1, relu; layer1: basic block 32; layer2: block 64 stride 2 (downsample);
 * layer3: block 128 stride 2 (downsample); global average pool; dropout 0.2; fc 128->classes. */

static ferry_tensor_t *block(ferry_mb *b, const char *p, ferry_tensor_t *x, int out, int stride)
{
    char n[96];
    bool down = x && x->ne[1] != out;
    ferry_tensor_t *y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv1", p), x, out, 3, stride, 1, 1, false);
    y = ferry_relu(b->ctx, ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn1", p), y, 1e-5f));
    y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv2", p), y, out, 3, 1, 1, 1, false);
    y = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn2", p), y, 1e-5f);
    ferry_tensor_t *skip = x;
    if (down) {
        skip = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.downsample.0", p), x, out, 1, stride, 0, 1, false);
        skip = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.downsample.1", p), skip, 1e-5f);
    }
    return ferry_relu(b->ctx, ferry_add(b->ctx, y, skip));
}

static ferry_tensor_t *resnet_features(ferry_mb *b, ferry_tensor_t *x)
{
    static const int widths[3] = {32, 64, 128};
    x = ferry_mb_conv_k(b, "conv1", x, 32, 3, 1, 1, 1, false);
    x = ferry_relu(b->ctx, ferry_mb_bn(b, "bn1", x, 1e-5f));
    for (int l = 0; l < 3; l++) {
        char p[32];
        snprintf(p, sizeof p, "layer%d.0", l + 1);
        x = ferry_mb_tap(b, ferry_mb_name(p, sizeof p, "layer%d", l + 1), block(b, p, x, widths[l], l ? 2 : 1));
    }
    return ferry_global_avg_pool(b->ctx, x);
}

static ferry_tensor_t *resnet_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "fc", ferry_mb_dropout(b, f, 0.2f), b->m->classes, true);
}

static const char *const resnet_head[] = {"fc.", NULL};

static ferry_status resnet_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = resnet_features;
    m->classifier = resnet_classifier;
    m->head_prefixes = resnet_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_resnet = {
    .info = {.name = "resnet", .summary = "a small ResNet for digits: 3x3 stem, basic blocks 32/64/128",
             .source = "He et al. 2016 (CIFAR-style)", .min_size = 4, .default_classes = 10,
             .pre = {.mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}, .summary = "[0,1] -> [-1,1]"}},
    .setup = resnet_setup,
};
