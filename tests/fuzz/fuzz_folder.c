/* Image-folder data sets (ferry_dataset_load_folder): the input is one image file (PNG, JPEG or any
 * other format stb_image knows, told by its content) in the class folder "a" of a data set folder,
 * loaded at 3x8x8, or 1x8x8 when the input's length is odd. */
#include "fuzz_common.h"
#include "ferry/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char root[FUZZ_PATH], file[FUZZ_PATH];
    if (!root[0]) {
        char cls[FUZZ_PATH];
        fuzz_path(root, "images");
        fuzz_path(cls, "images/a");
        fuzz_path(file, "images/a/input.img");
        fuzz_mkdir(root);
        fuzz_mkdir(cls);
    }
    fuzz_write(file, data, size);
    int c = size % 2 ? 1 : 3;
    ferry_dataset_t *ds = NULL;
    ferry_status s = ferry_dataset_load_folder(root, c, 8, 8, &ds);
    if (s == FERRY_OK) {
        fuzz_check_dataset(ds, c, 8, 8);
        if (ferry_dataset_size(ds) != 1 || ferry_dataset_classes(ds) != 1) __builtin_trap();
        ferry_dataset_free(ds);
    } else {
        fuzz_check_refusal(s, file);
    }
    return 0;
}
