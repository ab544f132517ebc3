/* The ferry command-line tool. */
#include "ferry/ferry.h"
#include "ferry/method.h"
#include "commands.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "ferry";

static int usage_main(FILE *f)
{
    fprintf(f,
            "usage: ferry COMMAND [OPTIONS]\n"
            "\n"
            "Commands:\n"
            "  train     train a model on a data set or source-only on a task\n"
            "  eval      evaluate a saved model on a data set\n"
            "  data      list, fetch, show and export data sets\n"
            "  tasks     list the transfer tasks and their splits\n"
            "  devices   list the Vulkan devices and the CPU backend\n"
            "  ops       list the runtime's ops and which backends run them forward and backward\n"
            "  methods   list the transfer methods (plugins) and their hyperparameters\n"
            "  pretrain  train on a task's source domain and save a checkpoint\n"
            "  models    list the architectures and imported models; run one on a tensor file\n"
            "  rank      transferability scores of backbones for a task, before training\n"
            "  embed     source and target features of models in the plane (PCA), before and after adapting\n"
            "  bench     run a benchmark sweep (tasks x methods x seeds) into the results store\n"
            "  results   tables, plots, exports and merges of the results store\n"
            "  version   print the version\n"
            "  help      this text; 'ferry COMMAND --help' for a command's options\n");
    return f == stdout ? 0 : 2;
}

static int usage_train(FILE *f)
{
    fprintf(f,
            "usage: ferry train [OPTIONS]\n"
            "\n"
            "Trains a model from scratch (or from --init) and reports test accuracy per epoch.\n"
            "\n"
            "  --data SPEC            a domain: a data set (ferry data list; default mnist), folder:PATH,\n"
            "                         idx:IMAGES[,LABELS] or csv:PATH?shape=CxHxW, with {CLASSES} and @VARIANT\n"
            "  --task NAME            a transfer task (ferry tasks): train source-only on the\n"
            "                         source, report source-val and target-test accuracy\n"
            "  --split-seed S         the task's split seed (default 0)\n"
            "  --arch NAME            an architecture or imported model (ferry models; default lenet)\n"
            "  --input-size N         the model's input side (default: the architecture's; images are\n"
            "                         resized, grey replicated and normalised as the model declares)\n"
            "  --weights FILE         pretrained backbone weights by name (safetensors with torchvision's\n"
            "                         names; scripts/torch_to_safetensors.py converts a .pth)\n"
            "  --epochs N             default 10\n"
            "  --batch N              default 64\n"
            "  --seed S               default 1; same seed and threads give identical bits\n"
            "  --threads T            CPU threads (default: all cores)\n"
            "  --device D             cpu | vulkan | vulkan:N | auto (default auto, or $FERRY_DEVICE;\n"
            "                         see ferry devices)\n"
            "  --optim NAME           sgd | adam | adamw (default sgd, momentum 0.9)\n"
            "  --lr X                 base learning rate (default 0.05 for sgd, 0.001 for adam)\n"
            "  --momentum X           SGD momentum (default 0.9)\n"
            "  --nesterov             Nesterov momentum\n"
            "  --weight-decay X       default 5e-4 (sgd)\n"
            "  --schedule NAME        constant | step | cosine | inv (default cosine)\n"
            "  --label-smoothing X    default 0\n"
            "  --init FILE            start from a safetensors checkpoint (e.g. from ferry pretrain)\n"
            "  --transfer-layers N    with --init: copy only the model's first N layers from the\n"
            "                         checkpoint, the others keep their fresh random initialisation\n"
            "  --freeze-layers N      the first N layers get no gradient and no update\n"
            "                         (layers in forward order, by parameter-name prefix; the run's\n"
            "                         header lists them: for lenet 1 features.0 (conv1), 2 features.3\n"
            "                         (conv2), 3 classifier.0 (fc1), 4 classifier.2 (fc2), 5 classifier.4)\n"
            "  --method NAME          a transfer method (ferry methods) on --task\n"
            "  --set M.NAME=VALUE     a method's hyperparameter (repeatable), e.g. dann.gamma=10\n"
            "  --validators           with --method: print the unsupervised validators (source-acc,\n"
            "                         source-loss, entropy, diversity, im, bnm, snd, mano) at each epoch's end\n"
            "  --target-labels K      grant K labelled target examples per class: an inductive method\n"
            "                         trains on them; any other runs semi-supervised (half of each\n"
            "                         labelled batch from them, half from the source)\n"
            "  --source-epochs        an inductive method takes as many steps per epoch as one pass over\n"
            "                         the source (as in ferry bench), cycling its labelled examples\n"
            "  --iters-per-epoch N    an epoch is N steps instead of one pass over the training set\n"
            "  --augment SPEC         seeded augmentation of the training batches (a method's source or\n"
            "                         labelled target batches), e.g. crop=4,rot=15,scale=0.9:1.1,\n"
            "                         jitter=0.2,noise=0.05,flip=0.5,rrc=0.5:1 (default none)\n"
            "  --augment-target SPEC  the same for a method's unlabelled target batches (with --method)\n"
            "  --save FILE            write the trained parameters as safetensors\n"
            "  -h, --help             this text\n");
    return f == stdout ? 0 : 2;
}

