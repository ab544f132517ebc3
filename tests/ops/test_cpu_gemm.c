/* CPU kernels of cpu_gemm.c (matmul, conv2d and its backward passes) and cpu_pool.c (max / average
 * pooling and their backward passes).
 * Forward kernels are compared with naive double-precision references; backward kernels with
 * central finite differences of those references (loss = sum(g ⊙ forward)) on small shapes and with
 * direct double-precision backward references on larger ones. Every kernel runs with 1, 2 and 3
 * threads, over destination and scratch memory filled with NaNs, and twice, to check that it writes
 * every output and that its result is bit-identical from run to run. */
#include <criterion/criterion.h>

#include "cpu.h"
#include "ops_conv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ferry_tensor T;

/* Bound on the normalised squared error against a double reference (float rounding gives about
 * 1e-14; a wrong index or a missed term gives far more). */
#define TOL 1e-10

/* ==== test scaffolding ======================================================================== */

#define HARNESS_SEED 0x9876543u
#include "kernel_harness.h"

TestSuite(cpu_gemm, .fini = arena_free);

static float *rnd(int64_t n)
{
    float *x = fbuf(n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)uniform(-1, 1);
    return x;
}

/* Distinct values (gaps of at least 1/64) in random order: no ties in any max window. */
static float *rnd_distinct(int64_t n)
{
    float *x = fbuf(n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i - n / 2) / 64.0f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)uniform(0, (double)i + 1 - 1e-9);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    return x;
}

/* A hand-built tensor: shape only (the kernels read ne, ndim, numel, ip and src). */
static T *tensor(enum ferry_op op, int ndim, const int64_t *ne)
{
    T *t = alloc(sizeof *t);
    t->op = op;
    t->dtype = FERRY_F32;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < FERRY_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < ndim; i++) {
        t->ne[i] = ne[i];
        t->numel *= ne[i];
    }
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->nb[i] = st;
        st *= t->ne[i];
    }
    return t;
}

/* Runs a kernel with dst and scratch filled with NaNs; returns dst. */
static float *run(ferry_cpu_kernel_fn fn, ferry_cpu_scratch_fn sfn, const T *node, const float *s0,
                  const float *s1, int nt)
{
    float *dst = fbuf(node->numel);
    memset(dst, 0xff, (size_t)node->numel * sizeof *dst);
    size_t sb = sfn ? sfn(node, nt) : 0;
    void *scratch = NULL;
    if (sb) {
        scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
        cr_assert(scratch != NULL);
        memset(scratch, 0xff, (sb + 63) / 64 * 64);
    }
    struct ferry_cpu_args a = {.node = node, .dst = dst, .scratch = scratch, .nthreads = nt};
    a.src[0] = (void *)s0;
    a.src[1] = (void *)s1;
    fn(&a);
    free(scratch);
    return dst;
}

/* Runs the kernel twice; checks the two results are bit-identical. */
static float *run2(ferry_cpu_kernel_fn fn, ferry_cpu_scratch_fn sfn, const T *node, const float *s0,
                   const float *s1, int nt, const char *what)
{
    float *d1 = run(fn, sfn, node, s0, s1, nt);
    float *d2 = run(fn, sfn, node, s0, s1, nt);
    cr_assert(memcmp(d1, d2, (size_t)node->numel * sizeof *d1) == 0,
              "%s (%d threads): two runs differ", what, nt);
    return d1;
}

/* sum (a-b)^2 / sum b^2 (NaN if a has a NaN) */
static double nerr(const float *a, const double *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static void check(const float *got, const double *want, int64_t n, const char *what, int nt)
{
    const double e = nerr(got, want, n);
    cr_assert(e <= TOL, "%s (%d threads): normalised error %g", what, nt, e);
}

/* ==== matmul ================================================================================== */

static void ref_matmul(const double *a, const double *b, double *c, int64_t m, int64_t n, int64_t k,
                       bool ta, bool tb)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = s;
        }
}

