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

static ferry_status score_one(const char *spec, ferry_task_t *task, const ferry_dataset_t *lab, int64_t domain_n,
                              uint64_t seed, ferry_backend_t *be, struct scored *out)
{
    char arch[256];
    const char *eq = strchr(spec, '='), *file = eq ? eq + 1 : NULL;
    snprintf(arch, sizeof arch, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
    const ferry_arch_info *a = ferry_arch_find(arch);
    if (!a) return say(FERRY_ERR_INVALID, "backbone '%s': no architecture '%s' (see ferry models)", spec, arch);
    if (file && !*file) return say(FERRY_ERR_INVALID, "backbone '%s': no file after '='", spec);
    int c, h, w;
    ferry_dataset_geometry(lab, &c, &h, &w);
    const int head = file ? ferry_cli_head_classes(arch, c, 0, file) : a->default_classes ? a->default_classes : 10;
    ferry_store_t *st = NULL;
    ferry_model_t *m = NULL;
    ferry_rng_t *rng = NULL;
    float *fl = NULL, *pl = NULL, *fs = NULL, *ft = NULL, *xs = NULL, *xt = NULL;
    const double t0 = ferry_now_s();
    ferry_status s = ferry_store_init(be, &st);
    if (!s) s = ferry_rng_init(seed, &rng);
    if (!s) s = ferry_model_init(arch, c, h, w, head, st, rng, &m);
    if (!s && file) s = ferry_model_load_weights(m, file, false);
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
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_rng_free(rng);
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
