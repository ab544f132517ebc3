/* Ferry — the benchmark harness: tasks × methods × seeds into a SQLite results store, honest model
 * selection, statistics and reports.
 *
 * Results store (SQLite, WAL; default results/ferry.db). Schema version 1:
 *
 *   runs(key TEXT PRIMARY KEY,        -- SHA-256 of (task, method, seed, hyperparameters, config hash)
 *        suite TEXT, task TEXT, method TEXT, seed INTEGER,
 *        hparams TEXT,                -- JSON object of the resolved hyperparameters
 *        config TEXT, config_hash TEXT, -- the run's settings (JSON) and their SHA-256
 *        ferry_version TEXT, ferry_commit TEXT,
 *        device_backend TEXT, device_vendor TEXT, device_name TEXT, device_driver TEXT, device_api TEXT,
 *        threads INTEGER, started_at TEXT, finished_at TEXT,  -- ISO 8601 UTC
 *        status TEXT,                 -- 'running' | 'done' | 'failed' | 'diverged' | 'interrupted'
 *        error TEXT)
 *   metrics(key TEXT, epoch INTEGER,  -- 1-based; one row per evaluation
 *        source_val REAL, target_val REAL, target_test REAL, loss REAL, step_ms REAL,
 *        PRIMARY KEY (key, epoch))
 *   method_metrics(key TEXT, epoch INTEGER, name TEXT, value REAL,  -- a method's own (host->metric),
 *        PRIMARY KEY (key, epoch, name))                           -- its epoch mean
 *   validators(key TEXT, epoch INTEGER, name TEXT, value REAL,  -- ferry/validators.h, at the epoch's
 *        PRIMARY KEY (key, epoch, name))                       -- end (none for runs without them)
 *   confusion(key TEXT, epoch INTEGER, true_class INTEGER, predicted INTEGER, count INTEGER,
 *        PRIMARY KEY (key, epoch, true_class, predicted))  -- target test, per epoch, with the validators;
 *                                                          -- nonzero counts only
 *   meta(name TEXT PRIMARY KEY, value TEXT)  -- schema_version
 *
 * A run's metrics and its 'done' status are written in one transaction when it finishes; a run found
 * 'running' (its process was killed) is redone from scratch; 'done' runs are skipped. Runs are
 * deterministic on the CPU backend, so a resumed sweep equals an uninterrupted one. */
#ifndef FERRY_BENCH_H
#define FERRY_BENCH_H

#include "ferry/method.h"
#include "ferry/validators.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ----------------------------------------------------------------------------------- */

#define FERRY_BENCH_MAX 64

typedef struct ferry_bench_config {
    char name[64];                       /* suite name */
    char *tasks[FERRY_BENCH_MAX];
    int n_tasks;
    char *methods[FERRY_BENCH_MAX];
    int n_methods;
    uint64_t seeds[FERRY_BENCH_MAX];
    int n_seeds;
    char *sets[FERRY_BENCH_MAX];         /* "method.name=value" */
    int n_sets;
    char arch[96];                       /* an architecture or imported model (ferry models) */
    int input_size;                      /* the model's input side; 0: the architecture's default */
    char weights[512];                   /* pretrained backbone weights (safetensors by name); "" none */
    int epochs, batch;
    int iters_per_epoch;                 /* > 0: steps per epoch instead of one pass over the source */
    double lr;
    char schedule[16];                   /* constant | step | cosine | inv (a method may set its own) */
    int target_labels;                   /* K labelled target examples per class (inductive methods) */
    bool semi_supervised;                /* the transductive methods get the K labelled examples too
                                            (SSDA; source-free ones never) */
    bool validators;                     /* the unsupervised validators of every epoch into the store
                                            (default true; ferry/validators.h) */
    int pretrain_epochs;                 /* source-only pretraining for checkpoint methods */
    char device[32];                     /* cpu | vulkan:N | auto */
    int threads;
    uint64_t split_seed;
    char select[16];                     /* the report's selection rule: source-val | target-val | last */
    ferry_augment_config augment;        /* augment: the method runs' labelled training batches (none: off) */
    ferry_augment_config augment_target; /* augment_target: their unlabelled target batches */
    char source[256];                    /* where it came from: a file or "suite digits" */
} ferry_bench_config;

