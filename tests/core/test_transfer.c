/* Transferring and freezing the first n layers (ferry train --transfer-layers / --freeze-layers):
 * copied layers hold the checkpoint's bits, the others a fresh model's initialisation with the same
 * seed; frozen layers keep their bits through training while the others change. Uses real MNIST. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/io.h"
#include "require_data.h"


static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-transfer-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    const char *files[] = {"ckpt", "fresh", "resnet", "out", "out2"};
    char p[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s.safetensors", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* The file NAME.safetensors in the test's folder; one buffer per name, so that a path stays valid. */
static const char *path(const char *name)
{
    static const char *names[] = {"ckpt", "fresh", "resnet", "out", "out2"};
    static char p[5][128];
    for (int k = 0; k < 5; k++)
        if (!strcmp(names[k], name)) {
            snprintf(p[k], sizeof p[k], "%s/%s.safetensors", dir, name);
            return p[k];
        }
    cr_assert_fail("no file %s", name);
    return NULL;
}

/* A freshly initialised model for MNIST's geometry, saved: what ferry_train starts from with `seed`. */
static void save_fresh(const char *arch, uint64_t seed, const char *file)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(seed, &rng), FERRY_OK);
    cr_assert_eq(ferry_model_init(arch, 1, 28, 28, 10, st, rng, &m), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_save(st, file, false), FERRY_OK, "%s", ferry_last_error());
    ferry_model_free(m);
    ferry_rng_free(rng);
    ferry_store_free(st);
    ferry_backend_free(be);
}

static ferry_train_opts opts(ferry_backend_t *be, uint64_t seed)
{
    ferry_train_opts o = ferry_train_defaults();
    o.epochs = 1;
    o.batch = 128;
    o.seed = seed;
    o.backend = be;
    return o;
}

static void train(ferry_train_opts *o)
{
    ferry_train_result r;
    cr_assert_eq(ferry_train(o, &r), FERRY_OK, "%s", ferry_last_error());
}

/* Whether every tensor whose name starts with `prefix` has the same bits in a and b (and there is one). */
static bool same_bits(const char *a, const char *b, const char *prefix)
{
    ferry_safetensors_t *fa, *fb;
    cr_assert_eq(ferry_safetensors_open(a, &fa), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_safetensors_open(b, &fb), FERRY_OK, "%s", ferry_last_error());
    int seen = 0;
    bool same = true;
    for (size_t k = 0; k < ferry_safetensors_count(fa); k++) {
        const ferry_st_entry *ea = ferry_safetensors_entry(fa, k);
        if (strncmp(ea->name, prefix, strlen(prefix)) != 0) continue;
        const ferry_st_entry *eb = ferry_safetensors_find(fb, ea->name);
        cr_assert_not_null(eb, "%s: no tensor '%s'", b, ea->name);
        seen++;
        if (ea->nbytes != eb->nbytes || memcmp(ea->data, eb->data, ea->nbytes) != 0) same = false;
    }
    cr_assert_gt(seen, 0, "%s: no tensor named %s*", a, prefix);
    ferry_safetensors_free(fa);
    ferry_safetensors_free(fb);
    return same;
}

Test(transfer, first_layers_from_the_checkpoint_the_rest_fresh, .init = make_dir, .fini = remove_dir,
     .timeout = 300 * FERRY_TIMEOUT_SCALE)
{
    require_mnist();
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    save_fresh("lenet", 99, path("ckpt"));
    save_fresh("lenet", 7, path("fresh"));
    /* conv1, conv2 from the checkpoint; conv1..fc2 frozen, so only the classifier trains */
    ferry_train_opts o = opts(be, 7);
    o.init_path = path("ckpt");
    o.transfer_layers = 2;
    o.freeze_layers = 4;
    o.save_path = path("out");
    train(&o);
    cr_assert(same_bits(path("out"), path("ckpt"), "features.0."), "conv1 is not the checkpoint's");
    cr_assert(same_bits(path("out"), path("ckpt"), "features.3."), "conv2 is not the checkpoint's");
    cr_assert(same_bits(path("out"), path("fresh"), "classifier.0."), "fc1 is not the fresh initialisation");
    cr_assert(same_bits(path("out"), path("fresh"), "classifier.2."), "fc2 is not the fresh initialisation");
    cr_assert(!same_bits(path("out"), path("ckpt"), "classifier.0."), "fc1 was copied");
    cr_assert(!same_bits(path("out"), path("fresh"), "classifier.4."), "the classifier did not train");
    /* without --transfer-layers the whole checkpoint is loaded */
    o.transfer_layers = 0;
    o.save_path = path("out2");
    train(&o);
    cr_assert(same_bits(path("out2"), path("ckpt"), "classifier.2."), "--init without --transfer-layers");
    ferry_backend_free(be);
}

