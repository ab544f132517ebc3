#include "datautil.h"

#include <criterion/criterion.h>

#include <stb_image_write.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

ferry_dataset_t *du_pattern(const char *name, int64_t n, int c, int h, int w, int classes)
{
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    float *x = malloc((size_t)n * per * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    cr_assert(x && y);
    for (int64_t i = 0; i < n; i++) {
        for (size_t j = 0; j < per; j++)
            x[(size_t)i * per + j] = (float)((i * 31 + (int64_t)j * 7) % 256) / 255.0f;
        y[i] = (int32_t)(i % classes);
    }
    ferry_dataset_t *ds;
    cr_assert_eq(ferry_dataset_from_arrays(name, n, c, h, w, classes, x, y, &ds), FERRY_OK, "%s",
                 ferry_last_error());
    free(x);
    free(y);
    return ds;
}

void du_mkdir(char out[TU_PATH], const char *dir, const char *name)
{
    tu_join(out, dir, name);
    cr_assert(mkdir(out, 0755) == 0, "mkdir %s failed", out);
}

void du_write_image(const char *path, int w, int h, int comp, const unsigned char *px)
{
    const char *ext = strrchr(path, '.');
    cr_assert(ext != NULL);
    int ok;
    if (strcmp(ext, ".png") == 0)
        ok = stbi_write_png(path, w, h, comp, px, w * comp);
    else if (strcmp(ext, ".bmp") == 0)
        ok = stbi_write_bmp(path, w, h, comp, px);
    else if (strcmp(ext, ".jpg") == 0)
        ok = stbi_write_jpg(path, w, h, comp, px, 95);
    else
        ok = 0;
    cr_assert(ok, "cannot write %s", path);
}

void du_write_flat(const char *path, int w, int h, int comp, const unsigned char *value)
{
    unsigned char *px = malloc((size_t)w * (size_t)h * (size_t)comp);
    cr_assert(px != NULL);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) memcpy(px + i * (size_t)comp, value, (size_t)comp);
    du_write_image(path, w, h, comp, px);
    free(px);
}
