/* Transfer tasks and domain specs (ferry/task.h). The input is text, one field a line:
 *   1 name   2 source spec   3 target spec   4 target test spec (empty: none)
 *   5 "TEST_FRACTION C H W PARTIAL" (numbers; missing ones 0)
 *   6 class map entries TARGET=SOURCE, ';'-separated   7 target class ratios, ','-separated
 *   8 a suffix ([?OPTIONS][{CLASSES}][@VARIANTS]) for a small CSV domain the harness writes
 *   9 a suffix for a small image-folder domain   10 the split to load: train, test or all.
 * Lines 2-4 are checked (ferry_domain_check) and declared as a task with lines 1 and 5-7
 * (ferry_task_declare), then looked up by name and inline as SOURCE->TARGET; nothing of theirs is
 * read from disk. Lines 8 and 9 (with '/' replaced, so that they stay on the harness's files) are
 * loaded through ferry_domain_load, unless they ask for a size above 1024 (memory, not a fault). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ferry/task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_FIELDS 10

static char csv_domain[FUZZ_PATH], folder_domain[FUZZ_PATH], csv_spec[FUZZ_PATH + 8], folder_spec[FUZZ_PATH + 8];

/* 12 examples of 1x2x2 in three classes, and a folder of two classes of three 2x2 grey PGM images. */
static void write_fixtures(void)
{
    char path[FUZZ_PATH];
    fuzz_path(csv_domain, "d.csv");
    char csv[1024] = "label,a,b,c,d\n";
    for (int i = 0; i < 12; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,%d,%d,%d,%d\n", i % 3, i * 20, 255 - i * 20, i, 7);
    fuzz_write(csv_domain, csv, strlen(csv));
    fuzz_path(folder_domain, "f");
    fuzz_mkdir(folder_domain);
    static const char *const classes[] = {"cat", "dog"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", folder_domain, classes[k]);
        fuzz_mkdir(path);
        for (int i = 0; i < 3; i++) {
            unsigned char pgm[16] = "P5\n2 2\n255\n";
            for (int j = 0; j < 4; j++) pgm[11 + j] = (unsigned char)(k * 100 + i * 30 + j * 5);
            snprintf(path, sizeof path, "%s/%s/%d.pgm", folder_domain, classes[k], i);
            fuzz_write(path, pgm, 15);
        }
    }
    snprintf(csv_spec, sizeof csv_spec, "csv:%s", csv_domain);
    snprintf(folder_spec, sizeof folder_spec, "folder:%s", folder_domain);
}

/* The largest number in the suffix's size= values: a folder domain asked for at 16384x16384 needs
 * gigabytes for its six images, beyond the run's memory limit without being a fault of the loader. */
static long largest_size(const char *suffix)
{
    long most = 0;
    for (const char *p = strstr(suffix, "size="); p; p = strstr(p + 1, "size="))
        for (const char *q = p + 5; *q && *q != '&' && *q != '{' && *q != '@'; q++)
            if (*q >= '0' && *q <= '9') {
                char *end;
                long v = strtol(q, &end, 10);
                most = v > most ? v : most;
                q = end - 1;
            }
    return most;
}

static void load(const char *base, const char *suffix, const char *part)
{
    if (largest_size(suffix) > 1024) return;
    char spec[2 * FUZZ_PATH];
    snprintf(spec, sizeof spec, "%s%s", base, suffix);
    for (char *p = spec + strlen(base); *p; p++)
        if (*p == '/') *p = '_';
    ferry_dataset_t *ds = NULL;
    ferry_status s = ferry_domain_load(spec, part, &ds);
    if (s == FERRY_OK) {
        fuzz_check_dataset(ds, 0, 0, 0);
        ferry_dataset_free(ds);
    } else {
        /* the message names the spec or the file */
        fuzz_check_refusal(s, strstr(ferry_last_error(), "domain '") ? "domain '" : fuzz_tmpdir());
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!csv_domain[0]) write_fixtures();
    char *text = malloc(size + 1), *field[N_FIELDS];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *p = text;
    for (int i = 0; i < N_FIELDS; i++) {
        field[i] = p;
        char *nl = p ? strchr(p, '\n') : NULL;
        if (nl) *nl = '\0';
        p = nl ? nl + 1 : NULL;
        if (!field[i]) field[i] = "";
    }
    /* the declaration */
    ferry_task_decl d = {.name = field[0], .source = field[1], .target = field[2],
                         .target_test = field[3][0] ? field[3] : NULL, .summary = "fuzz"};
    int partial = 0;
    sscanf(field[4], "%lf %d %d %d %d", &d.test_fraction, &d.c, &d.h, &d.w, &partial);
    d.partial = partial != 0;
    const char *maps[64];
    double ratios[64];
    for (char *save = NULL, *tok = strtok_r(field[5], ";", &save); tok && d.n_class_map < 64;
         tok = strtok_r(NULL, ";", &save))
        maps[d.n_class_map++] = tok;
    for (char *save = NULL, *tok = strtok_r(field[6], ",", &save); tok && d.n_target_class_ratio < 64;
         tok = strtok_r(NULL, ",", &save))
        ratios[d.n_target_class_ratio++] = strtod(tok, NULL);
    d.class_map = maps;
    d.target_class_ratio = ratios;
    for (int i = 1; i <= 3; i++) ferry_domain_check(field[i]), ferry_domain_is_builtin(field[i]);
    ferry_status s = ferry_task_declare(&d);
    if (s == FERRY_OK) {
        const ferry_task_info *info = ferry_task_info_find(d.name);
        if (!info || strcmp(info->name, d.name) || strcmp(info->source, d.source)) __builtin_trap();
    } else {
        fuzz_check_refusal(s, strstr(ferry_last_error(), "domain '") ? "domain '" : "task");
    }
    char inline_task[8192];
    snprintf(inline_task, sizeof inline_task, "%s->%s", field[1], field[2]);
    ferry_task_info_find(inline_task);
    ferry_task_is_builtin(field[0]);
    /* loading small domains through the fuzzed options, class lists and variants */
    const char *part = field[9][0] ? field[9] : "train";
    if (field[7][0]) load(csv_spec, field[7], part);
    if (field[8][0]) load(folder_spec, field[8], part);
    free(text);
    return 0;
}
