/* SHA-256 helpers and the atomic file writer. */
#include <criterion/criterion.h>

#include "ferry/io.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char dir[TU_PATH];

static void setup(void) { tu_tmpdir(dir); }
static void teardown(void) { tu_rmtree(dir); }

TestSuite(files, .init = setup, .fini = teardown);

Test(files, sha256_of_known_strings)
{
    char hex[65];
    ferry_sha256_mem("abc", 3, hex);
    cr_assert_str_eq(hex, SHA_ABC);
    ferry_sha256_mem("", 0, hex);
    cr_assert_str_eq(hex, SHA_EMPTY);
}

Test(files, sha256_file_matches_memory)
{
    char path[TU_PATH], hex[65];
    tu_join(path, dir, "abc.txt");
    tu_write(path, "abc", 3);
    cr_assert_eq(ferry_sha256_file(path, hex), FERRY_OK);
    cr_assert_str_eq(hex, SHA_ABC);
    cr_assert_eq(ferry_verify_file(path, SHA_ABC), FERRY_OK);
}

Test(files, verify_mismatch_names_file_and_both_digests)
{
    char path[TU_PATH];
    tu_join(path, dir, "abc.txt");
    tu_write(path, "abd", 3);
    cr_assert_eq(ferry_verify_file(path, SHA_ABC), FERRY_ERR_CHECKSUM);
    char actual[65];
    ferry_sha256_mem("abd", 3, actual);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    cr_assert(tu_msg_has(SHA_ABC), "%s", ferry_last_error());
    cr_assert(tu_msg_has(actual), "%s", ferry_last_error());
}

Test(files, verify_missing_file_and_bad_digest)
{
    char path[TU_PATH];
    tu_join(path, dir, "absent");
    cr_assert_eq(ferry_verify_file(path, SHA_ABC), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path));
    cr_assert_eq(ferry_verify_file(path, "abc123"), FERRY_ERR_INVALID);
}

Test(files, atomic_write_creates_and_replaces)
{
    char path[TU_PATH];
    tu_join(path, dir, "out.bin");
    cr_assert_eq(ferry_write_file_atomic(path, "first", 5), FERRY_OK);
    cr_assert_eq(ferry_write_file_atomic(path, "second!", 7), FERRY_OK);
    size_t n;
    char *got = tu_read(path, &n);
    cr_assert(n == 7 && memcmp(got, "second!", 7) == 0);
    free(got);
    cr_assert_eq(tu_count_entries(dir), 1, "a temp file was left behind");
    cr_assert_eq(ferry_write_file_atomic(path, NULL, 0), FERRY_OK);
    struct stat sb;
    cr_assert(stat(path, &sb) == 0 && sb.st_size == 0);
}

static void assert_old_content_only(const char *path)
{
    size_t n;
    char *got = tu_read(path, &n);
    cr_assert(n == 3 && memcmp(got, "old", 3) == 0, "the existing file was changed");
    free(got);
    cr_assert_eq(tu_count_entries(dir), 1, "a temp file was left behind");
}

/* The file system refuses the write half-way (file size limit, which binds root too). */
Test(files, atomic_write_failure_keeps_old_file)
{
    char path[TU_PATH];
    tu_join(path, dir, "model.bin");
    tu_write(path, "old", 3);
    struct rlimit old, lim;
    cr_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 100;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    static char big[4096];
    ferry_status s = ferry_write_file_atomic(path, big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(s, FERRY_ERR_IO);
    cr_assert(tu_msg_has(path), "%s", ferry_last_error());
    assert_old_content_only(path);
}

/* The temp file cannot be created (its name is taken by a directory). */
Test(files, atomic_write_unwritable_temp_keeps_old_file)
{
    char path[TU_PATH], tmp[TU_PATH + 32];
    tu_join(path, dir, "model.bin");
    tu_write(path, "old", 3);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert(mkdir(tmp, 0755) == 0);
    cr_assert_eq(ferry_write_file_atomic(path, "new", 3), FERRY_ERR_IO);
    cr_assert(rmdir(tmp) == 0);
    assert_old_content_only(path);
}

/* A read-only directory (only meaningful when not root: root ignores permissions). */
Test(files, atomic_write_readonly_dir_keeps_old_file)
{
    char path[TU_PATH];
    tu_join(path, dir, "model.bin");
    tu_write(path, "old", 3);
    cr_assert(chmod(dir, 0555) == 0);
    ferry_status s = ferry_write_file_atomic(path, "new", 3);
    cr_assert(chmod(dir, 0755) == 0);
    if (geteuid() != 0) cr_assert_eq(s, FERRY_ERR_IO);
    if (s) assert_old_content_only(path);
}

Test(files, atomic_write_missing_directory)
{
    char path[TU_PATH];
    tu_join(path, dir, "no/such/dir/file.bin");
    cr_assert_eq(ferry_write_file_atomic(path, "x", 1), FERRY_ERR_IO);
    cr_assert(tu_msg_has(path));
}

Test(files, read_file_whole_and_missing)
{
    char path[TU_PATH];
    tu_join(path, dir, "data");
    tu_write(path, "hello", 5);
    void *data;
    size_t n;
    cr_assert_eq(ferry_read_file(path, &data, &n), FERRY_OK);
    cr_assert(n == 5 && memcmp(data, "hello", 5) == 0);
    free(data);
    tu_join(path, dir, "absent");
    cr_assert_eq(ferry_read_file(path, &data, &n), FERRY_ERR_NOT_FOUND);
    cr_assert(tu_msg_has(path));
}
