/* ImageNet architectures in torchvision 0.14's layout: ResNet-18/50, VGG-19 (with and without batch
 * norm), MobileNetV2 and EfficientNet-B0. Parameter names and shapes are torchvision's, so a state dict
 * saved as safetensors loads by name. The backbone ends where the head module's input begins: resnet's
 * "fc", vgg's "classifier.6" (the 4096-d fc7 features), mobilenet_v2's and efficientnet_b0's
 * "classifier.1" (their dropout belongs to the classifier). Every batch norm has eps 1e-5 (PyTorch's
 * default, which these five keep). */
#include "model_internal.h"

#include <stdio.h>

#define TV_EPS 1e-5f

/* Convolution without bias, batch norm, then an optional activation: torchvision's
 * Conv2dNormActivation ("<p>.0" the convolution, "<p>.1" the norm), padding (k-1)/2. */
typedef ferry_tensor_t *(*act_fn)(ferry_ctx_t *ctx, ferry_tensor_t *x);

static ferry_tensor_t *conv_bn_act(ferry_mb *b, const char *p, ferry_tensor_t *x, int out, int k, int stride,
                                   int groups, act_fn act)
{
    char n[128];
    x = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.0", p), x, out, k, stride, (k - 1) / 2, groups, false);
    x = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.1", p), x, TV_EPS);
    return act && x ? act(b->ctx, x) : x;
}

static const ferry_preprocess imagenet_pre = {.channels = 3,
                                              .mean = {0.485f, 0.456f, 0.406f},
                                              .std = {0.229f, 0.224f, 0.225f},
                                              .summary = "RGB, ImageNet mean/std"};

/* ---- ResNet ---------------------------------------------------------------------------------------
 * conv1 7x7/2 (pad 3), bn1, relu, max pool 3/2 (pad 1); layer1..4 of basic blocks (resnet18: 2,2,2,2)
 * or bottlenecks (resnet50: 3,4,6,3; the stride on the 3x3 conv2, "v1.5"), widths 64·2^l (×4 out for
 * bottlenecks); a block's downsample (1x1 conv + bn) where the stride or the width changes; adaptive
 * average pool to 1x1 and flatten; fc. */

static ferry_tensor_t *basic_block(ferry_mb *b, const char *p, ferry_tensor_t *x, int planes, int stride)
{
    char n[128];
    bool down = x && (stride != 1 || x->ne[1] != planes);
    ferry_tensor_t *y =
        ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv1", p), x, planes, 3, stride, 1, 1, false);
    y = ferry_relu(b->ctx, ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn1", p), y, TV_EPS));
    y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv2", p), y, planes, 3, 1, 1, 1, false);
    y = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn2", p), y, TV_EPS);
    ferry_tensor_t *skip = x;
    if (down) {
        skip = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.downsample.0", p), x, planes, 1, stride, 0, 1, false);
        skip = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.downsample.1", p), skip, TV_EPS);
    }
    return ferry_relu(b->ctx, ferry_add(b->ctx, y, skip));
}

static ferry_tensor_t *bottleneck(ferry_mb *b, const char *p, ferry_tensor_t *x, int planes, int stride)
{
    char n[128];
    int out = planes * 4;
    bool down = x && (stride != 1 || x->ne[1] != out);
    ferry_tensor_t *y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv1", p), x, planes, 1, 1, 0, 1, false);
    y = ferry_relu(b->ctx, ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn1", p), y, TV_EPS));
    y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv2", p), y, planes, 3, stride, 1, 1, false);
    y = ferry_relu(b->ctx, ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn2", p), y, TV_EPS));
    y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.conv3", p), y, out, 1, 1, 0, 1, false);
    y = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.bn3", p), y, TV_EPS);
    ferry_tensor_t *skip = x;
    if (down) {
        skip = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.downsample.0", p), x, out, 1, stride, 0, 1, false);
        skip = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s.downsample.1", p), skip, TV_EPS);
    }
    return ferry_relu(b->ctx, ferry_add(b->ctx, y, skip));
}

static ferry_tensor_t *resnet_features(ferry_mb *b, ferry_tensor_t *x, const int depth[4], bool bottlenecks)
{
    x = ferry_mb_conv_k(b, "conv1", x, 64, 7, 2, 3, 1, false);
    x = ferry_relu(b->ctx, ferry_mb_bn(b, "bn1", x, TV_EPS));
    x = ferry_max_pool2d(b->ctx, x, 3, 2, 1);
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < depth[l]; i++) {
            char p[32];
            snprintf(p, sizeof p, "layer%d.%d", l + 1, i);
            int stride = l > 0 && i == 0 ? 2 : 1;
            x = bottlenecks ? bottleneck(b, p, x, 64 << l, stride) : basic_block(b, p, x, 64 << l, stride);
            if (i + 1 == depth[l]) x = ferry_mb_tap(b, ferry_mb_name(p, sizeof p, "layer%d", l + 1), x);
        }
    return ferry_global_avg_pool(b->ctx, x);
}

static ferry_tensor_t *resnet18_features(ferry_mb *b, ferry_tensor_t *x)
{
    static const int depth[4] = {2, 2, 2, 2};
    return resnet_features(b, x, depth, false);
}

static ferry_tensor_t *resnet50_features(ferry_mb *b, ferry_tensor_t *x)
{
    static const int depth[4] = {3, 4, 6, 3};
    return resnet_features(b, x, depth, true);
}

static ferry_tensor_t *resnet_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "fc", f, b->m->classes, true);
}

