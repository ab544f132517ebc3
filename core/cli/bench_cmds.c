/* ferry bench: a sweep of tasks × methods × seeds into the results store, then the table.
 * Under Open MPI (mpirun -n N ferry bench ...) each rank runs its shard into its own store and rank 0
 * merges them into the main one. */
#include "ferry/bench.h"
#include "ferry/ferry.h"
#include "ferry/io.h"
#include "commands.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FERRY_HAVE_MPI
#include <mpi.h>
#endif

static int usage(FILE *f)
{
    fprintf(f,
            "usage: ferry bench [CONFIG.yaml] [KEY=VALUE ...] [--suite NAME] [--db PATH] [--shard i/N]\n"
            "                   [--checkpoints DIR] [--report DIR] [--run-timeout SECONDS] [--in-process]\n"
            "                   [--no-table] [--quiet]\n"
            "\n"
            "Runs every (task, method, grid point, seed) of the configuration into the results store\n"
            "(SQLite, default results/ferry.db), skipping runs already finished there, then writes the\n"
            "report (table in markdown, LaTeX, CSV and JSON; plots) and prints the table (target-test\n"
            "accuracy, model and grid point selected by the config's select rule, source validation\n"
            "unless it says otherwise; see ferry results).\n"
            "\n"
            "  CONFIG.yaml       keys: name, tasks, methods, seeds, epochs, batch, lr, schedule, arch,\n"
            "                    target_labels, semi_supervised, validators, pretrain_epochs, device, threads, split_seed, select,\n"
            "                    hparams: {METHOD: {NAME: VALUE or [V1, V2, ...]}} (a list: a grid axis)\n"
            "  KEY=VALUE         overrides, e.g. epochs=2 seeds=1,2 methods=dann,dan dann.gamma=5\n"
            "                    dann.gamma=3,10 (a grid) select=target-val\n"
            "  --suite NAME      a built-in suite (default: digits, when no CONFIG is given)\n"
            "  --db PATH         the results store\n"
            "  --shard i/N       run only runs k with k mod N = i (0-based); merge the stores with\n"
            "                    ferry results merge. Under mpirun each rank takes its shard.\n"
            "  --checkpoints DIR pretrained checkpoints (default results/checkpoints)\n"
            "  --report DIR      where the table and plots go (default: the store's folder/SUITE)\n"
            "  --run-timeout S   a run still going after S seconds is killed and recorded failed\n"
            "  --in-process      run the runs in this process (for a debugger); by default each runs\n"
            "                    in a child process, so that a crashing or hanging method plugin fails\n"
            "                    only its own run (recorded 'failed' with the signal and its last output)\n"
            "  --no-table        run the sweep only\n");
    return f == stdout ? 0 : 2;
}

static int shard_parse(const char *s, int *i, int *n)
{
    char tail;
    return sscanf(s, "%d/%d%c", i, n, &tail) == 2 && *n >= 1 && *i >= 0 && *i < *n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Overrides that change how runs are trained (epochs=1, dann.gamma=5, ...) give the suite a name of
 * its own, SUITE+HASH, so that its runs are never pooled with the unmodified suite's in one table.
 * Overrides that only pick runs (tasks, methods, seeds), the thread count or the report's selection
 * rule keep the name, and so reuse the runs already done; an explicit name= wins. */
static void suite_name(ferry_bench_config *c, const char *const *over, int n)
{
    const char *setting[128];
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(over[i], "=");
        static const char *const pick[] = {"tasks", "methods", "seeds", "threads", "select"};
        bool picks = false;
        for (size_t j = 0; j < sizeof pick / sizeof pick[0]; j++)
            picks |= strlen(pick[j]) == len && !strncmp(over[i], pick[j], len);
        if (len == 4 && !strncmp(over[i], "name", 4)) return;
        if (!picks) setting[k++] = over[i];
    }
    if (!k) return;
    qsort(setting, (size_t)k, sizeof setting[0], cmp_str);
    char all[8192] = "", hex[65];
    size_t used = 0;
    for (int i = 0; i < k && used < sizeof all; i++)
        used += (size_t)snprintf(all + used, sizeof all - used, "%s\n", setting[i]);
    ferry_sha256_mem(all, strlen(all), hex);
    char name[sizeof c->name];
    snprintf(name, sizeof name, "%.*s+%.8s", (int)(sizeof name - 10), c->name, hex);
    memcpy(c->name, name, sizeof name);
}

/* list joined with commas into out */
static void join(char *const *list, int n, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", list[i]);
}

