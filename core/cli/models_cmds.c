/* ferry models: the architecture table, and running one model on a tensor file (import checks). */
#include "ferry/ferry.h"
#include "ferry/io.h"
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "ferry models%s%s: %s\n", what[0] ? " " : "", what, ferry_last_error());
    return 1;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: ferry models [list]\n"
            "       ferry models run --arch NAME [--weights FILE] --input IN.safetensors --output OUT.safetensors\n"
            "                        [--classes K] [--device D] [--threads T] [--batch B]\n"
            "\n"
            "list: every architecture and imported model with its parameters and multiply-adds at its\n"
            "default input (and usual class count), the input size, channels and preprocessing.\n"
            "\n"
            "run: reads tensor 'input' [N, C, H, W] (already preprocessed as the model declares) from IN,\n"
            "runs the model in eval mode and writes 'logits' [N, K] (the head's pre-softmax outputs) and\n"
            "'features' [N, F] (the backbone's output) to OUT. --weights loads parameters by name, strictly\n"
            "(e.g. a torchvision state dict converted by scripts/torch_to_safetensors.py); K is read from the\n"
            "weights' head unless --classes gives it. H sets the input size where the architecture allows.\n");
    return f == stdout ? 0 : 2;
}

/* Creates arch on a store of be with K classes; NULL on error (message set). */
static ferry_model_t *make(const char *arch, int c, int size, int classes, ferry_store_t *st)
{
    ferry_rng_t *rng;
    ferry_model_t *m = NULL;
    if (ferry_rng_init(1, &rng)) return NULL;
    ferry_model_opts o = {.input_size = size};
    if (ferry_model_init_ex(arch, c, size ? size : 28, size ? size : 28, classes, &o, st, rng, &m)) m = NULL;
    ferry_rng_free(rng);
    return m;
}

static int cmd_list(void)
{
    ferry_backend_t *be;
    if (ferry_backend_cpu_init(1, &be)) return fail("");
    printf("%-22s %12s %10s %7s %6s  %-26s %s\n", "architecture", "parameters", "GMACs", "input", "classes",
           "preprocessing", "source");
    int rc = 0;
    for (int i = 0; i < ferry_arch_count(); i++) {
        const ferry_arch_info *a = ferry_arch_at(i);
        int classes = a->default_classes ? a->default_classes : 10;
        int c = a->pre.channels ? a->pre.channels : 1, size = a->default_size ? a->default_size : 28;
        ferry_store_t *st = NULL;
        ferry_model_t *m = NULL;
        char input[32];
        snprintf(input, sizeof input, "%dx%dx%d", c, size, size);
        if (!ferry_store_init(be, &st)) m = make(a->name, c, a->default_size ? 0 : 28, classes, st);
        if (m)
            printf("%-22s %12lld %10.3f %7s %6d  %-26s %s\n", a->name, (long long)ferry_model_param_count(m),
                   (double)ferry_model_macs(m) / 1e9, input, classes, a->pre.summary ? a->pre.summary : "-",
                   a->source ? a->source : "-");
        else
            printf("%-22s %12s %10s %7s %6d  %-26s %s (unavailable: %s)\n", a->name, "-", "-", input, classes,
                   a->pre.summary ? a->pre.summary : "-", a->source ? a->source : "-", ferry_last_error());
        if (a->summary) printf("%-22s   %s%s\n", "", a->summary, a->default_size && !a->fixed_size ? "; any input size" : "");
        ferry_model_free(m);
        ferry_store_free(st);
    }
    ferry_backend_free(be);
    return rc;
}

/* The class count of the weights' head: the head's output layer is its last parameter whose first
 * dimension is the model's class count; the file's tensor of that name says how many it has. */
int ferry_cli_head_classes(const char *arch, int c, int size, const char *weights)
{
    const ferry_arch_info *a = ferry_arch_find(arch);
    int k = a && a->default_classes ? a->default_classes : 10, found = 0;
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_safetensors_t *f;
    if (ferry_backend_cpu_init(1, &be)) return 0;
    if (ferry_store_init(be, &st)) {
        ferry_backend_free(be);
        return 0;
    }
    ferry_model_t *m = make(arch, c, size, k, st);
    if (m && !ferry_safetensors_open(weights, &f)) {
        for (int i = ferry_store_count(st) - 1; i >= 0 && !found; i--) {
            const char *name = ferry_store_name(st, i);
            if (ferry_model_is_backbone(m, name) || ferry_store_shape(st, i)[0] != k || strchr(name, '#')) continue;
            const ferry_st_entry *e = ferry_safetensors_find(f, name);
            if (e && e->ndim >= 1) found = (int)e->shape[0];
        }
        ferry_safetensors_free(f);
    }
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_backend_free(be);
    return found ? found : k;
}

enum { O_ARCH = 256, O_WEIGHTS, O_INPUT, O_OUTPUT, O_DEVICE, O_THREADS, O_BATCH, O_CLASSES };

