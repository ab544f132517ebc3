/* Sweeps: every (task, method, grid point, seed) of a configuration, in a fixed order, into the
 * results store. Finished runs are skipped, a run left 'running' by a killed process is redone;
 * checkpoint methods get a source-only pretrained checkpoint per (task, seed), made once and kept. */
#include "bench_internal.h"
#include "ferry/io.h"
#include "ferry/task.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EPOCHS 256
#define MAX_CONFUSION 128 /* classes: a task with more stores no confusion matrices */

struct run_plan {
    const char *task, *method;
    int point;       /* of the method's hyperparameter grid */
    uint64_t seed;
};

struct progress_state {
    const ferry_bench_opts *o;
    int tty;
    int index, total;       /* this run's position among the runs to do */
    const struct run_plan *plan;
    const char *name;       /* the method and, in a grid, its point: "dann[gamma=3,trade_off=1]" */
    double t_start;         /* of the sweep */
    double done_seconds;    /* time spent in finished runs */
    int done_runs;
    int n;                  /* epochs recorded */
    double sv[MAX_EPOCHS], tv[MAX_EPOCHS], tt[MAX_EPOCHS], loss[MAX_EPOCHS], step_ms[MAX_EPOCHS];
    struct method_metrics mm;                           /* the method's own, names from the run */
    double mm_values[MAX_EPOCHS * FERRY_MAX_METHOD_METRICS];
    double validators[MAX_EPOCHS * FERRY_VALIDATOR_COUNT]; /* NaN: none that epoch */
    int32_t *confusion;     /* MAX_EPOCHS × k × k, allocated with a run's first matrix (k <= MAX_CONFUSION) */
    int confusion_k;
    bool has_confusion[MAX_EPOCHS];
    int batch_images;       /* images per step */
};

static void fmt_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "?");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%dh%02dm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%dm%02ds", t / 60, t % 60);
}

static void on_progress(const ferry_progress *p, void *user)
{
    struct progress_state *ps = user;
    if (p->epoch_end) {
        if (ps->n < MAX_EPOCHS) {
            ps->sv[ps->n] = p->source_val_accuracy;
            ps->tv[ps->n] = p->target_val_accuracy;
            ps->tt[ps->n] = p->test_accuracy;
            ps->loss[ps->n] = p->loss;
            ps->step_ms[ps->n] = p->images_per_s > 0 ? 1e3 * ps->batch_images / p->images_per_s : 0;
            ps->mm.n_names = p->n_method_metrics;
            for (int j = 0; j < p->n_method_metrics; j++) {
                snprintf(ps->mm.names[j], sizeof ps->mm.names[j], "%s", p->method_metric_names[j]);
                ps->mm_values[ps->n * FERRY_MAX_METHOD_METRICS + j] = p->method_metrics[j];
            }
            for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++)
                ps->validators[ps->n * FERRY_VALIDATOR_COUNT + v] = p->has_validators ? p->validators[v] : NAN;
            const int k = p->confusion_classes;
            ps->has_confusion[ps->n] = false;
            if (p->confusion && k <= MAX_CONFUSION && (!ps->confusion_k || ps->confusion_k == k)) {
                if (!ps->confusion) ps->confusion = malloc((size_t)MAX_EPOCHS * k * k * sizeof *ps->confusion);
                if (ps->confusion) {
                    ps->confusion_k = k;
                    memcpy(ps->confusion + (size_t)ps->n * k * k, p->confusion, (size_t)k * k * sizeof *p->confusion);
                    ps->has_confusion[ps->n] = true;
                }
            }
            ps->n++;
        }
        return;
    }
    if (!ps->tty || ps->o->quiet || (p->step % 10 && p->step != 1)) return;
    /* ETA: the runs left at the mean time of the finished ones, plus this run's own ETA */
    double per_run = ps->done_runs ? ps->done_seconds / ps->done_runs : 0;
    double eta = p->eta_s + per_run * (ps->total - ps->index - 1);
    char e[32];
    fmt_duration(ps->done_runs || ps->total == 1 ? eta : -1, e, sizeof e);
    fprintf(stderr, "\r\033[K[%d/%d] %s %s seed %llu  epoch %d/%d step %lld/%lld  loss %.4f  ETA %s",
            ps->index + 1, ps->total, ps->plan->task, ps->name, (unsigned long long)ps->plan->seed, p->epoch,
            p->epochs, (long long)p->step, (long long)p->steps, p->loss, e);
    fflush(stderr);
}

