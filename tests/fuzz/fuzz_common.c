#include "fuzz_common.h"
#include "ferry/data.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    if (tmpdir[0]) nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/ferry-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "fuzz: cannot make a temporary directory %s: %s\n", tmpdir, strerror(errno));
            abort();
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

void fuzz_path(char out[FUZZ_PATH], const char *name) { snprintf(out, FUZZ_PATH, "%s/%s", fuzz_tmpdir(), name); }

void fuzz_write(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *p = data;
    while (fd >= 0 && n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) break;
        p += k, n -= (size_t)k;
    }
    if (fd < 0 || n > 0 || close(fd) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

void fuzz_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "fuzz: cannot remove %s: %s\n", path, strerror(errno));
        abort();
    }
}

void fuzz_mkdir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz: cannot make %s: %s\n", path, strerror(errno));
        abort();
    }
}

void fuzz_check_refusal(ferry_status s, const char *what)
{
    const char *msg = ferry_last_error();
    if (s == FERRY_OK) return;
    if (getenv("FERRY_FUZZ_VERBOSE")) fprintf(stderr, "fuzz: refused: %s\n", msg ? msg : "(none)");
    if (!msg || !strstr(msg, what)) {
        fprintf(stderr, "fuzz: a refusal (status %d) whose message does not name %s: \"%s\"\n", (int)s, what,
                msg ? msg : "(none)");
        abort();
    }
}

uint8_t fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++) x ^= b[i];
    return x;
}

static void broken(const char *what, double a, double b)
{
    fprintf(stderr, "fuzz: a loaded data set is inconsistent: %s (%.9g, %.9g)\n", what, a, b);
    abort();
}

void fuzz_check_dataset(const ferry_dataset_t *ds, int c, int h, int w)
{
    int dc, dh, dw;
    ferry_dataset_geometry(ds, &dc, &dh, &dw);
    int64_t n = ferry_dataset_size(ds);
    int classes = ferry_dataset_classes(ds);
    if (n < 1 || classes < 1 || dc < 1 || dh < 1 || dw < 1) broken("empty, or no classes", (double)n, classes);
    if (c > 0 && (dc != c || dh != h || dw != w)) broken("not the geometry asked for", dh, dw);
    const int32_t *y = ferry_dataset_labels(ds);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes) broken("a label outside [0, classes)", y[i], classes);
    const float *x = ferry_dataset_images(ds);
    for (size_t i = 0; i < (size_t)n * (size_t)dc * (size_t)dh * (size_t)dw; i++)
        if (!(x[i] >= 0 && x[i] <= 1)) broken("a pixel outside [0, 1] (value, index)", x[i], (double)i);
    char buf[32];
    for (int k = 0; k < classes && k < 4096; k++)
        if (!ferry_dataset_class_name(ds, k, buf, sizeof buf)) broken("a class without a name", k, classes);
}
