/* CPU kernels of the axis family (ops.def): each output element is computed by one thread; the
 * reductions walk the axis in index order. Copies move 4-byte elements (F32 or I32). */
#include "cpu.h"
#include "ops_axis.h"

#include <blis.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

void ferry_cpu_concat_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    const int axis = node->ip[0];
    int64_t outer, len, inner;
    ferry_axis_view(node, axis, &outer, &len, &inner);
    uint32_t *restrict d = a->dst;
    int64_t off = 0;
    for (int k = 0; k < FERRY_MAX_SRC && node->src[k]; k++) {
        const uint32_t *restrict s = a->src[k];
        const int64_t run = node->src[k]->ne[axis] * inner, o0 = off * inner;
        FERRY_CPU_FOR(ferry_cpu_threads(a, outer * run), o, outer,
                      { memcpy(d + o * len * inner + o0, s + o * run, (size_t)run * 4); });
        off += node->src[k]->ne[axis];
    }
}

void ferry_cpu_slice_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *x = node->src[0];
    int64_t outer, len, inner, xl = x->ne[node->ip[0]];
    ferry_axis_view(node, node->ip[0], &outer, &len, &inner);
    const uint32_t *restrict s = a->src[0];
    uint32_t *restrict d = a->dst;
    const int64_t b = node->ip[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, node->numel), o, outer,
                  { memcpy(d + o * len * inner, s + (o * xl + b) * inner, (size_t)(len * inner) * 4); });
}

void ferry_cpu_pad_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *g = node->src[0];
    int64_t outer, len, inner, gl = g->ne[node->ip[0]];
    ferry_axis_view(node, node->ip[0], &outer, &len, &inner);
    const float *restrict s = a->src[0];
    float *restrict d = a->dst;
    const int64_t b = node->ip[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, node->numel), o, outer, {
        float *row = d + o * len * inner;
        memset(row, 0, (size_t)(b * inner) * sizeof *row);
        memcpy(row + b * inner, s + o * gl * inner, (size_t)(gl * inner) * sizeof *row);
        memset(row + (b + gl) * inner, 0, (size_t)((len - b - gl) * inner) * sizeof *row);
    });
}

void ferry_cpu_transpose(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *x = node->src[0];
    int64_t ne[4] = {1, 1, 1, 1}, xs[4] = {0, 0, 0, 0}, st[4];
    /* x's strides (row-major), then permuted to the order of dst's coordinates */
    int64_t acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        xs[d] = acc;
        acc *= x->ne[d];
    }
    for (int d = 0; d < 4; d++) st[d] = xs[d];
    st[node->ip[0]] = xs[node->ip[1]];
    st[node->ip[1]] = xs[node->ip[0]];
    for (int d = 0; d < node->ndim; d++) ne[d] = node->ne[d];
    const uint32_t *restrict s = a->src[0];
    uint32_t *restrict dst = a->dst;
    FERRY_CPU_FOR2(ferry_cpu_threads(a, node->numel), i0, ne[0], i1, ne[1], {
        uint32_t *drow = dst + (i0 * ne[1] + i1) * ne[2] * ne[3];
        const uint32_t *srow = s + i0 * st[0] + i1 * st[1];
        for (int64_t i2 = 0; i2 < ne[2]; i2++)
            for (int64_t i3 = 0; i3 < ne[3]; i3++) drow[i2 * ne[3] + i3] = srow[i2 * st[2] + i3 * st[3]];
    });
}

/* Index of the first maximum (kind 1) or minimum (kind 2) of x[o, 0..len, i]. */
static int64_t arg_ext(const float *x, int64_t len, int64_t inner, int kind)
{
    int64_t best = 0;
    float v = x[0];
    for (int64_t j = 1; j < len; j++) {
        const float u = x[j * inner];
        if (kind == 1 ? u > v : u < v) {
            v = u;
            best = j;
        }
    }
    return best;
}

void ferry_cpu_reduce_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *x = node->src[0];
    int64_t outer, len, inner;
    ferry_axis_view(x, node->ip[0], &outer, &len, &inner);
    const float *restrict s = a->src[0];
    float *restrict d = a->dst;
    const int kind = node->ip[1];
    const float f = node->fp[0];
    FERRY_CPU_FOR2(ferry_cpu_threads(a, x->numel), o, outer, i, inner, {
        const float *col = s + o * len * inner + i;
        float r;
        if (kind == 0) {
            float acc = 0;
            for (int64_t j = 0; j < len; j++) acc += col[j * inner];
            r = f * acc;
        } else {
            r = col[arg_ext(col, len, inner, kind) * inner];
        }
        d[o * inner + i] = r;
    });
}

