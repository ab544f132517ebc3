/* Choosing a backend by name, describing it, listing what is available. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ferry_status parse_index(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1000)
        return ferry_error(FERRY_ERR_INVALID, "device: '%s' is not a device index", s);
    *out = (int)v;
    return FERRY_OK;
}

ferry_status ferry_backend_init_device(const char *spec, int threads, ferry_backend_t **out)
{
    *out = NULL;
    const char *from = "--device";
    if (!spec || !*spec) {
        spec = getenv("FERRY_DEVICE");
        from = "FERRY_DEVICE";
        if (!spec || !*spec) spec = "auto";
    }
    if (strcmp(spec, "cpu") == 0) return ferry_backend_cpu_init(threads, out);
    if (strcmp(spec, "auto") == 0) {
        if (ferry_backend_vulkan_init(-1, out) == FERRY_OK) return FERRY_OK;
        return ferry_backend_cpu_init(threads, out); /* no GPU: the CPU backend, as documented */
    }
    if (strcmp(spec, "vulkan") == 0) return ferry_backend_vulkan_init(-1, out);
    if (strncmp(spec, "vulkan:", 7) == 0) {
        int idx = 0;
        ferry_status s = parse_index(spec + 7, &idx);
        return s ? s : ferry_backend_vulkan_init(idx, out);
    }
    return ferry_error(FERRY_ERR_INVALID, "%s: unknown device '%s' (use cpu, vulkan, vulkan:N or auto)",
                       from, spec);
}

void ferry_backend_describe(const ferry_backend_t *be, ferry_device_desc *out)
{
    memset(out, 0, sizeof *out);
    if (be->iface->describe) be->iface->describe(be, out);
}

ferry_status ferry_devices_print(void *file)
{
    FILE *f = file;
    ferry_status s = ferry_vulkan_list_devices(f);
    if (s) fprintf(f, "(no Vulkan: %s)\n", ferry_last_error());
    ferry_backend_t *cpu = NULL;
    if (ferry_backend_cpu_init(0, &cpu) == FERRY_OK) {
        ferry_device_desc d;
        ferry_backend_describe(cpu, &d);
        fprintf(f, "cpu  %s\n    vendor      %s\n    driver      %s\n", d.name, d.vendor, d.driver);
        ferry_backend_free(cpu);
    }
    return FERRY_OK;
}
