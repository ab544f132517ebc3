/* Inception-v3 (torchvision 0.14's layout) against torchvision, and Xception (keras.applications' layout)
 * against the PyTorch definition in xception_ref.py: eval-mode logits and features on the same random
 * weights, at the default input and at an odd size; Inception-v3 once more with its auxiliary
 * classifier, whose weights must load while the logits stay the same. */
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

Test(inception, inception_v3_299, .timeout = 600) { check("tv_ref.py", "inception_v3", 299, 10); }
Test(inception, inception_v3_odd, .timeout = 600) { check("tv_ref.py", "inception_v3", 139, 7); }

/* aux_logits: torchvision's state dict with AuxLogits.* loads (strictly), and the logits are those of
 * the main classifier; the same file is refused by a model without the auxiliary classifier, naming
 * the tensors; an input too small for the auxiliary classifier is refused. */
Test(inception, inception_v3_aux, .timeout = 600)
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
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    aux.input_size = 298; /* Mixed_6e 16x16 */
    cr_expect_neq(ferry_model_init_ex("inception_v3", 3, 298, 298, 5, &aux, st, rng, &m), FERRY_OK);
    cr_expect_not_null(strstr(ferry_last_error(), "auxiliary classifier"), "%s", ferry_last_error());
    ferry_store_free(st);
    ferry_rng_free(rng);
    ferry_backend_free(be);
    modelref_cleanup(dir);
}

Test(inception, xception_299, .timeout = 600) { check("xception_ref.py", "xception", 299, 10); }
Test(inception, xception_odd, .timeout = 600) { check("xception_ref.py", "xception", 135, 7); }

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
