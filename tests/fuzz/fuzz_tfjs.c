/* TF.js layers-model importer (ferry_model_init on "tfjs:DIR/model.json"). The input is model.json,
 * optionally followed by the line "\n--shard--\n" and the bytes of one weight shard, written as
 * group1-shard1of1.bin beside it (the name the seeds' manifests give). Without the separator there
 * is no shard file. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sep[] = "\n--shard--\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char json[FUZZ_PATH], shard[FUZZ_PATH], arch[FUZZ_PATH + 8];
    static ferry_backend_t *be;
    if (!json[0]) {
        fuzz_path(json, "model.json");
        fuzz_path(shard, "group1-shard1of1.bin");
        snprintf(arch, sizeof arch, "tfjs:%s", json);
        if (ferry_backend_init_device("cpu", 1, &be) != FERRY_OK) __builtin_trap();
    }
    const uint8_t *cut = memmem(data, size, sep, sizeof sep - 1);
    size_t json_n = cut ? (size_t)(cut - data) : size;
    fuzz_write(json, data, json_n);
    if (cut) fuzz_write(shard, cut + sizeof sep - 1, size - json_n - (sizeof sep - 1));
    else fuzz_unlink(shard);
    ferry_store_t *st = NULL;
    ferry_rng_t *rng = NULL;
    ferry_model_t *m = NULL;
    if (ferry_store_init(be, &st) != FERRY_OK || ferry_rng_init(1, &rng) != FERRY_OK) __builtin_trap();
    ferry_status s = ferry_model_init(arch, 3, 8, 8, 4, st, rng, &m);
    if (s == FERRY_OK) {
        int c, h, w;
        ferry_model_input(m, &c, &h, &w);
        if (ferry_model_feature_dim(m) < 1 || c < 1 || h < 1 || w < 1) __builtin_trap();
        ferry_model_free(m);
    } else {
        fuzz_check_refusal(s, json);
    }
    ferry_rng_free(rng);
    ferry_store_free(st);
    return 0;
}
