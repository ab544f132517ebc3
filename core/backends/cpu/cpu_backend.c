/* CPU backend: host memory, BLIS GEMMs and OpenMP threads. A prepared graph is an array of kernel
 * calls with every pointer resolved, so a step is one loop with no allocation. */
#include "cpu.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blis.h>

#define CPU_ALIGN 64

struct cpu_step {
    ferry_cpu_kernel_fn fn;
    struct ferry_cpu_args args;
};

struct cpu_graph {
    struct cpu_step *steps;
    int n;
};

static ferry_status cpu_buffer_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out)
{
    (void)be;
    ferry_buffer *b = calloc(1, sizeof *b);
    size_t bytes = (size + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    void *mem = b ? aligned_alloc(CPU_ALIGN, bytes) : NULL;
    if (!mem) {
        free(b);
        return ferry_error(FERRY_ERR_NOMEM, "cpu: out of memory allocating %zu bytes", size);
    }
    memset(mem, 0, bytes);
    b->size = size;
    b->host = mem;
    *out = b;
    return FERRY_OK;
}

static void cpu_buffer_free(ferry_backend_t *be, ferry_buffer *b)
{
    (void)be;
    free(b->host);
    free(b);
}

static ferry_status cpu_upload(ferry_backend_t *be, ferry_buffer *b, size_t off, const void *src,
                               size_t n)
{
    (void)be;
    if (off + n > b->size) return ferry_error(FERRY_ERR_INVALID, "cpu: upload past the buffer end");
    memcpy((char *)b->host + off, src, n);
    return FERRY_OK;
}

static ferry_status cpu_download(ferry_backend_t *be, ferry_buffer *b, size_t off, void *dst,
                                 size_t n)
{
    (void)be;
    if (off + n > b->size) return ferry_error(FERRY_ERR_INVALID, "cpu: download past the buffer end");
    memcpy(dst, (char *)b->host + off, n);
    return FERRY_OK;
}

static size_t cpu_scratch_bytes(ferry_backend_t *be, const struct ferry_tensor *node)
{
    ferry_cpu_scratch_fn f = ferry_cpu_scratch[node->op];
    return f ? f(node, be->threads) : 0;
}

static void *host_ptr(const struct ferry_tensor *t)
{
    return (char *)t->buf->host + t->offset;
}

static ferry_status cpu_graph_prepare(ferry_backend_t *be, ferry_graph_t *g)
{
    struct cpu_graph *cg = calloc(1, sizeof *cg);
    if (cg) cg->steps = calloc((size_t)g->n_nodes, sizeof *cg->steps);
    if (!cg || !cg->steps) {
        free(cg);
        return ferry_error(FERRY_ERR_NOMEM, "cpu: out of memory preparing a graph");
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const struct ferry_tensor *t = g->nodes[k];
        struct cpu_step *st = &cg->steps[cg->n++];
        st->fn = ferry_cpu_kernels[t->op];
        if (!st->fn || !ferry_cpu_supports(t->op)) {
            free(cg->steps);
            free(cg);
            return ferry_error(FERRY_ERR_UNSUPPORTED, "cpu: no kernel for op %s", ferry_op_name(t->op));
        }
        st->args.node = t;
        st->args.dst = host_ptr(t);
        for (int j = 0; j < FERRY_MAX_SRC; j++)
            if (t->src[j] && t->src[j]->buf) st->args.src[j] = host_ptr(t->src[j]);
        st->args.scratch = g->scratch ? g->scratch->host : NULL;
        st->args.nthreads = be->threads;
    }
    g->backend_data = cg;
    return FERRY_OK;
}

static void cpu_graph_release(ferry_backend_t *be, ferry_graph_t *g)
{
    (void)be;
    struct cpu_graph *cg = g->backend_data;
    free(cg->steps);
    free(cg);
    g->backend_data = NULL;
}

static ferry_status cpu_graph_compute(ferry_backend_t *be, ferry_graph_t *g)
{
    (void)be;
    const struct cpu_graph *cg = g->backend_data;
    for (int k = 0; k < cg->n; k++) cg->steps[k].fn(&cg->steps[k].args);
    return FERRY_OK;
}

static void cpu_destroy(ferry_backend_t *be) { free(be); }

/* "vendor_id" / "model name" from /proc/cpuinfo; "unknown" where it is not readable. */
static void cpuinfo_field(const char *key, char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, key, klen) != 0 || !colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = '\0';
        snprintf(out, n, "%s", v);
        break;
    }
    fclose(f);
}

static ferry_status cpu_describe(const ferry_backend_t *be, ferry_device_desc *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->backend, sizeof d->backend, "cpu");
    cpuinfo_field("vendor_id", d->vendor, sizeof d->vendor);
    cpuinfo_field("model name", d->name, sizeof d->name);
    snprintf(d->driver, sizeof d->driver, "BLIS %s (%s kernels), %d OpenMP threads", bli_info_get_version_str(), ferry_cpu_blis_config(),
             be->threads);
    snprintf(d->api, sizeof d->api, "-");
    return FERRY_OK;
}

static const struct ferry_backend_iface cpu_iface = {
    .name = "cpu",
    .alignment = CPU_ALIGN,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .scratch_bytes = cpu_scratch_bytes,
    .graph_prepare = cpu_graph_prepare,
    .graph_release = cpu_graph_release,
    .graph_compute = cpu_graph_compute,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
};

ferry_status ferry_backend_cpu_init(int threads, ferry_backend_t **out)
{
    ferry_backend_t *be = calloc(1, sizeof *be);
    if (!be) return ferry_error(FERRY_ERR_NOMEM, "cpu: out of memory");
    be->iface = &cpu_iface;
    be->threads = threads > 0 ? threads : omp_get_num_procs();
    /* Parallelism comes from the kernels' own OpenMP regions; the serial BLIS build runs inside.
     * Choose its kernels now, outside any step. */
    ferry_cpu_blis_config();
    ferry_cpu_blis_reserve(be->threads);
    *out = be;
    return FERRY_OK;
}

/* ---- registration --------------------------------------------------------------------------------- */

static ferry_status cpu_reg_init(const char *arg, int threads, ferry_backend_t **out)
{
    if (arg) return ferry_error(FERRY_ERR_INVALID, "device: 'cpu:%s': the CPU backend takes no index", arg);
    return ferry_backend_cpu_init(threads, out);
}

static ferry_status cpu_list(void *file)
{
    ferry_backend_t *cpu = NULL;
    ferry_status s = ferry_backend_cpu_init(0, &cpu);
    if (s) return s;
    ferry_device_desc d;
    ferry_backend_describe(cpu, &d);
    fprintf(file, "cpu  %s\n    vendor      %s\n    driver      %s\n", d.name, d.vendor, d.driver);
    ferry_backend_free(cpu);
    return FERRY_OK;
}

const struct ferry_backend_reg ferry_backend_reg_cpu = {
    .name = "cpu",
    .auto_priority = 0,
    .init = cpu_reg_init,
    .list = cpu_list,
    .supports = ferry_cpu_supports,
};
