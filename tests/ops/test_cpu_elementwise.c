/* CPU kernels of cpu_elementwise.c, cpu_softmax_loss.c, cpu_norm.c and cpu_optim.c.
 * Forward kernels are compared with naive double-precision references, backward kernels with
 * central finite differences of those references, optimizer updates with PyTorch's formulas. */
#include <criterion/criterion.h>

#include "cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ferry_tensor T;

/* ==== test scaffolding ======================================================================== */

#define HARNESS_SEED 0x1234567u
#include "kernel_harness.h"

TestSuite(cpu_ew, .fini = arena_free);

static float *rnd(int64_t n, double lo, double hi)
{
    float *x = fbuf(n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)uniform(lo, hi);
    return x;
}

/* Uniform in [lo, hi] with magnitude at least gap (keeps clear of kinks at 0). */
static float *rnd_away0(int64_t n, double lo, double hi, double gap)
{
    float *x = rnd(n, lo, hi);
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) < gap) x[i] = x[i] < 0 ? (float)-gap : (float)gap;
    return x;
}

static int32_t *labels(int64_t n, int k)
{
    int32_t *y = alloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)uniform(0, k - 1e-9);
    return y;
}

/* Tensor metadata of the given shape (unused dims 1). */
static T shape(int ndim, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    T t;
    memset(&t, 0, sizeof t);
    const int64_t ne[FERRY_MAX_DIMS] = {n0, n1, n2, n3};
    t.ndim = ndim;
    t.dtype = FERRY_F32;
    t.numel = 1;
    for (int i = 0; i < FERRY_MAX_DIMS; i++) {
        t.ne[i] = i < ndim ? ne[i] : 1;
        t.numel *= t.ne[i];
    }
    int64_t stride = 1;
    for (int i = FERRY_MAX_DIMS - 1; i >= 0; i--) {
        t.nb[i] = stride;
        stride *= t.ne[i];
    }
    return t;
}

static T scalar(void) { return shape(1, 1, 1, 1, 1); }

#define SRC(...) ((void *const[FERRY_MAX_SRC]){__VA_ARGS__})

static void run(ferry_cpu_kernel_fn k, const T *node, void *dst, int nthreads, void *const *src)
{
    struct ferry_cpu_args a = {.node = node, .dst = dst, .nthreads = nthreads};
    memcpy(a.src, src, sizeof a.src);
    k(&a);
}

/* |got - want| <= atol + rtol·|want| for every element; reports the first mismatch. */
static void expect_close(const char *what, const float *got, const double *want, int64_t n,
                         double atol, double rtol)
{
    for (int64_t i = 0; i < n; i++) {
        if (fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i])) continue;
        cr_expect_fail("%s[%lld]: got %.9g, want %.9g", what, (long long)i, (double)got[i],
                       want[i]);
        return;
    }
}

static void expect_same_bits(const char *what, const float *a, const float *b, int64_t n)
{
    cr_expect(memcmp(a, b, (size_t)n * sizeof *a) == 0,
              "%s: results differ between 1 and 2 threads", what);
}

/* Central finite differences of a scalar function of n doubles. */
typedef double (*loss_fn)(const double *v, const void *ctx);

static double *fd_grad(loss_fn f, const void *ctx, const double *v, int64_t n)
{
    double *w = dbuf(n), *g = dbuf(n);
    memcpy(w, v, (size_t)n * sizeof *w);
    for (int64_t j = 0; j < n; j++) {
        const double h = 1e-5 * fmax(1.0, fabs(v[j]));
        w[j] = v[j] + h;
        const double lp = f(w, ctx);
        w[j] = v[j] - h;
        const double lm = f(w, ctx);
        w[j] = v[j];
        g[j] = (lp - lm) / (2 * h);
    }
    return g;
}

/* Tolerances for a float kernel against finite differences of a double reference. */
#define FD_ATOL 2e-5
#define FD_RTOL 2e-4

/* ==== double references ====================================================================== */

static double ref_unary(int kind, double slope, double x)
{
    switch (kind) {
    case FERRY_UNARY_RELU: return x > 0 ? x : 0;
    case FERRY_UNARY_LEAKY_RELU: return x > 0 ? x : slope * x;
    case FERRY_UNARY_SIGMOID: return 1 / (1 + exp(-x));
    default: return tanh(x);
    }
}

static double ref_logsumexp(const double *x, int64_t k)
{
    double m = x[0], s = 0;
    for (int64_t j = 1; j < k; j++) m = fmax(m, x[j]);
    for (int64_t j = 0; j < k; j++) s += exp(x[j] - m);
    return m + log(s);
}

/* Row softmax (or log-softmax) of x [n,k]. */
static void ref_softmax(const double *x, int64_t n, int64_t k, bool logsm, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        const double lse = ref_logsumexp(x + i * k, k);
        for (int64_t j = 0; j < k; j++)
            out[i * k + j] = logsm ? x[i * k + j] - lse : exp(x[i * k + j] - lse);
    }
}

/* mean over rows of -sum_k q_k log softmax(x)_k, q = (1-eps)·onehot + eps/K */
static double ref_cross_entropy(const double *x, const int32_t *y, int64_t n, int64_t k, double eps)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const double lse = ref_logsumexp(x + i * k, k);
        for (int64_t j = 0; j < k; j++) {
            const double q = (j == y[i] ? 1 - eps : 0) + eps / (double)k;
            total -= q * (x[i * k + j] - lse);
        }
    }
    return total / (double)n;
}

static double ref_bce(const double *x, const float *t, int64_t n)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) /* -t log σ(x) - (1-t) log(1-σ(x)), written stably */
        total += fmax(x[i], 0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
    return total / (double)n;
}

/* Per-channel batch mean and biased variance of x [N,C,S]. */
static void ref_bn_moments(const double *x, int64_t N, int64_t C, int64_t S, double *mean,
                           double *var)
{
    for (int64_t c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) s += x[(n * C + c) * S + i];
        mean[c] = s / (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                const double d = x[(n * C + c) * S + i] - mean[c];
                ss += d * d;
            }
        var[c] = ss / (double)(N * S);
    }
}

/* (x - mean)/sqrt(var + eps)·gamma + beta per channel */
static void ref_bn_affine(const double *x, int64_t N, int64_t C, int64_t S, const double *mean,
                          const double *var, double eps, const double *gamma, const double *beta,
                          double *out)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < S; i++) {
                const int64_t j = (n * C + c) * S + i;
                out[j] = (x[j] - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c];
            }
}

