/* CPU kernels: matrix products and 2-D convolutions, all through BLIS.
 *
 * Parallelism: every kernel splits its work into one contiguous part per thread (rows or columns of
 * a product, images of a batch) and calls BLIS single-threaded on each part. BLIS never splits the
 * summation (k) dimension, and the parts depend only on the shapes and the thread count, so results
 * are bit-identical from run to run for a given thread count. The parts run through
 * ferry_cpu_run (cpu.h): a region of the backend's full thread count, or none for one thread.
 *
 * Convolutions are im2col + GEMM, except 3x3 stride-1 ones, which go through Winograd's F(2x2, 3x3)
 * (its section below), and depthwise ones (direct loops). Small images are processed a few at a time so that a product has
 * enough columns to keep BLIS's micro-kernel busy: the columns of `gi` images are laid side by side
 * ([C·KH·KW, gi·OH·OW]), and results are copied to / from the NCHW layout around the product. The
 * weight gradient builds the transposed column matrix instead ([gi·OH·OW, C·KH·KW], "im2row"):
 * BLIS's Skylake-X kernels pack that operand with a generic routine that is much faster on
 * contiguous data. */
#include "cpu.h"
#include "ops_conv.h"

#include <blis.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Floats per 64 bytes: per-thread scratch areas start on their own cache lines. */
#define LINE_F 16
/* Products below this many multiply-adds run on the calling thread only. */
#define PAR_MIN_FMA (1 << 18)
/* Convolution blocking (each may be overridden with -D when tuning): products of about this many
 * columns (images side by side) ... */
#ifndef CONV_COLS_FWD
#define CONV_COLS_FWD 512
#endif
#ifndef CONV_COLS_BWD_DATA
#define CONV_COLS_BWD_DATA 512
#endif
#ifndef CONV_COLS_BWD_WEIGHT
#define CONV_COLS_BWD_WEIGHT 256
#endif
/* ... over blocks of about this many rows of the column matrix (whole channels). */
#ifndef CONV_KROWS
#define CONV_KROWS 1024
#endif

/* Depthwise kernels up to this many taps run direct (larger ones through im2col + GEMM). */
#define DW_MAX_TAPS 64

/* ---- BLIS configuration -------------------------------------------------------------------------
 * BLIS 0.9 picks its configuration from the CPU id and falls back to the portable reference kernels
 * (about 6x slower) on CPUs newer than it knows, such as AMD Zen 5. Their Skylake-X (AVX-512) and
 * Zen 3 (AVX2) kernels run fine there. So when BLIS settled on the generic configuration, Ferry
 * passes the best context this BLIS build contains and the CPU supports to every GEMM explicitly.
 * Nothing process-wide changes (BLIS's own choice stays as it is for any other user in the
 * process), and a user's BLIS_ARCH_TYPE is respected because BLIS then reports that choice. */

static cntx_t *blis_cntx; /* NULL: BLIS's own choice */
static arch_t blis_arch;
static pthread_once_t blis_once = PTHREAD_ONCE_INIT;

static bool cpu_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

static void blis_choose_context(void)
{
    bli_init();
    blis_arch = bli_arch_query_id();
    if (blis_arch != BLIS_ARCH_GENERIC) return;
    __builtin_cpu_init();
    arch_t id = BLIS_NUM_ARCHS;
#ifdef BLIS_CONFIG_HASWELL
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) id = BLIS_ARCH_HASWELL;
#endif
#ifdef BLIS_CONFIG_ZEN3
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) id = BLIS_ARCH_ZEN3;
#endif
#ifdef BLIS_CONFIG_SKX
    if (cpu_has_avx512()) id = BLIS_ARCH_SKX;
#endif
    if (id == BLIS_NUM_ARCHS) return;
    blis_cntx = bli_gks_lookup_nat_cntx(id);
    if (blis_cntx) blis_arch = id;
}

const char *ferry_cpu_blis_config(void)
{
    pthread_once(&blis_once, blis_choose_context);
    return bli_arch_string(blis_arch);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* c = a·b + beta·c on the calling thread; a is m×k, b is k×n, c is m×n, each given by its row and
 * column strides in elements. */
static void gemm1(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa,
                  const float *b, int64_t rsb, int64_t csb, float beta, float *c, int64_t rsc,
                  int64_t csc)
{
    if (m <= 0 || n <= 0) return;
    pthread_once(&blis_once, blis_choose_context);
    float one = 1.0f;
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one,
                 (float *)a, (inc_t)rsa, (inc_t)csa, (float *)b, (inc_t)rsb, (inc_t)csb, &beta, c,
                 (inc_t)rsc, (inc_t)csc, blis_cntx, &rntm);
}

/* BLIS keeps its per-call state in pools that grow lazily: one array of small-block pools per call
 * in progress (the thread-info trees) and pack blocks for A and B, one of each per call in
 * progress. A pool grows the first time more calls overlap than ever before, which on a loaded
 * machine can happen at any step. Growing them here, for `callers` overlapping calls, makes the
 * steps allocate nothing: from this one thread, call k runs while k arrays and k pack blocks of
 * each kind are held, so it takes (and initialises) fresh ones, on both the small-matrix and
 * the packed path. */
#define BLIS_RESERVE_MAX 256

void ferry_cpu_blis_reserve(int callers)
{
    pthread_once(&blis_once, blis_choose_context);
    if (callers > BLIS_RESERVE_MAX) callers = BLIS_RESERVE_MAX;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int reserved;
    pthread_mutex_lock(&lock);
    static array_t *held[BLIS_RESERVE_MAX];
    static mem_t held_a[BLIS_RESERVE_MAX], held_b[BLIS_RESERVE_MAX];
    static float a[256 * 256], b[256 * 256], c[256 * 256];
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_pba_rntm_set_pba(&rntm);
    for (int k = reserved; k < callers; k++) {
        for (int i = 0; i < k; i++) {
            held[i] = bli_sba_checkout_array(1);
            bli_pba_acquire_m(&rntm, 64, BLIS_BUFFER_FOR_A_BLOCK, &held_a[i]);
            bli_pba_acquire_m(&rntm, 64, BLIS_BUFFER_FOR_B_PANEL, &held_b[i]);
        }
        gemm1(8, 8, 8, a, 8, 1, b, 8, 1, 0.0f, c, 8, 1);          /* the small-matrix path */
        gemm1(256, 256, 256, a, 256, 1, b, 256, 1, 0.0f, c, 256, 1); /* the packed path */
        for (int i = k - 1; i >= 0; i--) {
            bli_pba_release(&rntm, &held_b[i]);
            bli_pba_release(&rntm, &held_a[i]);
            bli_sba_checkin_array(held[i]);
        }
    }
    if (callers > reserved) reserved = callers;
    pthread_mutex_unlock(&lock);
}

/* Part t of nt of [0, n) in whole multiples of q (the last part takes the remainder). */
static void split(int64_t n, int nt, int t, int64_t q, int64_t *lo, int64_t *hi)
{
    const int64_t blocks = (n + q - 1) / q;
    *lo = min64(n, blocks * t / nt * q);
    *hi = min64(n, blocks * (t + 1) / nt * q);
}

/* ---- matmul ---------------------------------------------------------------------------------- */

/* C [m, n] = op(A) [m, k] · op(B) [k, n], op(A)(i,p) = A[i·rsa + p·csa], op(B)(p,j) likewise; part
 * t of nt computes rows (by_rows) or columns [lo, hi) of C, in blocks of q. */
struct matmul_job {
    int64_t m, n, k, rsa, csa, rsb, csb, len, q;
    bool by_rows;
    const float *A, *B;
    float *C;
};

static void matmul_part(void *ctx, int t, int nt)
{
    const struct matmul_job *j = ctx;
    int64_t lo, hi;
    split(j->len, nt, t, j->q, &lo, &hi);
    if (j->by_rows)
        gemm1(hi - lo, j->n, j->k, j->A + lo * j->rsa, j->rsa, j->csa, j->B, j->rsb, j->csb, 0.0f,
              j->C + lo * j->n, j->n, 1);
    else
        gemm1(j->m, hi - lo, j->k, j->A, j->rsa, j->csa, j->B + lo * j->csb, j->rsb, j->csb, 0.0f,
              j->C + lo, j->n, 1);
}

