/* CPU backend: host memory, BLIS GEMMs and OpenMP threads. A prepared graph is an array of kernel
 * calls with every pointer resolved, so a step is one loop with no allocation. */
#include "cpu.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>

#define CPU_ALIGN 64

struct cpu_step {
    ferry_cpu_kernel_fn fn;
    struct ferry_cpu_args args;
    struct ferry_cpu_epilogue ep;
};

struct cpu_graph {
    struct cpu_step *steps;
    int n;
    double *seconds; /* FERRY_CPU_PROFILE=1: wall time per step, summed over the runs */
    long runs, calls;
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

/* ---- fusion -------------------------------------------------------------------------------------
 * A pass over the prepared graph folds a node into the kernel of the node before it where that
 * saves a pass over memory and computes the same values bit for bit (cpu.h, ferry_cpu_epilogue):
 *   conv2d -> add_bias or eval batch norm [-> relu, relu6 or clamp]   in the convolution's epilogue
 *   max_pool2d_bwd (of relu(z)) -> relu'  the relu's backward in the pooling's backward
 * A node is folded only when it directly follows, the tensor between the two has no other reader
 * and is not an output, and the fused kernel's writes cannot meet memory it still reads (the
 * planner may give a node's output the memory of a tensor that died at the node before).
 * FERRY_CPU_FUSE=0 turns the pass off (tests compare both ways). */

struct fuse_info {
    int *readers;   /* by tensor id: reads by executed nodes (through views too) */
    bool *observed; /* by tensor id: an output, itself or through a view */
};

static bool fuse_enabled(void)
{
    const char *e = getenv("FERRY_CPU_FUSE");
    return !e || strcmp(e, "0") != 0;
}

static size_t tensor_bytes(const struct ferry_tensor *t)
{
    return (size_t)t->numel * ferry_dtype_size(t->dtype);
}

/* Whether the memory of planned tensors a and b intersects. */
static bool overlap(const struct ferry_tensor *a, const struct ferry_tensor *b)
{
    a = ferry_root((struct ferry_tensor *)a);
    b = ferry_root((struct ferry_tensor *)b);
    if (!a->buf || a->buf != b->buf) return false;
    return a->offset < b->offset + tensor_bytes(b) && b->offset < a->offset + tensor_bytes(a);
}

static bool same_memory(const struct ferry_tensor *a, const struct ferry_tensor *b)
{
    return a->buf == b->buf && a->offset == b->offset;
}

/* Whether t may be folded away: read once (by the node fusing it), never observed. */
static bool private_to(const struct fuse_info *fi, const struct ferry_tensor *t)
{
    return !t->view_src && fi->readers[t->id] == 1 && !fi->observed[t->id];
}

static bool is_relu(const struct ferry_tensor *t, enum ferry_op op)
{
    return t->op == op && t->ip[0] == FERRY_UNARY_RELU && t->dtype == FERRY_F32 && !t->view_src;
}

static bool fuse_pool_relu_bwd(struct fuse_info *fi, const struct ferry_tensor *p,
                               const struct ferry_tensor *u)
{
    if (p->op != FERRY_OP_MAX_POOL_BWD || !is_relu(u, FERRY_OP_UNARY_BWD) || u->src[0] != p ||
        !private_to(fi, p))
        return false;
    const struct ferry_tensor *x = p->src[1], *z = u->src[1];
    if (!is_relu(x, FERRY_OP_UNARY) || (z != x->src[0] && z != x)) return false;
    if (overlap(u, p->src[0])) return false;
    if (overlap(u, x) && !(same_memory(u, x) && ferry_cpu_max_pool_bwd_in_place(p))) return false;
    fi->readers[ferry_root((struct ferry_tensor *)z)->id]--;
    return true;
}

/* The folded op after a convolution: a bias or an eval-mode batch norm of it. */
static bool is_conv_affine(const struct ferry_tensor *b, const struct ferry_tensor *c)
{
    if (b->src[0] != c || b->view_src || b->dtype != FERRY_F32) return false;
    return b->op == FERRY_OP_ADD_BIAS || (b->op == FERRY_OP_BN_APPLY && b->ip[0] != 0 && b->ndim == 4);
}

/* An activation the epilogue applies: relu, or clamp (ReLU6). */
static bool is_conv_act(const struct ferry_tensor *r, const struct ferry_tensor *b)
{
    return r->op == FERRY_OP_UNARY && r->src[0] == b && !r->view_src && r->dtype == FERRY_F32 &&
           (r->ip[0] == FERRY_UNARY_RELU || r->ip[0] == FERRY_UNARY_CLAMP || r->ip[0] == FERRY_UNARY_RELU6);
}

/* Folds b (is_conv_affine) and r = act(b) (r may be NULL) into conv2d c. */
static bool fuse_conv_epilogue(const struct fuse_info *fi, const struct ferry_tensor *c,
                               const struct ferry_tensor *b, const struct ferry_tensor *r)
{
    if (c->op != FERRY_OP_CONV2D || c->dtype != FERRY_F32 || !is_conv_affine(b, c) ||
        !private_to(fi, c))
        return false;
    const struct ferry_tensor *out[2] = {b, r};
    for (int i = 0; i < 2; i++) {
        if (!out[i]) continue;
        for (int j = 0; j < 2; j++)
            if (overlap(out[i], c->src[j])) return false;
        for (int j = 1; j < FERRY_MAX_SRC; j++)
            if (b->src[j] && overlap(out[i], b->src[j])) return false;
        if (overlap(out[i], c) && !same_memory(out[i], c)) return false;
    }
    return true;
}

static struct fuse_info fuse_analyse(const ferry_graph_t *g)
{
    struct fuse_info fi = {calloc((size_t)g->ctx->n, sizeof *fi.readers),
                           calloc((size_t)g->ctx->n, sizeof *fi.observed)};
    if (!fi.readers || !fi.observed) return fi;
    for (int k = 0; k < g->n_nodes; k++)
        for (int j = 0; j < FERRY_MAX_SRC; j++)
            if (g->nodes[k]->src[j]) fi.readers[ferry_root(g->nodes[k]->src[j])->id]++;
    for (int i = 0; i < g->ctx->n; i++) {
        struct ferry_tensor *t = g->ctx->tensors[i];
        if (t->flags & FERRY_FLAG_OUTPUT) fi.observed[ferry_root(t)->id] = true;
    }
    return fi;
}

static void step_init(struct cpu_step *st, const struct ferry_tensor *t, const ferry_graph_t *g,
                      int threads)
{
    st->fn = ferry_cpu_kernels[t->op];
    st->args.node = t;
    st->args.dst = host_ptr(t);
    for (int j = 0; j < FERRY_MAX_SRC; j++)
        if (t->src[j] && t->src[j]->buf) st->args.src[j] = host_ptr(t->src[j]);
    st->args.scratch = g->scratch ? g->scratch->host : NULL;
    st->args.nthreads = threads;
}

/* Turns the steps of g (one per node) into fused steps; *fused: nodes folded away. */
static ferry_status fuse_steps(ferry_graph_t *g, struct cpu_graph *cg, int *fused)
{
    *fused = 0;
    if (!fuse_enabled()) return FERRY_OK;
    struct fuse_info fi = fuse_analyse(g);
    bool *gone = calloc((size_t)g->n_nodes + 1, sizeof *gone);
    if (!fi.readers || !fi.observed || !gone) {
        free(fi.readers);
        free(fi.observed);
        free(gone);
        return ferry_error(FERRY_ERR_NOMEM, "cpu: out of memory preparing a graph");
    }
    struct ferry_tensor **nd = g->nodes;
    /* backward first: it decides whether a forward relu's input is still read */
    for (int k = 0; k + 1 < g->n_nodes; k++)
        if (fuse_pool_relu_bwd(&fi, nd[k], nd[k + 1])) {
            cg->steps[k].args.dst = host_ptr(nd[k + 1]);
            cg->steps[k].args.relu_mask = true;
            gone[k + 1] = true;
        }
    for (int k = 0; k + 1 < g->n_nodes; k++) {
        const struct ferry_tensor *c = nd[k], *b = nd[k + 1];
        const struct ferry_tensor *r =
            k + 2 < g->n_nodes && !gone[k + 2] && is_conv_act(nd[k + 2], b) ? nd[k + 2] : NULL;
        if (gone[k] || gone[k + 1] || !fuse_conv_epilogue(&fi, c, b, r)) continue;
        struct cpu_step *st = &cg->steps[k];
        void *const *bs = cg->steps[k + 1].args.src;
        if (b->op == FERRY_OP_ADD_BIAS)
            st->ep.bias = bs[1];
        else { /* eval batch norm: src1 mean, src2 gamma, src3 beta, src4 var; fp1 eps */
            st->ep.mean = bs[1];
            st->ep.gamma = bs[2];
            st->ep.beta = bs[3];
            st->ep.var = bs[4];
            st->ep.eps = b->fp[1];
        }
        if (r && r->ip[0] == FERRY_UNARY_CLAMP) {
            st->ep.clamp = true;
            st->ep.lo = r->fp[0];
            st->ep.hi = r->fp[1];
        } else if (r && r->ip[0] == FERRY_UNARY_RELU6) { /* the clamp expression, bounds 0 and 6 */
            st->ep.clamp = true;
            st->ep.lo = 0.0f;
            st->ep.hi = 6.0f;
        }
        st->ep.r = r ? host_ptr(r) : NULL;
        /* z is written unless the relu is its only remaining reader */
        st->ep.z = r && fi.readers[b->id] == 1 && !fi.observed[b->id] ? NULL : host_ptr(b);
        st->args.ep = &st->ep;
        gone[k + 1] = true;
        if (r) gone[k + 2] = true;
    }
    int n = 0;
    for (int k = 0; k < cg->n; k++) {
        if (gone[k]) {
            (*fused)++;
            continue;
        }
        cg->steps[n] = cg->steps[k];
        if (cg->steps[n].args.ep) cg->steps[n].args.ep = &cg->steps[n].ep;
        n++;
    }
    cg->n = n;
    free(fi.readers);
    free(fi.observed);
    free(gone);
    return FERRY_OK;
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
        step_init(st, t, g, be->threads);
    }
    ferry_status s = fuse_steps(g, cg, &g->info.n_fused);
    if (s) {
        free(cg->steps);
        free(cg);
        return s;
    }
    const char *prof = getenv("FERRY_CPU_PROFILE");
    if (prof && strcmp(prof, "0") != 0) cg->seconds = calloc((size_t)cg->n, sizeof *cg->seconds);
    g->backend_data = cg;
    return FERRY_OK;
}