static double dot(const double *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ==== elementwise ============================================================================ */

#define BIG 40000 /* above the kernels' threading threshold */

Test(cpu_ew, add_mul_scale)
{
    T node = shape(2, 200, BIG / 200, 1, 1);
    float *x = rnd(BIG, -3, 3), *y = rnd(BIG, -3, 3), *d = fbuf(BIG), s = 0.75f;
    double *want = dbuf(BIG);

    node.fp[0] = 1.5f;
    node.fp[1] = -0.25f;
    run(ferry_cpu_add, &node, d, 2, SRC(x, y));
    for (int i = 0; i < BIG; i++) want[i] = 1.5 * x[i] - 0.25 * y[i];
    expect_close("add", d, want, BIG, 1e-6, 1e-6);

    run(ferry_cpu_mul, &node, d, 2, SRC(x, y));
    for (int i = 0; i < BIG; i++) want[i] = (double)x[i] * y[i];
    expect_close("mul", d, want, BIG, 1e-6, 1e-6);

    node.fp[0] = -2.5f;
    run(ferry_cpu_scale, &node, d, 2, SRC(x));
    for (int i = 0; i < BIG; i++) want[i] = -2.5 * x[i];
    expect_close("scale", d, want, BIG, 0, 1e-7);

    run(ferry_cpu_scale_by, &node, d, 2, SRC(x, &s));
    for (int i = 0; i < BIG; i++) want[i] = -2.5 * 0.75 * x[i];
    expect_close("scale_by", d, want, BIG, 0, 1e-6);
}

static void check_add_bias(int ndim, int64_t N, int64_t C, int64_t H, int64_t W)
{
    T node = shape(ndim, N, C, H, W);
    const int64_t n = node.numel, S = n / (N * C);
    float *x = rnd(n, -2, 2), *b = rnd(C, -1, 1), *d = fbuf(n);
    double *want = dbuf(n);
    run(ferry_cpu_add_bias, &node, d, 2, SRC(x, b));
    for (int64_t i = 0; i < n; i++) want[i] = (double)x[i] + b[(i / S) % C];
    expect_close("add_bias", d, want, n, 1e-6, 1e-6);
}

Test(cpu_ew, add_bias)
{
    check_add_bias(2, 300, 70, 1, 1);
    check_add_bias(2, 3, 5, 1, 1);
    check_add_bias(4, 4, 3, 5, 7);
    check_add_bias(4, 8, 16, 12, 12);
}

static const char *const unary_names[] = {"relu", "leaky_relu", "sigmoid", "tanh"};

Test(cpu_ew, unary_forward)
{
    const int64_t n = 20000;
    T node = shape(1, n, 1, 1, 1);
    float *x = rnd(n, -30, 30), *d = fbuf(n);
    x[0] = -1000;
    x[1] = 1000;
    x[2] = 0;
    double *want = dbuf(n);
    for (int kind = 0; kind < 4; kind++) {
        node.ip[0] = kind;
        node.fp[0] = 0.1f;
        run(ferry_cpu_unary, &node, d, 2, SRC(x));
        for (int64_t i = 0; i < n; i++) want[i] = ref_unary(kind, node.fp[0], x[i]);
        expect_close(unary_names[kind], d, want, n, 1e-7, 1e-6);
    }
}

/* L = sum g·f(x) */
struct unary_ctx {
    int kind;
    double slope;
    const float *g;
    int64_t n;
};

static double unary_loss(const double *v, const void *p)
{
    const struct unary_ctx *c = p;
    double s = 0;
    for (int64_t i = 0; i < c->n; i++) s += c->g[i] * ref_unary(c->kind, c->slope, v[i]);
    return s;
}

Test(cpu_ew, unary_backward)
{
    const int64_t n = 64;
    T node = shape(2, 8, 8, 1, 1);
    float *x = rnd_away0(n, -4, 4, 1e-2), *g = rnd(n, -1, 1), *y = fbuf(n), *d = fbuf(n);
    for (int kind = 0; kind < 4; kind++) {
        node.ip[0] = kind;
        node.fp[0] = 0.2f;
        run(ferry_cpu_unary, &node, y, 1, SRC(x));
        bool uses_y = kind == FERRY_UNARY_SIGMOID || kind == FERRY_UNARY_TANH;
        run(ferry_cpu_unary_bwd, &node, d, 1, SRC(g, uses_y ? y : x));
        struct unary_ctx c = {kind, node.fp[0], g, n};
        expect_close(unary_names[kind], d, fd_grad(unary_loss, &c, to_d(x, n), n), n, FD_ATOL,
                     FD_RTOL);
    }
}

Test(cpu_ew, dropout_mask)
{
    const int64_t n = 100000;
    T node = shape(2, 100, 1000, 1, 1);
    float *x = rnd_away0(n, -2, 2, 1e-3), *d1 = fbuf(n), *d2 = fbuf(n), *d3 = fbuf(n);
    int32_t seed = 12345, seed2 = 12346;
    const float p = 0.3f;
    node.fp[0] = p;
    node.ip[0] = 7;

    run(ferry_cpu_dropout, &node, d1, 2, SRC(x, &seed));
    int64_t dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        if (d1[i] == 0) {
            dropped++;
            continue;
        }
        if (fabs(d1[i] - x[i] / (1.0 - p)) > 1e-6 * fabs(x[i]) * 2) {
            cr_expect_fail("dropout[%lld]: kept value %g is not x/(1-p) = %g", (long long)i,
                           (double)d1[i], x[i] / (1.0 - p));
            break;
        }
    }
    const double rate = (double)dropped / (double)n; /* sd of the rate is 0.0015 */
    cr_expect(fabs(rate - p) < 0.01, "drop rate %g, want %g", rate, (double)p);

    run(ferry_cpu_dropout, &node, d2, 1, SRC(x, &seed));
    expect_same_bits("dropout, same seed", d1, d2, n);

    run(ferry_cpu_dropout, &node, d2, 2, SRC(x, &seed2));
    node.ip[0] = 8;
    run(ferry_cpu_dropout, &node, d3, 2, SRC(x, &seed));
    int64_t diff_seed = 0, diff_salt = 0;
    for (int64_t i = 0; i < n; i++) {
        diff_seed += (d1[i] == 0) != (d2[i] == 0);
        diff_salt += (d1[i] == 0) != (d3[i] == 0);
    }
    /* independent masks disagree on 2·p·(1-p) = 42% of the elements */
    cr_expect(diff_seed > n / 3, "another seed changes only %lld of the mask",
              (long long)diff_seed);
    cr_expect(diff_salt > n / 3, "another salt changes only %lld of the mask",
              (long long)diff_salt);

    node.fp[0] = 0;
    run(ferry_cpu_dropout, &node, d2, 2, SRC(x, &seed));
    expect_same_bits("dropout p = 0 is the identity", x, d2, n);
}