static const char *const resnet_head[] = {"fc.", NULL};

static ferry_status resnet18_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = resnet18_features;
    m->classifier = resnet_classifier;
    m->head_prefixes = resnet_head;
    return FERRY_OK;
}

static ferry_status resnet50_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = resnet50_features;
    m->classifier = resnet_classifier;
    m->head_prefixes = resnet_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_resnet18 = {
    .info = {.name = "resnet18", .summary = "ResNet-18: 7x7 stem, basic blocks 2-2-2-2, widths 64-512, 512-d features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 1, .pre = imagenet_pre},
    .setup = resnet18_setup,
};

const ferry_arch_def ferry_arch_resnet50 = {
    .info = {.name = "resnet50",
             .summary = "ResNet-50 (v1.5): 7x7 stem, bottlenecks 3-4-6-3, widths 256-2048, 2048-d features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 1, .pre = imagenet_pre},
    .setup = resnet50_setup,
};

/* ---- VGG-19 ---------------------------------------------------------------------------------------
 * features: configuration "E" (3x3 convolutions with bias, pad 1, each followed by relu, or by batch
 * norm then relu; "M" a 2x2/2 max pool), numbered as one Sequential; adaptive average pool to 7x7,
 * flatten; classifier.0 linear 25088->4096, relu, dropout 0.5 (classifier.2), classifier.3 linear
 * 4096->4096, relu, dropout 0.5 (classifier.5) — all of this is the backbone — then the head
 * classifier.6 4096->classes. Five pools: at least 32x32. */

static ferry_tensor_t *vgg19_any_features(ferry_mb *b, ferry_tensor_t *x, bool bn)
{
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
                              512, 512, 512, 512, 0};
    int idx = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        char n[48];
        if (!cfg[i]) {
            x = ferry_max_pool2d(b->ctx, x, 2, 2, 0);
            idx++;
            continue;
        }
        x = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "features.%d", idx), x, cfg[i], 3, 1, 1, 1, true);
        if (bn) x = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "features.%d", idx + 1), x, TV_EPS);
        x = ferry_relu(b->ctx, x);
        idx += bn ? 3 : 2;
    }
    x = ferry_flatten(b->ctx, ferry_adaptive_avg_pool2d(b->ctx, x, 7, 7));
    x = ferry_relu(b->ctx, ferry_mb_linear(b, "classifier.0", x, 4096, true));
    x = ferry_mb_dropout(b, x, 0.5f);
    x = ferry_relu(b->ctx, ferry_mb_linear(b, "classifier.3", x, 4096, true));
    return ferry_mb_dropout(b, x, 0.5f);
}

static ferry_tensor_t *vgg19_features(ferry_mb *b, ferry_tensor_t *x) { return vgg19_any_features(b, x, false); }
static ferry_tensor_t *vgg19_bn_features(ferry_mb *b, ferry_tensor_t *x) { return vgg19_any_features(b, x, true); }