static int usage_eval(FILE *f)
{
    fprintf(f,
            "usage: ferry eval --load FILE [OPTIONS]\n"
            "\n"
            "Evaluates a saved model's accuracy on a data set split.\n"
            "\n"
            "  --load FILE            safetensors checkpoint (required)\n"
            "  --data SPEC            a domain, as for train (default mnist)\n"
            "  --arch NAME            an architecture (ferry models; default lenet)\n"
            "  --input-size N         the model's input side (as it was trained)\n"
            "  --split NAME           train | test (default test)\n"
            "  --threads T            CPU threads (default: all cores)\n"
            "  --device D             cpu | vulkan | vulkan:N | auto (default auto)\n"
            "  -h, --help             this text\n");
    return f == stdout ? 0 : 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s%s%s\n", prog, what, what[0] ? ": " : "", ferry_last_error());
    return 1;
}

static int parse_num(const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: %s expects a number in [%g, %g], not '%s'\n", prog, opt, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

enum { O_DATA = 256, O_ARCH, O_EPOCHS, O_BATCH, O_SEED, O_THREADS, O_OPTIM, O_LR, O_MOMENTUM,
       O_NESTEROV, O_WD, O_SCHEDULE, O_SMOOTH, O_INIT, O_SAVE, O_LOAD, O_SPLIT, O_TASK,
       O_SPLIT_SEED, O_DEVICE, O_METHOD, O_SET, O_TARGET_LABELS, O_OUT, O_SOURCE_EPOCHS, O_INPUT_SIZE,
       O_WEIGHTS, O_ITERS, O_AUGMENT, O_AUGMENT_TARGET, O_TRANSFER_LAYERS, O_FREEZE_LAYERS, O_VALIDATORS };

static const struct option train_opts[] = {
    {"data", required_argument, 0, O_DATA},       {"arch", required_argument, 0, O_ARCH},
    {"epochs", required_argument, 0, O_EPOCHS},   {"batch", required_argument, 0, O_BATCH},
    {"seed", required_argument, 0, O_SEED},       {"threads", required_argument, 0, O_THREADS},
    {"optim", required_argument, 0, O_OPTIM},     {"lr", required_argument, 0, O_LR},
    {"momentum", required_argument, 0, O_MOMENTUM}, {"nesterov", no_argument, 0, O_NESTEROV},
    {"weight-decay", required_argument, 0, O_WD}, {"schedule", required_argument, 0, O_SCHEDULE},
    {"label-smoothing", required_argument, 0, O_SMOOTH}, {"init", required_argument, 0, O_INIT},
    {"save", required_argument, 0, O_SAVE},       {"help", no_argument, 0, 'h'},
    {"task", required_argument, 0, O_TASK},       {"split-seed", required_argument, 0, O_SPLIT_SEED},
    {"device", required_argument, 0, O_DEVICE},   {"method", required_argument, 0, O_METHOD},
    {"set", required_argument, 0, O_SET},         {"target-labels", required_argument, 0, O_TARGET_LABELS},
    {"out", required_argument, 0, O_OUT},         {"source-epochs", no_argument, 0, O_SOURCE_EPOCHS},
    {"input-size", required_argument, 0, O_INPUT_SIZE}, {"weights", required_argument, 0, O_WEIGHTS},
    {"iters-per-epoch", required_argument, 0, O_ITERS}, {"augment", required_argument, 0, O_AUGMENT},
    {"augment-target", required_argument, 0, O_AUGMENT_TARGET},
    {"transfer-layers", required_argument, 0, O_TRANSFER_LAYERS},
    {"freeze-layers", required_argument, 0, O_FREEZE_LAYERS}, {"validators", no_argument, 0, O_VALIDATORS},
    {0, 0, 0, 0}};

#define MAX_SETS 64

struct train_cli {
    ferry_train_opts o;
    int threads;
    const char *device;
    const char *method;
    const char *sets[MAX_SETS];
    int n_sets;
    int target_labels;
    bool validators;
    bool source_epochs;
    int iters_per_epoch;
    ferry_augment_config augment_target;
    const char *optim, *schedule;
    double lr, wd, momentum; /* < 0: keep the optimizer's default */
    bool nesterov;
};

static int parse_train(int argc, char **argv, struct train_cli *c)
{
    double v;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", train_opts, NULL)) != -1) {
        switch (ch) {
        case O_DATA: c->o.data = optarg; break;
        case O_TASK: c->o.task = optarg; break;
        case O_SPLIT_SEED: if (parse_num("--split-seed", optarg, 0, 4294967295.0, &v)) return 2; c->o.split_seed = (uint64_t)v; break;
        case O_ARCH: c->o.arch = optarg; break;
        case O_INPUT_SIZE: if (parse_num("--input-size", optarg, 1, 4096, &v)) return 2; c->o.input_size = (int)v; break;
        case O_WEIGHTS: c->o.weights = optarg; break;
        case O_EPOCHS: if (parse_num("--epochs", optarg, 1, 100000, &v)) return 2; c->o.epochs = (int)v; break;
        case O_BATCH: if (parse_num("--batch", optarg, 1, 65536, &v)) return 2; c->o.batch = (int)v; break;
        case O_SEED: if (parse_num("--seed", optarg, 0, 4294967295.0, &v)) return 2; c->o.seed = (uint64_t)v; break;
        case O_THREADS: if (parse_num("--threads", optarg, 1, 1024, &v)) return 2; c->threads = (int)v; break;
        case O_DEVICE: c->device = optarg; break;
        case O_METHOD: c->method = optarg; break;
        case O_SET:
            if (c->n_sets == MAX_SETS) {
                fprintf(stderr, "%s: more than %d --set options\n", prog, MAX_SETS);
                return 2;
            }
            c->sets[c->n_sets++] = optarg;
            break;
        case O_SOURCE_EPOCHS: c->source_epochs = true; break;
        case O_ITERS: if (parse_num("--iters-per-epoch", optarg, 1, 1e9, &v)) return 2; c->iters_per_epoch = (int)v; break;
        case O_AUGMENT:
        case O_AUGMENT_TARGET:
            if (ferry_augment_parse(optarg, ch == O_AUGMENT ? &c->o.augment : &c->augment_target)) {
                fprintf(stderr, "%s: %s: %s\n", prog, ch == O_AUGMENT ? "--augment" : "--augment-target",
                        ferry_last_error());
                return 2;
            }
            break;
        case O_VALIDATORS: c->validators = true; break;
        case O_TARGET_LABELS: if (parse_num("--target-labels", optarg, 1, 100000, &v)) return 2; c->target_labels = (int)v; break;
        case O_OUT: c->o.save_path = optarg; break;
        case O_OPTIM: c->optim = optarg; break;
        case O_LR: if (parse_num("--lr", optarg, 1e-12, 100, &c->lr)) return 2; break;
        case O_MOMENTUM: if (parse_num("--momentum", optarg, 0, 0.9999, &c->momentum)) return 2; break;
        case O_NESTEROV: c->nesterov = true; break;
        case O_WD: if (parse_num("--weight-decay", optarg, 0, 10, &c->wd)) return 2; break;
        case O_SCHEDULE: c->schedule = optarg; break;
        case O_SMOOTH: if (parse_num("--label-smoothing", optarg, 0, 0.99, &v)) return 2; c->o.label_smoothing = (float)v; break;
        case O_INIT: c->o.init_path = optarg; break;
        case O_TRANSFER_LAYERS: if (parse_num("--transfer-layers", optarg, 1, 1e6, &v)) return 2; c->o.transfer_layers = (int)v; break;
        case O_FREEZE_LAYERS: if (parse_num("--freeze-layers", optarg, 0, 1e6, &v)) return 2; c->o.freeze_layers = (int)v; break;
        case O_SAVE: c->o.save_path = optarg; break;
        case 'h': return usage_train(stdout) - 1; /* -1: done, exit 0 */
        default: return usage_train(stderr);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s train: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    return 0;
}

static int apply_optim(struct train_cli *c)
{
    ferry_optim_kind kind = FERRY_SGD;
    if (c->optim && ferry_optim_parse_kind(c->optim, &kind)) return fail("--optim");
    if (kind != FERRY_SGD) {
        ferry_optim_config d = ferry_optim_defaults(kind);
        d.schedule = c->o.optim.schedule;
        c->o.optim = d;
    }
    if (c->schedule && ferry_schedule_parse(c->schedule, &c->o.optim.schedule)) return fail("--schedule");
    if (c->lr > 0) c->o.optim.lr = (float)c->lr;
    if (c->wd >= 0) c->o.optim.weight_decay = (float)c->wd;
    if (c->momentum >= 0) c->o.optim.momentum = (float)c->momentum;
    c->o.optim.nesterov = c->nesterov;
    return 0;
}

/* The device line every run prints: backend, vendor, name, driver and API version. */
static void print_device(const ferry_backend_t *be)
{
    ferry_device_desc d;
    ferry_backend_describe(be, &d);
    printf("device: %s, %s %s, driver %s, api %s\n", d.backend, d.vendor, d.name, d.driver, d.api);
}

/* --transfer-layers / --freeze-layers: the model's layers, checked before the run's header, so that
 * the header can say what N counts. Returns 0, or the exit status of a bad option. */
static int check_layers(const ferry_train_opts *o, char *names, size_t n)
{
    names[0] = 0;
    if (!o->transfer_layers && !o->freeze_layers) return 0;
    int count;
    if (ferry_train_layers(o, names, n, &count)) return fail("train");
    return 0;
}

static const char *first_layers(int k, char *buf, size_t n)
{
    if (k == 1) snprintf(buf, n, "layer 1");
    else snprintf(buf, n, "layers 1-%d", k);
    return buf;
}

static void print_layers(const ferry_train_opts *o, const char *names)
{
    if (!names[0]) return;
    printf("layers: %s\n", names);
    char n[32];
    if (o->transfer_layers)
        printf("  %s from %s, the rest freshly initialised\n", first_layers(o->transfer_layers, n, sizeof n),
               o->init_path);
    if (o->freeze_layers) printf("  %s frozen\n", first_layers(o->freeze_layers, n, sizeof n));
}

/* ferry ops: the op registry, with each registered backend's forward and backward coverage. */
static int cmd_ops(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ferry ops\n\nLists every op of the runtime's registry: its sources, its kind (kernel,\n"
               "view, leaf, update), whether it has a gradient (yes; none: declared gradient-free;\n"
               "-: a backward or update op, never differentiated) and, per backend, whether the\n"
               "backend runs it forward (fwd) and runs its backward (bwd). Method authors build\n"
               "losses from the ops with a gradient.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s ops: unexpected argument '%s'\n", prog, argv[1]);
        return 2;
    }
    const int nk = ferry_backend_kind_count();
    printf("%-24s %4s  %-7s %-5s", "op", "srcs", "kind", "grad");
    for (int k = 0; k < nk; k++) printf("  %6s-fwd %6s-bwd", ferry_backend_kind_name(k), ferry_backend_kind_name(k));
    printf("\n");
    int missing = 0;
    for (int op = 0; op < ferry_op_count(); op++) {
        ferry_op_desc d;
        if (ferry_op_describe(op, &d)) return fail("ops");
        printf("%-24s %4d  %-7s %-5s", d.name, d.nsrc, d.kind, d.gradient);
        for (int k = 0; k < nk; k++) {
            bool f = ferry_backend_kind_supports(k, op);
            missing += !f;
            printf("  %10s %10s", f ? "yes" : "NO",
                   d.differentiable ? (ferry_backend_kind_supports_backward(k, op) ? "yes" : "NO") : "-");
        }
        printf("\n");
    }
    printf("%d ops, %d backends; %d op/backend pairs unsupported\n", ferry_op_count(), nk, missing);
    return 0;
}