Test(cpu_ew, concat)
{
    T a = shape(3, 2, 3, 4, 1), b = shape(3, 5, 3, 4, 1), node = shape(3, 7, 3, 4, 1);
    node.src[0] = &a;
    node.src[1] = &b;
    float *x = rnd(a.numel, -1, 1), *y = rnd(b.numel, -1, 1), *d = fbuf(node.numel);
    run(ferry_cpu_concat, &node, d, 2, SRC(x, y));
    cr_expect(memcmp(d, x, (size_t)a.numel * 4) == 0, "concat f32, first part");
    cr_expect(memcmp(d + a.numel, y, (size_t)b.numel * 4) == 0, "concat f32, second part");

    T ai = shape(1, 3, 1, 1, 1), bi = shape(1, 2, 1, 1, 1), ni = shape(1, 5, 1, 1, 1);
    ai.dtype = bi.dtype = ni.dtype = FERRY_I32;
    ni.src[0] = &ai;
    ni.src[1] = &bi;
    int32_t ya[] = {1, -2, 3}, yb[] = {40, 50}, yd[5], want[] = {1, -2, 3, 40, 50};
    run(ferry_cpu_concat, &ni, yd, 2, SRC(ya, yb));
    cr_expect(memcmp(yd, want, sizeof want) == 0, "concat i32");
}

/* Slice rows [r0, r0 + rows) of x [R, row]: L = sum g·slice(x) */
struct slice_ctx {
    int64_t r0, rows, row;
    const float *g;
};

static double slice_loss(const double *v, const void *p)
{
    const struct slice_ctx *c = p;
    double s = 0;
    for (int64_t i = 0; i < c->rows * c->row; i++) s += c->g[i] * v[c->r0 * c->row + i];
    return s;
}

Test(cpu_ew, pad_batch_is_slice_gradient)
{
    const int64_t R = 5, rows = 2, r0 = 2, row = 3 * 2;
    T gs = shape(3, rows, 3, 2, 1), node = shape(3, R, 3, 2, 1);
    node.src[0] = &gs;
    node.ip[0] = (int32_t)R;
    node.ip[1] = (int32_t)r0;
    float *g = rnd(gs.numel, -1, 1), *d = fbuf(node.numel), *x = rnd(node.numel, -1, 1);
    for (int64_t i = 0; i < node.numel; i++) d[i] = NAN; /* every element must be written */
    run(ferry_cpu_pad_batch, &node, d, 2, SRC(g));
    struct slice_ctx c = {r0, rows, row, g};
    expect_close("pad_batch", d, fd_grad(slice_loss, &c, to_d(x, node.numel), node.numel),
                 node.numel, FD_ATOL, FD_RTOL);

    node.ip[1] = 0; /* first rows, then last rows */
    run(ferry_cpu_pad_batch, &node, d, 1, SRC(g));
    c.r0 = 0;
    expect_close("pad_batch first", d, fd_grad(slice_loss, &c, to_d(x, node.numel), node.numel),
                 node.numel, FD_ATOL, FD_RTOL);
    node.ip[1] = (int32_t)(R - rows);
    run(ferry_cpu_pad_batch, &node, d, 1, SRC(g));
    c.r0 = R - rows;
    expect_close("pad_batch last", d, fd_grad(slice_loss, &c, to_d(x, node.numel), node.numel),
                 node.numel, FD_ATOL, FD_RTOL);
}

Test(cpu_ew, sum_and_mean)
{
    const int64_t sizes[] = {1, 5, 63, 64, 65, 1000, 100003};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const int64_t n = sizes[k];
        T xs = shape(1, n, 1, 1, 1), node = scalar();
        node.src[0] = &xs;
        float *x = rnd(n, -1, 2), d1, d2;
        double want = 0;
        for (int64_t i = 0; i < n; i++) want += x[i];
        node.fp[0] = 1;
        run(ferry_cpu_sum, &node, &d1, 1, SRC(x));
        run(ferry_cpu_sum, &node, &d2, 2, SRC(x));
        expect_close("sum", &d1, &want, 1, 1e-6, 1e-6);
        expect_same_bits("sum", &d1, &d2, 1);
        node.fp[0] = (float)(1.0 / (double)n);
        want /= (double)n;
        run(ferry_cpu_sum, &node, &d1, 2, SRC(x));
        expect_close("mean", &d1, &want, 1, 1e-7, 1e-6);
    }
}

/* L = g0 · fp0 · sum(x) */
struct sum_ctx {
    double g0, fp0;
    int64_t n;
};

static double sum_loss(const double *v, const void *p)
{
    const struct sum_ctx *c = p;
    double s = 0;
    for (int64_t i = 0; i < c->n; i++) s += v[i];
    return c->g0 * c->fp0 * s;
}

Test(cpu_ew, broadcast_is_sum_gradient)
{
    T node = shape(2, 3, 5, 1, 1);
    float g0 = -1.25f, *d = fbuf(node.numel), *x = rnd(node.numel, -1, 1);
    const float fps[] = {1.0f, 1.0f / 15.0f};
    for (int k = 0; k < 2; k++) {
        node.fp[0] = fps[k];
        run(ferry_cpu_broadcast, &node, d, 2, SRC(&g0));
        struct sum_ctx c = {g0, fps[k], node.numel};
        expect_close("broadcast", d, fd_grad(sum_loss, &c, to_d(x, node.numel), node.numel),
                     node.numel, FD_ATOL, FD_RTOL);
    }
}

/* L = sum g·(x + b[c]) over x [N,C,S] */
struct bias_ctx {
    int64_t N, C, S;
    const float *x, *g;
};

static double bias_loss(const double *b, const void *p)
{
    const struct bias_ctx *c = p;
    double s = 0;
    for (int64_t i = 0; i < c->N * c->C * c->S; i++)
        s += c->g[i] * (c->x[i] + b[(i / c->S) % c->C]);
    return s;
}

static void check_bias_grad(int ndim, int64_t N, int64_t C, int64_t H, int64_t W)
{
    T gs = shape(ndim, N, C, H, W), node = shape(1, C, 1, 1, 1);
    node.src[0] = &gs;
    float *g = rnd(gs.numel, -1, 1), *x = rnd(gs.numel, -1, 1), *b = rnd(C, -1, 1);
    float *d = fbuf(C);
    run(ferry_cpu_bias_grad, &node, d, 2, SRC(g));
    struct bias_ctx c = {N, C, gs.numel / (N * C), x, g};
    expect_close("bias_grad", d, fd_grad(bias_loss, &c, to_d(b, C), C), C, FD_ATOL, FD_RTOL);
}

Test(cpu_ew, bias_grad_is_add_bias_gradient)
{
    check_bias_grad(2, 7, 3, 1, 1);
    check_bias_grad(4, 2, 3, 2, 3);
}

/* ==== softmax, losses ========================================================================= */