/* The built-in suites: "digits" (the default: source-only, feature extraction, fine-tuning, DANN, DAN
 * and CORAL on the digit tasks, 3 seeds, sized for about 15 minutes on 2 CPU cores). */
ferry_status ferry_bench_suite(const char *name, ferry_bench_config *out);
/* Reads a YAML file (libyaml): keys name, tasks, methods, seeds, epochs, batch, lr, schedule, arch,
 * input_size, weights, iters_per_epoch, augment, augment_target (ferry_augment_parse's form: "crop=4,rot=15"),
 * target_labels, pretrain_epochs, device, threads, split_seed, select (the report's selection rule),
 * and hparams: {method: {name: value}}.
 * A hyperparameter given a list ({gamma: [3, 10]}, or "dann.gamma=3,10" as an override) is an axis
 * of the method's grid: the sweep runs every point of the product of its axes.
 * Errors name the file, the line and the key. */
ferry_status ferry_bench_config_load(const char *path, ferry_bench_config *out);
/* key=value overrides (the same keys; lists comma-separated; "dann.gamma=5" sets a hyperparameter). */
ferry_status ferry_bench_config_override(ferry_bench_config *c, const char *kv);
/* Checks every task, method (against the loaded plugins), hyperparameter name and value before any
 * run starts. */
ferry_status ferry_bench_config_check(const ferry_bench_config *c, const ferry_methods_t *methods);
void ferry_bench_config_free(ferry_bench_config *c);

/* ---- the results store ---------------------------------------------------------------------------------- */

typedef struct ferry_results ferry_results_t;

/* Opens (creating the schema) a store; the error names the path when it cannot be written. */
ferry_status ferry_results_open(const char *path, bool writable, ferry_results_t **out);
void ferry_results_close(ferry_results_t *r);

typedef struct ferry_run_row {
    char key[65];
    char suite[64], task[64], method[64];
    uint64_t seed;
    char hparams[1024], config_hash[65];
    char status[16];
    char device[512];
    char config[2048];                   /* the run's settings (JSON) */
    char commit[48], started[24], finished[24]; /* provenance: Ferry's commit, ISO 8601 UTC times */
    int target_labels;                   /* labelled target examples per class the run trained on (0: none) */
    bool semi_supervised;                /* ...beside the labelled source and the unlabelled target */
    int n_epochs;
    double source_val[256], target_val[256], target_test[256], loss[256], step_ms[256];
    double validators[256][FERRY_VALIDATOR_COUNT]; /* the store's validators table; NaN: none */
} ferry_run_row;

/* Every 'done' run (optionally of one suite), ordered by task, method, seed. Caller frees *rows. */
ferry_status ferry_results_runs(ferry_results_t *r, const char *suite, ferry_run_row **rows, int *n);
/* The target-test confusion matrix of a run's epoch (1-based): *counts (allocated; the caller frees
 * it) [t * classes + p] images of class t predicted p, classes up to the highest class seen; *classes 0
 * where the store has none (runs without validators, or made before the matrices were stored). */
ferry_status ferry_results_confusion(ferry_results_t *r, const char *key, int epoch, int32_t **counts, int *classes);
/* A run that did not finish: status 'failed', 'diverged', 'interrupted' or 'running'. */
typedef struct ferry_run_problem {
    char task[64], method[64];
    uint64_t seed;
    char hparams[256];
    char status[16];
    char error[512];                     /* its first line */
} ferry_run_problem;
/* Every run (optionally of one suite) that is not 'done', ordered by task, method, seed. Caller frees
 * *out. */
ferry_status ferry_results_problems(ferry_results_t *r, const char *suite, ferry_run_problem **out, int *n);
/* Copies every run and metric of src into dst (INSERT OR IGNORE by key): merging twice changes
 * nothing. */
ferry_status ferry_results_merge(ferry_results_t *dst, const char *src_path);

/* ---- sweeps ---------------------------------------------------------------------------------------------- */