void ferry_cpu_matmul(const struct ferry_cpu_args *a)
{
    const struct ferry_tensor *node = a->node, *ta = node->src[0];
    const bool tra = node->ip[0] != 0, trb = node->ip[1] != 0;
    const int64_t m = node->ne[0], n = node->ne[1], k = tra ? ta->ne[0] : ta->ne[1];
    const float *A = a->src[0], *B = a->src[1];
    float *C = a->dst;
    /* op(A)(i,p) and op(B)(p,j) as strides over the row-major storage */
    const int64_t rsa = tra ? 1 : k, csa = tra ? m : 1;
    const int64_t rsb = trb ? 1 : n, csb = trb ? k : 1;
    if (m <= 0 || n <= 0) return;

    /* Split the longer side of C; 32-row / 16-column blocks keep the micro-tiles whole. The
     * split is over the backend's full thread count (a thread may get no block), see cpu.h; small
     * products run on the calling thread. */
    const bool by_rows = m >= n;
    const int64_t len = by_rows ? m : n, q = by_rows ? 32 : 16;
    const int nt = m * n * k < PAR_MIN_FMA || len <= q ? 1 : a->nthreads;
    struct matmul_job j = {.m = m, .n = n, .k = k, .rsa = rsa, .csa = csa, .rsb = rsb,
                           .csb = csb, .len = len, .q = q, .by_rows = by_rows, .A = A, .B = B,
                           .C = C};
    ferry_cpu_run(nt, matmul_part, &j);
}

/* ---- convolution geometry -------------------------------------------------------------------- */

/* Groups: output channels [q·og, (q+1)·og) of group q see input channels [q·cg, (q+1)·cg); each
 * group is its own product (weight rows of group q: [q·og, (q+1)·og), cg·kh·kw long). */
struct conv {
    int64_t n, c, h, w;    /* input */
    int64_t o, kh, kw;     /* weight [O, C/G, KH, KW] */
    int64_t oh, ow;        /* output */
    int64_t sh, sw;        /* strides */
    int64_t pt, pl;        /* padding top, left (bottom and right only shape OH, OW) */
    int64_t dh, dw;        /* dilations */
    int64_t groups, cg, og; /* groups, input and output channels per group */
    int64_t ckk, hw, ohw;  /* cg·kh·kw (a weight row), h·w, oh·ow */
    int64_t gi;            /* images per product */
    int64_t cb;            /* channels per column block (within a group) */
    bool direct;           /* 1x1, stride 1, no padding, one group: the input is its own column
                            * matrix */
    bool depthwise;        /* one input channel per group (groups > 1): direct loops, no GEMM */
};

/* x: [N,C,H,W], w: [O,C/G,KH,KW]; about `cols` columns per product. */
static struct conv conv_geom(const int64_t *x, const int64_t *w, const struct ferry_conv_geom *p,
                             int64_t cols)
{
    struct conv g = {.n = x[0], .c = x[1], .h = x[2], .w = x[3], .o = w[0], .kh = w[2],
                     .kw = w[3], .sh = p->sh, .sw = p->sw, .pt = p->pt, .pl = p->pl,
                     .dh = p->dh, .dw = p->dw, .groups = p->groups};
    g.cg = g.c / g.groups;
    g.og = g.o / g.groups;
    g.oh = (g.h + p->pt + p->pb - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + p->pl + p->pr - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    g.ckk = g.cg * g.kh * g.kw;
    g.hw = g.h * g.w;
    g.ohw = g.oh * g.ow;
    g.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
               p->pb == 0 && p->pr == 0 && g.groups == 1;
    g.depthwise = g.groups > 1 && g.cg == 1 && g.kh * g.kw <= DW_MAX_TAPS;
    g.gi = g.direct ? 1 : min64(max64(1, (cols + g.ohw - 1) / max64(1, g.ohw)), max64(1, g.n));
    const int64_t cb = min64(g.cg, max64(1, CONV_KROWS / max64(1, g.kh * g.kw)));
    const int64_t nb = (g.cg + cb - 1) / max64(1, cb); /* blocks of nearly equal size */
    g.cb = max64(1, (g.cg + nb - 1) / max64(1, nb));
    return g;
}

static struct conv conv_of(const struct ferry_tensor *node)
{
    const struct ferry_tensor *s0 = node->src[0], *s1 = node->src[1];
    const struct ferry_conv_geom p = ferry_conv_get(node);
    switch (node->op) {
    case FERRY_OP_CONV2D_BWD_DATA: /* g, w -> dx */
        return conv_geom(node->ne, s1->ne, &p, CONV_COLS_BWD_DATA);
    case FERRY_OP_CONV2D_BWD_WEIGHT: /* g, x -> dw */
        return conv_geom(s1->ne, node->ne, &p, CONV_COLS_BWD_WEIGHT);
    default: /* x, w -> y */
        return conv_geom(s0->ne, s1->ne, &p, CONV_COLS_FWD);
    }
}

/* d[0, n) = s[0, n). Rows are short here (OW = 8 or 24, KW = 5 in LeNet): whole 32-byte blocks
 * and the remainder are moved by fixed-size copies the compiler inlines, where a plain loop would
 * become a call to memcpy per row. */
static inline void copy_f(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(d + i, s + i, 8 * sizeof *d);
    d += i;
    s += i;
    switch (n - i) {
    case 7: memcpy(d, s, 7 * sizeof *d); break;
    case 6: memcpy(d, s, 6 * sizeof *d); break;
    case 5: memcpy(d, s, 5 * sizeof *d); break;
    case 4: memcpy(d, s, 4 * sizeof *d); break;
    case 3: memcpy(d, s, 3 * sizeof *d); break;
    case 2: memcpy(d, s, 2 * sizeof *d); break;
    case 1: d[0] = s[0]; break;
    default: break;
    }
}

/* d[0, n) += s[0, n), in blocks of 8 for the same reason (a plain loop is vectorised only for
 * long rows, and runs scalar for n = 8). */
static inline void add_f(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) d[i + j] += s[i + j];
    for (; i < n; i++) d[i] += s[i];
}

static inline void zero_f(float *restrict d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
}

/* Valid outputs [lo, hi) along one axis of n outputs for kernel offset k:
 * 0 <= o·s - p + k < size. */
static inline void valid_range(int64_t n, int64_t size, int64_t s, int64_t p, int64_t k,
                               int64_t *lo, int64_t *hi)
{
    const int64_t a = p - k, b = size - 1 + p - k; /* a <= o·s <= b */
    if (s == 1) {
        *lo = a > 0 ? a : 0;
        *hi = b < 0 ? 0 : min64(n, b + 1);
    } else {
        *lo = a > 0 ? (a + s - 1) / s : 0;
        *hi = b < 0 ? 0 : min64(n, b / s + 1);
    }
    if (*lo > *hi) *lo = *hi;
}

/* col[r][oy·OW + ox], r = ((c - c0)·KH + ky)·KW + kx, row stride ld: the input patch values of
 * channels [c0, c1) of one image x [C,H,W] (zero where the window lies in the padding). */
static void im2col(const struct conv *g, const float *restrict x, int64_t c0, int64_t c1,
                   float *restrict col, int64_t ld)
{
    const int64_t sh = g->sh, sw = g->sw, pt = g->pt, pl = g->pl, W = g->w, OH = g->oh,
                  OW = g->ow;
    col -= c0 * g->kh * g->kw * ld;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t y0, y1;
            valid_range(OH, g->h, sh, pt, ky * g->dh, &y0, &y1);
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t x0, x1;
                valid_range(OW, W, sw, pl, kx * g->dw, &x0, &x1);
                float *restrict row = col + ((c * g->kh + ky) * g->kw + kx) * ld;
                zero_f(row, y0 * OW);
                zero_f(row + y1 * OW, (OH - y1) * OW);
                const float *restrict src =
                    x + c * g->hw + (y0 * sh - pt + ky * g->dh) * W - pl + kx * g->dw;
                float *restrict d = row + y0 * OW;
                if (sw == 1 && x0 == 0 && x1 == OW) {
                    for (int64_t oy = y0; oy < y1; oy++, src += sh * W, d += OW) copy_f(d, src, OW);
                } else if (sw == 1) {
                    for (int64_t oy = y0; oy < y1; oy++, src += sh * W, d += OW) {
                        zero_f(d, x0);
                        copy_f(d + x0, src + x0, x1 - x0);
                        zero_f(d + x1, OW - x1);
                    }
                } else {
                    for (int64_t oy = y0; oy < y1; oy++, src += sh * W, d += OW) {
                        zero_f(d, x0);
                        for (int64_t ox = x0; ox < x1; ox++) d[ox] = src[ox * sw];
                        zero_f(d + x1, OW - x1);
                    }
                }
            }
        }
}