Test(cpu_ew, softmax_forward)
{
    const int64_t n = 50, k = 37;
    T node = shape(2, n, k, 1, 1);
    float *x = rnd(n * k, -8, 8), *d = fbuf(n * k);
    for (int64_t j = 0; j < k; j++) {
        x[j] = 1000.0f + (float)j; /* would overflow exp without the shift */
        x[k + j] = -1000.0f - (float)j;
        x[2 * k + j] = 88.0f;
    }
    double *xd = to_d(x, n * k), *want = dbuf(n * k);
    ref_softmax(xd, n, k, false, want);
    run(ferry_cpu_softmax, &node, d, 2, SRC(x));
    expect_close("softmax", d, want, n * k, 1e-7, 1e-5);
    ref_softmax(xd, n, k, true, want);
    run(ferry_cpu_log_softmax, &node, d, 2, SRC(x));
    expect_close("log_softmax", d, want, n * k, 2e-5, 1e-6);
}

/* L = sum g·softmax(x) (or log-softmax) */
struct softmax_ctx {
    int64_t n, k;
    bool logsm;
    const float *g;
};

static double softmax_loss(const double *v, const void *p)
{
    const struct softmax_ctx *c = p;
    double y[64];
    double s = 0;
    for (int64_t i = 0; i < c->n; i++) {
        ref_softmax(v + i * c->k, 1, c->k, c->logsm, y);
        s += dot(y, c->g + i * c->k, c->k);
    }
    return s;
}

Test(cpu_ew, softmax_backward)
{
    const int64_t n = 4, k = 7;
    T node = shape(2, n, k, 1, 1);
    float *x = rnd(n * k, -3, 3), *g = rnd(n * k, -1, 1), *y = fbuf(n * k), *d = fbuf(n * k);
    for (int lg = 0; lg < 2; lg++) {
        run(lg ? ferry_cpu_log_softmax : ferry_cpu_softmax, &node, y, 1, SRC(x));
        run(lg ? ferry_cpu_log_softmax_bwd : ferry_cpu_softmax_bwd, &node, d, 2, SRC(g, y));
        struct softmax_ctx c = {n, k, lg, g};
        expect_close(lg ? "log_softmax_bwd" : "softmax_bwd", d,
                     fd_grad(softmax_loss, &c, to_d(x, n * k), n * k), n * k, FD_ATOL, FD_RTOL);
    }
}

Test(cpu_ew, cross_entropy_forward)
{
    const int64_t n = 300, k = 10;
    T xs = shape(2, n, k, 1, 1), node = scalar();
    node.src[0] = &xs;
    float *x = rnd(n * k, -6, 6), d;
    for (int64_t j = 0; j < k; j++) x[j] = 500.0f * (float)j; /* a very confident row */
    int32_t *y = labels(n, (int)k);
    const float eps[] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        node.fp[0] = eps[e];
        run(ferry_cpu_cross_entropy, &node, &d, 2, SRC(x, y));
        double want = ref_cross_entropy(to_d(x, n * k), y, n, k, eps[e]);
        expect_close("cross_entropy", &d, &want, 1, 1e-6, 1e-5);
    }
}

/* L = g0 · CE(x) */
struct ce_ctx {
    int64_t n, k;
    const int32_t *y;
    double eps, g0;
};

static double ce_loss(const double *v, const void *p)
{
    const struct ce_ctx *c = p;
    return c->g0 * ref_cross_entropy(v, c->y, c->n, c->k, c->eps);
}

Test(cpu_ew, cross_entropy_backward)
{
    const int64_t n = 5, k = 6;
    T node = shape(2, n, k, 1, 1);
    float *x = rnd(n * k, -3, 3), *d = fbuf(n * k), g0 = 1.7f;
    int32_t *y = labels(n, (int)k);
    const float eps[] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        node.fp[0] = eps[e];
        run(ferry_cpu_cross_entropy_bwd, &node, d, 2, SRC(&g0, x, y));
        struct ce_ctx c = {n, k, y, eps[e], g0};
        expect_close("cross_entropy_bwd", d, fd_grad(ce_loss, &c, to_d(x, n * k), n * k), n * k,
                     FD_ATOL, FD_RTOL);
    }
}

Test(cpu_ew, bce_logits_forward)
{
    const int64_t n = 3000;
    T xs = shape(2, 30, 100, 1, 1), node = scalar();
    node.src[0] = &xs;
    float *x = rnd(n, -20, 20), *t = rnd(n, 0, 1), d;
    x[0] = 200;
    x[1] = -200;
    t[0] = 0;
    t[1] = 1;
    run(ferry_cpu_bce_logits, &node, &d, 2, SRC(x, t));
    double want = ref_bce(to_d(x, n), t, n);
    expect_close("bce_logits", &d, &want, 1, 1e-6, 1e-5);
}

/* L = g0 · BCE(x, t) */
struct bce_ctx {
    int64_t n;
    const float *t;
    double g0;
};

static double bce_loss(const double *v, const void *p)
{
    const struct bce_ctx *c = p;
    return c->g0 * ref_bce(v, c->t, c->n);
}

Test(cpu_ew, bce_logits_backward)
{
    const int64_t n = 12;
    T node = shape(2, 3, 4, 1, 1);
    float *x = rnd(n, -5, 5), *t = rnd(n, 0, 1), *d = fbuf(n), g0 = -0.8f;
    t[0] = 0;
    t[1] = 1;
    run(ferry_cpu_bce_logits_bwd, &node, d, 2, SRC(&g0, x, t));
    struct bce_ctx c = {n, t, g0};
    expect_close("bce_logits_bwd", d, fd_grad(bce_loss, &c, to_d(x, n), n), n, FD_ATOL, FD_RTOL);
}

Test(cpu_ew, count_correct)
{
    /* ties: the first maximum wins */
    T xs = shape(2, 4, 3, 1, 1), node = scalar();
    node.src[0] = &xs;
    float x[] = {1, 3, 3, /**/ 1, 3, 3, /**/ 5, 5, 5, /**/ -1, -2, -0.5f}, d;
    int32_t y[] = {1, 2, 0, 2};
    run(ferry_cpu_count_correct, &node, &d, 2, SRC(x, y));
    cr_expect(d == 3.0f, "count_correct with ties: %g, want 3", (double)d);

    const int64_t n = 5000, k = 10;
    T bs = shape(2, n, k, 1, 1);
    node.src[0] = &bs;
    float *xb = rnd(n * k, -1, 1);
    int32_t *yb = labels(n, (int)k);
    int64_t want = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (xb[i * k + j] > xb[i * k + best]) best = j;
        want += best == yb[i];
    }
    run(ferry_cpu_count_correct, &node, &d, 2, SRC(xb, yb));
    cr_expect(d == (float)want, "count_correct: %g, want %lld", (double)d, (long long)want);
}

/* ==== batch norm ============================================================================== */

struct bn_case {
    int ndim;
    int64_t N, C, H, W;
};

static const struct bn_case bn_cases[] = {{4, 8, 3, 4, 5}, {2, 40, 6, 1, 1}, {4, 4, 16, 16, 16}};

