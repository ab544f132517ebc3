/* Scaffolding shared by the CPU kernel tests: per-test memory, reproducible random numbers, double
 * copies for references. Each test file includes it once and declares its TestSuite with
 * .fini = arena_free. */
#ifndef FERRY_TEST_KERNEL_HARNESS_H
#define FERRY_TEST_KERNEL_HARNESS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

/* Every buffer of a test comes from here and is freed when the test ends. */
#define ARENA_MAX 512
static void *arena[ARENA_MAX];
static int arena_n;

static void *alloc(size_t bytes)
{
    cr_assert(arena_n < ARENA_MAX, "test arena full");
    void *p = calloc(1, bytes ? bytes : 1);
    cr_assert(p != NULL, "out of memory");
    return arena[arena_n++] = p;
}

static void arena_free(void)
{
    while (arena_n > 0) free(arena[--arena_n]);
}

static float *fbuf(int64_t n) { return alloc((size_t)n * sizeof(float)); }
static double *dbuf(int64_t n) { return alloc((size_t)n * sizeof(double)); }

/* splitmix64: reproducible uniform numbers; each file seeds it with its own constant */
static uint64_t rng_state = HARNESS_SEED;

static double uniform(double lo, double hi)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static double *to_d(const float *x, int64_t n)
{
    double *d = dbuf(n);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

#endif
