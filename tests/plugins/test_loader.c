/* The plugin loader: the six built-in methods load from the build tree; a plugin with another ABI
 * version, without the entry symbol, with a bogus descriptor or with a name already taken is refused
 * with a message naming its file; FERRY_PLUGIN_PATH adds folders, and removing a file removes its
 * method. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/method.h"

/* the round-1 methods and the first with phases, among the N_METHODS plugins algorithms/ builds */
static const char *const builtin[] = {"source-only", "feature-extraction", "fine-tuning", "dann", "dan", "coral", "mcd"};

static char *plugin(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s.so", TEST_PLUGIN_DIR, name);
    return path;
}

static void refused(const char *file, const char *why)
{
    ferry_methods_t *r;
    cr_assert_eq(ferry_methods_load(&r), FERRY_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s", plugin(file));
    cr_assert_neq(ferry_methods_add_file(r, path), FERRY_OK, "%s was accepted", file);
    cr_assert(strstr(ferry_last_error(), path) != NULL, "message does not name the file: %s", ferry_last_error());
    cr_assert(strstr(ferry_last_error(), why) != NULL, "message does not say '%s': %s", why, ferry_last_error());
    cr_assert_eq(ferry_methods_count(r), N_METHODS);
    ferry_methods_free(r);
}

Test(loader, lists_every_method_from_shared_objects)
{
    ferry_methods_t *r;
    cr_assert_eq(ferry_methods_load(&r), FERRY_OK);
    cr_assert_eq(ferry_methods_count(r), N_METHODS, "%d methods", ferry_methods_count(r));
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        const ferry_method *m = ferry_methods_find(r, builtin[i]);
        cr_assert_not_null(m, "%s", ferry_last_error());
    }
    for (int i = 0; i < ferry_methods_count(r); i++)
        cr_assert(strstr(ferry_methods_file(r, i), ".so") != NULL, "%s", ferry_methods_file(r, i));
    cr_assert_eq(ferry_methods_refused_count(r), 0);
    ferry_methods_free(r);
}

Test(loader, refuses_another_abi_version) { refused("broken_abi", "plugin ABI version"); }
Test(loader, refuses_a_missing_entry_symbol) { refused("broken_no_entry", "no symbol ferry_plugin_entry"); }
Test(loader, refuses_a_bogus_descriptor) { refused("broken_descriptor", "outside its range"); }
Test(loader, refuses_a_phase_repeated_by_a_float) { refused("broken_phases", "not an INT hyperparameter"); }
Test(loader, refuses_a_duplicate_name) { refused("duplicate_name", "already loaded"); }
Test(loader, refuses_a_file_that_is_not_a_shared_object) { refused("../../../meson.build", "cannot load plugin"); }

static void copy(const char *from, const char *dir, const char *name)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", from, dir, name);
    cr_assert_eq(system(cmd), 0);
}

Test(loader, plugin_path_adds_and_removing_a_file_removes)
{
    char dir[] = "/tmp/ferry-plugins-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    copy(plugin("extra_method"), dir, "extra_method.so");
    copy(plugin("broken_abi"), dir, "broken_abi.so");
    setenv("FERRY_PLUGIN_PATH", dir, 1);
    ferry_methods_t *r;
    cr_assert_eq(ferry_methods_load(&r), FERRY_OK);
    cr_assert_eq(ferry_methods_count(r), N_METHODS + 1);
    cr_assert_not_null(ferry_methods_find(r, "extra-test"));
    cr_assert_eq(ferry_methods_refused_count(r), 1);
    cr_assert(strstr(ferry_methods_refused(r, 0), "broken_abi.so") != NULL, "%s", ferry_methods_refused(r, 0));
    cr_assert(strstr(ferry_methods_search_path(r), dir) != NULL);
    ferry_methods_free(r);

    char path[1024];
    snprintf(path, sizeof path, "%s/extra_method.so", dir);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(ferry_methods_load(&r), FERRY_OK);
    cr_assert_eq(ferry_methods_count(r), N_METHODS);
    cr_assert_null(ferry_methods_find(r, "extra-test"));
    ferry_methods_free(r);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_assert_eq(system(path), 0);
    unsetenv("FERRY_PLUGIN_PATH");
}

Test(loader, hyperparameters_are_checked)
{
    ferry_methods_t *r;
    cr_assert_eq(ferry_methods_load(&r), FERRY_OK);
    const ferry_method *m = ferry_methods_find(r, "dann");
    double v[32];
    const char *ok[] = {"dann.gamma=5", "coral.trade_off=3", "width=64"};
    cr_assert_eq(ferry_method_resolve(m, ok, 3, v), FERRY_OK, "%s", ferry_last_error());
    const char *unknown[] = {"dann.zeta=1"};
    cr_assert_eq(ferry_method_resolve(m, unknown, 1, v), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "zeta") != NULL);
    const char *range[] = {"dann.gamma=1000"};
    cr_assert_eq(ferry_method_resolve(m, range, 1, v), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "out of range") != NULL);
    const char *notint[] = {"dann.width=12.5"};
    cr_assert_eq(ferry_method_resolve(m, notint, 1, v), FERRY_ERR_INVALID);
    ferry_methods_free(r);
}

/* The descriptor check itself (plugins/loader.c, reached here as the loader calls it). */
ferry_status ferry_plugin_check_descriptor(const char *file, const ferry_method *m);

static ferry_tensor_t *no_loss(ferry_run_t *run, const ferry_host_api *host, const ferry_step_tensors *t)
{
    (void)run, (void)host, (void)t;
    return NULL;
}

/* An INT hyperparameter's default and range must be whole numbers an int holds: the host uses the
 * value as an int (a phase's repeat count, a width). Found by fuzzing the descriptor check. */
Test(loader, refuses_an_int_hyperparameter_that_is_not_whole)
{
    ferry_hparam hp = {"num_k", FERRY_HP_INT, 4, 1, 8, FERRY_SWEEP_FIXED, "steps"};
    ferry_method m = {.abi_version = FERRY_PLUGIN_ABI_VERSION, .size = sizeof m, .name = "probe", .summary = "s",
                      .citation = "c", .hparams = &hp, .n_hparams = 1, .loss = no_loss};
    cr_assert_eq(ferry_plugin_check_descriptor("probe.so", &m), FERRY_OK, "%s", ferry_last_error());
    const double bad[][3] = {{4, 1, 8.5}, {4.5, 1, 8}, {4, 0.5, 8}, {4, 1, 3e9}, {-4, -3e9, 8}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hp.def = bad[i][0], hp.min = bad[i][1], hp.max = bad[i][2];
        cr_expect_eq(ferry_plugin_check_descriptor("probe.so", &m), FERRY_ERR_FORMAT, "case %zu", i);
        cr_expect(strstr(ferry_last_error(), "probe.so") && strstr(ferry_last_error(), "probe.num_k is an INT"), "%s",
                  ferry_last_error());
    }
    hp.type = FERRY_HP_FLOAT; /* the same values as a FLOAT are fine */
    cr_expect_eq(ferry_plugin_check_descriptor("probe.so", &m), FERRY_OK, "%s", ferry_last_error());
}
