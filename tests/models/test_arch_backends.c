/* Every architecture in the table (and every imported model whose files are fetched) on both backends:
 * an eval-mode forward and one training step on the Vulkan device (validation layer on: any message
 * fails) agree with the CPU backend; and a trained model saved as safetensors reloads into a fresh
 * model and re-evaluates bit for bit. Inputs are small (the architecture's smallest size + 32)
 * so that the big networks fit the suite's time on a CPU Vulkan driver. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "../vulkan/vk_backend_util.h"

/* Every architecture of the table: the last test checks that none is missing. */
#define ARCH_LIST                                                                                          \
    "lenet", "resnet", "resnet18", "resnet50", "vgg19", "vgg19_bn", "mobilenet_v2", "efficientnet_b0", "inception_v3", \
        "xception", "inception_v3@nsfwjs", "mobilenet_v2@nsfwjs"
#define N 2
#define CLASSES 5

struct net {
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    ferry_ctx_t *ctx, *ectx, *tctx;
    ferry_graph_t *g, *eg, *tg;
    ferry_optim_t *opt;
    ferry_tensor_t *x, *y, *seed, *loss, *ex, *elogits, *tx, *ty, *tseed, *tloss;
    int c, h, w;
};

static int test_size(const ferry_arch_info *a)
{
    if (a->fixed_size || !a->default_size) return a->default_size ? a->default_size : 28;
    /* 32 above the smallest: at the smallest the last maps are 1x1 and a random-weight network's
     * gradients there hinge on rounding (kernels wider than the map, activations near 0) */
    if (!strcmp(a->name, "xception")) return a->min_size; /* its 36 separable blocks are the slowest on a
                                                                 CPU Vulkan driver; its maps stay 3x3 */
    return a->min_size + 32 > 32 ? a->min_size + 32 : 32;
}

