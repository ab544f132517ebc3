/* Static graphs: selecting the ops to run, planning memory once, running every step. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ferry_tensor T;

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static size_t tensor_bytes(const T *t) { return (size_t)t->numel * ferry_dtype_size(t->dtype); }

/* ---- backend helpers ---------------------------------------------------------------------------- */

ferry_status ferry_backend_alloc(ferry_backend_t *be, size_t size, ferry_buffer **out)
{
    ferry_status s = be->iface->buffer_alloc(be, size ? size : 1, out);
    if (s == FERRY_OK) {
        be->stats.buffer_allocs++;
        be->stats.bytes_allocated += (*out)->size;
    }
    return s;
}

void ferry_backend_release(ferry_backend_t *be, ferry_buffer *buf)
{
    if (!buf) return;
    be->stats.bytes_allocated -= buf->size;
    be->iface->buffer_free(be, buf);
}

void ferry_backend_free(ferry_backend_t *be)
{
    if (be) be->iface->destroy(be);
}

const char *ferry_backend_name(const ferry_backend_t *be) { return be->iface->name; }
int ferry_backend_threads(const ferry_backend_t *be) { return be->threads; }
void ferry_backend_get_stats(const ferry_backend_t *be, ferry_backend_stats *out)
{
    *out = be->stats;
    out->validation_messages = 0; /* process-wide, from every kind that has a validation layer */
    for (int i = 0; ferry_backend_registry[i]; i++)
        if (ferry_backend_registry[i]->validation_messages)
            out->validation_messages += ferry_backend_registry[i]->validation_messages();
}

/* ---- selecting nodes -------------------------------------------------------------------------- */

/* Marks the outputs, the side effects and everything they depend on, sweeping down the ids: a
 * source has a smaller id than its reader except for recomputed ops (autodiff.c), which are read
 * by nodes made before them, so a sweep that marked such an op is followed by another. */
static void mark_needed(ferry_ctx_t *ctx, bool *needed)
{
    bool again = true;
    while (again) {
        again = false;
        for (int i = ctx->n - 1; i >= 0; i--) {
            T *t = ctx->tensors[i];
            if (t->flags & (FERRY_FLAG_OUTPUT | FERRY_FLAG_SIDE_EFFECT)) needed[i] = true;
            if (!needed[i]) continue;
            for (int j = 0; j < FERRY_MAX_SRC; j++)
                if (t->src[j] && !needed[t->src[j]->id]) {
                    needed[t->src[j]->id] = true;
                    again |= t->src[j]->id > i;
                }
            if (t->view_src) needed[t->view_src->id] = true;
        }
    }
}

static bool is_executed(const T *t) { return t->op != FERRY_OP_LEAF && !ferry_is_view_op(t->op); }

static bool is_update(const T *t)
{
    const struct ferry_op_info *i = ferry_op_info(t->op);
    return i && i->kind == FERRY_KIND_UPDATE;
}

/* Whether update u writes its source j in place (ops.def: the parameter and its state). */
static bool update_writes(const T *u, int j)
{
    if (j == 0) return true;
    if (u->op == FERRY_OP_SGD_UPDATE) return j == 2;
    if (u->op == FERRY_OP_ADAM_UPDATE) return j == 2 || j == 3;
    return true; /* an update kind not listed here: assume it writes everything */
}

/* ---- scheduling updates early ----------------------------------------------------------------------
 * Optimizer updates are recorded after the whole backward pass, so every parameter's gradient would
 * stay live until the end of the step. Each update moves to just after the last node recorded
 * before it that it depends on: the producers of its sources and every node that reads any of them
 * (the parameter and its optimizer state are written in place, so all their earlier readers must
 * have run); nodes recorded after it stay after it. Updates writing a source of a later update
 * stay before it. Values do not change: each node still reads what it read before. The gradient
 * then dies at its update, and the planner reuses its memory for the rest of backward. */