Test(cpu_ew, bn_stats_and_apply)
{
    for (size_t k = 0; k < sizeof bn_cases / sizeof *bn_cases; k++) {
        const struct bn_case *b = &bn_cases[k];
        T xs = shape(b->ndim, b->N, b->C, b->H, b->W), ss = shape(2, 2, b->C, 1, 1);
        const int64_t n = xs.numel, C = b->C, S = n / (b->N * C), M = b->N * S;
        float *x = rnd(n, -2, 3), *rm = rnd(C, -1, 1), *rv = rnd(C, 0.5, 2), *st = fbuf(2 * C);
        double *rm0 = to_d(rm, C), *rv0 = to_d(rv, C);
        ss.src[0] = &xs;
        ss.fp[0] = 0.1f;
        ss.fp[1] = 1e-5f;
        run(ferry_cpu_bn_stats, &ss, st, 2, SRC(x, rm, rv));

        double *xd = to_d(x, n), *mean = dbuf(C), *var = dbuf(C), *want = dbuf(2 * C);
        ref_bn_moments(xd, b->N, C, S, mean, var);
        for (int64_t c = 0; c < C; c++) {
            want[c] = mean[c];
            want[C + c] = 1 / sqrt(var[c] + (double)ss.fp[1]);
        }
        expect_close("bn_stats", st, want, 2 * C, 1e-6, 1e-5);
        for (int64_t c = 0; c < C; c++) {
            want[c] = 0.9 * rm0[c] + 0.1 * mean[c];
            want[C + c] = 0.9 * rv0[c] + 0.1 * var[c] * (double)M / (double)(M - 1);
        }
        expect_close("running mean", rm, want, C, 1e-6, 1e-5);
        expect_close("running var", rv, want + C, C, 1e-6, 1e-5);

        /* apply, train: batch statistics */
        T node = xs;
        float *gamma = rnd(C, 0.5, 1.5), *beta = rnd(C, -1, 1), *d = fbuf(n);
        double *out = dbuf(n);
        node.fp[1] = 1e-5f;
        run(ferry_cpu_bn_apply, &node, d, 2, SRC(x, st, gamma, beta));
        ref_bn_affine(xd, b->N, C, S, mean, var, node.fp[1], to_d(gamma, C), to_d(beta, C), out);
        expect_close("bn_apply train", d, out, n, 1e-5, 1e-5);

        /* apply, eval: running statistics */
        node.ip[0] = 1;
        run(ferry_cpu_bn_apply, &node, d, 2, SRC(x, rm, gamma, beta, rv));
        ref_bn_affine(xd, b->N, C, S, to_d(rm, C), to_d(rv, C), node.fp[1], to_d(gamma, C),
                      to_d(beta, C), out);
        expect_close("bn_apply eval", d, out, n, 1e-5, 1e-5);
    }
}

/* L = sum g·BN(x; gamma, beta) with batch statistics; v = [x, gamma, beta] */
struct bn_ctx {
    int64_t N, C, S;
    double eps;
    const float *g;
};

static double bn_loss(const double *v, const void *p)
{
    const struct bn_ctx *c = p;
    const int64_t n = c->N * c->C * c->S;
    double mean[16], var[16], out[256];
    ref_bn_moments(v, c->N, c->C, c->S, mean, var);
    ref_bn_affine(v, c->N, c->C, c->S, mean, var, c->eps, v + n, v + n + c->C, out);
    return dot(out, c->g, n);
}

static void check_bn_backward(int ndim, int64_t N, int64_t C, int64_t H, int64_t W)
{
    T xs = shape(ndim, N, C, H, W), ss = shape(2, 2, C, 1, 1);
    const int64_t n = xs.numel;
    cr_assert(n <= 256 && C <= 16);
    float *v = fbuf(n + 2 * C), *g = rnd(n, -1, 1), *st = fbuf(2 * C), *dp = fbuf(2 * C);
    float *rm = fbuf(C), *rv = fbuf(C), *dx = fbuf(n);
    memcpy(v, rnd(n, -2, 2), (size_t)n * sizeof *v);
    memcpy(v + n, rnd(C, 0.5, 1.5), (size_t)C * sizeof *v);
    memcpy(v + n + C, rnd(C, -1, 1), (size_t)C * sizeof *v);
    ss.src[0] = &xs;
    ss.fp[0] = 0.1f;
    ss.fp[1] = 1e-3f;
    run(ferry_cpu_bn_stats, &ss, st, 2, SRC(v, rm, rv));
    T np = ss; /* bwd_params: dst [2,C]; src1 = x */
    np.src[1] = &xs;
    run(ferry_cpu_bn_bwd_params, &np, dp, 2, SRC(g, v, st));
    run(ferry_cpu_bn_bwd_data, &xs, dx, 2, SRC(g, v, st, v + n, dp));

    struct bn_ctx c = {N, C, n / (N * C), ss.fp[1], g};
    double *want = fd_grad(bn_loss, &c, to_d(v, n + 2 * C), n + 2 * C);
    expect_close("bn_bwd_data", dx, want, n, FD_ATOL, FD_RTOL);
    expect_close("bn_bwd_params dgamma", dp, want + n, C, FD_ATOL, FD_RTOL);
    expect_close("bn_bwd_params dbeta", dp + C, want + n + C, C, FD_ATOL, FD_RTOL);
}

Test(cpu_ew, bn_backward)
{
    check_bn_backward(4, 3, 2, 2, 3);
    check_bn_backward(4, 2, 3, 3, 3);
    check_bn_backward(2, 6, 4, 1, 1);
}

/* ==== determinism: the reductions give the same bits with 1 and 2 threads ==================== */

