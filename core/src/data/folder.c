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

#include "ferry/io.h"

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
    ferry_status s = ferry_resize_bilinear(p, c, ih, iw, dst, h, w, path);
    /* the filters' weights add up to 1 only to rounding: a white pixel can come out 1 + 1 ulp */
    for (size_t i = 0, n = (size_t)c * (size_t)h * (size_t)w; !s && i < n; i++)
        dst[i] = dst[i] < 0 ? 0 : dst[i] > 1 ? 1 : dst[i];
    return s;
}

/* The largest image a folder may hold: decoding is refused before allocating anything beyond it. */
#define MAX_SIDE 16384
#define MAX_PIXELS ((size_t)1 << 26)

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* stb_image 2.27 (Debian 12's) builds a JPEG Huffman table from the 16 code counts of a DHT segment
 * without checking that they add up to at most 256, and writes past the table when they do not
 * (found by fuzzing). Every DHT segment of a JPEG file (a progressive one has them between its
 * scans) is checked here, walking the markers as the decoder does, before stb_image sees the file.
 * f is left at its start. */
static ferry_status check_jpeg_tables(const char *path, FILE *f)
{
    ferry_status s = FERRY_OK;
    int soi = getc(f) == 0xFF ? getc(f) : EOF;
    while (soi == 0xFF) soi = getc(f); /* the decoder takes FF FF D8 for the start of an image too */
    if (soi == 0xD8)
        for (int c = getc(f); !s && c != EOF;) {
            if (c != 0xFF) { /* entropy-coded data, or padding between segments */
                c = getc(f);
                continue;
            }
            while ((c = getc(f)) == 0xFF) {} /* fill bytes */
            if (c == EOF || c == 0xD9) break; /* the end of the image */
            if (c == 0x00 || c == 0x01 || (c >= 0xD0 && c <= 0xD8)) { /* a stuffed byte, or no segment */
                c = getc(f);
                continue;
            }
            int hi = getc(f), lo = getc(f);
            long left = hi == EOF || lo == EOF ? -1 : (hi << 8 | lo) - 2; /* the segment's bytes after the length */
            if (left < 0) break; /* the decoder refuses it */
            /* DHT: tables of a class/id byte, 16 counts and the values, read as the decoder reads them
             * (while the length left is positive, 0 past the end of the file) */
            while (c == 0xC4 && left > 0) {
                int q = getc(f), n = 0, k = 0;
                if (q != EOF && (q >> 4 > 1 || (q & 15) > 3)) break; /* the decoder refuses it */
                for (int i = 0; i < 16; i++) n += (k = getc(f)) == EOF ? 0 : k;
                left -= 17;
                if (n > 256) {
                    s = ferry_error(FERRY_ERR_FORMAT, "%s: corrupt JPEG: a Huffman table of %d codes (at most 256)", path, n);
                    break;
                }
                if (k == EOF || fseek(f, n, SEEK_CUR) != 0) break;
                left -= n;
            }
            if (left < 0) break; /* the decoder refuses it */
            if (fseek(f, left, SEEK_CUR) != 0) break;
            c = getc(f);
        }
    rewind(f);
    return s;
}

/* stb_image makes room for a PNG's image data as the IDAT chunks announce it, before it reads the
 * chunk: a 101-byte file whose chunk claims 2^31 bytes asks for 2 GB (found by fuzzing). A chunk that
 * claims more bytes than the file has left is refused here, before the decoder sees the file. f is
 * left at its start. */
static ferry_status check_png_chunks(const char *path, FILE *f)
{
    unsigned char head[8];
    ferry_status s = FERRY_OK;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1, pos = 8;
    rewind(f);
    if (size < 8 || fread(head, 1, 8, f) != 8 || memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0) {
        rewind(f);
        return FERRY_OK;
    }
    while (fread(head, 1, 8, f) == 8) { /* length, type; then the data and a CRC */
        unsigned long len = (unsigned long)head[0] << 24 | (unsigned long)head[1] << 16 | (unsigned long)head[2] << 8 | head[3];
        pos += 8;
        if (len > (unsigned long)(size - pos)) {
            char type[5] = {0};
            for (int i = 0; i < 4; i++) type[i] = head[4 + i] >= 32 && head[4 + i] < 127 ? (char)head[4 + i] : '?';
            s = ferry_error(FERRY_ERR_FORMAT, "%s: corrupt or truncated image (PNG chunk '%s' claims %lu bytes, the "
                            "file has %ld left)", path, type, len, size - pos);
            break;
        }
        if (!memcmp(head + 4, "IEND", 4) || fseek(f, (long)len + 4, SEEK_CUR) != 0) break;
        pos += (long)len + 4;
    }
    rewind(f);
    return s;
}

/* Reads the image's header only: its size and channel count, refusing sizes beyond the limits. */
static ferry_status probe_image(const char *path, int *iw, int *ih, int *ic)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ferry_error(FERRY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ferry_status s = check_jpeg_tables(path, f);
    if (!s) s = check_png_chunks(path, f);
    if (s) {
        fclose(f);
        return s;
    }
    int ok = stbi_info_from_file(f, iw, ih, ic);
    fclose(f);
    if (!ok) {
        const char *why = stbi_failure_reason();
        unsigned char hd[24];
        FILE *g = fopen(path, "rb");
        size_t got = g ? fread(hd, 1, sizeof hd, g) : 0;
        if (g) fclose(g);
        if (got == sizeof hd && !memcmp(hd, "\x89PNG\r\n\x1a\n", 8) && !memcmp(hd + 12, "IHDR", 4)) {
            /* the decoders' own size refusals leave no reason behind: a PNG says its size here */
            unsigned long pw = (unsigned long)hd[16] << 24 | (unsigned long)hd[17] << 16 | (unsigned long)hd[18] << 8 | hd[19];
            unsigned long ph = (unsigned long)hd[20] << 24 | (unsigned long)hd[21] << 16 | (unsigned long)hd[22] << 8 | hd[23];
            if (pw > MAX_SIDE || ph > MAX_SIDE || (size_t)pw * ph > MAX_PIXELS)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "%s: the header claims %lux%lu pixels, beyond the limit of %d per side and %zu in "
                                   "all (refused before decoding)", path, pw, ph, MAX_SIDE, MAX_PIXELS);
        }
        if (!why || strcmp(why, "unknown image type") == 0)
            return ferry_error(FERRY_ERR_FORMAT, "%s: not an image (unknown format)", path);
        if (!strcmp(why, "too large"))
            return ferry_error(FERRY_ERR_FORMAT, "%s: the header claims an image beyond 2^30 bytes (refused before "
                               "decoding)", path);
        return ferry_error(FERRY_ERR_FORMAT, "%s: corrupt or truncated image (%s)", path, why);
    }
    if (*iw <= 0 || *ih <= 0 || *iw > MAX_SIDE || *ih > MAX_SIDE || (size_t)*iw * (size_t)*ih > MAX_PIXELS)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s: the header claims %dx%d pixels, beyond the limit of %d per side and %zu in all "
                           "(refused before decoding)",
                           path, *iw, *ih, MAX_SIDE, MAX_PIXELS);
    return FERRY_OK;
}

