/* Benchmark configurations (ferry_bench_config_load, YAML through libyaml): the input is the file.
 * A configuration that loads has every point of every method's hyperparameter grid expanded. Named
 * tasks in it are declared for the process (their domain specs checked, nothing loaded). */
#include <string.h>

#include "fuzz_common.h"
#include "bench_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH];
    if (!path[0]) fuzz_path(path, "config.yaml");
    fuzz_write(path, data, size);
    ferry_bench_config c;
    ferry_status s = ferry_bench_config_load(path, &c);
    if (s != FERRY_OK) {
        fuzz_check_refusal(s, path);
        return 0;
    }
    for (int i = 0; i < c.n_tasks; i++) fuzz_touch(c.tasks[i], strlen(c.tasks[i]));
    for (int i = 0; i < c.n_methods; i++) {
        int points = ferry_bench_grid_size(&c, c.methods[i]);
        if (points == 0 || points > FERRY_BENCH_GRID_MAX) __builtin_trap();
        for (int k = 0; k < points; k++) {
            char *sets[FERRY_BENCH_MAX], label[512];
            int n = 0;
            if (ferry_bench_grid_point(&c, c.methods[i], k, sets, &n, label, sizeof label) != FERRY_OK) continue;
            for (int j = 0; j < n; j++) fuzz_touch(sets[j], strlen(sets[j]));
            ferry_bench_grid_free(sets, n);
        }
    }
    ferry_bench_config_free(&c);
    return 0;
}