/* The transpose of im2col: colT[j][r], row stride ld, j = oy·OW + ox,
 * r = ((c - c0)·KH + ky)·KW + kx.
 * The weight gradient packs much faster from this layout (contiguous along r). The body is
 * instantiated for the common kernel widths, so that each row piece is a fixed-size copy. */
static inline __attribute__((always_inline)) void im2row_kw(const struct conv *g,
                                                            const float *restrict x, int64_t c0,
                                                            int64_t c1, float *restrict colT,
                                                            int64_t ld, const int64_t KW)
{
    const int64_t sh = g->sh, sw = g->sw, dh = g->dh, dw = g->dw, W = g->w, KH = g->kh;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const int64_t iy0 = oy * sh - g->pt;
        int64_t ky0, ky1; /* valid kernel rows */
        valid_range(KH, g->h, dh, -iy0, 0, &ky0, &ky1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t ix0 = ox * sw - g->pl;
            int64_t kx0, kx1;
            valid_range(KW, W, dw, -ix0, 0, &kx0, &kx1);
            float *restrict d = colT + (oy * g->ow + ox) * ld;
            const float *restrict src = x + iy0 * W + ix0;
            for (int64_t c = c0; c < c1; c++, d += KH * KW) {
                const float *restrict sc = src + c * g->hw;
                zero_f(d, ky0 * KW);
                if (dw != 1)
                    for (int64_t ky = ky0; ky < ky1; ky++) {
                        float *restrict dk = d + ky * KW;
                        const float *restrict sk = sc + ky * dh * W;
                        zero_f(dk, kx0);
                        for (int64_t kx = kx0; kx < kx1; kx++) dk[kx] = sk[kx * dw];
                        zero_f(dk + kx1, KW - kx1);
                    }
                else if (kx0 == 0 && kx1 == KW)
                    for (int64_t ky = ky0; ky < ky1; ky++)
                        memcpy(d + ky * KW, sc + ky * dh * W, (size_t)KW * sizeof *d);
                else
                    for (int64_t ky = ky0; ky < ky1; ky++) {
                        float *restrict dk = d + ky * KW;
                        zero_f(dk, kx0);
                        copy_f(dk + kx0, sc + ky * dh * W + kx0, kx1 - kx0);
                        zero_f(dk + kx1, KW - kx1);
                    }
                zero_f(d + ky1 * KW, (KH - ky1) * KW);
            }
        }
    }
}

static void im2row(const struct conv *g, const float *restrict x, int64_t c0, int64_t c1,
                   float *restrict colT, int64_t ld)
{
    switch (g->kw) {
    case 3: im2row_kw(g, x, c0, c1, colT, ld, 3); break;
    case 5: im2row_kw(g, x, c0, c1, colT, ld, 5); break;
    case 7: im2row_kw(g, x, c0, c1, colT, ld, 7); break;
    default: im2row_kw(g, x, c0, c1, colT, ld, g->kw); break;
    }
}

/* dx [C,H,W] += the patch gradients col of channels [c0, c1) (layout of im2col), in a fixed
 * order. */
static void col2im_add(const struct conv *g, const float *restrict col, int64_t ld, int64_t c0,
                       int64_t c1, float *restrict dx)
{
    const int64_t sh = g->sh, sw = g->sw, pt = g->pt, pl = g->pl, W = g->w, OH = g->oh,
                  OW = g->ow;
    col -= c0 * g->kh * g->kw * ld;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t y0, y1;
            valid_range(OH, g->h, sh, pt, ky * g->dh, &y0, &y1);
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t x0, x1;
                valid_range(OW, W, sw, pl, kx * g->dw, &x0, &x1);
                const float *restrict r = col + ((c * g->kh + ky) * g->kw + kx) * ld + y0 * OW;
                float *restrict d =
                    dx + c * g->hw + (y0 * sh - pt + ky * g->dh) * W - pl + kx * g->dw;
                if (sw == 1)
                    for (int64_t oy = y0; oy < y1; oy++, r += OW, d += sh * W)
                        add_f(d + x0, r + x0, x1 - x0);
                else
                    for (int64_t oy = y0; oy < y1; oy++, r += OW, d += sh * W)
                        for (int64_t ox = x0; ox < x1; ox++) d[ox * sw] += r[ox];
            }
        }
}

/* [rows, gi·len] block <-> gi consecutive [rows, len] images (image stride rows·len). */
static void gather_images(const float *restrict src, int64_t gi, int64_t rows, int64_t len,
                          float *restrict dst)
{
    for (int64_t i = 0; i < gi; i++)
        for (int64_t r = 0; r < rows; r++)
            memcpy(dst + r * gi * len + i * len, src + (i * rows + r) * len,
                   (size_t)len * sizeof *dst);
}

static void scatter_images(const float *restrict src, int64_t gi, int64_t rows, int64_t len,
                           float *restrict dst)
{
    for (int64_t i = 0; i < gi; i++)
        for (int64_t r = 0; r < rows; r++)
            memcpy(dst + (i * rows + r) * len, src + r * gi * len + i * len,
                   (size_t)len * sizeof *dst);
}

/* Per-thread scratch in floats: an im2col block and a product block for gi images. */
static int64_t conv_col_floats(const struct conv *g)
{
    return g->direct || g->depthwise ? 0 : round_up(g->cb * g->kh * g->kw * g->gi * g->ohw, LINE_F);
}

static int64_t conv_tmp_floats(const struct conv *g)
{
    return g->gi > 1 && !g->depthwise ? round_up(g->o * g->gi * g->ohw, LINE_F) : 0;
}

/* Per-thread scratch of the three kernels, in floats. */
static int64_t conv_per_thread(const struct conv *g)
{
    return conv_col_floats(g) + conv_tmp_floats(g);
}

/* Runs part(a, g, t, nt) on threads t = 0..nt-1 through ferry_cpu_run (on the calling thread alone
 * when nt is 1). Images [lo, hi) of part t are fixed by (N, nt); a thread with no image does
 * nothing. */
typedef void (*conv_part_fn)(const struct ferry_cpu_args *a, const struct conv *g, int t, int nt);

struct conv_job {
    conv_part_fn part;
    const struct ferry_cpu_args *a;
    const struct conv *g;
};

static void conv_job_part(void *ctx, int t, int nt)
{
    const struct conv_job *j = ctx;
    j->part(j->a, j->g, t, nt);
}

static void conv_run(conv_part_fn part, const struct ferry_cpu_args *a, const struct conv *g)
{
    struct conv_job j = {.part = part, .a = a, .g = g};
    ferry_cpu_run(a->nthreads, conv_job_part, &j);
}

/* The fused epilogue (cpu.h) of one image's channels [c0, c0 + o): src channel c at src + c·ld,
 * len values each, to z and r at img_off + c·len. src may be r or z itself (element by element).
 * Each expression is the folded kernel's own (cpu_elementwise.c, cpu_norm.c), so the values are
 * the same bit for bit. */
static inline float ep_act(const struct ferry_cpu_epilogue *ep, float v)
{
    return ep->clamp ? (v < ep->lo ? ep->lo : (v > ep->hi ? ep->hi : v)) : (v > 0 ? v : 0.0f);
}