Test(cpu_ew, reductions_thread_independent)
{
    const int64_t N = 16, C = 8, H = 32, W = 32, n = N * C * H * W;
    T xs = shape(4, N, C, H, W), cs = shape(1, C, 1, 1, 1), ss = shape(2, 2, C, 1, 1);
    float *x = rnd(n, -2, 3), *g = rnd(n, -1, 1), *a1 = fbuf(n), *a2 = fbuf(n);
    float *rm1 = rnd(C, -1, 1), *rv1 = rnd(C, 0.5, 2), *rm2 = fbuf(C), *rv2 = fbuf(C);
    memcpy(rm2, rm1, (size_t)C * sizeof *rm1);
    memcpy(rv2, rv1, (size_t)C * sizeof *rv1);

    cs.src[0] = &xs; /* bias_grad */
    run(ferry_cpu_bias_grad, &cs, a1, 1, SRC(g));
    run(ferry_cpu_bias_grad, &cs, a2, 2, SRC(g));
    expect_same_bits("bias_grad", a1, a2, C);

    float *st1 = fbuf(2 * C), *st2 = fbuf(2 * C);
    ss.src[0] = &xs;
    ss.fp[0] = 0.1f;
    ss.fp[1] = 1e-5f;
    run(ferry_cpu_bn_stats, &ss, st1, 1, SRC(x, rm1, rv1));
    run(ferry_cpu_bn_stats, &ss, st2, 2, SRC(x, rm2, rv2));
    expect_same_bits("bn_stats", st1, st2, 2 * C);
    expect_same_bits("bn running mean", rm1, rm2, C);
    expect_same_bits("bn running var", rv1, rv2, C);

    ss.src[1] = &xs;
    run(ferry_cpu_bn_bwd_params, &ss, a1, 1, SRC(g, x, st1));
    run(ferry_cpu_bn_bwd_params, &ss, a2, 2, SRC(g, x, st1));
    expect_same_bits("bn_bwd_params", a1, a2, 2 * C);

    T sc = scalar(); /* mean */
    sc.src[0] = &xs;
    sc.fp[0] = (float)(1.0 / (double)n);
    run(ferry_cpu_sum, &sc, a1, 1, SRC(x));
    run(ferry_cpu_sum, &sc, a2, 2, SRC(x));
    expect_same_bits("mean", a1, a2, 1);

    const int64_t rows = n / 16, k = 16; /* x as logits [rows, 16] */
    T ls = shape(2, rows, k, 1, 1);
    int32_t *y = labels(rows, (int)k);
    sc.src[0] = &ls;
    const float eps[] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        sc.fp[0] = eps[e];
        run(ferry_cpu_cross_entropy, &sc, a1, 1, SRC(x, y));
        run(ferry_cpu_cross_entropy, &sc, a2, 2, SRC(x, y));
        expect_same_bits("cross_entropy", a1, a2, 1);
    }
    run(ferry_cpu_bce_logits, &sc, a1, 1, SRC(x, g));
    run(ferry_cpu_bce_logits, &sc, a2, 2, SRC(x, g));
    expect_same_bits("bce_logits", a1, a2, 1);
    run(ferry_cpu_count_correct, &sc, a1, 1, SRC(x, y));
    run(ferry_cpu_count_correct, &sc, a2, 2, SRC(x, y));
    expect_same_bits("count_correct", a1, a2, 1);

    /* row and plane kernels on their threaded path */
    const ferry_cpu_kernel_fn rowwise[] = {ferry_cpu_softmax, ferry_cpu_log_softmax};
    for (int r = 0; r < 2; r++) {
        run(rowwise[r], &ls, a1, 1, SRC(x));
        run(rowwise[r], &ls, a2, 2, SRC(x));
        expect_same_bits(r ? "log_softmax" : "softmax", a1, a2, n);
    }
    float g0 = 0.5f, *gamma = rnd(C, 0.5, 1.5), *beta = rnd(C, -1, 1), *dp = fbuf(2 * C);
    run(ferry_cpu_cross_entropy_bwd, &ls, a1, 1, SRC(&g0, x, y));
    run(ferry_cpu_cross_entropy_bwd, &ls, a2, 2, SRC(&g0, x, y));
    expect_same_bits("cross_entropy_bwd", a1, a2, n);
    run(ferry_cpu_bn_apply, &xs, a1, 1, SRC(x, st1, gamma, beta));
    run(ferry_cpu_bn_apply, &xs, a2, 2, SRC(x, st1, gamma, beta));
    expect_same_bits("bn_apply", a1, a2, n);
    run(ferry_cpu_bn_bwd_params, &ss, dp, 2, SRC(g, x, st1));
    run(ferry_cpu_bn_bwd_data, &xs, a1, 1, SRC(g, x, st1, gamma, dp));
    run(ferry_cpu_bn_bwd_data, &xs, a2, 2, SRC(g, x, st1, gamma, dp));
    expect_same_bits("bn_bwd_data", a1, a2, n);
}

/* ==== optimizers ============================================================================== */

/* Parameters p0[i] = cos(0.5 i + 0.1), gradients at step t (1-based) g[i] = sin(0.7 i + 1.3 t). */
#define OP_P 6
#define OP_T 3

static void opt_init(float *p) { for (int i = 0; i < OP_P; i++) p[i] = (float)cos(0.5 * i + 0.1); }

static void opt_grad(int t, float *g)
{
    for (int i = 0; i < OP_P; i++) g[i] = (float)sin(0.7 * i + 1.3 * t);
}

/* Parameters after each step from PyTorch 1.13 (Debian python3-torch) with foreach=False: the
 * same p0 and gradients, set as p.grad before each opt.step(), for
 *   SGD(lr=0.1, momentum=0.9, weight_decay=0.01[, nesterov=True]), SGD(lr=0.1),
 *   Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), AdamW(same, weight_decay=0.1);
 * printed with '%.9g'. */
static const float torch_sgd_mom[3][6] = {
    {0.897653341f, 0.73358053f, 0.410404533f, -0.00361620961f, -0.422513545f, -0.756415427f},
    {0.757589817f, 0.66604197f, 0.44680196f, 0.119404718f, -0.270715266f, -0.647016764f},
    {0.699551642f, 0.703960299f, 0.562339604f, 0.257945687f, -0.174311101f, -0.637781739f},
};
static const float torch_sgd_nesterov[3][6] = {
    {0.810037613f, 0.651000977f, 0.371532112f, 0.0194087699f, -0.348414242f, -0.665989399f},
    {0.631699085f, 0.605414152f, 0.47963348f, 0.2300798f, -0.134237632f, -0.548729718f},
    {0.647793949f, 0.738425791f, 0.666366398f, 0.382359892f, -0.0880074948f, -0.629902005f},
};
static const float torch_sgd_plain[3][6] = {
    {0.898648381f, 0.734405875f, 0.410858124f, -0.00364541006f, -0.423018396f, -0.757272303f},
    {0.847098231f, 0.750180423f, 0.48653838f, 0.0963469148f, -0.345741957f, -0.739056051f},
    {0.915874839f, 0.849549532f, 0.569765151f, 0.124288462f, -0.386226952f, -0.828926861f},
};
static const float torch_adam[3][6] = {
    {0.985004187f, 0.815335631f, 0.443596125f, -0.0191995222f, -0.494846106f, -0.846888781f},
    {0.975572765f, 0.80992043f, 0.446715713f, -0.0103302794f, -0.48486501f, -0.838917971f},
    {0.972698748f, 0.811698854f, 0.452871293f, -0.00204245839f, -0.47971946f, -0.838469744f},
};
static const float torch_adamw[3][6] = {
    {0.984009206f, 0.814510286f, 0.443142533f, -0.0191703234f, -0.494341254f, -0.846031904f},
    {0.97360599f, 0.808366477f, 0.445886135f, -0.010282971f, -0.483865917f, -0.837255478f},
    {0.969876587f, 0.809439063f, 0.45163852f, -0.00198578928f, -0.478286445f, -0.83607769f},
};

