/* Layers: parameter creation with PyTorch's default initialisation, and their forward ops. */
#include "internal.h"
#include "ferry/nn.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct ferry_rng {
    gsl_rng *r;
};

ferry_status ferry_rng_init(uint64_t seed, ferry_rng_t **out)
{
    ferry_rng_t *r = calloc(1, sizeof *r);
    if (r) r->r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r || !r->r) {
        free(r);
        return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a random number generator");
    }
    gsl_rng_set(r->r, (unsigned long)seed);
    *out = r;
    return FERRY_OK;
}

void ferry_rng_free(ferry_rng_t *r)
{
    if (!r) return;
    gsl_rng_free(r->r);
    free(r);
}

double ferry_rng_uniform(ferry_rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * gsl_rng_uniform(r->r);
}

uint32_t ferry_rng_u32(ferry_rng_t *r) { return (uint32_t)gsl_rng_get(r->r); }

/* ---- helpers ------------------------------------------------------------------------------------ */

static void pname(char *out, size_t n, const char *prefix, const char *leaf)
{
    snprintf(out, n, "%s.%s", prefix, leaf);
}

static ferry_status add_filled(ferry_store_t *st, const char *name, int ndim, const int64_t *shape,
                               bool trainable, ferry_rng_t *rng, double bound, double fill)
{
    ferry_status s = ferry_store_add(st, name, FERRY_F32, ndim, shape, trainable);
    if (s) return s;
    int i = ferry_store_find(st, name);
    int64_t n = ferry_store_numel(st, i);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return ferry_error(FERRY_ERR_NOMEM, "out of memory initialising '%s'", name);
    for (int64_t k = 0; k < n; k++)
        v[k] = rng ? (float)ferry_rng_uniform(rng, -bound, bound) : (float)fill;
    s = ferry_store_set(st, i, v, (size_t)n * sizeof *v);
    free(v);
    return s;
}

static ferry_status weight_and_bias(ferry_store_t *st, const char *prefix, int ndim,
                                    const int64_t *shape, int64_t fan_in, bool bias, ferry_rng_t *rng)
{
    char name[160];
    double bound = 1.0 / sqrt((double)fan_in);
    pname(name, sizeof name, prefix, "weight");
    ferry_status s = add_filled(st, name, ndim, shape, true, rng, bound, 0);
    if (s || !bias) return s;
    pname(name, sizeof name, prefix, "bias");
    return add_filled(st, name, 1, shape, true, rng, bound, 0);
}

static ferry_tensor_t *param(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                             const char *leaf)
{
    char name[160];
    pname(name, sizeof name, prefix, leaf);
    return ferry_param(ctx, st, name);
}

static bool has_param(ferry_store_t *st, const char *prefix, const char *leaf)
{
    char name[160];
    pname(name, sizeof name, prefix, leaf);
    return ferry_store_find(st, name) >= 0;
}

/* ---- layers ------------------------------------------------------------------------------------- */

ferry_status ferry_nn_linear_init(ferry_store_t *st, const char *prefix, int64_t in, int64_t out,
                                  bool bias, ferry_rng_t *rng)
{
    return weight_and_bias(st, prefix, 2, (int64_t[]){out, in}, in, bias, rng);
}

ferry_tensor_t *ferry_nn_linear(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                ferry_tensor_t *x)
{
    ferry_tensor_t *y = ferry_matmul(ctx, x, param(ctx, st, prefix, "weight"), false, true);
    if (has_param(st, prefix, "bias")) y = ferry_add_bias(ctx, y, param(ctx, st, prefix, "bias"));
    return y;
}

ferry_status ferry_nn_conv2d_init(ferry_store_t *st, const char *prefix, int64_t in, int64_t out,
                                  int k, bool bias, ferry_rng_t *rng)
{
    return weight_and_bias(st, prefix, 4, (int64_t[]){out, in, k, k}, in * k * k, bias, rng);
}

ferry_tensor_t *ferry_nn_conv2d(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                ferry_tensor_t *x, int stride, int pad)
{
    ferry_tensor_t *y = ferry_conv2d(ctx, x, param(ctx, st, prefix, "weight"), stride, pad);
    if (has_param(st, prefix, "bias")) y = ferry_add_bias(ctx, y, param(ctx, st, prefix, "bias"));
    return y;
}

ferry_status ferry_nn_batch_norm_init(ferry_store_t *st, const char *prefix, int64_t channels)
{
    static const struct { const char *leaf; bool trainable; double fill; } parts[] = {
        {"weight", true, 1.0}, {"bias", true, 0.0}, {"running_mean", false, 0.0},
        {"running_var", false, 1.0}};
    char name[160];
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        pname(name, sizeof name, prefix, parts[i].leaf);
        ferry_status s = add_filled(st, name, 1, &channels, parts[i].trainable, NULL, 0, parts[i].fill);
        if (s) return s;
    }
    return FERRY_OK;
}

ferry_tensor_t *ferry_nn_batch_norm(ferry_ctx_t *ctx, ferry_store_t *st, const char *prefix,
                                    ferry_tensor_t *x, bool train)
{
    return ferry_batch_norm(ctx, x, param(ctx, st, prefix, "weight"), param(ctx, st, prefix, "bias"),
                            param(ctx, st, prefix, "running_mean"),
                            param(ctx, st, prefix, "running_var"), train, 0.1f, 1e-5f);
}
