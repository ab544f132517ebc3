/* Times the CPU GEMM, convolution and pooling kernels on the LeNet layer shapes and on square
 * products, with 1 and 2 threads.
 *
 *   gemm_conv_bench [batch]     (default 128; the DANN step runs its features at 2 x batch)
 *
 * Prints milliseconds per call and GFLOP/s (multiply-add = 2 flops; pooling reports GB/s of
 * input + output traffic instead). */
#include "cpu.h"
#include "ops_conv.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ferry_tensor T;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static T *tensor(enum ferry_op op, int ndim, const int64_t *ne)
{
    T *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->op = op;
    t->dtype = FERRY_F32;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < FERRY_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < ndim; i++) {
        t->ne[i] = ne[i];
        t->numel *= ne[i];
    }
    return t;
}

static float *fbuf(int64_t n)
{
    float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
    if (!p) abort();
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 2003) / 1001.0f - 1.0f;
    return p;
}

/* Milliseconds per call: the best of 5 timed loops of at least 50 ms each. */
static double time_kernel(ferry_cpu_kernel_fn fn, ferry_cpu_scratch_fn sfn, T *node, int nt)
{
    size_t sb = sfn ? sfn(node, nt) : 0;
    void *scratch = sb ? aligned_alloc(64, (sb + 63) / 64 * 64) : NULL;
    struct ferry_cpu_args a = {.node = node, .dst = fbuf(node->numel), .scratch = scratch,
                               .nthreads = nt};
    for (int i = 0; i < FERRY_MAX_SRC && node->src[i]; i++) a.src[i] = fbuf(node->src[i]->numel);
    fn(&a);
    fn(&a);
    int reps = 1;
    double t0 = now();
    fn(&a);
    double one = now() - t0;
    if (one < 0.05) reps = (int)(0.05 / (one > 1e-7 ? one : 1e-7)) + 1;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        t0 = now();
        for (int i = 0; i < reps; i++) fn(&a);
        const double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    for (int i = 0; i < FERRY_MAX_SRC && node->src[i]; i++) free(a.src[i]);
    free(a.dst);
    free(scratch);
    return best * 1e3;
}

static void report(const char *name, ferry_cpu_kernel_fn fn, ferry_cpu_scratch_fn sfn, T *node,
                   double flops, double bytes)
{
    printf("%-34s", name);
    for (int nt = 1; nt <= 2; nt++) {
        const double ms = time_kernel(fn, sfn, node, nt);
        if (flops > 0)
            printf("   %2dT %8.3f ms %7.1f GFLOP/s", nt, ms, flops / ms * 1e-6);
        else
            printf("   %2dT %8.3f ms %7.1f GB/s    ", nt, ms, bytes / ms * 1e-6);
    }
    printf("\n");
    fflush(stdout);
}

static void bench_matmul(const char *name, int64_t m, int64_t n, int64_t k, bool ta, bool tb)
{
    T *a = tensor(FERRY_OP_LEAF, 2, ta ? (int64_t[]){k, m} : (int64_t[]){m, k});
    T *b = tensor(FERRY_OP_LEAF, 2, tb ? (int64_t[]){n, k} : (int64_t[]){k, n});
    T *c = tensor(FERRY_OP_MATMUL, 2, (int64_t[]){m, n});
    c->src[0] = a;
    c->src[1] = b;
    c->ip[0] = ta;
    c->ip[1] = tb;
    char label[96];
    snprintf(label, sizeof label, "%s %lldx%lldx%lld%s%s", name, (long long)m, (long long)n,
             (long long)k, ta ? " tA" : "", tb ? " tB" : "");
    report(label, ferry_cpu_matmul, NULL, c, 2.0 * (double)(m * n * k), 0);
    free(a), free(b), free(c);
}

/* passes: which of forward, data gradient, weight gradient to time */
enum { FWD = 1, DATA = 2, WEIGHT = 4 };