static void matmul_case(int64_t m, int64_t n, int64_t k)
{
    for (int tr = 0; tr < 4; tr++) {
        const bool ta = tr & 1, tb = tr & 2;
        T *A = tensor(FERRY_OP_LEAF, 2, ta ? (int64_t[]){k, m} : (int64_t[]){m, k});
        T *B = tensor(FERRY_OP_LEAF, 2, tb ? (int64_t[]){n, k} : (int64_t[]){k, n});
        T *C = tensor(FERRY_OP_MATMUL, 2, (int64_t[]){m, n});
        C->src[0] = A;
        C->src[1] = B;
        C->ip[0] = ta;
        C->ip[1] = tb;
        float *a = rnd(m * k), *b = rnd(k * n);
        double *want = dbuf(m * n);
        ref_matmul(to_d(a, m * k), to_d(b, k * n), want, m, n, k, ta, tb);
        char what[96];
        snprintf(what, sizeof what, "matmul %lldx%lldx%lld ta=%d tb=%d", (long long)m, (long long)n,
                 (long long)k, ta, tb);
        for (int nt = 1; nt <= 3; nt++)
            check(run2(ferry_cpu_matmul, NULL, C, a, b, nt, what), want, m * n, what, nt);
    }
}

Test(cpu_gemm, matmul_small) /* single-threaded path, odd sizes */
{
    matmul_case(1, 1, 1);
    matmul_case(3, 5, 7);
    matmul_case(37, 29, 53);
    matmul_case(10, 1, 100);
    matmul_case(1, 10, 100);
}

Test(cpu_gemm, matmul_parallel) /* split by rows and by columns */
{
    matmul_case(130, 70, 50);
    matmul_case(40, 301, 33);
    matmul_case(128, 100, 768);
    matmul_case(100, 768, 128);
}

Test(cpu_gemm, matmul_k0) /* empty inner dimension: zeros */
{
    T *A = tensor(FERRY_OP_LEAF, 2, (int64_t[]){4, 0});
    T *B = tensor(FERRY_OP_LEAF, 2, (int64_t[]){0, 3});
    T *C = tensor(FERRY_OP_MATMUL, 2, (int64_t[]){4, 3});
    C->src[0] = A;
    C->src[1] = B;
    float dummy[1] = {0};
    float *c = run(ferry_cpu_matmul, NULL, C, dummy, dummy, 2);
    for (int i = 0; i < 12; i++) cr_assert(c[i] == 0.0f);
}

/* ==== convolution ============================================================================= */

/* x [n, c, h, w], w [o, c/groups, kh, kw], stride s, padding p; groups 0 means 1 */
struct cc {
    int64_t n, c, h, w, o, kh, kw, s, p, groups;
};

static int64_t c_g(const struct cc *k) { return k->groups > 1 ? k->groups : 1; }
static int64_t c_cg(const struct cc *k) { return k->c / c_g(k); }

static int64_t c_oh(const struct cc *k) { return (k->h + 2 * k->p - k->kh) / k->s + 1; }
static int64_t c_ow(const struct cc *k) { return (k->w + 2 * k->p - k->kw) / k->s + 1; }
static int64_t c_nx(const struct cc *k) { return k->n * k->c * k->h * k->w; }
static int64_t c_nw(const struct cc *k) { return k->o * c_cg(k) * k->kh * k->kw; }
static int64_t c_ny(const struct cc *k) { return k->n * k->o * c_oh(k) * c_ow(k); }

static void ref_conv(const struct cc *k, const double *x, const double *w, double *y)
{
    const int64_t OH = c_oh(k), OW = c_ow(k);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double s = 0;
                    const int64_t cg = c_cg(k), c0 = o / (k->o / c_g(k)) * cg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ky = 0; ky < k->kh; ky++)
                            for (int64_t kx = 0; kx < k->kw; kx++) {
                                const int64_t iy = oy * k->s - k->p + ky;
                                const int64_t ix = ox * k->s - k->p + kx;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                s += x[((n * k->c + c0 + c) * k->h + iy) * k->w + ix] *
                                     w[((o * cg + c) * k->kh + ky) * k->kw + kx];
                            }
                    y[((n * k->o + o) * OH + oy) * OW + ox] = s;
                }
}