static ferry_status schedule_updates(ferry_graph_t *g)
{
    const int n = g->n_nodes, nt = g->ctx->n;
    int *producer = malloc((size_t)nt * sizeof *producer), *reader = malloc((size_t)nt * sizeof *reader);
    int *after = malloc((size_t)n * sizeof *after);
    T **order = malloc((size_t)n * sizeof *order);
    ferry_status s = FERRY_OK;
    if (!producer || !reader || !after || !order) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory scheduling the graph");
        goto done;
    }
    for (int i = 0; i < nt; i++) producer[i] = reader[i] = -1;
    /* parameter leaves bound to one store entry are one tensor here: key them by the first */
    int *key = malloc((size_t)nt * sizeof *key);
    if (!key) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory scheduling the graph");
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        const T *t = g->ctx->tensors[i];
        key[i] = i;
        if (t->leaf != FERRY_LEAF_PARAM) continue;
        for (int e = 0; e < i; e++) {
            const T *o = g->ctx->tensors[e];
            if (o->leaf == FERRY_LEAF_PARAM && o->store == t->store && o->store_idx == t->store_idx) {
                key[i] = e;
                break;
            }
        }
    }
#define KEY(t) key[ferry_root(t)->id]
    /* One pass in the recorded order: a node recorded after an update stays after it (it reads
     * the updated parameter), so an update's dependencies are among the nodes before it. Positions
     * count non-update nodes only: an update is placed after one of them. */
    int pos = -1;
    for (int k = 0; k < n; k++) {
        T *u = g->nodes[k];
        if (!is_update(u)) {
            after[k] = -2;
            pos++;
            producer[u->id] = pos;
            for (int j = 0; j < FERRY_MAX_SRC; j++)
                if (u->src[j]) reader[KEY(u->src[j])] = pos;
            continue;
        }
        int a = -1;
        for (int j = 0; j < FERRY_MAX_SRC; j++) {
            if (!u->src[j]) continue;
            const int r = KEY(u->src[j]);
            if (producer[r] > a) a = producer[r];
            if (reader[r] > a) a = reader[r];
        }
        for (int e = 0; e < k; e++) /* an earlier update writing what u touches stays before u */
            if (after[e] > a && is_update(g->nodes[e]))
                for (int j = 0; j < FERRY_MAX_SRC; j++)
                    for (int i = 0; i < FERRY_MAX_SRC; i++)
                        if (u->src[j] && g->nodes[e]->src[i] && update_writes(g->nodes[e], i) &&
                            KEY(u->src[j]) == KEY(g->nodes[e]->src[i]))
                            a = after[e];
        after[k] = a;
    }
#undef KEY
    free(key);
    int m = 0;
    for (int k = 0; k < n; k++) /* updates that depend on no node */
        if (after[k] == -1) order[m++] = g->nodes[k];
    pos = -1;
    for (int k = 0; k < n; k++) {
        if (after[k] != -2) continue;
        order[m++] = g->nodes[k];
        pos++;
        for (int e = 0; e < n; e++)
            if (after[e] == pos) order[m++] = g->nodes[e];
    }
    memcpy(g->nodes, order, (size_t)n * sizeof *order);
done:
    free(producer);
    free(reader);
    free(after);
    free(order);
    return s;
}

/* ---- the liveness planner ------------------------------------------------------------------------
 * Intermediates get offsets in one arena. A tensor lives from the node that writes it to the last
 * node that reads it (through any view); a block is reused as soon as its tensor is dead. Outputs
 * live to the end. Best-fit placement among the gaps of the live set. */

struct live_block {
    size_t off, size;
    int owner; /* tensor id */
};

struct planner {
    struct live_block *live;
    int n_live;
    size_t peak;
    size_t align;
};

static size_t plan_alloc(struct planner *p, size_t size, int owner)
{
    size = align_up(size, p->align);
    size_t best_off = SIZE_MAX, best_gap = SIZE_MAX, prev_end = 0;
    int best_at = p->n_live;
    for (int i = 0; i <= p->n_live; i++) { /* live blocks are kept sorted by offset */
        size_t end = i < p->n_live ? p->live[i].off : SIZE_MAX;
        size_t gap = end - prev_end;
        if (gap >= size && (best_off == SIZE_MAX || gap < best_gap)) {
            best_gap = gap;
            best_off = prev_end;
            best_at = i;
        }
        if (i < p->n_live) prev_end = p->live[i].off + p->live[i].size;
    }
    memmove(&p->live[best_at + 1], &p->live[best_at], (size_t)(p->n_live - best_at) * sizeof *p->live);
    p->live[best_at] = (struct live_block){best_off, size, owner};
    p->n_live++;
    if (best_off + size > p->peak) p->peak = best_off + size;
    return best_off;
}