static void bench_conv(const char *name, int64_t bs, int64_t c, int64_t h, int64_t o, int64_t k,
                       int pad, int passes)
{
    const int64_t oh = h + 2 * pad - k + 1;
    T *x = tensor(FERRY_OP_LEAF, 4, (int64_t[]){bs, c, h, h});
    T *w = tensor(FERRY_OP_LEAF, 4, (int64_t[]){o, c, k, k});
    T *g = tensor(FERRY_OP_LEAF, 4, (int64_t[]){bs, o, oh, oh});
    T *y = tensor(FERRY_OP_CONV2D, 4, g->ne);
    T *dx = tensor(FERRY_OP_CONV2D_BWD_DATA, 4, x->ne);
    T *dw = tensor(FERRY_OP_CONV2D_BWD_WEIGHT, 4, w->ne);
    y->src[0] = x, y->src[1] = w;
    dx->src[0] = g, dx->src[1] = w;
    dw->src[0] = g, dw->src[1] = x;
    const struct ferry_conv_geom geo = {.sh = 1, .sw = 1, .pt = pad, .pb = pad, .pl = pad,
                                        .pr = pad, .dh = 1, .dw = 1, .groups = 1};
    ferry_conv_set(y, &geo); /* stride 1 */
    ferry_conv_set(dx, &geo);
    ferry_conv_set(dw, &geo);
    const double flops = 2.0 * (double)(bs * o * oh * oh * c * k * k);
    char label[96];
    if (passes & FWD) {
        snprintf(label, sizeof label, "%s fwd", name);
        report(label, ferry_cpu_conv2d, ferry_cpu_conv2d_scratch, y, flops, 0);
    }
    if (passes & DATA) {
        snprintf(label, sizeof label, "%s bwd_data", name);
        report(label, ferry_cpu_conv2d_bwd_data, ferry_cpu_conv2d_bwd_data_scratch, dx, flops, 0);
    }
    if (passes & WEIGHT) {
        snprintf(label, sizeof label, "%s bwd_weight", name);
        report(label, ferry_cpu_conv2d_bwd_weight, ferry_cpu_conv2d_bwd_weight_scratch, dw, flops, 0);
    }
    free(x), free(w), free(g), free(y), free(dx), free(dw);
}

static void bench_pool(const char *name, int64_t bs, int64_t c, int64_t h)
{
    T *x = tensor(FERRY_OP_LEAF, 4, (int64_t[]){bs, c, h, h});
    T *g = tensor(FERRY_OP_LEAF, 4, (int64_t[]){bs, c, h / 2, h / 2});
    T *y = tensor(FERRY_OP_MAX_POOL, 4, g->ne), *dx = tensor(FERRY_OP_MAX_POOL_BWD, 4, x->ne);
    const int32_t ip[6] = {2, 2, 2, 2, 0, 0};
    memcpy(y->ip, ip, sizeof ip);
    memcpy(dx->ip, ip, sizeof ip);
    y->src[0] = x;
    dx->src[0] = g, dx->src[1] = x;
    char label[96];
    snprintf(label, sizeof label, "%s max fwd", name);
    report(label, ferry_cpu_max_pool, NULL, y, 0, 4.0 * (double)(x->numel + y->numel));
    snprintf(label, sizeof label, "%s max bwd", name);
    report(label, ferry_cpu_max_pool_bwd, NULL, dx, 0, 4.0 * (double)(2 * x->numel + g->numel));
    free(x), free(g), free(y), free(dx);
}

int main(int argc, char **argv)
{
    const int64_t bs = argc > 1 ? atoll(argv[1]) : 128;
    if (bs < 1) {
        fprintf(stderr, "usage: %s [batch]\n", argv[0]);
        return 2;
    }
    printf("BLIS %s, configuration %s\n", bli_info_get_version_str(), ferry_cpu_blis_config());
    printf("LeNet layer kernels at batch %lld\n", (long long)bs);
    bench_conv("conv1 1->32 5x5 28x28", bs, 1, 28, 32, 5, 0, FWD | WEIGHT);
    bench_pool("pool1 32x24x24", bs, 32, 24);
    bench_conv("conv2 32->48 5x5 12x12", bs, 32, 12, 48, 5, 0, FWD | DATA | WEIGHT);
    bench_pool("pool2 48x8x8", bs, 48, 8);
    bench_matmul("fc1 fwd", bs, 100, 768, false, true);
    bench_matmul("fc1 bwd dx", bs, 768, 100, false, false);
    bench_matmul("fc1 bwd dW", 100, 768, bs, true, false);
    bench_matmul("fc2 fwd", bs, 100, 100, false, true);
    bench_matmul("fc2 bwd dW", 100, 100, bs, true, false);
    bench_matmul("fc3 fwd", bs, 10, 100, false, true);
    printf("ResNet-18's 3x3 layers at 128x128 input, batch 32, and the product of one image\n");
    for (int64_t c = 64, h = 32; c <= 512; c *= 2, h /= 2) {
        char label[64];
        snprintf(label, sizeof label, "res %lld 3x3 %lldx%lld", (long long)c, (long long)h, (long long)h);
        bench_conv(label, 32, c, h, c, 3, 1, FWD);
        bench_matmul("  its product", c, h * h, 9 * c, false, false);
    }
    printf("square sgemm\n");
    for (int64_t n = 256; n <= 1024; n *= 2) bench_matmul("sgemm", n, n, n, false, false);
    return 0;
}
