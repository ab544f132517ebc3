/* Benchmark: what each backend does with Ferry's work, printed per backend:
 *   - the DANN-LeNet training step (dann_lenet.h, batch 64 source + 64 target): images/s;
 *   - GEMM GFLOP/s for squares from 256 to 1024 (or to --gemm-max N, doubling; one matmul per graph execution; its sum is the
 *     only output, so the timing includes one submission and a 4-byte read per product);
 *   - per training step: queue submissions, bytes uploaded and downloaded, device allocations.
 *
 * usage: perf [DEVICE ...] [--steps N] [--threads T] [--gemm-max N]
 *   DEVICE: cpu | vulkan:N | vulkan (default: cpu, then every Vulkan device)
 * Lines: "perf BACKEND KEY=VALUE ..." (one per measurement). */
#include "dann_lenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int failed(const char *dev, const char *what)
{
    fprintf(stderr, "perf %s: %s: %s\n", dev, what, ferry_last_error());
    return 1;
}

static int bench_step(const char *dev, ferry_backend_t *be, int steps)
{
    struct dann_lenet d = {0};
    if (dann_lenet_init(&d, be, BS, 1)) return failed(dev, "DANN-LeNet set-up");
    static float xs[BS * 784], xt[BS * 784];
    int32_t ys[BS];
    dann_lenet_random_batch(BS, 2, xs, xt, ys);
    float loss = 0;
    int warmup = 3;
    ferry_backend_stats s0, s1;
    double t0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            ferry_backend_get_stats(be, &s0);
            t0 = now_s();
        }
        if (dann_lenet_set_batch(&d, xs, xt, ys) || dann_lenet_step(&d, 0.5, &loss))
            return failed(dev, "DANN-LeNet step");
    }
    double dt = now_s() - t0;
    ferry_backend_get_stats(be, &s1);
    ferry_graph_info gi;
    ferry_graph_get_info(d.g, &gi);
    printf("perf %s dann_lenet_step images_per_s=%.0f ms_per_step=%.2f steps=%d loss=%.4f\n", dev,
           2.0 * BS * steps / dt, 1e3 * dt / steps, steps, (double)loss);
    printf("perf %s per_step graph_runs=%.2f queue_submits=%.2f uploaded_bytes=%.0f downloaded_bytes=%.0f "
           "device_allocs=%.2f buffer_allocs=%.2f nodes=%d dispatches=%d barriers=%d\n",
           dev, (double)(s1.submissions - s0.submissions) / steps,
           (double)(s1.queue_submits - s0.queue_submits) / steps,
           (double)(s1.bytes_uploaded - s0.bytes_uploaded) / steps,
           (double)(s1.bytes_downloaded - s0.bytes_downloaded) / steps,
           (double)(s1.device_allocs - s0.device_allocs) / steps,
           (double)(s1.buffer_allocs - s0.buffer_allocs) / steps, gi.n_nodes, gi.n_dispatches,
           gi.n_barriers);
    dann_lenet_free(&d);
    return 0;
}

static int bench_gemm(const char *dev, ferry_backend_t *be, int n)
{
    ferry_ctx_t *ctx;
    ferry_graph_t *g = NULL;
    ferry_ctx_init(&ctx);
    int64_t sh[2] = {n, n};
    ferry_tensor_t *a = ferry_input(ctx, "a", FERRY_F32, 2, sh), *b = ferry_input(ctx, "b", FERRY_F32, 2, sh);
    ferry_tensor_t *out = ferry_sum(ctx, ferry_matmul(ctx, a, b, false, false));
    ferry_tensor_set_output(out);
    if (ferry_graph_init(ctx, be, &g)) return failed(dev, "GEMM graph");
    float *v = malloc((size_t)n * n * sizeof *v);
    for (int64_t i = 0; i < (int64_t)n * n; i++) v[i] = (float)((i * 7) % 13) / 13.0f;
    ferry_tensor_set(g, a, v, (size_t)n * n * sizeof *v);
    ferry_tensor_set(g, b, v, (size_t)n * n * sizeof *v);
    free(v);
    ferry_graph_compute(g); /* uploads and warm-up */
    int reps = 0;
    double t0 = now_s(), dt = 0;
    while (reps < 3 || (dt < 1.0 && reps < 200)) {
        if (ferry_graph_compute(g)) return failed(dev, "GEMM");
        (void)ferry_tensor_get_scalar(g, out);
        reps++;
        dt = now_s() - t0;
    }
    printf("perf %s gemm n=%d gflops=%.1f ms=%.3f reps=%d\n", dev, n, 2.0 * n * n * (double)n * reps / dt / 1e9,
           1e3 * dt / reps, reps);
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    return 0;
}

static int bench_device(const char *dev, int threads, int steps, int gemm_max)
{
    ferry_backend_t *be;
    if (ferry_backend_init_device(dev, threads, &be)) return failed(dev, "device");
    ferry_device_desc d;
    ferry_backend_describe(be, &d);
    printf("perf %s device vendor=\"%s\" name=\"%s\" driver=\"%s\" api=%s\n", dev, d.vendor, d.name,
           d.driver, d.api);
    int rc = bench_step(dev, be, steps);
    for (int n = 256; n <= gemm_max && !rc; n *= 2) rc = bench_gemm(dev, be, n);
    ferry_backend_free(be);
    return rc;
}

int main(int argc, char **argv)
{
    int steps = 30, threads = 0, rc = 0, ndev = 0, gemm_max = 1024;
    const char *devs[16];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gemm-max") && i + 1 < argc) gemm_max = atoi(argv[++i]);
        else if (ndev < 16) devs[ndev++] = argv[i];
    }
    if (steps < 1) steps = 1;
    if (ndev == 0) {
        devs[ndev++] = "cpu";
        static char names[8][16];
        for (int k = 0; k < 8; k++) { /* every Vulkan device */
            ferry_backend_t *be;
            snprintf(names[k], sizeof names[k], "vulkan:%d", k);
            if (ferry_backend_vulkan_init(k, &be)) break;
            ferry_backend_free(be);
            devs[ndev++] = names[k];
        }
    }
    for (int i = 0; i < ndev; i++) rc |= bench_device(devs[i], threads, steps, gemm_max);
    return rc;
}
