/* Update phases (ferry_phase): a phase updates only the parameters it names, a repeated phase runs
 * as often as its hyperparameter says, the descriptor's phases are checked on loading, and a
 * round-1 descriptor (without phases) still loads and trains. Runs are short MNIST->Optdigits
 * trainings of LeNet from one starting checkpoint, compared tensor by tensor. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/require_data.h"
#include "ferry/ferry.h"
#include "ferry/method.h"

static ferry_methods_t *reg;
static ferry_backend_t *be;
static char dir[] = "/tmp/ferry-phases-XXXXXX";

static void open_all(void)
{
    cr_assert_eq(ferry_methods_init(&reg), FERRY_OK);
    const char *files[] = {"phase_probe.so", "round1_method.so"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", TEST_PLUGIN_DIR, files[i]);
        cr_assert_eq(ferry_methods_add_file(reg, path), FERRY_OK, "%s", ferry_last_error());
    }
    snprintf(dir, sizeof dir, "%s", "/tmp/ferry-phases-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ferry_backend_cpu_init(1, &be), FERRY_OK);
}

static void close_all(void)
{
    ferry_methods_free(reg);
    ferry_backend_free(be);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(phases, .init = open_all, .fini = close_all);

/* Trains `method` for 3 steps (SGD, no weight decay) from init (NULL: the seed's draw), saving to out. */
static ferry_status train(const char *method, const char *const *sets, int n_sets, const char *init, const char *out,
                          ferry_adapt_result *res)
{
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = "mnist->optdigits";
    o.method = ferry_methods_find(reg, method);
    cr_assert_not_null(o.method, "%s", ferry_last_error());
    o.sets = sets;
    o.n_sets = n_sets;
    o.epochs = 1;
    o.iters_per_epoch = 3;
    o.batch = 16;
    o.backend = be;
    o.optim.weight_decay = 0;
    o.optim.lr = 0.05f;
    o.init_path = init;
    o.save_path = out;
    return ferry_adapt(&o, res);
}

/* How many of the named tensors differ between two checkpoints: backbone ("features.") and head
 * ("classifier."). */
static void count_changed(const char *a, const char *b, int *backbone, int *head)
{
    ferry_safetensors_t *x, *y;
    cr_assert_eq(ferry_safetensors_open(a, &x), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_safetensors_open(b, &y), FERRY_OK, "%s", ferry_last_error());
    *backbone = *head = 0;
    int seen = 0;
    for (size_t i = 0; i < ferry_safetensors_count(x); i++) {
        const ferry_st_entry *e = ferry_safetensors_entry(x, i), *f = ferry_safetensors_find(y, e->name);
        if (strchr(e->name, '#') || strstr(e->name, "running_")) continue; /* optimizer state, statistics */
        cr_assert_not_null(f, "%s missing from %s", e->name, b);
        bool differs = e->nbytes != f->nbytes || memcmp(e->data, f->data, e->nbytes) != 0;
        if (!strncmp(e->name, "features.", 9)) *backbone += differs;
        else if (!strncmp(e->name, "classifier.", 11)) *head += differs;
        seen++;
    }
    cr_assert_gt(seen, 4);
    ferry_safetensors_free(x);
    ferry_safetensors_free(y);
}

Test(phases, a_phase_updates_only_what_it_names)
{
    require_mnist();
    char init[4200], out[4200];
    snprintf(init, sizeof init, "%s/init.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    ferry_adapt_result r;
    cr_assert_eq(train("round1-test", NULL, 0, NULL, init, &r), FERRY_OK, "%s", ferry_last_error());
    int backbone, head;
    /* the backbone phase's loss weighted 0: its gradient is 0, so only the head phase moves anything */
    const char *zero[] = {"phase-probe.body_weight=0"};
    cr_assert_eq(train("phase-probe", zero, 1, init, out, &r), FERRY_OK, "%s", ferry_last_error());
    count_changed(init, out, &backbone, &head);
    cr_assert_eq(backbone, 0, "the classifier phase changed %d backbone tensors", backbone);
    cr_assert_eq(head, 6, "the classifier phase changed %d of LeNet's 6 head tensors", head);
    /* weighted 1: the backbone phase trains the backbone */
    cr_assert_eq(train("phase-probe", NULL, 0, init, out, &r), FERRY_OK, "%s", ferry_last_error());
    count_changed(init, out, &backbone, &head);
    cr_assert_eq(backbone, 4, "the backbone phase changed %d of LeNet's 4 backbone tensors", backbone);
}

Test(phases, a_repeated_phase_runs_as_often_as_asked)
{
    require_mnist();
    char init[4200], a[4200], b[4200];
    snprintf(init, sizeof init, "%s/init2.safetensors", dir);
    snprintf(a, sizeof a, "%s/once.safetensors", dir);
    snprintf(b, sizeof b, "%s/twice.safetensors", dir);
    ferry_adapt_result r;
    cr_assert_eq(train("round1-test", NULL, 0, NULL, init, &r), FERRY_OK, "%s", ferry_last_error());
    const char *once[] = {"phase-probe.body_repeat=1"}, *twice[] = {"phase-probe.body_repeat=2"};
    cr_assert_eq(train("phase-probe", once, 1, init, a, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(train("phase-probe", twice, 1, init, b, &r), FERRY_OK, "%s", ferry_last_error());
    int backbone, head;
    count_changed(a, b, &backbone, &head);
    cr_assert_eq(backbone, 4, "two runs of the backbone phase left %d backbone tensors as one run did", 4 - backbone);
    /* the same settings twice give the same bits */
    cr_assert_eq(train("phase-probe", twice, 1, init, a, &r), FERRY_OK, "%s", ferry_last_error());
    count_changed(a, b, &backbone, &head);
    cr_assert(backbone == 0 && head == 0, "a phase run is not reproducible (%d, %d tensors differ)", backbone, head);
}

Test(phases, a_round1_descriptor_loads_and_trains)
{
    require_mnist();
    const ferry_method *m = ferry_methods_find(reg, "round1-test");
    cr_assert_not_null(m);
    cr_assert_lt(m->size, sizeof(ferry_method));
    ferry_adapt_result r;
    cr_assert_eq(train("round1-test", NULL, 0, NULL, NULL, &r), FERRY_OK, "%s", ferry_last_error());
    cr_assert(r.final_loss > 0 && r.final_loss < 10, "loss %g", r.final_loss);
}