static void plan_free(struct planner *p, int owner)
{
    for (int i = 0; i < p->n_live; i++) {
        if (p->live[i].owner != owner) continue;
        memmove(&p->live[i], &p->live[i + 1], (size_t)(p->n_live - i - 1) * sizeof *p->live);
        p->n_live--;
        return;
    }
}

/* last_use[id] = index in nodes[] of the last executed node reading root tensor id. */
static void compute_last_use(const ferry_graph_t *g, int *last_use)
{
    for (int k = 0; k < g->n_nodes; k++) {
        const T *t = g->nodes[k];
        for (int j = 0; j < FERRY_MAX_SRC; j++)
            if (t->src[j]) last_use[ferry_root(t->src[j])->id] = k;
    }
    for (int k = 0; k < g->n_nodes; k++)
        if (g->nodes[k]->flags & FERRY_FLAG_OUTPUT) last_use[g->nodes[k]->id] = g->n_nodes;
    /* a view marked as output keeps its root alive */
    for (int i = 0; i < g->ctx->n; i++) {
        T *t = g->ctx->tensors[i];
        if ((t->flags & FERRY_FLAG_OUTPUT) && t->view_src) last_use[ferry_root(t)->id] = g->n_nodes;
    }
}

static ferry_status plan_transient(ferry_graph_t *g)
{
    ferry_ctx_t *ctx = g->ctx;
    int *last_use = malloc((size_t)ctx->n * sizeof *last_use);
    struct planner p = {.live = calloc((size_t)g->n_nodes + 1, sizeof *p.live),
                        .align = g->be->iface->alignment};
    ferry_status s = FERRY_OK;
    if (!last_use || !p.live) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory planning the graph");
        goto done;
    }
    for (int i = 0; i < ctx->n; i++) last_use[i] = -1;
    compute_last_use(g, last_use);
    for (int k = 0; k < g->n_nodes; k++) {
        T *t = g->nodes[k];
        if (!t->view_src) { /* (an in-place update writes its parameter instead) */
            t->offset = plan_alloc(&p, tensor_bytes(t), t->id);
            g->info.unpacked_bytes += align_up(tensor_bytes(t), p.align);
            if (last_use[t->id] < 0) last_use[t->id] = k; /* never read: free right away */
        }
        /* free everything whose last reader is this node (after this node's output is placed) */
        for (int j = 0; j < FERRY_MAX_SRC; j++) {
            T *r = t->src[j] ? ferry_root(t->src[j]) : NULL;
            if (r && r->op != FERRY_OP_LEAF && last_use[r->id] == k) plan_free(&p, r->id);
        }
        if (!t->view_src && last_use[t->id] == k) plan_free(&p, t->id);
    }
    g->info.transient_bytes = p.peak;
    if ((s = ferry_backend_alloc(g->be, p.peak, &g->transient)) == FERRY_ERR_NOMEM)
        s = ferry_error(s, "the graph's intermediate tensors (%d ops, %.2f GiB at their peak; a smaller batch or input "
                        "size needs less): %s", g->n_nodes, (double)p.peak / (1u << 30), ferry_last_error());
done:
    free(last_use);
    free(p.live);
    return s;
}

/* Places inputs and constants in one buffer; binds parameters and planned tensors. */
static ferry_status place_leaves(ferry_graph_t *g, const bool *needed)
{
    ferry_ctx_t *ctx = g->ctx;
    size_t a = g->be->iface->alignment, total = 0;
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        if (!needed[i] || t->op != FERRY_OP_LEAF || t->leaf == FERRY_LEAF_PARAM) continue;
        t->offset = total;
        total += align_up(tensor_bytes(t), a);
    }
    g->info.input_bytes = total;
    ferry_status s = ferry_backend_alloc(g->be, total, &g->inputs);
    if (s == FERRY_ERR_NOMEM)
        s = ferry_error(s, "the graph's inputs and constants (%.2f GiB): %s", (double)total / (1u << 30),
                        ferry_last_error());
    if (s) return s;
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        if (!needed[i] || t->op != FERRY_OP_LEAF) continue;
        if (t->leaf == FERRY_LEAF_PARAM) {
            t->buf = ferry_store_buffer(t->store, t->store_idx);
            t->offset = 0;
        } else {
            t->buf = g->inputs;
        }
    }
    return FERRY_OK;
}

