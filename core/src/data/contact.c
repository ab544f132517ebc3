/* Contact sheet: the first rows×cols images of a data set as one PNG (stb_image_write), written
 * atomically. Each image is scaled up by the whole factor s = ceil(56 / min(h, w)) (nearest
 * neighbour; 1 when the image is that large already) so that every cell is at least 56 px; cells
 * are separated from each other and from the border by 2 px of mid grey (128), so the sheet is
 * (cols·s·w + 2·(cols + 1)) × (rows·s·h + 2·(rows + 1)) pixels. Grey PNG for 1-channel images, RGB
 * otherwise (the first 3 channels; a missing third one is 0). Cells past the last image stay grey. */
#include "transform.h"

#include "ferry/io.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#define MIN_CELL 56
#define GAP 2
#define BACKGROUND 128

struct membuf {
    unsigned char *p;
    size_t n, cap;
    bool failed;
};

static void append(void *ctx, void *data, int size)
{
    struct membuf *m = ctx;
    if (m->failed || size <= 0) return;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap < m->n + (size_t)size) cap *= 2;
        unsigned char *p = realloc(m->p, cap);
        if (!p) {
            m->failed = true;
            return;
        }
        m->p = p, m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static unsigned char to_u8(float v)
{
    return v >= 1.0f ? 255 : v > 0.0f ? (unsigned char)roundf(v * 255.0f) : 0; /* NaN -> 0 */
}

ferry_status ferry_dataset_contact_sheet(const ferry_dataset_t *ds, int rows, int cols, const char *png_path)
{
    if (!ds || !png_path) return ferry_error(FERRY_ERR_INVALID, "dataset_contact_sheet: NULL argument");
    if (rows <= 0 || cols <= 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: contact sheet of %d x %d cells", png_path, rows, cols);
    int h = ds->h, w = ds->w, c = ds->c, comp = c == 1 ? 1 : 3;
    int64_t s = (MIN_CELL + (h < w ? h : w) - 1) / (h < w ? h : w);
    if (s < 1) s = 1;
    int64_t cw = s * w, ch = s * h;
    int64_t W = (int64_t)cols * cw + GAP * ((int64_t)cols + 1),
            H = (int64_t)rows * ch + GAP * ((int64_t)rows + 1);
    if (W > INT_MAX / 4 / comp || H > INT_MAX / 4 || W * H * comp > INT_MAX / 4)
        return ferry_error(FERRY_ERR_INVALID,
                           "%s: contact sheet of %d x %d cells of %lldx%lld px is too large", png_path, rows,
                           cols, (long long)cw, (long long)ch);

    size_t stride = (size_t)W * (size_t)comp;
    unsigned char *img = malloc(stride * (size_t)H);
    if (!img) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for the contact sheet", png_path);
    memset(img, BACKGROUND, stride * (size_t)H);
    size_t hw = (size_t)h * (size_t)w;
    int64_t shown = (int64_t)rows * cols < ds->n ? (int64_t)rows * cols : ds->n;
    for (int64_t k = 0; k < shown; k++) {
        const float *src = ds->images + (size_t)k * (size_t)c * hw;
        size_t x0 = (size_t)(GAP + (k % cols) * (cw + GAP)), y0 = (size_t)(GAP + (k / cols) * (ch + GAP));
        for (int64_t y = 0; y < ch; y++)
            for (int64_t x = 0; x < cw; x++) {
                size_t at = (size_t)(y / s) * (size_t)w + (size_t)(x / s);
                unsigned char *o = img + (y0 + (size_t)y) * stride + (x0 + (size_t)x) * (size_t)comp;
                for (int j = 0; j < comp; j++) o[j] = j < c ? to_u8(src[(size_t)j * hw + at]) : 0;
            }
    }
    struct membuf m = {0};
    int ok = stbi_write_png_to_func(append, &m, (int)W, (int)H, comp, img, (int)stride);
    free(img);
    ferry_status st;
    if (!ok || m.failed)
        st = ferry_error(FERRY_ERR_NOMEM, "%s: PNG encoding of the %lldx%lld contact sheet failed", png_path,
                         (long long)W, (long long)H);
    else
        st = ferry_write_file_atomic(png_path, m.p, m.n);
    free(m.p);
    return st;
}

ferry_status ferry_dataset_export_folder(const ferry_dataset_t *ds, const char *dir)
{
    if (!ds || !dir) return ferry_error(FERRY_ERR_INVALID, "dataset_export_folder: NULL argument");
    if (ds->c != 1 && ds->c != 3)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s: PNG export of %d-channel images (1 or 3)", dir, ds->c);
    const size_t hw = (size_t)ds->h * (size_t)ds->w, stride = (size_t)ds->w * (size_t)ds->c;
    unsigned char *img = malloc(hw * (size_t)ds->c);
    if (!img) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", dir);
    ferry_status st = FERRY_OK;
    char path[4096], cls[64];
    for (int64_t i = 0; i < ds->n && !st; i++) {
        const char *name = ferry_dataset_class_name(ds, ds->labels[i], cls, sizeof cls);
        if ((size_t)snprintf(path, sizeof path, "%s/%s/%06lld.png", dir, name, (long long)i) >= sizeof path) {
            st = ferry_error(FERRY_ERR_INVALID, "%s: path too long", dir);
            break;
        }
        if ((st = ferry_mkdir_parents(path))) break;
        const float *src = ds->images + (size_t)i * (size_t)ds->c * hw;
        for (size_t p = 0; p < hw; p++)
            for (int j = 0; j < ds->c; j++) img[p * (size_t)ds->c + (size_t)j] = to_u8(src[(size_t)j * hw + p]);
        struct membuf m = {0};
        int ok = stbi_write_png_to_func(append, &m, ds->w, ds->h, ds->c, img, (int)stride);
        st = !ok || m.failed ? ferry_error(FERRY_ERR_NOMEM, "%s: PNG encoding failed", path)
                             : ferry_write_file_atomic(path, m.p, m.n);
        free(m.p);
    }
    free(img);
    return st;
}
