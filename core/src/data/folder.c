/* A data set from a folder of images: one sub-folder per class (classes numbered in the byte order
 * of the sub-folder names), every file in a class folder an image that stb_image decodes (PNG,
 * JPEG, BMP, GIF, TGA, PSD, HDR, PIC, PNM). Names starting with '.' are skipped at both levels, as
 * are files next to the class folders. Images are taken in the byte order of their names,
 * class after class, converted to c channels (1: luminance, 3: RGB; grey replicated, alpha
 * dropped), resized bilinearly to h×w and scaled into [0, 1]. */
#include "transform.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

struct names {
    char **v;
    size_t n, cap;
};

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL, l->n = l->cap = 0;
}

static bool names_add(struct names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return false;
    l->n++;
    return true;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static ferry_status join(char *out, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        return ferry_error(FERRY_ERR_INVALID, "%s/%s: path too long", dir, name);
    return FERRY_OK;
}

/* The non-hidden entries of dir, sorted: sub-folders when want_dirs, else everything else (an
 * entry inside a class folder that is itself a folder is an error). */
static ferry_status list_dir(const char *dir, bool want_dirs, struct names *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return ferry_error(errno == ENOENT || errno == ENOTDIR ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO,
                           "%s: cannot open the folder: %s", dir, strerror(errno));
    ferry_status s = FERRY_OK;
    char path[4096];
    errno = 0;
    for (struct dirent *e; !s && (e = readdir(d)); errno = 0) {
        if (e->d_name[0] == '.') continue;
        if ((s = join(path, sizeof path, dir, e->d_name))) break;
        struct stat sb;
        if (stat(path, &sb) != 0) {
            s = ferry_error(FERRY_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
            break;
        }
        bool is_dir = S_ISDIR(sb.st_mode);
        if (!want_dirs && is_dir)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: a folder inside a class folder (expected images only)",
                            path);
        else if (!want_dirs && !S_ISREG(sb.st_mode))
            s = ferry_error(FERRY_ERR_FORMAT, "%s: not a regular file (expected an image)", path);
        else if (is_dir == want_dirs && !names_add(out, e->d_name))
            s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory listing the folder", dir);
    }
    if (!s && errno) s = ferry_error(FERRY_ERR_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
    closedir(d);
    if (!s && out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_names);
    return s;
}

/* Decodes path and writes it into dst as c planes of h×w. px is scratch space (grown as needed). */
static ferry_status load_image(const char *path, int c, int h, int w, float *dst, float **px, size_t *px_cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ferry_error(FERRY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int iw, ih, ic;
    unsigned char *img = stbi_load_from_file(f, &iw, &ih, &ic, 0);
    if (!img) {
        /* stb_image says "unknown image type" when no decoder recognises the header. */
        const char *why = stbi_failure_reason();
        fclose(f);
        if (!why || strcmp(why, "unknown image type") == 0)
            return ferry_error(FERRY_ERR_FORMAT, "%s: not an image (unknown format)", path);
        return ferry_error(FERRY_ERR_FORMAT, "%s: corrupt or truncated image (%s)", path, why);
    }
    fclose(f);
    size_t hw = (size_t)iw * (size_t)ih, need = (size_t)c * hw;
    if (need > *px_cap) {
        float *p = realloc(*px, need * sizeof *p);
        if (!p) {
            stbi_image_free(img);
            return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, iw, ih);
        }
        *px = p, *px_cap = need;
    }
    /* ic: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (stb_image's interleaved layouts). */
    float *p = *px;
    for (size_t i = 0; i < hw; i++) {
        const unsigned char *q = img + i * (size_t)ic;
        float r = q[0] / 255.0f, g = r, b = r; /* as the IDX loader scales u8 */
        if (ic >= 3) g = q[1] / 255.0f, b = q[2] / 255.0f;
        if (c == 1) {
            p[i] = ferry_luminance(r, g, b);
        } else {
            p[i] = r, p[hw + i] = g, p[2 * hw + i] = b;
        }
    }
    stbi_image_free(img);
    return ferry_resize_bilinear(p, c, ih, iw, dst, h, w, path);
}

ferry_status ferry_dataset_load_folder(const char *dir, int c, int h, int w, ferry_dataset_t **out)
{
    if (out) *out = NULL;
    if (!dir || !out) return ferry_error(FERRY_ERR_INVALID, "dataset_load_folder: NULL argument");
    if (c != 1 && c != 3) return ferry_error(FERRY_ERR_INVALID, "%s: %d channels requested (1 or 3)", dir, c);
    if (h <= 0 || w <= 0) return ferry_error(FERRY_ERR_INVALID, "%s: image size %dx%d requested", dir, h, w);

    struct names classes = {0};
    struct names *files = NULL;
    ferry_dataset_t *ds = NULL;
    float *px = NULL;
    size_t px_cap = 0;
    char path[4096];
    ferry_status s = list_dir(dir, true, &classes);
    if (!s && classes.n == 0)
        s = ferry_error(FERRY_ERR_FORMAT,
                        "%s: no class sub-folders (expected one folder of images per class)", dir);
    if (!s && classes.n > INT32_MAX)
        s = ferry_error(FERRY_ERR_FORMAT, "%s: too many class folders (%zu)", dir, classes.n);
    if (!s && !(files = calloc(classes.n, sizeof *files)))
        s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", dir);
    int64_t n = 0;
    for (size_t k = 0; !s && k < classes.n; k++) {
        if ((s = join(path, sizeof path, dir, classes.v[k]))) break;
        if ((s = list_dir(path, false, &files[k]))) break;
        if (files[k].n == 0) s = ferry_error(FERRY_ERR_FORMAT, "%s: empty class folder (no images)", path);
        n += (int64_t)files[k].n;
    }
    if (!s) {
        char name[256];
        ferry_path_stem(dir, NULL, name, sizeof name);
        s = ferry_dataset_alloc(name, n, c, h, w, (int)classes.n, &ds);
    }
    int64_t at = 0;
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    for (size_t k = 0; !s && k < classes.n; k++) {
        char class_dir[4096];
        if ((s = join(class_dir, sizeof class_dir, dir, classes.v[k]))) break;
        for (size_t i = 0; !s && i < files[k].n; i++, at++) {
            if ((s = join(path, sizeof path, class_dir, files[k].v[i]))) break;
            s = load_image(path, c, h, w, ds->images + (size_t)at * per, &px, &px_cap);
            ds->labels[at] = (int32_t)k;
        }
    }
    free(px);
    if (files)
        for (size_t k = 0; k < classes.n; k++) names_free(&files[k]);
    free(files);
    names_free(&classes);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}
