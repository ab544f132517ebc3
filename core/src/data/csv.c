/* A data set from CSV (plain, or gzip-compressed: zlib reads both): one example per line, the
 * label (a whole number >= 0) then c·h·w pixel values in [0, max_value], comma-separated, in the
 * planar order of the images (channel, row, column). The first line is a header, and skipped, when
 * its first field is not a number. Blank lines and '\r' before the line end are ignored; numbers
 * are read in the C locale whatever the process's locale is. classes = largest label + 1. */
#include "transform.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

struct reader {
    gzFile gz;
    const char *path;
    char *buf;
    size_t cap, len;
    bool newline; /* the line read ended with '\n' */
};

/* Reads the next line into r->buf (NUL-terminated, '\n' removed). *got = false at the end. */
static ferry_status read_line(struct reader *r, bool *got)
{
    r->len = 0, r->newline = false, *got = false;
    for (;;) {
        if (r->cap - r->len < 2) {
            size_t cap = r->cap ? 2 * r->cap : 1 << 16;
            char *b = realloc(r->buf, cap);
            if (!b)
                return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory for a %zu-byte line", r->path, cap);
            r->buf = b, r->cap = cap;
        }
        size_t room = r->cap - r->len;
        if (room > (size_t)1 << 30) room = (size_t)1 << 30;
        if (!gzgets(r->gz, r->buf + r->len, (int)room)) break;
        r->len += strlen(r->buf + r->len);
        *got = true;
        if (r->len > 0 && r->buf[r->len - 1] == '\n') {
            r->buf[--r->len] = '\0';
            r->newline = true;
            return FERRY_OK;
        }
        if (gzeof(r->gz)) break;
    }
    int code;
    const char *msg = gzerror(r->gz, &code);
    if (code == Z_ERRNO) return ferry_error(FERRY_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
    if (code != Z_OK)
        return ferry_error(FERRY_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", r->path, msg);
    if (*got) r->buf[r->len] = '\0';
    return FERRY_OK;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* Parses the field starting at *p (ending at ',' or the end of the line) as a number; on success
 * *p is left at the ',' or the terminating NUL. */
static bool parse_number(const char **p, locale_t loc, double *v)
{
    const char *s = *p;
    while (is_space(*s)) s++;
    char *end;
    errno = 0;
    *v = strtod_l(s, &end, loc);
    if (end == s) return false;
    while (is_space(*end)) end++;
    if (*end != ',' && *end != '\0') return false;
    *p = end;
    return true;
}

/* The text of the field at p, for messages: its length up to ',' or the end, at most 24 bytes. */
static int field_len(const char *p)
{
    int k = 0;
    while (p[k] && p[k] != ',' && k < 24) k++;
    return k;
}

struct rows {
    float *x;
    int32_t *y;
    size_t n, cap, per;
};

static ferry_status rows_grow(struct rows *t, const char *path)
{
    if (t->n < t->cap) return FERRY_OK;
    /* the first block holds 256 rows, or fewer of large images (about 16 MB): a file of two rows of
     * 1x16384x16384 must not ask for 256 GB */
    size_t first = ((size_t)1 << 22) / t->per, floats;
    size_t cap = t->cap ? 2 * t->cap : first < 1 ? 1 : first < 256 ? first : 256;
    if (__builtin_mul_overflow(cap, t->per, &floats) || floats > SIZE_MAX / sizeof(float))
        return ferry_error(FERRY_ERR_NOMEM, "%s: too many examples", path);
    float *x = realloc(t->x, floats * sizeof *x);
    if (x) t->x = x;
    int32_t *y = x ? realloc(t->y, cap * sizeof *y) : NULL;
    if (y) t->y = y;
    if (!x || !y) return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory after %zu examples", path, t->n);
    t->cap = cap;
    return FERRY_OK;
}

/* Parses one data line (line number ln) into row t->n: the field at label_col is the label, the
 * others the pixels in order. */
static ferry_status parse_row(struct rows *t, const struct reader *r, long ln, locale_t loc, float max_value,
                              size_t label_col, int32_t *label)
{
    const char *p = r->buf, *path = r->path;
    size_t fields = 1;
    for (const char *q = p; *q; q++) fields += *q == ',';
    if (fields != 1 + t->per) {
        if (!r->newline && fields < 1 + t->per)
            return ferry_error(FERRY_ERR_FORMAT,
                               "%s: line %ld: truncated last line (%zu values, expected 1+%zu)", path, ln,
                               fields, t->per);
        return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: %zu values, expected 1+%zu (ragged row)", path,
                           ln, fields, t->per);
    }
    ferry_status s = rows_grow(t, path); /* once the row is known to have the right size */
    if (s) return s;
    float *x = t->x + t->n * t->per;
    double v;
    for (size_t j = 0, i = 0; j < fields; j++) {
        const char *f = j ? ++p : p; /* past the ',' */
        if (!parse_number(&p, loc, &v)) {
            if (j == label_col)
                return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: label \"%.*s\" is not a number", path, ln,
                                   field_len(f), f);
            return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: field %zu \"%.*s\" is not a number", path, ln,
                               j + 1, field_len(f), f);
        }
        if (j == label_col) {
            if (v < 0) return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: label %g is negative", path, ln, v);
            if (!(v == floor(v) && v < INT32_MAX))
                return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: label %g is not a whole number below %d",
                                   path, ln, v, INT32_MAX);
            *label = (int32_t)v;
            continue;
        }
        if (!(v >= 0 && v <= max_value))
            return ferry_error(FERRY_ERR_FORMAT, "%s: line %ld: field %zu: value %g is outside [0, %g]", path,
                               ln, j + 1, v, (double)max_value);
        x[i++] = (float)(v / max_value);
    }
    return FERRY_OK;
}