/* Direct backward: dx and dw of sum(g ⊙ conv(x, w)). */
static void ref_conv_bwd(const struct cc *k, const double *x, const double *w, const double *g,
                         double *dx, double *dw)
{
    const int64_t OH = c_oh(k), OW = c_ow(k);
    memset(dx, 0, (size_t)c_nx(k) * sizeof *dx);
    memset(dw, 0, (size_t)c_nw(k) * sizeof *dw);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    const double gv = g[((n * k->o + o) * OH + oy) * OW + ox];
                    const int64_t cg = c_cg(k), c0 = o / (k->o / c_g(k)) * cg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ky = 0; ky < k->kh; ky++)
                            for (int64_t kx = 0; kx < k->kw; kx++) {
                                const int64_t iy = oy * k->s - k->p + ky;
                                const int64_t ix = ox * k->s - k->p + kx;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                const int64_t xi = ((n * k->c + c0 + c) * k->h + iy) * k->w + ix;
                                const int64_t wi = ((o * cg + c) * k->kh + ky) * k->kw + kx;
                                dx[xi] += gv * w[wi];
                                dw[wi] += gv * x[xi];
                            }
                }
}

static double conv_loss(const struct cc *k, const double *x, const double *w, const double *g,
                        double *y)
{
    ref_conv(k, x, w, y);
    double s = 0;
    for (int64_t i = 0; i < c_ny(k); i++) s += g[i] * y[i];
    return s;
}

/* Central differences of conv_loss with respect to v (x or w, modified in place and restored). */
static void conv_fd(const struct cc *k, double *x, double *w, const double *g, double *v, int64_t n,
                    double *out)
{
    const double h = 1e-3;
    double *y = dbuf(c_ny(k));
    for (int64_t i = 0; i < n; i++) {
        const double v0 = v[i];
        v[i] = v0 + h;
        const double lp = conv_loss(k, x, w, g, y);
        v[i] = v0 - h;
        const double lm = conv_loss(k, x, w, g, y);
        v[i] = v0;
        out[i] = (lp - lm) / (2 * h);
    }
}

static void conv_case(struct cc k, bool fd)
{
    const int64_t OH = c_oh(&k), OW = c_ow(&k), nx = c_nx(&k), nw = c_nw(&k), ny = c_ny(&k);
    T *X = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, k.h, k.w});
    T *W = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.o, c_cg(&k), k.kh, k.kw});
    T *G = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.o, OH, OW});
    T *Y = tensor(FERRY_OP_CONV2D, 4, G->ne);
    T *DX = tensor(FERRY_OP_CONV2D_BWD_DATA, 4, X->ne);
    T *DW = tensor(FERRY_OP_CONV2D_BWD_WEIGHT, 4, W->ne);
    Y->src[0] = X, Y->src[1] = W;
    DX->src[0] = G, DX->src[1] = W;
    DW->src[0] = G, DW->src[1] = X;
    T *nodes[3] = {Y, DX, DW};
    for (int i = 0; i < 3; i++) {
        const int sp = (int)k.s, pp = (int)k.p;
        ferry_conv_set(nodes[i], &(struct ferry_conv_geom){.sh = sp, .sw = sp, .pt = pp, .pb = pp,
                                                           .pl = pp, .pr = pp, .dh = 1, .dw = 1,
                                                           .groups = (int)c_g(&k)});
    }
    float *x = rnd(nx), *w = rnd(nw), *g = rnd(ny);
    double *xd = to_d(x, nx), *wd = to_d(w, nw), *gd = to_d(g, ny);
    double *y = dbuf(ny), *dx = dbuf(nx), *dw = dbuf(nw);
    ref_conv(&k, xd, wd, y);
    if (fd) {
        conv_fd(&k, xd, wd, gd, xd, nx, dx);
        conv_fd(&k, xd, wd, gd, wd, nw, dw);
    } else {
        ref_conv_bwd(&k, xd, wd, gd, dx, dw);
    }
    char what[160];
    snprintf(what, sizeof what, "conv x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] s%lld p%lld g%lld",
             (long long)k.n, (long long)k.c, (long long)k.h, (long long)k.w, (long long)k.o,
             (long long)c_cg(&k), (long long)k.kh, (long long)k.kw, (long long)k.s, (long long)k.p,
             (long long)c_g(&k));
    for (int nt = 1; nt <= 3; nt++) {
        check(run2(ferry_cpu_conv2d, ferry_cpu_conv2d_scratch, Y, x, w, nt, what), y, ny, what, nt);
        check(run2(ferry_cpu_conv2d_bwd_data, ferry_cpu_conv2d_bwd_data_scratch, DX, g, w, nt,
                   what),
              dx, nx, what, nt);
        check(run2(ferry_cpu_conv2d_bwd_weight, ferry_cpu_conv2d_bwd_weight_scratch, DW, g, x, nt,
                   what),
              dw, nw, what, nt);
    }
}

