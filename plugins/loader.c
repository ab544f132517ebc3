/* Finding, loading and checking method plugins. */
#include "plugin_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FERRY_PLUGIN_BUILD_DIR
#define FERRY_PLUGIN_BUILD_DIR ""
#endif
#ifndef FERRY_PLUGIN_INSTALL_DIR
#define FERRY_PLUGIN_INSTALL_DIR "/usr/local/lib/ferry/plugins"
#endif

/* The size of the first published descriptor (ABI 1): later versions only append fields. */
#define FERRY_METHOD_MIN_SIZE (offsetof(ferry_method, teardown) + sizeof(void *))

struct entry {
    void *handle;
    const ferry_method *m;
    char *file;
};

struct ferry_methods {
    struct entry *e;
    int n, cap;
    char **refused;
    int n_refused, cap_refused;
    char path[4096];
};

ferry_status ferry_methods_init(ferry_methods_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory");
}

void ferry_methods_free(ferry_methods_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        dlclose(r->e[i].handle);
        free(r->e[i].file);
    }
    for (int i = 0; i < r->n_refused; i++) free(r->refused[i]);
    free(r->e);
    free(r->refused);
    free(r);
}

int ferry_methods_count(const ferry_methods_t *r) { return r->n; }
const ferry_method *ferry_methods_get(const ferry_methods_t *r, int i) { return i >= 0 && i < r->n ? r->e[i].m : NULL; }
const char *ferry_methods_file(const ferry_methods_t *r, int i) { return i >= 0 && i < r->n ? r->e[i].file : NULL; }
int ferry_methods_refused_count(const ferry_methods_t *r) { return r->n_refused; }
const char *ferry_methods_refused(const ferry_methods_t *r, int i) { return i >= 0 && i < r->n_refused ? r->refused[i] : NULL; }
const char *ferry_methods_search_path(const ferry_methods_t *r) { return r->path; }

const ferry_method *ferry_methods_find(const ferry_methods_t *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].m->name, name) == 0) return r->e[i].m;
    char list[1024] = "";
    for (int i = 0; i < r->n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", r->e[i].m->name);
    }
    ferry_error(FERRY_ERR_NOT_FOUND, "no method '%s' (loaded: %s; search path %s)", name,
                r->n ? list : "none", r->path[0] ? r->path : "empty");
    return NULL;
}

static bool valid_name(const char *s, bool dash)
{
    if (!s || !*s || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || (dash && *s == '-')))
            return false;
    return true;
}

/* A method's update phases: a count the host holds, each named, with a loss, a repeat count that is
 * an INT hyperparameter of at least 1, and selectors without empty entries. */
static ferry_status check_phases(const char *file, const ferry_method *m)
{
    if (m->n_phases == 0) return FERRY_OK;
    if (m->n_phases < 0 || m->n_phases > MAX_PHASES || !m->phases)
        return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' declares %d phases (1 to %d)", file, m->name,
                           m->n_phases, MAX_PHASES);
    for (int k = 0; k < m->n_phases; k++) {
        const ferry_phase *p = &m->phases[k];
        if (!valid_name(p->name, false) || !p->loss)
            return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' phase %d has no [a-z0-9_] name or no loss", file,
                               m->name, k);
        if (p->repeat) {
            int h = -1;
            for (int i = 0; i < m->n_hparams; i++)
                if (!strcmp(m->hparams[i].name, p->repeat)) h = i;
            if (h < 0 || m->hparams[h].type != FERRY_HP_INT || m->hparams[h].min < 1)
                return ferry_error(FERRY_ERR_FORMAT, "%s: %s phase %s repeats '%s' times: not an INT hyperparameter "
                                   "of at least 1", file, m->name, p->name, p->repeat);
        }
        const char *u = p->updates;
        if (u && (!*u || *u == ',' || u[strlen(u) - 1] == ',' || strstr(u, ",,")))
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s phase %s updates '%s': an empty selector", file, m->name,
                               p->name, u);
    }
    return FERRY_OK;
}