struct sgd_cfg {
    float lr, lr_mult, momentum, wd;
    bool nesterov;
    const float (*torch)[6];
};

Test(cpu_ew, sgd_update)
{
    const struct sgd_cfg cfgs[] = {
        {0.2f, 0.5f, 0.9f, 0.01f, false, torch_sgd_mom},
        {0.2f, 0.5f, 0.9f, 0.01f, true, torch_sgd_nesterov},
        {0.1f, 1.0f, 0.0f, 0.0f, false, torch_sgd_plain},
        {0.05f, 2.0f, 0.5f, 0.1f, true, NULL},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        const struct sgd_cfg *c = &cfgs[k];
        T node = shape(1, OP_P, 1, 1, 1);
        node.src[0] = &node;
        node.fp[0] = c->lr_mult;
        node.fp[1] = c->momentum;
        node.fp[2] = c->wd;
        node.ip[0] = c->nesterov;
        float p[OP_P], g[OP_P], buf[OP_P] = {0}, lr = c->lr;
        double pr[OP_P], br[OP_P] = {0}; /* torch.optim.SGD in double */
        opt_init(p);
        for (int i = 0; i < OP_P; i++) pr[i] = p[i];
        for (int t = 1; t <= OP_T; t++) {
            opt_grad(t, g);
            run(ferry_cpu_sgd_update, &node, p, 1, SRC(p, g, buf, &lr));
            for (int i = 0; i < OP_P; i++) {
                double d = g[i] + (double)c->wd * pr[i];
                if (c->momentum != 0) {
                    br[i] = (t == 1 ? 0 : c->momentum * br[i]) + d; /* torch: buf = d at step 1 */
                    d = c->nesterov ? d + c->momentum * br[i] : br[i];
                }
                pr[i] -= (double)c->lr * c->lr_mult * d;
            }
            expect_close("sgd p", p, pr, OP_P, 1e-6, 1e-5);
            if (c->momentum != 0) expect_close("sgd buf", buf, br, OP_P, 1e-6, 1e-5);
            if (c->torch) {
                double want[OP_P];
                for (int i = 0; i < OP_P; i++) want[i] = c->torch[t - 1][i];
                expect_close("sgd vs torch", p, want, OP_P, 1e-6, 1e-5);
            }
        }
    }
}

struct adam_cfg {
    float lr, lr_mult, b1, b2, eps, wd;
    bool decoupled;
    const float (*torch)[6];
};

Test(cpu_ew, adam_update)
{
    const struct adam_cfg cfgs[] = {
        {0.02f, 0.5f, 0.9f, 0.999f, 1e-8f, 0.01f, false, torch_adam},
        {0.02f, 0.5f, 0.9f, 0.999f, 1e-8f, 0.1f, true, torch_adamw},
        {0.1f, 1.0f, 0.8f, 0.99f, 1e-3f, 0.0f, false, NULL},
        {0.003f, 3.0f, 0.5f, 0.9f, 1e-6f, 0.05f, true, NULL},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        const struct adam_cfg *c = &cfgs[k];
        T node = shape(1, OP_P, 1, 1, 1);
        node.src[0] = &node;
        memcpy(node.fp, (float[]){c->lr_mult, c->b1, c->b2, c->eps, c->wd}, 5 * sizeof(float));
        node.ip[0] = c->decoupled;
        float p[OP_P], g[OP_P], m[OP_P] = {0}, v[OP_P] = {0};
        double pr[OP_P], mr[OP_P] = {0}, vr[OP_P] = {0}; /* torch.optim.Adam / AdamW in double */
        opt_init(p);
        for (int i = 0; i < OP_P; i++) pr[i] = p[i];
        for (int t = 1; t <= OP_T; t++) {
            opt_grad(t, g);
            const double lr = (double)c->lr * c->lr_mult, bc1 = 1 - pow(c->b1, t),
                         bc2 = 1 - pow(c->b2, t);
            float hyper[4] = {c->lr, (float)bc1, (float)bc2, 0};
            run(ferry_cpu_adam_update, &node, p, 1, SRC(p, g, m, v, hyper));
            for (int i = 0; i < OP_P; i++) {
                double gi = g[i];
                if (c->decoupled) pr[i] *= 1 - lr * c->wd;
                else gi += c->wd * pr[i];
                mr[i] = c->b1 * mr[i] + (1 - (double)c->b1) * gi;
                vr[i] = c->b2 * vr[i] + (1 - (double)c->b2) * gi * gi;
                pr[i] -= lr / bc1 * mr[i] / (sqrt(vr[i]) / sqrt(bc2) + c->eps);
            }
            expect_close("adam p", p, pr, OP_P, 1e-6, 1e-5);
            expect_close("adam m", m, mr, OP_P, 1e-6, 1e-5);
            expect_close("adam v", v, vr, OP_P, 1e-7, 1e-5);
            if (c->torch) {
                double want[OP_P];
                for (int i = 0; i < OP_P; i++) want[i] = c->torch[t - 1][i];
                expect_close("adam vs torch", p, want, OP_P, 1e-6, 1e-5);
            }
        }
    }
}

Test(cpu_ew, updates_large_threaded)
{
    /* the threaded path gives the same bits as the single-threaded one */
    const int64_t n = BIG;
    T node = shape(1, n, 1, 1, 1);
    node.src[0] = &node;
    float *p0 = rnd(n, -1, 1), *g = rnd(n, -1, 1), lr = 0.1f;
    float *p[2], *s1[2], *s2[2];
    for (int r = 0; r < 2; r++) {
        p[r] = fbuf(n);
        s1[r] = fbuf(n);
        s2[r] = fbuf(n);
        memcpy(p[r], p0, (size_t)n * sizeof *p0);
    }
    node.fp[0] = 1;
    node.fp[1] = 0.9f;
    node.fp[2] = 1e-4f;
    for (int r = 0; r < 2; r++)
        run(ferry_cpu_sgd_update, &node, p[r], r + 1, SRC(p[r], g, s1[r], &lr));
    expect_same_bits("sgd", p[0], p[1], n);

    float hyper[4] = {1e-3f, 0.1f, 0.001f, 0};
    memcpy(node.fp, (float[]){1, 0.9f, 0.999f, 1e-8f, 0.01f}, 5 * sizeof(float));
    for (int r = 0; r < 2; r++)
        run(ferry_cpu_adam_update, &node, p[r], r + 1, SRC(p[r], g, s1[r], s2[r], hyper));
    expect_same_bits("adam", p[0], p[1], n);
    expect_same_bits("adam v", s2[0], s2[1], n);
}

/* ==== unary kinds log ... softplus: values and derivatives against math.h in double ========== */

struct unary_ref {
    int kind;
    float fp0, fp1;
    double lo, hi; /* input range */
    bool uses_y;
};