Test(cpu_gemm, conv_basic) /* batch 1 and 3, odd non-square images and kernels */
{
    conv_case((struct cc){1, 1, 7, 9, 2, 3, 3, 1, 0, 1}, true);
    conv_case((struct cc){3, 2, 6, 7, 3, 2, 3, 1, 0, 1}, true);
}

Test(cpu_gemm, conv_stride_pad)
{
    conv_case((struct cc){3, 2, 11, 8, 5, 3, 2, 2, 1, 1}, true);
    conv_case((struct cc){1, 2, 11, 8, 5, 3, 3, 2, 1, 1}, true);
    conv_case((struct cc){3, 3, 9, 10, 4, 5, 5, 1, 2, 1}, true);
    conv_case((struct cc){3, 2, 5, 6, 3, 4, 3, 2, 2, 1}, true);
    conv_case((struct cc){2, 2, 4, 5, 2, 3, 3, 3, 1, 1}, true);
    conv_case((struct cc){2, 2, 9, 8, 3, 7, 7, 2, 3, 1}, true);
}

Test(cpu_gemm, conv_1x1) /* the direct path, and 1x1 with stride 2 */
{
    conv_case((struct cc){3, 4, 6, 5, 3, 1, 1, 1, 0, 1}, true);
    conv_case((struct cc){2, 3, 7, 7, 2, 1, 1, 2, 0, 1}, true);
}

Test(cpu_gemm, conv_grouped) /* small images: several images per product, uneven groups */
{
    conv_case((struct cc){5, 2, 4, 4, 3, 2, 2, 1, 1, 1}, true);
    conv_case((struct cc){7, 3, 5, 5, 4, 3, 3, 1, 0, 1}, true);
}

Test(cpu_gemm, conv_depthwise) /* the direct depthwise loops: multipliers, strides, padding */
{
    conv_case((struct cc){2, 3, 7, 9, 3, 3, 3, 1, 1, 3}, true);   /* MobileNet's 3x3, pad 1 */
    conv_case((struct cc){2, 3, 9, 8, 3, 3, 3, 2, 1, 3}, true);   /* stride 2 */
    conv_case((struct cc){1, 2, 6, 7, 4, 3, 3, 1, 0, 2}, true);   /* multiplier 2 */
    conv_case((struct cc){2, 2, 11, 10, 6, 5, 5, 2, 2, 2}, true); /* 5x5, multiplier 3 */
    conv_case((struct cc){1, 4, 3, 3, 4, 5, 5, 1, 2, 4}, true);   /* kernel larger than the image */
    /* planes wide enough for the vector loops, and enough of them for three threads */
    conv_case((struct cc){3, 16, 20, 37, 16, 3, 3, 1, 1, 16}, false);
    conv_case((struct cc){2, 8, 33, 30, 16, 3, 3, 2, 1, 8}, false);
}

/* 3x3 stride-1 layers with at least 16 channels in and out: the forward pass and both gradients go
 * through Winograd's F(2x2, 3x3); odd and even sizes (a last tile row or column half outside),
 * padding 0, 1 and 2 (the data gradient's own padding 2, 1, 0), single-pixel images, several
 * images per product and one wide image per product. */
