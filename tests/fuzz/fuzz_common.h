/* Helpers shared by the libFuzzer harnesses: one temporary directory per process, inputs written
 * to files in it, and the house rule checked on every refusal (the message names the file). */
#ifndef FERRY_TESTS_FUZZ_COMMON_H
#define FERRY_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/base.h"
#include "ferry/data.h"

#define FUZZ_PATH 4096

/* The process's temporary directory (mkdtemp on first use, removed at exit). */
const char *fuzz_tmpdir(void);
/* out = the temporary directory / name. */
void fuzz_path(char out[FUZZ_PATH], const char *name);
/* Writes n bytes to path (replacing it); aborts when it cannot, since no input can be tried then. */
void fuzz_write(const char *path, const void *data, size_t n);
/* Removes path if it exists. */
void fuzz_unlink(const char *path);
/* Makes a directory (and keeps an existing one); aborts on failure. */
void fuzz_mkdir(const char *path);
/* A loader refused its input with status s: the message must name `what` (the file). Aborts, so that
 * libFuzzer saves the input, when it does not. With FERRY_FUZZ_VERBOSE set, prints the message (to
 * see which seeds load). */
void fuzz_check_refusal(ferry_status s, const char *what);
/* Reads every byte of a block: ASan reports a range that is not all addressable. */
uint8_t fuzz_touch(const void *p, size_t n);

/* A loaded data set is consistent: at least one example and one class, the geometry asked for (where
 * c > 0), labels in [0, classes), pixels in [0, 1]. Traps when it is not. */
void fuzz_check_dataset(const ferry_dataset_t *ds, int c, int h, int w);

#endif