static void profile_print(const struct cpu_graph *cg);

static void cpu_graph_release(ferry_backend_t *be, ferry_graph_t *g)
{
    (void)be;
    struct cpu_graph *cg = g->backend_data;
    if (cg->seconds) profile_print(cg);
    free(cg->seconds);
    free(cg->steps);
    free(cg);
    g->backend_data = NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ferry_status cpu_graph_compute(ferry_backend_t *be, ferry_graph_t *g)
{
    (void)be;
    struct cpu_graph *cg = g->backend_data;
    if (!cg->seconds) {
        for (int k = 0; k < cg->n; k++) cg->steps[k].fn(&cg->steps[k].args);
        return FERRY_OK;
    }
    const bool warm_up = cg->calls++ == 0; /* first-touch page faults, pools: not counted */
    for (int k = 0; k < cg->n; k++) {
        const double t0 = now_s();
        cg->steps[k].fn(&cg->steps[k].args);
        if (!warm_up) cg->seconds[k] += now_s() - t0;
    }
    if (!warm_up) cg->runs++;
    return FERRY_OK;
}

/* The profile of FERRY_CPU_PROFILE=1, on stderr when the graph is released: each step's mean wall
 * time over the runs after the first (which touches fresh memory and fills pools). */
static void profile_print(const struct cpu_graph *cg)
{
    double total = 0;
    for (int k = 0; k < cg->n; k++) total += cg->seconds[k];
    if (cg->runs == 0 || total <= 0) return;
    fprintf(stderr, "cpu profile: %d steps, %ld runs, %.3f ms per run\n", cg->n, cg->runs,
            1e3 * total / (double)cg->runs);
    for (int k = 0; k < cg->n; k++) {
        const struct ferry_tensor *t = cg->steps[k].args.node;
        char shape[96] = "";
        for (int d = 0, o = 0; d < t->ndim && o < (int)sizeof shape - 24; d++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, d ? ",%lld" : "%lld", (long long)t->ne[d]);
        fprintf(stderr, "  %3d %-20s %-7s [%s] %9.3f ms %5.1f%%\n", k, ferry_op_name(t->op),
                cg->steps[k].args.ep ? "+epilog" : cg->steps[k].args.relu_mask ? "+relu'" : "", shape,
                1e3 * cg->seconds[k] / (double)cg->runs, 100 * cg->seconds[k] / total);
    }
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
