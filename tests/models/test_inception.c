/* Inception-v3 (torchvision 0.14's layout) against torchvision, and Xception (keras.applications' layout)
 * against the PyTorch definition in xception_ref.py: eval-mode logits and features on the same random
 * weights, at the default input and at an odd size; Inception-v3 once more with its auxiliary
 * classifier, whose weights must load while the logits stay the same. Also: parameter counts against
 * torchvision's and Keras', the smallest inputs, and a few training steps at the smallest input. */
#include "modelref.h"

static void skip_without_torchvision(void)
{
    if (!modelref_python_ok("torchvision")) cr_skip_test("/usr/bin/python3 has no torchvision");
}

static void check(const char *generator, const char *arch, int size, int classes)
{
    skip_without_torchvision();
    char dir[64], args[64];
    snprintf(args, sizeof args, "%s %d %d", arch, size, classes);
    modelref_generate(generator, args, dir);
    modelref_check(dir, arch, size, classes, NULL, "cpu");
    modelref_cleanup(dir);
}

/* Trainable parameters of arch at its default input with 1000 classes. */
static int64_t param_count(const char *arch, bool aux)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    ferry_model_opts o = {.aux_logits = aux};
    cr_assert_eq(ferry_model_init_ex(arch, 3, 32, 32, 1000, &o, st, rng, &m), FERRY_OK, "%s", ferry_last_error());
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    cr_expect(c == 3 && h == 299 && w == 299, "%s: default input %dx%dx%d, not 3x299x299", arch, c, h, w);
    cr_expect_eq(ferry_model_feature_dim(m), 2048);
    int64_t n = ferry_model_param_count(m);
    cr_log_info("%s%s: %lld parameters, %.3f G multiply-adds at 299x299", arch, aux ? " (aux)" : "", (long long)n,
                (double)ferry_model_macs(m) / 1e9);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
    return n;
}

Test(inception, parameter_counts)
{
    /* torchvision's inception_v3(aux_logits=False / True); keras.applications' Xception's trainable
     * parameters (22,910,480 less the 54,528 moving statistics). */
    cr_expect_eq(param_count("inception_v3", false), 23834568);
    cr_expect_eq(param_count("inception_v3", true), 27161264);
    cr_expect_eq(param_count("xception", false), 22855952);
}

Test(inception, inception_v3_299, .timeout = 600 * FERRY_TIMEOUT_SCALE) { check("tv_ref.py", "inception_v3", 299, 10); }
Test(inception, inception_v3_odd, .timeout = 600 * FERRY_TIMEOUT_SCALE) { check("tv_ref.py", "inception_v3", 139, 7); }

/* aux_logits: torchvision's state dict with AuxLogits.* loads (strictly), and the logits are those of
 * the main classifier; the same file is refused by a model without the auxiliary classifier, naming
 * the tensors; its backbone loads into a model for another class count; an input too small for the
 * auxiliary classifier is refused. */
Test(inception, inception_v3_aux, .timeout = 600 * FERRY_TIMEOUT_SCALE)
{
    skip_without_torchvision();
    char dir[64] = "/tmp/ferry-modelref-XXXXXX", cmd[512], path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/models/tv_ref.py inception_v3 299 5 %s --aux", SOURCE_DIR,
             dir);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    ferry_model_opts aux = {.aux_logits = true};
    modelref_check(dir, "inception_v3", 299, 5, &aux, "cpu");

    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init_ex("inception_v3", 3, 299, 299, 5, NULL, st, rng, &m), FERRY_OK, "%s",
                 ferry_last_error());
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    cr_expect_neq(ferry_model_load_weights(m, path, false), FERRY_OK);
    cr_expect_not_null(strstr(ferry_last_error(), "unexpected: AuxLogits."), "%s", ferry_last_error());
    ferry_model_free(m);
    ferry_store_free(st);
    /* A backbone for another class count: both fc and AuxLogits.fc are the head's, skipped. */
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_model_init_ex("inception_v3", 3, 299, 299, 3, &aux, st, rng, &m), FERRY_OK, "%s",
                 ferry_last_error());
    cr_expect_neq(ferry_model_load_weights(m, path, false), FERRY_OK);
    cr_expect_eq(ferry_model_load_weights(m, path, true), FERRY_OK, "%s", ferry_last_error());
    cr_expect(ferry_model_is_backbone(m, "AuxLogits.conv0.conv.weight") && !ferry_model_is_backbone(m, "fc.bias") &&
              !ferry_model_is_backbone(m, "AuxLogits.fc.weight"));
    ferry_model_free(m);
    ferry_store_free(st);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    aux.input_size = 298; /* Mixed_6e 16x16 */
    cr_expect_neq(ferry_model_init_ex("inception_v3", 3, 298, 298, 5, &aux, st, rng, &m), FERRY_OK);
    cr_expect_not_null(strstr(ferry_last_error(), "auxiliary classifier"), "%s", ferry_last_error());
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    modelref_cleanup(dir);
}

Test(inception, xception_299, .timeout = 600 * FERRY_TIMEOUT_SCALE) { check("xception_ref.py", "xception", 299, 10); }
Test(inception, xception_odd, .timeout = 600 * FERRY_TIMEOUT_SCALE) { check("xception_ref.py", "xception", 135, 7); }

/* The smallest inputs the architectures allow build (torchvision's 75 for Inception-v3, Keras' 71 for
 * Xception: a 1x1 map after the last stride-2 layer), one less is refused. */
