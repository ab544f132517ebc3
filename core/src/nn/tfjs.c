/* TensorFlow.js layers models (model.json + binary weight shards) of Keras functional networks,
 * imported as Ferry models.
 *
 * model.json holds the Keras model config (layers, each with its config and the layers it is applied
 * to in `inbound_nodes`) and a weights manifest: shard file names, and the tensors stored in them one
 * after another, in manifest order, as float32 or quantized (uint8/uint16 q, value = min + scale·q).
 * The importer parses the config into a graph in topological order, reads every tensor, converts the
 * NHWC (channels_last) layouts to Ferry's NCHW ones and puts them in the model's store under the
 * Keras layer name (conv2d_1.weight, batch_normalization_1.running_mean, ...). The forward functions
 * walk the graph with the builder, so the network trains, saves and loads like a native one.
 *
 * Backbone and head: the head is the chain of Dense/Dropout/Activation layers that ends the network
 * (features = the chain's input, [N, F]); its last Dense is the source classifier, kept when the model
 * has the file's class count and drawn afresh otherwise. A softmax on the last layer is left out: the
 * head gives logits. Keras' `trainable: false` marks are counted (the summary says how many) but
 * every weight is created trainable: freezing is the methods' choice. */
#include "model_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/data.h"
#include "ferry/io.h"

enum kind {
    K_INPUT, K_CONV, K_DWCONV, K_SEPCONV, K_BN, K_ACT, K_RELU, K_ZEROPAD, K_MAXPOOL, K_AVGPOOL, K_GAP,
    K_CONCAT, K_ADD, K_MUL, K_RESHAPE, K_FLATTEN, K_DENSE, K_DROPOUT,
};
static const char *const kind_names[] = {
    "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "Activation", "ReLU",
    "ZeroPadding2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "Concatenate", "Add",
    "Multiply", "Reshape", "Flatten", "Dense", "Dropout",
};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

enum act { A_LINEAR, A_RELU, A_RELU6, A_SIGMOID, A_SOFTMAX, A_TANH, A_SWISH, A_HARD_SIGMOID, A_SOFTPLUS, A_GELU };
static const struct {
    const char *name;
    enum act a;
} act_names[] = {
    {"linear", A_LINEAR}, {"relu", A_RELU}, {"relu6", A_RELU6}, {"sigmoid", A_SIGMOID}, {"softmax", A_SOFTMAX},
    {"tanh", A_TANH}, {"swish", A_SWISH}, {"silu", A_SWISH}, {"hard_sigmoid", A_HARD_SIGMOID},
    {"softplus", A_SOFTPLUS}, {"gelu", A_GELU},
};

/* The weights a layer may carry, by their Keras names. */
enum slot { W_KERNEL, W_DEPTHWISE, W_POINTWISE, W_BIAS, W_GAMMA, W_BETA, W_MEAN, W_VAR, N_SLOTS };
static const char *const slot_names[N_SLOTS] = {
    "kernel", "depthwise_kernel", "pointwise_kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance",
};

typedef struct tf_weight {
    int ndim;
    int64_t shape[4];
    float *data; /* decoded, in the file's (Keras) layout */
} tf_weight;

typedef struct tf_layer {
    char name[128];
    enum kind kind;
    int n_in, *in;         /* inbound layers (indices) */
    int consumers;
    bool trainable;
    /* configuration */
    int filters, units, kh, kw, sh, sw, dh, dw, mult, axis;
    bool same, bias, scale, center, keepdims;
    enum act act;
    int pad[4];            /* ZeroPadding2D: top, bottom, left, right */
    float eps, momentum, max_value, slope, rate;
    int target_ndim;       /* Reshape: target shape without the batch (-1 allowed once) */
    int64_t target[4];
    bool whole_map;        /* an AveragePooling2D whose window is its whole input (before a Flatten) */
    int hw[2];             /* spatial size of the output at the declared input size (0: unknown) */
    tf_weight w[N_SLOTS];
    bool has[N_SLOTS];
} tf_layer;

typedef struct tf_graph {
    char path[1024];       /* model.json */
    int n;
    tf_layer *layers;
    int *order;            /* topological order */
    int input, output, feature; /* the input layer, the last layer, the layer giving the features */
    int n_head, *head;     /* head chain, in forward order */
    bool *backbone;        /* layers the features need */
    const char **head_prefixes; /* "name." per head layer, NULL-terminated */
    char *prefix_buf;
    int in_h, in_w, in_c;  /* declared input (0: not declared) */
    int classes;           /* units of the last Dense */
    int frozen;            /* layers marked trainable: false */
    bool fixed;            /* a Flatten/Reshape of a spatial map: the input size is fixed */
} tf_graph;

static void graph_free(void *p)
{
    tf_graph *g = p;
    if (!g) return;
    for (int i = 0; g->layers && i < g->n; i++) {
        free(g->layers[i].in);
        for (int s = 0; s < N_SLOTS; s++) free(g->layers[i].w[s].data);
    }
    free(g->layers);
    free(g->order);
    free(g->head);
    free(g->backbone);
    free(g->head_prefixes);
    free(g->prefix_buf);
    free(g);
}

static void drop_weights(tf_graph *g)
{
    for (int i = 0; i < g->n; i++)
        for (int s = 0; s < N_SLOTS; s++) {
            free(g->layers[i].w[s].data);
            g->layers[i].w[s].data = NULL;
        }
}

/* ---- reading the config ------------------------------------------------------------------------ */

static int find_layer(const tf_graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->layers[i].name, name) == 0) return i;
    return -1;
}

/* An int or a list of two ints (kernel_size, strides, pool_size, dilation_rate). */
static ferry_status get_pair(const tf_graph *g, const tf_layer *l, json_t *cfg, const char *key, int dflt, int *a,
                             int *b)
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        *a = *b = dflt;
        return FERRY_OK;
    }
    json_int_t x, y; /* checked before they are narrowed to int (4294967299 is not 3) */
    if (json_is_integer(v)) {
        x = y = json_integer_value(v);
    } else if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
               json_is_integer(json_array_get(v, 1))) {
        x = json_integer_value(json_array_get(v, 0));
        y = json_integer_value(json_array_get(v, 1));
    } else {
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': '%s' is not an integer or a pair of integers", g->path,
                           l->name, key);
    }
    if (x < 1 || y < 1 || x > 65536 || y > 65536)
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': '%s' (%lld, %lld) out of range", g->path, l->name, key,
                           (long long)x, (long long)y);
    *a = (int)x, *b = (int)y;
    return FERRY_OK;
}

static double get_num(json_t *cfg, const char *key, double dflt)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static bool get_bool(json_t *cfg, const char *key, bool dflt)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static ferry_status get_int(const tf_graph *g, const tf_layer *l, json_t *cfg, const char *key, int lo, int *out)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > (1 << 24))
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': '%s' is missing or out of range", g->path, l->name, key);
    *out = (int)json_integer_value(v);
    return FERRY_OK;
}

static ferry_status get_act(const tf_graph *g, const tf_layer *l, json_t *cfg, enum act *out)
{
    json_t *v = json_object_get(cfg, "activation");
    *out = A_LINEAR;
    if (!v || json_is_null(v)) return FERRY_OK;
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(act_names[i].name, s) == 0) {
            *out = act_names[i].a;
            return FERRY_OK;
        }
    return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': activation '%s' is not supported", g->path, l->name,
                       s ? s : "(not a name)");
}

static ferry_status channels_last(const tf_graph *g, const tf_layer *l, json_t *cfg)
{
    const char *df = json_string_value(json_object_get(cfg, "data_format"));
    if (df && strcmp(df, "channels_last") != 0)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': data_format '%s' is not supported (channels_last only)",
                           g->path, l->name, df);
    return FERRY_OK;
}

static ferry_status get_padding(const tf_graph *g, const tf_layer *l, json_t *cfg, bool *same)
{
    const char *p = json_string_value(json_object_get(cfg, "padding"));
    if (!p || strcmp(p, "valid") == 0) *same = false;
    else if (strcmp(p, "same") == 0) *same = true;
    else return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': padding '%s' is not supported", g->path, l->name, p);
    return FERRY_OK;
}