/* Everything the host relies on, checked before a plugin is accepted. */
ferry_status ferry_plugin_check_descriptor(const char *file, const ferry_method *m)
{
    if (m->abi_version != FERRY_PLUGIN_ABI_VERSION)
        return ferry_error(FERRY_ERR_FORMAT, "%s: plugin ABI version %u, this Ferry speaks %u (rebuild the plugin)",
                           file, m->abi_version, FERRY_PLUGIN_ABI_VERSION);
    if (m->size < FERRY_METHOD_MIN_SIZE)
        return ferry_error(FERRY_ERR_FORMAT, "%s: descriptor of %u bytes, smaller than ABI %u's %zu", file,
                           m->size, FERRY_PLUGIN_ABI_VERSION, (size_t)FERRY_METHOD_MIN_SIZE);
    if (!valid_name(m->name, true))
        return ferry_error(FERRY_ERR_FORMAT, "%s: method name %s%s%s is not [a-z0-9_-]{1,63}", file,
                           m->name ? "'" : "", m->name ? m->name : "(null)", m->name ? "'" : "");
    if (!m->summary || !*m->summary || !m->citation)
        return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' has no summary or citation", file, m->name);
    if (!m->loss) return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' has no loss hook", file, m->name);
    if (m->n_hparams < 0 || m->n_hparams > 32 || (m->n_hparams > 0 && !m->hparams))
        return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' declares %d hyperparameters", file, m->name,
                           m->n_hparams);
    for (int i = 0; i < m->n_hparams; i++) {
        const ferry_hparam *h = &m->hparams[i];
        if (!valid_name(h->name, false))
            return ferry_error(FERRY_ERR_FORMAT, "%s: method '%s' hyperparameter %d has a bad name", file,
                               m->name, i);
        if ((unsigned)h->type > FERRY_HP_BOOL || (unsigned)h->sweep > FERRY_SWEEP_LOG)
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s.%s has an unknown type or sweep", file, m->name, h->name);
        if (!(h->min <= h->def && h->def <= h->max) || !isfinite(h->min) || !isfinite(h->max))
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s.%s default %g outside its range [%g, %g]", file,
                               m->name, h->name, h->def, h->min, h->max);
        if (h->type == FERRY_HP_INT && (h->def != floor(h->def) || h->min != floor(h->min) || h->max != floor(h->max) ||
                                        h->min < INT_MIN || h->max > INT_MAX))
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s.%s is an INT with default %g in [%g, %g] (whole numbers in "
                               "an int's range needed)", file, m->name, h->name, h->def, h->min, h->max);
        if (h->sweep == FERRY_SWEEP_LOG && h->min <= 0)
            return ferry_error(FERRY_ERR_FORMAT, "%s: %s.%s is swept log-uniformly from %g (must be > 0)", file,
                               m->name, h->name, h->min);
        for (int j = 0; j < i; j++)
            if (strcmp(m->hparams[j].name, h->name) == 0)
                return ferry_error(FERRY_ERR_FORMAT, "%s: %s.%s is declared twice", file, m->name, h->name);
    }
    return FERRY_METHOD_HAS(m, n_phases) ? check_phases(file, m) : FERRY_OK;
}

ferry_status ferry_methods_add_file(ferry_methods_t *r, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return ferry_error(FERRY_ERR_FORMAT, "%s: cannot load plugin: %s", path, dlerror());
    ferry_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, FERRY_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(h);
        return ferry_error(FERRY_ERR_FORMAT, "%s: not a Ferry plugin: no symbol %s (exported with FERRY_PLUGIN_EXPORT?)",
                           path, FERRY_PLUGIN_ENTRY_SYMBOL);
    }
    const ferry_method *m = entry(ferry_plugin_host());
    ferry_status s = m ? ferry_plugin_check_descriptor(path, m)
                       : ferry_error(FERRY_ERR_FORMAT, "%s: %s returned no descriptor", path, FERRY_PLUGIN_ENTRY_SYMBOL);
    for (int i = 0; !s && i < r->n; i++)
        if (strcmp(r->e[i].m->name, m->name) == 0)
            s = ferry_error(FERRY_ERR_INVALID, "%s: method '%s' is already loaded from %s", path, m->name,
                            r->e[i].file);
    if (!s && r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        struct entry *ne = realloc(r->e, (size_t)cap * sizeof *ne);
        if (!ne) s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
        else {
            r->e = ne;
            r->cap = cap;
        }
    }
    char *file = s ? NULL : strdup(path);
    if (!s && !file) s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
    if (s) {
        dlclose(h);
        return s;
    }
    r->e[r->n++] = (struct entry){h, m, file};
    return FERRY_OK;
}