struct tree {
    struct names classes;
    struct names *files;
};

static void tree_free(struct tree *t)
{
    if (t->files)
        for (size_t k = 0; k < t->classes.n; k++) names_free(&t->files[k]);
    free(t->files);
    names_free(&t->classes);
    memset(t, 0, sizeof *t);
}

/* The class folders of dir (without the one named skip) and their files. */
static ferry_status list_tree(const char *dir, const char *skip, struct tree *t, int64_t *n)
{
    char path[4096];
    *n = 0;
    ferry_status s = list_dir(dir, true, &t->classes);
    if (!s && skip)
        for (size_t k = 0; k < t->classes.n; k++)
            if (!strcmp(t->classes.v[k], skip)) {
                free(t->classes.v[k]);
                memmove(t->classes.v + k, t->classes.v + k + 1, (t->classes.n - k - 1) * sizeof *t->classes.v);
                t->classes.n--;
                break;
            }
    if (!s && t->classes.n == 0)
        s = ferry_error(FERRY_ERR_FORMAT, "%s: no class sub-folders (expected one folder of images per class)",
                        dir);
    if (!s && t->classes.n > INT32_MAX)
        s = ferry_error(FERRY_ERR_FORMAT, "%s: too many class folders (%zu)", dir, t->classes.n);
    if (!s && !(t->files = calloc(t->classes.n, sizeof *t->files)))
        s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", dir);
    for (size_t k = 0; !s && k < t->classes.n; k++) {
        if ((s = join(path, sizeof path, dir, t->classes.v[k]))) break;
        if ((s = list_dir(path, false, &t->files[k]))) break;
        if (t->files[k].n == 0) s = ferry_error(FERRY_ERR_FORMAT, "%s: empty class folder (no images)", path);
        *n += (int64_t)t->files[k].n;
    }
    return s;
}

static ferry_status file_path(char *out, size_t size, const char *dir, const char *cls, const char *file)
{
    char class_dir[4096];
    ferry_status s = join(class_dir, sizeof class_dir, dir, cls);
    return s ? s : join(out, size, class_dir, file);
}

/* Every header of the tree, before anything is decoded: sizes beyond the limits are refused, and
 * the tree's own geometry is found where *c or *h is 0 (colour if any image is; the median size). */
