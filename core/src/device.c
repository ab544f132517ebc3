/* Choosing a backend by name, describing it, listing what is available: all through the backend
 * registry (ferry_backend_registry), so that nothing here names a backend. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ferry_backend_reg *find_kind(const char *spec, size_t len)
{
    for (int i = 0; ferry_backend_registry[i]; i++) {
        const char *n = ferry_backend_registry[i]->name;
        if (strlen(n) == len && strncmp(n, spec, len) == 0) return ferry_backend_registry[i];
    }
    return NULL;
}

static ferry_status unknown(const char *from, const char *spec)
{
    char names[256] = "";
    size_t k = 0;
    for (int i = 0; ferry_backend_registry[i] && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s, %s:N, ", ferry_backend_registry[i]->name,
                              ferry_backend_registry[i]->name);
    return ferry_error(FERRY_ERR_INVALID, "%s: unknown device '%s' (use %sor auto)", from, spec, names);
}

/* "auto": the kinds from the highest priority down; the first that initialises. */
static ferry_status init_auto(int threads, ferry_backend_t **out)
{
    bool tried[64] = {0};
    ferry_status s = FERRY_ERR_UNSUPPORTED;
    for (;;) {
        int best = -1;
        for (int i = 0; ferry_backend_registry[i] && i < 64; i++)
            if (!tried[i] && (best < 0 || ferry_backend_registry[i]->auto_priority >
                                              ferry_backend_registry[best]->auto_priority))
                best = i;
        if (best < 0) return s;
        tried[best] = true;
        if ((s = ferry_backend_registry[best]->init(NULL, threads, out)) == FERRY_OK) return FERRY_OK;
    }
}

ferry_status ferry_backend_init_device(const char *spec, int threads, ferry_backend_t **out)
{
    *out = NULL;
    const char *from = "--device";
    if (!spec || !*spec) {
        spec = getenv("FERRY_DEVICE");
        from = "FERRY_DEVICE";
        if (!spec || !*spec) spec = "auto";
    }
    if (strcmp(spec, "auto") == 0) return init_auto(threads, out);
    const char *colon = strchr(spec, ':');
    const struct ferry_backend_reg *r = find_kind(spec, colon ? (size_t)(colon - spec) : strlen(spec));
    if (!r) return unknown(from, spec);
    return r->init(colon ? colon + 1 : NULL, threads, out);
}

void ferry_backend_describe(const ferry_backend_t *be, ferry_device_desc *out)
{
    memset(out, 0, sizeof *out);
    if (be->iface->describe) be->iface->describe(be, out);
}

ferry_status ferry_devices_print(void *file)
{
    for (int i = 0; ferry_backend_registry[i]; i++) {
        const struct ferry_backend_reg *r = ferry_backend_registry[i];
        if (r->list && r->list(file)) fprintf(file, "(no %s device: %s)\n", r->name, ferry_last_error());
    }
    return FERRY_OK;
}

/* ---- the op registry as the public API shows it ------------------------------------------------ */

int ferry_op_count(void) { return FERRY_OP_COUNT; }

ferry_status ferry_op_describe(int op, ferry_op_desc *out)
{
    const struct ferry_op_info *i = ferry_op_info((enum ferry_op)op);
    if (!i || op < 0) return ferry_error(FERRY_ERR_INVALID, "op %d: no such op", op);
    static const char *const kinds[] = {"leaf", "view", "kernel", "update"};
    static const char *const grads[] = {"yes", "none", "-"};
    *out = (ferry_op_desc){.name = i->name, .nsrc = i->nsrc, .kind = kinds[i->kind],
                           .gradient = grads[i->grad], .differentiable = i->grad == FERRY_GRAD_FN};
    return FERRY_OK;
}

int ferry_backend_kind_count(void)
{
    int n = 0;
    while (ferry_backend_registry[n]) n++;
    return n;
}

const char *ferry_backend_kind_name(int kind)
{
    return kind >= 0 && kind < ferry_backend_kind_count() ? ferry_backend_registry[kind]->name : NULL;
}

bool ferry_backend_kind_supports(int kind, int op)
{
    if (kind < 0 || kind >= ferry_backend_kind_count() || !ferry_op_info((enum ferry_op)op)) return false;
    return ferry_backend_registry[kind]->supports((enum ferry_op)op);
}

/* An op's backward runs on a backend when the op is differentiable and the backend runs every op a
 * backward builder can record: all ops never differentiated themselves (grad NONE), which are the
 * backward ops, and every differentiable op (builders reuse forward ops). */
bool ferry_backend_kind_supports_backward(int kind, int op)
{
    const struct ferry_op_info *i = ferry_op_info((enum ferry_op)op);
    if (!i || i->grad != FERRY_GRAD_FN) return false;
    for (int k = 0; k < FERRY_OP_COUNT; k++) {
        const struct ferry_op_info *o = ferry_op_info((enum ferry_op)k);
        if (o->kind != FERRY_KIND_UPDATE && !ferry_backend_kind_supports(kind, k)) return false;
    }
    return true;
}