/* Resolves every needed tensor's (buffer, offset); views follow their source. */
static void bind_all(ferry_graph_t *g, const bool *needed)
{
    ferry_ctx_t *ctx = g->ctx;
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        if (!needed[i] || t->op == FERRY_OP_LEAF) continue;
        if (t->view_src) {
            t->buf = t->view_src->buf;
            t->offset = t->view_src->offset + (size_t)t->view_off * ferry_dtype_size(t->dtype);
        } else {
            t->buf = g->transient;
        }
    }
}

/* Uploads constants and the initial values of scalar inputs. */
static ferry_status upload_constants(ferry_graph_t *g, const bool *needed)
{
    ferry_ctx_t *ctx = g->ctx;
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        bool init = t->leaf == FERRY_LEAF_CONST || (t->leaf == FERRY_LEAF_INPUT && t->fp[7] == 1.0f);
        if (!needed[i] || !init) continue;
        float *v = malloc(tensor_bytes(t));
        if (!v) return ferry_error(FERRY_ERR_NOMEM, "out of memory uploading constants");
        for (int64_t k = 0; k < t->numel; k++) v[k] = t->const_value;
        ferry_status s = g->be->iface->upload(g->be, t->buf, t->offset, v, tensor_bytes(t));
        free(v);
        if (s) return s;
    }
    return FERRY_OK;
}

static ferry_status alloc_scratch(ferry_graph_t *g)
{
    size_t need = 0;
    for (int k = 0; k < g->n_nodes; k++)
        if (g->be->iface->scratch_bytes) {
            size_t b = g->be->iface->scratch_bytes(g->be, g->nodes[k]);
            if (b > need) need = b;
        }
    g->scratch_size = need;
    ferry_status s = need ? ferry_backend_alloc(g->be, need, &g->scratch) : FERRY_OK;
    if (s == FERRY_ERR_NOMEM)
        s = ferry_error(s, "the graph's scratch space (%.2f GiB): %s", (double)need / (1u << 30), ferry_last_error());
    return s;
}

/* Appends t to the nodes in creation order, preceded by the recomputed ops (autodiff.c) it reads
 * that have not run yet, each after its own such sources: a recomputed op runs right before its
 * first reader. */
static void emit_node(ferry_graph_t *g, bool *emitted, T *t)
{
    for (int j = 0; j < FERRY_MAX_SRC; j++) {
        T *r = t->src[j];
        if (r && (r->flags & FERRY_FLAG_RECOMPUTE) && !emitted[r->id]) emit_node(g, emitted, r);
    }
    emitted[t->id] = true;
    g->nodes[g->n_nodes++] = t;
}

ferry_status ferry_graph_init(ferry_ctx_t *ctx, ferry_backend_t *be, ferry_graph_t **out)
{
    *out = NULL;
    ferry_graph_t *g = calloc(1, sizeof *g);
    bool *needed = calloc((size_t)ctx->n + 1, sizeof *needed);
    bool *emitted = calloc((size_t)ctx->n + 1, sizeof *emitted);
    ferry_status s = FERRY_OK;
    if (!g || !needed || !emitted) {
        free(g);
        free(needed);
        free(emitted);
        return ferry_error(FERRY_ERR_NOMEM, "out of memory creating a graph");
    }
    g->ctx = ctx;
    g->be = be;
    mark_needed(ctx, needed);
    g->nodes = calloc((size_t)ctx->n + 1, sizeof *g->nodes);
    if (!g->nodes) {
        s = ferry_error(FERRY_ERR_NOMEM, "out of memory creating a graph");
        goto fail;
    }
    for (int i = 0; i < ctx->n; i++) {
        T *t = ctx->tensors[i];
        if (t->leaf == FERRY_LEAF_PARAM && ferry_store_backend(t->store) != be && needed[i]) {
            s = ferry_error(FERRY_ERR_INVALID, "parameter '%s' lives on another backend", t->name);
            goto fail;
        }
        if (needed[i] && is_executed(t) && !(t->flags & FERRY_FLAG_RECOMPUTE))
            emit_node(g, emitted, t);
    }
    if (g->n_nodes == 0) {
        s = ferry_error(FERRY_ERR_INVALID, "graph has nothing to compute: mark an output first");
        goto fail;
    }
    g->info.n_nodes = g->n_nodes;
    if ((s = schedule_updates(g)) || (s = place_leaves(g, needed)) || (s = plan_transient(g))) goto fail;
    bind_all(g, needed);
    if ((s = upload_constants(g, needed)) || (s = alloc_scratch(g))) goto fail;
    if ((s = be->iface->graph_prepare(be, g))) goto fail;
    free(needed);
    free(emitted);
    *out = g;
    return FERRY_OK;
fail:
    free(needed);
    free(emitted);
    ferry_graph_free(g);
    return s;
}

