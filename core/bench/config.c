/* Benchmark configurations: built-in suites, YAML files (libyaml), key=value overrides, and the
 * checks that run before any training starts. */
#include "bench_internal.h"
#include "ferry/nn.h"
#include "ferry/task.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

static void defaults(ferry_bench_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    snprintf(c->arch, sizeof c->arch, "lenet");
    snprintf(c->device, sizeof c->device, "cpu");
    c->epochs = 5;
    c->batch = 64;
    c->lr = 0.01;
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    snprintf(c->select, sizeof c->select, "source-val");
    c->target_labels = 10;
    c->pretrain_epochs = 3;
    c->validators = true;
}

void ferry_bench_config_free(ferry_bench_config *c)
{
    for (int i = 0; i < c->n_tasks; i++) free(c->tasks[i]);
    for (int i = 0; i < c->n_methods; i++) free(c->methods[i]);
    for (int i = 0; i < c->n_sets; i++) free(c->sets[i]);
    c->n_tasks = c->n_methods = c->n_sets = 0;
}

static ferry_status push(char **list, int *n, const char *v, const char *what)
{
    if (*n == FERRY_BENCH_MAX) return ferry_error(FERRY_ERR_INVALID, "%s: more than %d entries", what, FERRY_BENCH_MAX);
    list[*n] = strdup(v);
    if (!list[*n]) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    (*n)++;
    return FERRY_OK;
}

ferry_status ferry_bench_suite(const char *name, ferry_bench_config *c)
{
    defaults(c);
    if (strcmp(name, "digits") != 0)
        return ferry_error(FERRY_ERR_NOT_FOUND, "no built-in suite '%s' (there is: digits)", name);
    snprintf(c->name, sizeof c->name, "digits");
    snprintf(c->source, sizeof c->source, "suite digits");
    static const char *const tasks[] = {"mnist->optdigits", "synthdigits->mnist", "mnist->mnistm"};
    /* one or two of each family: adversarial, discrepancy, output regularisers, source-free
     * self-training, inductive fine-tuning (README: the main job) */
    static const char *const methods[] = {"source-only", "dann", "dan", "im", "mcc", "shot", "fine-tuning"};
    ferry_status s = FERRY_OK;
    for (size_t i = 0; i < sizeof tasks / sizeof *tasks && !s; i++) s = push(c->tasks, &c->n_tasks, tasks[i], "tasks");
    for (size_t i = 0; i < sizeof methods / sizeof *methods && !s; i++) s = push(c->methods, &c->n_methods, methods[i], "methods");
    for (int i = 0; i < 3; i++) c->seeds[c->n_seeds++] = (uint64_t)(i + 1);
    c->epochs = 3;
    c->lr = 0.03; /* three epochs: lr 0.01 leaves SynthDigits->MNIST's baseline at 60% target, 0.03 at 86% */
    c->pretrain_epochs = 2;
    return s;
}

/* ---- values ---------------------------------------------------------------------------------------- */

static ferry_status parse_int(const char *where, const char *key, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return ferry_error(FERRY_ERR_INVALID, "%s: %s expects an integer in [%ld, %ld], not '%s'", where, key, lo, hi, v);
    *out = x;
    return FERRY_OK;
}

static ferry_status parse_double(const char *where, const char *key, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi)
        return ferry_error(FERRY_ERR_INVALID, "%s: %s expects a number in [%g, %g], not '%s'", where, key, lo, hi, v);
    *out = x;
    return FERRY_OK;
}

static ferry_status copy_str(const char *where, const char *key, const char *v, char *dst, size_t n)
{
    if (strlen(v) >= n) return ferry_error(FERRY_ERR_INVALID, "%s: %s '%s' is too long", where, key, v);
    snprintf(dst, n, "%s", v);
    return FERRY_OK;
}