static double ref_unary2(const struct unary_ref *r, double x)
{
    switch (r->kind) {
    case FERRY_UNARY_LOG: return log(x);
    case FERRY_UNARY_SQRT: return sqrt(x);
    case FERRY_UNARY_SQUARE: return x * x;
    case FERRY_UNARY_POW: return pow(x, r->fp0);
    case FERRY_UNARY_ABS: return fabs(x);
    case FERRY_UNARY_CLAMP: return x < r->fp0 ? r->fp0 : x > r->fp1 ? r->fp1 : x;
    case FERRY_UNARY_SILU: return x / (1 + exp(-x));
    case FERRY_UNARY_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case FERRY_UNARY_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    case FERRY_UNARY_RELU6: return fmin(fmax(x, 0), 6);
    default: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); /* softplus */
    }
}

static double ref_unary2_d(const struct unary_ref *r, double x)
{
    const double s = 1 / (1 + exp(-x));
    switch (r->kind) {
    case FERRY_UNARY_LOG: return 1 / x;
    case FERRY_UNARY_SQRT: return 0.5 / sqrt(x);
    case FERRY_UNARY_SQUARE: return 2 * x;
    case FERRY_UNARY_POW: return r->fp0 == 0 ? 0 : r->fp0 * pow(x, r->fp0 - 1);
    case FERRY_UNARY_ABS: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case FERRY_UNARY_CLAMP: return x >= r->fp0 && x <= r->fp1 ? 1 : 0;
    case FERRY_UNARY_SILU: return s * (1 + x * (1 - s));
    case FERRY_UNARY_GELU: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    case FERRY_UNARY_HARD_SIGMOID: return x > -3 && x < 3 ? 1.0 / 6 : 0;
    case FERRY_UNARY_RELU6: return x > 0 && x < 6 ? 1 : 0;
    default: return s; /* softplus */
    }
}

static const struct unary_ref unary_refs[] = {
    {FERRY_UNARY_LOG, 0, 0, 1e-3, 50, false},
    {FERRY_UNARY_SQRT, 0, 0, 1e-3, 50, true},
    {FERRY_UNARY_SQUARE, 0, 0, -30, 30, false},
    {FERRY_UNARY_POW, 2.5f, 0, 0.01, 10, false},
    {FERRY_UNARY_POW, 3.0f, 0, -5, 5, false},
    {FERRY_UNARY_POW, -2.0f, 0, -5, 5, false},
    {FERRY_UNARY_POW, 0.0f, 0, -5, 5, false},
    {FERRY_UNARY_ABS, 0, 0, -30, 30, false},
    {FERRY_UNARY_CLAMP, -1.5f, 2.0f, -4, 4, false},
    {FERRY_UNARY_CLAMP, 0.0f, 6.0f, -9, 9, false}, /* relu6 */
    {FERRY_UNARY_SILU, 0, 0, -40, 40, false},
    {FERRY_UNARY_GELU, 0, 0, -8, 8, false},
    {FERRY_UNARY_HARD_SIGMOID, 0, 0, -6, 6, false},
    {FERRY_UNARY_RELU6, 0, 0, -9, 9, true},
    {FERRY_UNARY_SOFTPLUS, 0, 0, -90, 90, false},
};

Test(cpu_ew, unary_kinds_values_and_gradients)
{
    const int64_t n = 4096;
    T node = shape(1, n, 1, 1, 1);
    float *g = rnd(n, -1, 1), *y = fbuf(n), *d = fbuf(n);
    double *want = dbuf(n), *wantd = dbuf(n);
    for (size_t c = 0; c < sizeof unary_refs / sizeof *unary_refs; c++) {
        const struct unary_ref *r = &unary_refs[c];
        float *x = rnd(n, r->lo, r->hi);
        if (r->kind == FERRY_UNARY_CLAMP) { /* the edges themselves pass the gradient */
            x[0] = r->fp0;
            x[1] = r->fp1;
        }
        if (r->kind == FERRY_UNARY_ABS) x[0] = 0;
        if (r->kind == FERRY_UNARY_HARD_SIGMOID) { /* the edges do not */
            x[0] = -3;
            x[1] = 3;
        }
        if (r->kind == FERRY_UNARY_RELU6) { /* nor here (PyTorch's hardtanh) */
            x[0] = 0;
            x[1] = 6;
        }
        node.ip[0] = r->kind;
        node.fp[0] = r->fp0;
        node.fp[1] = r->fp1;
        run(ferry_cpu_unary, &node, y, 2, SRC(x));
        cr_assert_eq(ferry_unary_bwd_uses_output(r->kind), r->uses_y, "%s", ferry_unary_name(r->kind));
        run(ferry_cpu_unary_bwd, &node, d, 2, SRC(g, r->uses_y ? y : x));
        for (int64_t i = 0; i < n; i++) {
            want[i] = ref_unary2(r, x[i]);
            wantd[i] = g[i] * ref_unary2_d(r, x[i]);
        }
        char what[64];
        snprintf(what, sizeof what, "%s(%g) forward", ferry_unary_name(r->kind), (double)r->fp0);
        expect_close(what, y, want, n, 5e-7, 2e-6);
        snprintf(what, sizeof what, "%s(%g) backward", ferry_unary_name(r->kind), (double)r->fp0);
        expect_close(what, d, wantd, n, 5e-7, 2e-6);
    }
}

Test(cpu_ew, unary_kinds_extremes)
{
    T node = shape(1, 4, 1, 1, 1);
    float x[4] = {-1000, -100, 100, 1000}, y[4];
    node.ip[0] = FERRY_UNARY_SOFTPLUS;
    run(ferry_cpu_unary, &node, y, 1, SRC(x));
    cr_expect(y[0] == 0 && y[1] >= 0 && y[1] < 1e-40f && y[2] == 100 && y[3] == 1000,
              "softplus extremes %g %g %g %g", (double)y[0], (double)y[1], (double)y[2], (double)y[3]);
    node.ip[0] = FERRY_UNARY_GELU;
    run(ferry_cpu_unary, &node, y, 1, SRC(x));
    cr_expect(y[0] == 0 && y[3] == 1000, "gelu extremes %g %g", (double)y[0], (double)y[3]);
    node.ip[0] = FERRY_UNARY_SILU;
    run(ferry_cpu_unary, &node, y, 1, SRC(x));
    cr_expect(y[0] == 0 && y[3] == 1000, "silu extremes %g %g", (double)y[0], (double)y[3]);
    node.ip[0] = FERRY_UNARY_CLAMP;
    node.fp[0] = -1;
    node.fp[1] = 1;
    x[0] = NAN;
    run(ferry_cpu_unary, &node, y, 1, SRC(x));
    cr_expect(isnan(y[0]) && y[1] == -1 && y[2] == 1, "clamp: NaN passes, bounds hold");
}
