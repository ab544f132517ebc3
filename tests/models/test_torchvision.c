/* torchvision's ImageNet architectures (resnet18, resnet50, vgg19, vgg19_bn, mobilenet_v2,
 * efficientnet_b0): the eval-mode forward against torchvision 0.14 on the same random weights (loaded
 * strictly by name) at the default 224x224 and at one odd size, on the CPU backend; and a state dict
 * of another architecture refused with every missing, unexpected and mis-shaped tensor named. */
#include "modelref.h"

static void skip_without_torchvision(void)
{
    if (!modelref_python_ok("torchvision")) cr_skip_test("/usr/bin/python3 has no torchvision");
}

static void check(const char *arch, int size, int classes)
{
    skip_without_torchvision();
    char dir[64], args[128];
    snprintf(args, sizeof args, "%s %d %d", arch, size, classes);
    modelref_generate("tv_ref.py", args, dir);
    modelref_check(dir, arch, size, classes, NULL, "cpu");
    modelref_cleanup(dir);
}

TestSuite(torchvision, .timeout = 600 * FERRY_TIMEOUT_SCALE);

Test(torchvision, resnet18_224) { check("resnet18", 224, 10); }
Test(torchvision, resnet18_97) { check("resnet18", 97, 7); }
Test(torchvision, resnet50_224) { check("resnet50", 224, 10); }
Test(torchvision, resnet50_129) { check("resnet50", 129, 7); }
Test(torchvision, vgg19_224) { check("vgg19", 224, 10); }
/* 67: the last stage is 2x2, so the 7x7 adaptive pool repeats values */
Test(torchvision, vgg19_67) { check("vgg19", 67, 7); }
Test(torchvision, vgg19_bn_224) { check("vgg19_bn", 224, 10); }
/* 99: a 3x3 last stage, overlapping 7x7 adaptive pool windows */
Test(torchvision, vgg19_bn_99) { check("vgg19_bn", 99, 7); }
Test(torchvision, mobilenet_v2_224) { check("mobilenet_v2", 224, 10); }
Test(torchvision, mobilenet_v2_97) { check("mobilenet_v2", 97, 7); }
Test(torchvision, efficientnet_b0_224) { check("efficientnet_b0", 224, 10); }
Test(torchvision, efficientnet_b0_129) { check("efficientnet_b0", 129, 7); }

/* Builds `arch` at 32x32 with 10 classes, loads weights of `file_arch` and returns the error (copied). */
static void load_other(const char *arch, const char *dir, char *err, size_t n, float *before, float *after)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    char path[128];
    cr_assert_eq(ferry_backend_init_device("cpu", 2, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init_ex(arch, 3, 32, 32, 10, &(ferry_model_opts){.input_size = 32}, st, rng, &m),
                 FERRY_OK, "%s", ferry_last_error());
    int i = ferry_store_find(st, "conv1.weight");
    cr_assert_geq(i, 0);
    cr_assert_eq(ferry_store_get(st, i, before, 64 * 3 * 7 * 7 * sizeof(float)), FERRY_OK);
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    cr_assert_neq(ferry_model_load_weights(m, path, false), FERRY_OK, "%s loaded another architecture's weights",
                  arch);
    snprintf(err, n, "%s", ferry_last_error());
    /* nothing changed: conv1.weight has the same shape in both, and would have been overwritten */
    cr_assert_eq(ferry_store_get(st, i, after, 64 * 3 * 7 * 7 * sizeof(float)), FERRY_OK);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(torchvision, other_architecture_refused)
{
    skip_without_torchvision();
    static float before[64 * 3 * 7 * 7], after[64 * 3 * 7 * 7];
    char d18[64], d50[64], err[4096];
    modelref_generate("tv_ref.py", "resnet18 32 10", d18);
    modelref_generate("tv_ref.py", "resnet50 32 10", d50);

    /* resnet18's names are a subset of resnet50's: missing and mis-shaped tensors */
    load_other("resnet50", d18, err, sizeof err, before, after);
    cr_log_info("resnet18 weights into resnet50: %s", err);
    cr_expect(strstr(err, "weights.safetensors") != NULL, "the error names the file: %s", err);
    cr_expect(strstr(err, "missing: ") && strstr(err, "layer1.0.conv3.weight"), "missing not listed: %s", err);
    cr_expect(strstr(err, "mis-shaped: ") && strstr(err, "fc.weight (file 10x512, model 10x2048)"),
              "mis-shaped fc.weight not listed: %s", err);
    cr_expect(strstr(err, "layer1.0.conv1.weight (file 64x64x3x3, model 64x64x1x1)"),
              "mis-shaped layer1.0.conv1.weight not listed: %s", err);
    cr_expect(strstr(err, "unexpected: ") == NULL, "nothing in resnet18 is unexpected in resnet50: %s", err);
    cr_expect(memcmp(before, after, sizeof before) == 0, "a refused load changed conv1.weight");

    /* and the other way: unexpected tensors too */
    load_other("resnet18", d50, err, sizeof err, before, after);
    cr_log_info("resnet50 weights into resnet18: %s", err);
    cr_expect(strstr(err, "unexpected: ") && strstr(err, "layer1.0.bn3.bias"), "unexpected not listed: %s", err);
    cr_expect(strstr(err, "mis-shaped: ") && strstr(err, "fc.weight (file 10x2048, model 10x512)"),
              "mis-shaped not listed: %s", err);
    cr_expect(strstr(err, "missing: ") == NULL, "resnet18 lacks nothing resnet50 has: %s", err);
    cr_expect(memcmp(before, after, sizeof before) == 0, "a refused load changed conv1.weight");

    modelref_cleanup(d18);
    modelref_cleanup(d50);
}
