/* IDX reader (ferry_idx_read): the input is the file, plain or gzip (the reader tells by the magic). */
#include "fuzz_common.h"
#include "ferry/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH];
    if (!path[0]) fuzz_path(path, "input-idx3-ubyte");
    fuzz_write(path, data, size);
    ferry_idx idx;
    ferry_status s = ferry_idx_read(path, &idx);
    if (s == FERRY_OK) {
        static const size_t esize[16] = {[8] = 1, [9] = 1, [11] = 2, [12] = 4, [13] = 4, [14] = 8};
        size_t count = 1;
        for (int d = 0; d < idx.ndim; d++) count *= (size_t)idx.dims[d];
        if (count != idx.count || idx.ndim < 1 || idx.ndim > FERRY_MAX_DIMS) __builtin_trap();
        fuzz_touch(idx.data, idx.count * esize[idx.type & 15]);
        ferry_idx_free(&idx);
    } else {
        fuzz_check_refusal(s, path);
    }
    return 0;
}