static void refuse(ferry_methods_t *r, const char *msg)
{
    if (r->n_refused == r->cap_refused) {
        int cap = r->cap_refused ? 2 * r->cap_refused : 8;
        char **nr = realloc(r->refused, (size_t)cap * sizeof *nr);
        if (!nr) return;
        r->refused = nr;
        r->cap_refused = cap;
    }
    char *m = strdup(msg);
    if (m) r->refused[r->n_refused++] = m;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every *.so in dir, in name order. A missing folder is no error. */
static void load_dir(ferry_methods_t *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n]) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (ferry_methods_add_file(r, path)) refuse(r, ferry_last_error());
        free(names[i]);
    }
    free(names);
}

static void add_to_path(ferry_methods_t *r, const char *dir)
{
    size_t l = strlen(r->path);
    snprintf(r->path + l, sizeof r->path - l, "%s%s", l ? ":" : "", dir);
}

ferry_status ferry_methods_load(ferry_methods_t **out)
{
    ferry_status s = ferry_methods_init(out);
    if (s) return s;
    ferry_methods_t *r = *out;
    const char *build = FERRY_PLUGIN_BUILD_DIR;
    if (build[0]) {
        add_to_path(r, build);
        load_dir(r, build);
    }
    const char *env = getenv("FERRY_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
            add_to_path(r, dir);
            load_dir(r, dir);
        }
        free(copy);
    }
    add_to_path(r, FERRY_PLUGIN_INSTALL_DIR);
    load_dir(r, FERRY_PLUGIN_INSTALL_DIR);
    return FERRY_OK;
}

/* ---- hyperparameters ---------------------------------------------------------------------------- */

static ferry_status parse_value(const ferry_method *m, const ferry_hparam *h, const char *text, double *out)
{
    char *end;
    double v;
    if (h->type == FERRY_HP_BOOL) {
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) v = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) v = 0;
        else return ferry_error(FERRY_ERR_INVALID, "%s.%s expects true or false, not '%s'", m->name, h->name, text);
    } else {
        errno = 0;
        v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v))
            return ferry_error(FERRY_ERR_INVALID, "%s.%s expects a number, not '%s'", m->name, h->name, text);
        if (h->type == FERRY_HP_INT && v != floor(v))
            return ferry_error(FERRY_ERR_INVALID, "%s.%s expects an integer, not '%s'", m->name, h->name, text);
    }
    if (v < h->min || v > h->max)
        return ferry_error(FERRY_ERR_INVALID, "%s.%s = %s is out of range [%g, %g]", m->name, h->name, text,
                           h->min, h->max);
    *out = v;
    return FERRY_OK;
}

ferry_status ferry_method_resolve(const ferry_method *m, const char *const *sets, int n_sets, double *values)
{
    for (int i = 0; i < m->n_hparams; i++) values[i] = m->hparams[i].def;
    size_t ml = strlen(m->name);
    for (int k = 0; k < n_sets; k++) {
        const char *s = sets[k], *eq = strchr(s, '=');
        if (!eq || eq == s) return ferry_error(FERRY_ERR_INVALID, "--set '%s': expected METHOD.NAME=VALUE", s);
        const char *key = s;
        const char *dot = memchr(s, '.', (size_t)(eq - s));
        if (dot) {
            if ((size_t)(dot - s) != ml || strncmp(s, m->name, ml) != 0) continue; /* another method's */
            key = dot + 1;
        }
        size_t kl = (size_t)(eq - key);
        int found = -1;
        for (int i = 0; i < m->n_hparams; i++)
            if (strlen(m->hparams[i].name) == kl && strncmp(m->hparams[i].name, key, kl) == 0) found = i;
        if (found < 0) {
            char names[512] = "";
            for (int i = 0; i < m->n_hparams; i++) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", m->hparams[i].name);
            }
            return ferry_error(FERRY_ERR_INVALID, "method '%s' has no hyperparameter '%.*s' (it has: %s)", m->name,
                               (int)kl, key, m->n_hparams ? names : "none");
        }
        ferry_status st = parse_value(m, &m->hparams[found], eq + 1, &values[found]);
        if (st) return st;
    }
    return FERRY_OK;
}
