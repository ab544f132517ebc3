/* Helpers shared by the io and data tests: temp directories and small files. */
#ifndef FERRY_TESTS_IO_TESTUTIL_H
#define FERRY_TESTS_IO_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#define TU_PATH 4096

/* A fresh directory from mkdtemp (under $TMPDIR or /tmp); fails the test if it cannot be made. */
void tu_tmpdir(char out[TU_PATH]);
/* Removes a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *dir);
/* out = dir/name. */
void tu_join(char out[TU_PATH], const char *dir, const char *name);
/* Writes bytes to path (not atomically), failing the test on error. */
void tu_write(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd, *n bytes), failing the test on error. */
void *tu_read(const char *path, size_t *n);
/* Copies a file, failing the test on error. */
void tu_copy(const char *from, const char *to);
/* Flips the lowest bit of byte (at mod size) of a file: a one-byte corruption. */
void tu_flip_byte(const char *path, size_t at);
/* Number of entries in dir (not counting . and ..). */
int tu_count_entries(const char *dir);
/* Whether the last error message contains s. */
bool tu_msg_has(const char *s);

#endif