static void sha256_hex(const char *s, char out[65]) { ferry_sha256_mem(s, strlen(s), out); }

void ferry_bench_file_safe(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = in; *p && k + 4 < n; p++) {
        if (p[0] == '-' && p[1] == '>') {
            memcpy(out + k, "-to-", 4);
            k += 4;
            p++;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                   *p == '_' || *p == '.') {
            out[k++] = *p;
        } else {
            out[k++] = '_';
        }
    }
    out[k] = '\0';
}

/* The source-only checkpoint a checkpoint method starts from: made once per (task, arch, seed,
 * pretraining epochs) and kept. */
static ferry_status pretrained(const ferry_bench_config *c, const ferry_bench_opts *o, ferry_backend_t *be,
                               const char *task, uint64_t seed, char *path, size_t n)
{
    char t[256];
    ferry_bench_file_safe(task, t, sizeof t);
    const char *dir = o->checkpoint_dir ? o->checkpoint_dir : "results/checkpoints";
    snprintf(path, n, "%s/%s-%s-seed%llu-epochs%d-split%llu.safetensors", dir, t, c->arch, (unsigned long long)seed,
             c->pretrain_epochs, (unsigned long long)c->split_seed);
    if (access(path, R_OK) == 0) return FERRY_OK;
    ferry_status ms = ferry_mkdir_p(dir);
    if (ms) return ms;
    ferry_train_opts to = ferry_train_defaults();
    to.task = task;
    to.split_seed = c->split_seed;
    to.arch = c->arch;
    to.input_size = c->input_size;
    to.weights = c->weights[0] ? c->weights : NULL;
    to.epochs = c->pretrain_epochs;
    to.batch = c->batch;
    to.seed = seed;
    to.backend = be;
    to.save_path = path;
    if (!o->quiet) fprintf(stderr, "pretraining %s on the source of %s, seed %llu -> %s\n", c->arch, task,
                           (unsigned long long)seed, path);
    ferry_train_result res;
    return ferry_train(&to, &res);
}

/* Whether the configured backbone comes pretrained (an imported model, or weights given): then it is
 * the checkpoint that checkpoint methods start from, and no source pretraining is made. */
static bool pretrained_backbone(const ferry_bench_config *c)
{
    const ferry_arch_info *ai = ferry_arch_find(c->arch);
    return (ai && ai->imported) || !strncmp(c->arch, "tfjs:", 5) || c->weights[0];
}

/* A transductive method of a semi-supervised config: it gets the labelled target examples too. */
static bool semi_supervised(const ferry_bench_config *c, const ferry_method *m)
{
    return c->semi_supervised && !(m->flags & (FERRY_METHOD_NEEDS_TARGET_LABELS | FERRY_METHOD_SOURCE_FREE));
}