static int num(const char *opt, const char *arg, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "ferry models run: %s expects an integer in [%d, %d], not '%s'\n", opt, lo, hi, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, 0, O_ARCH},     {"weights", required_argument, 0, O_WEIGHTS},
        {"input", required_argument, 0, O_INPUT},   {"output", required_argument, 0, O_OUTPUT},
        {"device", required_argument, 0, O_DEVICE}, {"threads", required_argument, 0, O_THREADS},
        {"batch", required_argument, 0, O_BATCH},   {"classes", required_argument, 0, O_CLASSES},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *in = NULL, *out = NULL, *device = NULL;
    int threads = 0, batch = 16, classes = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_ARCH: arch = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case O_INPUT: in = optarg; break;
        case O_OUTPUT: out = optarg; break;
        case O_DEVICE: device = optarg; break;
        case O_THREADS: if (num("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_BATCH: if (num("--batch", optarg, 1, 65536, &batch)) return 2; break;
        case O_CLASSES: if (num("--classes", optarg, 2, 1000000, &classes)) return 2; break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (!arch || !in || !out) {
        fprintf(stderr, "ferry models run: --arch, --input and --output are required\n");
        return 2;
    }
    ferry_safetensors_t *inf = NULL;
    if (ferry_safetensors_open(in, &inf)) return fail("run");
    const ferry_st_entry *x = ferry_safetensors_find(inf, "input");
    if (!x || x->dtype != FERRY_F32 || x->ndim != 4 || x->shape[0] < 1) {
        fprintf(stderr, "ferry models run: %s: no F32 tensor 'input' [N, C, H, W]\n", in);
        ferry_safetensors_free(inf);
        return 1;
    }
    const ferry_arch_info *a = ferry_arch_find(arch);
    int c = (int)x->shape[1], size = (int)x->shape[2];
    if (x->shape[2] != x->shape[3]) {
        fprintf(stderr, "ferry models run: %s: input %lldx%lld is not square\n", in, (long long)x->shape[2],
                (long long)x->shape[3]);
        ferry_safetensors_free(inf);
        return 1;
    }
    if (!classes) classes = weights ? ferry_cli_head_classes(arch, c, a && a->default_size ? size : 0, weights)
                                    : a && a->default_classes ? a->default_classes : 10;
    ferry_backend_t *be = NULL;
    ferry_store_t *st = NULL;
    ferry_model_t *m = NULL;
    float *f = NULL, *l = NULL;
    int rc = 0;
    if (ferry_backend_init_device(device, threads, &be) || ferry_store_init(be, &st) ||
        !(m = make(arch, c, a && a->default_size ? size : 0, classes, st))) {
        rc = fail("run");
        goto done;
    }
    if (!a || !a->default_size) { /* sizes from the data: rebuild at the input's geometry */
        ferry_model_free(m);
        ferry_rng_t *rng;
        if (ferry_rng_init(1, &rng) ||
            ferry_model_init(arch, c, (int)x->shape[2], (int)x->shape[3], classes, st, rng, &m)) {
            m = NULL;
        }
        ferry_rng_free(rng);
        if (!m) {
            rc = fail("run");
            goto done;
        }
    }
    int mc, mh, mw;
    ferry_model_input(m, &mc, &mh, &mw);
    if (mc != c || mh != x->shape[2] || mw != x->shape[3]) {
        fprintf(stderr, "ferry models run: %s: input [%lld, %d, %lld, %lld] does not fit %s, which takes [N, %d, %d, %d]\n",
                in, (long long)x->shape[0], c, (long long)x->shape[2], (long long)x->shape[3], arch, mc, mh, mw);
        rc = 1;
        goto done;
    }
    if (weights && ferry_model_load_weights(m, weights, false)) {
        rc = fail("run");
        goto done;
    }
    int64_t n = x->shape[0], F = ferry_model_feature_dim(m);
    f = malloc((size_t)(n * F) * sizeof *f);
    l = malloc((size_t)(n * classes) * sizeof *l);
    if (!f || !l || ferry_model_infer(m, be, x->data, n, batch, f, l)) {
        rc = f && l ? fail("run") : (fprintf(stderr, "ferry models run: out of memory\n"), 1);
        goto done;
    }
    ferry_st_entry e[2] = {
        {.name = "features", .dtype = FERRY_F32, .ndim = 2, .shape = {n, F}, .data = f, .nbytes = (size_t)(n * F) * 4},
        {.name = "logits", .dtype = FERRY_F32, .ndim = 2, .shape = {n, classes}, .data = l,
         .nbytes = (size_t)(n * classes) * 4}};
    const char *keys[] = {"arch"}, *vals[] = {arch};
    if (ferry_safetensors_write(out, e, 2, keys, vals, 1)) {
        rc = fail("run");
        goto done;
    }
    printf("%s: %s on %lld inputs %dx%dx%d -> logits [%lld, %d], features [%lld, %lld]\n", out, arch, (long long)n, mc,
           mh, mw, (long long)n, classes, (long long)n, (long long)F);
done:
    free(f);
    free(l);
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_backend_free(be);
    ferry_safetensors_free(inf);
    return rc;
}

int ferry_cli_models(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "list")) return argc > 2 ? usage(stderr) : cmd_list();
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) return usage(stdout);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 1, argv + 1);
    fprintf(stderr, "ferry models: unknown sub-command '%s'\n", argv[1]);
    return usage(stderr);
}
