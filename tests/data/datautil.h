/* Helpers for the data tests: small synthetic data sets and image files. */
#ifndef FERRY_TESTS_DATA_DATAUTIL_H
#define FERRY_TESTS_DATA_DATAUTIL_H

#include "ferry/data.h"
#include "testutil.h"

/* A data set whose pixel j of image i is ((i·31 + j·7) mod 256) / 255 (so u8-representable) and
 * whose label i is i mod classes; fails the test on error. */
ferry_dataset_t *du_pattern(const char *name, int64_t n, int c, int h, int w, int classes);
/* out = dir/name, made as a folder. */
void du_mkdir(char out[TU_PATH], const char *dir, const char *name);
/* Writes a w×h image of comp interleaved channels with stb_image_write; the format follows the
 * extension (.png, .bmp, .jpg). */
void du_write_image(const char *path, int w, int h, int comp, const unsigned char *px);
/* Writes a w×h image of comp channels, every pixel equal to value[0..comp). */
void du_write_flat(const char *path, int w, int h, int comp, const unsigned char *value);

#endif
