/* The plugin descriptor check (ferry_plugin_check_descriptor, plugins/loader.c): a ferry_method is
 * filled from the input, as a dlopen'd plugin could hand it over, and checked; an accepted one has
 * its hyperparameters resolved against settings taken from the rest of the input.
 *
 * Input layout, read in order (what is missing reads as zero bytes):
 *   u8 control bits: 1 ABI version from the input (else the right one), 2 size from the input
 *     (else sizeof), 4 no hyperparameter array, 8 no loss hook, 16 no phase array, 32 phase losses
 *     missing, 64 no summary, 128 no citation
 *   [u32 abi] [u32 size]   strings: name, summary, citation    u32 flags
 *   s8 n_hparams, then per entry (at most 40): name, u8 type, f64 def, min, max, u8 sweep, doc
 *   s8 n_phases, then per entry (at most 10): name, updates, repeat
 *   strings: view_weak, view_strong; then up to 8 strings: METHOD.NAME=VALUE settings.
 * A string is a length byte (255: NULL) and that many bytes (NUL bytes end it early). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "plugin_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
    const uint8_t *p;
    size_t n;
    char *pool; /* the strings, one after another */
    size_t used, cap;
};

static void take(struct reader *r, void *out, size_t k)
{
    memset(out, 0, k);
    size_t got = r->n < k ? r->n : k;
    memcpy(out, r->p, got);
    r->p += got, r->n -= got;
}

static uint8_t u8(struct reader *r)
{
    uint8_t v;
    take(r, &v, 1);
    return v;
}

static const char *str(struct reader *r)
{
    uint8_t len = u8(r);
    if (len == 255) return NULL;
    if (len > r->n) len = (uint8_t)r->n;
    if (r->used + len + 1 > r->cap) return NULL; /* past the input every string is empty: the pool ends */
    char *s = r->pool + r->used;
    memcpy(s, r->p, len);
    s[len] = '\0';
    r->p += len, r->n -= len, r->used += (size_t)len + 1;
    return s;
}

static ferry_tensor_t *dummy_loss(ferry_run_t *run, const ferry_host_api *host, const ferry_step_tensors *t)
{
    (void)run, (void)host, (void)t;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a string takes its bytes and a NUL; past the end of the input, a NUL alone (at most 123 strings) */
    struct reader r = {.p = data, .n = size, .cap = size + 128};
    r.pool = malloc(r.cap);
    ferry_hparam hp[40];
    ferry_phase ph[10];
    memset(hp, 0, sizeof hp);
    memset(ph, 0, sizeof ph);
    ferry_method m = {0};
    uint8_t ctl = u8(&r);
    m.abi_version = FERRY_PLUGIN_ABI_VERSION;
    m.size = sizeof m;
    if (ctl & 1) take(&r, &m.abi_version, 4);
    if (ctl & 2) {
        take(&r, &m.size, 4);
        m.size %= sizeof m + 1; /* the host may read as far as the size says: no further than the struct */
    }
    m.name = str(&r);
    m.summary = str(&r);
    m.citation = str(&r);
    if (ctl & 64) m.summary = NULL;
    if (ctl & 128) m.citation = NULL;
    take(&r, &m.flags, 4);
    m.n_hparams = (int8_t)u8(&r);
    int nh = abs(m.n_hparams) < 40 ? abs(m.n_hparams) : 40;
    for (int i = 0; i < nh; i++) {
        hp[i].name = str(&r);
        hp[i].type = (ferry_hparam_type)u8(&r);
        take(&r, &hp[i].def, 8);
        take(&r, &hp[i].min, 8);
        take(&r, &hp[i].max, 8);
        hp[i].sweep = (ferry_sweep)u8(&r);
        hp[i].doc = str(&r);
    }
    m.hparams = ctl & 4 ? NULL : hp;
    m.loss = ctl & 8 ? NULL : dummy_loss;
    m.n_phases = (int8_t)u8(&r);
    int np = abs(m.n_phases) < 10 ? abs(m.n_phases) : 10;
    for (int k = 0; k < np; k++) {
        ph[k].name = str(&r);
        ph[k].updates = str(&r);
        ph[k].repeat = str(&r);
        ph[k].loss = ctl & 32 ? NULL : dummy_loss;
    }
    m.phases = ctl & 16 ? NULL : ph;
    m.view_weak = str(&r);
    m.view_strong = str(&r);
    const char *sets[8];
    int n_sets = 0;
    while (n_sets < 8 && r.n > 0) {
        const char *s = str(&r);
        if (s) sets[n_sets++] = s;
    }
    static const char file[] = "fuzz-plugin.so";
    ferry_status s = ferry_plugin_check_descriptor(file, &m);
    if (s != FERRY_OK) {
        fuzz_check_refusal(s, file);
        free(r.pool);
        return 0;
    }
    /* what the host relies on from an accepted descriptor */
    if (m.n_hparams < 0 || m.n_hparams > 32 || !m.name || !m.loss) __builtin_trap();
    for (int i = 0; i < m.n_hparams; i++) {
        const ferry_hparam *h = &m.hparams[i];
        if (!(h->min <= h->def && h->def <= h->max)) __builtin_trap();
        /* an INT is used as an int (a phase's repeat count, a layer width): whole, in int's range */
        if (h->type == FERRY_HP_INT)
            for (int k = 0; k < 3; k++) {
                double v = k == 0 ? h->def : k == 1 ? h->min : h->max;
                if (v != floor(v) || v < INT_MIN || v > INT_MAX) __builtin_trap();
            }
    }
    double values[32];
    s = ferry_method_resolve(&m, sets, n_sets, values);
    if (s == FERRY_OK)
        for (int i = 0; i < m.n_hparams; i++)
            if (!(values[i] >= m.hparams[i].min && values[i] <= m.hparams[i].max)) __builtin_trap();
    free(r.pool);
    return 0;
}
