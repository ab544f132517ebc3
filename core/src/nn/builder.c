/* The model builder: layers that find their parameters in the model's store, or create them while the
 * model is being created (see model_internal.h). */
#include "model_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ferry_mb_name(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return buf;
}

static ferry_status create(ferry_mb *b, const char *name, int ndim, const int64_t *shape, int64_t fan_in,
                           float fill, bool trainable)
{
    ferry_store_t *st = b->m->st;
    ferry_status s = ferry_store_add(st, name, FERRY_F32, ndim, shape, trainable);
    if (s) return s;
    int i = ferry_store_find(st, name);
    int64_t n = ferry_store_numel(st, i);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory initialising '%s' (%lld floats)", b->m->arch,
                               name, (long long)n);
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0;
    for (int64_t k = 0; k < n; k++) v[k] = fan_in > 0 ? (float)ferry_rng_uniform(b->rng, -bound, bound) : fill;
    s = ferry_store_set(st, i, v, (size_t)n * sizeof *v);
    free(v);
    return s;
}

ferry_tensor_t *ferry_mb_tap(ferry_mb *b, const char *name, ferry_tensor_t *x)
{
    if (x && b->fo && b->fo->tap) b->fo->tap(b->fo->tap_user, name, x);
    return x;
}

ferry_tensor_t *ferry_mb_param(ferry_mb *b, const char *name, int ndim, const int64_t *shape, int64_t fan_in,
                               float fill, bool trainable)
{
    ferry_store_t *st = b->m->st;
    char full[256];
    if (b->m->opts.prefix) name = ferry_mb_name(full, sizeof full, "%s%s", b->m->opts.prefix, name);
    int i = ferry_store_find(st, name);
    if (i < 0) {
        if (!b->rng) {
            ferry_error(FERRY_ERR_NOT_FOUND, "%s: parameter '%s' is not in the model's store", b->m->arch, name);
            return NULL;
        }
        if (create(b, name, ndim, shape, fan_in, fill, trainable)) return NULL;
    } else {
        bool same = ferry_store_ndim(st, i) == ndim;
        for (int d = 0; same && d < ndim; d++) same = ferry_store_shape(st, i)[d] == shape[d];
        if (!same) {
            char want[96] = "", *p = want;
            for (int d = 0; d < ndim; d++)
                p += snprintf(p, (size_t)(want + sizeof want - p), "%s%lld", d ? "x" : "", (long long)shape[d]);
            ferry_error(FERRY_ERR_SHAPE, "%s: parameter '%s' has another shape than the layer needs (%s)",
                        b->m->arch, name, want);
            return NULL;
        }
    }
    return ferry_param(b->ctx, st, name);
}

void ferry_mb_count(ferry_mb *b, int64_t macs)
{
    if (b->rng) b->macs += macs;
}

static bool param_trainable(ferry_mb *b, const char *name)
{
    char full[256];
    if (b->m->opts.prefix) name = ferry_mb_name(full, sizeof full, "%s%s", b->m->opts.prefix, name);
    int i = ferry_store_find(b->m->st, name);
    return i >= 0 && ferry_store_trainable(b->m->st, i);
}

ferry_tensor_t *ferry_mb_conv(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, int kh, int kw,
                              const ferry_conv_params *p, bool bias)
{
    if (!x) return NULL;
    ferry_conv_params cp = p ? *p : (ferry_conv_params){0};
    int groups = cp.groups > 0 ? cp.groups : 1;
    int64_t in = x->ne[1];
    if (in % groups || out % groups) {
        ferry_error(FERRY_ERR_SHAPE, "%s: layer '%s': %lld input and %d output channels do not split into %d groups",
                    b->m->arch, name, (long long)in, out, groups);
        return NULL;
    }
    char n[192];
    int64_t fan_in = in / groups * kh * kw;
    ferry_tensor_t *w = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.weight", name), 4,
                                       (int64_t[]){out, in / groups, kh, kw}, fan_in, 0, true);
    ferry_tensor_t *bt = NULL;
    if (bias) bt = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.bias", name), 1, (int64_t[]){out}, fan_in, 0, true);
    if (!w || (bias && !bt)) return NULL;
    ferry_tensor_t *y = ferry_conv2d_ex(b->ctx, x, w, &cp);
    if (y) ferry_mb_count(b, (int64_t)out * fan_in * y->ne[2] * y->ne[3]);
    return ferry_mb_tap(b, name, bt ? ferry_add_bias(b->ctx, y, bt) : y);
}