/* The settings that define a run besides task, method and seed, as canonical JSON. */
static char *config_json(const ferry_bench_config *c, const ferry_method *m, const char *init, const char *task_sum)
{
    json_t *j = json_pack("{s:s, s:i, s:i, s:f, s:I, s:s, s:s}", "arch", c->arch, "epochs", c->epochs, "batch",
                          c->batch, "lr", c->lr, "split_seed", (json_int_t)c->split_seed, "optimizer", "sgd",
                          "schedule", c->schedule);
    if (m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS) {
        json_object_set_new(j, "target_labels", json_integer(c->target_labels));
        if (!c->iters_per_epoch) json_object_set_new(j, "steps_per_epoch", json_string("one pass over the source"));
    } else if (semi_supervised(c, m)) {
        json_object_set_new(j, "target_labels", json_integer(c->target_labels));
        json_object_set_new(j, "semi_supervised", json_true());
    }
    if (c->input_size) json_object_set_new(j, "input_size", json_integer(c->input_size));
    /* a user's task: its content, so that a changed folder is another run, never pooled */
    if (task_sum && task_sum[0]) json_object_set_new(j, "task_checksum", json_string(task_sum));
    if (c->iters_per_epoch) json_object_set_new(j, "iters_per_epoch", json_integer(c->iters_per_epoch));
    if (c->weights[0]) json_object_set_new(j, "weights", json_string(c->weights));
    /* augmentation (canonical form) only where it applies: runs without it keep their keys */
    char aug[512];
    if (ferry_augment_active(&c->augment)) {
        ferry_augment_format(&c->augment, aug, sizeof aug);
        json_object_set_new(j, "augment", json_string(aug));
    }
    if (ferry_augment_active(&c->augment_target) && !(m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS)) {
        ferry_augment_format(&c->augment_target, aug, sizeof aug);
        json_object_set_new(j, "augment_target", json_string(aug));
    }
    if (init && pretrained_backbone(c)) {
        json_object_set_new(j, "init", json_string("pretrained backbone"));
    } else if (init) {
        json_object_set_new(j, "init", json_string("source-only pretraining"));
        json_object_set_new(j, "pretrain_epochs", json_integer(c->pretrain_epochs));
    }
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return s;
}

static char *hparams_json(const ferry_method *m, const double *hp)
{
    json_t *j = json_object();
    for (int i = 0; i < m->n_hparams; i++)
        json_object_set_new(j, m->hparams[i].name,
                            m->hparams[i].type == FERRY_HP_FLOAT ? json_real(hp[i]) : json_integer((json_int_t)hp[i]));
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return s;
}

struct sweep {
    const ferry_bench_config *c;
    const ferry_methods_t *methods;
    const ferry_bench_opts *o;
    const char *db_path;
    ferry_results_t *db;
    ferry_backend_t *be;
    ferry_device_desc dev;
};

