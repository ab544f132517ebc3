/* Geometry and variants of a data set (each a new data set; the input is unchanged): channel and
 * size conversion, rotation, ColoredMNIST-style colouring and subsets; plus the pixel helpers of
 * transform.h. */
#include "transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <stb_image_resize.h>

#define NAME_MAX_LEN 1024

/* ---- pixel helpers ------------------------------------------------------------------------- */

float ferry_luminance(float r, float g, float b)
{
    if (r == g && g == b) return r;
    return 0.299f * r + 0.587f * g + 0.114f * b;
}

bool ferry_convert_channels(const float *src, int sc, float *dst, int dc, size_t hw)
{
    if (sc == dc) {
        memcpy(dst, src, (size_t)sc * hw * sizeof *dst);
    } else if (sc == 1 && dc == 3) {
        for (int k = 0; k < 3; k++) memcpy(dst + (size_t)k * hw, src, hw * sizeof *dst);
    } else if (sc == 3 && dc == 1) {
        const float *r = src, *g = src + hw, *b = src + 2 * hw;
        for (size_t i = 0; i < hw; i++) dst[i] = ferry_luminance(r[i], g[i], b[i]);
    } else {
        return false;
    }
    return true;
}

static stbir_filter resize_filter(int from, int to)
{
    return to >= from || (double)from / to < 1.15 ? STBIR_FILTER_TRIANGLE : STBIR_FILTER_BOX;
}

ferry_status ferry_resize_bilinear(const float *src, int c, int sh, int sw, float *dst, int dh, int dw,
                                   const char *what)
{
    size_t splane = (size_t)sh * (size_t)sw, dplane = (size_t)dh * (size_t)dw;
    if (sh == dh && sw == dw) {
        memcpy(dst, src, (size_t)c * splane * sizeof *dst);
        return FERRY_OK;
    }
    /* One call per plane: stb_image_resize works on interleaved pixels, a plane is a 1-channel
     * image. Per axis, the triangle filter (bilinear interpolation when enlarging, its area-weighted
     * counterpart when shrinking a little) or, for larger reductions, the box filter (area averaging):
     * Debian's stb is built with assertions, and its triangle filter aborts on shrink ratios from
     * about 1.16 (300 -> 224, 451 -> 299); every ratio below 1.15 passes for sides up to 2048
     * (measured). Both filters have non-negative weights, so values stay in range. */
    for (int k = 0; k < c; k++)
        if (!stbir_resize(src + (size_t)k * splane, sw, sh, 0, dst + (size_t)k * dplane, dw, dh, 0, STBIR_TYPE_FLOAT, 1,
                          STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, resize_filter(sw, dw),
                          resize_filter(sh, dh), STBIR_COLORSPACE_LINEAR, NULL))
            return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory resizing %dx%d to %dx%d", what, sh, sw, dh,
                               dw);
    return FERRY_OK;
}

void ferry_path_stem(const char *path, const char *const *suffixes, char *out, size_t out_size)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--; /* "dir/" names dir */
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    for (int i = 0; suffixes && suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (len - start > k && strncmp(path + len - k, suffixes[i], k) == 0) len -= k;
    }
    if (len == start || (len - start == 1 && path[start] == '/'))
        snprintf(out, out_size, "data");
    else
        snprintf(out, out_size, "%.*s", (int)(len - start), path + start);
}

/* ---- argument checks shared by the variants ---------------------------------------------- */

static ferry_status check_ds(const ferry_dataset_t *ds, ferry_dataset_t **out, const char *fn)
{
    if (out) *out = NULL;
    if (!ds || !out) return ferry_error(FERRY_ERR_INVALID, "%s: NULL argument", fn);
    return FERRY_OK;
}

static size_t image_size(const ferry_dataset_t *ds) { return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w; }

/* ---- convert --------------------------------------------------------------------------------- */