static int cmd_devices(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ferry devices\n\nLists every Vulkan device and the CPU backend. Choose one with\n"
               "--device cpu | vulkan | vulkan:N | auto, or FERRY_DEVICE. auto (the default) takes\n"
               "a discrete GPU, else an integrated GPU, else the CPU backend; a software Vulkan\n"
               "driver (lavapipe) only when named as vulkan:N.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s devices: unexpected argument '%s'\n", prog, argv[1]);
        return 2;
    }
    ferry_devices_print(stdout);
    return 0;
}

/* The augmentation line of a run that has some. */
static void print_augment(const char *what, const ferry_augment_config *a)
{
    char spec[512];
    if (!ferry_augment_active(a)) return;
    ferry_augment_format(a, spec, sizeof spec);
    printf("%s: %s\n", what, spec);
}

/* train --task T --method M: the method plugin drives the run. */
static int run_method(struct train_cli *c, ferry_backend_t *be)
{
    ferry_methods_t *reg;
    if (ferry_methods_load(&reg)) return fail("methods");
    const ferry_method *m = ferry_methods_find(reg, c->method);
    if (!m) {
        ferry_methods_free(reg);
        return fail("--method");
    }
    int tty = isatty(fileno(stderr));
    ferry_adapt_opts a = ferry_adapt_defaults();
    a.task = c->o.task;
    a.split_seed = c->o.split_seed;
    a.method = m;
    a.sets = c->sets;
    a.n_sets = c->n_sets;
    a.arch = c->o.arch;
    a.input_size = c->o.input_size;
    a.weights = c->o.weights;
    a.epochs = c->o.epochs;
    a.batch = c->o.batch;
    a.seed = c->o.seed;
    a.backend = be;
    a.optim = c->o.optim;
    a.init_path = c->o.init_path;
    a.save_path = c->o.save_path;
    a.target_labels_per_class = c->target_labels;
    a.validators = c->validators;
    a.source_epochs = c->source_epochs;
    a.iters_per_epoch = c->iters_per_epoch;
    a.augment = c->o.augment;
    a.augment_target = c->augment_target;
    a.progress = ferry_cli_progress;
    a.user = &tty;
    /* the task and the hyperparameters are checked before the run's header is printed */
    double hp[32];
    if (!ferry_task_info_find(a.task)) {
        ferry_methods_free(reg);
        fprintf(stderr, "%s train: --task: %s\n", prog, ferry_last_error());
        return 2;
    }
    if (ferry_method_resolve(m, a.sets, a.n_sets, hp)) {
        ferry_methods_free(reg);
        return fail("--set");
    }
    if (ferry_augment_active(&a.augment_target) && (m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS)) {
        fprintf(stderr, "%s train: --augment-target: method '%s' trains on labelled target examples and has no "
                "unlabelled target batches (--augment applies to its batches)\n", prog, m->name);
        ferry_methods_free(reg);
        return 2;
    }
    printf("ferry %s: %s on task %s, %s, %d epochs, batch %d, seed %llu, lr %g\n", FERRY_VERSION_STRING, m->name,
           a.task, a.arch, a.epochs, a.batch, (unsigned long long)a.seed, (double)a.optim.lr);
    print_device(be);
    if (a.target_labels_per_class > 0 && !(m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS))
        printf("semi-supervised: %d labelled target examples per class, half of each labelled batch\n",
               a.target_labels_per_class);
    print_augment("augment", &a.augment);
    print_augment("augment target", &a.augment_target);
    for (int i = 0; i < m->n_hparams; i++) printf("  %s.%s = %g\n", m->name, m->hparams[i].name, hp[i]);
    ferry_adapt_result res;
    ferry_status s = ferry_adapt(&a, &res);
    ferry_methods_free(reg);
    if (s) return fail("train");
    char dur[32];
    ferry_cli_format_duration(res.seconds, dur, sizeof dur);
    printf("final: source val accuracy %.2f%%  target val accuracy %.2f%%  target test accuracy %.2f%%  "
           "loss %.4f  %.0f images/s  wall %s\n",
           100 * res.source_val_accuracy, 100 * res.target_val_accuracy, 100 * res.target_test_accuracy,
           res.final_loss, res.images_per_s, dur);
    if (a.save_path) printf("saved %s\n", a.save_path);
    return 0;
}

