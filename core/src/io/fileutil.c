/* Whole-file reads and atomic whole-file writes. */
#include "ferry/io.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ferry_status write_all(int fd, const char *tmp, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return ferry_error(FERRY_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return FERRY_OK;
}

/* Makes the rename of a file in path's directory durable. */
static ferry_status sync_parent_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return ferry_error(FERRY_ERR_IO, "%s: directory name too long", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ferry_error(FERRY_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    /* Some file systems cannot fsync a directory; the rename itself has succeeded. */
    if (rc != 0 && err != EINVAL && err != ENOTSUP)
        return ferry_error(FERRY_ERR_IO, "%s: fsync of directory failed: %s", dir, strerror(err));
    return FERRY_OK;
}

/* Writes, syncs and closes the temp file; closes fd in every case. */
static ferry_status fill_temp(int fd, const char *tmp, const void *data, size_t n)
{
    ferry_status s = write_all(fd, tmp, data, n);
    if (!s && fsync(fd) != 0) s = ferry_error(FERRY_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !s) s = ferry_error(FERRY_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    return s;
}

ferry_status ferry_write_file_atomic(const char *path, const void *data, size_t n)
{
    if (!path || (!data && n > 0)) return ferry_error(FERRY_ERR_INVALID, "write_file_atomic: NULL argument");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ferry_error(FERRY_ERR_IO, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) /* left over from a crashed run */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ferry_error(FERRY_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    ferry_status s = fill_temp(fd, tmp, data, n);
    if (!s && rename(tmp, path) != 0)
        s = ferry_error(FERRY_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (s) {
        unlink(tmp);
        return s;
    }
    return sync_parent_dir(path);
}

static ferry_status open_error(const char *path)
{
    int err = errno;
    return ferry_error(err == ENOENT ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO, "%s: cannot open: %s", path,
                       strerror(err));
}

ferry_status ferry_read_file(const char *path, void **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return open_error(path);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return ferry_error(FERRY_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return ferry_error(FERRY_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int failed = ferror(f) || got != size;
    fclose(f);
    if (failed) {
        free(buf);
        return ferry_error(FERRY_ERR_IO, "%s: read failed (%zu of %zu bytes)", path, got, size);
    }
    *data = buf;
    *n = size;
    return FERRY_OK;
}

ferry_status ferry_mkdir_p(const char *dir)
{
    char d[4096];
    if (snprintf(d, sizeof d, "%s/", dir) >= (int)sizeof d)
        return ferry_error(FERRY_ERR_INVALID, "%s: path too long", dir);
    for (char *p = d + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(d, 0755) != 0 && errno != EEXIST)
            return ferry_error(FERRY_ERR_IO, "%s: cannot create the folder: %s", d, strerror(errno));
        *p = '/';
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ferry_error(FERRY_ERR_IO, "%s: not a folder", dir);
    return FERRY_OK;
}

ferry_status ferry_mkdir_parents(const char *path)
{
    char d[4096];
    if (snprintf(d, sizeof d, "%s", path) >= (int)sizeof d)
        return ferry_error(FERRY_ERR_INVALID, "%s: path too long", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return FERRY_OK;
    *slash = '\0';
    return ferry_mkdir_p(d);
}

double ferry_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