/* A scalar key = value (lists as one comma-separated value). */
static ferry_status set_key(ferry_bench_config *c, const char *where, const char *key, const char *v)
{
    long x = 0;
    ferry_status s;
    if (!strcmp(key, "tasks") || !strcmp(key, "methods") || !strcmp(key, "seeds")) {
        if (!strcmp(key, "tasks")) {
            for (int i = 0; i < c->n_tasks; i++) free(c->tasks[i]);
            c->n_tasks = 0;
        } else if (!strcmp(key, "methods")) {
            for (int i = 0; i < c->n_methods; i++) free(c->methods[i]);
            c->n_methods = 0;
        } else {
            c->n_seeds = 0;
        }
        char *copy = strdup(v);
        if (!copy) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
        s = FERRY_OK;
        /* items split at commas outside braces: a domain's class list keeps its own */
        for (char *tok = copy, *q; tok && !s; tok = q) {
            int depth = 0;
            for (q = tok; *q && !(*q == ',' && depth == 0); q++) depth += *q == '{' ? 1 : *q == '}' ? -1 : 0;
            if (*q) *q++ = '\0';
            else q = NULL;
            while (isspace((unsigned char)*tok)) tok++;
            char *e = tok + strlen(tok);
            while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
            if (!*tok) continue;
            if (!strcmp(key, "tasks")) s = push(c->tasks, &c->n_tasks, tok, key);
            else if (!strcmp(key, "methods")) s = push(c->methods, &c->n_methods, tok, key);
            else if (c->n_seeds == FERRY_BENCH_MAX) s = ferry_error(FERRY_ERR_INVALID, "%s: too many seeds", where);
            else if (!(s = parse_int(where, "seeds", tok, 0, 2147483647L, &x))) c->seeds[c->n_seeds++] = (uint64_t)x;
        }
        free(copy);
        return s;
    }
    if (!strcmp(key, "name")) return copy_str(where, key, v, c->name, sizeof c->name);
    if (!strcmp(key, "arch")) return copy_str(where, key, v, c->arch, sizeof c->arch);
    if (!strcmp(key, "weights")) return copy_str(where, key, v, c->weights, sizeof c->weights);
    if (!strcmp(key, "input_size")) { if (!(s = parse_int(where, key, v, 1, 4096, &x))) c->input_size = (int)x; return s; }
    if (!strcmp(key, "device")) return copy_str(where, key, v, c->device, sizeof c->device);
    if (!strcmp(key, "epochs")) { if (!(s = parse_int(where, key, v, 1, 10000, &x))) c->epochs = (int)x; return s; }
    if (!strcmp(key, "iters_per_epoch")) { if (!(s = parse_int(where, key, v, 1, 1000000000L, &x))) c->iters_per_epoch = (int)x; return s; }
    if (!strcmp(key, "batch")) { if (!(s = parse_int(where, key, v, 2, 65536, &x))) c->batch = (int)x; return s; }
    if (!strcmp(key, "target_labels")) { if (!(s = parse_int(where, key, v, 1, 100000, &x))) c->target_labels = (int)x; return s; }
    if (!strcmp(key, "semi_supervised") || !strcmp(key, "validators")) {
        bool *b = key[0] == 's' ? &c->semi_supervised : &c->validators;
        if (!strcmp(v, "true") || !strcmp(v, "yes")) *b = true;
        else if (!strcmp(v, "false") || !strcmp(v, "no")) *b = false;
        else return ferry_error(FERRY_ERR_INVALID, "%s: %s expects true or false, not '%s'", where, key, v);
        return FERRY_OK;
    }
    if (!strcmp(key, "pretrain_epochs")) { if (!(s = parse_int(where, key, v, 1, 10000, &x))) c->pretrain_epochs = (int)x; return s; }
    if (!strcmp(key, "threads")) { if (!(s = parse_int(where, key, v, 0, 1024, &x))) c->threads = (int)x; return s; }
    if (!strcmp(key, "split_seed")) { if (!(s = parse_int(where, key, v, 0, 2147483647L, &x))) c->split_seed = (uint64_t)x; return s; }
    if (!strcmp(key, "augment") || !strcmp(key, "augment_target")) {
        if (ferry_augment_parse(v, key[7] ? &c->augment_target : &c->augment)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", ferry_last_error()); /* the message buffer is reused below */
            return ferry_error(FERRY_ERR_INVALID, "%s: %s: %s", where, key, msg);
        }
        return FERRY_OK;
    }
    if (!strcmp(key, "lr")) return parse_double(where, key, v, 1e-8, 10, &c->lr);
    if (!strcmp(key, "schedule")) {
        ferry_schedule sch;
        if (ferry_schedule_parse(v, &sch))
            return ferry_error(FERRY_ERR_INVALID, "%s: schedule expects constant, step, cosine or inv, not '%s'", where, v);
        return copy_str(where, key, v, c->schedule, sizeof c->schedule);
    }
    if (!strcmp(key, "select")) {
        ferry_select rule;
        if (ferry_select_parse(v, &rule))
            return ferry_error(FERRY_ERR_INVALID, "%s: select expects source-val, target-val or last, not '%s'", where, v);
        return copy_str(where, key, v, c->select, sizeof c->select);
    }
    if (strchr(key, '.')) { /* method.hyperparameter */
        char kv[512];
        snprintf(kv, sizeof kv, "%s=%s", key, v);
        for (int i = 0; i < c->n_sets; i++) { /* a later value replaces an earlier one */
            size_t kl = strlen(key);
            if (!strncmp(c->sets[i], key, kl) && c->sets[i][kl] == '=') {
                free(c->sets[i]);
                c->sets[i] = strdup(kv);
                return c->sets[i] ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory");
            }
        }
        return push(c->sets, &c->n_sets, kv, "hyperparameters");
    }
    return ferry_error(FERRY_ERR_INVALID,
                       "%s: unknown key '%s' (keys: name, tasks, methods, seeds, epochs, batch, lr, schedule, arch, "
                       "input_size, weights, iters_per_epoch, augment, augment_target, target_labels, semi_supervised, validators, pretrain_epochs, device, threads, split_seed, select, hparams, METHOD.NAME)",
                       where, key);
}