static int cmd_train(int argc, char **argv)
{
    struct train_cli c = {.o = ferry_train_defaults(), .lr = -1, .wd = -1, .momentum = -1};
    int r = parse_train(argc, argv, &c);
    if (r) return r < 0 ? 0 : r;
    if (c.method && !c.o.task) {
        fprintf(stderr, "%s train: --method needs --task (ferry tasks)\n", prog);
        return 2;
    }
    if (!c.method && ferry_augment_active(&c.augment_target)) {
        fprintf(stderr, "%s train: --augment-target applies to a method's unlabelled target batches (with --method)\n",
                prog);
        return 2;
    }
    if (c.method && (c.o.transfer_layers || c.o.freeze_layers)) {
        fprintf(stderr, "%s train: --transfer-layers and --freeze-layers apply to plain training, not to "
                "--method (fine-tuning freezes blocks with --set fine-tuning.freeze_blocks=K)\n", prog);
        return 2;
    }
    if (c.method && c.lr <= 0) c.lr = 0.01; /* methods' default learning rate */
    if ((r = apply_optim(&c))) return r;
    if (c.method) {
        ferry_backend_t *mbe;
        if (ferry_backend_init_device(c.device, c.threads, &mbe)) return fail("device");
        r = run_method(&c, mbe);
        ferry_backend_free(mbe);
        return r;
    }
    ferry_backend_t *be;
    if (ferry_backend_init_device(c.device, c.threads, &be)) return fail("device");
    int tty = isatty(fileno(stderr));
    c.o.backend = be;
    c.o.progress = ferry_cli_progress;
    c.o.user = &tty;
    c.o.iters_per_epoch = c.iters_per_epoch;
    char layers[4096];
    if ((r = check_layers(&c.o, layers, sizeof layers))) {
        ferry_backend_free(be);
        return r;
    }
    char steps[48] = "";
    if (c.o.iters_per_epoch) snprintf(steps, sizeof steps, " of %d steps", c.o.iters_per_epoch);
    printf("ferry %s: train %s on %s%s, %d epochs%s, batch %d, seed %llu, %s lr %g\n",
           FERRY_VERSION_STRING, c.o.arch, c.o.task ? "task " : "", c.o.task ? c.o.task : c.o.data,
           c.o.epochs, steps, c.o.batch,
           (unsigned long long)c.o.seed, c.optim ? c.optim : "sgd", (double)c.o.optim.lr);
    print_device(be);
    print_augment("augment", &c.o.augment);
    print_layers(&c.o, layers);
    ferry_train_result res;
    ferry_status s = ferry_train(&c.o, &res);
    ferry_backend_free(be);
    if (s) return fail("train");
    char dur[32];
    ferry_cli_format_duration(res.seconds, dur, sizeof dur);
    if (c.o.task)
        printf("final: source val accuracy %.2f%%  target test accuracy %.2f%%  train loss %.4f  "
               "%.0f images/s  wall %s\n",
               100 * res.source_val_accuracy, 100 * res.test_accuracy, res.final_loss,
               res.images_per_s, dur);
    else
        printf("final: test accuracy %.2f%%  train loss %.4f  %.0f images/s  wall %s\n",
               100 * res.test_accuracy, res.final_loss, res.images_per_s, dur);
    if (c.o.save_path) printf("saved %s\n", c.o.save_path);
    return 0;
}

