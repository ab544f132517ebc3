/* Cross-backend comparison harness (see vk_compare.h). */
#include "vk_compare.h"
#include "vk_backend_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ferry_backend_t *vkc_vulkan_backend(void) { return vk_test_backend(); }

void vkc_assert_no_validation(const ferry_backend_t *be)
{
    ferry_backend_stats st;
    ferry_backend_get_stats(be, &st);
    cr_assert_eq(st.validation_messages, 0, "%llu Vulkan validation message(s) (printed above)",
                 (unsigned long long)st.validation_messages);
}

void vkc_fill(float *v, int64_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t k = 0; k < n; k++) {
        s = s * 1664525u + 1013904223u;
        float u = 0.1f + 0.9f * (float)(s >> 8) / 16777216.0f;
        v[k] = (s & 1) ? u : -u;
    }
}

double vkc_nmse(const float *x, const float *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t k = 0; k < n; k++) {
        double e = (double)x[k] - (double)ref[k];
        num += e * e;
        den += (double)ref[k] * (double)ref[k];
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

static int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* Reads t as floats (I32 values converted). */
static float *get_floats(ferry_graph_t *g, const ferry_tensor_t *t)
{
    const int64_t n = ferry_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    cr_assert_not_null(v);
    cr_assert_eq(ferry_tensor_get(g, t, v, (size_t)n * sizeof *v), FERRY_OK, "get: %s", ferry_last_error());
    if (ferry_tensor_dtype(t) == FERRY_I32) {
        for (int64_t k = 0; k < n; k++) {
            int32_t i;
            memcpy(&i, &v[k], sizeof i);
            v[k] = (float)i;
        }
    }
    return v;
}

void vkc_run(const struct vkc_case *c, bool vulkan, int computes, struct vkc_result *r)
{
    memset(r, 0, sizeof *r);
    cr_assert(c->np >= 0 && c->np <= VKC_MAXP, "%s: %d parameters", c->name, c->np);
    ferry_backend_t *be = NULL;
    if (vulkan) be = vkc_vulkan_backend();
    else cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK, "%s", ferry_last_error());
    ferry_store_t *st = NULL;
    ferry_ctx_t *ctx = NULL;
    ferry_graph_t *g = NULL;
    ferry_tensor_t *p[VKC_MAXP] = {0}, *aux[VKC_MAXAUX] = {0};
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);

    for (int i = 0; i < c->np; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        const bool trainable = !(c->frozen & (1u << i));
        cr_assert_eq(ferry_store_add(st, name, FERRY_F32, c->ndim[i], c->shape[i], trainable), FERRY_OK, "%s: %s",
                     c->name, ferry_last_error());
        const int64_t n = shape_numel(c->ndim[i], c->shape[i]);
        r->pn[i] = n;
        float *v = malloc((size_t)n * sizeof *v);
        cr_assert_not_null(v);
        vkc_fill(v, n, c->seed * 31u + 17u + (uint32_t)i);
        if (!trainable) /* state such as running variances: keep it positive */
            for (int64_t k = 0; k < n; k++) v[k] = v[k] < 0 ? -v[k] : v[k];
        if (c->init) c->init(i, v, n);
        cr_assert_eq(ferry_store_set(st, i, v, (size_t)n * sizeof *v), FERRY_OK);
        free(v);
        p[i] = ferry_param(ctx, st, name);
        cr_assert_not_null(p[i], "%s: %s", c->name, ferry_last_error());
    }

    ferry_tensor_t *out = c->build(ctx, p, aux);
    cr_assert_not_null(out, "%s: build: %s", c->name, ferry_last_error());
    ferry_tensor_set_output(out);
    r->out_n = ferry_tensor_numel(out);
    r->out_ndim = ferry_tensor_ndim(out);
    for (int d = 0; d < r->out_ndim && d < 4; d++) r->out_shape[d] = ferry_tensor_dim(out, d);

    ferry_tensor_t *rin = NULL, *grads[VKC_MAXP] = {0};
    if (!c->no_grad) {
        rin = ferry_input(ctx, "vkc.R", FERRY_F32, r->out_ndim, r->out_shape);
        ferry_tensor_t *loss = ferry_sum(ctx, ferry_mul(ctx, out, rin));
        cr_assert_not_null(loss, "%s: loss: %s", c->name, ferry_last_error());
        ferry_tensor_set_output(loss);
        cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s: backward: %s", c->name, ferry_last_error());
        for (int i = 0; i < c->np; i++) {
            if (c->frozen & (1u << i)) continue;
            grads[i] = ferry_grad(ctx, p[i]);
            cr_assert_not_null(grads[i], "%s: no gradient for p%d", c->name, i);
            ferry_tensor_set_output(grads[i]);
        }
    }
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s: graph: %s", c->name, ferry_last_error());

    if (rin) {
        float *rv = malloc((size_t)r->out_n * sizeof *rv);
        cr_assert_not_null(rv);
        vkc_fill(rv, r->out_n, c->seed * 31u + 99u);
        cr_assert_eq(ferry_tensor_set(g, rin, rv, (size_t)r->out_n * sizeof *rv), FERRY_OK);
        free(rv);
    }
    for (int a = 0; a < VKC_MAXAUX; a++) {
        ferry_tensor_t *t = aux[a];
        if (!t || !ferry_graph_uses(g, t)) continue;
        const int64_t n = ferry_tensor_numel(t);
        if (ferry_tensor_dtype(t) == FERRY_I32) {
            int32_t *v = malloc((size_t)n * sizeof *v);
            cr_assert_not_null(v);
            const int classes = c->classes > 0 ? c->classes : 10;
            const char *tn = ferry_tensor_name(t);
            const bool is_seed = tn && strstr(tn, "seed");
            for (int64_t k = 0; k < n; k++)
                v[k] = is_seed ? (c->seed_value ? c->seed_value : 12345) : (int32_t)((k * 7) % classes);
            cr_assert_eq(ferry_tensor_set(g, t, v, (size_t)n * sizeof *v), FERRY_OK);
            free(v);
        } else {
            float *v = malloc((size_t)n * sizeof *v);
            cr_assert_not_null(v);
            vkc_fill(v, n, c->seed * 31u + 200u + (uint32_t)a);
            cr_assert_eq(ferry_tensor_set(g, t, v, (size_t)n * sizeof *v), FERRY_OK);
            free(v);
        }
    }

    for (int k = 0; k < (computes > 0 ? computes : 1); k++)
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s: compute: %s", c->name, ferry_last_error());

    r->out = get_floats(g, out);
    for (int i = 0; i < c->np; i++) {
        if (grads[i]) r->grad[i] = get_floats(g, grads[i]);
        r->after[i] = malloc((size_t)r->pn[i] * sizeof(float));
        cr_assert_not_null(r->after[i]);
        cr_assert_eq(ferry_store_get(st, i, r->after[i], (size_t)r->pn[i] * sizeof(float)), FERRY_OK);
    }
    if (vulkan) vkc_assert_no_validation(be);

    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_store_free(st);
    ferry_backend_free(be);
}