static void conv_epilogue(const struct ferry_cpu_epilogue *ep, const float *src, int64_t ld,
                          int64_t c0, int64_t o, int64_t len, int64_t img_off)
{
    for (int64_t c = c0; c < c0 + o; c++) {
        const float *s = src + (c - c0) * ld;
        float m = 0, sc = 1, b;
        if (ep->mean) {
            m = ep->mean[c];
            sc = 1.0f / sqrtf(ep->var[c] + ep->eps) * ep->gamma[c];
            b = ep->beta[c];
        } else
            b = ep->bias[c];
        const bool bn = ep->mean != NULL;
        const int64_t off = img_off + c * len;
        float *z = ep->z ? ep->z + off : NULL, *r = ep->r ? ep->r + off : NULL;
        if (z && r)
#pragma omp simd
            for (int64_t j = 0; j < len; j++) {
                const float v = bn ? (s[j] - m) * sc + b : s[j] + b;
                z[j] = v;
                r[j] = ep_act(ep, v);
            }
        else if (r)
#pragma omp simd
            for (int64_t j = 0; j < len; j++) r[j] = ep_act(ep, bn ? (s[j] - m) * sc + b : s[j] + b);
        else
#pragma omp simd
            for (int64_t j = 0; j < len; j++) z[j] = bn ? (s[j] - m) * sc + b : s[j] + b;
    }
}

/* ---- depthwise convolution: direct loops ------------------------------------------------------
 * One input channel per group: output channel o reads input channel o / og. The im2col matrix of
 * such a layer has KH·KW rows, so a product per group would be a long, thin GEMM that BLIS runs at
 * a fraction of its speed; these loops read the planes directly (stride-1 rows vectorise). Each
 * output element sums its taps in (ky, kx) order with fused multiply-adds, the order and the
 * rounding of the GEMM's micro-kernel; taps in the padding are skipped. Planes are split over
 * threads, each written by one thread, so the results do not depend on the thread count. */

/* Output rows [y0, y1) and columns [x0, x1) whose tap (ky, kx) lies inside the input. */
static void dw_tap_range(const struct conv *g, int64_t ky, int64_t kx, int64_t *y0, int64_t *y1,
                         int64_t *x0, int64_t *x1)
{
    valid_range(g->oh, g->h, g->sh, g->pt, ky * g->dh, y0, y1);
    valid_range(g->ow, g->w, g->sw, g->pl, kx * g->dw, x0, x1);
}

/* The input element under output (oy, 0) for tap (ky, kx); ix = ox·sw from there. */
static const float *dw_tap_row(const struct conv *g, const float *xp, int64_t oy, int64_t ky,
                               int64_t kx)
{
    return xp + (oy * g->sh - g->pt + ky * g->dh) * g->w - g->pl + kx * g->dw;
}

static void dw_fwd_plane(const struct conv *g, const float *restrict xp, const float *restrict wk,
                         float *restrict yp)
{
    const int64_t OW = g->ow, sw = g->sw;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *restrict yr = yp + oy * OW;
        zero_f(yr, OW);
        for (int64_t ky = 0; ky < g->kh; ky++) {
            const int64_t iy = oy * g->sh - g->pt + ky * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t y0, y1, x0, x1;
                dw_tap_range(g, ky, kx, &y0, &y1, &x0, &x1);
                const float wv = wk[ky * g->kw + kx];
                const float *restrict xr = dw_tap_row(g, xp, oy, ky, kx);
                if (sw == 1)
#pragma omp simd
                    for (int64_t ox = x0; ox < x1; ox++) yr[ox] = fmaf(wv, xr[ox], yr[ox]);
                else
#pragma omp simd
                    for (int64_t ox = x0; ox < x1; ox++) yr[ox] = fmaf(wv, xr[ox * sw], yr[ox]);
            }
        }
    }
}

static void dw_fwd(const struct ferry_cpu_args *a, const struct conv *g)
{
    const float *x = a->src[0], *w = a->src[1];
    float *y = a->dst;
    const int64_t kk = g->kh * g->kw, planes = g->n * g->o;
    FERRY_CPU_FOR(ferry_cpu_threads(a, planes * g->ohw * kk), pl, planes, {
        const int64_t n = pl / g->o, o = pl % g->o;
        float *yp = y + pl * g->ohw;
        dw_fwd_plane(g, x + (n * g->c + o / g->og) * g->hw, w + o * kk, yp);
        if (a->ep) conv_epilogue(a->ep, yp, 0, o, 1, g->ohw, n * g->o * g->ohw);
    });
}

/* dx plane of input channel q: for each tap in order, the sum over the group's og output
 * channels (a multiply, then fused multiply-adds, as the GEMM of the im2col path) added in. */
static void dw_bwd_data_plane(const struct conv *g, const float *restrict gp,
                              const float *restrict wq, float *restrict dp)
{
    const int64_t OW = g->ow, sw = g->sw, og = g->og, kk = g->kh * g->kw;
    zero_f(dp, g->hw);
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t y0, y1, x0, x1;
            dw_tap_range(g, ky, kx, &y0, &y1, &x0, &x1);
            const int64_t t = ky * g->kw + kx;
            for (int64_t oy = y0; oy < y1; oy++) {
                float *restrict dr = (float *)dw_tap_row(g, dp, oy, ky, kx);
                const float *restrict gr = gp + oy * OW;
                if (og == 1 && sw == 1) {
                    const float wv = wq[t];
#pragma omp simd
                    for (int64_t ox = x0; ox < x1; ox++) dr[ox] += wv * gr[ox];
                } else
                    for (int64_t ox = x0; ox < x1; ox++) {
                        float v = wq[t] * gr[ox];
                        for (int64_t j = 1; j < og; j++)
                            v = fmaf(wq[j * kk + t], gr[j * g->ohw + ox], v);
                        dr[ox * sw] += v;
                    }
            }
        }
}

static void dw_bwd_data(const struct ferry_cpu_args *a, const struct conv *g)
{
    const float *gy = a->src[0], *w = a->src[1];
    float *dx = a->dst;
    const int64_t kk = g->kh * g->kw, planes = g->n * g->c;
    FERRY_CPU_FOR(ferry_cpu_threads(a, planes * g->og * g->ohw * kk), pl, planes, {
        const int64_t n = pl / g->c, q = pl % g->c;
        dw_bwd_data_plane(g, gy + (n * g->o + q * g->og) * g->ohw, w + q * g->og * kk,
                          dx + pl * g->hw);
    });
}

/* dW[o, tap] = sum over images and outputs of g · x under the tap: each row's products summed in
 * float (a fixed vector order), rows and images added in order in double. */
static void dw_bwd_weight_channel(const struct conv *g, const float *gy, const float *x, int64_t o,
                                  float *restrict dwo)
{
    const int64_t OW = g->ow, sw = g->sw, kk = g->kh * g->kw, q = o / g->og;
    double acc[DW_MAX_TAPS] = {0};
    for (int64_t n = 0; n < g->n; n++) {
        const float *gp = gy + (n * g->o + o) * g->ohw, *xp = x + (n * g->c + q) * g->hw;
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t y0, y1, x0, x1;
                dw_tap_range(g, ky, kx, &y0, &y1, &x0, &x1);
                double tap = 0;
                for (int64_t oy = y0; oy < y1; oy++) {
                    const float *restrict gr = gp + oy * OW, *restrict xr = dw_tap_row(g, xp, oy, ky, kx);
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int64_t ox = x0; ox < x1; ox++) s += gr[ox] * xr[ox * sw];
                    tap += s;
                }
                acc[ky * g->kw + kx] += tap;
            }
    }
    for (int64_t t = 0; t < kk; t++) dwo[t] = (float)acc[t];
}

static void dw_bwd_weight(const struct ferry_cpu_args *a, const struct conv *g)
{
    const float *gy = a->src[0], *x = a->src[1];
    float *dw = a->dst;
    const int64_t kk = g->kh * g->kw;
    FERRY_CPU_FOR(ferry_cpu_threads(a, g->n * g->o * g->ohw * kk), o, g->o,
                  { dw_bwd_weight_channel(g, gy, x, o, dw + o * kk); });
}