ferry_status ferry_bench_config_override(ferry_bench_config *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return ferry_error(FERRY_ERR_INVALID, "override '%s': expected KEY=VALUE", kv);
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    char where[160];
    snprintf(where, sizeof where, "override '%s'", kv);
    return set_key(c, where, key, eq + 1);
}

/* ---- YAML ---------------------------------------------------------------------------------------------- */

struct parser {
    yaml_parser_t p;
    yaml_event_t ev;
    const char *path;
    bool has_ev;
};

static ferry_status next(struct parser *ps)
{
    if (ps->has_ev) yaml_event_delete(&ps->ev);
    ps->has_ev = false;
    if (!yaml_parser_parse(&ps->p, &ps->ev))
        return ferry_error(FERRY_ERR_FORMAT, "%s:%zu:%zu: %s", ps->path, ps->p.problem_mark.line + 1,
                           ps->p.problem_mark.column + 1, ps->p.problem ? ps->p.problem : "malformed YAML");
    ps->has_ev = true;
    return FERRY_OK;
}

static size_t line_of(const struct parser *ps) { return ps->ev.start_mark.line + 1; }

/* The current event must be a scalar; its text. */
static ferry_status scalar(struct parser *ps, const char *key, char *out, size_t n)
{
    if (ps->ev.type != YAML_SCALAR_EVENT)
        return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: %s expects a single value", ps->path, line_of(ps), key);
    snprintf(out, n, "%s", (const char *)ps->ev.data.scalar.value);
    return FERRY_OK;
}

/* A value that is a scalar or a sequence of scalars, joined with commas. */
static ferry_status scalar_or_list(struct parser *ps, const char *key, char *out, size_t n)
{
    if (ps->ev.type == YAML_SCALAR_EVENT) return scalar(ps, key, out, n);
    if (ps->ev.type != YAML_SEQUENCE_START_EVENT)
        return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: %s expects a value or a list", ps->path, line_of(ps), key);
    out[0] = '\0';
    ferry_status s;
    while (!(s = next(ps)) && ps->ev.type != YAML_SEQUENCE_END_EVENT) {
        if (ps->ev.type != YAML_SCALAR_EVENT)
            return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: %s: list items must be single values", ps->path,
                               line_of(ps), key);
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", l ? "," : "", (const char *)ps->ev.data.scalar.value);
    }
    return s;
}

