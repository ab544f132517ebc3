/* ferry rank: transferability of candidate backbones to a task, before any training
 * (ferry/transferability.h): each backbone's features and own head's predictions on the labelled
 * target examples the task grants, and its features of samples of the source and target training
 * splits for the domain distances. */
#include "ferry/ferry.h"
#include "ferry/bench.h"
#include "ferry/method.h"
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *f)
{
    fprintf(f,
            "usage: ferry rank --task T --backbones SPEC[,SPEC...] [--labels K] [--domain-sample N]\n"
            "                  [--split-seed S] [--seed S] [--device D] [--threads T] [--format md|csv]\n"
            "                  [--evaluate [--protocol METHOD] [--epochs E] [--iters-per-epoch I] [--batch B]]\n"
            "\n"
            "Scores each backbone for task T before training: LogME, LEEP, NCE, H-score, the shrinkage\n"
            "H-score and TransRate on K labelled target examples per class (default 10, drawn with --seed\n"
            "from the target's training split: what an inductive run would be given), and the proxy\n"
            "A-distance and MMD between its features of N source and N target training images (default\n"
            "300). Higher is better but for PAD and MMD (distances). LEEP and NCE read the backbone's own\n"
            "(source) head.\n"
            "\n"
            "SPEC: ARCH (an imported model with its weights, e.g. mobilenet_v2@nsfwjs; a native\n"
            "architecture as initialised, untrained) or ARCH=FILE (weights and head from a checkpoint,\n"
            "e.g. lenet=mnist.safetensors from ferry pretrain).\n"
            "\n"
            "--evaluate then trains each backbone under one declared protocol: METHOD (default fine-tuning)\n"
            "on the same K labelled target examples per class, E epochs (default 10) of I steps (default\n"
            "20) of batch B (default 32), the method's default hyperparameters, seed S; it reports the\n"
            "target-test accuracy reached and, per score, the weighted Kendall tau of the score against\n"
            "it (PAD and MMD negated: a closer source should transfer better).\n");
    return f == stdout ? 0 : 2;
}