/* ---- Winograd F(2x2, 3x3) ----------------------------------------------------------------------
 * A 3x3 stride-1 convolution with one group and enough channels on both sides computes each 2x2
 * block of outputs ("tile") from the 4x4 block of inputs under it with 16 products per channel
 * pair instead of 36 (Lavin and Gray, 2016): the weights go to U = G·g·Gᵀ and each input tile to
 * V = Bᵀ·d·B (4x4 each), the 16 positions ξ of the 4x4 are 16 independent GEMMs over the channels,
 * M[ξ] [O, tiles] = U[ξ] [O, C] · V[ξ] [C, tiles], and each tile's 2x2 outputs are Aᵀ·m·A. F(2x2, 3x3)
 * is the variant whose transforms hold only 0, ±1 and ±½, the one that keeps float rounding near
 * the direct sum's (tests/ops/test_cpu_gemm.c, conv_winograd, holds it to the im2col path's bound
 * against a double sum). The data gradient of such a layer is one too: dx is the same kind of
 * convolution of the output gradient with the weights flipped and their two channel axes swapped,
 * padded by 2 - pad; the weight gradient is the exact gradient of the 16 products (its section
 * below). Images are split between threads as for im2col; each thread transforms gi images' tiles
 * at a time, and the weights are transformed once per call, split by output channel. The summation
 * order differs from the im2col path's, so the digits do too. FERRY_CPU_WINOGRAD=0 (read once per
 * process) keeps every convolution on im2col. */

/* Floats of one thread's transformed inputs (16 · C · tiles) to aim for (2 MB: the fastest of
 * 2^17 .. 2^20 on ResNet-18's forward pass). */
#ifndef WINO_V_FLOATS
#define WINO_V_FLOATS (1 << 19)
#endif
/* Fewest channels (in and out) for which the transforms pay off. */
#define WINO_MIN_CH 16

struct wino {
    int64_t n, ci, h, w;   /* input [N, ci, h, w] */
    int64_t co, oh, ow;    /* output [N, co, oh, ow] */
    int64_t pt, pl;        /* output (0, 0)'s window starts at input (-pt, -pl) */
    int64_t th, tw, tiles; /* tiles per image: th rows of tw */
    int64_t gi, cols;      /* images per product and their tiles, gi · tiles */
    bool flip;             /* data gradient: weight [co_fwd, ci_fwd, 3, 3] read flipped, axes swapped */
};

static pthread_once_t wino_once = PTHREAD_ONCE_INIT;
static bool wino_on = true;

static void wino_read_env(void)
{
    const char *e = getenv("FERRY_CPU_WINOGRAD");
    wino_on = !e || strcmp(e, "0") != 0;
}

/* The Winograd form of convolution g's forward pass (bwd = false) or data gradient (bwd = true),
 * when it has one. */
static bool wino_of(const struct conv *g, bool bwd, struct wino *p)
{
    pthread_once(&wino_once, wino_read_env);
    if (!wino_on || g->kh != 3 || g->kw != 3 || g->sh != 1 || g->sw != 1 || g->dh != 1 ||
        g->dw != 1 || g->groups != 1 || g->c < WINO_MIN_CH || g->o < WINO_MIN_CH || g->n < 1 ||
        g->oh < 1 || g->ow < 1)
        return false;
    if (!bwd)
        *p = (struct wino){.n = g->n, .ci = g->c, .h = g->h, .w = g->w, .co = g->o, .oh = g->oh,
                           .ow = g->ow, .pt = g->pt, .pl = g->pl};
    else
        *p = (struct wino){.n = g->n, .ci = g->o, .h = g->oh, .w = g->ow, .co = g->c, .oh = g->h,
                           .ow = g->w, .pt = 2 - g->pt, .pl = 2 - g->pl, .flip = true};
    p->th = (p->oh + 1) / 2;
    p->tw = (p->ow + 1) / 2;
    p->tiles = p->th * p->tw;
    const int64_t want = max64(p->tiles, WINO_V_FLOATS / (16 * p->ci));
    p->gi = min64(p->n, max64(1, want / p->tiles));
    p->cols = p->gi * p->tiles;
    return true;
}

static int64_t wino_u_floats(const struct wino *p) { return round_up(16 * p->co * p->ci, LINE_F); }
static int64_t wino_row_floats(const struct wino *p) { return round_up(2 * p->tw + 2, LINE_F); }

/* One thread's scratch: V [16, ci, cols], M [16, co, cols], 4 padded input rows, 2 output rows. */
static int64_t wino_per_thread(const struct wino *p)
{
    return round_up(16 * p->ci * p->cols, LINE_F) + round_up(16 * p->co * p->cols, LINE_F) +
           6 * wino_row_floats(p);
}

static size_t wino_scratch(const struct wino *p, int nthreads)
{
    const int64_t nt = nthreads > 1 ? nthreads : 1;
    return (size_t)(wino_u_floats(p) + nt * wino_per_thread(p)) * sizeof(float);
}

struct wino_job {
    const struct wino *p;
    const float *x, *w;
    float *y, *scratch;
    const struct ferry_cpu_epilogue *ep;
};

/* U[ξ][o][c] = (G·g·Gᵀ)[ξ] for output channels [lo, hi), G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]. */
static void wino_weights_part(void *ctx, int t, int nt)
{
    const struct wino_job *j = ctx;
    const struct wino *p = j->p;
    const int64_t oc = p->co * p->ci;
    float *U = j->scratch;
    int64_t lo, hi;
    split(p->co, nt, t, 1, &lo, &hi);
    enum { CB = 64 }; /* channels at a time: their taps are gathered first, then transformed */
    for (int64_t o = lo; o < hi; o++) {
        /* weights (o, c) for c = 0, 1, ...: 9 floats apart (forward) or 9·co apart (flipped) */
        const float *wo = p->flip ? j->w + o * 9 : j->w + o * p->ci * 9;
        const int64_t cs = p->flip ? 9 * p->co : 9;
        float *restrict uo = U + o * p->ci;
        for (int64_t c0 = 0; c0 < p->ci; c0 += CB) {
            const int64_t nc = min64(CB, p->ci - c0);
            float g[9][CB];
            for (int64_t c = 0; c < nc; c++)
                for (int k = 0; k < 9; k++) g[k][c] = wo[(c0 + c) * cs + (p->flip ? 8 - k : k)];
            float *restrict u = uo + c0;
#pragma omp simd
            for (int64_t c = 0; c < nc; c++) {
                float tg[4][3];
                for (int b = 0; b < 3; b++) { /* G·g */
                    tg[0][b] = g[b][c];
                    tg[1][b] = 0.5f * (g[b][c] + g[3 + b][c] + g[6 + b][c]);
                    tg[2][b] = 0.5f * (g[b][c] - g[3 + b][c] + g[6 + b][c]);
                    tg[3][b] = g[6 + b][c];
                }
                for (int a = 0; a < 4; a++) { /* (G·g)·Gᵀ */
                    u[(4 * a + 0) * oc + c] = tg[a][0];
                    u[(4 * a + 1) * oc + c] = 0.5f * (tg[a][0] + tg[a][1] + tg[a][2]);
                    u[(4 * a + 2) * oc + c] = 0.5f * (tg[a][0] - tg[a][1] + tg[a][2]);
                    u[(4 * a + 3) * oc + c] = tg[a][2];
                }
            }
        }
    }
}

/* V[ξ][c][i·tiles + tile] = (Bᵀ·d·B)[ξ] for the gi images at x, Bᵀ = [1 0 -1 0; 0 1 1 0;
 * 0 -1 1 0; 0 1 0 -1]; V's rows are cols long. Each tile row's four input rows are first copied,
 * zero-padded, to rows. */