void vkc_result_free(struct vkc_result *r)
{
    free(r->out);
    for (int i = 0; i < VKC_MAXP; i++) {
        free(r->grad[i]);
        free(r->after[i]);
    }
    memset(r, 0, sizeof *r);
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t at = 0;
    at += (size_t)snprintf(buf + at, len - at, "[");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

static bool check(const struct vkc_case *c, const char *what, int idx, const int64_t *shape, int ndim,
                  const float *vk, const float *cpu, int64_t n)
{
    const double e = vkc_nmse(vk, cpu, n);
    char sh[96];
    shape_str(sh, sizeof sh, ndim, shape);
    bool ok;
    if (c->tol > 0) {
        ok = e <= c->tol;
    } else {
        ok = memcmp(vk, cpu, (size_t)n * sizeof *vk) == 0;
    }
    char label[32];
    if (idx >= 0) snprintf(label, sizeof label, "%s p%d", what, idx);
    else snprintf(label, sizeof label, "%s", what);
    cr_expect(ok, "%s: %s %s: normalised MSE %.3g (tolerance %.1g%s)", c->name, label, sh, e, c->tol,
              c->tol > 0 ? "" : ", bit-exact");
    return ok;
}

bool vkc_compare(const struct vkc_case *c)
{
    struct vkc_result a, b;
    vkc_run(c, true, 1, &b); /* first: skips at once without Vulkan */
    vkc_run(c, false, 1, &a);
    cr_assert_eq(a.out_n, b.out_n, "%s: output sizes differ", c->name);
    bool ok = check(c, "output", -1, a.out_shape, a.out_ndim, b.out, a.out, a.out_n);
    for (int i = 0; i < c->np; i++) {
        if (a.grad[i]) {
            cr_assert_not_null(b.grad[i]);
            ok &= check(c, "gradient of", i, c->shape[i], c->ndim[i], b.grad[i], a.grad[i], a.pn[i]);
        }
        if (c->frozen & (1u << i))
            ok &= check(c, "after the step,", i, c->shape[i], c->ndim[i], b.after[i], a.after[i], a.pn[i]);
    }
    vkc_result_free(&a);
    vkc_result_free(&b);
    return ok;
}

/* ---- optimizer updates ---------------------------------------------------------------------------- */

enum { OPT_IN = 23, OPT_HID = 16, OPT_OUT = 9, OPT_N = 11 };

/* Trains the MLP for `steps` steps; returns every store entry concatenated (*n_out floats). */
static float *optim_run(const ferry_optim_config *oc, int steps, bool vulkan, int64_t *n_out)
{
    ferry_backend_t *be = NULL;
    if (vulkan) be = vkc_vulkan_backend();
    else cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_store_t *st;
    ferry_ctx_t *ctx;
    ferry_rng_t *rng;
    ferry_optim_t *opt;
    ferry_graph_t *g;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(5, &rng), FERRY_OK);
    cr_assert_eq(ferry_nn_linear_init(st, "fc1", OPT_IN, OPT_HID, true, rng), FERRY_OK);
    cr_assert_eq(ferry_nn_linear_init(st, "fc2", OPT_HID, OPT_OUT, true, rng), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *xin = ferry_input(ctx, "x", FERRY_F32, 2, (int64_t[]){OPT_N, OPT_IN});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){OPT_N});
    ferry_tensor_t *h = ferry_relu(ctx, ferry_nn_linear(ctx, st, "fc1", xin));
    ferry_tensor_t *loss = ferry_cross_entropy(ctx, ferry_nn_linear(ctx, st, "fc2", h), y, 0.0f);
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(loss);
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_init(oc, st, &opt), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_set_lr_mult(opt, "fc2.bias", 2.0f), FERRY_OK);
    cr_assert_eq(ferry_optim_record(opt, ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    float xv[OPT_N * OPT_IN];
    int32_t yv[OPT_N];
    for (int s = 0; s < steps; s++) {
        vkc_fill(xv, OPT_N * OPT_IN, 40u + (uint32_t)s);
        for (int i = 0; i < OPT_N; i++) yv[i] = (i + s) % OPT_OUT;
        cr_assert_eq(ferry_tensor_set(g, xin, xv, sizeof xv), FERRY_OK);
        cr_assert_eq(ferry_tensor_set(g, y, yv, sizeof yv), FERRY_OK);
        cr_assert_eq(ferry_optim_prepare_step(opt, g, (double)s / steps), FERRY_OK);
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
    }
    int64_t n = 0;
    for (int i = 0; i < ferry_store_count(st); i++) n += ferry_store_numel(st, i);
    float *out = calloc((size_t)n, sizeof *out);
    cr_assert_not_null(out);
    int64_t at = 0;
    for (int i = 0; i < ferry_store_count(st); i++) {
        const int64_t k = ferry_store_numel(st, i);
        cr_assert_eq(ferry_store_get(st, i, out + at, (size_t)k * sizeof(float)), FERRY_OK);
        at += k;
    }
    if (vulkan) vkc_assert_no_validation(be);
    ferry_graph_free(g);
    ferry_optim_free(opt);
    ferry_ctx_free(ctx);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
    *n_out = n;
    return out;
}

bool vkc_compare_optim(const char *name, const ferry_optim_config *oc, int steps, double tol)
{
    int64_t na, nb;
    float *b = optim_run(oc, steps, true, &nb);
    float *a = optim_run(oc, steps, false, &na);
    cr_assert_eq(na, nb, "%s: store sizes differ", name);
    const double e = vkc_nmse(b, a, na);
    const bool ok = e <= tol;
    cr_expect(ok, "%s: parameters and optimizer state after %d steps (%lld values): normalised MSE %.3g > %.1g",
              name, steps, (long long)na, e, tol);
    free(a);
    free(b);
    return ok;
}