static ferry_tensor_t *vgg_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "classifier.6", f, b->m->classes, true);
}

static const char *const vgg_head[] = {"classifier.6.", NULL};

static ferry_status vgg19_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = vgg19_features;
    m->classifier = vgg_classifier;
    m->head_prefixes = vgg_head;
    return FERRY_OK;
}

static ferry_status vgg19_bn_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = vgg19_bn_features;
    m->classifier = vgg_classifier;
    m->head_prefixes = vgg_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_vgg19 = {
    .info = {.name = "vgg19", .summary = "VGG-19: 16 3x3 convolutions in 5 stages, fc6/fc7 4096, 4096-d fc7 features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 32, .pre = imagenet_pre},
    .setup = vgg19_setup,
};

const ferry_arch_def ferry_arch_vgg19_bn = {
    .info = {.name = "vgg19_bn",
             .summary = "VGG-19 with batch norm after each convolution, fc6/fc7 4096, 4096-d fc7 features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 32, .pre = imagenet_pre},
    .setup = vgg19_bn_setup,
};

/* ---- MobileNetV2 ----------------------------------------------------------------------------------
 * features.0: 3x3/2 conv 3->32, bn, relu6; features.1..17: inverted residuals (t, c, n, s) =
 * (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1): "conv.0" a 1x1
 * expansion to t·in with bn and relu6 (absent when t = 1), then a 3x3 depthwise conv with bn and
 * relu6, then a linear 1x1 projection ("conv.N" conv, "conv.N+1" bn); the input added where the
 * stride is 1 and the width unchanged. features.18: 1x1 conv 320->1280, bn, relu6; adaptive average
 * pool to 1x1 and flatten. Classifier: dropout 0.2, classifier.1 linear. */

static ferry_tensor_t *mobilenet_v2_features(ferry_mb *b, ferry_tensor_t *x)
{
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    x = conv_bn_act(b, "features.0", x, 32, 3, 2, 1, ferry_relu6);
    int idx = 1;
    for (int s = 0; s < 7; s++)
        for (int i = 0; i < cfg[s][2]; i++, idx++) {
            if (!x) return NULL;
            char p[96], n[96];
            int t = cfg[s][0], out = cfg[s][1], stride = i ? 1 : cfg[s][3];
            int in = (int)x->ne[1], hidden = in * t, k = 0;
            ferry_tensor_t *y = x;
            if (t != 1) y = conv_bn_act(b, ferry_mb_name(p, sizeof p, "features.%d.conv.%d", idx, k++), y, hidden, 1, 1,
                                        1, ferry_relu6);
            y = conv_bn_act(b, ferry_mb_name(p, sizeof p, "features.%d.conv.%d", idx, k++), y, hidden, 3, stride,
                            hidden, ferry_relu6);
            y = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "features.%d.conv.%d", idx, k), y, out, 1, 1, 0, 1,
                                false);
            y = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "features.%d.conv.%d", idx, k + 1), y, TV_EPS);
            x = stride == 1 && in == out ? ferry_add(b->ctx, x, y) : y;
        }
    x = conv_bn_act(b, "features.18", x, 1280, 1, 1, 1, ferry_relu6);
    return ferry_global_avg_pool(b->ctx, x);
}

/* mobilenet_v2 and efficientnet_b0: dropout 0.2 (classifier.0), then classifier.1. */
static ferry_tensor_t *dropout_linear_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "classifier.1", ferry_mb_dropout(b, f, 0.2f), b->m->classes, true);
}

static const char *const classifier1_head[] = {"classifier.1.", NULL};

