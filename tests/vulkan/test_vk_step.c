/* The whole DANN-LeNet training step on the Vulkan backend: the execution design (one submission
 * and no device allocation per step, only the batch and the scalars uploaded, only the loss read
 * back), agreement with the CPU backend (loss and every updated parameter and optimizer state), and
 * bit-identical results from two runs on the same device. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "../../benchmarks/dann_lenet.h"
#include "vk_backend_util.h"

#define BS 16

static float xs[BS * 784], xt[BS * 784];
static int32_t ys[BS];

static void make_batch(int step)
{
    for (int i = 0; i < BS * 784; i++) {
        xs[i] = (float)((i * 7 + step * 13) % 97) / 97.0f;
        xt[i] = (float)((i * 11 + step * 5) % 89) / 89.0f;
    }
    for (int i = 0; i < BS; i++) ys[i] = (i + step) % 10;
}

static void run_steps(struct dann_lenet *d, int n, float *losses)
{
    for (int s = 0; s < n; s++) {
        make_batch(s);
        cr_assert_eq(dann_lenet_set_batch(d, xs, xt, ys), FERRY_OK, "%s", ferry_last_error());
        cr_assert_eq(dann_lenet_step(d, s / 10.0, &losses[s]), FERRY_OK, "%s", ferry_last_error());
    }
}

/* Every store entry (parameters, momentum buffers, BN statistics) of a and b, as one vector each. */
static float *store_values(ferry_store_t *st, int64_t *n_out)
{
    int64_t n = 0;
    for (int i = 0; i < ferry_store_count(st); i++) n += ferry_store_numel(st, i);
    float *v = malloc((size_t)n * sizeof *v);
    int64_t at = 0;
    for (int i = 0; i < ferry_store_count(st); i++) {
        int64_t k = ferry_store_numel(st, i);
        cr_assert_eq(ferry_store_get(st, i, v + at, (size_t)k * sizeof *v), FERRY_OK, "%s",
                     ferry_last_error());
        at += k;
    }
    *n_out = n;
    return v;
}

Test(vk_step, one_submission_no_allocation_only_batch_and_scalars_cross)
{
    ferry_backend_t *be = vk_test_backend();
    struct dann_lenet d = {0};
    cr_assert_eq(dann_lenet_init(&d, be, BS, 1), FERRY_OK, "%s", ferry_last_error());
    float loss[6];
    run_steps(&d, 1, loss); /* the first step */
    ferry_backend_stats before, after;
    ferry_backend_get_stats(be, &before);
    run_steps(&d, 5, loss);
    ferry_backend_get_stats(be, &after);
    cr_assert_eq(after.queue_submits - before.queue_submits, 5, "%llu submissions in 5 steps",
                 (unsigned long long)(after.queue_submits - before.queue_submits));
    cr_assert_eq(after.device_allocs, before.device_allocs, "device memory allocated during steps");
    cr_assert_eq(after.buffer_allocs, before.buffer_allocs, "buffers allocated during steps");
    uint64_t per_step = 2 * BS * 784 * 4 + BS * 4 + 2 * BS * 4 + 4; /* xs, xt, ys, domain, lr */
    cr_assert_eq(after.bytes_uploaded - before.bytes_uploaded, 5 * per_step);
    cr_assert_eq(after.bytes_downloaded - before.bytes_downloaded, 5 * sizeof(float));
    for (int s = 0; s < 5; s++) cr_assert(isfinite(loss[s]));
    ferry_graph_info gi;
    ferry_graph_get_info(d.g, &gi);
    cr_assert_gt(gi.n_dispatches, gi.n_nodes - 1);
    cr_assert_lt(gi.n_barriers, gi.n_dispatches, "a barrier before every dispatch: hazards not tracked");
    vk_test_no_validation_messages(be);
    dann_lenet_free(&d);
    ferry_backend_free(be);
}

Test(vk_step, agrees_with_cpu_backend)
{
    ferry_backend_t *vk = vk_test_backend(), *cpu;
    cr_assert_eq(ferry_backend_cpu_init(1, &cpu), FERRY_OK);
    struct dann_lenet a = {0}, b = {0};
    cr_assert_eq(dann_lenet_init(&a, cpu, BS, 3), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(dann_lenet_init(&b, vk, BS, 3), FERRY_OK, "%s", ferry_last_error());
    enum { STEPS = 3 };
    float la[STEPS], lb[STEPS];
    run_steps(&a, STEPS, la);
    run_steps(&b, STEPS, lb);
    for (int s = 0; s < STEPS; s++)
        cr_assert_lt(fabsf(la[s] - lb[s]), 1e-4f * fmaxf(1.0f, fabsf(la[s])), "step %d loss cpu %.7f vulkan %.7f",
                     s, (double)la[s], (double)lb[s]);
    int64_t na, nb;
    float *va = store_values(a.st, &na), *vb = store_values(b.st, &nb);
    cr_assert_eq(na, nb);
    for (int i = 0, at = 0; i < ferry_store_count(a.st); i++) {
        int64_t k = ferry_store_numel(a.st, i);
        double num = 0, den = 1e-30;
        for (int64_t j = 0; j < k; j++) {
            double e = (double)va[at + j] - vb[at + j];
            num += e * e;
            den += (double)va[at + j] * va[at + j];
        }
        cr_assert_leq(num / den, 5e-4, "%s: normalised MSE %.3g after %d steps", ferry_store_name(a.st, i),
                      num / den, STEPS);
        at += (int)k;
    }
    free(va);
    free(vb);
    vk_test_no_validation_messages(vk);
    dann_lenet_free(&a);
    dann_lenet_free(&b);
    ferry_backend_free(cpu);
    ferry_backend_free(vk);
}

Test(vk_step, same_seed_same_device_identical_bits)
{
    float l[2][3];
    float *v[2];
    int64_t n[2];
    for (int r = 0; r < 2; r++) {
        ferry_backend_t *be = vk_test_backend();
        struct dann_lenet d = {0};
        cr_assert_eq(dann_lenet_init(&d, be, BS, 7), FERRY_OK, "%s", ferry_last_error());
        run_steps(&d, 3, l[r]);
        v[r] = store_values(d.st, &n[r]);
        vk_test_no_validation_messages(be);
        dann_lenet_free(&d);
        ferry_backend_free(be);
    }
    cr_assert_eq(memcmp(l[0], l[1], sizeof l[0]), 0, "losses differ between two runs");
    cr_assert_eq(n[0], n[1]);
    cr_assert_eq(memcmp(v[0], v[1], (size_t)n[0] * sizeof(float)), 0, "parameters differ between two runs");
    free(v[0]);
    free(v[1]);
}
