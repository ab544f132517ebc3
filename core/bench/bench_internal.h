/* Internal to the benchmark harness: the results store's write side. */
#ifndef FERRY_BENCH_INTERNAL_H
#define FERRY_BENCH_INTERNAL_H

#include "error.h"
#include "ferry/bench.h"

/* 'failed' and 'interrupted' runs are redone by the next sweep; 'diverged' ones, a result of their
 * settings (and deterministic), are not. */
enum run_state { RUN_ABSENT, RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_DIVERGED };

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
/* A method's own metrics over a run's epochs: n_names names, values[epoch * FERRY_MAX_METHOD_METRICS + j]. */
struct method_metrics {
    int n_names;
    char names[FERRY_MAX_METHOD_METRICS][32];
    const double *values;
};
/* A run's target-test confusion matrices: counts[(e * classes + t) * classes + p] for the epochs e
 * with has[e]. */
struct confusion {
    int classes;
    const int32_t *counts;
    const bool *has;
};
/* One transaction: the run's metrics (n epochs; mm: the method's own, or NULL; validators: n ×
 * FERRY_VALIDATOR_COUNT, NaN where an epoch has none, or NULL; cm: or NULL) and its final status ('done', or
 * 'failed' | 'diverged' | 'interrupted' with the error). */
ferry_status ferry_results_finish(ferry_results_t *r, const char *key, int n, const double *source_val,
                                  const double *target_val, const double *target_test, const double *loss,
                                  const double *step_ms, const struct method_metrics *mm, const double *validators,
                                  const struct confusion *cm, const char *status, const char *error);
/* "mnist->optdigits" -> "mnist-to-optdigits": a task name made safe for a file name. */
void ferry_bench_file_safe(const char *in, char *out, size_t n);
/* Hyperparameter grids. A setting "method.name=v1,v2,..." (a YAML list) is an axis of that method's
 * grid; a method runs every point of the product of its axes, the last axis varying fastest. */
#define FERRY_BENCH_GRID_MAX 256
/* The number of points of the method's grid (1 without lists); -1 if more than FERRY_BENCH_GRID_MAX. */
int ferry_bench_grid_size(const ferry_bench_config *c, const char *method);
/* Point k of the method's grid: its settings "method.name=value" (*n of them, allocated; free with
 * ferry_bench_grid_free) and, into label, the values of the list-valued ones ("gamma=3,trade_off=1";
 * empty without lists). */
ferry_status ferry_bench_grid_point(const ferry_bench_config *c, const char *method, int k, char **sets, int *n,
                                    char *label, size_t label_n);
void ferry_bench_grid_free(char **sets, int n);
/* "2026-11-22T09:41:03Z" */
void ferry_bench_now_iso(char *buf, size_t n);

#endif
