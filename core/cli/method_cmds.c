/* ferry methods: the method plugins found, with their files, citations and hyperparameters. */
#include "ferry/ferry.h"
#include "ferry/method.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(ferry_hparam_type t)
{
    return t == FERRY_HP_INT ? "int" : t == FERRY_HP_BOOL ? "bool" : "float";
}

static const char *sweep_name(ferry_sweep s)
{
    return s == FERRY_SWEEP_UNIFORM ? "uniform" : s == FERRY_SWEEP_LOG ? "log-uniform" : "fixed";
}

int ferry_cli_methods(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ferry methods [NAME]\n\n"
               "Lists the transfer methods: each plugin's file, summary, citation and hyperparameters\n"
               "(type, default, range, how a sweep draws it). Plugins are searched in the build tree,\n"
               "then each folder of $FERRY_PLUGIN_PATH, then the installed plugin folder.\n");
        return 0;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    ferry_methods_t *r;
    if (ferry_methods_load(&r)) {
        fprintf(stderr, "ferry methods: %s\n", ferry_last_error());
        return 1;
    }
    int shown = 0;
    for (int i = 0; i < ferry_methods_count(r); i++) {
        const ferry_method *m = ferry_methods_get(r, i);
        if (only && strcmp(only, m->name)) continue;
        shown++;
        printf("%s\n    %s\n    file      %s\n    citation  %s\n", m->name, m->summary, ferry_methods_file(r, i),
               m->citation);
        if (m->flags & FERRY_METHOD_NEEDS_TARGET_LABELS) printf("    needs     labelled target examples (--target-labels K)\n");
        if (m->flags & FERRY_METHOD_USES_CHECKPOINT) printf("    starts    from a pretrained checkpoint (--init FILE)\n");
        /* what it uses of the method protocol */
        char uses[256] = "";
        size_t n = 0;
        const int phases = FERRY_METHOD_HAS(m, n_phases) ? m->n_phases : 0;
        if (phases > 1) n += (size_t)snprintf(uses + n, sizeof uses - n, "%d update phases, ", phases);
        if (FERRY_METHOD_HAS(m, epoch_begin) && m->epoch_begin) n += (size_t)snprintf(uses + n, sizeof uses - n, "an epoch hook, ");
        if (FERRY_METHOD_HAS(m, eval_logits) && m->eval_logits) n += (size_t)snprintf(uses + n, sizeof uses - n, "its own evaluation head, ");
        if (m->flags & FERRY_METHOD_TARGET_BN) n += (size_t)snprintf(uses + n, sizeof uses - n, "target batch-norm statistics at evaluation, ");
        if (m->flags & FERRY_METHOD_SOURCE_FREE) n += (size_t)snprintf(uses + n, sizeof uses - n, "no source data, ");
        if (m->flags & FERRY_METHOD_TWO_VIEWS)
            n += (size_t)snprintf(uses + n, sizeof uses - n, "two views of the target (weak '%s', strong '%s'), ",
                                  FERRY_METHOD_HAS(m, view_weak) && m->view_weak ? m->view_weak : "--augment-target",
                                  FERRY_METHOD_HAS(m, view_strong) && m->view_strong ? m->view_strong : "the weak one redrawn");
        if (n > 2 && n < sizeof uses) printf("    uses      %.*s\n", (int)(n - 2), uses);
        for (int k = 0; k < m->n_hparams; k++) {
            const ferry_hparam *h = &m->hparams[k];
            char range[64];
            snprintf(range, sizeof range, "[%g, %g]", h->min, h->max);
            printf("    %s.%-18s %-5s default %-8g range %-16s %-11s %s\n", m->name, h->name, type_name(h->type),
                   h->def, range, sweep_name(h->sweep), h->doc ? h->doc : "");
        }
    }
    for (int i = 0; i < ferry_methods_refused_count(r); i++) fprintf(stderr, "refused: %s\n", ferry_methods_refused(r, i));
    if (only && !shown) {
        ferry_methods_find(r, only);
        fprintf(stderr, "ferry methods: %s\n", ferry_last_error());
        ferry_methods_free(r);
        return 1;
    }
    if (!only) printf("(%d methods; search path %s)\n", ferry_methods_count(r), ferry_methods_search_path(r));
    ferry_methods_free(r);
    return 0;
}