/* A channel axis: 3 or -1 on a 4-D NHWC tensor (Ferry's axis 1), or 1 / -1 on [N, F]. */
static ferry_status get_channel_axis(const tf_graph *g, const tf_layer *l, json_t *cfg)
{
    json_t *v = json_object_get(cfg, "axis");
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    int a = json_is_integer(v) ? (int)json_integer_value(v) : -1;
    if (!v) a = -1;
    if (a != -1 && a != 3 && a != 1)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': axis %d is not supported (the channel axis only)",
                           g->path, l->name, a);
    return FERRY_OK;
}

static ferry_status parse_config(tf_graph *g, tf_layer *l, json_t *cfg)
{
    ferry_status s = FERRY_OK;
    l->trainable = get_bool(cfg, "trainable", true);
    switch (l->kind) {
    case K_INPUT: break;
    case K_CONV:
    case K_DWCONV:
    case K_SEPCONV:
        if ((s = channels_last(g, l, cfg)) || (s = get_pair(g, l, cfg, "kernel_size", 1, &l->kh, &l->kw)) ||
            (s = get_pair(g, l, cfg, "strides", 1, &l->sh, &l->sw)) ||
            (s = get_pair(g, l, cfg, "dilation_rate", 1, &l->dh, &l->dw)) || (s = get_padding(g, l, cfg, &l->same)) ||
            (s = get_act(g, l, cfg, &l->act)))
            return s;
        if ((int64_t)l->dh * (l->kh - 1) + 1 > 65536 || (int64_t)l->dw * (l->kw - 1) + 1 > 65536)
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': kernel %dx%d dilated %dx%d spans more than 65536 pixels",
                               g->path, l->name, l->kh, l->kw, l->dh, l->dw);
        l->bias = get_bool(cfg, "use_bias", true);
        if (l->kind != K_DWCONV && (s = get_int(g, l, cfg, "filters", 1, &l->filters))) return s;
        l->mult = 1;
        if (l->kind != K_CONV && json_object_get(cfg, "depth_multiplier") &&
            (s = get_int(g, l, cfg, "depth_multiplier", 1, &l->mult)))
            return s;
        if (l->kind == K_CONV && json_object_get(cfg, "groups") && (s = get_int(g, l, cfg, "groups", 1, &l->mult)))
            return s; /* Conv2D's groups, kept in mult */
        break;
    case K_BN:
        if ((s = get_channel_axis(g, l, cfg))) return s;
        l->eps = (float)get_num(cfg, "epsilon", 1e-3);
        l->momentum = (float)get_num(cfg, "momentum", 0.99);
        l->scale = get_bool(cfg, "scale", true);
        l->center = get_bool(cfg, "center", true);
        if (!(l->eps > 0) || !(l->momentum >= 0 && l->momentum <= 1))
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': epsilon %g / momentum %g out of range", g->path,
                               l->name, l->eps, l->momentum);
        break;
    case K_ACT: return get_act(g, l, cfg, &l->act);
    case K_RELU: {
        json_t *mv = json_object_get(cfg, "max_value");
        l->max_value = json_is_number(mv) ? (float)json_number_value(mv) : INFINITY;
        l->slope = (float)get_num(cfg, "negative_slope", 0);
        double th = get_num(cfg, "threshold", 0);
        if (th != 0 || !(l->max_value > 0) || !isfinite(l->slope))
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "%s: layer '%s': ReLU with threshold %g, max_value %g, negative_slope %g is not supported",
                               g->path, l->name, th, l->max_value, l->slope);
        break;
    }
    case K_ZEROPAD: {
        json_t *p = json_object_get(cfg, "padding");
        json_int_t v[4] = {1, 1, 1, 1};
        bool ok = true;
        if (json_is_integer(p)) {
            v[0] = v[1] = v[2] = v[3] = json_integer_value(p);
        } else if (json_is_array(p) && json_array_size(p) == 2) {
            for (int a = 0; a < 2; a++) {
                json_t *e = json_array_get(p, (size_t)a);
                if (json_is_integer(e)) {
                    v[2 * a] = v[2 * a + 1] = json_integer_value(e);
                } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_integer(json_array_get(e, 0)) &&
                           json_is_integer(json_array_get(e, 1))) {
                    v[2 * a] = json_integer_value(json_array_get(e, 0));
                    v[2 * a + 1] = json_integer_value(json_array_get(e, 1));
                } else {
                    ok = false;
                }
            }
        } else if (p) {
            ok = false;
        }
        for (int k = 0; k < 4; k++) ok = ok && v[k] >= 0 && v[k] <= 4096;
        if (!ok) return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': bad padding", g->path, l->name);
        for (int k = 0; k < 4; k++) l->pad[k] = (int)v[k];
        return channels_last(g, l, cfg);
    }
    case K_MAXPOOL:
    case K_AVGPOOL:
        if ((s = channels_last(g, l, cfg)) || (s = get_pair(g, l, cfg, "pool_size", 2, &l->kh, &l->kw)) ||
            (s = get_pair(g, l, cfg, "strides", 0, &l->sh, &l->sw)) || (s = get_padding(g, l, cfg, &l->same)))
            return s;
        if (l->sh == 0) { /* strides null: the pool size */
            l->sh = l->kh;
            l->sw = l->kw;
        }
        break;
    case K_GAP:
        l->keepdims = get_bool(cfg, "keepdims", false);
        return channels_last(g, l, cfg);
    case K_CONCAT: return get_channel_axis(g, l, cfg);
    case K_ADD:
    case K_MUL:
    case K_DROPOUT:
        l->rate = (float)get_num(cfg, "rate", 0);
        if (!(l->rate >= 0 && l->rate < 1))
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': dropout rate %g out of range", g->path, l->name, l->rate);
        break;
    case K_FLATTEN: return channels_last(g, l, cfg);
    case K_RESHAPE: {
        json_t *t = json_object_get(cfg, "target_shape");
        size_t nt = json_array_size(t);
        int unknown = 0;
        if (!json_is_array(t) || (nt != 1 && nt != 3))
            return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': target_shape must have 1 or 3 dimensions", g->path,
                               l->name);
        l->target_ndim = (int)nt;
        for (size_t k = 0; k < nt; k++) {
            json_t *e = json_array_get(t, k);
            l->target[k] = json_is_integer(e) ? json_integer_value(e) : 0;
            if (l->target[k] == -1) unknown++;
            else if (l->target[k] < 1 || l->target[k] > (1 << 30)) unknown = 2;
        }
        int64_t known = 1; /* each size is at most 2^30: the product of three overflowed */
        for (size_t k = 0; k < nt && unknown <= 1; k++)
            if (l->target[k] > 0 && (known *= l->target[k]) > ((int64_t)1 << 31)) unknown = 2;
        if (unknown > 1)
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': bad target_shape (sizes 1 to 2^30, -1 once, at most "
                               "2^31 elements)", g->path, l->name);
        break;
    }
    case K_DENSE:
        if ((s = get_int(g, l, cfg, "units", 1, &l->units)) || (s = get_act(g, l, cfg, &l->act))) return s;
        l->bias = get_bool(cfg, "use_bias", true);
        break;
    }
    return s;
}

