/* A frozen backbone's features over a whole data set: computed once, in batches, and kept on disk
 * (see ferry_model_features_cached in nn.h). */
#include "model_internal.h"
#include "ferry/data.h"
#include "ferry/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Digest of everything the features depend on: the backbone's parameters and statistics (names,
 * shapes, values), the model's input and preprocessing, and the images with their geometry. Each
 * part is hashed alone, then the list of digests. */
static ferry_status cache_key(const ferry_model_t *m, ferry_backend_t *be, const float *images, int64_t n, int c,
                              int h, int w, char key[65])
{
    size_t cap = 4096, len = 0;
    char *list = malloc(cap);
    if (!list) return ferry_error(FERRY_ERR_NOMEM, "out of memory hashing a backbone");
    /* the backend and its threads too: a fixed reduction order gives the same bits only on the same */
    ferry_device_desc dev;
    ferry_backend_describe(be, &dev);
    len += (size_t)snprintf(list, cap, "ferry-features-1 %s %s %d %s in %dx%dx%d pre %g,%g,%g/%g,%g,%g bgr %d data %lldx%dx%dx%d\n",
                            dev.backend, dev.name, ferry_backend_threads(be), m->arch, m->in_c, m->in_h, m->in_w, (double)m->pre.mean[0], (double)m->pre.mean[1],
                            (double)m->pre.mean[2], (double)m->pre.std[0], (double)m->pre.std[1],
                            (double)m->pre.std[2], m->pre.bgr, (long long)n, c, h, w);
    ferry_status s = FERRY_OK;
    for (int i = 0; i < ferry_store_count(m->st) && !s; i++) {
        const char *name = ferry_store_name(m->st, i);
        if (!ferry_model_is_backbone(m, name) || strchr(name, '#') || !strncmp(name, "start/", 6)) continue;
        int64_t k = ferry_store_numel(m->st, i);
        float *v = malloc((size_t)k * sizeof *v);
        if (!v) s = ferry_error(FERRY_ERR_NOMEM, "out of memory hashing '%s'", name);
        if (!s) s = ferry_store_get(m->st, i, v, (size_t)k * sizeof *v);
        char d[65];
        if (!s) ferry_sha256_mem(v, (size_t)k * sizeof *v, d);
        free(v);
        if (s) break;
        size_t need = strlen(name) + 100;
        if (len + need > cap) {
            char *bigger = realloc(list, cap = 2 * cap + need);
            if (!bigger) {
                s = ferry_error(FERRY_ERR_NOMEM, "out of memory hashing a backbone");
                break;
            }
            list = bigger;
        }
        len += (size_t)snprintf(list + len, cap - len, "%s %lld %s\n", name, (long long)k, d);
    }
    if (!s) {
        char d[65];
        ferry_sha256_mem(images, (size_t)n * c * h * w * sizeof *images, d);
        if (len + 80 > cap) {
            char *bigger = realloc(list, cap + 80);
            if (!bigger) s = ferry_error(FERRY_ERR_NOMEM, "out of memory hashing a backbone");
            else list = bigger, cap += 80;
        }
        if (!s) {
            len += (size_t)snprintf(list + len, cap - len, "images %s\n", d);
            ferry_sha256_mem(list, len, key);
        }
    }
    free(list);
    return s;
}

static ferry_status compute(ferry_model_t *m, ferry_backend_t *be, const float *images, int64_t n, int c, int h,
                            int w, float *out)
{
    ferry_preproc_t *pp = NULL;
    ferry_status s = ferry_preproc_init(m, c, h, w, &pp);
    if (s) return s;
    const int batch = ferry_model_eval_batch(m, 128);
    const int chunk = batch * 4;
    const size_t img = (size_t)c * h * w;
    float *x = malloc((size_t)chunk * ferry_preproc_size(pp) * sizeof *x);
    if (!x) s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory computing features", m->arch);
    for (int64_t i = 0; !s && i < n; i += chunk) {
        int k = (int)(n - i < chunk ? n - i : chunk);
        if (!(s = ferry_preproc_run(pp, images + (size_t)i * img, k, x)))
            s = ferry_model_infer(m, be, x, k, batch, out + (size_t)i * m->feature_dim, NULL);
    }
    free(x);
    ferry_preproc_free(pp);
    return s;
}

ferry_status ferry_model_features_cached(ferry_model_t *m, ferry_backend_t *be, const float *images, int64_t n,
                                         int c, int h, int w, bool use_disk, float **out)
{
    *out = NULL;
    const size_t bytes = (size_t)n * m->feature_dim * sizeof(float);
    float *f = malloc(bytes ? bytes : 1);
    if (!f) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for %lld features", m->arch, (long long)n);
    char dir[1024], path[1200], key[65];
    ferry_status s = FERRY_OK;
    bool disk = use_disk && !ferry_data_dir(dir, sizeof dir) && !cache_key(m, be, images, n, c, h, w, key);
    if (disk) {
        snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/features");
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, key);
        ferry_safetensors_t *st = NULL;
        if (access(path, R_OK) == 0 && !ferry_safetensors_open(path, &st)) {
            const ferry_st_entry *e = ferry_safetensors_find(st, "features");
            bool ok = e && e->dtype == FERRY_F32 && e->nbytes == bytes;
            if (ok) memcpy(f, e->data, bytes);
            ferry_safetensors_free(st);
            if (ok) {
                *out = f;
                return FERRY_OK;
            }
        }
        ferry_clear_error();
    }
    s = compute(m, be, images, n, c, h, w, f);
    if (!s && disk && !ferry_mkdir_p(dir)) {
        ferry_st_entry e = {.name = "features", .dtype = FERRY_F32, .ndim = 2, .shape = {n, m->feature_dim},
                            .data = f, .nbytes = bytes};
        const char *keys[] = {"arch"}, *vals[] = {m->arch};
        if (ferry_safetensors_write(path, &e, 1, keys, vals, 1)) ferry_clear_error(); /* a cache: optional */
    }
    if (s) {
        free(f);
        return s;
    }
    *out = f;
    return FERRY_OK;
}