static const struct option eval_opts[] = {
    {"data", required_argument, 0, O_DATA},   {"arch", required_argument, 0, O_ARCH},
    {"load", required_argument, 0, O_LOAD},   {"split", required_argument, 0, O_SPLIT},
    {"threads", required_argument, 0, O_THREADS}, {"help", no_argument, 0, 'h'},
    {"device", required_argument, 0, O_DEVICE}, {"input-size", required_argument, 0, O_INPUT_SIZE},
    {0, 0, 0, 0}};

static int cmd_eval(int argc, char **argv)
{
    const char *data = "mnist", *arch = "lenet", *load = NULL, *split = "test", *device = NULL;
    int threads = 0, ch;
    double v;
    ferry_model_opts mo = {0};
    while ((ch = getopt_long(argc, argv, "h", eval_opts, NULL)) != -1) {
        switch (ch) {
        case O_INPUT_SIZE: if (parse_num("--input-size", optarg, 1, 4096, &v)) return 2; mo.input_size = (int)v; break;
        case O_DATA: data = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_LOAD: load = optarg; break;
        case O_SPLIT: split = optarg; break;
        case O_DEVICE: device = optarg; break;
        case O_THREADS: if (parse_num("--threads", optarg, 1, 1024, &v)) return 2; threads = (int)v; break;
        case 'h': return usage_eval(stdout);
        default: return usage_eval(stderr);
        }
    }
    if (!load) {
        fprintf(stderr, "%s eval: --load FILE is required\n", prog);
        return 2;
    }
    ferry_backend_t *be = NULL;
    ferry_store_t *st = NULL;
    ferry_model_t *m = NULL;
    ferry_dataset_t *ds = NULL;
    ferry_rng_t *rng = NULL;
    double acc = 0;
    int c, h, w, rc = 0;
    ferry_status s = ferry_domain_load(data, split, &ds);
    if (!s) {
        ferry_dataset_geometry(ds, &c, &h, &w);
        if (!(s = ferry_backend_init_device(device, threads, &be)) && !(s = ferry_store_init(be, &st)) &&
            !(s = ferry_rng_init(0, &rng)) &&
            !(s = ferry_model_init_ex(arch, c, h, w, ferry_dataset_classes(ds), &mo, st, rng, &m)) &&
            !(s = ferry_store_load(st, load, false, false)))
            s = ferry_evaluate(m, be, ds, 500, &acc);
    }
    if (s)
        rc = fail("eval");
    else
        printf("%s %s %s: accuracy %.2f%% on %lld examples\n", load, data, split, 100 * acc,
               (long long)ferry_dataset_size(ds));
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    ferry_dataset_free(ds);
    return rc;
}