/* false: an imported model whose files are not fetched (skipped unless FERRY_REQUIRE_DATA=1). */
static bool net_init(struct net *n, const char *arch, ferry_backend_t *be)
{
    memset(n, 0, sizeof *n);
    n->be = be;
    const ferry_arch_info *a = ferry_arch_find(arch);
    cr_assert_not_null(a);
    int size = test_size(a);
    ferry_rng_t *rng;
    cr_assert_eq(ferry_store_init(be, &n->st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    ferry_model_opts o = {.input_size = a->default_size ? size : 0};
    ferry_status s = ferry_model_init_ex(arch, 3, size, size, CLASSES, &o, n->st, rng, &n->m);
    ferry_rng_free(rng);
    if (s && a->imported) {
        const char *req = getenv("FERRY_REQUIRE_DATA");
        cr_assert(!(req && !strcmp(req, "1")), "%s: %s", arch, ferry_last_error());
        cr_log_warn("%s skipped: %s", arch, ferry_last_error());
        ferry_store_free(n->st);
        return false;
    }
    cr_assert_eq(s, FERRY_OK, "%s: %s", arch, ferry_last_error());
    ferry_model_input(n->m, &n->c, &n->h, &n->w);
    /* The training step: cross-entropy, backward, SGD with momentum, with batch norm on its stored
     * statistics. (In training mode, batch norm over 4 images of a deep network's small maps makes
     * the gradients chaotic: a 1e-6 change of the input moves them by tens of percent, so two
     * correct backends cannot be compared there; batch norm's training-mode backward is compared op
     * by op in tests/vulkan.) The training-mode forward is compared by its loss. */
    cr_assert_eq(ferry_ctx_init(&n->tctx), FERRY_OK);
    n->tx = ferry_input(n->tctx, "x", FERRY_F32, 4, (int64_t[]){N, n->c, n->h, n->w});
    n->ty = ferry_input(n->tctx, "y", FERRY_I32, 1, (int64_t[]){N});
    n->tseed = ferry_input(n->tctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts to = {.train = true, .seed = n->tseed};
    n->tloss = ferry_cross_entropy(
        n->tctx, ferry_model_classifier(n->m, n->tctx, ferry_model_features(n->m, n->tctx, n->tx, &to), &to), n->ty, 0.0f);
    cr_assert_not_null(n->tloss, "%s: %s", arch, ferry_last_error());
    ferry_tensor_set_output(n->tloss);
    cr_assert_eq(ferry_graph_init(n->tctx, be, &n->tg), FERRY_OK, "%s: %s", arch, ferry_last_error());
    cr_assert_eq(ferry_ctx_init(&n->ctx), FERRY_OK);
    n->x = ferry_input(n->ctx, "x", FERRY_F32, 4, (int64_t[]){N, n->c, n->h, n->w});
    n->y = ferry_input(n->ctx, "y", FERRY_I32, 1, (int64_t[]){N});
    n->seed = ferry_input(n->ctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = false, .seed = n->seed};
    n->loss = ferry_cross_entropy(n->ctx, ferry_model_classifier(n->m, n->ctx, ferry_model_features(n->m, n->ctx, n->x, &fo), &fo),
                                  n->y, 0.0f);
    cr_assert_not_null(n->loss, "%s: %s", arch, ferry_last_error());
    ferry_tensor_set_output(n->loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_SGD);
    oc.lr = 1e-3f;
    cr_assert_eq(ferry_backward(n->ctx, n->loss), FERRY_OK, "%s: %s", arch, ferry_last_error());
    cr_assert_eq(ferry_optim_init(&oc, n->st, &n->opt), FERRY_OK);
    cr_assert_eq(ferry_optim_record(n->opt, n->ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(n->ctx, be, &n->g), FERRY_OK, "%s: %s", arch, ferry_last_error());
    /* evaluation graph */
    cr_assert_eq(ferry_ctx_init(&n->ectx), FERRY_OK);
    ferry_forward_opts eo = {.train = false};
    n->ex = ferry_input(n->ectx, "x", FERRY_F32, 4, (int64_t[]){N, n->c, n->h, n->w});
    n->elogits = ferry_model_classifier(n->m, n->ectx, ferry_model_features(n->m, n->ectx, n->ex, &eo), &eo);
    cr_assert_not_null(n->elogits, "%s: %s", arch, ferry_last_error());
    ferry_tensor_set_output(n->elogits);
    cr_assert_eq(ferry_graph_init(n->ectx, be, &n->eg), FERRY_OK, "%s: %s", arch, ferry_last_error());
    return true;
}

static void net_free(struct net *n)
{
    ferry_graph_free(n->g);
    ferry_graph_free(n->eg);
    ferry_graph_free(n->tg);
    ferry_ctx_free(n->tctx);
    ferry_ctx_free(n->ctx);
    ferry_ctx_free(n->ectx);
    ferry_optim_free(n->opt);
    ferry_model_free(n->m);
    ferry_store_free(n->st);
}

static float *inputs(const struct net *n)
{
    size_t k = (size_t)N * n->c * n->h * n->w;
    float *x = malloc(k * sizeof *x);
    for (size_t i = 0; i < k; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    return x;
}

static void eval_logits(struct net *n, const float *x, float *out)
{
    cr_assert_eq(ferry_tensor_set(n->eg, n->ex, x, (size_t)N * n->c * n->h * n->w * sizeof *x), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(n->eg), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_get(n->eg, n->elogits, out, N * CLASSES * sizeof *out), FERRY_OK);
}

static float train_step(struct net *n, const float *x)
{
    int32_t y[N], seed = 5;
    for (int i = 0; i < N; i++) y[i] = i % CLASSES;
    cr_assert_eq(ferry_tensor_set(n->g, n->x, x, (size_t)N * n->c * n->h * n->w * sizeof *x), FERRY_OK);
    cr_assert_eq(ferry_tensor_set(n->g, n->y, y, sizeof y), FERRY_OK);
    if (ferry_graph_uses(n->g, n->seed)) cr_assert_eq(ferry_tensor_set(n->g, n->seed, &seed, sizeof seed), FERRY_OK);
    cr_assert_eq(ferry_optim_prepare_step(n->opt, n->g, 0.0), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(n->g), FERRY_OK, "%s", ferry_last_error());
    return ferry_tensor_get_scalar(n->g, n->loss);
}

/* The training-mode forward's loss (batch statistics, dropout). */
static float train_mode_loss(struct net *n, const float *x)
{
    int32_t y[N], seed = 5;
    for (int i = 0; i < N; i++) y[i] = i % CLASSES;
    cr_assert_eq(ferry_tensor_set(n->tg, n->tx, x, (size_t)N * n->c * n->h * n->w * sizeof *x), FERRY_OK);
    cr_assert_eq(ferry_tensor_set(n->tg, n->ty, y, sizeof y), FERRY_OK);
    if (ferry_graph_uses(n->tg, n->tseed)) cr_assert_eq(ferry_tensor_set(n->tg, n->tseed, &seed, sizeof seed), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(n->tg), FERRY_OK, "%s", ferry_last_error());
    return ferry_tensor_get_scalar(n->tg, n->tloss);
}

static double max_abs(const float *a, int k)
{
    double m = 0;
    for (int i = 0; i < k; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

static void compare(const char *arch, const char *what, const float *a, const float *b)
{
    double d = 0, ref = max_abs(a, N * CLASSES);
    for (int i = 0; i < N * CLASSES; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) d = e;
    }
    cr_log_info("%s %s: max |cpu - vulkan| %.3g (max |logit| %.3g)", arch, what, d, ref);
    cr_expect(d <= 1e-3 * ref + 1e-5, "%s %s: CPU and Vulkan differ by %g (max |logit| %g)", arch, what, d, ref);
}

/* CPU and Vulkan: eval logits, the first training step's loss, eval logits after the step. */
static void backends_agree(const char *arch)
{
    ferry_backend_t *cpu, *vk = vk_test_backend();
    cr_assert_eq(ferry_backend_cpu_init(2, &cpu), FERRY_OK);
    struct net a, b;
    if (!net_init(&a, arch, cpu)) {
        ferry_backend_free(cpu);
        ferry_backend_free(vk);
        return;
    }
    cr_assert(net_init(&b, arch, vk));
    float *x = inputs(&a), la[N * CLASSES], lb[N * CLASSES];
    eval_logits(&a, x, la);
    eval_logits(&b, x, lb);
    compare(arch, "eval forward", la, lb);
    float lta = train_mode_loss(&a, x), ltb = train_mode_loss(&b, x);
    cr_log_info("%s training-mode loss: cpu %.6f vulkan %.6f", arch, (double)lta, (double)ltb);
    /* batch statistics over N = 2 images amplify the backends' summation-order differences through
     * Inception-v3's 94 BN layers: measured 1.0e-4 relative on an AMD EPYC; below 1e-4 on earlier machines */
    cr_expect(isfinite(lta) && fabsf(lta - ltb) <= 3e-4f * fmaxf(1.0f, fabsf(lta)),
              "%s: training-mode loss cpu %g vulkan %g", arch, (double)lta, (double)ltb);
    float lossa = train_step(&a, x), lossb = train_step(&b, x);
    cr_log_info("%s training step loss: cpu %.6f vulkan %.6f", arch, (double)lossa, (double)lossb);
    cr_expect(isfinite(lossa) && fabsf(lossa - lossb) <= 1e-4f * fmaxf(1.0f, fabsf(lossa)),
              "%s: training loss cpu %g vulkan %g", arch, (double)lossa, (double)lossb);
    /* every parameter after the step, relative to its own scale or, for near-cancelling sums (a
     * bias's gradient, a running mean near 0), to a hundredth of the largest entry of its kind
     * (values or momentum buffers) */
    double worst = 0, scale[2] = {0, 0};
    const char *worst_name = "-";
    int ne = ferry_store_count(a.st);
    double *dmax = calloc((size_t)ne, sizeof *dmax), *rmax = calloc((size_t)ne, sizeof *rmax);
    for (int i = 0; i < ne; i++) {
        int64_t k = ferry_store_numel(a.st, i);
        float *va = malloc((size_t)k * sizeof *va), *vb = malloc((size_t)k * sizeof *vb);
        cr_assert_eq(ferry_store_get(a.st, i, va, (size_t)k * sizeof *va), FERRY_OK);
        cr_assert_eq(ferry_store_get(b.st, ferry_store_find(b.st, ferry_store_name(a.st, i)), vb, (size_t)k * sizeof *vb),
                     FERRY_OK);
        for (int64_t j = 0; j < k; j++) {
            double e = fabs((double)va[j] - (double)vb[j]);
            if (!(e <= dmax[i])) dmax[i] = e;
            rmax[i] = fmax(rmax[i], fabs((double)va[j]));
        }
        int kind = strchr(ferry_store_name(a.st, i), '#') != NULL;
        scale[kind] = fmax(scale[kind], rmax[i]);
        free(va);
        free(vb);
    }
    for (int i = 0; i < ne; i++) {
        int kind = strchr(ferry_store_name(a.st, i), '#') != NULL;
        double rel = dmax[i] / (rmax[i] + 0.01 * scale[kind] + 1e-12);
        if (getenv("ARCH_DEBUG") && rel > 1e-4)
            cr_log_info("  %s %.3g (max %.3g)", ferry_store_name(a.st, i), rel, rmax[i]);
        if (!(rel <= worst)) {
            worst = rel;
            worst_name = ferry_store_name(a.st, i);
        }
    }
    free(dmax);
    free(rmax);
    cr_log_info("%s after one step: worst store entry %s, max |cpu - vulkan| / max |value| %.3g", arch, worst_name, worst);
    /* Every op agrees to about 1e-6 (tests/vulkan, tests/core); through 50-100 layers the deepest
     * networks' parameter gradients still differ by up to 2e-2 of their scale in a few entries near
     * the loss (resnet50's layer4.2.bn2.bias: 2.1e-2), which this bound admits; the logits after
     * the step are held to 1e-3 below. */
    cr_expect(worst <= 5e-2, "%s: after one step CPU and Vulkan differ in %s by %g of its scale", arch, worst_name, worst);
    eval_logits(&a, x, la);
    eval_logits(&b, x, lb);
    compare(arch, "eval after one step", la, lb);
    vk_test_no_validation_messages(vk);
    free(x);
    net_free(&a);
    net_free(&b);
    ferry_backend_free(cpu);
    ferry_backend_free(vk);
}

/* Trains a few steps, saves, reloads into a fresh model: the same logits to the bit. */
static void save_reload(const char *arch)
{
    ferry_backend_t *cpu;
    cr_assert_eq(ferry_backend_cpu_init(2, &cpu), FERRY_OK);
    struct net a, b;
    if (!net_init(&a, arch, cpu)) {
        ferry_backend_free(cpu);
        return;
    }
    float *x = inputs(&a), la[N * CLASSES], lb[N * CLASSES];
    for (int s = 0; s < 2; s++) train_step(&a, x);
    eval_logits(&a, x, la);
    char path[] = "/tmp/ferry-reload-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(ferry_store_save(a.st, path, false), FERRY_OK, "%s", ferry_last_error());
    cr_assert(net_init(&b, arch, cpu));
    eval_logits(&b, x, lb);
    cr_assert_neq(memcmp(la, lb, sizeof la), 0, "%s: training changed nothing", arch);
    cr_assert_eq(ferry_model_load_weights(b.m, path, false), FERRY_OK, "%s", ferry_last_error());
    eval_logits(&b, x, lb);
    cr_expect_eq(memcmp(la, lb, sizeof la), 0, "%s: reloaded logits differ from the saved model's", arch);
    unlink(path);
    free(x);
    net_free(&a);
    net_free(&b);
    ferry_backend_free(cpu);
}

/* One test per architecture keeps the failures apart; the table is walked so none is forgotten. */
Test(arch_backends, every_architecture_is_tested_here)
{
    static const char *const listed[] = {ARCH_LIST};
    for (int i = 0; i < ferry_arch_count(); i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof listed / sizeof listed[0]; k++) found |= !strcmp(listed[k], ferry_arch_at(i)->name);
        cr_expect(found, "architecture %s has no backend test in test_arch_backends.c", ferry_arch_at(i)->name);
    }
}

#define ARCH_TESTS(id, name)                                                                                        \
    Test(arch_backends, id##_cpu_vulkan, .timeout = 900 * FERRY_TIMEOUT_SCALE) { backends_agree(name); }                                  \
    Test(arch_backends, id##_save_reload, .timeout = 300 * FERRY_TIMEOUT_SCALE) { save_reload(name); }

ARCH_TESTS(lenet, "lenet")
ARCH_TESTS(resnet, "resnet")
ARCH_TESTS(resnet18, "resnet18")
ARCH_TESTS(resnet50, "resnet50")
ARCH_TESTS(vgg19, "vgg19")
ARCH_TESTS(vgg19_bn, "vgg19_bn")
ARCH_TESTS(mobilenet_v2, "mobilenet_v2")
ARCH_TESTS(efficientnet_b0, "efficientnet_b0")
ARCH_TESTS(inception_v3, "inception_v3")
ARCH_TESTS(xception, "xception")
ARCH_TESTS(inception_v3_nsfwjs, "inception_v3@nsfwjs")
ARCH_TESTS(mobilenet_v2_nsfwjs, "mobilenet_v2@nsfwjs")