Test(inception, smallest_inputs)
{
    const char *arch[2] = {"inception_v3", "xception"};
    for (int a = 0; a < 2; a++) {
        int min = ferry_arch_find(arch[a])->min_size;
        for (int size = min - 1; size <= min; size++) {
            ferry_backend_t *be;
            ferry_store_t *st;
            ferry_rng_t *rng;
            ferry_model_t *m = NULL;
            cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK, "%s", ferry_last_error());
            cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
            cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
            ferry_model_opts o = {.input_size = size};
            ferry_status s = ferry_model_init_ex(arch[a], 3, size, size, 3, &o, st, rng, &m);
            if (size < min)
                cr_expect_neq(s, FERRY_OK, "%s at %dx%d", arch[a], size, size);
            else
                cr_expect_eq(s, FERRY_OK, "%s at %dx%d: %s", arch[a], size, size, ferry_last_error());
            ferry_model_free(m);
            ferry_rng_free(rng);
            ferry_store_free(st);
            ferry_backend_free(be);
        }
    }
}

/* Adam steps on one fixed batch at input `size`: returns the first and last loss (NaN without steps);
 * with aux_logits the auxiliary classifier's parameters take no part and stay as they were. */
static void train_steps(const char *arch, int size, bool aux, int steps, float *first, float *last)
{
    enum { N = 4, K = 4 };
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    ferry_ctx_t *ctx;
    cr_assert_eq(ferry_backend_init_device("cpu", 2, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    ferry_model_opts o = {.input_size = size, .aux_logits = aux};
    cr_assert_eq(ferry_model_init_ex(arch, 3, size, size, K, &o, st, rng, &m), FERRY_OK, "%s", ferry_last_error());
    int aux_w = ferry_store_find(st, "AuxLogits.conv1.conv.weight");
    cr_assert_eq(aux_w >= 0, aux, "%s: AuxLogits.* %s", arch, aux ? "missing" : "present without aux_logits");
    float aux_before[8] = {0}, aux_after[8] = {0};
    if (aux) ferry_store_get(st, aux_w, aux_before, sizeof aux_before);
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){N, 3, size, size});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){N});
    ferry_tensor_t *seed = ferry_input(ctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = true, .seed = seed};
    ferry_tensor_t *loss =
        ferry_cross_entropy(ctx, ferry_model_classifier(m, ctx, ferry_model_features(m, ctx, x, &fo), &fo), y, 0.0f);
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_ADAM);
    ferry_optim_t *opt;
    ferry_graph_t *g;
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_init(&oc, st, &opt), FERRY_OK);
    cr_assert_eq(ferry_optim_record(opt, ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    size_t nx = (size_t)N * 3 * size * size;
    float *xv = malloc(nx * sizeof *xv);
    int32_t yv[N];
    for (size_t i = 0; i < nx; i++) xv[i] = (float)ferry_rng_uniform(rng, -1, 1);
    for (int i = 0; i < N; i++) yv[i] = i % K;
    ferry_tensor_set(g, x, xv, nx * sizeof *xv);
    ferry_tensor_set(g, y, yv, sizeof yv);
    *first = *last = NAN;
    for (int s = 0; s < steps; s++) {
        int32_t sd = s;
        if (ferry_graph_uses(g, seed)) ferry_tensor_set(g, seed, &sd, sizeof sd);
        cr_assert_eq(ferry_optim_prepare_step(opt, g, (double)s / steps), FERRY_OK);
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
        float l = ferry_tensor_get_scalar(g, loss);
        cr_assert(isfinite(l), "%s: loss %g at step %d", arch, (double)l, s);
        if (s == 0) *first = l;
        *last = l;
    }
    if (steps)
        cr_log_info("%s %dx%d%s: loss %.4g -> %.4g in %d steps", arch, size, size, aux ? " (aux)" : "",
                    (double)*first, (double)*last, steps);
    if (aux) {
        ferry_store_get(st, aux_w, aux_after, sizeof aux_after);
        cr_expect_arr_eq(aux_before, aux_after, sizeof aux_before, "%s: the auxiliary classifier changed", arch);
        /* The optimizer keeps state for the parameters it updates only. */
        cr_expect_lt(ferry_store_find(st, "AuxLogits.conv1.conv.weight#exp_avg"), 0, "%s: AuxLogits has optimizer state",
                     arch);
        cr_expect_geq(ferry_store_find(st, "fc.weight#exp_avg"), 0, "%s: fc has no optimizer state", arch);
    }
    free(xv);
    ferry_graph_free(g);
    ferry_optim_free(opt);
    ferry_ctx_free(ctx);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(inception, training_steps, .timeout = 600 * FERRY_TIMEOUT_SCALE)
{
    float first, last;
    train_steps("inception_v3", 75, false, 8, &first, &last);
    cr_expect_lt(last, 0.5f * first, "inception_v3: loss %g -> %g", (double)first, (double)last);
    train_steps("xception", 71, false, 8, &first, &last);
    cr_expect_lt(last, 0.5f * first, "xception: loss %g -> %g", (double)first, (double)last);
    /* With the auxiliary classifier (299x299, the smallest input it allows): the training graph builds
     * and its optimizer leaves AuxLogits.* out; no step is run (one costs tens of seconds here). */
    train_steps("inception_v3", 299, true, 0, &first, &last);
}
