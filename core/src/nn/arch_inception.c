/* Inception-v3 in torchvision 0.14's layout, and Xception in keras.applications' layout. */
#include "model_internal.h"

#include <stdio.h>

/* ---- Inception-v3 -----------------------------------------------------------------------------------
 * Every convolution is a BasicConv2d "<name>.conv" (no bias) + "<name>.bn" (eps 0.001) + relu. The stem
 * Conv2d_1a..Conv2d_4a with two 3x3/2 max pools, then the blocks Mixed_5b..5d (A), 6a (B), 6b..6e (C),
 * 7a (D), 7b/7c (E); global average pool -> 2048 features; dropout 0.5 and fc. The average pools inside
 * the A, C and E blocks are 3x3/1 with padding 1 counting the padding (PyTorch's avg_pool2d default).
 * transform_input is off. The auxiliary classifier (AuxLogits.*, after Mixed_6e) exists only with
 * aux_logits: its parameters are created so that a state dict holding them loads, but it takes no part
 * in the classifier's output. */

static ferry_tensor_t *basic(ferry_mb *b, const char *blk, const char *name, ferry_tensor_t *x, int out, int kh,
                             int kw, int stride, int ph, int pw)
{
    char n[128];
    ferry_conv_params cp = {.stride_h = stride, .stride_w = stride, .pad_top = ph, .pad_bottom = ph,
                            .pad_left = pw, .pad_right = pw};
    const char *dot = *blk ? "." : "";
    x = ferry_mb_conv(b, ferry_mb_name(n, sizeof n, "%s%s%s.conv", blk, dot, name), x, out, kh, kw, &cp, false);
    x = ferry_mb_bn(b, ferry_mb_name(n, sizeof n, "%s%s%s.bn", blk, dot, name), x, 1e-3f);
    return ferry_relu(b->ctx, x);
}

/* Square kernel, symmetric padding. */
static ferry_tensor_t *basic_k(ferry_mb *b, const char *blk, const char *name, ferry_tensor_t *x, int out, int k,
                               int stride, int pad)
{
    return basic(b, blk, name, x, out, k, k, stride, pad, pad);
}

static ferry_tensor_t *avg3_same(ferry_mb *b, ferry_tensor_t *x)
{
    ferry_pool_params p = {.kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .pad_top = 1, .pad_bottom = 1,
                           .pad_left = 1, .pad_right = 1, .count_include_pad = true};
    return ferry_pool2d_ex(b->ctx, x, FERRY_POOL_AVG, &p);
}

static ferry_tensor_t *cat(ferry_mb *b, int n, ferry_tensor_t *const *t) { return ferry_concat(b->ctx, 1, n, t); }

static ferry_tensor_t *block_a(ferry_mb *b, const char *p, ferry_tensor_t *x, int pool_features)
{
    ferry_tensor_t *t[4];
    t[0] = basic_k(b, p, "branch1x1", x, 64, 1, 1, 0);
    t[1] = basic_k(b, p, "branch5x5_1", x, 48, 1, 1, 0);
    t[1] = basic_k(b, p, "branch5x5_2", t[1], 64, 5, 1, 2);
    t[2] = basic_k(b, p, "branch3x3dbl_1", x, 64, 1, 1, 0);
    t[2] = basic_k(b, p, "branch3x3dbl_2", t[2], 96, 3, 1, 1);
    t[2] = basic_k(b, p, "branch3x3dbl_3", t[2], 96, 3, 1, 1);
    t[3] = basic_k(b, p, "branch_pool", avg3_same(b, x), pool_features, 1, 1, 0);
    return cat(b, 4, t);
}

static ferry_tensor_t *block_b(ferry_mb *b, const char *p, ferry_tensor_t *x)
{
    ferry_tensor_t *t[3];
    t[0] = basic_k(b, p, "branch3x3", x, 384, 3, 2, 0);
    t[1] = basic_k(b, p, "branch3x3dbl_1", x, 64, 1, 1, 0);
    t[1] = basic_k(b, p, "branch3x3dbl_2", t[1], 96, 3, 1, 1);
    t[1] = basic_k(b, p, "branch3x3dbl_3", t[1], 96, 3, 2, 0);
    t[2] = ferry_max_pool2d(b->ctx, x, 3, 2, 0);
    return cat(b, 3, t);
}