static void wino_inputs(const struct wino *p, int64_t gi, const float *restrict x, float *restrict V,
                        int64_t cols, float *restrict rows)
{
    const int64_t step = p->ci * cols, rw = wino_row_floats(p);
    const int64_t pw = 2 * p->tw + 2, x0 = max64(0, p->pl), x1 = min64(pw, p->w + p->pl);
    for (int64_t i = 0; i < gi; i++)
        for (int64_t c = 0; c < p->ci; c++) {
            const float *xc = x + (i * p->ci + c) * p->h * p->w;
            float *vc = V + c * cols + i * p->tiles;
            for (int64_t ty = 0; ty < p->th; ty++) {
                for (int k = 0; k < 4; k++) {
                    float *r = rows + k * rw;
                    const int64_t yy = 2 * ty - p->pt + k;
                    if (yy < 0 || yy >= p->h || x1 <= x0) {
                        zero_f(r, pw);
                        continue;
                    }
                    zero_f(r, x0);
                    copy_f(r + x0, xc + yy * p->w + (x0 - p->pl), x1 - x0);
                    zero_f(r + x1, pw - x1);
                }
                const float *restrict r0 = rows, *restrict r1 = rows + rw, *restrict r2 = r1 + rw,
                                      *restrict r3 = r2 + rw;
                float *restrict v = vc + ty * p->tw;
#pragma omp simd
                for (int64_t tx = 0; tx < p->tw; tx++) {
                    float d[4][4], s[4][4];
                    for (int b = 0; b < 4; b++) {
                        d[0][b] = r0[2 * tx + b];
                        d[1][b] = r1[2 * tx + b];
                        d[2][b] = r2[2 * tx + b];
                        d[3][b] = r3[2 * tx + b];
                    }
                    for (int b = 0; b < 4; b++) { /* Bᵀ·d */
                        s[0][b] = d[0][b] - d[2][b];
                        s[1][b] = d[1][b] + d[2][b];
                        s[2][b] = d[2][b] - d[1][b];
                        s[3][b] = d[1][b] - d[3][b];
                    }
                    for (int a = 0; a < 4; a++) { /* (Bᵀ·d)·B */
                        v[(4 * a + 0) * step + tx] = s[a][0] - s[a][2];
                        v[(4 * a + 1) * step + tx] = s[a][1] + s[a][2];
                        v[(4 * a + 2) * step + tx] = s[a][2] - s[a][1];
                        v[(4 * a + 3) * step + tx] = s[a][1] - s[a][3];
                    }
                }
            }
        }
}

/* y (gi images) = Aᵀ·m·A of each tile of M, Aᵀ = [1 1 1 0; 0 1 -1 -1]; the two output rows of a
 * tile row are built in rows and copied to y (an odd OH or OW drops the last row or column). */
static void wino_outputs(const struct wino *p, int64_t gi, const float *restrict M, float *restrict y,
                         float *restrict rows)
{
    const int64_t cols = gi * p->tiles, step = p->co * cols, rw = wino_row_floats(p);
    for (int64_t i = 0; i < gi; i++)
        for (int64_t o = 0; o < p->co; o++) {
            const float *mo = M + o * cols + i * p->tiles;
            float *yo = y + (i * p->co + o) * p->oh * p->ow;
            for (int64_t ty = 0; ty < p->th; ty++) {
                const float *restrict m = mo + ty * p->tw;
                float *restrict y0 = rows, *restrict y1 = rows + rw;
#pragma omp simd
                for (int64_t tx = 0; tx < p->tw; tx++) {
                    float e[4][4], s[2][4];
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++) e[a][b] = m[(4 * a + b) * step + tx];
                    for (int b = 0; b < 4; b++) { /* Aᵀ·m */
                        s[0][b] = e[0][b] + e[1][b] + e[2][b];
                        s[1][b] = e[1][b] - e[2][b] - e[3][b];
                    }
                    y0[2 * tx] = s[0][0] + s[0][1] + s[0][2];
                    y0[2 * tx + 1] = s[0][1] - s[0][2] - s[0][3];
                    y1[2 * tx] = s[1][0] + s[1][1] + s[1][2];
                    y1[2 * tx + 1] = s[1][1] - s[1][2] - s[1][3];
                }
                copy_f(yo + 2 * ty * p->ow, y0, p->ow);
                if (2 * ty + 1 < p->oh) copy_f(yo + (2 * ty + 1) * p->ow, y1, p->ow);
            }
        }
}

static void wino_part(void *ctx, int t, int nt)
{
    const struct wino_job *j = ctx;
    const struct wino *p = j->p;
    float *V = j->scratch + wino_u_floats(p) + t * wino_per_thread(p);
    float *M = V + round_up(16 * p->ci * p->cols, LINE_F);
    float *rows = M + round_up(16 * p->co * p->cols, LINE_F);
    const float *U = j->scratch;
    const int64_t ihw = p->h * p->w, ohw = p->oh * p->ow;
    int64_t lo, hi;
    split(p->n, nt, t, 1, &lo, &hi);
    for (int64_t i0 = lo; i0 < hi; i0 += p->gi) {
        const int64_t gi = min64(p->gi, hi - i0), cols = gi * p->tiles;
        wino_inputs(p, gi, j->x + i0 * p->ci * ihw, V, cols, rows);
        for (int xi = 0; xi < 16; xi++)
            gemm1(p->co, cols, p->ci, U + xi * p->co * p->ci, p->ci, 1, V + xi * p->ci * cols,
                  cols, 1, 0.0f, M + xi * p->co * cols, cols, 1);
        float *yi = j->y + i0 * p->co * ohw;
        wino_outputs(p, gi, M, yi, rows);
        if (j->ep)
            for (int64_t i = 0; i < gi; i++)
                conv_epilogue(j->ep, yi + i * p->co * ohw, ohw, 0, p->co, ohw,
                              (i0 + i) * p->co * ohw);
    }
}

bool ferry_cpu_conv2d_winograd(const struct ferry_tensor *node)
{
    if (node->op != FERRY_OP_CONV2D && node->op != FERRY_OP_CONV2D_BWD_DATA &&
        node->op != FERRY_OP_CONV2D_BWD_WEIGHT)
        return false;
    const struct conv g = conv_of(node);
    struct wino p;
    return !g.depthwise && wino_of(&g, node->op == FERRY_OP_CONV2D_BWD_DATA, &p);
}

/* y = the convolution p of x with w (flipped per p), then the epilogue ep (may be NULL). */
static void wino_run(const struct wino *p, const float *x, const float *w, float *y, void *scratch,
                     const struct ferry_cpu_epilogue *ep, int nthreads)
{
    struct wino_job j = {.p = p, .x = x, .w = w, .y = y, .scratch = scratch, .ep = ep};
    ferry_cpu_run(nthreads, wino_weights_part, &j);
    ferry_cpu_run(nthreads, wino_part, &j);
}

/* ---- the weight gradient through F(2x2, 3x3): the exact gradient of the products above ----------
 * With M[ξ] = U[ξ]·V[ξ] and y = Aᵀ·m·A per tile, dM = A·dy·Aᵀ per tile, dU[ξ] [O, C] = Σ over
 * tiles of dM[ξ] [O, tiles] · V[ξ]ᵀ [tiles, C], and dW = Gᵀ·dU·G. The batch goes in chunks of
 * images whose transforms fit WINO_BW_FLOATS: each chunk's transforms are split between the
 * threads by image, then its 16 products by position ξ (each accumulates its chunks in order), and
 * the final Gᵀ·dU·G by output channel. No product is split along its sum, so the result does not
 * depend on the thread count. */
#ifndef WINO_BW_FLOATS
#define WINO_BW_FLOATS (1 << 22)
#endif

/* Images per chunk and the scratch: dU [16, co, ci], V [16, ci, cols], dM [16, co, cols] of a
 * chunk, then 6 rows per thread. */
static int64_t wino_bw_images(const struct wino *p)
{
    return min64(p->n, max64(1, WINO_BW_FLOATS / (16 * (p->ci + p->co) * p->tiles)));
}

static int64_t wino_bw_floats(const struct wino *p, int nt)
{
    const int64_t cols = wino_bw_images(p) * p->tiles;
    return wino_u_floats(p) + round_up(16 * p->ci * cols, LINE_F) +
           round_up(16 * p->co * cols, LINE_F) + nt * 6 * wino_row_floats(p);
}

struct wino_bw_job {
    const struct wino *p;
    const float *gy, *x;
    float *dw, *dU, *V, *dM, *rows;
    int64_t i0, gc; /* the chunk: images [i0, i0 + gc) */
};