/* hparams: {method: {name: value or [values]}} */
static ferry_status hparams(struct parser *ps, ferry_bench_config *c)
{
    if (ps->ev.type != YAML_MAPPING_START_EVENT)
        return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: hparams expects a mapping of methods", ps->path, line_of(ps));
    ferry_status s;
    char method[128], name[128], value[256], where[600];
    while (!(s = next(ps)) && ps->ev.type != YAML_MAPPING_END_EVENT) {
        if ((s = scalar(ps, "hparams", method, sizeof method)) || (s = next(ps))) return s;
        if (ps->ev.type != YAML_MAPPING_START_EVENT)
            return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: hparams.%s expects a mapping NAME: VALUE", ps->path,
                               line_of(ps), method);
        while (!(s = next(ps)) && ps->ev.type != YAML_MAPPING_END_EVENT) {
            if ((s = scalar(ps, "hparams", name, sizeof name)) || (s = next(ps)) ||
                (s = scalar_or_list(ps, name, value, sizeof value))) /* a list: a grid axis */
                return s;
            char key[300];
            snprintf(key, sizeof key, "%s.%s", method, name);
            snprintf(where, sizeof where, "%s:%zu", ps->path, line_of(ps));
            if ((s = set_key(c, where, key, value))) return s;
        }
        if (s) return s;
    }
    return s;
}

/* One named task of a tasks: list, a mapping (name, source, target, target_test, test_fraction,
 * size, channels, partial, class_map, target_class_ratio, summary): declared for the process. */
