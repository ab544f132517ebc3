/* The pipeline cache persisted on disk: written when a backend closes, reused by the next one, and
 * ignored (with a message, never trusted) when damaged or made by another device. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk_backend_util.h"

static char dir[64];

static void use_temp_cache(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-vkcache-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    setenv("XDG_CACHE_HOME", dir, 1);
}

/* Runs one small graph (so that pipelines are compiled) and closes the backend. */
static void run_once(void)
{
    ferry_backend_t *be = vk_test_backend();
    ferry_ctx_t *ctx;
    ferry_graph_t *g;
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    int64_t sh[1] = {37};
    ferry_tensor_t *a = ferry_input(ctx, "a", FERRY_F32, 1, sh);
    ferry_tensor_t *y = ferry_add(ctx, a, a);
    ferry_tensor_set_output(y);
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    float v[37], out[37];
    for (int i = 0; i < 37; i++) v[i] = (float)i;
    cr_assert_eq(ferry_tensor_set(g, a, v, sizeof v), FERRY_OK);
    cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_tensor_get(g, y, out, sizeof out), FERRY_OK);
    for (int i = 0; i < 37; i++) cr_assert_eq(out[i], 2.0f * (float)i);
    vk_test_no_validation_messages(be);
    ferry_graph_free(g);
    ferry_ctx_free(ctx);
    ferry_backend_free(be);
}

/* The one cache file under dir, or "" */
static void cache_file(char *path, size_t n)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/ferry/vulkan/pipelines-*.bin 2>/dev/null | head -n 1", dir);
    FILE *p = popen(cmd, "r");
    path[0] = '\0';
    if (p && fgets(path, (int)n, p)) path[strcspn(path, "\n")] = '\0';
    if (p) pclose(p);
}

Test(vk_cache, written_on_close_with_a_checked_header)
{
    use_temp_cache();
    run_once();
    char path[512];
    cache_file(path, sizeof path);
    cr_assert(path[0], "no pipeline cache written under %s", dir);
    FILE *f = fopen(path, "rb");
    char magic[8];
    cr_assert_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    cr_assert_eq(memcmp(magic, "FERRYPC1", 8), 0);
    run_once(); /* reads it back */
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
}

Test(vk_cache, damaged_cache_is_ignored_and_replaced)
{
    use_temp_cache();
    run_once();
    char path[512];
    cache_file(path, sizeof path);
    cr_assert(path[0]);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    /* flip a byte in Vulkan's payload: the checksum no longer matches */
    FILE *f = fopen(path, "r+b");
    fseek(f, st.st_size - 1, SEEK_SET);
    int c = fgetc(f);
    fseek(f, st.st_size - 1, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
    run_once();
    /* truncated to its header */
    cr_assert_eq(truncate(path, 40), 0);
    run_once();
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt(st.st_size, 80, "the damaged cache was not replaced");
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
}
