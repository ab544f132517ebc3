/* Throughput of one architecture on one backend (the CPU unless DEVICE says otherwise): eval forward or
 * a training step (cross-entropy, SGD with momentum), random weights and inputs, after one warm-up;
 * prints images/s and the process's peak RSS (host memory). One architecture per process, so that the
 * peak is the model's own.
 * usage: models_bench ARCH SIZE forward|train BATCH ITERS THREADS [DEVICE]
 *   DEVICE: cpu (default) | vulkan:N */
#include "ferry/ferry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: models_bench ARCH SIZE forward|train BATCH ITERS THREADS [DEVICE]\n");
        return 2;
    }
    const char *arch = argv[1];
    int size = atoi(argv[2]), batch = atoi(argv[4]), iters = atoi(argv[5]), threads = atoi(argv[6]);
    bool train = !strcmp(argv[3], "train");
    const char *dev = argc == 8 ? argv[7] : "cpu";
    const int classes = 1000;
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    ferry_optim_t *opt = NULL;
    if (ferry_backend_init_device(dev, threads, &be) || ferry_store_init(be, &st) || ferry_rng_init(1, &rng)) goto fail;
    ferry_model_opts mo = {.input_size = size};
    const ferry_arch_info *a = ferry_arch_find(arch);
    if (ferry_model_init_ex(arch, 3, size, size, a && a->imported ? a->default_classes : classes, &mo, st, rng, &m))
        goto fail;
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    int k = ferry_model_classes(m);
    if (ferry_ctx_init(&ctx)) goto fail;
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){batch, c, h, w});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){batch});
    ferry_tensor_t *seed = ferry_input(ctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = train, .seed = seed};
    ferry_tensor_t *logits = ferry_model_classifier(m, ctx, ferry_model_features(m, ctx, x, &fo), &fo);
    ferry_tensor_t *out = train ? ferry_cross_entropy(ctx, logits, y, 0.0f) : logits;
    if (!out) goto fail;
    ferry_tensor_set_output(out);
    if (train) {
        ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
        if (ferry_backward(ctx, out) || ferry_optim_init(&oc, st, &opt) || ferry_optim_record(opt, ctx)) goto fail;
    }
    if (ferry_graph_init(ctx, be, &g)) goto fail;
    size_t n = (size_t)batch * c * h * w;
    float *xv = malloc(n * sizeof *xv);
    int32_t *yv = malloc((size_t)batch * sizeof *yv), sd = 1;
    for (size_t i = 0; i < n; i++) xv[i] = (float)ferry_rng_uniform(rng, -1, 1);
    for (int i = 0; i < batch; i++) yv[i] = i % k;
    double t0 = 0;
    for (int it = 0; it <= iters; it++) {
        if (it == 1) t0 = ferry_now_s(); /* the first step warms up */
        if (ferry_tensor_set(g, x, xv, n * sizeof *xv) ||
            (ferry_graph_uses(g, y) && ferry_tensor_set(g, y, yv, (size_t)batch * sizeof *yv)) ||
            (ferry_graph_uses(g, seed) && ferry_tensor_set(g, seed, &sd, sizeof sd)) ||
            (opt && ferry_optim_prepare_step(opt, g, 0.0)) || ferry_graph_compute(g))
            goto fail;
    }
    double dt = ferry_now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ferry_graph_info gi;
    ferry_graph_get_info(g, &gi);
    printf("ferry %s %s %dx%d %s batch %d threads %d: images_per_s=%.2f peak_rss_mb=%.0f params=%lld gmacs=%.3f "
           "arena_mb=%.0f fused=%d\n",
           arch, dev, h, w, argv[3], batch, threads, (double)iters * batch / dt, ru.ru_maxrss / 1024.0,
           (long long)ferry_model_param_count(m), ferry_model_macs(m) / 1e9, gi.transient_bytes / 1048576.0, gi.n_fused);
    ferry_graph_free(g); /* (FERRY_CPU_PROFILE prints its profile here) */
    if (opt) ferry_optim_free(opt);
    ferry_ctx_free(ctx);
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    free(xv);
    free(yv);
    return 0;
fail:
    fprintf(stderr, "models_bench %s: %s\n", arch, ferry_last_error());
    return 1;
}