static bool is_blank(const char *s)
{
    while (is_space(*s)) s++;
    return *s == '\0';
}

ferry_status ferry_dataset_load_csv(const char *path, int c, int h, int w, float max_value,
                                    ferry_dataset_t **out)
{
    return ferry_csv_load(path, c, h, w, max_value, 0, out);
}

ferry_status ferry_csv_load(const char *path, int c, int h, int w, float max_value, int label_col,
                            ferry_dataset_t **out)
{
    if (out) *out = NULL;
    if (!path || !out) return ferry_error(FERRY_ERR_INVALID, "dataset_load_csv: NULL argument");
    if (c <= 0 || h <= 0 || w <= 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: image geometry %dx%dx%d requested", path, c, h, w);
    size_t per; /* c·h·w, which an int may not hold */
    if (__builtin_mul_overflow((size_t)c * (size_t)h, (size_t)w, &per) || per > ((size_t)1 << 32))
        return ferry_error(FERRY_ERR_INVALID, "%s: image geometry %dx%dx%d too large", path, c, h, w);
    if (label_col < 0 || (size_t)label_col > per)
        return ferry_error(FERRY_ERR_INVALID, "%s: label column %d outside the %zu fields of a row", path, label_col,
                           1 + per);
    if (!(max_value > 0 && isfinite(max_value)))
        return ferry_error(FERRY_ERR_INVALID, "%s: maximum pixel value %g (must be positive)", path,
                           (double)max_value);

    struct reader r = {.path = path};
    errno = 0;
    if (!(r.gz = gzopen(path, "rb")))
        return ferry_error(errno == ENOENT ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO, "%s: cannot open: %s", path,
                           errno ? strerror(errno) : "out of memory");
    gzbuffer(r.gz, 1 << 17);
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    struct rows t = {.per = per};
    int32_t max_label = -1;
    long ln = 0;
    bool header = false, got;
    ferry_status s = loc ? FERRY_OK : ferry_error(FERRY_ERR_NOMEM, "%s: cannot make the C locale", path);
    while (!s && !(s = read_line(&r, &got)) && got) {
        ln++;
        if (is_blank(r.buf)) continue;
        if (t.n == 0 && !header) {
            const char *p = r.buf;
            double v;
            if (!parse_number(&p, loc, &v)) {
                header = true;
                continue;
            }
        }
        int32_t label = 0;
        if ((s = parse_row(&t, &r, ln, loc, max_value, (size_t)label_col, &label))) break;
        t.y[t.n++] = label;
        if (label > max_label) max_label = label;
    }
    gzclose(r.gz);
    free(r.buf);
    if (loc) freelocale(loc);
    if (!s && t.n == 0)
        s = ferry_error(FERRY_ERR_FORMAT,
                        header ? "%s: no examples after the header line" : "%s: empty file (no examples)",
                        path);
    ferry_dataset_t *ds = NULL;
    if (!s) {
        char name[256];
        static const char *const suffixes[] = {".gz", ".csv", ".CSV", ".txt", NULL};
        ferry_path_stem(path, suffixes, name, sizeof name);
        s = ferry_dataset_alloc(name, (int64_t)t.n, c, h, w, max_label + 1, &ds);
    }
    if (!s) {
        memcpy(ds->labels, t.y, t.n * sizeof *t.y);
        memcpy(ds->images, t.x, t.n * per * sizeof *t.x);
    }
    free(t.x);
    free(t.y);
    if (s) return s;
    *out = ds;
    return FERRY_OK;
}
