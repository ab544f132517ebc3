/* "optdigits": the UCI optdigits test set as shipped by scikit-learn (Debian python3-sklearn,
 * sklearn/datasets/data/digits.csv.gz): 1,797 handwritten digits, each a line of 64 pixel counts
 * 0..16 (8×8, row-major) and then the label. Pixels are scaled by 1/16 into [0, 1]; the fixed
 * seeded stratified split (ferry_split_stratified) gives "train" 1,438 and "test" 359. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define CLASSES 10
#define SIDE 8
#define PIXELS (SIDE * SIDE)
#define TOTAL 1797
#define SPLIT_SEED 20260102ul
#define MAX_VALUE 16

static const struct ferry_data_source optdigits_files[] = {
    {"digits.csv.gz", "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a"},
};
const struct ferry_manifest ferry_optdigits_manifest = {"optdigits", 1, optdigits_files};

/* The whole decompressed file, NUL-terminated. */
static ferry_status read_gz(const char *path, char **text)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return ferry_error(FERRY_ERR_IO, "%s: cannot open", path);
    size_t cap = 0, n = 0;
    char *buf = NULL;
    ferry_status s = FERRY_OK;
    for (;;) {
        if (cap - n < 65536 + 1) {
            char *b = realloc(buf, cap ? cap * 2 : 1 << 18);
            if (!b) {
                s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = b, cap = cap ? cap * 2 : 1 << 18;
        }
        int k = gzread(f, buf + n, 65536);
        if (k < 0) {
            int zerr;
            s = ferry_error(FERRY_ERR_FORMAT, "%s: gzip error: %s", path, gzerror(f, &zerr));
            break;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    gzclose(f);
    if (s) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *text = buf;
    return FERRY_OK;
}

/* Parses the CSV into px (TOTAL × PIXELS counts scaled to [0, 1]) and labels, checking every field. */
static ferry_status parse(const char *path, const char *text, float *px, int32_t *labels)
{
    const char *p = text;
    int line = 0;
    for (; *p; line++) {
        if (line == TOTAL)
            return ferry_error(FERRY_ERR_FORMAT, "%s: more than %d lines", path, TOTAL);
        for (int j = 0; j <= PIXELS; j++) {
            char *end;
            long v = strtol(p, &end, 10);
            char want = j < PIXELS ? ',' : '\n';
            long max = j < PIXELS ? MAX_VALUE : CLASSES - 1;
            if (end == p || v < 0 || v > max || (*end != want && !(j == PIXELS && *end == '\0')))
                return ferry_error(FERRY_ERR_FORMAT,
                                   "%s: line %d, field %d: expected an integer in [0, %ld] followed by %s",
                                   path, line + 1, j + 1, max, j < PIXELS ? "','" : "the end of the line");
            if (j < PIXELS)
                px[(size_t)line * PIXELS + (size_t)j] = (float)v / MAX_VALUE;
            else
                labels[line] = (int32_t)v;
            p = *end ? end + 1 : end;
        }
    }
    if (line != TOTAL) return ferry_error(FERRY_ERR_FORMAT, "%s: %d lines, expected %d", path, line, TOTAL);
    return FERRY_OK;
}

/* The examples of the split, class after class in the split's shuffled order. */
static ferry_status build_split(const float *px, const int32_t *labels, bool train, ferry_dataset_t **out)
{
    size_t class_n[CLASSES] = {0}, k[CLASSES], from[CLASSES], fill[CLASSES], pick[TOTAL], n = 0;
    int byclass[TOTAL]; /* example indices grouped by class, in file order */
    for (int i = 0; i < TOTAL; i++) class_n[labels[i]]++;
    for (int c = 0, at = 0; c < CLASSES; at += (int)class_n[c], c++) from[c] = fill[c] = (size_t)at;
    for (int i = 0; i < TOTAL; i++) byclass[fill[labels[i]]++] = i;
    ferry_status s = ferry_split_stratified("optdigits", class_n, CLASSES, SPLIT_SEED, train, pick, k);
    for (int c = 0; c < CLASSES; c++) n += k[c];
    ferry_dataset_t *ds = NULL;
    if (!s) s = ferry_dataset_alloc("optdigits", (int64_t)n, 1, SIDE, SIDE, CLASSES, &ds);
    if (s) return s;
    int64_t at = 0;
    for (int c = 0; c < CLASSES; c++)
        for (size_t i = 0; i < k[c]; i++, at++) {
            int e = byclass[from[c] + pick[at]];
            memcpy(ds->images + at * PIXELS, px + (size_t)e * PIXELS, PIXELS * sizeof(float));
            ds->labels[at] = c;
        }
    *out = ds;
    return FERRY_OK;
}

ferry_status ferry_load_optdigits(const char *split, ferry_dataset_t **out)
{
    *out = NULL;
    char path[4200], *text = NULL;
    ferry_status s = ferry_data_file(ferry_optdigits_manifest.subdir, optdigits_files[0].file,
                                     optdigits_files[0].sha256, path, sizeof path);
    if (!s) s = read_gz(path, &text);
    float *px = malloc((size_t)TOTAL * PIXELS * sizeof *px);
    int32_t *labels = malloc(TOTAL * sizeof *labels);
    if (!s && (!px || !labels)) s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
    if (!s) s = parse(path, text, px, labels);
    if (!s) s = build_split(px, labels, strcmp(split, "train") == 0, out);
    free(text);
    free(px);
    free(labels);
    return s;
}