typedef struct ferry_bench_opts {
    const char *db_path;        /* default results/ferry.db */
    int shard, n_shards;        /* this process runs runs k with k % n_shards == shard */
    const char *checkpoint_dir; /* pretrained checkpoints (default: results/checkpoints) */
    bool quiet;
    bool in_process;            /* run the runs in this process, not each in a child (for a debugger) */
    double run_timeout_s;       /* > 0: a run still going after this long is killed and recorded failed */
} ferry_bench_opts;

/* Runs the sweep: every (task, method, grid point, seed) of the config in a fixed order; skips runs already
 * done (or diverged) in the store, redoes runs left 'running', 'failed' or 'interrupted'. Each run runs in
 * a child process (unless in_process): a run whose process crashes, exits or passes the time limit is
 * recorded 'failed' with the reason and its last lines of output, and the sweep goes on. SIGINT or
 * SIGTERM marks the current run 'interrupted', closes the store and returns an error. */
ferry_status ferry_bench_run(const ferry_bench_config *c, const ferry_methods_t *methods,
                             const ferry_bench_opts *o);

/* ---- model selection and statistics ----------------------------------------------------------------------- */

typedef enum ferry_select {
    FERRY_SELECT_SOURCE_VAL = 0, /* the epoch with the best source-validation accuracy (default) */
    FERRY_SELECT_TARGET_VAL = 1, /* the best target-validation accuracy: a labelled "oracle" */
    FERRY_SELECT_LAST = 2,       /* the last epoch */
    FERRY_SELECT_VALIDATOR = 3,  /* + a ferry_validator: the epoch that validator scores highest
                                    (unsupervised: no target label); runs without it select nothing */
} ferry_select;
const char *ferry_select_name(ferry_select s);
/* "source-val", "target-val", "last", or a validator's name (ferry_validator_name). */
ferry_status ferry_select_parse(const char *s, ferry_select *out);
/* The metric the rule reads at epoch e (1-based) of a run: source or target validation accuracy,
 * or the validator's value (NaN where the run has none). */
double ferry_select_score(const ferry_run_row *run, ferry_select rule, int e);

/* Target-test accuracy of a run under a selection rule (the test set never selects anything: the
 * epoch is chosen on the rule's own metric, ties to the earliest epoch); NaN (epoch 0) when the run
 * has no value of the rule's metric. */
double ferry_select_target_test(const ferry_run_row *run, ferry_select rule, int *epoch);

typedef struct ferry_cell_stats {
    int n;
    double mean, sd, ci95;        /* 95% t-interval half-width */
    double diff_mean, t, p;       /* paired against the baseline on the same seeds (NaN if none) */
    bool negative_transfer;       /* significantly worse than the baseline (p < 0.05, diff < 0) */
    double effect_dz;             /* paired effect size: mean difference / sd of the differences */
    double p_holm;                /* p after Holm–Bonferroni over the table's comparisons of the task
                                     (a table sets it; NaN elsewhere) */
} ferry_cell_stats;

/* Mean, sd, t-interval of x[0..n); paired t-test of x against base (both n, same seeds; base may be
 * NULL). */
void ferry_stats_cell(const double *x, const double *base, int n, ferry_cell_stats *out);
/* Holm–Bonferroni: adj[i] the adjusted p of p[i] among the m (at most 256) that are not NaN (NaN
 * stays NaN). */
void ferry_holm(const double *p, int m, double *adj);

/* ---- reports ---------------------------------------------------------------------------------------------- */

/* Tasks × methods of target-test accuracy (%) under a selection rule, with statistics over seeds and a
 * paired test of each method against `baseline` (default source-only) on the seeds both have. */
typedef struct ferry_table ferry_table_t;
ferry_status ferry_table_build(const ferry_run_row *rows, int n, ferry_select rule, const char *baseline,
                               ferry_table_t **out);
void ferry_table_free(ferry_table_t *t);
/* Runs that did not finish (those of the table's store, suite and picks): listed under the markdown
 * table (and as "unfinished" in the JSON), so that a crashed or diverged run is seen, not missing,
 * even where a method has no finished run and so no column. */