static ferry_status probe_tree(const char *dir, const struct tree *t, int64_t n, int *c, int *h, int *w)
{
    char path[4096];
    int *sides = malloc(2 * (size_t)n * sizeof *sides);
    ferry_status s = sides ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", dir);
    bool colour = false;
    int64_t at = 0;
    for (size_t k = 0; !s && k < t->classes.n; k++)
        for (size_t i = 0; !s && i < t->files[k].n; i++, at++) {
            int iw, ih, ic;
            if (!(s = file_path(path, sizeof path, dir, t->classes.v[k], t->files[k].v[i])) &&
                !(s = probe_image(path, &iw, &ih, &ic))) {
                sides[at] = ih, sides[n + at] = iw;
                colour |= ic >= 3;
            }
        }
    if (!s && *c == 0) *c = colour ? 3 : 1;
    if (!s && *h == 0) {
        qsort(sides, (size_t)n, sizeof *sides, cmp_int);
        qsort(sides + n, (size_t)n, sizeof *sides, cmp_int);
        *h = sides[n / 2], *w = sides[n + n / 2];
    }
    free(sides);
    return s;
}

ferry_status ferry_folder_geometry(const char *dir, const char *skip, int *c, int *h, int *w, char ***names,
                                   int *classes)
{
    struct tree t = {0};
    int64_t n = 0;
    ferry_status s = list_tree(dir, skip, &t, &n);
    if (!s) s = probe_tree(dir, &t, n, c, h, w);
    if (!s) {
        *names = t.classes.v;
        *classes = (int)t.classes.n;
        t.classes.v = NULL, t.classes.n = 0;
    }
    tree_free(&t);
    return s;
}

ferry_status ferry_folder_load(const char *dir, const char *skip, int c, int h, int w, ferry_dataset_t **out)
{
    if (out) *out = NULL;
    if (!dir || !out) return ferry_error(FERRY_ERR_INVALID, "dataset_load_folder: NULL argument");
    if (c != 0 && c != 1 && c != 3) return ferry_error(FERRY_ERR_INVALID, "%s: %d channels requested (1 or 3)", dir, c);
    if (h < 0 || w < 0 || (h == 0) != (w == 0))
        return ferry_error(FERRY_ERR_INVALID, "%s: image size %dx%d requested", dir, h, w);

    struct tree t = {0};
    ferry_dataset_t *ds = NULL;
    float *px = NULL;
    size_t px_cap = 0;
    char path[4096];
    int64_t n = 0;
    ferry_status s = list_tree(dir, skip, &t, &n);
    if (!s) s = probe_tree(dir, &t, n, &c, &h, &w);
    if (!s) {
        char name[256];
        ferry_path_stem(dir, NULL, name, sizeof name);
        s = ferry_dataset_alloc(name, n, c, h, w, (int)t.classes.n, &ds);
    }
    if (!s) s = ferry_dataset_set_class_names(ds, (const char *const *)t.classes.v);
    int64_t at = 0;
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    for (size_t k = 0; !s && k < t.classes.n; k++)
        for (size_t i = 0; !s && i < t.files[k].n; i++, at++) {
            if ((s = file_path(path, sizeof path, dir, t.classes.v[k], t.files[k].v[i]))) break;
            s = load_image(path, c, h, w, ds->images + (size_t)at * per, &px, &px_cap);
            ds->labels[at] = (int32_t)k;
        }
    free(px);
    tree_free(&t);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}

ferry_status ferry_dataset_load_folder(const char *dir, int c, int h, int w, ferry_dataset_t **out)
{
    if (out) *out = NULL;
    if (dir && c != 1 && c != 3) return ferry_error(FERRY_ERR_INVALID, "%s: %d channels requested (1 or 3)", dir, c);
    if (dir && (h <= 0 || w <= 0)) return ferry_error(FERRY_ERR_INVALID, "%s: image size %dx%d requested", dir, h, w);
    return ferry_folder_load(dir, NULL, c, h, w, out);
}

ferry_status ferry_folder_checksum(const char *dir, const char *skip, char hex[65])
{
    struct tree t = {0};
    int64_t n = 0;
    char path[4096];
    ferry_status s = list_tree(dir, skip, &t, &n);
    /* per file: its path below dir and the SHA-256 of its bytes */
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (size_t k = 0; !s && k < t.classes.n; k++)
        for (size_t i = 0; !s && i < t.files[k].n; i++) {
            char sha[65];
            if ((s = file_path(path, sizeof path, dir, t.classes.v[k], t.files[k].v[i])) ||
                (s = ferry_sha256_file(path, sha)))
                break;
            size_t need = strlen(t.classes.v[k]) + strlen(t.files[k].v[i]) + 70;
            if (len + need > cap) {
                size_t nc = 2 * (len + need);
                char *b = realloc(buf, nc);
                if (!b) {
                    s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", dir);
                    break;
                }
                buf = b, cap = nc;
            }
            len += (size_t)snprintf(buf + len, cap - len, "%s/%s %s\n", t.classes.v[k], t.files[k].v[i], sha);
        }
    if (!s) ferry_sha256_mem(buf ? buf : "", len, hex);
    free(buf);
    tree_free(&t);
    return s;
}