void ferry_cpu_expand_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    int64_t outer, len, inner;
    ferry_axis_view(node, node->ip[0], &outer, &len, &inner);
    const float *restrict g = a->src[0];
    float *restrict d = a->dst;
    const float f = node->fp[0];
    FERRY_CPU_FOR2(ferry_cpu_threads(a, node->numel), o, outer, j, len, {
        float *row = d + (o * len + j) * inner;
        const float *gr = g + o * inner;
        for (int64_t i = 0; i < inner; i++) row[i] = f * gr[i];
    });
}

void ferry_cpu_reduce_axis_bwd(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    int64_t outer, len, inner;
    ferry_axis_view(node, node->ip[0], &outer, &len, &inner);
    const float *restrict g = a->src[0], *restrict x = a->src[1];
    float *restrict d = a->dst;
    const int kind = node->ip[1];
    FERRY_CPU_FOR2(ferry_cpu_threads(a, node->numel), o, outer, i, inner, {
        const int64_t base = o * len * inner + i, best = arg_ext(x + base, len, inner, kind);
        for (int64_t j = 0; j < len; j++) d[base + j * inner] = j == best ? g[o * inner + i] : 0.0f;
    });
}

void ferry_cpu_argmax_axis(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *x = node->src[0];
    int64_t outer, len, inner;
    ferry_axis_view(x, node->ip[0], &outer, &len, &inner);
    const float *restrict s = a->src[0];
    int32_t *restrict d = a->dst;
    FERRY_CPU_FOR2(ferry_cpu_threads(a, x->numel), o, outer, i, inner,
                   { d[o * inner + i] = (int32_t)arg_ext(s + o * len * inner + i, len, inner, 1); });
}

void ferry_cpu_one_hot(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    const int32_t *restrict y = a->src[0];
    float *restrict d = a->dst;
    const int64_t n = node->ne[0], k = node->ne[1];
    FERRY_CPU_FOR(ferry_cpu_threads(a, n * k), r, n, {
        for (int64_t c = 0; c < k; c++) d[r * k + c] = y[r] == c ? 1.0f : 0.0f;
    });
}

void ferry_cpu_gather_rows(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    const float *restrict x = a->src[0];
    const int32_t *restrict idx = a->src[1];
    float *restrict d = a->dst;
    const int64_t m = node->ne[0], dd = node->ne[1], rows = node->src[0]->ne[0];
    FERRY_CPU_FOR(ferry_cpu_threads(a, m * dd), r, m, {
        const int64_t k = idx[r];
        if (k >= 0 && k < rows)
            memcpy(d + r * dd, x + k * dd, (size_t)dd * sizeof *d);
        else
            memset(d + r * dd, 0, (size_t)dd * sizeof *d);
    });
}

/* Row r of dx is the sum of the rows of g whose index is r, in index order: one thread per row,
 * no atomics. */
void ferry_cpu_gather_rows_bwd(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node;
    const float *restrict g = a->src[0];
    const int32_t *restrict idx = a->src[1];
    float *restrict d = a->dst;
    const int64_t rows = node->ne[0], dd = node->ne[1], m = node->src[1]->ne[0];
    FERRY_CPU_FOR(ferry_cpu_threads(a, rows * m + rows * dd), r, rows, {
        float *row = d + r * dd;
        memset(row, 0, (size_t)dd * sizeof *row);
        for (int64_t q = 0; q < m; q++)
            if (idx[q] == r)
                for (int64_t c = 0; c < dd; c++) row[c] += g[q * dd + c];
    });
}

static pthread_once_t bmm_once = PTHREAD_ONCE_INIT;
static void bmm_init(void) { bli_init(); }

/* One product per batch, each by single-threaded BLIS inside the kernel's own parallel loop. */
void ferry_cpu_bmm(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *ta = node->src[0];
    const bool tra = node->ip[0] != 0, trb = node->ip[1] != 0;
    const int64_t nb = node->ne[0], m = node->ne[1], n = node->ne[2];
    const int64_t k = tra ? ta->ne[1] : ta->ne[2];
    const float *A = a->src[0], *B = a->src[1];
    float *C = a->dst;
    const int64_t rsa = tra ? 1 : k, csa = tra ? m : 1, rsb = trb ? 1 : n, csb = trb ? k : 1;
    if (m <= 0 || n <= 0 || nb <= 0) return;
    pthread_once(&bmm_once, bmm_init);
    const int nt = nb < 2 || m * n * k * nb < FERRY_CPU_PAR_MIN ? 1 : a->nthreads;
    FERRY_CPU_FOR(nt, i, nb, {
        float one = 1.0f, zero = 0.0f;
        rntm_t rntm;
        bli_rntm_init(&rntm);
        bli_rntm_set_num_threads(1, &rntm);
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one,
                     (float *)(A + i * m * k), (inc_t)rsa, (inc_t)csa, (float *)(B + i * k * n),
                     (inc_t)rsb, (inc_t)csb, &zero, C + i * m * n, (inc_t)n, 1, NULL, &rntm);
    });
}