static void wino_case(struct cc k, bool fd)
{
    T *Y = tensor(FERRY_OP_CONV2D, 4, (int64_t[]){k.n, k.o, c_oh(&k), c_ow(&k)});
    T *X = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, k.h, k.w});
    T *W = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.o, k.c, 3, 3});
    T *DX = tensor(FERRY_OP_CONV2D_BWD_DATA, 4, X->ne);
    T *DW = tensor(FERRY_OP_CONV2D_BWD_WEIGHT, 4, W->ne);
    Y->src[0] = X, Y->src[1] = W;
    DX->src[0] = Y, DX->src[1] = W;
    DW->src[0] = Y, DW->src[1] = X;
    const struct ferry_conv_geom geom = {.sh = 1, .sw = 1, .pt = (int)k.p, .pb = (int)k.p,
                                         .pl = (int)k.p, .pr = (int)k.p, .dh = 1, .dw = 1,
                                         .groups = 1};
    ferry_conv_set(Y, &geom);
    ferry_conv_set(DX, &geom);
    ferry_conv_set(DW, &geom);
    cr_assert(ferry_cpu_conv2d_winograd(Y) && ferry_cpu_conv2d_winograd(DX) &&
                  ferry_cpu_conv2d_winograd(DW),
              "x[%lld,%lld,%lld,%lld] o %lld p %lld: not on the Winograd path", (long long)k.n,
              (long long)k.c, (long long)k.h, (long long)k.w, (long long)k.o, (long long)k.p);
    conv_case(k, fd);
}

Test(cpu_gemm, conv_winograd)
{
    wino_case((struct cc){2, 16, 4, 5, 16, 3, 3, 1, 1, 1}, true);
    wino_case((struct cc){3, 16, 7, 9, 24, 3, 3, 1, 1, 1}, false);
    wino_case((struct cc){2, 17, 6, 5, 16, 3, 3, 1, 0, 1}, false);
    wino_case((struct cc){1, 20, 5, 8, 19, 3, 3, 1, 2, 1}, false);
    wino_case((struct cc){4, 32, 1, 1, 16, 3, 3, 1, 1, 1}, false);
    wino_case((struct cc){7, 64, 8, 8, 48, 3, 3, 1, 1, 1}, false);
    wino_case((struct cc){2, 16, 33, 70, 16, 3, 3, 1, 1, 1}, false);
}

Test(cpu_gemm, conv_winograd_not_taken) /* too few channels, stride 2, 5x5: im2col */
{
    const struct cc ks[] = {{2, 8, 6, 6, 16, 3, 3, 1, 1, 1},
                            {2, 16, 6, 6, 16, 3, 3, 2, 1, 1},
                            {2, 16, 6, 6, 16, 5, 5, 1, 2, 1}};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        const struct cc k = ks[i];
        T *Y = tensor(FERRY_OP_CONV2D, 4, (int64_t[]){k.n, k.o, c_oh(&k), c_ow(&k)});
        Y->src[0] = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, k.h, k.w});
        Y->src[1] = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.o, k.c, k.kh, k.kw});
        ferry_conv_set(Y, &(struct ferry_conv_geom){.sh = (int)k.s, .sw = (int)k.s, .pt = (int)k.p,
                                                    .pb = (int)k.p, .pl = (int)k.p, .pr = (int)k.p,
                                                    .dh = 1, .dw = 1, .groups = 1});
        cr_assert(!ferry_cpu_conv2d_winograd(Y), "case %zu", i);
    }
}

Test(cpu_gemm, conv_lenet) /* LeNet's layers at batch 3 and 9, against the direct reference */
{
    conv_case((struct cc){3, 1, 28, 28, 32, 5, 5, 1, 0, 1}, false);
    conv_case((struct cc){9, 32, 12, 12, 48, 5, 5, 1, 0, 1}, false);
}

/* ==== pooling ================================================================================= */

/* x [n, c, h, w], window kh×kw, stride sh×sw, padding ph×pw */
struct pc {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
};

static int64_t p_oh(const struct pc *k) { return (k->h + 2 * k->ph - k->kh) / k->sh + 1; }
static int64_t p_ow(const struct pc *k) { return (k->w + 2 * k->pw - k->kw) / k->sw + 1; }
static int64_t p_nx(const struct pc *k) { return k->n * k->c * k->h * k->w; }
static int64_t p_ny(const struct pc *k) { return k->n * k->c * p_oh(k) * p_ow(k); }

/* Double-precision pooling: y = pool(x) when y is given, and dx = d sum(g ⊙ y) / dx when dx is given
 * (max: the whole gradient to the first maximum of the window in row-major order). */