/* inbound_nodes: [[ [name, node_index, tensor_index, kwargs], ... ]] (one call of the layer). */
static ferry_status parse_inbound(tf_graph *g, tf_layer *l, json_t *nodes, json_t *layers)
{
    if (!nodes || (json_is_array(nodes) && json_array_size(nodes) == 0)) return FERRY_OK;
    if (!json_is_array(nodes))
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': inbound_nodes is not a list", g->path, l->name);
    if (json_array_size(nodes) > 1)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s' is applied %zu times (shared layers are not supported)",
                           g->path, l->name, json_array_size(nodes));
    json_t *node = json_array_get(nodes, 0);
    size_t n = json_array_size(node);
    if (!json_is_array(node) || n == 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': inbound node is not a list of [layer, node, tensor]",
                           g->path, l->name);
    l->in = malloc(n * sizeof *l->in);
    if (!l->in) return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(node, k);
        const char *src = json_string_value(json_array_get(e, 0));
        json_t *ni = json_array_get(e, 1), *ti = json_array_get(e, 2);
        if (!json_is_array(e) || !src || !json_is_integer(ni) || !json_is_integer(ti))
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s': inbound node %zu is not [layer, node, tensor, ...]",
                               g->path, l->name, k);
        int i = -1;
        for (size_t j = 0; j < json_array_size(layers) && i < 0; j++) {
            const char *nj = json_string_value(json_object_get(json_array_get(layers, j), "name"));
            if (nj && strcmp(nj, src) == 0) i = (int)j;
        }
        if (i < 0)
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s' takes its input from '%s', which is not a layer of the model",
                               g->path, l->name, src);
        if (json_integer_value(ni) != 0 || json_integer_value(ti) != 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s': input '%s' node %lld tensor %lld (one call per layer "
                               "and one output per layer only)", g->path, l->name, src,
                               (long long)json_integer_value(ni), (long long)json_integer_value(ti));
        l->in[l->n_in++] = i;
    }
    return FERRY_OK;
}

static ferry_status parse_layers(tf_graph *g, json_t *root)
{
    json_t *topo = json_object_get(root, "modelTopology");
    if (!json_is_object(topo)) return ferry_error(FERRY_ERR_FORMAT, "%s: no modelTopology object", g->path);
    json_t *mc = json_object_get(topo, "model_config");
    if (!mc) mc = topo;
    const char *cls = json_string_value(json_object_get(mc, "class_name"));
    json_t *cfg = json_object_get(mc, "config");
    if (!cls || (strcmp(cls, "Model") != 0 && strcmp(cls, "Functional") != 0))
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: model class '%s' is not supported (a Keras functional Model only)",
                           g->path, cls ? cls : "(none)");
    json_t *layers = json_object_get(cfg, "layers");
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || n == 0) return ferry_error(FERRY_ERR_FORMAT, "%s: the model has no layers", g->path);
    if (n > 100000) return ferry_error(FERRY_ERR_FORMAT, "%s: %zu layers", g->path, n);
    g->n = (int)n;
    g->layers = calloc(n, sizeof *g->layers);
    if (!g->layers) return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    for (size_t i = 0; i < n; i++) {
        json_t *lj = json_array_get(layers, i);
        tf_layer *l = &g->layers[i];
        const char *name = json_string_value(json_object_get(lj, "name"));
        const char *lc = json_string_value(json_object_get(lj, "class_name"));
        if (!name || !*name || strlen(name) >= sizeof l->name || !lc)
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer %zu has no name or class_name", g->path, i);
        snprintf(l->name, sizeof l->name, "%s", name);
        if (find_layer(g, name) != (int)i)
            return ferry_error(FERRY_ERR_FORMAT, "%s: two layers are named '%s'", g->path, name);
        int k = 0;
        while (k < N_KINDS && strcmp(kind_names[k], lc) != 0) k++;
        if (k == N_KINDS)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s' has the unsupported type %s", g->path, name, lc);
        l->kind = (enum kind)k;
        json_t *lcfg = json_object_get(lj, "config"), *none = json_is_object(lcfg) ? NULL : json_object();
        ferry_status s = parse_config(g, l, none ? none : lcfg);
        json_decref(none);
        if (!s) s = parse_inbound(g, l, json_object_get(lj, "inbound_nodes"), layers);
        if (s) return s;
        if (!l->trainable) g->frozen++;
        int need = l->kind == K_INPUT ? 0 : (l->kind == K_CONCAT || l->kind == K_ADD || l->kind == K_MUL) ? -2 : 1;
        if ((need >= 0 && l->n_in != need) || (need == -2 && l->n_in < 2))
            return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s' (%s) has %d inputs", g->path, name, lc, l->n_in);
        if (l->kind == K_INPUT) {
            json_t *bis = json_object_get(lcfg, "batch_input_shape");
            if (json_array_size(bis) != 4)
                return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: input '%s' is not an image batch [N, H, W, C]", g->path, name);
            int64_t d[3];
            for (int a = 0; a < 3; a++) {
                json_t *e = json_array_get(bis, (size_t)a + 1);
                d[a] = json_is_integer(e) ? json_integer_value(e) : 0;
                if (d[a] < 0 || d[a] > 65536)
                    return ferry_error(FERRY_ERR_FORMAT, "%s: input '%s': bad batch_input_shape", g->path, name);
            }
            g->in_h = (int)d[0];
            g->in_w = (int)d[1];
            g->in_c = (int)d[2];
            if (g->in_c != 1 && g->in_c != 3)
                return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: input '%s' has %d channels (1 or 3 only)", g->path, name,
                                   g->in_c);
        }
    }
    /* One input and one output. */
    json_t *ins = json_object_get(cfg, "input_layers"), *outs = json_object_get(cfg, "output_layers");
    if (json_array_size(ins) != 1 || json_array_size(outs) != 1)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: the model must have one input and one output layer", g->path);
    const char *in_name = json_string_value(json_array_get(json_array_get(ins, 0), 0));
    const char *out_name = json_string_value(json_array_get(json_array_get(outs, 0), 0));
    g->input = in_name ? find_layer(g, in_name) : -1;
    g->output = out_name ? find_layer(g, out_name) : -1;
    if (g->input < 0 || g->layers[g->input].kind != K_INPUT)
        return ferry_error(FERRY_ERR_FORMAT, "%s: input layer '%s' is not an InputLayer of the model", g->path,
                           in_name ? in_name : "(none)");
    if (g->output < 0)
        return ferry_error(FERRY_ERR_FORMAT, "%s: output layer '%s' is not a layer of the model", g->path,
                           out_name ? out_name : "(none)");
    for (int i = 0; i < g->n; i++)
        if (g->layers[i].kind == K_INPUT && i != g->input)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: second input layer '%s'", g->path, g->layers[i].name);
    return FERRY_OK;
}

/* Kahn's algorithm; what cannot be ordered lies on a cycle. */
static ferry_status topo_sort(tf_graph *g)
{
    int *indeg = calloc((size_t)g->n, sizeof *indeg);
    g->order = malloc((size_t)g->n * sizeof *g->order);
    if (!indeg || !g->order) {
        free(indeg);
        return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    }
    for (int i = 0; i < g->n; i++) {
        indeg[i] = g->layers[i].n_in;
        for (int k = 0; k < g->layers[i].n_in; k++) g->layers[g->layers[i].in[k]].consumers++;
    }
    int head = 0, tail = 0;
    for (int i = 0; i < g->n; i++)
        if (indeg[i] == 0) g->order[tail++] = i;
    while (head < tail) {
        int u = g->order[head++];
        for (int i = 0; i < g->n; i++)
            for (int k = 0; k < g->layers[i].n_in; k++)
                if (g->layers[i].in[k] == u && --indeg[i] == 0) g->order[tail++] = i;
    }
    ferry_status s = FERRY_OK;
    if (tail < g->n) {
        int c = 0;
        while (indeg[c] == 0) c++;
        s = ferry_error(FERRY_ERR_FORMAT, "%s: the layers form a cycle through '%s' (%d layers cannot be ordered)",
                        g->path, g->layers[c].name, g->n - tail);
    }
    free(indeg);
    return s;
}

/* Spatial sizes at the declared input, to find average pools over a whole map (a global pool in
 * effect, which then stays global at any input size) and Flatten/Reshape of spatial maps (which fix
 * the input size). */