Test(transfer, frozen_layers_keep_their_bits, .init = make_dir, .fini = remove_dir, .timeout = 300 * FERRY_TIMEOUT_SCALE)
{
    require_mnist();
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(2, &be), FERRY_OK);
    save_fresh("lenet", 5, path("ckpt"));
    ferry_train_opts o = opts(be, 5);
    o.freeze_layers = 2;
    o.save_path = path("out");
    train(&o);
    cr_assert(same_bits(path("out"), path("ckpt"), "features."), "a frozen conv layer changed");
    cr_assert(!same_bits(path("out"), path("ckpt"), "classifier.0."), "fc1 did not train");
    cr_assert(!same_bits(path("out"), path("ckpt"), "classifier.2."), "fc2 did not train");
    cr_assert(!same_bits(path("out"), path("ckpt"), "classifier.4."), "the classifier did not train");
    ferry_backend_free(be);
}

Test(transfer, layers_in_forward_order_and_bad_counts, .init = make_dir, .fini = remove_dir, .timeout = 120 * FERRY_TIMEOUT_SCALE)
{
    require_mnist();
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_train_opts o = opts(be, 1);
    char names[1024];
    int n = 0;
    o.freeze_layers = 1;
    cr_assert_eq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(n, 5);
    cr_assert_str_eq(names, "1 features.0 (conv 32x1x5x5), 2 features.3 (conv 48x32x5x5), "
                            "3 classifier.0 (linear 100x768), 4 classifier.2 (linear 100x100), "
                            "5 classifier.4 (linear 10x100)");
    o.freeze_layers = 5;
    cr_assert_eq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "--freeze-layers 5: lenet has 5 layers"), "%s", ferry_last_error());
    o.freeze_layers = 0;
    o.transfer_layers = 2;
    cr_assert_eq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "needs --init"), "%s", ferry_last_error());
    save_fresh("lenet", 3, path("ckpt"));
    o.init_path = path("ckpt");
    o.transfer_layers = 6;
    cr_assert_eq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "--transfer-layers 6: lenet has 5 layers"), "%s", ferry_last_error());
    o.transfer_layers = 5;
    cr_assert_eq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_OK, "%s", ferry_last_error());
    /* a ResNet's checkpoint names tensors LeNet does not have */
    save_fresh("resnet", 3, path("resnet"));
    o.init_path = path("resnet");
    o.transfer_layers = 1;
    cr_assert_neq(ferry_train_layers(&o, names, sizeof names, &n), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "resnet.safetensors: tensor ") &&
                  strstr(ferry_last_error(), "is not a parameter of lenet: a checkpoint of another architecture"),
              "%s", ferry_last_error());
    ferry_backend_free(be);
}

/* iters_per_epoch for plain training: epochs of N steps from one continuing stream of shuffled passes
 * (here 30 steps of 64 over Optdigits' 1,438 training digits: 22 batches a pass, so the stream wraps). */
struct seen {
    int64_t steps, last_step;
    int epoch_ends;
};

static void record(const ferry_progress *p, void *user)
{
    struct seen *s = user;
    s->steps = p->steps;
    s->last_step = p->step;
    s->epoch_ends += p->epoch_end;
}

Test(transfer, iters_per_epoch_wraps_the_training_set, .timeout = 120 * FERRY_TIMEOUT_SCALE)
{
    ferry_dataset_t *ds;
    if (ferry_dataset_load("optdigits", "train", &ds)) cr_skip_test("no Optdigits: %s", ferry_last_error());
    ferry_dataset_free(ds);
    ferry_backend_t *be;
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
    ferry_train_result r[2];
    for (int k = 0; k < 2; k++) {
        struct seen s = {0};
        ferry_train_opts o = opts(be, 2);
        o.data = "optdigits";
        o.input_size = 16;
        o.batch = 64;
        o.epochs = 2;
        o.iters_per_epoch = 30;
        o.progress = record;
        o.user = &s;
        cr_assert_eq(ferry_train(&o, &r[k]), FERRY_OK, "%s", ferry_last_error());
        cr_assert_eq(s.steps, 30);
        cr_assert_eq(s.last_step, 30);
        cr_assert_eq(s.epoch_ends, 2);
    }
    cr_assert(memcmp(&r[0].final_loss, &r[1].final_loss, sizeof r[0].final_loss) == 0, "not reproducible");
    cr_assert_gt(r[0].test_accuracy, 0.5, "accuracy %g after 60 steps", r[0].test_accuracy);
    ferry_backend_free(be);
}