static void ref_pool(const struct pc *k, bool max, const double *x, double *y, const double *g,
                     double *dx)
{
    const int64_t OH = p_oh(k), OW = p_ow(k);
    if (dx) memset(dx, 0, (size_t)p_nx(k) * sizeof *dx);
    for (int64_t pl = 0; pl < k->n * k->c; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                const int64_t yi = (pl * OH + oy) * OW + ox;
                double m = -INFINITY, s = 0;
                int64_t best = -1;
                for (int64_t ky = 0; ky < k->kh; ky++)
                    for (int64_t kx = 0; kx < k->kw; kx++) {
                        const int64_t iy = oy * k->sh - k->ph + ky, ix = ox * k->sw - k->pw + kx;
                        if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                        const int64_t xi = (pl * k->h + iy) * k->w + ix;
                        s += x[xi];
                        if (best < 0 || x[xi] > m) {
                            m = x[xi];
                            best = xi;
                        }
                    }
                if (y) y[yi] = max ? m : s / (double)(k->kh * k->kw);
                if (!dx) continue;
                if (max) {
                    dx[best] += g[yi];
                } else {
                    for (int64_t ky = 0; ky < k->kh; ky++)
                        for (int64_t kx = 0; kx < k->kw; kx++) {
                            const int64_t iy = oy * k->sh - k->ph + ky;
                            const int64_t ix = ox * k->sw - k->pw + kx;
                            if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                            dx[(pl * k->h + iy) * k->w + ix] += g[yi] / (double)(k->kh * k->kw);
                        }
                }
            }
}

static void pool_fd(const struct pc *k, bool max, double *x, const double *g, double *out)
{
    const double h = 1e-5; /* well below the 1/64 gaps of rnd_distinct */
    const int64_t ny = p_ny(k);
    double *y = dbuf(ny);
    for (int64_t i = 0; i < p_nx(k); i++) {
        const double v0 = x[i];
        double l[2];
        for (int s = 0; s < 2; s++) {
            x[i] = v0 + (s ? -h : h);
            ref_pool(k, max, x, y, NULL, NULL);
            l[s] = 0;
            for (int64_t j = 0; j < ny; j++) l[s] += g[j] * y[j];
        }
        x[i] = v0;
        out[i] = (l[0] - l[1]) / (2 * h);
    }
}

static void pool_case(struct pc k, bool fd)
{
    const int64_t OH = p_oh(&k), OW = p_ow(&k), nx = p_nx(&k), ny = p_ny(&k);
    T *X = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, k.h, k.w});
    T *G = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, OH, OW});
    /* the pooling layout of ops.def: kh, kw, sh, sw, pad top, left, bottom, right */
    const int32_t ip[8] = {(int32_t)k.kh, (int32_t)k.kw, (int32_t)k.sh, (int32_t)k.sw,
                           (int32_t)k.ph, (int32_t)k.pw, (int32_t)k.ph, (int32_t)k.pw};
    float *x = rnd_distinct(nx), *g = rnd(ny);
    double *xd = to_d(x, nx), *gd = to_d(g, ny);
    char what[160];
    for (int max = 0; max < 2; max++) {
        T *Y = tensor(max ? FERRY_OP_MAX_POOL : FERRY_OP_AVG_POOL, 4, G->ne);
        T *DX = tensor(max ? FERRY_OP_MAX_POOL_BWD : FERRY_OP_AVG_POOL_BWD, 4, X->ne);
        memcpy(Y->ip, ip, sizeof ip);
        memcpy(DX->ip, ip, sizeof ip);
        Y->src[0] = X;
        DX->src[0] = G;
        DX->src[1] = max ? X : NULL;
        double *y = dbuf(ny), *dx = dbuf(nx);
        ref_pool(&k, max, xd, y, gd, fd ? NULL : dx);
        if (fd) pool_fd(&k, max, xd, gd, dx);
        snprintf(what, sizeof what, "%s x[%lld,%lld,%lld,%lld] k%lldx%lld s%lldx%lld p%lldx%lld",
                 max ? "max_pool" : "avg_pool", (long long)k.n, (long long)k.c, (long long)k.h,
                 (long long)k.w, (long long)k.kh, (long long)k.kw, (long long)k.sh, (long long)k.sw,
                 (long long)k.ph, (long long)k.pw);
        for (int nt = 1; nt <= 3; nt++) {
            check(run2(max ? ferry_cpu_max_pool : ferry_cpu_avg_pool, NULL, Y, x, NULL, nt, what),
                  y, ny, what, nt);
            check(run2(max ? ferry_cpu_max_pool_bwd : ferry_cpu_avg_pool_bwd, NULL, DX, g,
                       max ? x : NULL, nt, what),
                  dx, nx, what, nt);
        }
    }
}