static void infer_sizes(tf_graph *g)
{
    for (int o = 0; o < g->n; o++) {
        tf_layer *l = &g->layers[g->order[o]];
        const int *in = l->n_in ? g->layers[l->in[0]].hw : NULL;
        for (int k = 1; k < l->n_in && in[0] < 1; k++) in = g->layers[l->in[k]].hw; /* a map, not [N, C] */
        int h = in ? in[0] : g->in_h, w = in ? in[1] : g->in_w;
        if (h > 0 && w > 0) switch (l->kind) {
            case K_CONV:
            case K_DWCONV:
            case K_SEPCONV:
            case K_MAXPOOL:
            case K_AVGPOOL: {
                bool pool = l->kind == K_MAXPOOL || l->kind == K_AVGPOOL;
                int eh = pool ? l->kh : l->dh * (l->kh - 1) + 1, ew = pool ? l->kw : l->dw * (l->kw - 1) + 1;
                if (l->kind == K_AVGPOOL && !l->same && l->kh == h && l->kw == w) l->whole_map = true;
                h = l->same ? (h + l->sh - 1) / l->sh : h >= eh ? (h - eh) / l->sh + 1 : 0;
                w = l->same ? (w + l->sw - 1) / l->sw : w >= ew ? (w - ew) / l->sw + 1 : 0;
                break;
            }
            case K_ZEROPAD:
                h += l->pad[0] + l->pad[1];
                w += l->pad[2] + l->pad[3];
                break;
            case K_GAP:
            case K_DENSE:
                h = w = l->kind == K_GAP && l->keepdims ? 1 : -1;
                break;
            case K_FLATTEN:
            case K_RESHAPE: /* of a spatial map: the next layers' sizes depend on the input's */
                if ((int64_t)h * w > 1) g->fixed = true;
                h = w = -1;
                break;
            default: break;
            }
        if (h == 0 || w == 0) h = w = 0;
        l->hw[0] = h;
        l->hw[1] = w;
    }
    /* A whole-map average pool is global only where a Flatten (or nothing spatial) follows it. */
    for (int i = 0; i < g->n; i++) {
        tf_layer *l = &g->layers[i];
        if (!l->whole_map) continue;
        bool flat = l->consumers > 0;
        for (int j = 0; j < g->n; j++)
            for (int k = 0; k < g->layers[j].n_in; k++)
                if (g->layers[j].in[k] == i && g->layers[j].kind != K_FLATTEN) flat = false;
        l->whole_map = flat;
    }
}

/* The head: the trailing chain of Dense / Dropout / Activation layers, each feeding only the next. */
static ferry_status find_head(tf_graph *g)
{
    g->head = malloc((size_t)g->n * sizeof *g->head);
    g->backbone = calloc((size_t)g->n, sizeof *g->backbone);
    if (!g->head || !g->backbone) return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    int u = g->output, n = 0, last_dense = -1;
    while (true) {
        tf_layer *l = &g->layers[u];
        bool chain = l->kind == K_DENSE || l->kind == K_DROPOUT || l->kind == K_ACT;
        if (!chain || (u != g->output && l->consumers != 1)) break;
        if (l->kind == K_DENSE && last_dense < 0) last_dense = u;
        g->head[n++] = u;
        u = l->in[0];
    }
    if (last_dense < 0)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: the model does not end in a Dense classifier (output '%s' is %s)",
                           g->path, g->layers[g->output].name, kind_names[g->layers[g->output].kind]);
    g->feature = u;
    g->classes = g->layers[last_dense].units;
    for (int a = 0, b = n - 1; a < b; a++, b--) { /* forward order */
        int t = g->head[a];
        g->head[a] = g->head[b];
        g->head[b] = t;
    }
    g->n_head = n;
    /* The backbone: everything the feature layer depends on. */
    int *stack = malloc((size_t)g->n * sizeof *stack), top = 0;
    if (!stack) return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    stack[top++] = g->feature;
    g->backbone[g->feature] = true;
    while (top) {
        tf_layer *l = &g->layers[stack[--top]];
        for (int k = 0; k < l->n_in; k++)
            if (!g->backbone[l->in[k]]) {
                g->backbone[l->in[k]] = true;
                stack[top++] = l->in[k];
            }
    }
    free(stack);
    if (!g->backbone[g->input])
        return ferry_error(FERRY_ERR_FORMAT, "%s: the features ('%s') do not depend on the input", g->path,
                           g->layers[g->feature].name);
    /* Head prefixes "name." */
    size_t len = 0;
    for (int k = 0; k < n; k++) len += strlen(g->layers[g->head[k]].name) + 2;
    g->prefix_buf = malloc(len + 1);
    g->head_prefixes = calloc((size_t)n + 1, sizeof *g->head_prefixes);
    if (!g->prefix_buf || !g->head_prefixes) return ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    char *p = g->prefix_buf;
    for (int k = 0; k < n; k++) {
        g->head_prefixes[k] = p;
        p += sprintf(p, "%s.", g->layers[g->head[k]].name) + 1;
    }
    return FERRY_OK;
}

/* ---- weights ---------------------------------------------------------------------------------- */

static void dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, n, ".");
    else snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

/* The shards of weightsManifest[0] (in `paths` order, concatenated) and its tensors (in manifest
 * order), each given to the layer its name says. */
static ferry_status read_weights(tf_graph *g, json_t *root, const char *const *sums)
{
    json_t *man = json_object_get(root, "weightsManifest");
    if (!json_is_array(man) || json_array_size(man) < 1)
        return ferry_error(FERRY_ERR_FORMAT, "%s: no weightsManifest", g->path);
    if (json_array_size(man) > 1)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: %zu weight groups (one only)", g->path, json_array_size(man));
    json_t *grp = json_array_get(man, 0), *paths = json_object_get(grp, "paths"), *ws = json_object_get(grp, "weights");
    size_t np = json_array_size(paths);
    if (!json_is_array(paths) || !json_is_array(ws) || np == 0 || np > 4096)
        return ferry_error(FERRY_ERR_FORMAT, "%s: weightsManifest[0] needs 'paths' and 'weights' lists", g->path);
    char dir[1024], file[2048];
    dir_of(g->path, dir, sizeof dir);
    uint8_t *buf = NULL;
    size_t total = 0;
    size_t *ends = calloc(np, sizeof *ends); /* end offset of each shard */
    ferry_status s = ends ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", g->path);
    for (size_t k = 0; !s && k < np; k++) {
        const char *p = json_string_value(json_array_get(paths, k));
        if (!p || !*p || strstr(p, "..") || p[0] == '/') {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: shard path %zu is not a file name next to model.json", g->path, k);
            break;
        }
        snprintf(file, sizeof file, "%s/%s", dir, p);
        if (sums && sums[k] && (s = ferry_verify_file(file, sums[k]))) break;
        void *d;
        size_t nb;
        if ((s = ferry_read_file(file, &d, &nb))) {
            s = ferry_error(s, "%s: weight shard %s: %s", g->path, file, ferry_last_error());
            break;
        }
        uint8_t *nbuf = realloc(buf, total + nb + 1);
        if (!nbuf) {
            free(d);
            s = ferry_error(FERRY_ERR_NOMEM, "out of memory reading %s", file);
            break;
        }
        buf = nbuf;
        memcpy(buf + total, d, nb);
        free(d);
        total += nb;
        ends[k] = total;
    }
    size_t off = 0;
    for (size_t t = 0; !s && t < json_array_size(ws); t++) {
        json_t *wj = json_array_get(ws, t);
        const char *name = json_string_value(json_object_get(wj, "name"));
        const char *dtype = json_string_value(json_object_get(wj, "dtype"));
        json_t *shape = json_object_get(wj, "shape"), *q = json_object_get(wj, "quantization");
        if (!name || !dtype || !json_is_array(shape)) {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: weight %zu needs a name, a dtype and a shape", g->path, t);
            break;
        }
        tf_weight w = {.ndim = (int)json_array_size(shape)};
        if (w.ndim > 4) {
            s = ferry_error(FERRY_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions", g->path, name, w.ndim);
            break;
        }
        int64_t numel = 1;
        for (int d = 0; d < w.ndim && !s; d++) {
            json_t *e = json_array_get(shape, (size_t)d);
            w.shape[d] = json_is_integer(e) ? json_integer_value(e) : -1;
            if (w.shape[d] < 0 || w.shape[d] > ((int64_t)1 << 31) || (numel *= w.shape[d]) > ((int64_t)1 << 31))
                s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': shape dimension %d (%s) is out of range (more "
                                "than 2^31 elements)", g->path, name, d, json_is_integer(e) ? "too large" : "not a count");
        }
        if (s) break;
        if (strcmp(dtype, "float32") != 0) {
            s = ferry_error(FERRY_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (float32 only)", g->path, name, dtype);
            break;
        }
        int qbytes = 4;
        double qmin = 0, qscale = 1;
        if (q && !json_is_null(q)) {
            const char *qd = json_string_value(json_object_get(q, "dtype"));
            qbytes = qd && strcmp(qd, "uint8") == 0 ? 1 : qd && strcmp(qd, "uint16") == 0 ? 2 : 0;
            json_t *mn = json_object_get(q, "min"), *sc = json_object_get(q, "scale");
            qmin = json_is_number(mn) ? json_number_value(mn) : NAN;
            qscale = json_is_number(sc) ? json_number_value(sc) : NAN;
            if (!qbytes) {
                s = ferry_error(FERRY_ERR_UNSUPPORTED, "%s: tensor '%s': quantization dtype %s (uint8 or uint16 only)",
                                g->path, name, qd ? qd : "(none)");
                break;
            }
            if (!isfinite(qmin) || !(qscale > 0) || !isfinite(qscale)) {
                s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s': quantization scale %g / min %g (a finite scale > 0 "
                                "and a finite min needed)", g->path, name, qscale, qmin);
                break;
            }
        }
        size_t nbytes = (size_t)numel * (size_t)qbytes;
        if (nbytes > total - off) {
            size_t k = 0; /* the shard the tensor starts in */
            while (k + 1 < np && ends[k] <= off) k++;
            s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s' needs bytes %zu..%zu of the weights (from shard %s on) but "
                            "the shards hold %zu: a shard is shorter than the manifest says", g->path, name, off,
                            off + nbytes, json_string_value(json_array_get(paths, k)), total);
            break;
        }
        /* "layer/slot" (a ":0" suffix and enclosing scopes ignored) */
        char lname[256], sname[64];
        const char *slash = strrchr(name, '/');
        if (!slash) {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s' is not named layer/weight", g->path, name);
            break;
        }
        snprintf(sname, sizeof sname, "%s", slash + 1);
        char *colon = strchr(sname, ':');
        if (colon) *colon = 0;
        const char *lb = slash;
        while (lb > name && lb[-1] != '/') lb--;
        snprintf(lname, sizeof lname, "%.*s", (int)(slash - lb), lb);
        int li = find_layer(g, lname), sl = 0;
        while (sl < N_SLOTS && strcmp(slot_names[sl], sname) != 0) sl++;
        if (li < 0 || sl == N_SLOTS) {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s' belongs to no weight of the model's layers", g->path, name);
            break;
        }
        tf_layer *l = &g->layers[li];
        if (l->has[sl]) {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s' appears twice", g->path, name);
            break;
        }
        w.data = malloc((size_t)(numel ? numel : 1) * sizeof(float));
        if (!w.data) {
            s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for tensor '%s'", g->path, name);
            break;
        }
        const uint8_t *src = buf + off;
        for (int64_t i = 0; i < numel; i++) {
            if (qbytes == 4) memcpy(&w.data[i], src + 4 * i, 4);
            else if (qbytes == 1) w.data[i] = (float)(qmin + qscale * src[i]);
            else w.data[i] = (float)(qmin + qscale * (double)(src[2 * i] | (src[2 * i + 1] << 8)));
        }
        off += nbytes;
        l->w[sl] = w;
        l->has[sl] = true;
    }
    if (!s && off != total)
        s = ferry_error(FERRY_ERR_FORMAT, "%s: the manifest's tensors add up to %zu bytes but the shards hold %zu", g->path,
                        off, total);
    free(buf);
    free(ends);
    return s;
}