ferry_tensor_t *ferry_mb_conv_k(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, int k, int stride,
                                int pad, int groups, bool bias)
{
    ferry_conv_params p = {.stride_h = stride, .stride_w = stride, .pad_top = pad, .pad_bottom = pad,
                           .pad_left = pad, .pad_right = pad, .groups = groups};
    return ferry_mb_conv(b, name, x, out, k, k, &p, bias);
}

ferry_tensor_t *ferry_mb_bn_ex(ferry_mb *b, const char *name, ferry_tensor_t *x, float eps, float momentum,
                               bool scale, bool center)
{
    if (!x) return NULL;
    int64_t c = x->ne[1];
    char n[192];
    ferry_tensor_t *g = NULL, *be = NULL, *rm, *rv;
    bool trainable = false;
    if (scale) {
        g = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.weight", name), 1, &c, 0, 1.0f, true);
        if (!g) return NULL;
        trainable |= param_trainable(b, n);
    }
    if (center) {
        be = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.bias", name), 1, &c, 0, 0.0f, true);
        if (!be) return NULL;
        trainable |= param_trainable(b, n);
    } else {
        be = ferry_constant(b->ctx, 0.0f, 1, &c);
    }
    rm = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.running_mean", name), 1, &c, 0, 0.0f, false);
    rv = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.running_var", name), 1, &c, 0, 1.0f, false);
    if (!rm || !rv) return NULL;
    /* A layer with nothing to learn (frozen, or neither scale nor center) keeps its statistics. */
    bool train = b->train && trainable;
    return ferry_mb_tap(b, name, ferry_batch_norm(b->ctx, x, g, be, rm, rv, train, momentum, eps));
}

ferry_tensor_t *ferry_mb_bn(ferry_mb *b, const char *name, ferry_tensor_t *x, float eps)
{
    return ferry_mb_bn_ex(b, name, x, eps, 0.1f, true, true);
}

ferry_tensor_t *ferry_mb_linear(ferry_mb *b, const char *name, ferry_tensor_t *x, int out, bool bias)
{
    if (!x) return NULL;
    int64_t in = x->ne[1];
    char n[192];
    ferry_tensor_t *w = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.weight", name), 2, (int64_t[]){out, in},
                                       in, 0, true);
    ferry_tensor_t *bt = NULL;
    if (bias) bt = ferry_mb_param(b, ferry_mb_name(n, sizeof n, "%s.bias", name), 1, (int64_t[]){out}, in, 0, true);
    if (!w || (bias && !bt)) return NULL;
    ferry_mb_count(b, in * out);
    ferry_tensor_t *y = ferry_matmul(b->ctx, x, w, false, true);
    return ferry_mb_tap(b, name, bt ? ferry_add_bias(b->ctx, y, bt) : y);
}

ferry_tensor_t *ferry_mb_dropout(ferry_mb *b, ferry_tensor_t *x, float p)
{
    uint32_t salt = ++b->salt;
    if (!x || !b->train || !b->seed || p <= 0) return x;
    return ferry_dropout(b->ctx, x, b->seed, p, salt);
}

void ferry_tf_same_pad(int in, int k, int stride, int dilation, int *before, int *after)
{
    if (stride < 1) stride = 1;
    if (dilation < 1) dilation = 1;
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + dilation * (k - 1) + 1 - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - total / 2;
}