Test(cpu_gemm, pool_2x2)
{
    pool_case((struct pc){2, 3, 8, 8, 2, 2, 2, 2, 0, 0}, true);
    pool_case((struct pc){1, 2, 7, 9, 2, 2, 2, 2, 0, 0}, true); /* last row and column unused */
}

Test(cpu_gemm, pool_general)
{
    pool_case((struct pc){3, 2, 9, 8, 3, 3, 2, 2, 1, 1}, true);
    pool_case((struct pc){2, 2, 7, 7, 3, 3, 1, 1, 1, 1}, true);
    pool_case((struct pc){1, 3, 10, 7, 4, 2, 3, 1, 2, 1}, true);
    pool_case((struct pc){3, 1, 6, 5, 2, 2, 1, 1, 1, 0}, true);
    pool_case((struct pc){1, 2, 5, 5, 5, 5, 1, 1, 0, 0}, true); /* global */
    pool_case((struct pc){2, 3, 32, 33, 3, 3, 2, 2, 1, 1}, false); /* ResNet's stem: vector columns */
    pool_case((struct pc){1, 2, 2, 3, 3, 3, 1, 1, 1, 1}, true);  /* no window inside the input */
    pool_case((struct pc){1, 1, 1, 1, 3, 3, 2, 2, 1, 1}, true);
}

Test(cpu_gemm, pool_parallel) /* enough planes for several threads */
{
    pool_case((struct pc){4, 16, 24, 24, 2, 2, 2, 2, 0, 0}, false);
    pool_case((struct pc){4, 16, 24, 24, 3, 3, 2, 2, 1, 1}, false);
}

/* Ties go to the first maximum in row-major window order; a NaN wins over numbers. */
Test(cpu_gemm, max_pool_ties_nan)
{
    const struct pc cases[] = {{2, 3, 8, 8, 2, 2, 2, 2, 0, 0}, {2, 3, 7, 8, 3, 3, 2, 2, 1, 1}};
    for (int ci = 0; ci < 2; ci++) {
        const struct pc k = cases[ci];
        const int64_t OH = p_oh(&k), OW = p_ow(&k), nx = p_nx(&k), ny = p_ny(&k);
        T *X = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, k.h, k.w});
        T *G = tensor(FERRY_OP_LEAF, 4, (int64_t[]){k.n, k.c, OH, OW});
        T *Y = tensor(FERRY_OP_MAX_POOL, 4, G->ne), *DX = tensor(FERRY_OP_MAX_POOL_BWD, 4, X->ne);
        const int32_t ip[8] = {(int32_t)k.kh, (int32_t)k.kw, (int32_t)k.sh, (int32_t)k.sw,
                               (int32_t)k.ph, (int32_t)k.pw, (int32_t)k.ph, (int32_t)k.pw};
        memcpy(Y->ip, ip, sizeof ip);
        memcpy(DX->ip, ip, sizeof ip);
        Y->src[0] = X;
        DX->src[0] = G;
        DX->src[1] = X;
        float *x = fbuf(nx), *g = rnd(ny);
        for (int64_t i = 0; i < nx; i++) x[i] = (float)(int)uniform(0, 2); /* many ties */
        double *y = dbuf(ny), *dx = dbuf(nx);
        ref_pool(&k, true, to_d(x, nx), y, to_d(g, ny), dx);
        for (int nt = 1; nt <= 2; nt++) {
            check(run2(ferry_cpu_max_pool, NULL, Y, x, NULL, nt, "ties"), y, ny, "ties", nt);
            check(run2(ferry_cpu_max_pool_bwd, NULL, DX, g, x, nt, "ties"), dx, nx, "ties", nt);
        }
        /* a NaN at input 1 of plane 0: the first window's output is NaN, its gradient goes there */
        x[1] = NAN;
        float *yn = run(ferry_cpu_max_pool, NULL, Y, x, NULL, 1);
        cr_assert(isnan(yn[0]));
        float *dn = run(ferry_cpu_max_pool_bwd, NULL, DX, g, x, 1);
        cr_assert(dn[1] != 0.0f);
        cr_assert(dn[0] == 0.0f);
    }
}