/* ---- parameters: Keras layouts to Ferry's ------------------------------------------------------ */

static ferry_status put(ferry_model_t *m, const tf_graph *g, const char *layer, const char *leaf, int ndim,
                        const int64_t *shape, const float *v)
{
    char name[192];
    snprintf(name, sizeof name, "%s.%s", layer, leaf);
    int i = ferry_store_find(m->st, name);
    ferry_status s = FERRY_OK;
    if (i < 0) {
        if ((s = ferry_store_add(m->st, name, FERRY_F32, ndim, shape, true))) return s;
        i = ferry_store_find(m->st, name);
    } else {
        bool same = ferry_store_ndim(m->st, i) == ndim;
        for (int d = 0; same && d < ndim; d++) same = ferry_store_shape(m->st, i)[d] == shape[d];
        if (!same) return ferry_error(FERRY_ERR_SHAPE, "%s: the store already has '%s' in another shape", g->path, name);
    }
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return ferry_store_set(m->st, i, v, (size_t)n * sizeof *v);
}

static ferry_status need(const tf_graph *g, const tf_layer *l, int slot, int ndim, const int64_t *shape)
{
    const tf_weight *w = &l->w[slot];
    char want[80] = "", got[80] = "", *p = want;
    for (int d = 0; d < ndim; d++)
        p += snprintf(p, (size_t)(want + sizeof want - p), "%s%lld", d ? "x" : "", shape[d] < 0 ? 0LL : (long long)shape[d]);
    if (!l->has[slot])
        return ferry_error(FERRY_ERR_FORMAT, "%s: layer '%s' has no weight '%s/%s' (%s) in the manifest", g->path, l->name,
                           l->name, slot_names[slot], want);
    bool same = w->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] < 0 || w->shape[d] == shape[d];
    if (same) return FERRY_OK;
    p = got;
    for (int d = 0; d < w->ndim; d++)
        p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", d ? "x" : "", (long long)w->shape[d]);
    return ferry_error(FERRY_ERR_SHAPE, "%s: tensor '%s/%s' has shape %s, the layer needs %s", g->path, l->name,
                       slot_names[slot], got, want);
}

/* Conv kernel [kh, kw, cin, cout] -> [cout, cin, kh, kw]. */
static float *conv_kernel(const tf_weight *w)
{
    int64_t kh = w->shape[0], kw = w->shape[1], ci = w->shape[2], co = w->shape[3];
    float *r = malloc((size_t)(kh * kw * ci * co) * sizeof *r);
    if (!r) return NULL;
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t c = 0; c < ci; c++)
                for (int64_t o = 0; o < co; o++)
                    r[((o * ci + c) * kh + y) * kw + x] = w->data[((y * kw + x) * ci + c) * co + o];
    return r;
}

/* Depthwise kernel [kh, kw, cin, mult] -> [cin·mult, 1, kh, kw] (output channel c·mult + j). */
static float *depthwise_kernel(const tf_weight *w)
{
    int64_t kh = w->shape[0], kw = w->shape[1], ci = w->shape[2], mu = w->shape[3];
    float *r = malloc((size_t)(kh * kw * ci * mu) * sizeof *r);
    if (!r) return NULL;
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t c = 0; c < ci; c++)
                for (int64_t j = 0; j < mu; j++)
                    r[((c * mu + j) * kh + y) * kw + x] = w->data[((y * kw + x) * ci + c) * mu + j];
    return r;
}

/* Channels reaching each layer, followed through the graph (the weights' shapes are checked against
 * them), and every weight into the store. */
