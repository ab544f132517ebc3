/* Benchmark: one DANN-LeNet training step (see dann_lenet.h) on the CPU backend.
 * Inputs are uniform random pixels: throughput does not depend on image content; every step
 * uploads its batch as a real step would.
 *
 * usage: dann_step [threads] [steps]      last line: images_per_s=<N> */
#include "dann_lenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "dann_step: %s: %s\n", what, ferry_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    int steps = argc > 2 ? atoi(argv[2]) : 60;
    ferry_backend_t *be;
    struct dann_lenet d = {0};
    if (ferry_backend_cpu_init(threads, &be) || dann_lenet_init(&d, be, BS, 1)) die("set-up");
    static float xs[BS * 784], xt[BS * 784];
    int32_t ys[BS];
    dann_lenet_random_batch(BS, 2, xs, xt, ys);
    int warmup = 5;
    double t0 = 0;
    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) t0 = now_s();
        if (dann_lenet_set_batch(&d, xs, xt, ys) ||
            dann_lenet_step(&d, (double)s / (warmup + steps), &loss))
            die("step");
    }
    double dt = now_s() - t0;
    ferry_graph_info info;
    ferry_graph_get_info(d.g, &info);
    printf("backend=cpu threads=%d batch=%d+%d steps=%d nodes=%d arena_kib=%zu unpacked_kib=%zu "
           "final_loss=%.4f\n",
           ferry_backend_threads(be), BS, BS, steps, info.n_nodes, info.transient_bytes / 1024,
           info.unpacked_bytes / 1024, (double)loss);
    printf("step_ms=%.3f\n", 1e3 * dt / steps);
    printf("images_per_s=%.0f\n", 2.0 * BS * steps / dt);
    dann_lenet_free(&d);
    ferry_backend_free(be);
    return 0;
}