/* ferry pretrain --task T [--arch A] --out FILE [train options]: source-only training on the task's
 * source domain; the checkpoint starts feature extraction and fine-tuning. */
static int cmd_pretrain(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ferry pretrain --task NAME --out FILE [--arch NAME] [train options]\n\n"
                   "Trains the model on the task's source domain (source train split) and writes the\n"
                   "checkpoint (safetensors) that --method feature-extraction / fine-tuning start from\n"
                   "with --init FILE. Takes the options of ferry train (see ferry train --help).\n");
            return 0;
        }
    struct train_cli c = {.o = ferry_train_defaults(), .lr = -1, .wd = -1, .momentum = -1};
    int r = parse_train(argc, argv, &c);
    if (r) return r < 0 ? 0 : r;
    if (!c.o.task || !c.o.save_path) {
        fprintf(stderr, "%s pretrain: --task and --out are required\n", prog);
        return 2;
    }
    if (c.method || ferry_augment_active(&c.augment_target)) {
        fprintf(stderr, "%s pretrain: --%s does not apply (pretraining is source-only)\n", prog,
                c.method ? "method" : "augment-target");
        return 2;
    }
    if ((r = apply_optim(&c))) return r;
    ferry_backend_t *be;
    if (ferry_backend_init_device(c.device, c.threads, &be)) return fail("device");
    int tty = isatty(fileno(stderr));
    c.o.backend = be;
    c.o.progress = ferry_cli_progress;
    c.o.user = &tty;
    c.o.iters_per_epoch = c.iters_per_epoch;
    char layers[4096];
    if ((r = check_layers(&c.o, layers, sizeof layers))) {
        ferry_backend_free(be);
        return r;
    }
    printf("ferry %s: pretrain %s on the source of %s, %d epochs, seed %llu\n", FERRY_VERSION_STRING, c.o.arch,
           c.o.task, c.o.epochs, (unsigned long long)c.o.seed);
    print_device(be);
    print_augment("augment", &c.o.augment);
    print_layers(&c.o, layers);
    ferry_train_result res;
    ferry_status s = ferry_train(&c.o, &res);
    ferry_backend_free(be);
    if (s) return fail("pretrain");
    printf("final: source val accuracy %.2f%%  target test accuracy %.2f%% (source-only)\nsaved %s\n",
           100 * res.source_val_accuracy, 100 * res.test_accuracy, c.o.save_path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage_main(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return usage_main(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ferry %s\n", FERRY_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return ferry_cli_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "tasks")) return ferry_cli_tasks(argc - 1, argv + 1);
    if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "ops")) return cmd_ops(argc - 1, argv + 1);
    if (!strcmp(cmd, "methods")) return ferry_cli_methods(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return ferry_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "results")) return ferry_cli_results(argc - 1, argv + 1);
    if (!strcmp(cmd, "pretrain")) return cmd_pretrain(argc - 1, argv + 1);
    if (!strcmp(cmd, "models")) return ferry_cli_models(argc - 1, argv + 1);
    if (!strcmp(cmd, "rank")) return ferry_cli_rank(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed")) return ferry_cli_embed(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
    return usage_main(stderr);
}