static ferry_status put_params(ferry_model_t *m, tf_graph *g)
{
    int *ch = calloc((size_t)g->n, sizeof *ch);
    if (!ch) return ferry_error(FERRY_ERR_NOMEM, "out of memory importing %s", g->path);
    ferry_status s = FERRY_OK;
    int last_dense = -1;
    for (int k = 0; k < g->n_head; k++)
        if (g->layers[g->head[k]].kind == K_DENSE) last_dense = g->head[k];
    for (int o = 0; o < g->n && !s; o++) {
        int li = g->order[o];
        tf_layer *l = &g->layers[li];
        int c = l->n_in ? ch[l->in[0]] : g->in_c;
        float *t = NULL;
        /* A weight the layer does not use. */
        for (int k = 0; k < N_SLOTS && !s; k++) {
            bool used = false;
            switch (l->kind) {
            case K_CONV: used = k == W_KERNEL || (k == W_BIAS && l->bias); break;
            case K_DWCONV: used = k == W_DEPTHWISE || (k == W_BIAS && l->bias); break;
            case K_SEPCONV: used = k == W_DEPTHWISE || k == W_POINTWISE || (k == W_BIAS && l->bias); break;
            case K_BN: used = k == W_MEAN || k == W_VAR || (k == W_GAMMA && l->scale) || (k == W_BETA && l->center); break;
            case K_DENSE: used = k == W_KERNEL || (k == W_BIAS && l->bias); break;
            default: break;
            }
            if (l->has[k] && !used)
                s = ferry_error(FERRY_ERR_FORMAT, "%s: tensor '%s/%s' is not a weight of layer '%s' (%s)", g->path,
                                l->name, slot_names[k], l->name, kind_names[l->kind]);
        }
        if (s) break;
        switch (l->kind) {
        case K_CONV: {
            int groups = l->mult;
            if (c % groups || l->filters % groups) {
                s = ferry_error(FERRY_ERR_SHAPE, "%s: layer '%s': %d channels and %d filters in %d groups", g->path,
                                l->name, c, l->filters, groups);
                break;
            }
            if ((s = need(g, l, W_KERNEL, 4, (int64_t[]){l->kh, l->kw, c / groups, l->filters}))) break;
            if (!(t = conv_kernel(&l->w[W_KERNEL]))) break;
            s = put(m, g, l->name, "weight", 4, (int64_t[]){l->filters, c / groups, l->kh, l->kw}, t);
            if (!s && l->bias && !(s = need(g, l, W_BIAS, 1, (int64_t[]){l->filters})))
                s = put(m, g, l->name, "bias", 1, (int64_t[]){l->filters}, l->w[W_BIAS].data);
            c = l->filters;
            break;
        }
        case K_DWCONV:
        case K_SEPCONV: {
            char dn[160];
            snprintf(dn, sizeof dn, l->kind == K_SEPCONV ? "%s.depthwise" : "%s", l->name);
            if ((s = need(g, l, W_DEPTHWISE, 4, (int64_t[]){l->kh, l->kw, c, l->mult}))) break;
            if (!(t = depthwise_kernel(&l->w[W_DEPTHWISE]))) break;
            s = put(m, g, dn, "weight", 4, (int64_t[]){(int64_t)c * l->mult, 1, l->kh, l->kw}, t);
            c *= l->mult;
            if (!s && l->kind == K_SEPCONV) {
                snprintf(dn, sizeof dn, "%s.pointwise", l->name);
                free(t);
                t = NULL;
                if ((s = need(g, l, W_POINTWISE, 4, (int64_t[]){1, 1, c, l->filters}))) break;
                if (!(t = conv_kernel(&l->w[W_POINTWISE]))) break;
                s = put(m, g, dn, "weight", 4, (int64_t[]){l->filters, c, 1, 1}, t);
                c = l->filters;
            }
            if (!s && l->bias && !(s = need(g, l, W_BIAS, 1, (int64_t[]){c})))
                s = put(m, g, dn, "bias", 1, (int64_t[]){c}, l->w[W_BIAS].data);
            break;
        }
        case K_BN: {
            static const struct {
                int slot;
                const char *leaf;
            } bn[] = {{W_GAMMA, "weight"}, {W_BETA, "bias"}, {W_MEAN, "running_mean"}, {W_VAR, "running_var"}};
            for (int k = 0; k < 4 && !s; k++) {
                if ((bn[k].slot == W_GAMMA && !l->scale) || (bn[k].slot == W_BETA && !l->center)) continue;
                if (!(s = need(g, l, bn[k].slot, 1, (int64_t[]){c})))
                    s = put(m, g, l->name, bn[k].leaf, 1, (int64_t[]){c}, l->w[bn[k].slot].data);
            }
            break;
        }
        case K_CONCAT:
            c = 0;
            for (int k = 0; k < l->n_in; k++) c += ch[l->in[k]];
            break;
        case K_DENSE: {
            /* The source classifier, unless the model has another class count: then it is drawn afresh. */
            if (li == last_dense && m->classes != g->classes) {
                c = m->classes;
                break;
            }
            /* The input size is known from the kernel; the walk checks it against the features. */
            if ((s = need(g, l, W_KERNEL, 2, (int64_t[]){-1, l->units}))) break;
            const tf_weight *w = &l->w[W_KERNEL];
            int64_t in = w->shape[0], out = w->shape[1];
            if (!(t = malloc((size_t)(in * out) * sizeof *t))) break;
            for (int64_t i = 0; i < in; i++)
                for (int64_t j = 0; j < out; j++) t[j * in + i] = w->data[i * out + j];
            s = put(m, g, l->name, "weight", 2, (int64_t[]){out, in}, t);
            if (!s && l->bias && !(s = need(g, l, W_BIAS, 1, (int64_t[]){out})))
                s = put(m, g, l->name, "bias", 1, (int64_t[]){out}, l->w[W_BIAS].data);
            c = l->units;
            break;
        }
        case K_FLATTEN:
        case K_RESHAPE: c = 0; break; /* not a channel count any more */
        default: break;
        }
        if (!s && !t && (l->kind == K_CONV || l->kind == K_DWCONV || l->kind == K_SEPCONV ||
                         (l->kind == K_DENSE && !(li == last_dense && m->classes != g->classes))))
            s = ferry_error(FERRY_ERR_NOMEM, "out of memory importing %s", g->path);
        free(t);
        ch[li] = c;
    }
    free(ch);
    return s;
}

/* ---- the forward walk --------------------------------------------------------------------------- */

static ferry_tensor_t *activation(ferry_mb *b, ferry_tensor_t *x, enum act a)
{
    if (!x) return NULL;
    switch (a) {
    case A_LINEAR: return x;
    case A_RELU: return ferry_relu(b->ctx, x);
    case A_RELU6: return ferry_relu6(b->ctx, x);
    case A_SIGMOID: return ferry_sigmoid(b->ctx, x);
    case A_TANH: return ferry_tanh(b->ctx, x);
    case A_SWISH: return ferry_silu(b->ctx, x);
    case A_HARD_SIGMOID: return ferry_hard_sigmoid(b->ctx, x);
    case A_SOFTPLUS: return ferry_softplus(b->ctx, x);
    case A_GELU: return ferry_gelu(b->ctx, x);
    case A_SOFTMAX:
        if (x->ndim != 2) {
            ferry_error(FERRY_ERR_UNSUPPORTED, "softmax over a %d-D tensor (over [N, F] only)", x->ndim);
            return NULL;
        }
        return ferry_softmax(b->ctx, x);
    }
    return NULL;
}

/* NCHW <-> NHWC (Keras' element order, for Flatten and Reshape). */
static ferry_tensor_t *to_nhwc(ferry_ctx_t *ctx, ferry_tensor_t *x)
{
    if (!x || x->ne[1] == 1 || x->ne[2] * x->ne[3] == 1) return x; /* the same order */
    return ferry_transpose(ctx, ferry_transpose(ctx, x, 1, 2), 2, 3);
}

