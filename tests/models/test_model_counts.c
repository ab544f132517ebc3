/* Parameter counts and multiply-adds of torchvision's architectures at 224x224 with 1000 classes,
 * against figures computed from torchvision 0.14's models: parameters = sum of numel over
 * model.parameters() (batch norm running statistics excluded), multiply-adds = sum over every Conv2d
 * of out_elements·(in_channels/groups)·kh·kw and over every Linear of in·out, on one image. */
#include <criterion/criterion.h>

#include "ferry/ferry.h"

/* head: a parameter of the head that methods reset; body: one of the backbone's, nearest the head. */
static void counts(const char *arch, int64_t params, int64_t macs, int64_t features, const char *head,
                   const char *body)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_init_device("cpu", 2, &be), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init(arch, 3, 224, 224, 1000, st, rng, &m), FERRY_OK, "%s: %s", arch,
                 ferry_last_error());
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    cr_expect(c == 3 && h == 224 && w == 224, "%s: default input %dx%dx%d", arch, c, h, w);
    cr_expect_eq(ferry_model_param_count(m), params, "%s: %lld parameters, torchvision %lld", arch,
                 (long long)ferry_model_param_count(m), (long long)params);
    cr_expect_eq(ferry_model_macs(m), macs, "%s: %lld multiply-adds, torchvision %lld", arch,
                 (long long)ferry_model_macs(m), (long long)macs);
    cr_expect_eq(ferry_model_feature_dim(m), features, "%s: %lld features", arch,
                 (long long)ferry_model_feature_dim(m));
    cr_expect(ferry_store_find(st, head) >= 0 && !ferry_model_is_backbone(m, head), "%s: %s is not the head", arch,
              head);
    cr_expect(ferry_store_find(st, body) >= 0 && ferry_model_is_backbone(m, body), "%s: %s is not the backbone",
              arch, body);
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

Test(model_counts, resnet18) { counts("resnet18", 11689512, 1814073344, 512, "fc.weight", "layer4.1.bn2.bias"); }
Test(model_counts, resnet50) { counts("resnet50", 25557032, 4089184256, 2048, "fc.weight", "layer4.2.bn3.bias"); }
Test(model_counts, vgg19)
{
    counts("vgg19", 143667240, 19632062464, 4096, "classifier.6.weight", "classifier.3.weight");
}
Test(model_counts, vgg19_bn)
{
    counts("vgg19_bn", 143678248, 19632062464, 4096, "classifier.6.bias", "classifier.3.bias");
}
Test(model_counts, mobilenet_v2)
{
    counts("mobilenet_v2", 3504872, 300774272, 1280, "classifier.1.weight", "features.18.1.weight");
}
Test(model_counts, efficientnet_b0)
{
    counts("efficientnet_b0", 5288548, 385814752, 1280, "classifier.1.weight", "features.8.1.weight");
}

/* The smallest inputs each allows, and one below VGG's. */
Test(model_counts, min_sizes)
{
    static const char *const names[] = {"resnet18", "resnet50", "vgg19", "vgg19_bn", "mobilenet_v2",
                                        "efficientnet_b0"};
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_init_device("cpu", 2, &be), FERRY_OK);
    for (int i = 0; i < 6; i++) {
        const ferry_arch_info *in = ferry_arch_find(names[i]);
        cr_assert_not_null(in, "%s is not in the table", names[i]);
        cr_expect_eq(in->default_size, 224);
        cr_expect_str_eq(in->source, "torchvision 0.14 layout");
        cr_expect_float_eq(in->pre.std[2], 0.225f, 1e-7);
        ferry_store_t *st;
        ferry_rng_t *rng;
        ferry_model_t *m;
        cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
        cr_assert_eq(ferry_rng_init(1, &rng), FERRY_OK);
        int s = in->min_size;
        if (strncmp(names[i], "vgg", 3) != 0) { /* VGG's classifier is 100M parameters at any size */
            cr_expect_eq(ferry_model_init_ex(names[i], 3, s, s, 5, &(ferry_model_opts){.input_size = s}, st, rng, &m),
                         FERRY_OK, "%s at %dx%d: %s", names[i], s, s, ferry_last_error());
            ferry_model_free(m);
        } else {
            cr_expect_eq(s, 32);
            cr_expect_neq(ferry_model_init_ex(names[i], 3, 31, 31, 5, &(ferry_model_opts){.input_size = 31}, st, rng,
                                              &m),
                          FERRY_OK, "%s at 31x31 should be refused", names[i]);
        }
        ferry_rng_free(rng);
        ferry_store_free(st);
    }
    ferry_backend_free(be);
}