/* dM[ξ][o][i·tiles + tile] = (A·dy·Aᵀ)[ξ] for the gi images at gy; dM's rows are cols long. */
static void wino_grads(const struct wino *p, int64_t gi, const float *restrict gy, float *restrict dM,
                       int64_t cols, float *restrict rows)
{
    const int64_t step = p->co * cols, rw = wino_row_floats(p), pw = 2 * p->tw;
    for (int64_t i = 0; i < gi; i++)
        for (int64_t o = 0; o < p->co; o++) {
            const float *go = gy + (i * p->co + o) * p->oh * p->ow;
            float *mo = dM + o * cols + i * p->tiles;
            for (int64_t ty = 0; ty < p->th; ty++) {
                for (int k = 0; k < 2; k++) {
                    float *r = rows + k * rw;
                    if (2 * ty + k >= p->oh) {
                        zero_f(r, pw);
                        continue;
                    }
                    copy_f(r, go + (2 * ty + k) * p->ow, p->ow);
                    zero_f(r + p->ow, pw - p->ow);
                }
                const float *restrict r0 = rows, *restrict r1 = rows + rw;
                float *restrict m = mo + ty * p->tw;
#pragma omp simd
                for (int64_t tx = 0; tx < p->tw; tx++) {
                    const float g00 = r0[2 * tx], g01 = r0[2 * tx + 1];
                    const float g10 = r1[2 * tx], g11 = r1[2 * tx + 1];
                    /* A·dy, A = [1 0; 1 1; 1 -1; 0 -1] */
                    const float s[4][2] = {{g00, g01},
                                           {g00 + g10, g01 + g11},
                                           {g00 - g10, g01 - g11},
                                           {-g10, -g11}};
                    for (int a = 0; a < 4; a++) { /* (A·dy)·Aᵀ */
                        m[(4 * a + 0) * step + tx] = s[a][0];
                        m[(4 * a + 1) * step + tx] = s[a][0] + s[a][1];
                        m[(4 * a + 2) * step + tx] = s[a][0] - s[a][1];
                        m[(4 * a + 3) * step + tx] = -s[a][1];
                    }
                }
            }
        }
}

static void wino_bw_transforms(void *ctx, int t, int nt)
{
    const struct wino_bw_job *j = ctx;
    const struct wino *p = j->p;
    const int64_t cols = j->gc * p->tiles;
    float *rows = j->rows + t * 6 * wino_row_floats(p);
    int64_t lo, hi;
    split(j->gc, nt, t, 1, &lo, &hi);
    if (hi <= lo) return;
    const int64_t i = j->i0 + lo;
    wino_inputs(p, hi - lo, j->x + i * p->ci * p->h * p->w, j->V + lo * p->tiles, cols, rows);
    wino_grads(p, hi - lo, j->gy + i * p->co * p->oh * p->ow, j->dM + lo * p->tiles, cols, rows);
}

static void wino_bw_products(void *ctx, int t, int nt)
{
    const struct wino_bw_job *j = ctx;
    const struct wino *p = j->p;
    const int64_t cols = j->gc * p->tiles;
    int64_t lo, hi;
    split(16, nt, t, 1, &lo, &hi);
    for (int64_t xi = lo; xi < hi; xi++)
        gemm1(p->co, p->ci, cols, j->dM + xi * p->co * cols, cols, 1, j->V + xi * p->ci * cols, 1,
              cols, j->i0 ? 1.0f : 0.0f, j->dU + xi * p->co * p->ci, p->ci, 1);
}

/* dW[o][c] = Gᵀ·dU[·][o][c]·G for output channels of part t. */
static void wino_bw_weights(void *ctx, int t, int nt)
{
    const struct wino_bw_job *j = ctx;
    const struct wino *p = j->p;
    const int64_t oc = p->co * p->ci;
    int64_t lo, hi;
    split(p->co, nt, t, 1, &lo, &hi);
    for (int64_t o = lo; o < hi; o++)
        for (int64_t c = 0; c < p->ci; c++) {
            const float *u = j->dU + o * p->ci + c;
            float e[4][4], s[3][4];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) e[a][b] = u[(4 * a + b) * oc];
            for (int b = 0; b < 4; b++) { /* Gᵀ·dU */
                s[0][b] = e[0][b] + 0.5f * (e[1][b] + e[2][b]);
                s[1][b] = 0.5f * (e[1][b] - e[2][b]);
                s[2][b] = 0.5f * (e[1][b] + e[2][b]) + e[3][b];
            }
            float *d = j->dw + (o * p->ci + c) * 9;
            for (int a = 0; a < 3; a++) { /* (Gᵀ·dU)·G */
                d[3 * a + 0] = s[a][0] + 0.5f * (s[a][1] + s[a][2]);
                d[3 * a + 1] = 0.5f * (s[a][1] - s[a][2]);
                d[3 * a + 2] = 0.5f * (s[a][1] + s[a][2]) + s[a][3];
            }
        }
}

static void wino_bw_run(const struct wino *p, const float *gy, const float *x, float *dw,
                        void *scratch, int nthreads)
{
    const int64_t gcmax = wino_bw_images(p), cols = gcmax * p->tiles;
    float *dU = scratch, *V = dU + wino_u_floats(p), *dM = V + round_up(16 * p->ci * cols, LINE_F);
    struct wino_bw_job j = {.p = p, .gy = gy, .x = x, .dw = dw, .dU = dU, .V = V, .dM = dM,
                            .rows = dM + round_up(16 * p->co * cols, LINE_F)};
    for (j.i0 = 0; j.i0 < p->n; j.i0 += gcmax) {
        j.gc = min64(gcmax, p->n - j.i0);
        ferry_cpu_run(nthreads, wino_bw_transforms, &j);
        ferry_cpu_run(nthreads, wino_bw_products, &j);
    }
    ferry_cpu_run(nthreads, wino_bw_weights, &j);
}

/* ---- conv2d forward: y_n [O, OH·OW] = W [O, CKK] · col(x_n) ---------------------------------- */

size_t ferry_cpu_conv2d_scratch(const struct ferry_tensor *node, int nthreads)
{
    const struct conv g = conv_of(node);
    struct wino p;
    if (wino_of(&g, false, &p)) return wino_scratch(&p, nthreads);
    return (size_t)(nthreads > 1 ? nthreads : 1) * (size_t)conv_per_thread(&g) * sizeof(float);
}

static void conv_fwd_part(const struct ferry_cpu_args *a, const struct conv *g, int t, int nt)
{
    const float *x = a->src[0], *w = a->src[1];
    float *y = a->dst;
    float *col = (float *)a->scratch + t * conv_per_thread(g), *tmp = col + conv_col_floats(g);
    const int64_t kk = g->kh * g->kw;
    int64_t lo, hi;
    split(g->n, nt, t, 1, &lo, &hi);
    for (int64_t i0 = lo; i0 < hi; i0 += g->gi) {
        const int64_t gi = min64(g->gi, hi - i0), cols = gi * g->ohw;
        const float *xi = x + i0 * g->c * g->hw;
        float *yi = y + i0 * g->o * g->ohw;
        if (g->direct) {
            for (int64_t i = 0; i < gi; i++) {
                float *yn = yi + i * g->o * g->ohw;
                gemm1(g->o, g->hw, g->c, w, g->c, 1, xi + i * g->c * g->hw, g->hw, 1, 0.0f, yn,
                      g->hw, 1);
                if (a->ep) conv_epilogue(a->ep, yn, g->hw, 0, g->o, g->hw, (i0 + i) * g->o * g->ohw);
            }
            continue;
        }
        float *out = gi == 1 ? yi : tmp;
        for (int64_t q = 0; q < g->groups; q++) /* group q: rows [q·og, (q+1)·og) of out */
            for (int64_t c0 = 0; c0 < g->cg; c0 += g->cb) {
                const int64_t c1 = min64(g->cg, c0 + g->cb), cq = q * g->cg;
                for (int64_t i = 0; i < gi; i++)
                    im2col(g, xi + i * g->c * g->hw, cq + c0, cq + c1, col + i * g->ohw, cols);
                gemm1(g->og, cols, (c1 - c0) * kk, w + q * g->og * g->ckk + c0 * kk, g->ckk, 1,
                      col, cols, 1, c0 ? 1.0f : 0.0f, out + q * g->og * cols, cols, 1);
            }
        if (a->ep)
            for (int64_t i = 0; i < gi; i++)
                conv_epilogue(a->ep, out + i * (gi > 1 ? g->ohw : 0), gi > 1 ? cols : g->ohw, 0,
                              g->o, g->ohw, (i0 + i) * g->o * g->ohw);
        else if (gi > 1)
            scatter_images(tmp, gi, g->o, g->ohw, yi);
    }
}