static ferry_tensor_t *layer_forward(ferry_mb *b, const tf_graph *g, const tf_layer *l, ferry_tensor_t *const *in,
                                     bool last_dense)
{
    ferry_ctx_t *ctx = b->ctx;
    ferry_tensor_t *x = in[0];
    for (int k = 0; k < l->n_in; k++)
        if (!in[k]) return NULL;
    bool spatial = l->kind == K_CONV || l->kind == K_DWCONV || l->kind == K_SEPCONV || l->kind == K_ZEROPAD ||
                   l->kind == K_MAXPOOL || l->kind == K_AVGPOOL || l->kind == K_GAP;
    if (spatial && x->ndim != 4) {
        ferry_error(FERRY_ERR_SHAPE, "%s: layer '%s' (%s) needs an image batch, not a %d-D tensor", g->path, l->name,
                    kind_names[l->kind], x->ndim);
        return NULL;
    }
    switch (l->kind) {
    case K_INPUT: return x;
    case K_CONV:
    case K_DWCONV:
    case K_SEPCONV: {
        ferry_conv_params p = {.stride_h = l->sh, .stride_w = l->sw, .dilation_h = l->dh, .dilation_w = l->dw};
        if (l->same) {
            ferry_tf_same_pad((int)x->ne[2], l->kh, l->sh, l->dh, &p.pad_top, &p.pad_bottom);
            ferry_tf_same_pad((int)x->ne[3], l->kw, l->sw, l->dw, &p.pad_left, &p.pad_right);
        }
        char dn[160];
        ferry_tensor_t *y;
        if (l->kind == K_CONV) {
            p.groups = l->mult;
            y = ferry_mb_conv(b, l->name, x, l->filters, l->kh, l->kw, &p, l->bias);
        } else {
            int c = (int)x->ne[1];
            p.groups = c;
            snprintf(dn, sizeof dn, l->kind == K_SEPCONV ? "%s.depthwise" : "%s", l->name);
            y = ferry_mb_conv(b, dn, x, c * l->mult, l->kh, l->kw, &p, l->bias && l->kind == K_DWCONV);
            if (l->kind == K_SEPCONV) {
                snprintf(dn, sizeof dn, "%s.pointwise", l->name);
                y = ferry_mb_conv(b, dn, y, l->filters, 1, 1, NULL, l->bias);
            }
        }
        return activation(b, y, l->act);
    }
    case K_BN: return ferry_mb_bn_ex(b, l->name, x, l->eps, 1.0f - l->momentum, l->scale, l->center);
    case K_ACT: return activation(b, x, l->act);
    case K_RELU: {
        ferry_tensor_t *y = l->slope != 0 ? ferry_leaky_relu(ctx, x, l->slope) : ferry_relu(ctx, x);
        if (isinf(l->max_value)) return y;
        if (l->slope == 0 && l->max_value == 6.0f) return ferry_relu6(ctx, x);
        return l->slope == 0 ? ferry_clamp(ctx, x, 0.0f, l->max_value) : ferry_clamp(ctx, y, -INFINITY, l->max_value);
    }
    case K_ZEROPAD: {
        for (int a = 0; a < 2 && x; a++) { /* rows (axis 2), then columns (axis 3) */
            int before = l->pad[2 * a], after = l->pad[2 * a + 1];
            if (!before && !after) continue;
            ferry_tensor_t *parts[3];
            int n = 0;
            int64_t sh[4] = {x->ne[0], x->ne[1], x->ne[2], x->ne[3]};
            if (before) {
                sh[2 + a] = before;
                parts[n++] = ferry_constant(ctx, 0.0f, 4, sh);
            }
            parts[n++] = x;
            if (after) {
                sh[2 + a] = after;
                parts[n++] = ferry_constant(ctx, 0.0f, 4, sh);
            }
            x = ferry_concat(ctx, 2 + a, n, parts);
        }
        return x;
    }
    case K_MAXPOOL:
    case K_AVGPOOL: {
        if (l->whole_map) { /* the declared network averages its whole map here: at any size */
            ferry_tensor_t *y = ferry_global_avg_pool(ctx, x);
            return y ? ferry_reshape(ctx, y, 4, (int64_t[]){y->ne[0], y->ne[1], 1, 1}) : NULL;
        }
        ferry_pool_params p = {.kh = l->kh, .kw = l->kw, .stride_h = l->sh, .stride_w = l->sw};
        if (l->same) {
            ferry_tf_same_pad((int)x->ne[2], l->kh, l->sh, 1, &p.pad_top, &p.pad_bottom);
            ferry_tf_same_pad((int)x->ne[3], l->kw, l->sw, 1, &p.pad_left, &p.pad_right);
        }
        return ferry_pool2d_ex(ctx, x, l->kind == K_MAXPOOL ? FERRY_POOL_MAX : FERRY_POOL_AVG, &p);
    }
    case K_GAP: {
        ferry_tensor_t *y = ferry_global_avg_pool(ctx, x);
        return y && l->keepdims ? ferry_reshape(ctx, y, 4, (int64_t[]){y->ne[0], y->ne[1], 1, 1}) : y;
    }
    case K_CONCAT: {
        ferry_tensor_t *y = in[0];
        for (int k = 1; k < l->n_in && y; k += 5) { /* at most 6 at a time */
            ferry_tensor_t *parts[6] = {y};
            int n = 1;
            for (int j = k; j < l->n_in && n < 6; j++) parts[n++] = in[j];
            y = ferry_concat(ctx, 1, n, parts);
        }
        return y;
    }
    case K_ADD:
    case K_MUL: {
        ferry_tensor_t *y = in[0];
        for (int k = 1; k < l->n_in && y; k++) y = l->kind == K_ADD ? ferry_add(ctx, y, in[k]) : ferry_mul(ctx, y, in[k]);
        return y;
    }
    case K_FLATTEN: return x->ndim == 2 ? x : ferry_flatten(ctx, x->ndim == 4 ? to_nhwc(ctx, x) : x);
    case K_RESHAPE: {
        ferry_tensor_t *v = x->ndim == 4 ? to_nhwc(ctx, x) : x;
        if (!v) return NULL;
        int64_t n = 1, per = 1, sh[4] = {x->ne[0]};
        for (int d = 1; d < x->ndim; d++) n *= x->ne[d];
        for (int d = 0; d < l->target_ndim; d++) per *= l->target[d] > 0 ? l->target[d] : 1;
        for (int d = 0; d < l->target_ndim; d++) sh[1 + d] = l->target[d] > 0 ? l->target[d] : n / per;
        ferry_tensor_t *y = ferry_reshape(ctx, v, 1 + l->target_ndim, sh);
        if (!y || l->target_ndim == 1 || sh[3] == 1 || sh[1] * sh[2] == 1) {
            /* [N, H, W, C] -> [N, C, H, W] is a relabelling when C = 1 or H·W = 1 */
            return y && l->target_ndim == 3 ? ferry_reshape(ctx, y, 4, (int64_t[]){sh[0], sh[3], sh[1], sh[2]}) : y;
        }
        return ferry_transpose(ctx, ferry_transpose(ctx, y, 2, 3), 1, 2);
    }
    case K_DENSE: {
        if (x->ndim != 2) {
            ferry_error(FERRY_ERR_SHAPE, "%s: layer '%s' (Dense) on a %d-D tensor (a Flatten first)", g->path, l->name,
                        x->ndim);
            return NULL;
        }
        int units = last_dense ? b->m->classes : l->units;
        /* the classifier drawn afresh has features x classes weights; nothing in the file bounds them */
        if (x->ne[1] > ((int64_t)1 << 27) / units) {
            ferry_error(FERRY_ERR_UNSUPPORTED, "%s: layer '%s' (Dense) on %lld features would have %lld x %d weights "
                        "(more than 2^27)", g->path, l->name, (long long)x->ne[1], (long long)x->ne[1], units);
            return NULL;
        }
        ferry_tensor_t *y = ferry_mb_linear(b, l->name, x, units, l->bias);
        return last_dense && l->act == A_SOFTMAX ? y : activation(b, y, l->act); /* logits: no softmax */
    }
    case K_DROPOUT: return ferry_mb_dropout(b, x, l->rate);
    }
    return NULL;
}

static ferry_tensor_t *forward_error(const tf_graph *g, const tf_layer *l)
{
    const char *why = ferry_last_error();
    if (!why || !strstr(why, g->path))
        ferry_error(FERRY_ERR_SHAPE, "%s: layer '%s' (%s): %s", g->path, l->name, kind_names[l->kind],
                    why && *why ? why : "failed");
    return NULL;
}

static ferry_tensor_t *tf_features(ferry_mb *b, ferry_tensor_t *x)
{
    tf_graph *g = b->m->impl;
    ferry_tensor_t **out = calloc((size_t)g->n, sizeof *out), *f = NULL;
    if (!out) {
        ferry_error(FERRY_ERR_NOMEM, "out of memory building %s", g->path);
        return NULL;
    }
    out[g->input] = x;
    bool ok = x != NULL;
    for (int o = 0; o < g->n && ok; o++) {
        int i = g->order[o];
        const tf_layer *l = &g->layers[i];
        if (!g->backbone[i] || i == g->input) continue;
        ferry_tensor_t *in[64], **ins = l->n_in <= 64 ? in : malloc((size_t)l->n_in * sizeof *ins);
        if (!ins) break;
        for (int k = 0; k < l->n_in; k++) ins[k] = out[l->in[k]];
        out[i] = layer_forward(b, g, l, ins, false);
        if (ins != in) free(ins);
        if (!out[i]) ok = forward_error(g, l) != NULL;
    }
    if (ok) f = out[g->feature];
    if (f && f->ndim != 2) {
        ferry_error(FERRY_ERR_SHAPE, "%s: the head's input '%s' is %d-D, not [N, F]", g->path,
                    g->layers[g->feature].name, f->ndim);
        f = NULL;
    }
    free(out);
    return f;
}