static ferry_status mobilenet_v2_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = mobilenet_v2_features;
    m->classifier = dropout_linear_classifier;
    m->head_prefixes = classifier1_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_mobilenet_v2 = {
    .info = {.name = "mobilenet_v2",
             .summary = "MobileNetV2 (width 1.0): 17 inverted residuals with ReLU6, 1280-d features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 1, .pre = imagenet_pre},
    .setup = mobilenet_v2_setup,
};

/* ---- EfficientNet-B0 ------------------------------------------------------------------------------
 * features.0: 3x3/2 conv 3->32, bn, SiLU; features.1..7: stages of MBConv blocks (expand ratio, kernel,
 * stride, in, out, layers) = (1,3,1,32,16,1) (6,3,2,16,24,2) (6,5,2,24,40,2) (6,3,2,40,80,3)
 * (6,5,1,80,112,3) (6,5,2,112,192,4) (6,3,1,192,320,1), block j of stage s named
 * "features.s.j.block.K": a 1x1 expansion with bn and SiLU (absent when the ratio is 1), a k x k
 * depthwise conv with bn and SiLU, squeeze-excitation ("fc1"/"fc2", 1x1 convs with bias, to
 * max(1, in/4) channels and back, SiLU between, sigmoid gate), a 1x1 projection with bn and no
 * activation; the input added where the stride is 1 and the width unchanged. features.8: 1x1 conv
 * 320->1280, bn, SiLU; adaptive average pool to 1x1 and flatten. Classifier: dropout 0.2,
 * classifier.1 linear.
 * Stochastic depth (torchvision drops a residual branch per sample while training, with probability
 * rising to 0.2 at the last block) is not applied in training mode here; eval mode has none, so the
 * evaluation forward is torchvision's exactly. */

static ferry_tensor_t *squeeze_excite(ferry_mb *b, const char *p, ferry_tensor_t *x, int squeeze)
{
    if (!x) return NULL;
    char n[128];
    int c = (int)x->ne[1];
    ferry_tensor_t *s = ferry_adaptive_avg_pool2d(b->ctx, x, 1, 1); /* [N, C, 1, 1] */
    s = ferry_silu(b->ctx, ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.fc1", p), s, squeeze, 1, 1, 0, 1, true));
    s = ferry_sigmoid(b->ctx, ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s.fc2", p), s, c, 1, 1, 0, 1, true));
    return ferry_mul(b->ctx, x, s); /* broadcast over H, W */
}

static ferry_tensor_t *efficientnet_b0_features(ferry_mb *b, ferry_tensor_t *x)
{
    static const int cfg[7][6] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},
                                  {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3},  {6, 5, 2, 112, 192, 4},
                                  {6, 3, 1, 192, 320, 1}};
    x = conv_bn_act(b, "features.0", x, 32, 3, 2, 1, ferry_silu);
    for (int s = 0; s < 7; s++)
        for (int j = 0; j < cfg[s][5]; j++) {
            if (!x) return NULL;
            char p[96];
            int ratio = cfg[s][0], k = cfg[s][1], stride = j ? 1 : cfg[s][2], out = cfg[s][4];
            int in = (int)x->ne[1], hidden = in * ratio, K = 0;
            ferry_tensor_t *y = x;
            if (hidden != in)
                y = conv_bn_act(b, ferry_mb_name(p, sizeof p, "features.%d.%d.block.%d", s + 1, j, K++), y, hidden, 1,
                                1, 1, ferry_silu);
            y = conv_bn_act(b, ferry_mb_name(p, sizeof p, "features.%d.%d.block.%d", s + 1, j, K++), y, hidden, k,
                            stride, hidden, ferry_silu);
            y = squeeze_excite(b, ferry_mb_name(p, sizeof p, "features.%d.%d.block.%d", s + 1, j, K++), y,
                               in / 4 > 1 ? in / 4 : 1);
            y = conv_bn_act(b, ferry_mb_name(p, sizeof p, "features.%d.%d.block.%d", s + 1, j, K), y, out, 1, 1, 1,
                            NULL);
            x = stride == 1 && in == out ? ferry_add(b->ctx, y, x) : y;
        }
    x = conv_bn_act(b, "features.8", x, 1280, 1, 1, 1, ferry_silu);
    return ferry_global_avg_pool(b->ctx, x);
}

static ferry_status efficientnet_b0_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = efficientnet_b0_features;
    m->classifier = dropout_linear_classifier;
    m->head_prefixes = classifier1_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_efficientnet_b0 = {
    .info = {.name = "efficientnet_b0",
             .summary = "EfficientNet-B0: 16 MBConv blocks with squeeze-excitation and SiLU, 1280-d features",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 224, .min_size = 1, .pre = imagenet_pre},
    .setup = efficientnet_b0_setup,
};
