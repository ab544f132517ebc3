/* safetensors reader: the input is the file; every tensor it lists is read whole and looked up by
 * name, and the metadata queried. */
#include <string.h>

#include "fuzz_common.h"
#include "ferry/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH];
    if (!path[0]) fuzz_path(path, "input.safetensors");
    fuzz_write(path, data, size);
    ferry_safetensors_t *st = NULL;
    ferry_status s = ferry_safetensors_open(path, &st);
    if (s != FERRY_OK) {
        fuzz_check_refusal(s, path);
        return 0;
    }
    size_t n = ferry_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const ferry_st_entry *e = ferry_safetensors_entry(st, i);
        if (!e || !e->name || e->ndim < 0 || e->ndim > FERRY_MAX_DIMS) __builtin_trap();
        size_t bytes = ferry_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++) bytes *= (size_t)e->shape[d];
        if (bytes != e->nbytes) __builtin_trap();
        fuzz_touch(e->data, e->nbytes);
        fuzz_touch(e->name, strlen(e->name));
        if (ferry_safetensors_find(st, e->name) == NULL) __builtin_trap();
    }
    if (ferry_safetensors_entry(st, n) != NULL) __builtin_trap();
    const char *v = ferry_safetensors_meta(st, "format");
    if (v) fuzz_touch(v, strlen(v));
    ferry_safetensors_find(st, "no such tensor");
    ferry_safetensors_free(st);
    return 0;
}