static ferry_tensor_t *tf_classifier(ferry_mb *b, ferry_tensor_t *f)
{
    tf_graph *g = b->m->impl;
    int last = -1;
    for (int k = 0; k < g->n_head; k++)
        if (g->layers[g->head[k]].kind == K_DENSE) last = k;
    for (int k = 0; k < g->n_head && f; k++) {
        const tf_layer *l = &g->layers[g->head[k]];
        if (k > last && l->kind == K_ACT && l->act == A_SOFTMAX) continue; /* logits: no softmax */
        f = layer_forward(b, g, l, &f, k == last);
        if (!f) return forward_error(g, l);
    }
    return f;
}

/* ---- setup --------------------------------------------------------------------------------------- */

/* Reads path (checking model.json and the shards against sums when given: model.json first, then one
 * per shard) into a graph and the model's store. */
static ferry_status import(ferry_model_t *m, const char *path, const char *const *sums)
{
    tf_graph *g = calloc(1, sizeof *g);
    if (!g) return ferry_error(FERRY_ERR_NOMEM, "out of memory importing %s", path);
    if (snprintf(g->path, sizeof g->path, "%s", path) >= (int)sizeof g->path) {
        free(g);
        return ferry_error(FERRY_ERR_INVALID, "model path '%.64s...' is too long", path);
    }
    m->impl = g;
    m->impl_free = graph_free;
    ferry_status s = sums ? ferry_verify_file(path, sums[0]) : FERRY_OK;
    json_error_t err;
    json_t *root = s ? NULL : json_load_file(path, 0, &err);
    if (!s && !root) {
        FILE *f = fopen(path, "rb");
        if (!f) return ferry_error(FERRY_ERR_NOT_FOUND, "%s: cannot open the model", path);
        fclose(f);
        return ferry_error(FERRY_ERR_FORMAT, "%s:%d:%d: not JSON: %s", path, err.line, err.column, err.text);
    }
    if (!s) s = parse_layers(g, root);
    if (!s) s = topo_sort(g);
    if (!s) {
        infer_sizes(g);
        s = find_head(g);
    }
    if (!s) s = read_weights(g, root, sums ? sums + 1 : NULL);
    json_decref(root);
    if (s) return s;
    /* The input: the declared one unless another size is asked for (where the network allows it). */
    m->in_c = m->pre.channels = g->in_c;
    if (g->in_c == 1) m->pre.summary = "grey in [0,1]";
    if (!m->opts.input_size && g->in_h && g->in_w) {
        m->in_h = g->in_h;
        m->in_w = g->in_w;
    }
    if (g->fixed && (m->in_h != g->in_h || m->in_w != g->in_w))
        return ferry_error(FERRY_ERR_INVALID, "%s takes %dx%d input only, not %dx%d (a Flatten or Reshape of a "
                           "feature map fixes the size)", m->arch, g->in_h, g->in_w, m->in_h, m->in_w);
    if ((s = put_params(m, g))) return s;
    drop_weights(g);
    m->features = tf_features;
    m->classifier = tf_classifier;
    m->head_prefixes = g->head_prefixes;
    return FERRY_OK;
}

/* A user's model: arch "tfjs:PATH/model.json". No checksum; RGB (or grey) in [0,1]. */
static ferry_status tfjs_file_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    return import(m, m->arch + strlen(FERRY_TFJS_PREFIX), NULL);
}

const ferry_arch_def ferry_arch_tfjs_file = {
    .info = {.name = FERRY_TFJS_PREFIX "PATH/model.json",
             .summary = "a TensorFlow.js layers model (Keras functional network): model.json + weight shards",
             .source = "a file", .min_size = 1, .imported = true,
             .pre = {.mean = {0, 0, 0}, .std = {1, 1, 1}, .summary = "RGB in [0,1]"}},
    .setup = tfjs_file_setup,
};

bool ferry_tfjs_arch_name(const char *arch)
{
    return arch && strncmp(arch, FERRY_TFJS_PREFIX, strlen(FERRY_TFJS_PREFIX)) == 0 && arch[strlen(FERRY_TFJS_PREFIX)];
}

/* ---- the models of npm nsfwjs 4.4.0 (scripts/fetch-models.sh puts them in the cache) ------------- */

/* model.json, then the shards in manifest order (the same checksums as scripts/fetch-models.sh). */
static const char *const inception_sums[] = {
    "1861ed271e2c08bfbb62c638b5914b91cb776842b47a3f0491b7152685b9edd6",
    "7a3a4c075cfcaa7f0b095f55b2ba54a288c2f770e504c8537394efda9545994b",
    "8826da12bda0db9415aef0e6a8d1f178a0d950deab28c4e79b9da994748702a4",
    "4557a96cf87ceb8df6c9647b647ac9843251a4455457cb40f35c02250a63e51c",
    "399b99397ccd64351b59f04cdabe30000a15494c82f75c1e2ccb41c9b6338b7d",
    "994515b0f73407d71740301e9877511b086609dbdc7ead1b31bcb82b3397ae74",
    "cfb856c9d8fcefacca87b6063ed4949adf69f0372407d6edca8cec0c1694a28b",
    NULL,
};
static const char *const mobilenet_sums[] = {
    "0162c427f84b06ff17764ade0090c88a0192434f35722128ae7cb5819712d4f1",
    "8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13",
    NULL,
};

static ferry_status nsfwjs_setup(ferry_model_t *m, const char *name, const char *const *sums)
{
    char dir[1024], path[1200];
    ferry_status s = ferry_data_dir(dir, sizeof dir);
    if (s) return s;
    snprintf(path, sizeof path, "%s/models/nsfwjs/%s/model.json", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ferry_error(FERRY_ERR_NOT_FOUND, "%s: %s is not in the cache: run scripts/fetch-data.sh (or "
                           "scripts/fetch-models.sh nsfwjs)", m->arch, path);
    fclose(f);
    return import(m, path, sums);
}

static ferry_status inception_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    return nsfwjs_setup(m, "inception_v3", inception_sums);
}

static ferry_status mobilenet_setup(ferry_model_t *m, const ferry_model_opts *o)
{
    (void)o;
    return nsfwjs_setup(m, "mobilenet_v2", mobilenet_sums);
}

#define NSFWJS_CLASSES "5 classes: drawing, hentai, neutral, porn, sexy"

const ferry_arch_def ferry_arch_inception_v3_nsfwjs = {
    .info = {.name = "inception_v3@nsfwjs",
             .summary = "keras.applications InceptionV3 fine-tuned by nsfw_model, head 2048-256-128-5 (" NSFWJS_CLASSES
                        "; the first 167 of 318 layers, to activation_55 inside mixed6, marked trainable: false)",
             .source = "npm:nsfwjs@4.4.0", .default_classes = 5, .default_size = 299, .min_size = 75, .imported = true,
             .pre = {.channels = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}, .summary = "RGB in [0,1]"}},
    .setup = inception_setup,
};

const ferry_arch_def ferry_arch_mobilenet_v2_nsfwjs = {
    .info = {.name = "mobilenet_v2@nsfwjs",
             .summary = "keras.applications MobileNetV2 (width 1.0) fine-tuned by nsfw_model, head 1280-256-128-5 ("
                        NSFWJS_CLASSES "; the first 98 of 162 layers, through block_10, marked trainable: false)",
             .source = "npm:nsfwjs@4.4.0", .default_classes = 5, .default_size = 224, .min_size = 32, .imported = true,
             .pre = {.channels = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}, .summary = "RGB in [0,1]"}},
    .setup = mobilenet_setup,
};