static ferry_status task_decl(struct parser *ps, ferry_bench_config *c)
{
    ferry_status s;
    char key[64], name[256] = "", summary[512] = "", source[4200] = "", target[4200] = "", test[4200] = "";
    char maps[64][300];
    const char *map_ptr[64];
    double ratio[1024];
    int n_map = 0, n_ratio = 0;
    ferry_task_decl d = {0};
    size_t line0 = line_of(ps);
    while (!(s = next(ps)) && ps->ev.type != YAML_MAPPING_END_EVENT) {
        if ((s = scalar(ps, "a task's key", key, sizeof key)) || (s = next(ps))) return s;
        size_t line = line_of(ps);
        char v[4200];
        if (!strcmp(key, "class_map")) { /* {target_name: source_name} */
            if (ps->ev.type != YAML_MAPPING_START_EVENT)
                return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: class_map expects a mapping TARGET_CLASS: SOURCE_CLASS",
                                   ps->path, line);
            char from[128], to[128];
            while (!(s = next(ps)) && ps->ev.type != YAML_MAPPING_END_EVENT) {
                if ((s = scalar(ps, "class_map", from, sizeof from)) || (s = next(ps)) ||
                    (s = scalar(ps, "class_map", to, sizeof to)))
                    return s;
                if (n_map == 64) return ferry_error(FERRY_ERR_INVALID, "%s:%zu: more than 64 class_map entries", ps->path, line);
                snprintf(maps[n_map], sizeof maps[0], "%s=%s", from, to);
                map_ptr[n_map] = maps[n_map];
                n_map++;
            }
            if (s) return s;
            continue;
        }
        if ((s = scalar_or_list(ps, key, v, sizeof v))) return s;
        char where[600];
        snprintf(where, sizeof where, "%s:%zu", ps->path, line);
        long x = 0;
        if (!strcmp(key, "name")) s = copy_str(where, key, v, name, sizeof name);
        else if (!strcmp(key, "summary")) s = copy_str(where, key, v, summary, sizeof summary);
        else if (!strcmp(key, "source")) s = copy_str(where, key, v, source, sizeof source);
        else if (!strcmp(key, "target")) s = copy_str(where, key, v, target, sizeof target);
        else if (!strcmp(key, "target_test")) s = copy_str(where, key, v, test, sizeof test);
        else if (!strcmp(key, "test_fraction")) s = parse_double(where, key, v, 0.01, 0.99, &d.test_fraction);
        else if (!strcmp(key, "size")) {
            if (!(s = parse_int(where, key, v, 1, 4096, &x))) d.h = d.w = (int)x;
        } else if (!strcmp(key, "channels")) {
            if (!(s = parse_int(where, key, v, 1, 3, &x)) && x == 2)
                s = ferry_error(FERRY_ERR_INVALID, "%s: channels expects 1 or 3", where);
            d.c = (int)x;
        } else if (!strcmp(key, "partial")) {
            if (!strcmp(v, "true") || !strcmp(v, "yes")) d.partial = true;
            else if (strcmp(v, "false") && strcmp(v, "no"))
                s = ferry_error(FERRY_ERR_INVALID, "%s: partial expects true or false, not '%s'", where, v);
        } else if (!strcmp(key, "target_class_ratio")) {
            char *save = NULL;
            for (char *tok = strtok_r(v, ",", &save); tok && !s; tok = strtok_r(NULL, ",", &save)) {
                if (n_ratio == 1024) s = ferry_error(FERRY_ERR_INVALID, "%s: more than 1024 ratios", where);
                else s = parse_double(where, key, tok, 1e-6, 1, &ratio[n_ratio++]);
            }
        } else {
            s = ferry_error(FERRY_ERR_INVALID, "%s: unknown task key '%s' (name, source, target, target_test, "
                            "test_fraction, size, channels, partial, class_map, target_class_ratio, summary)", where, key);
        }
        if (s) return s;
    }
    if (s) return s;
    if (!name[0] || !source[0] || !target[0])
        return ferry_error(FERRY_ERR_INVALID, "%s:%zu: a named task needs name, source and target", ps->path, line0);
    d.name = name;
    d.summary = summary[0] ? summary : NULL;
    d.source = source;
    d.target = target;
    d.target_test = test[0] ? test : NULL;
    d.class_map = map_ptr;
    d.n_class_map = n_map;
    d.target_class_ratio = ratio;
    d.n_target_class_ratio = n_ratio;
    char msg[1200];
    if ((s = ferry_task_declare(&d))) {
        snprintf(msg, sizeof msg, "%s", ferry_last_error());
        return ferry_error(s, "%s:%zu: %s", ps->path, line0, msg);
    }
    return push(c->tasks, &c->n_tasks, name, "tasks");
}

/* tasks: a list of task names, inline SOURCE->TARGET specs, and named tasks (mappings). */
static ferry_status task_list(struct parser *ps, ferry_bench_config *c)
{
    for (int i = 0; i < c->n_tasks; i++) free(c->tasks[i]);
    c->n_tasks = 0;
    if (ps->ev.type == YAML_SCALAR_EVENT) return push(c->tasks, &c->n_tasks, (const char *)ps->ev.data.scalar.value, "tasks");
    if (ps->ev.type != YAML_SEQUENCE_START_EVENT)
        return ferry_error(FERRY_ERR_FORMAT, "%s:%zu: tasks expects a list", ps->path, line_of(ps));
    ferry_status s;
    while (!(s = next(ps)) && ps->ev.type != YAML_SEQUENCE_END_EVENT) {
        if (ps->ev.type == YAML_MAPPING_START_EVENT) s = task_decl(ps, c);
        else if (ps->ev.type == YAML_SCALAR_EVENT) s = push(c->tasks, &c->n_tasks, (const char *)ps->ev.data.scalar.value, "tasks");
        else s = ferry_error(FERRY_ERR_FORMAT, "%s:%zu: a task is a name or a mapping", ps->path, line_of(ps));
        if (s) return s;
    }
    return s;
}

