/* CSV data sets (ferry_dataset_load_csv): the input is the file. The geometry asked for is 1x1xK,
 * K the number of commas on the input's first line that starts with a digit (so that the seeds,
 * plain CSV files of any width, load), 1x8x8 for gzip input; max_value 255. */
#include <ctype.h>
#include <string.h>

#include "fuzz_common.h"
#include "ferry/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int width_of(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 64;
    size_t i = 0;
    while (i < size) {
        size_t end = i;
        while (end < size && data[end] != '\n') end++;
        if (isdigit(data[i])) {
            int k = 0;
            for (size_t j = i; j < end; j++) k += data[j] == ',';
            return k < 1 ? 1 : k > 4096 ? 4096 : k;
        }
        i = end + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH];
    if (!path[0]) fuzz_path(path, "input.csv");
    fuzz_write(path, data, size);
    int w = width_of(data, size), h = w == 64 ? 8 : 1;
    if (h == 8) w = 8;
    ferry_dataset_t *ds = NULL;
    ferry_status s = ferry_dataset_load_csv(path, 1, h, w, 255.0f, &ds);
    if (s == FERRY_OK) {
        fuzz_check_dataset(ds, 1, h, w);
        ferry_dataset_free(ds);
    } else {
        fuzz_check_refusal(s, path);
    }
    return 0;
}