static ferry_tensor_t *block_c(ferry_mb *b, const char *p, ferry_tensor_t *x, int c7)
{
    ferry_tensor_t *t[4];
    t[0] = basic_k(b, p, "branch1x1", x, 192, 1, 1, 0);
    t[1] = basic_k(b, p, "branch7x7_1", x, c7, 1, 1, 0);
    t[1] = basic(b, p, "branch7x7_2", t[1], c7, 1, 7, 1, 0, 3);
    t[1] = basic(b, p, "branch7x7_3", t[1], 192, 7, 1, 1, 3, 0);
    t[2] = basic_k(b, p, "branch7x7dbl_1", x, c7, 1, 1, 0);
    t[2] = basic(b, p, "branch7x7dbl_2", t[2], c7, 7, 1, 1, 3, 0);
    t[2] = basic(b, p, "branch7x7dbl_3", t[2], c7, 1, 7, 1, 0, 3);
    t[2] = basic(b, p, "branch7x7dbl_4", t[2], c7, 7, 1, 1, 3, 0);
    t[2] = basic(b, p, "branch7x7dbl_5", t[2], 192, 1, 7, 1, 0, 3);
    t[3] = basic_k(b, p, "branch_pool", avg3_same(b, x), 192, 1, 1, 0);
    return cat(b, 4, t);
}

static ferry_tensor_t *block_d(ferry_mb *b, const char *p, ferry_tensor_t *x)
{
    ferry_tensor_t *t[3];
    t[0] = basic_k(b, p, "branch3x3_1", x, 192, 1, 1, 0);
    t[0] = basic_k(b, p, "branch3x3_2", t[0], 320, 3, 2, 0);
    t[1] = basic_k(b, p, "branch7x7x3_1", x, 192, 1, 1, 0);
    t[1] = basic(b, p, "branch7x7x3_2", t[1], 192, 1, 7, 1, 0, 3);
    t[1] = basic(b, p, "branch7x7x3_3", t[1], 192, 7, 1, 1, 3, 0);
    t[1] = basic_k(b, p, "branch7x7x3_4", t[1], 192, 3, 2, 0);
    t[2] = ferry_max_pool2d(b->ctx, x, 3, 2, 0);
    return cat(b, 3, t);
}

static ferry_tensor_t *block_e(ferry_mb *b, const char *p, ferry_tensor_t *x)
{
    ferry_tensor_t *t[4], *s[2];
    t[0] = basic_k(b, p, "branch1x1", x, 320, 1, 1, 0);
    t[1] = basic_k(b, p, "branch3x3_1", x, 384, 1, 1, 0);
    s[0] = basic(b, p, "branch3x3_2a", t[1], 384, 1, 3, 1, 0, 1);
    s[1] = basic(b, p, "branch3x3_2b", t[1], 384, 3, 1, 1, 1, 0);
    t[1] = cat(b, 2, s);
    t[2] = basic_k(b, p, "branch3x3dbl_1", x, 448, 1, 1, 0);
    t[2] = basic_k(b, p, "branch3x3dbl_2", t[2], 384, 3, 1, 1);
    s[0] = basic(b, p, "branch3x3dbl_3a", t[2], 384, 1, 3, 1, 0, 1);
    s[1] = basic(b, p, "branch3x3dbl_3b", t[2], 384, 3, 1, 1, 1, 0);
    t[2] = cat(b, 2, s);
    t[3] = basic_k(b, p, "branch_pool", avg3_same(b, x), 192, 1, 1, 0);
    return cat(b, 4, t);
}

/* The auxiliary classifier on Mixed_6e's output: avg pool 5x5/3, conv0 1x1 128, conv1 5x5 768, global
 * average pool, fc. Built only while the model is created (to create its parameters); its multiply-adds
 * are not counted, since the forward pass does not run it. */
static bool create_aux(ferry_mb *b, ferry_tensor_t *x)
{
    if (!x) return false;
    int64_t macs = b->macs;
    ferry_tensor_t *a = ferry_avg_pool2d(b->ctx, x, 5, 3, 0);
    a = basic_k(b, "AuxLogits", "conv0", a, 128, 1, 1, 0);
    a = basic_k(b, "AuxLogits", "conv1", a, 768, 5, 1, 0);
    a = ferry_mb_linear(b, "AuxLogits.fc", ferry_global_avg_pool(b->ctx, a), b->m->classes, true);
    b->macs = macs;
    return a != NULL;
}