ferry_status ferry_dataset_convert(const ferry_dataset_t *ds, int c, int h, int w, ferry_dataset_t **out)
{
    ferry_status s = check_ds(ds, out, "dataset_convert");
    if (s) return s;
    if (c != 1 && c != 3)
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': cannot convert to %d channels (1 or 3)",
                           ds->name, c);
    if (ds->c != c && ds->c != 1 && ds->c != 3)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "data set '%s': cannot convert %d channels to %d (only 1 <-> 3)", ds->name, ds->c,
                           c);
    if (h <= 0 || w <= 0)
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': cannot resize to %dx%d", ds->name, h, w);

    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s@%dx%dx%d", ds->name, h, w, c);
    ferry_dataset_t *r;
    if ((s = ferry_dataset_alloc_like(name, ds->n, c, h, w, ds, &r))) return s;
    memcpy(r->labels, ds->labels, (size_t)ds->n * sizeof *r->labels);

    /* Channel conversion at the smaller channel count: to grey before resizing, to RGB after. */
    int mid_c = c < ds->c ? c : ds->c;
    size_t src_hw = (size_t)ds->h * (size_t)ds->w, dst_hw = (size_t)h * (size_t)w;
    float *tmp = malloc((size_t)mid_c * (src_hw > dst_hw ? src_hw : dst_hw) * sizeof *tmp);
    if (!tmp) {
        ferry_dataset_free(r);
        return ferry_error(FERRY_ERR_NOMEM, "data set '%s': out of memory converting", ds->name);
    }
    for (int64_t i = 0; i < ds->n && !s; i++) {
        const float *in = ds->images + (size_t)i * image_size(ds);
        float *o = r->images + (size_t)i * image_size(r);
        if (c <= ds->c) {
            ferry_convert_channels(in, ds->c, tmp, c, src_hw);
            s = ferry_resize_bilinear(tmp, c, ds->h, ds->w, o, h, w, ds->name);
        } else {
            s = ferry_resize_bilinear(in, ds->c, ds->h, ds->w, tmp, h, w, ds->name);
            if (!s) ferry_convert_channels(tmp, ds->c, o, c, dst_hw);
        }
    }
    free(tmp);
    if (s) {
        ferry_dataset_free(r);
        return s;
    }
    *out = r;
    return FERRY_OK;
}

/* ---- rotate ---------------------------------------------------------------------------------- */

/* Exact sine and cosine at multiples of 90 degrees (so that those rotations move pixels exactly). */
static void sin_cos_degrees(double degrees, double *sn, double *cs)
{
    double d = fmod(degrees, 360.0);
    if (d < 0) d += 360.0;
    if (d == 0.0)
        *sn = 0, *cs = 1;
    else if (d == 90.0)
        *sn = 1, *cs = 0;
    else if (d == 180.0)
        *sn = 0, *cs = -1;
    else if (d == 270.0)
        *sn = -1, *cs = 0;
    else
        *sn = sin(d * M_PI / 180.0), *cs = cos(d * M_PI / 180.0);
}

/* One plane: out(x, y) = in at the point that the rotation carries to (x, y). With the image's y
 * axis pointing down, a counter-clockwise turn by t carries offset (dx, dy) from the centre to
 * (dx cos t + dy sin t, -dx sin t + dy cos t), so the source of (dx, dy) is
 * (dx cos t - dy sin t, dx sin t + dy cos t). Bilinear between the 4 neighbours; outside is 0. */
static void rotate_plane(const float *in, float *o, int h, int w, double sn, double cs)
{
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - cx, dy = y - cy;
            double sx = cx + dx * cs - dy * sn, sy = cy + dx * sn + dy * cs;
            double fx0 = floor(sx), fy0 = floor(sy);
            double ax = sx - fx0, ay = sy - fy0, v = 0;
            if (fx0 >= -1 && fx0 < w && fy0 >= -1 && fy0 < h) {
                int x0 = (int)fx0, y0 = (int)fy0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xi = x0 + i, yj = y0 + j;
                        double wt = (i ? ax : 1 - ax) * (j ? ay : 1 - ay);
                        if (wt != 0 && xi >= 0 && xi < w && yj >= 0 && yj < h)
                            v += wt * in[(size_t)yj * (size_t)w + (size_t)xi];
                    }
            }
            o[(size_t)y * (size_t)w + (size_t)x] = (float)v;
        }
}

ferry_status ferry_dataset_rotate(const ferry_dataset_t *ds, double degrees, ferry_dataset_t **out)
{
    ferry_status s = check_ds(ds, out, "dataset_rotate");
    if (s) return s;
    if (!isfinite(degrees))
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': rotation by %g degrees", ds->name, degrees);
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s@rot%g", ds->name, degrees);
    ferry_dataset_t *r;
    if ((s = ferry_dataset_alloc_like(name, ds->n, ds->c, ds->h, ds->w, ds, &r))) return s;
    memcpy(r->labels, ds->labels, (size_t)ds->n * sizeof *r->labels);
    double sn, cs;
    sin_cos_degrees(degrees, &sn, &cs);
    size_t plane = (size_t)ds->h * (size_t)ds->w, planes = (size_t)ds->n * (size_t)ds->c;
    for (size_t p = 0; p < planes; p++)
        rotate_plane(ds->images + p * plane, r->images + p * plane, ds->h, ds->w, sn, cs);
    *out = r;
    return FERRY_OK;
}

/* ---- colorize -------------------------------------------------------------------------------- */

/* Each image's luminance v (the image itself when it has 1 channel, ferry_luminance of its RGB
 * when it has 3) becomes the RGB image (v, 0, 0) ("red") or (0, v, 0) ("green"), like DomainBed's
 * ColoredMNIST with a zero blue channel; labels are kept as they are (neither binarised nor
 * noised). Colour: one mt19937 stream (gsl_rng_set(seed)) draws u = gsl_rng_uniform() per example,
 * in order; the example agrees when u < p_agree. An agreeing example is red for an even label and
 * green for an odd one; a disagreeing one the other way round. */