void ferry_cpu_conv2d(const struct ferry_cpu_args *a)
{
    const struct conv g = conv_of(a->node);
    if (g.depthwise) {
        dw_fwd(a, &g);
        return;
    }
    struct wino p;
    if (wino_of(&g, false, &p)) {
        wino_run(&p, a->src[0], a->src[1], a->dst, a->scratch, a->ep, a->nthreads);
        return;
    }
    conv_run(conv_fwd_part, a, &g);
}

/* ---- conv2d backward, data: dx_n = col2im(W^T [CKK, O] · g_n [O, OH·OW]) --------------------- */

size_t ferry_cpu_conv2d_bwd_data_scratch(const struct ferry_tensor *node, int nthreads)
{
    const struct conv g = conv_of(node);
    struct wino p;
    if (wino_of(&g, true, &p)) return wino_scratch(&p, nthreads);
    return (size_t)(nthreads > 1 ? nthreads : 1) * (size_t)conv_per_thread(&g) * sizeof(float);
}

static void conv_bwd_data_part(const struct ferry_cpu_args *a, const struct conv *g, int t, int nt)
{
    const float *gy = a->src[0], *w = a->src[1];
    float *dx = a->dst;
    float *col = (float *)a->scratch + t * conv_per_thread(g), *tmp = col + conv_col_floats(g);
    const int64_t kk = g->kh * g->kw;
    int64_t lo, hi;
    split(g->n, nt, t, 1, &lo, &hi);
    for (int64_t i0 = lo; i0 < hi; i0 += g->gi) {
        const int64_t gi = min64(g->gi, hi - i0), cols = gi * g->ohw;
        const float *gyi = gy + i0 * g->o * g->ohw;
        float *dxi = dx + i0 * g->c * g->hw;
        if (g->direct) {
            gemm1(g->c, g->hw, g->o, w, 1, g->c, gyi, g->hw, 1, 0.0f, dxi, g->hw, 1);
            continue;
        }
        const float *b = gyi;
        if (gi > 1) {
            gather_images(gyi, gi, g->o, g->ohw, tmp);
            b = tmp;
        }
        memset(dxi, 0, (size_t)(gi * g->c * g->hw) * sizeof *dxi);
        for (int64_t q = 0; q < g->groups; q++) /* group q: rows [q·og, (q+1)·og) of b */
            for (int64_t c0 = 0; c0 < g->cg; c0 += g->cb) {
                const int64_t c1 = min64(g->cg, c0 + g->cb), cq = q * g->cg;
                gemm1((c1 - c0) * kk, cols, g->og, w + q * g->og * g->ckk + c0 * kk, 1, g->ckk,
                      b + q * g->og * cols, cols, 1, 0.0f, col, cols, 1);
                for (int64_t i = 0; i < gi; i++)
                    col2im_add(g, col + i * g->ohw, cols, cq + c0, cq + c1,
                               dxi + i * g->c * g->hw);
            }
    }
}

void ferry_cpu_conv2d_bwd_data(const struct ferry_cpu_args *a)
{
    const struct conv g = conv_of(a->node);
    if (g.depthwise) {
        dw_bwd_data(a, &g);
        return;
    }
    struct wino p;
    if (wino_of(&g, true, &p)) {
        wino_run(&p, a->src[0], a->src[1], a->dst, a->scratch, NULL, a->nthreads);
        return;
    }
    conv_run(conv_bwd_data_part, a, &g);
}

/* ---- conv2d backward, weight: dW [O, CKK] = sum_n g_n [O, OH·OW] · col(x_n)^T -------------------
 * Thread t sums its images into its own partial (thread 0 into dW itself); the partials are then
 * added element by element in thread order. The column matrix is built transposed (im2row): BLIS
 * packs it much faster that way. */

static int64_t conv_part_floats(const struct conv *g) { return round_up(g->o * g->ckk, LINE_F); }

size_t ferry_cpu_conv2d_bwd_weight_scratch(const struct ferry_tensor *node, int nthreads)
{
    const struct conv g = conv_of(node);
    const int64_t nt = nthreads > 1 ? nthreads : 1;
    if (g.depthwise) return 0;
    struct wino p;
    if (wino_of(&g, false, &p)) return (size_t)wino_bw_floats(&p, (int)nt) * sizeof(float);
    return (size_t)(nt * conv_per_thread(&g) + (nt - 1) * conv_part_floats(&g)) * sizeof(float);
}

/* Thread t's partial: dW itself for thread 0. */
static float *conv_partial(const struct ferry_cpu_args *a, const struct conv *g, int t, int nt)
{
    float *parts = (float *)a->scratch + nt * conv_per_thread(g);
    return t == 0 ? (float *)a->dst : parts + (t - 1) * conv_part_floats(g);
}

static void conv_bwd_weight_part(const struct ferry_cpu_args *a, const struct conv *g, int t,
                                 int nt)
{
    const float *gy = a->src[0], *x = a->src[1];
    float *col = (float *)a->scratch + t * conv_per_thread(g), *tmp = col + conv_col_floats(g);
    float *acc = conv_partial(a, g, t, nt);
    const int64_t kk = g->kh * g->kw;
    int64_t lo, hi;
    split(g->n, nt, t, 1, &lo, &hi);
    if (hi <= lo) memset(acc, 0, (size_t)(g->o * g->ckk) * sizeof *acc);
    float beta = 0.0f;
    for (int64_t i0 = lo; i0 < hi; i0 += g->gi, beta = 1.0f) {
        const int64_t gi = min64(g->gi, hi - i0), cols = gi * g->ohw;
        const float *gyi = gy + i0 * g->o * g->ohw;
        const float *xi = x + i0 * g->c * g->hw;
        if (g->direct) { /* dW [O, C] += g_n [O, HW] · x_n^T [HW, C] */
            gemm1(g->o, g->c, g->hw, gyi, g->hw, 1, xi, 1, g->hw, beta, acc, g->c, 1);
            continue;
        }
        const float *ga = gyi;
        if (gi > 1) {
            gather_images(gyi, gi, g->o, g->ohw, tmp);
            ga = tmp;
        }
        for (int64_t q = 0; q < g->groups; q++) /* group q: rows [q·og, (q+1)·og) of dW */
            for (int64_t c0 = 0; c0 < g->cg; c0 += g->cb) {
                const int64_t c1 = min64(g->cg, c0 + g->cb), ld = (c1 - c0) * kk, cq = q * g->cg;
                for (int64_t i = 0; i < gi; i++)
                    im2row(g, xi + i * g->c * g->hw, cq + c0, cq + c1, col + i * g->ohw * ld, ld);
                gemm1(g->og, ld, cols, ga + q * g->og * cols, cols, 1, col, ld, 1, beta,
                      acc + q * g->og * g->ckk + c0 * kk, g->ckk, 1);
            }
    }
}

/* dW[e] += partial of threads 1..nt-1 in order, for the elements e of part t. */
static void conv_bwd_weight_reduce(const struct ferry_cpu_args *a, const struct conv *g, int t,
                                   int nt)
{
    float *dw = a->dst;
    int64_t e0, e1;
    split(g->o * g->ckk, nt, t, LINE_F, &e0, &e1);
    for (int u = 1; u < nt; u++) {
        const float *restrict pu = conv_partial(a, g, u, nt);
        for (int64_t e = e0; e < e1; e++) dw[e] += pu[e];
    }
}

/* Part t: its images into its partial, then, once every partial is complete, its share of the
 * sum (nothing to add for one thread, which sums into dW directly). */
static void conv_bwd_weight_all(const struct ferry_cpu_args *a, const struct conv *g, int t,
                                int nt)
{
    conv_bwd_weight_part(a, g, t, nt);
    if (nt == 1) return;
#pragma omp barrier
    conv_bwd_weight_reduce(a, g, t, nt);
}

void ferry_cpu_conv2d_bwd_weight(const struct ferry_cpu_args *a)
{
    const struct conv g = conv_of(a->node);
    if (g.depthwise) {
        dw_bwd_weight(a, &g);
        return;
    }
    struct wino p;
    if (wino_of(&g, false, &p)) {
        wino_bw_run(&p, a->src[0], a->src[1], a->dst, a->scratch, a->nthreads);
        return;
    }
    conv_run(conv_bwd_weight_all, a, &g);
}
