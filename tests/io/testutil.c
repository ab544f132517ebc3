#include "testutil.h"

#include <criterion/criterion.h>

#include "ferry/base.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tu_tmpdir(char out[TU_PATH])
{
    const char *base = getenv("TMPDIR");
    snprintf(out, TU_PATH, "%s/ferry-test.XXXXXX", base && base[0] ? base : "/tmp");
    cr_assert(mkdtemp(out) != NULL, "mkdtemp %s failed", out);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

void tu_join(char out[TU_PATH], const char *dir, const char *name)
{
    cr_assert(snprintf(out, TU_PATH, "%s/%s", dir, name) < TU_PATH);
}

void tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot create %s", path);
    cr_assert(fwrite(data, 1, n, f) == n);
    cr_assert(fclose(f) == 0);
}

void *tu_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, k = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + k, 1, cap - k, f)) > 0) {
        k += got;
        if (k == cap) buf = realloc(buf, cap *= 2);
        cr_assert(buf != NULL);
    }
    fclose(f);
    *n = k;
    return buf;
}

void tu_copy(const char *from, const char *to)
{
    size_t n;
    void *data = tu_read(from, &n);
    tu_write(to, data, n);
    free(data);
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

bool tu_msg_has(const char *s) { return strstr(ferry_last_error(), s) != NULL; }

void tu_flip_byte(const char *path, size_t at)
{
    size_t n;
    unsigned char *b = tu_read(path, &n);
    b[at % n] ^= 1;
    tu_write(path, b, n);
    free(b);
}