ferry_status ferry_dataset_colorize(const ferry_dataset_t *ds, double p_agree, uint64_t seed,
                                    ferry_dataset_t **out)
{
    ferry_status s = check_ds(ds, out, "dataset_colorize");
    if (s) return s;
    if (!(p_agree >= 0.0 && p_agree <= 1.0))
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': colour agreement %g is not in [0, 1]", ds->name,
                           p_agree);
    if (ds->c != 1 && ds->c != 3)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "data set '%s': cannot colour %d-channel images (1 or 3)",
                           ds->name, ds->c);
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s@color%g", ds->name, p_agree);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return ferry_error(FERRY_ERR_NOMEM, "data set '%s': out of memory for the RNG", ds->name);
    gsl_rng_set(rng, (unsigned long)seed);
    ferry_dataset_t *r;
    if ((s = ferry_dataset_alloc_like(name, ds->n, 3, ds->h, ds->w, ds, &r))) {
        gsl_rng_free(rng);
        return s;
    }
    memcpy(r->labels, ds->labels, (size_t)ds->n * sizeof *r->labels);
    size_t hw = (size_t)ds->h * (size_t)ds->w;
    for (int64_t i = 0; i < ds->n; i++) {
        bool agree = gsl_rng_uniform(rng) < p_agree;
        int green = (ds->labels[i] & 1) ^ !agree; /* 0: red channel, 1: green channel */
        float *o = r->images + (size_t)i * 3 * hw;
        memset(o, 0, 3 * hw * sizeof *o);
        ferry_convert_channels(ds->images + (size_t)i * image_size(ds), ds->c, o + (size_t)green * hw, 1, hw);
    }
    gsl_rng_free(rng);
    *out = r;
    return FERRY_OK;
}

/* ---- subset ---------------------------------------------------------------------------------- */

ferry_status ferry_dataset_subset(const ferry_dataset_t *ds, const int64_t *idx, int64_t n, const char *name,
                                  ferry_dataset_t **out)
{
    ferry_status s = check_ds(ds, out, "dataset_subset");
    if (s) return s;
    if (n <= 0 || !idx)
        return ferry_error(FERRY_ERR_INVALID, "data set '%s': subset of %lld examples", ds->name,
                           (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return ferry_error(FERRY_ERR_INVALID,
                               "data set '%s': subset index %lld (position %lld) is outside [0, %lld)",
                               ds->name, (long long)idx[i], (long long)i, (long long)ds->n);
    char def[NAME_MAX_LEN];
    if (!name || !name[0]) {
        snprintf(def, sizeof def, "%s@subset%lld", ds->name, (long long)n);
        name = def;
    }
    ferry_dataset_t *r;
    if ((s = ferry_dataset_alloc_like(name, n, ds->c, ds->h, ds->w, ds, &r))) return s;
    size_t per = image_size(ds);
    for (int64_t i = 0; i < n; i++) {
        memcpy(r->images + (size_t)i * per, ds->images + (size_t)idx[i] * per, per * sizeof *r->images);
        r->labels[i] = ds->labels[idx[i]];
    }
    *out = r;
    return FERRY_OK;
}

ferry_status ferry_dataset_concat(const ferry_dataset_t *a, const ferry_dataset_t *b, const char *name,
                                  ferry_dataset_t **out)
{
    ferry_status s = check_ds(a, out, "dataset_concat");
    if (s || (s = check_ds(b, out, "dataset_concat"))) return s;
    if (a->c != b->c || a->h != b->h || a->w != b->w || a->classes != b->classes)
        return ferry_error(FERRY_ERR_INVALID,
                           "data sets '%s' (%d x %d x %d, %d classes) and '%s' (%d x %d x %d, %d classes) cannot be "
                           "joined: geometry and classes must agree",
                           a->name, a->c, a->h, a->w, a->classes, b->name, b->c, b->h, b->w, b->classes);
    char def[NAME_MAX_LEN];
    if (!name || !name[0]) {
        snprintf(def, sizeof def, "%s+%s", a->name, b->name);
        name = def;
    }
    ferry_dataset_t *r;
    if ((s = ferry_dataset_alloc_like(name, a->n + b->n, a->c, a->h, a->w, a, &r))) return s;
    size_t per = image_size(a);
    memcpy(r->images, a->images, (size_t)a->n * per * sizeof *r->images);
    memcpy(r->images + (size_t)a->n * per, b->images, (size_t)b->n * per * sizeof *r->images);
    memcpy(r->labels, a->labels, (size_t)a->n * sizeof *r->labels);
    memcpy(r->labels + a->n, b->labels, (size_t)b->n * sizeof *r->labels);
    *out = r;
    return FERRY_OK;
}