ferry_status ferry_table_add_unfinished(ferry_table_t *t, const ferry_run_problem *p, int n);
/* NULL if the table has no run of that task and method. */
const ferry_cell_stats *ferry_table_cell(const ferry_table_t *t, const char *task, const char *method);
/* The hyperparameters (JSON) of the setting a cell reports and, in *n_settings, how many settings the
 * store holds for it. With several (a grid), the reported one has the best mean over seeds of the
 * selection rule's metric (source or target validation accuracy, at the epoch the rule picks) among
 * the settings with the most seeds; the target test set never chooses. NULL if no such cell. */
const char *ferry_table_setting(const ferry_table_t *t, const char *task, const char *method, int *n_settings);
/* format: "md", "latex", "csv" or "json"; path NULL: standard output; else written atomically. */
ferry_status ferry_table_write(const ferry_table_t *t, const char *format, const char *path);
/* Spearman rank correlation of x and y (average ranks for ties; NaN below 3 pairs or without spread). */
double ferry_spearman(const double *x, const double *y, int n);
/* Vigna's weighted Kendall τ (WWW 2015) of x and y with additive hyperbolic weights: a pair of
 * elements at ranks r and s weighs 1/(r + 1) + 1/(s + 1), so that disagreements at the top count most;
 * ties as in τ_b; the mean of the values with the ranking by (x, then y) and by (y, then x), both
 * decreasing (scipy.stats.weightedtau's default, which TLlib's model selection reports). NaN below 2
 * elements or without spread. */
double ferry_weighted_tau(const double *x, const double *y, int n);
/* Musgrave et al.'s weighted Spearman correlation (ECCV workshops 2022, their benchmark of UDA
 * validators) of validator scores x with accuracies y: observation i weighs (d_i / max d)², d_i the
 * dense rank of x_i (1 for the lowest score), so that the checkpoints a validator ranks high count
 * most; then the weighted Pearson correlation of the weighted ranks (a tie group of c elements with
 * weight sum a, after the groups below it with weight sum A, ranks A + (c + 1)/2 · a/c). NaN below 3
 * pairs or without spread. */
double ferry_weighted_spearman(const double *x, const double *y, int n);
/* How well each unsupervised validator chooses (`ferry results validators`): per task, over all its
 * checkpoints (every epoch of every run), each validator's Spearman correlation with target-test
 * accuracy and the accuracy of the checkpoint it scores highest, beside the best checkpoint, the
 * target-validation oracle and source-validation accuracy; a mean over tasks. format: md, csv or
 * json; path NULL: standard output. */
ferry_status ferry_validators_table(const ferry_run_row *rows, int n, const char *format, const char *path);
/* gnuplot: DIR/accuracy.{png,svg} (means with 95% intervals) and DIR/curves-TASK.{png,svg}. */
/* DIR/index.html: one self-contained page (no server, no network; the plots embedded) of a report:
 * the table with the runs that did not finish, the accuracy plot and each task's learning curves (the
 * SVGs ferry_results_plot wrote into DIR), the validators' correlations where the runs have
 * validators, and every run's settings, provenance (commit, device, times) and target-test confusion
 * matrix at the epoch the table's rule selects. store: the store's path (read for the matrices). */
ferry_status ferry_report_html(const ferry_table_t *t, const ferry_run_row *rows, int n, const char *store,
                               const char *dir);
ferry_status ferry_results_plot(const ferry_run_row *rows, int n, ferry_select rule, const char *baseline,
                                const char *dir);
/* The embedding plot of `ferry embed`: one panel per model m, its points xy[m] (n_src source rows,
 * then n_tgt target rows, 2 coordinates each) coloured by domain, explained[m] the share of the
 * variance each axis carries; written as PREFIX.svg and PREFIX.png (PREFIX.dat and the gnuplot
 * scripts beside them). */
ferry_status ferry_plot_embedding(const char *prefix, int models, const char *const *names, const float *const *xy,
                                  int64_t n_src, int64_t n_tgt, const double (*explained)[2]);

#ifdef __cplusplus
}
#endif
#endif