static ferry_status run_one(struct sweep *sw, const struct run_plan *p, struct progress_state *ps, const char *key,
                            const char *hp_json, const char *cfg_json, const char *cfg_hash, char **sets, int n_sets)
{
    const ferry_bench_config *c = sw->c;
    const ferry_method *m = ferry_methods_find(sw->methods, p->method);
    char init[1024] = "";
    ferry_status s = FERRY_OK;
    if ((m->flags & FERRY_METHOD_USES_CHECKPOINT) && !pretrained_backbone(c))
        s = pretrained(c, sw->o, sw->be, p->task, p->seed, init, sizeof init);
    ferry_schedule schedule; /* checked with the configuration: cannot fail here, before the run begins */
    if (!s) s = ferry_schedule_parse(c->schedule, &schedule);
    if (s) return s;
    struct run_begin b = {.key = key, .suite = c->name, .task = p->task, .method = p->method, .seed = p->seed,
                          .hparams_json = hp_json, .config_json = cfg_json, .config_hash = cfg_hash,
                          .device = &sw->dev, .threads = ferry_backend_threads(sw->be)};
    if ((s = ferry_results_begin(sw->db, &b))) return s;
    ferry_adapt_opts a = ferry_adapt_defaults();
    a.task = p->task;
    a.split_seed = c->split_seed;
    a.method = m;
    a.sets = (const char *const *)sets;
    a.n_sets = n_sets;
    a.arch = c->arch;
    a.input_size = c->input_size;
    a.weights = c->weights[0] ? c->weights : NULL;
    a.epochs = c->epochs;
    a.batch = c->batch;
    a.seed = p->seed;
    a.backend = sw->be;
    a.optim.lr = (float)c->lr;
    a.optim.schedule = schedule;
    a.init_path = init[0] ? init : NULL;
    a.target_labels_per_class =
        (m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS) || semi_supervised(c, m) ? c->target_labels : 0;
    a.source_epochs = true; /* every method of a task makes the same number of updates */
    a.iters_per_epoch = c->iters_per_epoch;
    a.augment = c->augment;
    a.augment_target = c->augment_target;
    a.validators = c->validators;
    a.progress = on_progress;
    a.user = ps;
    ps->n = 0;
    ps->mm.n_names = 0;
    free(ps->confusion); /* sized by the first matrix of each run */
    ps->confusion = NULL;
    ps->confusion_k = 0;
    ps->batch_images = (m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS ? 1 : 2) * c->batch;
    ferry_adapt_result res;
    double t0 = ferry_now_s();
    ferry_status rs = ferry_adapt(&a, &res);
    char err[1024] = "";
    if (rs) snprintf(err, sizeof err, "%s", ferry_last_error());
    ps->mm.values = ps->mm_values;
    const char *status = !rs ? "done" : rs == FERRY_ERR_DIVERGED ? "diverged" : "failed";
    struct confusion cm = {.classes = ps->confusion_k, .counts = ps->confusion, .has = ps->has_confusion};
    s = ferry_results_finish(sw->db, key, ps->n, ps->sv, ps->tv, ps->tt, ps->loss, ps->step_ms, &ps->mm,
                             c->validators ? ps->validators : NULL, ps->confusion ? &cm : NULL, status,
                             rs ? err : NULL);
    if (!s && !sw->o->quiet) {
        if (rs)
            fprintf(stderr, "%srun %s %s seed %llu %s: %s\n", ps->tty ? "\r\033[K" : "", p->task, ps->name,
                    (unsigned long long)p->seed, status, err);
        else
            fprintf(stderr, "%s[%d/%d] %s %s seed %llu: target test %.2f%% (last epoch), %.0f s\n",
                    ps->tty ? "\r\033[K" : "", ps->index + 1, ps->total, p->task, ps->name,
                    (unsigned long long)p->seed, ps->n ? 100 * ps->tt[ps->n - 1] : 0.0 / 0.0, ferry_now_s() - t0);
    }
    return s;
}

/* ---- each run in a child process --------------------------------------------------------------------------
 * A method is code from a plugin: a crash (SIGSEGV, abort) or a hang in one of its hooks must fail its
 * own run, not the sweep. The child opens the store and the device itself (neither survives a fork),
 * runs the run and records it; the parent relays its output, keeps the last lines, enforces the time
 * limit and, when the child ends without recording its run, records it 'failed' with the reason. The
 * parent holds the store open only between children (an SQLite connection must not cross a fork). */

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

/* The last lines of a run's output on one line, joined by " | " (at most 5, non-empty; progress lines
 * end in \r, terminal escapes are dropped). */
static void last_lines(const char *tail, size_t n, char *out, size_t out_n)
{
    char clean[4097];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof clean; i++) {
        if (tail[i] == '\033') { /* ESC [ parameters letter */
            if (i + 1 < n && tail[i + 1] == '[')
                for (i += 2; i < n && !((tail[i] >= 'A' && tail[i] <= 'Z') || (tail[i] >= 'a' && tail[i] <= 'z'));) i++;
            continue;
        }
        clean[k++] = tail[i] == '\r' ? '\n' : tail[i];
    }
    clean[k] = '\0';
    const char *line[5];
    int count = 0;
    char *save = NULL;
    for (char *l = strtok_r(clean, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) line[count++ % 5] = l;
    out[0] = '\0';
    size_t o = 0;
    for (int i = count > 5 ? count - 5 : 0; i < count && o < out_n; i++)
        o += (size_t)snprintf(out + o, out_n - o, "%s%s", o ? " | " : "", line[i % 5]);
}