int ferry_cli_bench(int argc, char **argv)
{
    const char *config = NULL, *suite = NULL, *db = "results/ferry.db", *ckpt = NULL, *report = NULL;
    const char *overrides[128];
    int n_over = 0, shard = 0, n_shards = 1, rank = 0, size = 1;
    bool table = true, quiet = false, mpi = false, in_process = false;
    double run_timeout = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        if (!strcmp(a, "--suite") && i + 1 < argc) suite = argv[++i];
        else if (!strcmp(a, "--db") && i + 1 < argc) db = argv[++i];
        else if (!strcmp(a, "--checkpoints") && i + 1 < argc) ckpt = argv[++i];
        else if (!strcmp(a, "--report") && i + 1 < argc) report = argv[++i];
        else if (!strcmp(a, "--shard") && i + 1 < argc) {
            if (!shard_parse(argv[++i], &shard, &n_shards)) {
                fprintf(stderr, "ferry bench: --shard expects i/N with 0 <= i < N, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--run-timeout") && i + 1 < argc) {
            char *end;
            errno = 0;
            run_timeout = strtod(argv[++i], &end);
            if (*end || errno || !(run_timeout > 0) || !isfinite(run_timeout)) {
                fprintf(stderr, "ferry bench: --run-timeout expects a number of seconds > 0, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--in-process")) in_process = true;
        else if (!strcmp(a, "--no-table")) table = false;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-') {
            fprintf(stderr, "ferry bench: unknown option '%s'\n", a);
            return usage(stderr);
        } else if (strchr(a, '=')) {
            if (n_over < 128) overrides[n_over++] = a;
        } else if (!config) config = a;
        else {
            fprintf(stderr, "ferry bench: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (config && suite) {
        fprintf(stderr, "ferry bench: give a CONFIG file or --suite, not both\n");
        return 2;
    }
    ferry_bench_config c;
    ferry_status s = config ? ferry_bench_config_load(config, &c) : ferry_bench_suite(suite ? suite : "digits", &c);
    for (int i = 0; !s && i < n_over; i++) s = ferry_bench_config_override(&c, overrides[i]);
    if (!s) suite_name(&c, overrides, n_over);
    ferry_methods_t *methods = NULL;
    if (!s) s = ferry_methods_load(&methods);
    if (!s) s = ferry_bench_config_check(&c, methods);
    if (s) {
        fprintf(stderr, "ferry bench: %s\n", ferry_last_error());
        ferry_methods_free(methods);
        ferry_bench_config_free(&c); /* both loaders set it up before anything can fail */
        return 1;
    }
#ifdef FERRY_HAVE_MPI
    /* launched by mpirun: one shard per rank, each into its own store */
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK")) {
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        mpi = size > 1;
    }
#endif
    char rank_db[1024];
    if (mpi) {
        shard = rank;
        n_shards = size;
        snprintf(rank_db, sizeof rank_db, "%s.rank%d", db, rank);
    }
    ferry_bench_opts o = {.db_path = mpi ? rank_db : db, .shard = shard, .n_shards = n_shards,
                          .checkpoint_dir = ckpt, .quiet = quiet, .in_process = in_process,
                          .run_timeout_s = run_timeout};
    s = ferry_bench_run(&c, methods, &o);
    int rc = s ? 1 : 0;
    if (s) fprintf(stderr, "ferry bench%s: %s\n", mpi ? " (an MPI rank)" : "", ferry_last_error());
#ifdef FERRY_HAVE_MPI
    if (mpi) {
        int all = rc;
        MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        rc = all;
        if (rank == 0 && !rc) { /* gather every rank's store into the main one */
            ferry_results_t *dst;
            if ((s = ferry_results_open(db, true, &dst))) rc = 1;
            for (int r = 0; r < size && !rc; r++) {
                char p[1024];
                snprintf(p, sizeof p, "%s.rank%d", db, r);
                if ((s = ferry_results_merge(dst, p))) rc = 1;
            }
            ferry_results_close(dst);
            if (rc) fprintf(stderr, "ferry bench: merging the ranks' stores: %s\n", ferry_last_error());
        }
        MPI_Finalize();
        if (rank != 0) table = false;
    }
#endif
    if (!rc && table && n_shards == 1) {
        char dir[1024];
        if (report) {
            snprintf(dir, sizeof dir, "%s", report);
        } else { /* next to the store: results/ferry.db -> results/digits */
            const char *slash = strrchr(db, '/');
            snprintf(dir, sizeof dir, "%.*s%s", slash ? (int)(slash - db + 1) : 0, db, c.name);
        }
        char tasks[4096], meths[4096]; /* the table in the configuration's order */
        join(c.tasks, c.n_tasks, tasks, sizeof tasks);
        join(c.methods, c.n_methods, meths, sizeof meths);
        char *targs[] = {"results", "report", "--db", (char *)db, "--suite", c.name, "--out", dir,
                         "--tasks", tasks, "--methods", meths, "--select", c.select, NULL};
        rc = ferry_cli_results(14, targs);
        if (!rc) printf("database: %s (SQLite; schema in core/include/ferry/bench.h)\n", db);
    }
    ferry_bench_config_free(&c);
    ferry_methods_free(methods);
    return rc;
}