static int num(const char *opt, const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "ferry rank: %s expects an integer in [%ld, %ld], not '%s'\n", opt, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

/* This command's own errors (the library's are in ferry_last_error()). */
static char own_error[512];

static ferry_status say(ferry_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(own_error, sizeof own_error, fmt, ap);
    va_end(ap);
    return code;
}

struct scored {
    char spec[512];
    int64_t dim;
    int head;
    double score[FERRY_SCORE_COUNT];
    double seconds;
    double accuracy, train_seconds; /* --evaluate */
};

/* Rows 0, step, 2·step, ... of n images (c·h·w each): at most want of them, copied. */
static float *sample(const float *images, int64_t n, size_t img, int64_t want, int64_t *got)
{
    const int64_t m = n < want ? n : want, step = m ? n / m : 1;
    float *out = malloc((size_t)(m ? m : 1) * img * sizeof *out);
    for (int64_t i = 0; out && i < m; i++) memcpy(out + (size_t)i * img, images + (size_t)(i * step) * img, img * sizeof *out);
    *got = m;
    return out;
}

/* The backbone's features (n × dim, allocated) and, where probs is not NULL, its head's softmax
 * (n × head) of n task images, in chunks. */
static ferry_status embed(ferry_model_t *m, ferry_backend_t *be, const float *images, int64_t n, int c, int h, int w,
                          float **features, float **probs)
{
    const int64_t F = ferry_model_feature_dim(m), K = ferry_model_classes(m), CH = 64;
    int mc, mh, mw;
    ferry_model_input(m, &mc, &mh, &mw);
    const size_t img = (size_t)c * h * w, in = (size_t)mc * mh * mw;
    ferry_preproc_t *pp = NULL;
    float *x = malloc((size_t)CH * in * sizeof *x), *f = malloc((size_t)(n * F) * sizeof *f);
    float *l = probs ? malloc((size_t)(n * K) * sizeof *l) : NULL;
    ferry_status s = x && f && (l || !probs) ? ferry_preproc_init(m, c, h, w, &pp)
                                             : say(FERRY_ERR_NOMEM, "out of memory for %lld images' features", (long long)n);
    for (int64_t i = 0; i < n && !s; i += CH) {
        const int64_t k = n - i < CH ? n - i : CH;
        if (!(s = ferry_preproc_run(pp, images + (size_t)i * img, (int)k, x)))
            s = ferry_model_infer(m, be, x, k, (int)k, f + i * F, l ? l + i * K : NULL);
    }
    for (int64_t i = 0; l && !s && i < n; i++) { /* softmax of each row of logits */
        float *r = l + i * K, mx = r[0];
        double sum = 0;
        for (int64_t j = 1; j < K; j++) mx = r[j] > mx ? r[j] : mx;
        for (int64_t j = 0; j < K; j++) sum += exp((double)r[j] - mx);
        for (int64_t j = 0; j < K; j++) r[j] = (float)(exp((double)r[j] - mx) / sum);
    }
    ferry_preproc_free(pp);
    free(x);
    if (s) {
        free(f);
        free(l);
        return s;
    }
    *features = f;
    if (probs) *probs = l;
    return FERRY_OK;
}

/* The model a SPEC names (ARCH or ARCH=FILE) for images of c × h × w: its parameter store, generator
 * and head's class count; on failure everything made is freed. extra: the file may hold tensors the
 * model has none for (a method's own, as a DANN run's discriminator), which are left out. */
struct opened {
    ferry_store_t *st;
    ferry_model_t *m;
    ferry_rng_t *rng;
    int head;
};

static void close_model(struct opened *o)
{
    ferry_model_free(o->m);
    ferry_store_free(o->st);
    ferry_rng_free(o->rng);
    *o = (struct opened){0};
}

static ferry_status open_model(const char *spec, int c, int h, int w, uint64_t seed, ferry_backend_t *be, bool extra,
                               struct opened *o)
{
    char arch[256];
    const char *eq = strchr(spec, '='), *file = eq ? eq + 1 : NULL;
    snprintf(arch, sizeof arch, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
    *o = (struct opened){0};
    const ferry_arch_info *a = ferry_arch_find(arch);
    if (!a) return say(FERRY_ERR_INVALID, "backbone '%s': no architecture '%s' (see ferry models)", spec, arch);
    if (file && !*file) return say(FERRY_ERR_INVALID, "backbone '%s': no file after '='", spec);
    o->head = file ? ferry_cli_head_classes(arch, c, 0, file) : a->default_classes ? a->default_classes : 10;
    ferry_status s = ferry_store_init(be, &o->st);
    if (!s) s = ferry_rng_init(seed, &o->rng);
    if (!s) s = ferry_model_init(arch, c, h, w, o->head, o->st, o->rng, &o->m);
    if (!s && file) s = extra ? ferry_store_load(o->st, file, false, true) : ferry_model_load_weights(o->m, file, false);
    if (s) close_model(o);
    return s;
}

static ferry_status score_one(const char *spec, ferry_task_t *task, const ferry_dataset_t *lab, int64_t domain_n,
                              uint64_t seed, ferry_backend_t *be, struct scored *out)
{
    int c, h, w;
    ferry_dataset_geometry(lab, &c, &h, &w);
    struct opened o;
    float *fl = NULL, *pl = NULL, *fs = NULL, *ft = NULL, *xs = NULL, *xt = NULL;
    const double t0 = ferry_now_s();
    ferry_status s = open_model(spec, c, h, w, seed, be, false, &o);
    ferry_model_t *m = o.m;
    const int head = o.head;
    if (!s) s = embed(m, be, ferry_dataset_images(lab), ferry_dataset_size(lab), c, h, w, &fl, &pl);
    const size_t img = (size_t)c * h * w;
    const ferry_dataset_t *src = ferry_task_source_train(task);
    const ferry_unlabelled_t *tgt = ferry_task_target_train(task);
    int64_t ns = 0, nt = 0;
    if (!s && (!(xs = sample(ferry_dataset_images(src), ferry_dataset_size(src), img, domain_n, &ns)) ||
               !(xt = sample(ferry_unlabelled_images(tgt), ferry_unlabelled_size(tgt), img, domain_n, &nt))))
        s = say(FERRY_ERR_NOMEM, "out of memory for the domain samples");
    if (!s) s = embed(m, be, xs, ns, c, h, w, &fs, NULL);
    if (!s) s = embed(m, be, xt, nt, c, h, w, &ft, NULL);
    const int64_t n = ferry_dataset_size(lab);
    const int d = m ? (int)ferry_model_feature_dim(m) : 0, k = ferry_task_classes(task);
    const int32_t *y = ferry_dataset_labels(lab);
    double *v = out->score;
    if (!s) s = ferry_score_logme(fl, y, n, d, k, &v[FERRY_SCORE_LOGME]);
    if (!s) s = ferry_score_leep(pl, head, y, n, k, &v[FERRY_SCORE_LEEP]);
    if (!s) s = ferry_score_nce(pl, head, y, n, k, &v[FERRY_SCORE_NCE]);
    if (!s) s = ferry_score_hscore(fl, y, n, d, k, 0, &v[FERRY_SCORE_HSCORE]);
    if (!s) s = ferry_score_hscore(fl, y, n, d, k, 1, &v[FERRY_SCORE_HSCORE_SHRINK]);
    if (!s) s = ferry_score_transrate(fl, y, n, d, k, &v[FERRY_SCORE_TRANSRATE]);
    if (!s) s = ferry_score_pad(fs, ns, ft, nt, d, seed, &v[FERRY_SCORE_PAD]);
    if (!s) s = ferry_score_mmd(fs, ns, ft, nt, d, &v[FERRY_SCORE_MMD]);
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    out->dim = d;
    out->head = head;
    out->seconds = ferry_now_s() - t0;
    free(fl), free(pl), free(fs), free(ft), free(xs), free(xt);
    close_model(&o);
    return s;
}

/* The protocol of --evaluate: one run of the method from the backbone on the task's K labelled target
 * examples per class (the ones the scores saw: the same seed draws them). */
struct protocol {
    const ferry_method *method;
    long epochs, iters, batch;
};

static ferry_status train_one(const char *spec, const char *task, const struct protocol *p, long labels,
                              long split_seed, long seed, ferry_backend_t *be, struct scored *out)
{
    char arch[256];
    const char *eq = strchr(spec, '=');
    snprintf(arch, sizeof arch, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = task;
    o.split_seed = (uint64_t)split_seed;
    o.method = p->method;
    o.arch = arch;
    o.init_path = eq ? eq + 1 : NULL;
    o.target_labels_per_class = (int)labels;
    o.epochs = (int)p->epochs;
    o.iters_per_epoch = (int)p->iters;
    o.batch = (int)p->batch;
    o.seed = (uint64_t)seed;
    o.backend = be;
    ferry_adapt_result r;
    const double t0 = ferry_now_s();
    ferry_status s = ferry_adapt(&o, &r);
    out->accuracy = s ? 0.0 / 0.0 : r.target_test_accuracy;
    out->train_seconds = ferry_now_s() - t0;
    return s;
}

enum { O_TASK = 256, O_BACKBONES, O_LABELS, O_DOMAIN_N, O_SPLIT_SEED, O_SEED, O_DEVICE, O_THREADS, O_FORMAT,
       O_EVALUATE, O_PROTOCOL, O_EPOCHS, O_ITERS, O_BATCH };

/* The warning's threshold (README, "Transferability before training"): a linear domain classifier on
 * the backbone's features separates the two domains with at most 2.5% error, so the divergence term
 * of Ben-David et al.'s bound is near its maximum of 2 and the bound promises nothing. */
#define DIAGNOSE_PAD 1.9

/* One cell of a store's record on a task: a method (setting, labelled-target count) against the
 * source-only runs of the same store and labelled-target count. */
struct cell {
    char method[64], hparams[1024];
    int labels, n;
    double acc;
};

/* Every cell of the store at path on task: its final-epoch target-test accuracy averaged over seeds. */
static ferry_status store_cells(const char *path, const char *task, struct cell **cells, int *nc)
{
    ferry_results_t *r = NULL;
    ferry_run_row *rows = NULL;
    int n = 0;
    ferry_status s = ferry_results_open(path, false, &r);
    if (!s) s = ferry_results_runs(r, NULL, &rows, &n);
    struct cell *c = s ? NULL : calloc((size_t)n + 1, sizeof *c);
    if (!s && !c) s = say(FERRY_ERR_NOMEM, "out of memory reading %s", path);
    int k = 0;
    for (int i = 0; i < n && !s; i++) {
        if (strcmp(rows[i].task, task) || rows[i].n_epochs < 1) continue;
        int j = 0;
        while (j < k && !(!strcmp(c[j].method, rows[i].method) && !strcmp(c[j].hparams, rows[i].hparams) &&
                          c[j].labels == rows[i].target_labels))
            j++;
        if (j == k) {
            snprintf(c[k].method, sizeof c[k].method, "%s", rows[i].method);
            snprintf(c[k].hparams, sizeof c[k].hparams, "%s", rows[i].hparams);
            c[k++].labels = rows[i].target_labels;
        }
        c[j].acc += rows[i].target_test[rows[i].n_epochs - 1];
        c[j].n++;
    }
    for (int j = 0; j < k; j++) c[j].acc /= c[j].n;
    free(rows);
    ferry_results_close(r);
    if (s) {
        free(c);
        return s;
    }
    *cells = c;
    *nc = k;
    return FERRY_OK;
}

static int diagnose_usage(FILE *f)
{
    fprintf(f,
            "usage: ferry tasks NAME --diagnose [--backbone SPEC] [--labels K] [--domain-sample N]\n"
            "                  [--split-seed S] [--seed S] [--device D] [--threads T] [--db STORE]...\n"
            "                  [--format text|csv]\n"
            "\n"
            "Before training on task NAME: the proxy A-distance and MMD between the backbone's features of\n"
            "N source and N target training images (default 300), and its transferability scores (LogME,\n"
            "LEEP, NCE, H-score, TransRate) on K labelled target examples per class (default 10; as in\n"
            "ferry rank). It warns that transfer is likely to hurt where the proxy A-distance is at least\n"
            "1.9: a linear classifier tells the domains apart with at most 2.5%% error, and the\n"
            "divergence term of Ben-David et al.'s bound is near its maximum. SPEC as in ferry rank\n"
            "(default lenet, untrained; lenet=FILE for a model pretrained on the source).\n"
            "\n"
            "--db STORE (repeatable) checks the warning against what the store recorded on the task: each\n"
            "method's final target-test accuracy (mean over seeds) against source-only's in the same store\n"
            "and with the same labelled-target count; transfer hurt where it is lower. It counts hits (the\n"
            "warning fired, transfer hurt), false alarms (fired, did not hurt), misses and correct\n"
            "silences. --format csv prints one row per cell.\n");
    return f == stdout ? 0 : 2;
}

int ferry_cli_diagnose(int argc, char **argv)
{
    enum { D_BACKBONE = 300, D_LABELS, D_DOMAIN_N, D_SPLIT_SEED, D_SEED, D_DEVICE, D_THREADS, D_DB, D_FORMAT, D_DIAG };
    static const struct option opts[] = {
        {"backbone", required_argument, 0, D_BACKBONE}, {"labels", required_argument, 0, D_LABELS},
        {"domain-sample", required_argument, 0, D_DOMAIN_N}, {"split-seed", required_argument, 0, D_SPLIT_SEED},
        {"seed", required_argument, 0, D_SEED},         {"device", required_argument, 0, D_DEVICE},
        {"threads", required_argument, 0, D_THREADS},   {"db", required_argument, 0, D_DB},
        {"format", required_argument, 0, D_FORMAT},     {"diagnose", no_argument, 0, D_DIAG},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    const char *spec = "lenet", *device = NULL, *format = "text", *dbs[32];
    long labels = 10, domain_n = 300, split_seed = 0, seed = 1, threads = 0;
    int ndb = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case D_BACKBONE: spec = optarg; break;
        case D_LABELS: if (num("--labels", optarg, 2, 100000, &labels)) return 2; break;
        case D_DOMAIN_N: if (num("--domain-sample", optarg, 4, 100000, &domain_n)) return 2; break;
        case D_SPLIT_SEED: if (num("--split-seed", optarg, 0, 1L << 30, &split_seed)) return 2; break;
        case D_SEED: if (num("--seed", optarg, 0, 1L << 30, &seed)) return 2; break;
        case D_DEVICE: device = optarg; break;
        case D_THREADS: if (num("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case D_DB:
            if (ndb == 32) {
                fprintf(stderr, "ferry tasks --diagnose: at most 32 --db stores\n");
                return 2;
            }
            dbs[ndb++] = optarg;
            break;
        case D_FORMAT: format = optarg; break;
        case D_DIAG: break;
        case 'h': return diagnose_usage(stdout);
        default: return diagnose_usage(stderr);
        }
    }
    const bool csv = !strcmp(format, "csv");
    if (optind != argc - 1 || (!csv && strcmp(format, "text"))) {
        if (optind == argc - 1) fprintf(stderr, "ferry tasks --diagnose: --format text or csv, not '%s'\n", format);
        return diagnose_usage(stderr);
    }
    const char *task_name = argv[optind];
    ferry_task_t *task = NULL;
    ferry_dataset_t *lab = NULL;
    ferry_backend_t *be = NULL;
    struct scored sc = {0};
    own_error[0] = 0;
    if (ferry_task_load(task_name, (uint64_t)split_seed, &task) ||
        ferry_task_target_labelled(task, (int)labels, (uint64_t)seed, &lab) ||
        ferry_backend_init_device(device, (int)threads, &be) ||
        score_one(spec, task, lab, domain_n, (uint64_t)seed, be, &sc)) {
        fprintf(stderr, "ferry tasks --diagnose: %s\n", own_error[0] ? own_error : ferry_last_error());
        ferry_backend_free(be);
        ferry_dataset_free(lab);
        ferry_task_free(task);
        return 1;
    }
    const double pad = sc.score[FERRY_SCORE_PAD];
    const bool warn = pad >= DIAGNOSE_PAD;
    if (csv) {
        printf("task,backbone,pad,mmd,warning,store,method,hparams,target_labels,seeds,accuracy,source_only,hurt\n");
    } else {
        printf("Task %s, backbone %s (%lld features): proxy A-distance %.4f, MMD %.4f (%ld source and target "
               "images)\n  on %lld labelled target examples (%ld per class):",
               task_name, spec, (long long)sc.dim, pad, sc.score[FERRY_SCORE_MMD], domain_n,
               (long long)ferry_dataset_size(lab), labels);
        for (int j = 0; j < FERRY_SCORE_COUNT; j++)
            if (j != FERRY_SCORE_PAD && j != FERRY_SCORE_MMD) printf(" %s %.4f", ferry_score_name(j), sc.score[j]);
        printf("\n");
        if (warn)
            printf("warning: transfer to %s is likely to hurt: the proxy A-distance %.4f is at least %.1f (a linear "
                   "classifier tells the domains apart with at most %.1f%% error)\n",
                   task_name, pad, DIAGNOSE_PAD, 100 * (1 - pad / 2) / 2);
        else
            printf("no warning: the proxy A-distance %.4f is below %.1f\n", pad, DIAGNOSE_PAD);
    }
    int rc = 0, hit = 0, false_alarm = 0, miss = 0, silent = 0;
    for (int d = 0; d < ndb && !rc; d++) {
        struct cell *c = NULL;
        int nc = 0;
        own_error[0] = 0;
        if (store_cells(dbs[d], task_name, &c, &nc)) {
            fprintf(stderr, "ferry tasks --diagnose: %s\n", own_error[0] ? own_error : ferry_last_error());
            rc = 1;
            break;
        }
        for (int j = 0; j < nc; j++) {
            if (!strcmp(c[j].method, "source-only")) continue;
            int b = 0;
            while (b < nc && !(!strcmp(c[b].method, "source-only") && c[b].labels == c[j].labels)) b++;
            if (b == nc) continue; /* nothing to compare with */
            const bool hurt = c[j].acc < c[b].acc;
            hit += warn && hurt, false_alarm += warn && !hurt, miss += !warn && hurt, silent += !warn && !hurt;
            if (csv) { /* the settings (JSON) quoted, their quotes doubled */
                printf("%s,%s,%.9g,%.9g,%d,%s,%s,\"", task_name, spec, pad, sc.score[FERRY_SCORE_MMD], warn, dbs[d],
                       c[j].method);
                for (const char *q = c[j].hparams; *q; q++) printf(*q == '"' ? "\"\"" : "%c", *q);
                printf("\",%d,%d,%.6f,%.6f,%d\n", c[j].labels, c[j].n, c[j].acc, c[b].acc, hurt);
            }
        }
        free(c);
    }
    if (!rc && ndb && !csv)
        printf("against the stores (%d cells, each method's final target-test accuracy against source-only's): "
               "transfer hurt in %d, did not in %d; hits %d, false alarms %d, misses %d, correct silences %d\n",
               hit + false_alarm + miss + silent, hit + miss, false_alarm + silent, hit, false_alarm, miss, silent);
    ferry_backend_free(be);
    ferry_dataset_free(lab);
    ferry_task_free(task);
    return rc;
}

int ferry_cli_rank(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task", required_argument, 0, O_TASK},          {"backbones", required_argument, 0, O_BACKBONES},
        {"labels", required_argument, 0, O_LABELS},      {"domain-sample", required_argument, 0, O_DOMAIN_N},
        {"split-seed", required_argument, 0, O_SPLIT_SEED}, {"seed", required_argument, 0, O_SEED},
        {"device", required_argument, 0, O_DEVICE},      {"threads", required_argument, 0, O_THREADS},
        {"format", required_argument, 0, O_FORMAT},      {"help", no_argument, 0, 'h'},
        {"evaluate", no_argument, 0, O_EVALUATE},        {"protocol", required_argument, 0, O_PROTOCOL},
        {"epochs", required_argument, 0, O_EPOCHS},      {"iters-per-epoch", required_argument, 0, O_ITERS},
        {"batch", required_argument, 0, O_BATCH},        {0, 0, 0, 0}};
    const char *task_name = NULL, *device = NULL, *format = "md";
    char *backbones = NULL;
    long labels = 10, domain_n = 300, split_seed = 0, seed = 1, threads = 0;
    const char *protocol = "fine-tuning";
    struct protocol proto = {.epochs = 10, .iters = 20, .batch = 32};
    bool evaluate = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_TASK: task_name = optarg; break;
        case O_BACKBONES: backbones = optarg; break;
        case O_LABELS: if (num("--labels", optarg, 2, 100000, &labels)) return 2; break;
        case O_DOMAIN_N: if (num("--domain-sample", optarg, 4, 100000, &domain_n)) return 2; break;
        case O_SPLIT_SEED: if (num("--split-seed", optarg, 0, 1L << 30, &split_seed)) return 2; break;
        case O_SEED: if (num("--seed", optarg, 0, 1L << 30, &seed)) return 2; break;
        case O_DEVICE: device = optarg; break;
        case O_THREADS: if (num("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_FORMAT: format = optarg; break;
        case O_EVALUATE: evaluate = true; break;
        case O_PROTOCOL: protocol = optarg; break;
        case O_EPOCHS: if (num("--epochs", optarg, 1, 100000, &proto.epochs)) return 2; break;
        case O_ITERS: if (num("--iters-per-epoch", optarg, 1, 10000000, &proto.iters)) return 2; break;
        case O_BATCH: if (num("--batch", optarg, 1, 4096, &proto.batch)) return 2; break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (!task_name || !backbones || optind != argc) {
        fprintf(stderr, "ferry rank: --task and --backbones are required%s\n", optind != argc ? " (and nothing else)" : "");
        return 2;
    }
    const bool csv = !strcmp(format, "csv");
    if (!csv && strcmp(format, "md")) {
        fprintf(stderr, "ferry rank: --format md or csv, not '%s'\n", format);
        return 2;
    }
    ferry_methods_t *reg = NULL;
    if (evaluate && (ferry_methods_load(&reg) || !(proto.method = ferry_methods_find(reg, protocol)))) {
        fprintf(stderr, "ferry rank: --protocol %s: %s\n", protocol, reg ? "no such method (see ferry methods)" : ferry_last_error());
        ferry_methods_free(reg);
        return reg ? 2 : 1;
    }
    ferry_task_t *task = NULL;
    ferry_dataset_t *lab = NULL;
    ferry_backend_t *be = NULL;
    if (ferry_task_load(task_name, (uint64_t)split_seed, &task) ||
        ferry_task_target_labelled(task, (int)labels, (uint64_t)seed, &lab) ||
        ferry_backend_init_device(device, (int)threads, &be)) {
        fprintf(stderr, "ferry rank: %s\n", ferry_last_error());
        ferry_dataset_free(lab);
        ferry_task_free(task);
        ferry_methods_free(reg);
        return 1;
    }
    char *list = strdup(backbones), *save = NULL;
    int rc = 0, n = 0;
    struct scored *rows = calloc(strlen(backbones) / 2 + 2, sizeof *rows);
    for (char *spec = list ? strtok_r(list, ",", &save) : NULL; spec && rows && !rc; spec = strtok_r(NULL, ",", &save)) {
        own_error[0] = 0;
        if (score_one(spec, task, lab, domain_n, (uint64_t)seed, be, &rows[n])) {
            fprintf(stderr, "ferry rank: %s%s%s\n", own_error[0] ? "" : spec, own_error[0] ? "" : ": ",
                    own_error[0] ? own_error : ferry_last_error());
            rc = 1;
        } else if (evaluate && train_one(spec, task_name, &proto, labels, split_seed, seed, be, &rows[n])) {
            fprintf(stderr, "ferry rank: %s: --evaluate: %s\n", spec, ferry_last_error());
            rc = 1;
        } else {
            fprintf(stderr, "ferry rank: %s scored in %.1f s", spec, rows[n].seconds);
            if (evaluate)
                fprintf(stderr, "; %s reached %.2f%% in %.1f s", protocol, 100 * rows[n].accuracy, rows[n].train_seconds);
            fprintf(stderr, "\n");
            n++;
        }
    }
    if (!rc) {
        if (csv)
            printf("backbone,feature_dim,head");
        else
            printf("Task %s: %lld labelled target examples (%ld per class), %ld source and target images for PAD "
                   "and MMD.\n\n| backbone | dim |",
                   task_name, (long long)ferry_dataset_size(lab), labels, domain_n);
        for (int j = 0; j < FERRY_SCORE_COUNT; j++) printf(csv ? ",%s" : " %s |", ferry_score_name(j));
        if (evaluate) printf(csv ? ",accuracy" : " accuracy |");
        printf(csv ? ",seconds\n" : " s |\n|---|--:|");
        for (int j = 0; !csv && j <= FERRY_SCORE_COUNT + evaluate; j++) printf("--:|");
        if (!csv) printf("\n");
        for (int i = 0; i < n; i++) {
            if (csv) printf("%s,%lld,%d", rows[i].spec, (long long)rows[i].dim, rows[i].head);
            else printf("| %s | %lld |", rows[i].spec, (long long)rows[i].dim);
            for (int j = 0; j < FERRY_SCORE_COUNT; j++) printf(csv ? ",%.9g" : " %.4f |", rows[i].score[j]);
            if (evaluate) printf(csv ? ",%.6f" : " %.2f |", csv ? rows[i].accuracy : 100 * rows[i].accuracy);
            printf(csv ? ",%.2f\n" : " %.1f |\n", rows[i].seconds);
        }
        if (evaluate && !csv) { /* the weighted τ of each score against the accuracy reached */
            double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *acc = malloc((size_t)(n ? n : 1) * sizeof *acc);
            printf("\nAccuracy: target test after %s, %ld epochs of %ld steps of batch %ld, on the same labelled "
                   "examples.\n\n| score | weighted Kendall tau vs accuracy |\n|---|--:|\n", protocol, proto.epochs,
                   proto.iters, proto.batch);
            for (int j = 0; x && acc && j < FERRY_SCORE_COUNT; j++) {
                double scale = 0;
                for (int i = 0; i < n; i++) scale = fmax(scale, fabs(rows[i].score[j]));
                for (int i = 0; i < n; i++) { /* scores equal to 9 digits are ties, not an order of rounding errors */
                    const double v = ferry_score_higher_is_better(j) ? rows[i].score[j] : -rows[i].score[j];
                    x[i] = scale > 0 ? nearbyint(v / scale * 1e9) : 0;
                    acc[i] = rows[i].accuracy;
                }
                const double tau = ferry_weighted_tau(x, acc, n);
                printf("| %s%s | ", ferry_score_name(j), ferry_score_higher_is_better(j) ? "" : " (negated)");
                printf(tau == tau ? "%.3f |\n" : "— (every backbone tied) |\n", tau);
            }
            free(x);
            free(acc);
        }
        if (!csv)
            printf("\nHigher is better for logme, leep, nce, h-score, h-score-s and transrate; pad and mmd are "
                   "distances between the domains (lower: closer).\n");
    }
    free(rows);
    free(list);
    ferry_methods_free(reg);
    ferry_backend_free(be);
    ferry_dataset_free(lab);
    ferry_task_free(task);
    return rc;
}

static int embed_usage(FILE *f)
{
    fprintf(f,
            "usage: ferry embed --task T --models NAME=SPEC[,NAME=SPEC...] [--sample N] [--out PREFIX]\n"
            "                   [--split-seed S] [--seed S] [--device D] [--threads T]\n"
            "\n"
            "Draws the source and target features of each model in the plane, as transfer papers do to show\n"
            "adaptation at work: N images of the task's source training split and N of its unlabelled\n"
            "target training split (default 500, evenly spaced), each model's features of them projected on\n"
            "their first two principal components (PCA: Debian packages no t-SNE library for C), one panel\n"
            "per model, written as PREFIX.svg and PREFIX.png (default embedding). It prints each model's\n"
            "proxy A-distance and MMD between the two domains in its features. SPEC as in ferry rank: e.g.\n"
            "before=lenet=source-only.safetensors,after=lenet=dann.safetensors (ferry train --save).\n");
    return f == stdout ? 0 : 2;
}

int ferry_cli_embed(int argc, char **argv)
{
    enum { E_TASK = 400, E_MODELS, E_SAMPLE, E_OUT, E_SPLIT_SEED, E_SEED, E_DEVICE, E_THREADS };
    static const struct option opts[] = {
        {"task", required_argument, 0, E_TASK},     {"models", required_argument, 0, E_MODELS},
        {"sample", required_argument, 0, E_SAMPLE}, {"out", required_argument, 0, E_OUT},
        {"split-seed", required_argument, 0, E_SPLIT_SEED}, {"seed", required_argument, 0, E_SEED},
        {"device", required_argument, 0, E_DEVICE}, {"threads", required_argument, 0, E_THREADS},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *task_name = NULL, *device = NULL, *prefix = "embedding";
    char *models = NULL;
    long sample_n = 500, split_seed = 0, seed = 1, threads = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case E_TASK: task_name = optarg; break;
        case E_MODELS: models = optarg; break;
        case E_SAMPLE: if (num("--sample", optarg, 4, 100000, &sample_n)) return 2; break;
        case E_OUT: prefix = optarg; break;
        case E_SPLIT_SEED: if (num("--split-seed", optarg, 0, 1L << 30, &split_seed)) return 2; break;
        case E_SEED: if (num("--seed", optarg, 0, 1L << 30, &seed)) return 2; break;
        case E_DEVICE: device = optarg; break;
        case E_THREADS: if (num("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': return embed_usage(stdout);
        default: return embed_usage(stderr);
        }
    }
    if (!task_name || !models || optind != argc) {
        fprintf(stderr, "ferry embed: --task and --models are required%s\n", optind != argc ? " (and nothing else)" : "");
        return 2;
    }
    enum { MAXM = 8 };
    char *list = strdup(models), *save = NULL, *names[MAXM], *specs[MAXM];
    int nm = 0, rc = 0;
    for (char *item = list ? strtok_r(list, ",", &save) : NULL; item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1] || nm == MAXM) {
            fprintf(stderr, "ferry embed: --models takes up to %d NAME=SPEC items, not '%s'\n", MAXM, item);
            free(list);
            return 2;
        }
        *eq = 0;
        names[nm] = item;
        specs[nm++] = eq + 1;
    }
    ferry_task_t *task = NULL;
    ferry_backend_t *be = NULL;
    float *xy[MAXM] = {0}, *xs = NULL, *xt = NULL;
    double explained[MAXM][2];
    int64_t ns = 0, nt = 0;
    ferry_status s = ferry_task_load(task_name, (uint64_t)split_seed, &task);
    if (!s) s = ferry_backend_init_device(device, (int)threads, &be);
    int c = 0, h = 0, w = 0;
    if (!s) {
        const ferry_dataset_t *src = ferry_task_source_train(task);
        const ferry_unlabelled_t *tgt = ferry_task_target_train(task);
        ferry_dataset_geometry(src, &c, &h, &w);
        const size_t img = (size_t)c * h * w;
        if (!(xs = sample(ferry_dataset_images(src), ferry_dataset_size(src), img, sample_n, &ns)) ||
            !(xt = sample(ferry_unlabelled_images(tgt), ferry_unlabelled_size(tgt), img, sample_n, &nt)))
            s = say(FERRY_ERR_NOMEM, "out of memory for the samples");
    }
    for (int m = 0; m < nm && !s; m++) {
        struct opened o;
        float *fs = NULL, *ft = NULL, *f = NULL;
        own_error[0] = 0;
        s = open_model(specs[m], c, h, w, (uint64_t)seed, be, true, &o);
        if (!s) s = embed(o.m, be, xs, ns, c, h, w, &fs, NULL);
        if (!s) s = embed(o.m, be, xt, nt, c, h, w, &ft, NULL);
        const int d = o.m ? (int)ferry_model_feature_dim(o.m) : 0;
        double pad = 0, mmd = 0;
        if (!s && (!(f = malloc((size_t)(ns + nt) * d * sizeof *f)) || !(xy[m] = malloc((size_t)(ns + nt) * 2 * sizeof *xy[m]))))
            s = say(FERRY_ERR_NOMEM, "out of memory for %s's features", names[m]);
        if (!s) {
            memcpy(f, fs, (size_t)ns * d * sizeof *f);
            memcpy(f + (size_t)ns * d, ft, (size_t)nt * d * sizeof *f);
            s = ferry_pca(f, ns + nt, d, 2, xy[m], explained[m]);
        }
        if (!s) s = ferry_score_pad(fs, ns, ft, nt, d, (uint64_t)seed, &pad);
        if (!s) s = ferry_score_mmd(fs, ns, ft, nt, d, &mmd);
        if (!s)
            printf("%s (%s, %d features): PC1 %.1f%%, PC2 %.1f%% of the variance; proxy A-distance %.4f, MMD %.4f\n",
                   names[m], specs[m], d, 100 * explained[m][0], 100 * explained[m][1], pad, mmd);
        else
            fprintf(stderr, "ferry embed: %s: %s\n", names[m], own_error[0] ? own_error : ferry_last_error());
        free(fs), free(ft), free(f);
        close_model(&o);
        if (s) rc = 1;
    }
    if (!s) {
        s = ferry_plot_embedding(prefix, nm, (const char *const *)names, (const float *const *)xy, ns, nt,
                                 (const double(*)[2])explained);
        if (s) fprintf(stderr, "ferry embed: %s\n", ferry_last_error());
        else printf("wrote %s.svg and %s.png\n", prefix, prefix);
    } else if (!rc) {
        fprintf(stderr, "ferry embed: %s\n", own_error[0] ? own_error : ferry_last_error());
    }
    rc = s ? 1 : 0;
    for (int m = 0; m < nm; m++) free(xy[m]);
    free(xs), free(xt), free(list);
    ferry_backend_free(be);
    ferry_task_free(task);
    return rc;
}