static ferry_status reopen(struct sweep *sw) { return ferry_results_open(sw->db_path, true, &sw->db); }

static ferry_status run_isolated(struct sweep *sw, const struct run_plan *p, struct progress_state *ps,
                                 const char *key, const char *hp_json, const char *cfg_json, const char *cfg_hash,
                                 char **sets, int n_sets)
{
    int fds[2];
    if (pipe(fds) != 0) return ferry_error(FERRY_ERR_IO, "cannot make a pipe for a run's output: %s", strerror(errno));
    ferry_results_close(sw->db);
    sw->db = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        ferry_status s = reopen(sw);
        return s ? s : ferry_error(FERRY_ERR_IO, "cannot start a process for a run: %s", strerror(err));
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        ferry_status s = reopen(sw);
        if (!s) s = ferry_backend_init_device(sw->c->device, sw->c->threads, &sw->be);
        if (!s) {
            ferry_backend_describe(sw->be, &sw->dev);
            s = run_one(sw, p, ps, key, hp_json, cfg_json, cfg_hash, sets, n_sets);
        }
        if (s) fprintf(stderr, "%s\n", ferry_last_error());
        ferry_backend_free(sw->be);
        ferry_results_close(sw->db);
        fflush(stderr);
        _exit(s ? 3 : 0);
    }
    close(fds[1]);
    char tail[4096], buf[4096];
    size_t tail_n = 0;
    const double limit = sw->o->run_timeout_s, start = ferry_now_s();
    double deadline = limit > 0 ? start + limit : 0;
    bool timed_out = false;
    int forwarded = 0;
    for (;;) {
        if (stop_signal && !forwarded) { /* pass it on; the child has 10 s to end */
            forwarded = stop_signal;
            kill(pid, forwarded);
            if (!deadline || deadline > ferry_now_s() + 10) deadline = ferry_now_s() + 10;
        }
        int ms = -1;
        if (deadline) {
            double left = deadline - ferry_now_s();
            if (left <= 0) {
                timed_out = !forwarded;
                kill(pid, SIGKILL);
                break;
            }
            ms = (int)(left * 1e3) + 1;
        }
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int r = poll(&pf, 1, ms);
        if (r <= 0) continue; /* a signal (EINTR) or the deadline: checked above */
        ssize_t k = read(fds[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break; /* the child has ended */
        fwrite(buf, 1, (size_t)k, stderr);
        if ((size_t)k >= sizeof tail) {
            memcpy(tail, buf + k - sizeof tail, sizeof tail);
            tail_n = sizeof tail;
        } else {
            if (tail_n + (size_t)k > sizeof tail) {
                size_t drop = tail_n + (size_t)k - sizeof tail;
                memmove(tail, tail + drop, tail_n - drop);
                tail_n -= drop;
            }
            memcpy(tail + tail_n, buf, (size_t)k);
            tail_n += (size_t)k;
        }
    }
    close(fds[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {}
    ferry_status s = reopen(sw);
    if (s) return s;
    enum run_state state = ferry_results_state(sw->db, key);
    bool recorded = state == RUN_DONE || state == RUN_FAILED || state == RUN_DIVERGED;
    if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0 && recorded) return FERRY_OK;
    char lines[2048], why[3072];
    last_lines(tail, tail_n, lines, sizeof lines);
    if (WIFEXITED(wst) && WEXITSTATUS(wst) == 3 && !forwarded) /* the harness's own error (the store, a checkpoint) */
        return ferry_error(FERRY_ERR_IO, "run %s %s seed %llu: %s", p->task, ps->name, (unsigned long long)p->seed,
                           lines);
    const char *status = "failed";
    if (forwarded) {
        status = "interrupted";
        snprintf(why, sizeof why, "interrupted by %s", strsignal(forwarded));
    } else if (timed_out) {
        snprintf(why, sizeof why, "timed out after %g s (the per-run time limit) and was killed", limit);
    } else if (WIFSIGNALED(wst)) {
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(wst), strsignal(WTERMSIG(wst)));
    } else if (WIFEXITED(wst) && WEXITSTATUS(wst) != 0) {
        snprintf(why, sizeof why, "its process exited with status %d", WEXITSTATUS(wst));
    } else {
        snprintf(why, sizeof why, "its process ended without recording the run");
    }
    if (lines[0]) {
        size_t u = strlen(why);
        snprintf(why + u, sizeof why - u, "; last output: %s", lines);
    }
    if (state == RUN_ABSENT) { /* it ended before the run began (in the checkpoint's pretraining, say) */
        ferry_device_desc dev = {0};
        snprintf(dev.backend, sizeof dev.backend, "%s", sw->c->device);
        struct run_begin b = {.key = key, .suite = sw->c->name, .task = p->task, .method = p->method, .seed = p->seed,
                              .hparams_json = hp_json, .config_json = cfg_json, .config_hash = cfg_hash,
                              .device = &dev, .threads = sw->c->threads};
        if ((s = ferry_results_begin(sw->db, &b))) return s;
    }
    if ((s = ferry_results_finish(sw->db, key, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, status, why)))
        return s;
    if (!sw->o->quiet)
        fprintf(stderr, "%srun %s %s seed %llu %s: %s\n", ps->tty ? "\r\033[K" : "", p->task, ps->name,
                (unsigned long long)p->seed, status, why);
    if (forwarded)
        return ferry_error(FERRY_ERR_INVALID, "interrupted by %s: run %s %s seed %llu is marked interrupted; the same "
                           "command resumes the sweep", strsignal(forwarded), p->task, ps->name,
                           (unsigned long long)p->seed);
    return FERRY_OK;
}

ferry_status ferry_bench_run(const ferry_bench_config *c, const ferry_methods_t *methods, const ferry_bench_opts *o)
{
    ferry_status s = ferry_bench_config_check(c, methods);
    if (s) return s;
    if (o->n_shards < 1 || o->shard < 0 || o->shard >= o->n_shards)
        return ferry_error(FERRY_ERR_INVALID, "shard %d/%d: expected 0 <= i < N", o->shard, o->n_shards);
    const char *db_path = o->db_path ? o->db_path : "results/ferry.db";
    struct sweep sw = {.c = c, .methods = methods, .o = o, .db_path = db_path};
    if ((s = ferry_results_open(db_path, true, &sw.db))) return s;
    /* in this process only without children: a device does not survive a fork */
    if (o->in_process) {
        if ((s = ferry_backend_init_device(c->device, c->threads, &sw.be))) {
            ferry_results_close(sw.db);
            return s;
        }
        ferry_backend_describe(sw.be, &sw.dev);
    }
    /* SIGINT and SIGTERM end the sweep between runs or, passed on, the run in its child: it is marked
     * 'interrupted' and the store closed; the same command resumes */
    struct sigaction stop = {.sa_handler = on_stop}, old_int, old_term;
    sigemptyset(&stop.sa_mask);
    stop_signal = 0;
    if (!o->in_process) {
        sigaction(SIGINT, &stop, &old_int);
        sigaction(SIGTERM, &stop, &old_term);
    }

    /* the plan, in a fixed order (task, method, grid point, seed); this shard's share */
    int total = 0, mine = 0;
    for (int m = 0; m < c->n_methods; m++) total += c->n_tasks * ferry_bench_grid_size(c, c->methods[m]) * c->n_seeds;
    struct run_plan *plan = calloc((size_t)total + 1, sizeof *plan);
    if (!plan) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int t = 0, k = 0; t < c->n_tasks; t++)
        for (int m = 0; m < c->n_methods; m++)
            for (int g = 0; g < ferry_bench_grid_size(c, c->methods[m]); g++)
                for (int r = 0; r < c->n_seeds; r++, k++)
                    if (k % o->n_shards == o->shard)
                        plan[mine++] = (struct run_plan){c->tasks[t], c->methods[m], g, c->seeds[r]};

    /* the content checksum of each user's task, once */
    char sums[FERRY_BENCH_MAX][65];
    for (int t = 0; t < c->n_tasks && !s; t++) {
        sums[t][0] = '\0';
        if (!ferry_task_is_builtin(c->tasks[t])) s = ferry_task_checksum(c->tasks[t], sums[t]);
    }
    if (s) goto done;
    struct progress_state ps = {.o = o, .tty = isatty(fileno(stderr)), .total = mine, .t_start = ferry_now_s()};
    int skipped = 0, failed = 0, diverged = 0;
    for (int i = 0; i < mine && !s; i++) {
        if (stop_signal) {
            s = ferry_error(FERRY_ERR_INVALID, "interrupted by %s between runs; the same command resumes the sweep",
                            strsignal(stop_signal));
            break;
        }
        const struct run_plan *p = &plan[i];
        const ferry_method *m = ferry_methods_find(methods, p->method);
        double hp[32];
        char *sets[FERRY_BENCH_MAX], label[256], name[400];
        int n_sets = 0;
        if ((s = ferry_bench_grid_point(c, p->method, p->point, sets, &n_sets, label, sizeof label)) ||
            (s = ferry_method_resolve(m, (const char *const *)sets, n_sets, hp))) {
            ferry_bench_grid_free(sets, n_sets);
            break;
        }
        snprintf(name, sizeof name, label[0] ? "%s[%s]" : "%s", p->method, label);
        ps.name = name;
        char *hpj = hparams_json(m, hp);
        const char *task_sum = "";
        for (int t = 0; t < c->n_tasks; t++)
            if (!strcmp(c->tasks[t], p->task)) task_sum = sums[t];
        char *cfg = config_json(c, m, (m->flags & FERRY_METHOD_USES_CHECKPOINT) ? "pretrained" : NULL, task_sum);
        char cfg_hash[65], key[65], keysrc[4096];
        sha256_hex(cfg ? cfg : "", cfg_hash);
        snprintf(keysrc, sizeof keysrc, "%s\n%s\n%s\n%llu\n%s\n%s", c->name, p->task, p->method,
                 (unsigned long long)p->seed, hpj ? hpj : "", cfg_hash);
        sha256_hex(keysrc, key);
        enum run_state st = ferry_results_state(sw.db, key);
        if (st == RUN_DONE || st == RUN_DIVERGED) {
            skipped++;
        } else {
            ps.index = i;
            ps.plan = p;
            double t0 = ferry_now_s();
            s = (o->in_process ? run_one : run_isolated)(&sw, p, &ps, key, hpj ? hpj : "{}", cfg ? cfg : "{}",
                                                         cfg_hash, sets, n_sets);
            if (!s) st = ferry_results_state(sw.db, key);
            failed += !s && st == RUN_FAILED;
            diverged += !s && st == RUN_DIVERGED;
            ps.done_seconds += ferry_now_s() - t0;
            ps.done_runs++;
        }
        free(hpj);
        free(cfg);
        ferry_bench_grid_free(sets, n_sets);
    }
    if (!s && !o->quiet)
        fprintf(stderr,
                "sweep %s: %d runs (shard %d/%d of %d), %d already done, %d failed, %d diverged, %.0f s; results in %s\n",
                c->name, mine, o->shard, o->n_shards, total, skipped, failed, diverged, ferry_now_s() - ps.t_start,
                db_path);
    free(ps.confusion);
done:
    if (!o->in_process) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    free(plan);
    ferry_backend_free(sw.be);
    ferry_results_close(sw.db);
    return s;
}