static ferry_tensor_t *inception_features(ferry_mb *b, ferry_tensor_t *x)
{
    x = basic_k(b, "", "Conv2d_1a_3x3", x, 32, 3, 2, 0);
    x = basic_k(b, "", "Conv2d_2a_3x3", x, 32, 3, 1, 0);
    x = basic_k(b, "", "Conv2d_2b_3x3", x, 64, 3, 1, 1);
    x = ferry_max_pool2d(b->ctx, x, 3, 2, 0);
    x = basic_k(b, "", "Conv2d_3b_1x1", x, 80, 1, 1, 0);
    x = basic_k(b, "", "Conv2d_4a_3x3", x, 192, 3, 1, 0);
    x = ferry_max_pool2d(b->ctx, x, 3, 2, 0);
    x = block_a(b, "Mixed_5b", x, 32);
    x = block_a(b, "Mixed_5c", x, 64);
    x = block_a(b, "Mixed_5d", x, 64);
    x = block_b(b, "Mixed_6a", x);
    x = block_c(b, "Mixed_6b", x, 128);
    x = block_c(b, "Mixed_6c", x, 160);
    x = block_c(b, "Mixed_6d", x, 160);
    x = block_c(b, "Mixed_6e", x, 192);
    if (b->rng && b->m->opts.aux_logits && !create_aux(b, x)) return NULL;
    x = block_d(b, "Mixed_7a", x);
    x = block_e(b, "Mixed_7b", x);
    x = block_e(b, "Mixed_7c", x);
    return ferry_global_avg_pool(b->ctx, x);
}

static ferry_tensor_t *inception_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "fc", ferry_mb_dropout(b, f, 0.5f), b->m->classes, true);
}

/* The auxiliary classifier's fc has one output per class too: a head for another class count skips
 * it on loading and draws it afresh with the main one. */
static const char *const inception_head[] = {"fc.", "AuxLogits.fc.", NULL};

/* Side of Mixed_6e's output for an input side n: the stem (3x3/2, 3x3, 3x3 pad 1, pool 3x3/2, 1x1, 3x3,
 * pool 3x3/2) and Mixed_6a's 3x3/2. */
static int mixed_6e_side(int n)
{
    n = (n - 3) / 2 + 1 - 2;
    n = (n - 3) / 2 + 1 - 2;
    n = (n - 3) / 2 + 1;
    return (n - 3) / 2 + 1;
}

static ferry_status inception_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    /* The auxiliary classifier pools 5x5/3 and then convolves 5x5 without padding. */
    if (o->aux_logits && (mixed_6e_side(m->in_h) < 17 || mixed_6e_side(m->in_w) < 17))
        return ferry_error(FERRY_ERR_SHAPE,
                           "%s: input %dx%d is too small for the auxiliary classifier (aux_logits needs Mixed_6e's "
                           "output at least 17x17, from a 299x299 input; it is %dx%d)",
                           m->arch, m->in_h, m->in_w, mixed_6e_side(m->in_h), mixed_6e_side(m->in_w));
    m->features = inception_features;
    m->classifier = inception_classifier;
    m->head_prefixes = inception_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_inception_v3 = {
    .info = {.name = "inception_v3",
             .summary = "Inception-v3: factorised-convolution Inception blocks, 2048 features, aux head optional",
             .source = "torchvision 0.14 layout", .default_classes = 1000, .default_size = 299, .min_size = 75,
             .pre = {.channels = 3, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                     .summary = "RGB, ImageNet mean/std"}},
    .setup = inception_setup,
};

/* ---- Xception ----------------------------------------------------------------------------------------
 * keras.applications' Xception (Chollet 2017) with its layer names turned into a PyTorch-style state
 * dict: a Conv2D "block1_conv1" has "block1_conv1.weight" [O, C, 3, 3]; a BatchNormalization
 * "block1_conv1_bn" has weight (gamma), bias (beta), running_mean, running_var; a SeparableConv2D
 * "block2_sepconv1" is a depthwise 3x3 "block2_sepconv1.depthwise.weight" [C, 1, 3, 3] then a pointwise
 * 1x1 "block2_sepconv1.pointwise.weight" [O, C, 1, 1], neither with a bias; the Dense "predictions" has
 * "predictions.weight" [classes, 2048] and "predictions.bias". Keras leaves the shortcut convolutions of
 * blocks 2, 3, 4 and 13 unnamed ("conv2d_N", "batch_normalization_N", numbered per session): here they
 * are "blockB_residual" (1x1/2, no bias) and "blockB_residual_bn". Batch norms have eps 1e-3 and Keras'
 * momentum 0.99 (0.01 in PyTorch's convention). Separable convolutions and max pools use TensorFlow's
 * "same" padding (a stride-2 pool of an even side pads one more at the bottom/right; max pooling never
 * takes a pad); block1's convolutions are "valid". */

static ferry_tensor_t *x_bn(ferry_mb *b, const char *name, ferry_tensor_t *x)
{
    return ferry_mb_bn_ex(b, name, x, 1e-3f, 0.01f, true, true);
}