ferry_status ferry_bench_config_load(const char *path, ferry_bench_config *c)
{
    defaults(c);
    snprintf(c->source, sizeof c->source, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ferry_error(FERRY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct parser ps = {.path = path};
    yaml_parser_initialize(&ps.p);
    yaml_parser_set_input_file(&ps.p, f);
    ferry_status s;
    /* stream start, document start, mapping start */
    if ((s = next(&ps))) goto done;
    if ((s = next(&ps))) goto done;
    if (ps.ev.type == YAML_STREAM_END_EVENT) {
        s = ferry_error(FERRY_ERR_FORMAT, "%s: empty file", path);
        goto done;
    }
    if ((s = next(&ps))) goto done;
    if (ps.ev.type != YAML_MAPPING_START_EVENT) {
        s = ferry_error(FERRY_ERR_FORMAT, "%s:%zu: expected a mapping of settings (key: value)", path, line_of(&ps));
        goto done;
    }
    char key[128], value[4096], where[300];
    while (!(s = next(&ps)) && ps.ev.type != YAML_MAPPING_END_EVENT) {
        if ((s = scalar(&ps, "a key", key, sizeof key)) || (s = next(&ps))) goto done;
        if (!strcmp(key, "hparams")) {
            if ((s = hparams(&ps, c))) goto done;
            continue;
        }
        if (!strcmp(key, "tasks")) {
            if ((s = task_list(&ps, c))) goto done;
            continue;
        }
        size_t line = line_of(&ps);
        if ((s = scalar_or_list(&ps, key, value, sizeof value))) goto done;
        snprintf(where, sizeof where, "%s:%zu", path, line);
        if ((s = set_key(c, where, key, value))) goto done;
    }
done:
    if (ps.has_ev) yaml_event_delete(&ps.ev);
    yaml_parser_delete(&ps.p);
    fclose(f);
    if (s) ferry_bench_config_free(c);
    return s;
}

/* ---- hyperparameter grids ------------------------------------------------------------------------------ */

static bool of_method(const char *set, const char *method)
{
    size_t ml = strlen(method);
    return !strncmp(set, method, ml) && set[ml] == '.';
}

static int n_values(const char *set)
{
    int n = 1;
    for (const char *p = strchr(set, '='); p && *p; p++) n += *p == ',';
    return n;
}

int ferry_bench_grid_size(const ferry_bench_config *c, const char *method)
{
    long n = 1;
    for (int i = 0; i < c->n_sets; i++)
        if (of_method(c->sets[i], method) && (n *= n_values(c->sets[i])) > FERRY_BENCH_GRID_MAX) return -1;
    return (int)n;
}

void ferry_bench_grid_free(char **sets, int n)
{
    for (int i = 0; i < n; i++) free(sets[i]);
}

ferry_status ferry_bench_grid_point(const ferry_bench_config *c, const char *method, int k, char **sets, int *n,
                                    char *label, size_t label_n)
{
    int digit[FERRY_BENCH_MAX] = {0};
    for (int i = c->n_sets - 1; i >= 0; i--) /* mixed radix, the last axis fastest */
        if (of_method(c->sets[i], method)) {
            digit[i] = k % n_values(c->sets[i]);
            k /= n_values(c->sets[i]);
        }
    *n = 0;
    if (label_n) label[0] = '\0';
    for (int i = 0; i < c->n_sets; i++) {
        if (!of_method(c->sets[i], method)) continue;
        const char *eq = strchr(c->sets[i], '='), *v = eq + 1;
        for (int d = 0; d < digit[i]; d++) v = strchr(v, ',') + 1;
        int vl = (int)strcspn(v, ",");
        char *set = malloc(strlen(c->sets[i]) + 1);
        if (!set) {
            ferry_bench_grid_free(sets, *n);
            *n = 0;
            return ferry_error(FERRY_ERR_NOMEM, "out of memory");
        }
        snprintf(set, strlen(c->sets[i]) + 1, "%.*s%.*s", (int)(eq + 1 - c->sets[i]), c->sets[i], vl, v);
        sets[(*n)++] = set;
        if (n_values(c->sets[i]) > 1 && label_n) {
            size_t l = strlen(label);
            const char *name = c->sets[i] + strlen(method) + 1;
            snprintf(label + l, label_n - l, "%s%.*s=%.*s", l ? "," : "", (int)(eq - name), name, vl, v);
        }
    }
    return FERRY_OK;
}

/* ---- checks ---------------------------------------------------------------------------------------------- */

ferry_status ferry_bench_config_check(const ferry_bench_config *c, const ferry_methods_t *methods)
{
    const char *src = c->source[0] ? c->source : "config";
    if (!c->n_tasks || !c->n_methods || !c->n_seeds)
        return ferry_error(FERRY_ERR_INVALID, "%s: needs at least one task, one method and one seed", src);
    for (int i = 0; i < c->n_tasks; i++) {
        char msg[1200];
        if (!ferry_task_info_find(c->tasks[i])) {
            snprintf(msg, sizeof msg, "%s", ferry_last_error());
            return ferry_error(FERRY_ERR_NOT_FOUND, "%s: %s", src, msg);
        }
        /* a user's task is loaded once here: a bad folder or file is refused before any run starts */
        ferry_task_t *t = NULL;
        ferry_status s = ferry_task_is_builtin(c->tasks[i]) ? FERRY_OK : ferry_task_load(c->tasks[i], c->split_seed, &t);
        ferry_task_free(t);
        if (s) {
            snprintf(msg, sizeof msg, "%s", ferry_last_error());
            return ferry_error(s, "%s: %s", src, msg);
        }
    }
    for (int i = 0; i < c->n_methods; i++) {
        const ferry_method *m = ferry_methods_find(methods, c->methods[i]);
        char msg[1024];
        if (!m) {
            snprintf(msg, sizeof msg, "%s", ferry_last_error()); /* the message buffer is reused below */
            return ferry_error(FERRY_ERR_NOT_FOUND, "%s: %s", src, msg);
        }
        int points = ferry_bench_grid_size(c, m->name);
        if (points < 0)
            return ferry_error(FERRY_ERR_INVALID, "%s: the grid of %s has more than %d points", src, m->name,
                               FERRY_BENCH_GRID_MAX);
        for (int k = 0; k < points; k++) { /* every point of the grid, every value checked */
            char *sets[FERRY_BENCH_MAX];
            int n = 0;
            double hp[32];
            ferry_status s = ferry_bench_grid_point(c, m->name, k, sets, &n, NULL, 0);
            if (!s) s = ferry_method_resolve(m, (const char *const *)sets, n, hp);
            ferry_bench_grid_free(sets, n);
            if (s) {
                snprintf(msg, sizeof msg, "%s", ferry_last_error());
                return ferry_error(s, "%s: %s", src, msg);
            }
        }
    }
    for (int k = 0; k < c->n_sets; k++) { /* a setting for a method that is not in the sweep */
        const char *dot = strchr(c->sets[k], '.');
        bool known = false;
        for (int i = 0; i < c->n_methods && dot; i++)
            known |= strlen(c->methods[i]) == (size_t)(dot - c->sets[k]) &&
                     !strncmp(c->methods[i], c->sets[k], (size_t)(dot - c->sets[k]));
        if (!known)
            return ferry_error(FERRY_ERR_INVALID, "%s: '%s' sets a hyperparameter of a method not in the sweep", src,
                               c->sets[k]);
    }
    if (!ferry_arch_find(c->arch) && strncmp(c->arch, "tfjs:", 5))
        return ferry_error(FERRY_ERR_INVALID, "%s: unknown arch '%s' (ferry models lists them)", src, c->arch);
    if (c->weights[0] && access(c->weights, R_OK) != 0)
        return ferry_error(FERRY_ERR_NOT_FOUND, "%s: weights '%s' cannot be read", src, c->weights);
    for (int i = 0; i < c->n_seeds; i++)
        for (int j = 0; j < i; j++)
            if (c->seeds[i] == c->seeds[j])
                return ferry_error(FERRY_ERR_INVALID, "%s: seed %llu appears twice", src, (unsigned long long)c->seeds[i]);
    return FERRY_OK;
}
