/* CPU kernels of the axis family (cpu_axis.c): forward outputs and every gradient must be
 * bit-identical with one thread and with four, on shapes large enough for the parallel paths. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

typedef ferry_tensor_t *(*axis_build)(ferry_ctx_t *c, ferry_tensor_t **p, ferry_tensor_t *labels);

struct run {
    int64_t n[4];   /* elements of out, grad p0, grad p1 */
    float *v[3];
};

static void fill(float *v, int64_t n, uint32_t s)
{
    for (int64_t k = 0; k < n; k++) {
        s = s * 1664525u + 1013904223u;
        v[k] = (float)((double)(s >> 8) / 16777216.0 * 2.0 - 1.0);
    }
}

static void run_threads(axis_build build, int np, const int *nd, const int64_t (*sh)[4], int threads,
                        struct run *r)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_ctx_t *c;
    cr_assert_eq(ferry_backend_cpu_init(threads, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_ctx_init(&c), FERRY_OK);
    ferry_tensor_t *p[2];
    for (int i = 0; i < np; i++) {
        char name[8] = {'p', (char)('0' + i), 0};
        cr_assert_eq(ferry_store_add(st, name, FERRY_F32, nd[i], sh[i], true), FERRY_OK);
        int64_t n = 1;
        for (int d = 0; d < nd[i]; d++) n *= sh[i][d];
        float *v = malloc((size_t)n * sizeof *v);
        fill(v, n, 99u + (uint32_t)i);
        cr_assert_eq(ferry_store_set(st, i, v, (size_t)n * sizeof *v), FERRY_OK);
        free(v);
        p[i] = ferry_param(c, st, name);
    }
    ferry_tensor_t *labels = ferry_input(c, "labels", FERRY_I32, 1, (int64_t[]){5000});
    ferry_tensor_t *out = build(c, p, labels);
    cr_assert_not_null(out, "%s", ferry_last_error());
    int64_t shape[4];
    for (int d = 0; d < ferry_tensor_ndim(out); d++) shape[d] = ferry_tensor_dim(out, d);
    ferry_tensor_t *R = ferry_input(c, "R", FERRY_F32, ferry_tensor_ndim(out), shape);
    ferry_tensor_t *loss = ferry_sum(c, ferry_mul(c, out, R));
    ferry_tensor_set_output(loss);
    ferry_tensor_set_output(out);
    cr_assert_eq(ferry_backward(c, loss), FERRY_OK, "%s", ferry_last_error());
    ferry_tensor_t *t[3] = {out, NULL, NULL};
    for (int i = 0; i < np; i++) ferry_tensor_set_output(t[1 + i] = ferry_grad(c, p[i]));
    ferry_graph_t *g;
    cr_assert_eq(ferry_graph_init(c, be, &g), FERRY_OK, "%s", ferry_last_error());
    int32_t *lab = malloc(5000 * sizeof *lab);
    for (int k = 0; k < 5000; k++) lab[k] = (7 * k) % 1100;
    (void)ferry_tensor_set(g, labels, lab, 5000 * sizeof *lab); /* fails harmlessly where unused */
    free(lab);
    float *rv = malloc((size_t)ferry_tensor_numel(R) * sizeof *rv);
    fill(rv, ferry_tensor_numel(R), 7u);
    cr_assert_eq(ferry_tensor_set(g, R, rv, (size_t)ferry_tensor_numel(R) * sizeof *rv), FERRY_OK);
    free(rv);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK);
    for (int k = 0; k < 1 + np; k++) {
        r->n[k] = ferry_tensor_numel(t[k]);
        r->v[k] = malloc((size_t)r->n[k] * sizeof(float));
        cr_assert_eq(ferry_tensor_get(g, t[k], r->v[k], (size_t)r->n[k] * sizeof(float)), FERRY_OK);
    }
    ferry_graph_free(g);
    ferry_ctx_free(c);
    ferry_store_free(st);
    ferry_backend_free(be);
}

static void same_on_threads(axis_build build, int np, const int *nd, const int64_t (*sh)[4])
{
    struct run a = {0}, b = {0};
    run_threads(build, np, nd, sh, 1, &a);
    run_threads(build, np, nd, sh, 4, &b);
    for (int k = 0; k < 1 + np; k++) {
        cr_assert_eq(a.n[k], b.n[k]);
        cr_expect(memcmp(a.v[k], b.v[k], (size_t)a.n[k] * sizeof(float)) == 0,
                  "tensor %d differs between 1 and 4 threads", k);
        free(a.v[k]);
        free(b.v[k]);
    }
}

#define B(name, expr) \
    static ferry_tensor_t *name(ferry_ctx_t *c, ferry_tensor_t **p, ferry_tensor_t *l) { (void)l; return expr; }
B(b_cat, ferry_concat(c, 1, 2, (ferry_tensor_t *[]){p[0], p[1]}))
B(b_slice, ferry_slice(c, p[0], 2, 3, 40))
B(b_tr, ferry_transpose(c, p[0], 1, 3))
B(b_sum, ferry_mean_axis(c, p[0], 2))
B(b_max, ferry_max_axis(c, p[0], 1))
B(b_min, ferry_min_axis(c, p[0], 3))
B(b_argmax, ferry_mul(c, ferry_one_hot(c, ferry_reshape(c, ferry_argmax_axis(c, p[0], 1), 1,
                                                        (int64_t[]){5000}), 30), p[0]))
B(b_bmm, ferry_batched_matmul(c, p[0], p[1], false, true))
static ferry_tensor_t *b_gather(ferry_ctx_t *c, ferry_tensor_t **p, ferry_tensor_t *l) { return ferry_gather_rows(c, p[0], l); }

#define SH4 {8, 6, 50, 20}
Test(cpu_axis, concat_threads) { same_on_threads(b_cat, 2, (int[]){4, 4}, (const int64_t[][4]){SH4, {8, 3, 50, 20}}); }
Test(cpu_axis, slice_pad_threads) { same_on_threads(b_slice, 1, (int[]){4}, (const int64_t[][4]){SH4}); }
Test(cpu_axis, transpose_threads) { same_on_threads(b_tr, 1, (int[]){4}, (const int64_t[][4]){SH4}); }
Test(cpu_axis, mean_expand_threads) { same_on_threads(b_sum, 1, (int[]){4}, (const int64_t[][4]){SH4}); }
Test(cpu_axis, max_threads) { same_on_threads(b_max, 1, (int[]){4}, (const int64_t[][4]){SH4}); }
Test(cpu_axis, min_threads) { same_on_threads(b_min, 1, (int[]){4}, (const int64_t[][4]){SH4}); }
Test(cpu_axis, argmax_one_hot_threads) { same_on_threads(b_argmax, 1, (int[]){2}, (const int64_t[][4]){{5000, 30}}); }
Test(cpu_axis, gather_scatter_threads) { same_on_threads(b_gather, 1, (int[]){2}, (const int64_t[][4]){{1000, 40}}); }
Test(cpu_axis, batched_matmul_threads) { same_on_threads(b_bmm, 2, (int[]){3, 3}, (const int64_t[][4]){{16, 40, 30}, {16, 20, 30}}); }
