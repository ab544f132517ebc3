/* Same seed and thread count: identical bits. Different seed: different result.
 * Uses real MNIST (fetched by the set-up script); skipped only when the data is absent and
 * FERRY_REQUIRE_DATA is unset. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../benchmarks/dann_lenet.h"
#include "require_data.h"


static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* One epoch of LeNet on a quarter of MNIST... through the public trainer, 2 threads. */
static ferry_train_result train_once(uint64_t seed, const char *save)
{
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    ferry_train_opts o = ferry_train_defaults();
    o.epochs = 1;
    o.batch = 128;
    o.seed = seed;
    o.backend = be;
    o.save_path = save;
    ferry_train_result r;
    cr_assert_eq(ferry_train(&o, &r), FERRY_OK, "%s", ferry_last_error());
    ferry_backend_free(be);
    return r;
}

Test(determinism, same_seed_same_bits_different_seed_differs, .timeout = 300 * FERRY_TIMEOUT_SCALE)
{
    require_mnist();
    char dir[] = "/tmp/ferry-det-XXXXXX", a[128], b[128], c[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(c, sizeof c, "%s/c.safetensors", dir);
    ferry_train_result ra = train_once(7, a), rb = train_once(7, b), rc = train_once(8, c);
    cr_assert(memcmp(&ra.final_loss, &rb.final_loss, sizeof ra.final_loss) == 0,
              "losses %.17g vs %.17g", ra.final_loss, rb.final_loss);
    cr_assert_eq(ra.test_accuracy, rb.test_accuracy);
    size_t na, nb, nc;
    void *da = slurp(a, &na), *db = slurp(b, &nb), *dc = slurp(c, &nc);
    cr_assert_eq(na, nb);
    cr_assert(memcmp(da, db, na) == 0, "weights differ between two runs with the same seed");
    cr_assert(na != nc || memcmp(da, dc, na) != 0, "a different seed gave the same weights");
    cr_assert_neq(ra.final_loss, rc.final_loss);
    /* it learned something in one epoch */
    cr_assert_gt(ra.test_accuracy, 0.5, "accuracy %g after one epoch (chance: 0.1)", ra.test_accuracy);
    free(da);
    free(db);
    free(dc);
    unlink(a);
    unlink(b);
    unlink(c);
    rmdir(dir);
}

Test(determinism, dann_step_losses_bitwise)
{
    /* the DANN step graph: two independent instances, same seed, 4 steps each */
    float la[4], lb[4];
    for (int run = 0; run < 2; run++) {
        ferry_backend_t *be;
        struct dann_lenet d = {0};
        cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
        cr_assert_eq(dann_lenet_init(&d, be, 8, 3), FERRY_OK, "%s", ferry_last_error());
        static float xs[8 * 784], xt[8 * 784];
        int32_t ys[8];
        for (int i = 0; i < 8 * 784; i++) {
            xs[i] = (float)((i * 37) % 101) / 101.0f;
            xt[i] = (float)((i * 13) % 89) / 89.0f;
        }
        for (int i = 0; i < 8; i++) ys[i] = (i * 3) % 10;
        cr_assert_eq(dann_lenet_set_batch(&d, xs, xt, ys), FERRY_OK);
        for (int s = 0; s < 4; s++)
            cr_assert_eq(dann_lenet_step(&d, s / 4.0, run ? &lb[s] : &la[s]), FERRY_OK);
        dann_lenet_free(&d);
        ferry_backend_free(be);
    }
    cr_assert(memcmp(la, lb, sizeof la) == 0);
    cr_assert_neq(la[0], la[3], "the loss did not change: no update happened");
}
