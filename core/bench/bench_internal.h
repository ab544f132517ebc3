/* Internal to the benchmark harness: the results store's write side. */
#ifndef FERRY_BENCH_INTERNAL_H
#define FERRY_BENCH_INTERNAL_H

#include "error.h"
#include "ferry/bench.h"

enum run_state { RUN_ABSENT, RUN_RUNNING, RUN_DONE, RUN_FAILED };

/* What is recorded when a run starts. */
struct run_begin {
    const char *key, *suite, *task, *method;
    uint64_t seed;
    const char *hparams_json, *config_json, *config_hash;
    const ferry_device_desc *device;
    int threads;
};

enum run_state ferry_results_state(ferry_results_t *r, const char *key);
/* Marks the run 'running' (replacing any earlier attempt and its metrics). */
ferry_status ferry_results_begin(ferry_results_t *r, const struct run_begin *b);
/* One transaction: the run's metrics (n epochs) and its final status ('done' or 'failed' + error). */
ferry_status ferry_results_finish(ferry_results_t *r, const char *key, int n, const double *source_val,
                                  const double *target_val, const double *target_test, const double *loss,
                                  const double *step_ms, const char *error);
/* "mnist->optdigits" -> "mnist-to-optdigits": a task name made safe for a file name. */
void ferry_bench_file_safe(const char *in, char *out, size_t n);
/* "2026-11-22T09:41:03Z" */
void ferry_bench_now_iso(char *buf, size_t n);

#endif