static ferry_tensor_t *sepconv_bn(ferry_mb *b, const char *blk, int i, ferry_tensor_t *x, int out)
{
    if (!x) return NULL;
    char n[96];
    int c = (int)x->ne[1], t, bo, l, r;
    ferry_tf_same_pad((int)x->ne[2], 3, 1, 1, &t, &bo);
    ferry_tf_same_pad((int)x->ne[3], 3, 1, 1, &l, &r);
    ferry_conv_params dw = {.stride_h = 1, .stride_w = 1, .pad_top = t, .pad_bottom = bo, .pad_left = l,
                            .pad_right = r, .groups = c};
    x = ferry_mb_conv(b, ferry_mb_name(n, sizeof n, "%s_sepconv%d.depthwise", blk, i), x, c, 3, 3, &dw, false);
    x = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s_sepconv%d.pointwise", blk, i), x, out, 1, 1, 0, 1, false);
    return x_bn(b, ferry_mb_name(n, sizeof n, "%s_sepconv%d_bn", blk, i), x);
}

static ferry_tensor_t *max_pool_same(ferry_mb *b, ferry_tensor_t *x)
{
    if (!x) return NULL;
    ferry_pool_params p = {.kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2};
    ferry_tf_same_pad((int)x->ne[2], 3, 2, 1, &p.pad_top, &p.pad_bottom);
    ferry_tf_same_pad((int)x->ne[3], 3, 2, 1, &p.pad_left, &p.pad_right);
    return ferry_pool2d_ex(b->ctx, x, FERRY_POOL_MAX, &p);
}

/* Shortcut: 1x1/2 convolution ("same" pads nothing for a 1x1 kernel) and batch norm. */
static ferry_tensor_t *residual(ferry_mb *b, const char *blk, ferry_tensor_t *x, int out)
{
    char n[96];
    x = ferry_mb_conv_k(b, ferry_mb_name(n, sizeof n, "%s_residual", blk), x, out, 1, 2, 0, 1, false);
    return x_bn(b, ferry_mb_name(n, sizeof n, "%s_residual_bn", blk), x);
}

/* Entry/exit-flow block: [relu] sepconv a, relu, sepconv b, max pool, + shortcut. */
static ferry_tensor_t *down_block(ferry_mb *b, const char *blk, ferry_tensor_t *x, int a, int c, bool first_relu)
{
    ferry_tensor_t *skip = residual(b, blk, x, c);
    if (first_relu) x = ferry_relu(b->ctx, x);
    x = ferry_relu(b->ctx, sepconv_bn(b, blk, 1, x, a));
    x = max_pool_same(b, sepconv_bn(b, blk, 2, x, c));
    return ferry_add(b->ctx, x, skip);
}

static ferry_tensor_t *xception_features(ferry_mb *b, ferry_tensor_t *x)
{
    x = ferry_mb_conv_k(b, "block1_conv1", x, 32, 3, 2, 0, 1, false);
    x = ferry_relu(b->ctx, x_bn(b, "block1_conv1_bn", x));
    x = ferry_mb_conv_k(b, "block1_conv2", x, 64, 3, 1, 0, 1, false);
    x = ferry_relu(b->ctx, x_bn(b, "block1_conv2_bn", x));
    x = down_block(b, "block2", x, 128, 128, false);
    x = down_block(b, "block3", x, 256, 256, true);
    x = down_block(b, "block4", x, 728, 728, true);
    for (int i = 5; i <= 12; i++) {
        char blk[16];
        snprintf(blk, sizeof blk, "block%d", i);
        ferry_tensor_t *y = x;
        for (int k = 1; k <= 3; k++) y = sepconv_bn(b, blk, k, ferry_relu(b->ctx, y), 728);
        x = ferry_add(b->ctx, y, x);
    }
    x = down_block(b, "block13", x, 728, 1024, true);
    x = ferry_relu(b->ctx, sepconv_bn(b, "block14", 1, x, 1536));
    x = ferry_relu(b->ctx, sepconv_bn(b, "block14", 2, x, 2048));
    return ferry_global_avg_pool(b->ctx, x);
}

static ferry_tensor_t *xception_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    return ferry_mb_linear(b, "predictions", f, b->m->classes, true);
}

static const char *const xception_head[] = {"predictions.", NULL};

static ferry_status xception_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    m->features = xception_features;
    m->classifier = xception_classifier;
    m->head_prefixes = xception_head;
    return FERRY_OK;
}

const ferry_arch_def ferry_arch_xception = {
    .info = {.name = "xception",
             .summary = "Xception: depthwise-separable convolutions with residual shortcuts, 2048 features",
             .source = "keras.applications layout", .default_classes = 1000, .default_size = 299, .min_size = 71,
             .pre = {.channels = 3, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f},
                     .summary = "RGB, [-1,1] (keras 'tf' mode)"}},
    .setup = xception_setup,
};