void ferry_graph_free(ferry_graph_t *g)
{
    if (!g) return;
    if (g->backend_data) g->be->iface->graph_release(g->be, g);
    ferry_backend_release(g->be, g->transient);
    ferry_backend_release(g->be, g->inputs);
    ferry_backend_release(g->be, g->scratch);
    free(g->nodes);
    free(g);
}

ferry_status ferry_graph_compute(ferry_graph_t *g)
{
    g->be->stats.submissions++;
    return g->be->iface->graph_compute(g->be, g);
}

void ferry_graph_get_info(const ferry_graph_t *g, ferry_graph_info *out) { *out = g->info; }

/* ---- host <-> backend ---------------------------------------------------------------------------- */

bool ferry_graph_uses(const ferry_graph_t *g, const ferry_tensor_t *t)
{
    return t && t->buf && t->id < g->ctx->n && g->ctx->tensors[t->id] == t;
}

static ferry_status check_access(ferry_graph_t *g, const T *t, size_t nbytes, bool writing)
{
    char sh[64];
    if (!ferry_graph_uses(g, t))
        return ferry_error(FERRY_ERR_INVALID, "tensor '%s' is not part of this graph", t->name);
    if (nbytes != tensor_bytes(t))
        return ferry_error(FERRY_ERR_SHAPE, "tensor '%s' %s holds %zu bytes, not %zu", t->name,
                           ferry_shape_str(t, sh, sizeof sh), tensor_bytes(t), nbytes);
    if (writing && t->op != FERRY_OP_LEAF)
        return ferry_error(FERRY_ERR_INVALID, "tensor '%s' is computed, not an input", t->name);
    bool readable = t->op == FERRY_OP_LEAF || (ferry_root((T *)t)->flags & FERRY_FLAG_OUTPUT) ||
                    (t->flags & FERRY_FLAG_OUTPUT);
    if (!writing && !readable)
        return ferry_error(FERRY_ERR_INVALID,
                           "tensor '%s' is an intermediate: mark it as an output to read it", t->name);
    return FERRY_OK;
}

ferry_status ferry_tensor_set(ferry_graph_t *g, ferry_tensor_t *t, const void *data, size_t nbytes)
{
    ferry_status s = check_access(g, t, nbytes, true);
    if (s) return s;
    g->be->stats.bytes_uploaded += nbytes;
    return g->be->iface->upload(g->be, t->buf, t->offset, data, nbytes);
}

ferry_status ferry_tensor_get(ferry_graph_t *g, const ferry_tensor_t *t, void *data, size_t nbytes)
{
    ferry_status s = check_access(g, t, nbytes, false);
    if (s) return s;
    g->be->stats.bytes_downloaded += nbytes;
    return g->be->iface->download(g->be, t->buf, t->offset, data, nbytes);
}

float ferry_tensor_get_scalar(ferry_graph_t *g, const ferry_tensor_t *t)
{
    float v = 0.0f / 0.0f;
    if (ferry_tensor_get(g, t, &v, sizeof v)) return 0.0f / 0.0f;
    return v;
}

void ferry_graph_print(const ferry_graph_t *g, void *file)
{
    FILE *f = file;
    char sh[64];
    for (int k = 0; k < g->n_nodes; k++) {
        const T *t = g->nodes[k];
        fprintf(f, "%4d %-22s %-20s @%zu", k, ferry_op_name(t->op), ferry_shape_str(t, sh, sizeof sh),
                t->offset);
        for (int j = 0; j < FERRY_MAX_SRC; j++)
            if (t->src[j]) fprintf(f, " #%d", t->src[j]->id);
        fprintf(f, "\n");
    }
}
