/* Seeded shuffling and batching: the order of epoch e is a function of (seed, e) alone. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

struct ferry_loader {
    const ferry_dataset_t *ds;
    int batch;
    bool shuffle, drop_last;
    uint64_t seed;
    gsl_rng *rng;
    int64_t *order; /* example indices of the current epoch */
    int64_t pos;    /* next position in order */
};

/* splitmix64 finalizer: spreads (seed, epoch) over the 32-bit seed space of mt19937. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ferry_status ferry_loader_init(const ferry_dataset_t *ds, int batch, bool shuffle, bool drop_last,
                               uint64_t seed, ferry_loader_t **out)
{
    *out = NULL;
    if (!ds) return ferry_error(FERRY_ERR_INVALID, "loader: no data set");
    if (batch <= 0) return ferry_error(FERRY_ERR_INVALID, "loader: batch size %d must be positive", batch);
    if (drop_last && batch > ds->n)
        return ferry_error(FERRY_ERR_INVALID,
                           "loader: batch size %d is larger than data set '%s' (%lld examples) "
                           "and drop_last leaves no batch",
                           batch, ds->name, (long long)ds->n);
    ferry_loader_t *ld = calloc(1, sizeof *ld);
    if (ld) {
        ld->order = malloc((size_t)ds->n * sizeof *ld->order);
        ld->rng = gsl_rng_alloc(gsl_rng_mt19937);
    }
    if (!ld || !ld->order || !ld->rng) {
        ferry_loader_free(ld);
        return ferry_error(FERRY_ERR_NOMEM, "loader: out of memory for %lld examples", (long long)ds->n);
    }
    ld->ds = ds, ld->batch = batch, ld->shuffle = shuffle, ld->drop_last = drop_last, ld->seed = seed;
    ferry_loader_start_epoch(ld, 0);
    *out = ld;
    return FERRY_OK;
}

void ferry_loader_free(ferry_loader_t *ld)
{
    if (!ld) return;
    if (ld->rng) gsl_rng_free(ld->rng);
    free(ld->order);
    free(ld);
}

void ferry_loader_start_epoch(ferry_loader_t *ld, int epoch)
{
    for (int64_t i = 0; i < ld->ds->n; i++) ld->order[i] = i;
    ld->pos = 0;
    if (!ld->shuffle) return;
    uint64_t h = mix64(ld->seed ^ mix64((uint64_t)(int64_t)epoch));
    gsl_rng_set(ld->rng, (unsigned long)((h ^ (h >> 32)) & 0xffffffffu));
    gsl_ran_shuffle(ld->rng, ld->order, (size_t)ld->ds->n, sizeof *ld->order);
}

int ferry_loader_next(ferry_loader_t *ld, float *x, int32_t *y)
{
    const ferry_dataset_t *ds = ld->ds;
    int64_t left = ds->n - ld->pos;
    int k = left < ld->batch ? (int)left : ld->batch;
    if (k == 0 || (ld->drop_last && k < ld->batch)) return 0;
    size_t per = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    for (int i = 0; i < k; i++) {
        int64_t src = ld->order[ld->pos + i];
        memcpy(x + (size_t)i * per, ds->images + (size_t)src * per, per * sizeof *x);
        y[i] = ds->labels[src];
    }
    ld->pos += k;
    return k;
}

int64_t ferry_loader_batches_per_epoch(const ferry_loader_t *ld)
{
    int64_t n = ld->ds->n, b = ld->batch;
    return ld->drop_last ? n / b : (n + b - 1) / b;
}
