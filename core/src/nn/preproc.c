/* Preparing images for a model: channels, size, normalisation (the model's declared preprocessing).
 *
 * The resize is stb_image_resize's bilinear (triangle) filter, the one the data sets use. Resizing is
 * linear and separable, so its weights are taken from stb once, by resizing identity matrices, and
 * each image is then two small matrix products: no allocation per batch, the same filter. */
#include "model_internal.h"
#include "../data/transform.h"

#include <stdlib.h>
#include <string.h>

struct ferry_preproc {
    int sc, sh, sw;        /* data geometry */
    int dc, dh, dw;        /* model input */
    float *rh;             /* [dh, sh]: row weights */
    float *rwt;            /* [sw, dw]: column weights, transposed */
    float *plane, *tmp;    /* [sc or dc planes at source size], [sh, dw] */
    float mean[3], inv_std[3];
    bool resize, bgr;
};

/* Weights of resizing n -> m along one axis: row j of the result holds the weights of output j. */
static ferry_status axis_weights(int n, int m, bool rows, float *out)
{
    float *eye = calloc((size_t)n * n, sizeof *eye), *r = malloc((size_t)n * m * sizeof *r);
    ferry_status s = eye && r ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory preparing a resize");
    for (int i = 0; !s && i < n; i++) eye[(size_t)i * n + i] = 1;
    /* rows: resize an n x n identity to m x n (heights only): result[j][i] = weight of input row i in
     * output row j. Columns: n x n -> n x m: result[i][j] = weight of input column i in output j. */
    if (!s) s = rows ? ferry_resize_bilinear(eye, 1, n, n, r, m, n, "resize") : ferry_resize_bilinear(eye, 1, n, n, r, n, m, "resize");
    if (!s) memcpy(out, r, (size_t)n * m * sizeof *r);
    free(eye);
    free(r);
    return s;
}

ferry_status ferry_preproc_init(const ferry_model_t *m, int c, int h, int w, ferry_preproc_t **out)
{
    *out = NULL;
    if ((c != 1 && c != 3) || h < 1 || w < 1)
        return ferry_error(FERRY_ERR_INVALID, "%s: cannot prepare %dx%dx%d images", m->arch, c, h, w);
    if (c != m->in_c && m->in_c != 1 && m->in_c != 3)
        return ferry_error(FERRY_ERR_INVALID, "%s: cannot convert %d channels to %d", m->arch, c, m->in_c);
    ferry_preproc_t *p = calloc(1, sizeof *p);
    if (!p) return ferry_error(FERRY_ERR_NOMEM, "out of memory preparing images");
    *p = (ferry_preproc_t){.sc = c, .sh = h, .sw = w, .dc = m->in_c, .dh = m->in_h, .dw = m->in_w};
    p->resize = h != p->dh || w != p->dw;
    p->bgr = m->pre.bgr;
    for (int k = 0; k < 3; k++) {
        p->mean[k] = m->pre.mean[k];
        p->inv_std[k] = m->pre.std[k] != 0 ? 1.0f / m->pre.std[k] : 1.0f;
    }
    int planes = 3; /* luminance or channel-swap scratch */
    p->plane = malloc((size_t)planes * (h * w > p->dh * p->dw ? h * w : p->dh * p->dw) * sizeof(float));
    ferry_status s = p->plane ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "out of memory preparing images");
    if (!s && p->resize) {
        p->rh = malloc((size_t)p->dh * h * sizeof(float));
        p->rwt = malloc((size_t)w * p->dw * sizeof(float));
        p->tmp = malloc((size_t)h * p->dw * sizeof(float));
        if (!p->rh || !p->rwt || !p->tmp) s = ferry_error(FERRY_ERR_NOMEM, "out of memory preparing a resize");
        if (!s) s = axis_weights(h, p->dh, true, p->rh);
        if (!s) s = axis_weights(w, p->dw, false, p->rwt);
    }
    if (s) {
        ferry_preproc_free(p);
        return s;
    }
    *out = p;
    return FERRY_OK;
}

void ferry_preproc_free(ferry_preproc_t *p)
{
    if (!p) return;
    free(p->rh);
    free(p->rwt);
    free(p->plane);
    free(p->tmp);
    free(p);
}

size_t ferry_preproc_size(const ferry_preproc_t *p) { return (size_t)p->dc * p->dh * p->dw; }

/* dst [dh, dw] = rh [dh, sh] · src [sh, sw] · rwt [sw, dw] */
static void resize_plane(const ferry_preproc_t *p, const float *src, float *dst)
{
    for (int i = 0; i < p->sh; i++) {
        float *t = p->tmp + (size_t)i * p->dw;
        memset(t, 0, (size_t)p->dw * sizeof *t);
        for (int k = 0; k < p->sw; k++) {
            float v = src[(size_t)i * p->sw + k];
            if (v == 0) continue;
            const float *wr = p->rwt + (size_t)k * p->dw;
            for (int j = 0; j < p->dw; j++) t[j] += v * wr[j];
        }
    }
    for (int i = 0; i < p->dh; i++) {
        float *d = dst + (size_t)i * p->dw;
        memset(d, 0, (size_t)p->dw * sizeof *d);
        for (int k = 0; k < p->sh; k++) {
            float a = p->rh[(size_t)i * p->sh + k];
            if (a == 0) continue;
            const float *t = p->tmp + (size_t)k * p->dw;
            for (int j = 0; j < p->dw; j++) d[j] += a * t[j];
        }
    }
}

ferry_status ferry_preproc_run(ferry_preproc_t *p, const float *src, int n, float *dst)
{
    const size_t shw = (size_t)p->sh * p->sw, dhw = (size_t)p->dh * p->dw;
    const int rc = p->sc < p->dc ? p->sc : p->dc; /* planes to resize: grey is replicated after */
    for (int i = 0; i < n; i++) {
        const float *s = src + (size_t)i * p->sc * shw;
        float *d = dst + (size_t)i * p->dc * dhw;
        if (p->sc == 3 && p->dc == 1) { /* luminance first */
            ferry_convert_channels(s, 3, p->plane, 1, shw);
            s = p->plane;
        }
        for (int k = 0; k < rc; k++) {
            if (p->resize) resize_plane(p, s + (size_t)k * shw, d + (size_t)k * dhw);
            else memcpy(d + (size_t)k * dhw, s + (size_t)k * shw, dhw * sizeof *d);
        }
        for (int k = rc; k < p->dc; k++) memcpy(d + (size_t)k * dhw, d, dhw * sizeof *d);
        if (p->bgr && p->dc == 3) { /* R, G, B -> B, G, R */
            memcpy(p->plane, d, dhw * sizeof *d);
            memcpy(d, d + 2 * dhw, dhw * sizeof *d);
            memcpy(d + 2 * dhw, p->plane, dhw * sizeof *d);
        }
        for (int k = 0; k < p->dc; k++) {
            float *pl = d + (size_t)k * dhw, mu = p->mean[k], is = p->inv_std[k];
            for (size_t j = 0; j < dhw; j++) pl[j] = (pl[j] - mu) * is;
        }
    }
    return FERRY_OK;
}
